//! The last operator of a sink's pipeline: encodes rows and changes into records, hands
//! them to the sink's writer, and commits checkpoints around the writer's protocol
//! (`prepare`, the store commit, `committed`; see `connector::sink`).
//!
//! When the writer's target is unreachable (a transient error), the operator waits and
//! retries with backoff, after asking the writer to reset its connection; meanwhile the
//! pipeline shows `retrying: ...` and its source is held back by the full channel, so
//! nothing is lost or skipped. Other errors fail the pipeline.
//!
//! Created by the engine for CREATE SINK, in place of the materialize operator of a view.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::materialize::CheckpointLog;
use super::stats::PipelineStats;
use super::{Barrier, ChangeBatch, Message, Operator, StateReader};
use crate::connector::sink::{Encoder, SinkWriter};
use crate::error::{Error, Result};
use crate::state::Store;

/// First wait before retrying an unreachable target; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often a waiting sink looks whether its pipeline is being stopped.
const STOP_CHECK: Duration = Duration::from_millis(50);

/// Writes a pipeline's output to a sink.
pub struct Sink {
    store: Store,
    encoder: Encoder,
    writer: Box<dyn SinkWriter>,
    stats: Arc<PipelineStats>,
    /// Records handed to the writer, shared with SHOW SINKS.
    written: Arc<AtomicU64>,
    /// Where checkpoints go instead of the store, in a cluster.
    log: Option<Box<dyn CheckpointLog>>,
}

impl Sink {
    /// A sink operator writing through `writer`.
    pub fn new(
        encoder: Encoder,
        writer: Box<dyn SinkWriter>,
        store: Store,
        stats: Arc<PipelineStats>,
        written: Arc<AtomicU64>,
    ) -> Sink {
        Sink { store, encoder, writer, stats, written, log: None }
    }

    /// Sends checkpoints to `log` rather than to the store.
    pub fn logged(mut self, log: Option<Box<dyn CheckpointLog>>) -> Sink {
        self.log = log;
        self
    }

    /// Where it writes, for its operator id.
    pub fn describe(&self) -> String {
        format!("Sink: {}", self.writer.target())
    }

    fn changes(&mut self, changes: &ChangeBatch) -> Result<()> {
        let mut records = self.encoder.deletes(&changes.deletes)?;
        records.extend(self.encoder.upserts(&changes.keys, &changes.rows)?);
        self.write(records)
    }

    fn write(&mut self, records: Vec<crate::connector::sink::Record>) -> Result<()> {
        self.written.fetch_add(records.len() as u64, Ordering::Relaxed);
        // The writer keeps the records before anything can fail; a retry only resumes.
        let mut records = Some(records);
        self.retry(|w| w.write(records.take().unwrap_or_default()))
    }

    fn commit(&mut self, barrier: Barrier) -> Result<()> {
        let Barrier { epoch, mut writes, acks, outgoing } = barrier;
        self.retry(|w| w.prepare(epoch, &mut writes))?;
        match &mut self.log {
            Some(log) => {
                let rows = arrow::array::RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()));
                log.commit(epoch, (writes, outgoing), rows, &self.stats.stopping)?;
            }
            None if !outgoing.is_empty() => {
                return Err(Error::Internal("records for another stage reached a sink outside a cluster".into()));
            }
            None => self.store.commit(writes)?,
        }
        self.retry(|w| w.committed(epoch))?;
        self.stats.committed(epoch);
        for ack in acks {
            let _ = ack.send(());
        }
        Ok(())
    }
}

impl Sink {
    /// Runs `call` until it succeeds, fails for good, or the pipeline stops; after each
    /// transient failure the writer resets and the call is repeated after a backoff.
    fn retry<T>(&mut self, mut call: impl FnMut(&mut dyn SinkWriter) -> Result<T>) -> Result<T> {
        let mut backoff = FIRST_BACKOFF;
        let mut failing = false;
        loop {
            match call(self.writer.as_mut()) {
                Ok(value) => {
                    if failing {
                        info!(target = %self.writer.target(), "sink reached its target again");
                        self.stats.set_retrying(None);
                    }
                    return Ok(value);
                }
                Err(e) if e.is_transient() => {
                    if !failing {
                        warn!(target = %self.writer.target(), error = %e, "sink cannot write; retrying");
                    }
                    failing = true;
                    self.stats.set_retrying(Some(e.to_string()));
                    self.writer.reset();
                    self.wait(backoff)?;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sleeps for `d`, unless the pipeline is being stopped.
    fn wait(&self, d: Duration) -> Result<()> {
        let until = Instant::now() + d;
        while Instant::now() < until {
            if self.stats.stopping.load(Ordering::Relaxed) {
                return Err(Error::Shutdown("sink stopped while retrying".into()));
            }
            std::thread::sleep(STOP_CHECK.min(until.saturating_duration_since(Instant::now())));
        }
        Ok(())
    }
}

impl Operator for Sink {
    fn open(&mut self, state: &StateReader<'_>) -> Result<()> {
        self.writer.open(state)
    }

    fn process(&mut self, msg: Message, _out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => {
                let records = self.encoder.rows(&batch)?;
                self.write(records)
            }
            Message::Changes(changes) => self.changes(&changes),
            Message::Barrier(barrier) => self.commit(barrier),
            Message::Watermark(_) | Message::End => Ok(()),
        }
    }
}
