//! `SUBSCRIBE TO view`: a view's current rows, then every change as its checkpoints
//! commit, each row with an operation and the commit time.
//!
//! The server (`crate::server::subscribe`) asks [`Engine::subscribe`] for a
//! [`Subscription`] and pulls batches from it until the client cancels or leaves; dropping
//! the subscription frees everything it holds. Rows come out as
//! `op, commit_ts, <the view's columns>`, with `op` one of `insert`, `delete`,
//! `update_before` and `update_after` (an updated row of a keyed view comes out as the
//! pair). A keyed view's changes arrive as the new row per key; the subscription keeps the
//! rows it has sent by key to turn them into updates and deletes.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::compute::{concat_batches, interleave_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::ScalarValue;
use tokio::sync::broadcast::{self, error::RecvError};

use super::Engine;
use crate::dataflow::published::Commit;
use crate::error::{Error, Result};
use crate::sql::Subscribe;
use crate::state::{read_keyed_view, read_view};

/// A running subscription to one view.
pub struct Subscription {
    view: String,
    schema: SchemaRef,
    view_schema: SchemaRef,
    keyed: bool,
    commits: broadcast::Receiver<Arc<Commit>>,
    /// The rows sent so far, by key (keyed views): batch and row.
    sent: HashMap<Vec<u8>, (usize, usize)>,
    /// Batches the rows in `sent` point into.
    held: Vec<RecordBatch>,
    /// The snapshot, until it is taken.
    first: Option<RecordBatch>,
}

impl Engine {
    /// Starts a subscription to `stmt.view`.
    pub fn subscribe(&self, stmt: &Subscribe) -> Result<Subscription> {
        let catalog = self.read_catalog()?;
        let view = catalog.views.get(&stmt.view).ok_or_else(|| {
            let kind = if catalog.kind_of(&stmt.view).is_some() { "materialized view" } else { "relation" };
            Error::UnknownRelation { kind, name: stmt.view.clone() }
        })?;
        let (id, keyed, view_schema) = (view.id, view.keyed, view.schema.clone());
        let (stats, published) = (view.stats.clone(), view.published.clone());
        drop(catalog);
        let what = format!("materialized view \"{}\"", stmt.view);
        stats.check_readable(&what)?;
        let guard = published.read()?;
        // Subscribed under the lock: every commit after the rows read here will arrive.
        let commits = published.subscribe();
        let store = &self.inner.store;
        let wanted = stmt.snapshot.unwrap_or(true);
        let snapshot = match (wanted, keyed) {
            (false, false) => None,
            (_, true) => read_keyed_view(store, id).map_err(|e| stats.read_failed(&what, e))?,
            (true, false) => Some(concat_batches(
                &view_schema,
                &read_view(store, id, &view_schema).map_err(|e| stats.read_failed(&what, e))?,
            )?),
        };
        drop(guard);
        let schema = change_schema(&view_schema);
        let view = stmt.view.clone();
        let (sent, held, first) = (HashMap::new(), Vec::new(), None);
        let mut subscription = Subscription { view, schema, view_schema, keyed, commits, sent, held, first };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        if let Some(block) = snapshot {
            let rows = subscription.apply(&Commit { at: now as i64, block }, wanted)?;
            subscription.first = rows.filter(|b| b.num_rows() > 0);
        }
        Ok(subscription)
    }
}

impl Subscription {
    /// The columns of the batches: `op`, `commit_ts`, then the view's.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The next rows: the snapshot first, then each commit's changes. Fails when the view
    /// is dropped or the subscriber fell too far behind.
    pub async fn next(&mut self) -> Result<RecordBatch> {
        if let Some(first) = self.first.take() {
            return Ok(first);
        }
        loop {
            let commit = match self.commits.recv().await {
                Ok(commit) => commit,
                Err(RecvError::Closed) => {
                    return Err(Error::Shutdown(format!("materialized view \"{}\" was dropped", self.view)));
                }
                Err(RecvError::Lagged(n)) => {
                    return Err(Error::Connector(format!(
                        "subscription to \"{}\" fell {n} checkpoints behind and was stopped",
                        self.view
                    )));
                }
            };
            if let Some(rows) = self.apply(&commit, true)?.filter(|b| b.num_rows() > 0) {
                return Ok(rows);
            }
        }
    }

