//! The source stage of a pipeline: reads, assigns watermarks, drops late rows, and starts
//! checkpoints.
//!
//! Runs on its own thread (reading and decoding are the most expensive part of a pipeline),
//! polling a [`SourceReader`] and sending messages to the operator thread through a bounded
//! channel, which gives backpressure. Batches are cut by the reader when full or when the
//! input pauses. Every checkpoint interval, or when `FLUSH` asks, it writes its position,
//! watermark and counters into a fresh [`Barrier`] and sends it down the pipeline.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use arrow::array::{Array, BooleanArray, BooleanBufferBuilder, RecordBatch, TimestampMillisecondArray};
use arrow::compute::filter_record_batch;
use tokio::sync::oneshot;
use tracing::{debug, trace};

use super::pipeline::ViewStats;
use super::{Barrier, END_OF_TIME, Message, Millis, StateReader};
use crate::connector::{Poll, SourceReader};
use crate::error::{Error, Result};

/// Requests from the engine to a running source.
#[derive(Debug)]
pub enum Control {
    /// Read what is available now, then checkpoint and acknowledge.
    Flush(oneshot::Sender<()>),
    /// Stop without a final checkpoint.
    Stop,
}

/// How a stream derives its watermark: `WATERMARK FOR column AS column - delay`.
#[derive(Debug, Clone, PartialEq)]
pub struct WatermarkSpec {
    /// Index of the event-time column in the stream schema.
    pub column: usize,
    /// How far behind the largest event time seen the watermark trails.
    pub delay: Millis,
}

/// Tracks the watermark and filters late rows, row by row, so the result does not depend on
/// how the input was cut into batches.
#[derive(Debug)]
struct Watermarker {
    spec: WatermarkSpec,
    max_time: Millis,
}

impl Watermarker {
    fn current(&self) -> Millis {
        if self.max_time == Millis::MIN { Millis::MIN } else { self.max_time.saturating_sub(self.spec.delay) }
    }

    /// Returns the on-time rows and the number of late ones.
    fn apply(&mut self, batch: RecordBatch) -> Result<(RecordBatch, u64)> {
        let times = batch
            .column(self.spec.column)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or_else(|| Error::Internal("event-time column is not timestamp(ms)".into()))?;
        let mut keep = BooleanBufferBuilder::new(times.len());
        let mut late = 0u64;
        for i in 0..times.len() {
            let on_time = times.is_valid(i) && {
                let t = times.value(i);
                let ok = t >= self.current();
                self.max_time = self.max_time.max(t);
                ok
            };
            late += u64::from(!on_time);
            keep.append(on_time);
        }
        if late == 0 {
            return Ok((batch, 0));
        }
        let mask = BooleanArray::new(keep.finish(), None);
        Ok((filter_record_batch(&batch, &mask)?, late))
    }
}

/// Everything the source thread needs.
pub struct SourceTask {
    /// Where rows come from.
    pub reader: Box<dyn SourceReader>,
    /// Watermark definition of the stream, if it has one.
    pub watermark: Option<WatermarkSpec>,
    /// Rows per batch at most.
    pub batch_size: usize,
    /// Time between checkpoints.
    pub checkpoint_interval: Duration,
    /// Shared counters.
    pub stats: Arc<ViewStats>,
}

/// Per-run bookkeeping of the source loop.
struct Loop {
    task: SourceTask,
    watermarker: Option<Watermarker>,
    epoch: u64,
    state_prefix: Vec<u8>,
    out: SyncSender<Message>,
    acks: Vec<oneshot::Sender<()>>,
    dirty: bool,
    last_barrier: Instant,
}

const IDLE_WAIT: Duration = Duration::from_millis(20);

impl SourceTask {
    /// Restores position and counters, then runs until the input ends, `Stop` arrives or
    /// the operator thread goes away.
    pub fn run(self, state: &StateReader<'_>, control: Receiver<Control>, out: SyncSender<Message>) -> Result<()> {
        let max_time = restore_u64(state, b"wm")?.map(|v| v as Millis).unwrap_or(Millis::MIN);
        let epoch = restore_u64(state, b"epoch")?.unwrap_or(0);
        self.stats.late_rows.store(restore_u64(state, b"late")?.unwrap_or(0), Ordering::Relaxed);
        self.stats.bad_rows.store(restore_u64(state, b"bad")?.unwrap_or(0), Ordering::Relaxed);
        self.stats.rows_read.store(restore_u64(state, b"read")?.unwrap_or(0), Ordering::Relaxed);
        let watermarker = self.watermark.clone().map(|spec| Watermarker { spec, max_time });
        let mut run = Loop {
            task: self,
            watermarker,
            epoch,
            state_prefix: state.key(&[]),
            out,
            acks: Vec::new(),
            dirty: false,
            last_barrier: Instant::now(),
        };
        run.run(control)
    }
}

