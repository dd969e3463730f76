//! The source stage of a pipeline: reads its inputs, assigns watermarks, drops late rows,
//! and starts checkpoints.
//!
//! Runs on its own thread (reading and decoding are the most expensive part of a pipeline),
//! polling one [`SourceReader`] per input (a view joining two streams has two) in turn and
//! sending messages, tagged with their input, to the operator thread through a bounded
//! channel, which gives backpressure. Batches are cut by the readers when full or when the
//! input pauses. Every checkpoint interval, or when `FLUSH` asks, it writes every input's
//! position and watermark and the counters into one fresh [`Barrier`] and sends it down the
//! pipeline: one barrier for all inputs, so checkpoints are aligned by construction.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use tokio::sync::oneshot;
use tracing::{debug, trace};

use super::late::LateRows;
use super::stats::{PipelineStats, SourceCounters};
use super::watermark::{Applied, Watermarker, event_times};
use super::{Barrier, END_OF_TIME, Message, Millis, StateReader, input_key};
use crate::connector::{Poll, SourceReader};
use crate::error::{Error, Result};

pub use super::watermark::{IdlePolicy, WatermarkSpec};

/// Requests from the engine to a running source.
#[derive(Debug)]
pub enum Control {
    /// Read what is available now, then checkpoint and acknowledge.
    Flush(oneshot::Sender<()>),
    /// Stop without a final checkpoint.
    Stop,
}

/// A message and the input it belongs to. Barriers and the end are for all inputs (their
/// input is 0).
pub type Routed = (usize, Message);

/// One input of a pipeline: a stream's reader and how its event time works.
pub struct SourceInput {
    /// Where rows come from.
    pub reader: Box<dyn SourceReader>,
    /// Watermark definition of the stream, if it has one.
    pub watermark: Option<WatermarkSpec>,
    /// What happens when the input goes quiet.
    pub idle: IdlePolicy,
}

/// Everything the source stage of one pipeline needs.
pub struct SourceTask {
    /// The inputs, in the order the operators number them.
    pub inputs: Vec<SourceInput>,
    /// Rows per batch at most.
    pub batch_size: usize,
    /// Time between checkpoints.
    pub checkpoint_interval: Duration,
    /// Shared counters.
    pub stats: Arc<PipelineStats>,
    /// Whether the end of an input moves its watermark to the end of time, closing every
    /// window: the input has truly ended (`sluice run`). An ad-hoc query's read of what a
    /// stream holds now only stops there, so it sees the windows a view sees.
    pub end_closes_windows: bool,
    /// The shard whose inputs these are (0 for a pipeline that reads them whole): where
    /// it reports its readers' status.
    pub shard: u16,
}

/// One input while the loop runs.
struct Input {
    reader: Box<dyn SourceReader>,
    watermarker: Option<Watermarker>,
    late: LateRows,
    ended: bool,
}

/// Per-run bookkeeping of the source loop.
struct Loop {
    inputs: Vec<Input>,
    batch_size: usize,
    checkpoint_interval: Duration,
    stats: Arc<PipelineStats>,
    /// This shard's part of `stats`' counters.
    counters: Arc<SourceCounters>,
    end_closes_windows: bool,
    shard: u16,
    epoch: u64,
    state_prefix: Vec<u8>,
    out: SyncSender<Routed>,
    acks: Vec<oneshot::Sender<()>>,
    dirty: bool,
    last_barrier: Instant,
    last_status: Instant,
}

/// Wait after every input reported [`Poll::Idle`].
const IDLE_WAIT: Duration = Duration::from_millis(20);
/// Wait after [`Poll::Pending`].
const PENDING_WAIT: Duration = Duration::from_millis(2);
/// How often an idle source refreshes its status for SHOW SOURCES.
const STATUS_INTERVAL: Duration = Duration::from_millis(250);

/// What one round over the inputs found.
#[derive(Default)]
struct Round {
    /// Some input delivered rows or bad records.
    progressed: bool,
    /// Some input is waiting for data already on its way.
    pending: bool,
}

