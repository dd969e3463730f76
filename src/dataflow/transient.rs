//! A transient pipeline: the part of an ad-hoc query that reads streams, run by the same
//! source stage and operators as a view, with nothing stored.
//!
//! The engine describes one for every part `crate::sql::transient` cuts out of a SELECT
//! (a [`PipelineSpec`] into `Destination::Query`, built like every other pipeline's by
//! [`PipelineSpec::build`]), and DataFusion reads its result as a [`PartitionStream`].
//! When DataFusion executes it, the source stage starts on its own thread, as in a view's
//! [`super::pipeline::Pipeline`], and the operators run on a blocking task that hands on
//! what leaves the last one: an append-only flow's batches as they come, a keyed flow's
//! (an updating aggregation's) final rows when its bounded input ends. Barriers are
//! acknowledged and their writes dropped; state is read from an id no object has
//! ([`TRANSIENT`]), so every run starts empty. When the query stops reading (a LIMIT is
//! met, the query is cancelled), the operators stop at their next message and the source
//! at its next send or wait. The operators' state counts against the server's state budget
//! like a view's.

use std::fmt;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::PartitionStream;
use tokio::sync::mpsc::Sender;

use super::flow::Flow;
use super::install::{Env, PipelineSpec};
use super::pipeline::catch_panic;
use super::source::{Control, Routed, SourceTask};
use super::{Message, StateReader};
use crate::error::{Error, Result};
use crate::state::KeyedBuilder;

/// The pipeline id transient pipelines read their (absent) state under: no catalog object
/// has it, so nothing is ever found there, and nothing is written.
pub const TRANSIENT: u64 = u64::MAX;

/// Messages in flight between the source and the operators.
const CHANNEL_DEPTH: usize = 8;

/// Describes the pipeline of one run, planned afresh.
pub type Build = Box<dyn Fn() -> Result<PipelineSpec> + Send + Sync>;

/// A transient pipeline, run each time DataFusion executes it (once, unless a plan reads
/// the same part twice).
pub struct TransientPipeline {
    run: Arc<Run>,
    build: OnceLock<Build>,
    /// The first run's source and operators, built when installed (so that what cannot be
    /// opened fails the statement before anything runs).
    first: Mutex<Option<(SourceTask, Flow)>>,
}

impl fmt::Debug for TransientPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransientPipeline").field("name", &self.run.name).field("keyed", &self.run.keyed).finish()
    }
}

impl TransientPipeline {
    /// Pipeline `name` (for logs and thread names) yielding rows of `schema`, run with the
    /// server's `env`.
    pub fn new(name: &str, schema: SchemaRef, keyed: bool, env: Env) -> Self {
        let run = Arc::new(Run { name: name.to_string(), schema, keyed, env });
        TransientPipeline { run, build: OnceLock::new(), first: Mutex::new(None) }
    }

    /// Gives it the pipeline of its first run, built now (so that an input that cannot be
    /// opened fails the statement before anything runs), and what describes that of any
    /// later one.
    pub fn install(&self, first: PipelineSpec, build: Build) -> Result<()> {
        let first = first.build(&self.run.env)?.unsharded()?;
        if let Ok(mut slot) = self.first.lock() {
            *slot = Some(first);
        }
        self.build
            .set(build)
            .map_err(|_| Error::Internal(format!("transient pipeline {} installed twice", self.run.name)))
    }

    /// The source and operators of the next run.
    fn parts(&self) -> Result<(SourceTask, Flow)> {
        if let Some(parts) = self.first.lock().ok().and_then(|mut p| p.take()) {
            return Ok(parts);
        }
        let not_installed = || Error::Internal(format!("transient pipeline {} not installed", self.run.name));
        self.build.get().ok_or_else(not_installed)?()?.build(&self.run.env)?.unsharded()
    }
}