impl Loop {
    fn run(&mut self, control: Receiver<Control>) -> Result<()> {
        loop {
            match control.try_recv() {
                Ok(Control::Flush(ack)) => self.flush_requested(ack),
                Ok(Control::Stop) => return Ok(()),
                Err(_) => {}
            }
            match self.task.reader.poll(self.task.batch_size)? {
                Poll::Data { batch, bad } => {
                    self.note_bad(bad);
                    self.on_batch(batch)?;
                }
                Poll::Bad(bad) => self.note_bad(bad),
                Poll::Idle => {
                    if !self.acks.is_empty() {
                        self.barrier(true)?;
                    }
                    match control.recv_timeout(IDLE_WAIT) {
                        Ok(Control::Flush(ack)) => self.flush_requested(ack),
                        Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                        Err(RecvTimeoutError::Timeout) => {}
                    }
                }
                Poll::End => return self.finish(),
            }
            if self.dirty && self.last_barrier.elapsed() >= self.task.checkpoint_interval {
                self.barrier(false)?;
            }
        }
    }

    /// `FLUSH`: read everything available now (looking for it at once), then checkpoint.
    fn flush_requested(&mut self, ack: oneshot::Sender<()>) {
        self.task.reader.refresh();
        self.acks.push(ack);
    }

    fn note_bad(&mut self, bad: Vec<crate::connector::BadRecord>) {
        if !bad.is_empty() {
            self.dirty = true;
            self.task.stats.record_bad(bad);
        }
    }

    fn on_batch(&mut self, batch: RecordBatch) -> Result<()> {
        self.dirty = true;
        self.task.stats.rows_read.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        let Some(wm) = self.watermarker.as_mut() else {
            return self.send(Message::Batch(batch));
        };
        let before = wm.current();
        let (batch, late) = wm.apply(batch)?;
        let after = wm.current();
        if late > 0 {
            trace!(late, "dropped late rows");
            self.task.stats.late_rows.fetch_add(late, Ordering::Relaxed);
        }
        if batch.num_rows() > 0 {
            self.send(Message::Batch(batch))?;
        }
        if after > before {
            self.task.stats.watermark.store(after, Ordering::Relaxed);
            self.send(Message::Watermark(after))?;
        }
        Ok(())
    }

    /// Sends a checkpoint barrier. `FLUSH` acknowledgements ride only on barriers sent when
    /// everything available has been read (`with_acks`), never on periodic ones.
    fn barrier(&mut self, with_acks: bool) -> Result<()> {
        self.epoch += 1;
        let stats = &self.task.stats;
        let counters = [
            (&b"late"[..], stats.late_rows.load(Ordering::Relaxed)),
            (&b"bad"[..], stats.bad_rows.load(Ordering::Relaxed)),
            (&b"read"[..], stats.rows_read.load(Ordering::Relaxed)),
            (&b"epoch"[..], self.epoch),
        ];
        let mut writes: Vec<_> = counters.iter().map(|(k, v)| (self.key(k), Some(v.to_be_bytes().to_vec()))).collect();
        if let Some(wm) = &self.watermarker {
            writes.push((self.key(b"wm"), Some((wm.max_time as u64).to_be_bytes().to_vec())));
        }
        writes.push((self.key(b"pos"), Some(self.task.reader.checkpoint()?)));
        debug!(epoch = self.epoch, "checkpoint barrier");
        let acks = if with_acks { std::mem::take(&mut self.acks) } else { Vec::new() };
        let barrier = Barrier { epoch: self.epoch, writes, acks };
        self.dirty = false;
        self.last_barrier = Instant::now();
        self.send(Message::Barrier(barrier))
    }

    fn finish(&mut self) -> Result<()> {
        self.task.stats.watermark.store(END_OF_TIME, Ordering::Relaxed);
        self.send(Message::Watermark(END_OF_TIME))?;
        self.barrier(true)?;
        self.send(Message::End)
    }

    fn key(&self, sub: &[u8]) -> Vec<u8> {
        let mut k = self.state_prefix.clone();
        k.extend_from_slice(sub);
        k
    }

    fn send(&self, msg: Message) -> Result<()> {
        self.out.send(msg).map_err(|_| Error::Shutdown("pipeline stopped".into()))
    }
}

fn restore_u64(state: &StateReader<'_>, sub: &[u8]) -> Result<Option<u64>> {
    match state.get(sub)? {
        None => Ok(None),
        Some(bytes) => {
            let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| Error::Internal("bad source state".into()))?;
            Ok(Some(u64::from_be_bytes(arr)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    fn batch(times: Vec<Option<i64>>) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(TimestampMillisecondArray::from(times))]).unwrap()
    }

    #[test]
    fn lateness_is_per_row_and_independent_of_batching() {
        let rows = vec![Some(10_000), Some(7_000), Some(5_000), Some(20_000), Some(16_500), None];
        let spec = WatermarkSpec { column: 0, delay: 4_000 };
        let mut whole = Watermarker { spec: spec.clone(), max_time: Millis::MIN };
        let (kept, late) = whole.apply(batch(rows.clone())).unwrap();
        assert_eq!((kept.num_rows(), late), (4, 2));
        let mut split = Watermarker { spec, max_time: Millis::MIN };
        let mut total_late = 0;
        for r in rows {
            total_late += split.apply(batch(vec![r])).unwrap().1;
        }
        assert_eq!(total_late, 2);
        assert_eq!(whole.current(), split.current());
    }
}
