//! The last operator of every pipeline: collects view rows and commits checkpoints.
//!
//! Nothing is written until a barrier arrives: then the rows received since the last
//! barrier become one run of the view (see `state::runs`: appended blocks, or upserts and
//! deletes sorted by key), and that run, the run list and every upstream operator's state
//! go to the store in one atomic, durable commit. That is what makes recovery exactly-once:
//! replay after a crash starts from the last commit and rebuilds the same runs. Each
//! committed block also goes to the view's subscribers (`SUBSCRIBE`).
//!
//! A commit that fails (the disk refuses the write or the fsync) fails the pipeline: no
//! acknowledgement is sent, so the `FLUSH` waiting on it gets the error, and the view keeps
//! its last good checkpoint, from which a restarted server resumes.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use tracing::error;

use super::published::Published;
use super::stats::PipelineStats;
use super::{Barrier, ChangeBatch, Message, Operator, StateReader};
use crate::error::{Error, Result};
use crate::state::{KeyedBuilder, Layout, Store, ViewRuns};

/// Writes a view's rows.
pub struct Materialize {
    view: u64,
    store: Store,
    schema: SchemaRef,
    layout: Layout,
    /// Rows appended since the last barrier (append layout).
    appended: Vec<RecordBatch>,
    /// Changes since the last barrier (keyed layout).
    changes: KeyedBuilder,
    runs: ViewRuns,
    stats: Arc<PipelineStats>,
    /// Where queries and subscriptions read the committed rows.
    published: Arc<Published>,
}

impl Materialize {
    /// A writer for view `view` whose rows have `schema`, publishing them to `published`.
    pub fn new(
        view: u64,
        schema: &SchemaRef,
        layout: Layout,
        store: Store,
        stats: Arc<PipelineStats>,
        published: Arc<Published>,
    ) -> Materialize {
        Materialize {
            view,
            store,
            schema: schema.clone(),
            layout,
            appended: Vec::new(),
            changes: KeyedBuilder::new(schema.clone()),
            runs: ViewRuns::new(view, layout),
            stats,
            published,
        }
    }

    /// What it stores, for its operator id: the layout and the columns.
    pub fn describe(&self) -> String {
        format!("Materialize: layout={:?} columns={}", self.layout, super::identity::columns(&self.schema))
    }

    fn append(&mut self, batch: RecordBatch) -> Result<()> {
        if self.layout != Layout::Append {
            return Err(Error::Internal("append-only rows reached a keyed view".into()));
        }
        if batch.num_rows() > 0 {
            self.appended.push(batch);
        }
        Ok(())
    }

    fn apply(&mut self, changes: ChangeBatch) -> Result<()> {
        if self.layout != Layout::Keyed {
            return Err(Error::Internal("keyed changes reached an append-only view".into()));
        }
        let ChangeBatch { keys, rows, deletes } = changes;
        self.changes.delete(deletes);
        self.changes.upsert(keys, rows);
        Ok(())
    }

    /// This checkpoint's rows as one block, if any.
    fn block(&mut self) -> Result<RecordBatch> {
        match self.layout {
            Layout::Append => {
                let batches = std::mem::take(&mut self.appended);
                Ok(concat_batches(&self.schema, &batches)?)
            }
            Layout::Keyed => self.changes.finish(),
        }
    }

    fn commit(&mut self, barrier: Barrier) -> Result<()> {
        let Barrier { epoch, mut writes, acks } = barrier;
        let block = self.block()?;
        let rows = block.clone(); // shares the arrays

        self.runs.add(&self.store, block, &mut writes)?;
        let (store, view) = (&self.store, self.view);
        let commit = || {
            store.commit(writes).inspect_err(|e| {
                error!(view, epoch, error = %e, "checkpoint not durable; the last good one stays");
            })
        };
        self.published.publish(commit, rows)?;
        self.stats.committed(epoch);
        for ack in acks {
            let _ = ack.send(());
        }
        Ok(())
    }
}

impl Operator for Materialize {
    fn open(&mut self, _state: &StateReader<'_>) -> Result<()> {
        self.runs = ViewRuns::open(&self.store, self.view, self.layout)?;
        Ok(())
    }

    fn process(&mut self, msg: Message, _out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => self.append(batch),
            Message::Changes(changes) => self.apply(*changes),
            Message::Barrier(barrier) => self.commit(barrier),
            Message::Watermark(_) | Message::End => Ok(()),
        }
    }
}
