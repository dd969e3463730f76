//! The last operator of a sink's pipeline: encodes rows and changes into records, hands
//! them to the sink's writer, and commits checkpoints around the writer's protocol
//! (`prepare`, the store commit, `committed`; see `connector::sink`).
//!
//! Created by the engine for CREATE SINK, in place of the materialize operator of a view.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::pipeline::ViewStats;
use super::{Barrier, ChangeBatch, Message, Operator, StateReader};
use crate::connector::sink::{Encoder, SinkWriter};
use crate::error::Result;
use crate::state::Store;

/// Writes a pipeline's output to a sink.
pub struct Sink {
    store: Store,
    encoder: Encoder,
    writer: Box<dyn SinkWriter>,
    stats: Arc<ViewStats>,
    /// Records handed to the writer, shared with SHOW SINKS.
    written: Arc<AtomicU64>,
}

impl Sink {
    /// A sink operator writing through `writer`.
    pub fn new(
        encoder: Encoder,
        writer: Box<dyn SinkWriter>,
        store: Store,
        stats: Arc<ViewStats>,
        written: Arc<AtomicU64>,
    ) -> Sink {
        Sink { store, encoder, writer, stats, written }
    }

    fn changes(&mut self, changes: &ChangeBatch) -> Result<()> {
        let mut records = self.encoder.deletes(&changes.deletes)?;
        records.extend(self.encoder.upserts(&changes.keys, &changes.rows)?);
        self.write(records)
    }

    fn write(&mut self, records: Vec<crate::connector::sink::Record>) -> Result<()> {
        self.written.fetch_add(records.len() as u64, Ordering::Relaxed);
        self.writer.write(records)
    }

    fn commit(&mut self, barrier: Barrier) -> Result<()> {
        let Barrier { epoch, mut writes, acks } = barrier;
        self.writer.prepare(epoch, &mut writes)?;
        self.store.commit(writes)?;
        self.writer.committed(epoch)?;
        self.stats.committed(epoch);
        for ack in acks {
            let _ = ack.send(());
        }
        Ok(())
    }
}

impl Operator for Sink {
    fn name(&self) -> &'static str {
        "sink"
    }

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