impl SourceTask {
    /// Restores positions and counters, then runs until every input ends, `Stop` arrives or
    /// the operator thread goes away.
    pub fn run(self, state: &StateReader<'_>, control: Receiver<Control>, out: SyncSender<Routed>) -> Result<()> {
        let epoch = restore_u64(state, b"epoch")?.unwrap_or(0);
        // This shard's own counters: what it counted before, not what other shards did.
        let counters = self.stats.counters(self.shard);
        counters.late_rows.store(restore_u64(state, b"late")?.unwrap_or(0), Ordering::Relaxed);
        counters.bad_rows.store(restore_u64(state, b"bad")?.unwrap_or(0), Ordering::Relaxed);
        counters.rows_read.store(restore_u64(state, b"read")?.unwrap_or(0), Ordering::Relaxed);
        let mut inputs = Vec::new();
        for (i, input) in self.inputs.into_iter().enumerate() {
            let mut watermarker = input.watermark.map(|spec| Watermarker::new(spec, input.idle, Instant::now()));
            if let (Some(wm), Some(saved)) = (watermarker.as_mut(), state.get(&input_key(i, b"wm"))?) {
                wm.restore(&saved, Instant::now())?;
            }
            let late = LateRows::restore(state, &input_key(i, b""))?;
            inputs.push(Input { reader: input.reader, watermarker, late, ended: false });
        }
        let mut run = Loop {
            inputs,
            batch_size: self.batch_size,
            checkpoint_interval: self.checkpoint_interval,
            stats: self.stats,
            counters,
            end_closes_windows: self.end_closes_windows,
            shard: self.shard,
            epoch,
            state_prefix: state.key(&[]),
            out,
            acks: Vec::new(),
            dirty: false,
            last_barrier: Instant::now(),
            last_status: Instant::now(),
        };
        run.publish_watermark();
        run.report_status(true);
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
            let round = self.poll_inputs()?;
            if self.inputs.iter().all(|i| i.ended) {
                return self.finish();
            }
            if !round.progressed {
                self.report_status(false);
                if !round.pending && !self.acks.is_empty() {
                    self.barrier(true)?;
                }
                let wait = if round.pending { PENDING_WAIT } else { IDLE_WAIT };
                match control.recv_timeout(wait) {
                    Ok(Control::Flush(ack)) => self.flush_requested(ack),
                    Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                    Err(RecvTimeoutError::Timeout) => {}
                }
            }
            if self.dirty && self.last_barrier.elapsed() >= self.checkpoint_interval {
                self.barrier(false)?;
            }
        }
    }

    /// Polls every input that has not ended once.
    fn poll_inputs(&mut self) -> Result<Round> {
        let mut round = Round::default();
        for i in 0..self.inputs.len() {
            let input = &mut self.inputs[i];
            if input.ended {
                continue;
            }
            let poll = input.reader.poll(self.batch_size)?;
            let new_splits = input.reader.new_splits();
            if let Some(wm) = input.watermarker.as_mut() {
                wm.register(&new_splits, Instant::now());
            }
            match poll {
                Poll::Data { batch, bad, split } => {
                    round.progressed = true;
                    self.note_bad(bad);
                    self.on_batch(i, batch, split)?;
                }
                Poll::Bad(bad) => {
                    round.progressed = true;
                    self.note_bad(bad);
                }
                Poll::Watermark(at) => {
                    round.progressed = true;
                    self.dirty = true;
                    self.send(i, Message::Watermark(at))?;
                }
                Poll::Pending => round.pending = true,
                Poll::Idle => self.on_idle(i)?,
                Poll::End => self.input_ended(i)?,
            }
        }
        Ok(round)
    }

    fn flush_requested(&mut self, ack: oneshot::Sender<()>) {
        for input in &mut self.inputs {
            input.reader.refresh();
        }
        self.acks.push(ack);
    }

    fn note_bad(&mut self, bad: Vec<crate::connector::BadRecord>) {
        if !bad.is_empty() {
            self.dirty = true;
            self.stats.record_bad(self.shard, bad);
        }
    }

    fn on_batch(&mut self, i: usize, batch: RecordBatch, split: u32) -> Result<()> {
        self.dirty = true;
        self.counters.rows_read.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        let input = &mut self.inputs[i];
        let Some(wm) = input.watermarker.as_mut() else {
            return self.send(i, Message::Batch(batch));
        };
        let before = wm.current();
        let Applied { kept, late } = wm.apply(batch, split, Instant::now())?;
        let column = wm.spec.column;
        if let Some((rows, watermarks)) = late {
            trace!(input = i, late = rows.num_rows(), "dropped late rows");
            self.counters.late_rows.fetch_add(rows.num_rows() as u64, Ordering::Relaxed);
            input.late.push(&rows, event_times(&rows, column)?, watermarks)?;
        }
        if kept.num_rows() > 0 {
            self.send(i, Message::Batch(kept))?;
        }
        self.watermark_moved(i, before)
    }

    fn watermark_moved(&mut self, i: usize, before: Millis) -> Result<()> {
        let after = self.inputs[i].watermarker.as_ref().map_or(before, Watermarker::current);
        if after > before {
            self.dirty = true;
            self.publish_watermark();
            self.send(i, Message::Watermark(after))?;
        }
        Ok(())
    }

    /// Shows the pipeline's watermark: the least over its inputs that have one.
    fn publish_watermark(&self) {
        let current = |i: &Input| if i.ended { Some(END_OF_TIME) } else { i.watermarker.as_ref().map(|w| w.current()) };
        if let Some(least) = self.inputs.iter().filter_map(current).min() {
            self.counters.watermark.store(least, Ordering::Relaxed);
        }
    }

    fn on_idle(&mut self, i: usize) -> Result<()> {
        let Some(wm) = self.inputs[i].watermarker.as_mut() else { return Ok(()) };
        let before = wm.current();
        if wm.tick(Instant::now()) {
            self.watermark_moved(i, before)?;
        }
        Ok(())
    }

    /// A bounded input was read to its end: nothing of it follows, at any event time.
    fn input_ended(&mut self, i: usize) -> Result<()> {
        self.inputs[i].ended = true;
        self.dirty = true;
        self.publish_watermark();
        match self.end_closes_windows {
            true => self.send(i, Message::Watermark(END_OF_TIME)),
            false => Ok(()),
        }
    }

    fn barrier(&mut self, with_acks: bool) -> Result<()> {
        self.epoch += 1;
        let counters = [
            (&b"late"[..], self.counters.late_rows.load(Ordering::Relaxed)),
            (&b"bad"[..], self.counters.bad_rows.load(Ordering::Relaxed)),
            (&b"read"[..], self.counters.rows_read.load(Ordering::Relaxed)),
            (&b"epoch"[..], self.epoch),
        ];
        let mut writes: Vec<_> = counters.iter().map(|(k, v)| (self.key(k), Some(v.to_be_bytes().to_vec()))).collect();
        for i in 0..self.inputs.len() {
            let (wm_key, pos_key) = (self.key(&input_key(i, b"wm")), self.key(&input_key(i, b"pos")));
            let input = &mut self.inputs[i];
            if let Some(wm) = &input.watermarker {
                writes.push((wm_key, Some(wm.encode())));
            }
            writes.push((pos_key, Some(input.reader.checkpoint()?)));
            input.late.checkpoint(self.epoch, &mut writes)?;
        }
        self.report_status(true);
        debug!(epoch = self.epoch, "checkpoint barrier");
        let acks = if with_acks { std::mem::take(&mut self.acks) } else { Vec::new() };
        let barrier = Barrier { writes, ..Barrier::new(self.epoch, acks) };
        self.dirty = false;
        self.last_barrier = Instant::now();
        self.send(0, Message::Barrier(barrier))
    }

    fn report_status(&mut self, now: bool) {
        if !now && self.last_status.elapsed() < STATUS_INTERVAL {
            return;
        }
        self.last_status = Instant::now();
        let statuses = self.inputs.iter().map(|i| i.reader.status()).collect();
        if let Ok(mut shared) = self.stats.source.lock() {
            shared.insert(self.shard, statuses);
        }
    }

    /// Every input ended: a last checkpoint, then the end.
    fn finish(&mut self) -> Result<()> {
        self.counters.watermark.store(END_OF_TIME, Ordering::Relaxed);
        self.barrier(true)?;
        self.send(0, Message::End)
    }

    fn key(&self, sub: &[u8]) -> Vec<u8> {
        let mut k = self.state_prefix.clone();
        k.extend_from_slice(sub);
        k
    }

    fn send(&self, input: usize, msg: Message) -> Result<()> {
        self.out.send((input, msg)).map_err(|_| Error::Shutdown("pipeline stopped".into()))
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