impl PartitionStream for TransientPipeline {
    fn schema(&self) -> &SchemaRef {
        &self.run.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.run.schema.clone(), 2);
        let tx = builder.tx();
        let (parts, run) = (self.parts(), self.run.clone());
        builder.spawn_blocking(move || {
            let result = parts.and_then(|(source, flow)| catch_panic(|| run.run(source, flow, &tx)));
            result.map_err(|e| DataFusionError::External(Box::new(e)))
        });
        builder.build()
    }
}

/// What every run of a pipeline shares.
struct Run {
    name: String,
    /// The result's columns: the types the flow yields, under positional names.
    schema: SchemaRef,
    /// The flow yields keyed changes (an updating result) rather than appended rows.
    keyed: bool,
    env: Env,
}

/// Where the source thread leaves its error for the operator task.
type Failure = Arc<Mutex<Option<Error>>>;

impl Run {
    /// Starts the source thread and runs the operators, sending the result to `tx`.
    fn run(
        &self,
        source: SourceTask,
        mut flow: Flow,
        tx: &Sender<datafusion::error::Result<RecordBatch>>,
    ) -> Result<()> {
        flow.open(&self.env.store, TRANSIENT, &mut 1)?;
        let (control_tx, control_rx) = mpsc::channel::<Control>();
        let (data_tx, data_rx) = mpsc::sync_channel(CHANNEL_DEPTH);
        let failure: Failure = Arc::default();
        {
            let (store, failure) = (self.env.store.clone(), failure.clone());
            crate::runtime::spawn_thread(format!("src-{}", self.name), move || {
                let state = StateReader { store: &store, view: TRANSIENT, operator: 0, shard: None };
                if let Err(e) = catch_panic(|| source.run(&state, control_rx, data_tx))
                    && let Ok(mut slot) = failure.lock()
                {
                    *slot = Some(e);
                }
            })?;
        }
        let ended = self.operate(data_rx, flow, tx)?;
        // Dropping the control channel stops a source still waiting for input.
        drop(control_tx);
        if ended {
            return Ok(());
        }
        match failure.lock().ok().and_then(|mut f| f.take()) {
            Some(Error::Shutdown(_)) | None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Pushes the source's messages through `flow` and sends its result on. Returns true when
    /// the input ended, false when the source stopped first or the query stopped reading.
    fn operate(
        &self,
        input: Receiver<Routed>,
        mut flow: Flow,
        tx: &Sender<datafusion::error::Result<RecordBatch>>,
    ) -> Result<bool> {
        let mut memory = self.env.budget.reserve(&self.name);
        let mut result = KeyedBuilder::new(self.schema.clone());
        let mut out = Vec::new();
        while let Ok((from, msg)) = input.recv() {
            if tx.is_closed() {
                return Ok(false);
            }
            flow.push(from, msg, &mut out)?;
            for msg in out.drain(..) {
                match msg {
                    Message::Batch(batch) if batch.num_rows() > 0 => {
                        if !self.send(batch, tx)? {
                            return Ok(false);
                        }
                    }
                    Message::Changes(changes) => {
                        result.delete(changes.deletes);
                        result.upsert(changes.keys, changes.rows);
                    }
                    Message::Barrier(barrier) => {
                        for ack in barrier.acks {
                            let _ = ack.send(());
                        }
                        if self.keyed {
                            result.compact()?;
                        }
                    }
                    Message::End => {
                        if self.keyed {
                            let rows = result.live_rows()?;
                            self.send(rows, tx)?;
                        }
                        return Ok(true);
                    }
                    Message::Batch(_) | Message::Watermark(_) => {}
                }
            }
            memory.set(flow.state_bytes() + result.bytes())?;
        }
        Ok(false)
    }

    /// Sends `batch` under the result's column names; false once nobody reads.
    fn send(&self, batch: RecordBatch, tx: &Sender<datafusion::error::Result<RecordBatch>>) -> Result<bool> {
        let batch = RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec())?;
        Ok(tx.blocking_send(Ok(batch)).is_ok())
    }
}