    /// The output rows of one commit (`emit` false: only remember the rows).
    fn apply(&mut self, commit: &Commit, emit: bool) -> Result<Option<RecordBatch>> {
        if !self.keyed {
            let rows = commit.block.clone().with_schema(self.view_schema.clone())?;
            return emit.then(|| self.output_ops(vec!["insert"; rows.num_rows()], rows, commit.at)).transpose();
        }
        let block = &commit.block;
        let keys = block.column(0).as_binary::<i32>();
        let live = block.column(1).as_boolean();
        let new = RecordBatch::try_new(self.view_schema.clone(), block.columns()[2..].to_vec())?;
        self.held.push(new);
        let new_batch = self.held.len() - 1;
        let (mut ops, mut picks) = (Vec::new(), Vec::new());
        for i in 0..block.num_rows() {
            let old = match live.value(i) {
                true => self.sent.insert(keys.value(i).to_vec(), (new_batch, i)),
                false => self.sent.remove(keys.value(i)),
            };
            match (old, live.value(i)) {
                (Some(old), true) if self.same_row(old, (new_batch, i))? => {}
                (Some(old), true) => {
                    ops.extend(["update_before", "update_after"]);
                    picks.extend([old, (new_batch, i)]);
                }
                (None, true) => {
                    ops.push("insert");
                    picks.push((new_batch, i));
                }
                (Some(old), false) => {
                    ops.push("delete");
                    picks.push(old);
                }
                (None, false) => {}
            }
        }
        let refs: Vec<&RecordBatch> = self.held.iter().collect();
        let rows = interleave_record_batch(&refs, &picks)?;
        self.compact()?;
        emit.then(|| self.output_ops(ops, rows, commit.at)).transpose()
    }

    /// Whether two held rows have equal values (an aggregate re-emits unchanged groups).
    fn same_row(&self, a: (usize, usize), b: (usize, usize)) -> Result<bool> {
        let (x, y) = (&self.held[a.0], &self.held[b.0]);
        for c in 0..x.num_columns() {
            let left = ScalarValue::try_from_array(x.column(c), a.1)?;
            if left != ScalarValue::try_from_array(y.column(c), b.1)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Drops held batches no sent row points into any more (rewriting the pointers when
    /// they hold many dead rows).
    fn compact(&mut self) -> Result<()> {
        let held_rows: usize = self.held.iter().map(|b| b.num_rows()).sum();
        if held_rows <= 2 * self.sent.len() + 1024 {
            return Ok(());
        }
        let entries: Vec<(Vec<u8>, (usize, usize))> = self.sent.drain().collect();
        let refs: Vec<&RecordBatch> = self.held.iter().collect();
        let picks: Vec<(usize, usize)> = entries.iter().map(|e| e.1).collect();
        let live = interleave_record_batch(&refs, &picks)?;
        self.held = vec![live];
        self.sent = entries.into_iter().enumerate().map(|(i, (k, _))| (k, (0, i))).collect();
        Ok(())
    }

    fn output_ops(&self, ops: Vec<&str>, rows: RecordBatch, at: i64) -> Result<RecordBatch> {
        let n = ops.len();
        let at = Arc::new(TimestampMillisecondArray::from(vec![at; n]).with_timezone("UTC"));
        with_ops(&self.schema, ops, at, &rows)
    }
}

/// The columns of a subscription's rows: `op`, `commit_ts`, then `columns`.
pub(super) fn change_schema(columns: &Schema) -> SchemaRef {
    let mut fields = vec![
        Field::new("op", DataType::Utf8, false),
        Field::new("commit_ts", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
    ];
    fields.extend(columns.fields().iter().map(|f| f.as_ref().clone()));
    Arc::new(Schema::new(fields))
}

/// `rows` with their operations and commit times in front, as `schema` (see [`change_schema`]).
pub(super) fn with_ops(schema: &SchemaRef, ops: Vec<&str>, at: ArrayRef, rows: &RecordBatch) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(ops)), at];
    columns.extend(rows.columns().iter().cloned());
    let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows.num_rows()));
    Ok(RecordBatch::try_new_with_options(schema.clone(), columns, &options)?)
}
