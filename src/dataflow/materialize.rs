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
//!
//! In a cluster a view's checkpoints go to a [`CheckpointLog`] instead (its changelog
//! topic, see `crate::cluster::changelog`), which every node applies to its own store and
//! publishes from; this node's store gets them the same way, before the commit returns.

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

/// Where a view's checkpoints go when the store does not take them directly: the log
/// every node of a cluster applies (implemented by `crate::cluster::changelog`).
pub trait CheckpointLog: Send {
    /// Makes checkpoint `epoch` durable: its `writes` (store writes, and records for the
    /// next stage of a view in stages, in the same transaction) and its `rows` for
    /// subscribers. Returns once this
    /// node's store holds the writes and its subscribers have the rows; while it cannot, it
    /// retries until `stopping` is set (then [`Error::Shutdown`]).
    fn commit(
        &mut self,
        epoch: u64,
        writes: (Vec<crate::state::Write>, Vec<super::Outgoing>),
        rows: RecordBatch,
        stopping: &std::sync::atomic::AtomicBool,
    ) -> Result<()>;
}

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
    /// Where checkpoints go instead of the store, in a cluster.
    log: Option<Box<dyn CheckpointLog>>,
    /// The shard whose rows it writes, for a view run as several.
    shard: Option<u16>,
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
            runs: ViewRuns::new(view, layout, None),
            stats,
            published,
            log: None,
            shard: None,
        }
    }

    /// Writes the rows of shard `shard` (None: of the whole view).
    pub fn sliced(mut self, shard: Option<u16>) -> Materialize {
        self.shard = shard;
        self.runs = ViewRuns::new(self.view, self.layout, shard);
        self
    }

    /// Sends checkpoints to `log` rather than to the store.
    pub fn logged(mut self, log: Option<Box<dyn CheckpointLog>>) -> Materialize {
        self.log = log;
        self
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
        let Barrier { epoch, mut writes, acks, outgoing } = barrier;
        let block = self.block()?;
        let rows = block.clone(); // shares the arrays

        self.runs.add(&self.store, block, &mut writes)?;
        let (store, view) = (&self.store, self.view);
        let failed = |e: &Error| error!(view, epoch, error = %e, "checkpoint not durable; the last good one stays");
        match &mut self.log {
            Some(log) => log.commit(epoch, (writes, outgoing), rows, &self.stats.stopping).inspect_err(failed)?,
            None if !outgoing.is_empty() => {
                return Err(Error::Internal("records for another stage reached a view outside a cluster".into()));
            }
            None => self.published.publish(|| store.commit(writes).inspect_err(failed), rows)?,
        }
        self.stats.committed(epoch);
        for ack in acks {
            let _ = ack.send(());
        }
        Ok(())
    }
}

impl Operator for Materialize {
    fn open(&mut self, _state: &StateReader<'_>) -> Result<()> {
        self.runs = ViewRuns::open(&self.store, self.view, self.layout, self.shard)?;
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
