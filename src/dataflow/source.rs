//! The source stage of a pipeline: reads, assigns watermarks, drops late rows, and starts
//! checkpoints.
//!
//! Runs on its own thread (reading and decoding are the most expensive part of a pipeline),
//! polling a [`SourceReader`] and sending messages to the operator thread through a bounded
//! channel, which gives backpressure. Batches are cut by the reader when full or when the
//! input pauses. Every checkpoint interval, or when `FLUSH` asks, it writes its position,
//! watermark and counters into a fresh [`Barrier`] and sends it down the pipeline.

use std::collections::BTreeMap;
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
///
/// Each split of the source (a Kafka partition; files have one) has its own clock, the
/// largest event time seen in it. The watermark is the minimum over the active splits of
/// clock minus delay, and never goes back. A split that has delivered nothing for the idle
/// timeout while other splits did stops holding the watermark back until it delivers again.
/// Time in which the whole source delivered nothing (a broker outage, a quiet topic) does
/// not count towards idleness: otherwise the first split to resume would run ahead and make
/// the others' rows late.
#[derive(Debug)]
struct Watermarker {
    spec: WatermarkSpec,
    idle_timeout: Option<Duration>,
    splits: BTreeMap<u32, SplitClock>,
    current: Millis,
    /// When any split last delivered rows (or when tracking started).
    last_data: Instant,
}

/// The event-time clock of one split.
#[derive(Debug, Clone, Copy)]
struct SplitClock {
    max_time: Millis,
    last_seen: Instant,
}

impl Watermarker {
    fn new(spec: WatermarkSpec, idle_timeout: Option<Duration>, now: Instant) -> Watermarker {
        Watermarker { spec, idle_timeout, splits: BTreeMap::new(), current: Millis::MIN, last_data: now }
    }

    fn current(&self) -> Millis {
        self.current
    }

    /// Starts tracking `splits`, which hold the watermark back from now on.
    fn register(&mut self, splits: &[u32], now: Instant) {
        for &split in splits {
            self.splits.entry(split).or_insert(SplitClock { max_time: Millis::MIN, last_seen: now });
        }
    }

    /// The watermark the active splits allow, at `now`.
    fn combined(&self, now: Instant) -> Millis {
        let active = self
            .splits
            .values()
            .filter(|c| self.idle_timeout.is_none_or(|timeout| now.saturating_duration_since(c.last_seen) < timeout));
        match active.map(|c| c.max_time).min() {
            Some(t) if t != Millis::MIN => t.saturating_sub(self.spec.delay),
            _ => Millis::MIN,
        }
    }

    /// Returns the on-time rows of a batch from `split`, read at `now`, and the number of
    /// late ones.
    fn apply(&mut self, batch: RecordBatch, split: u32, now: Instant) -> Result<(RecordBatch, u64)> {
        let times = batch
            .column(self.spec.column)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or_else(|| Error::Internal("event-time column is not timestamp(ms)".into()))?;
        let quiet = now.saturating_duration_since(self.last_data);
        if self.idle_timeout.is_some_and(|timeout| quiet >= timeout) {
            self.splits.values_mut().for_each(|c| c.last_seen = now);
        }
        self.last_data = now;
        let clock = self.splits.entry(split).or_insert(SplitClock { max_time: Millis::MIN, last_seen: now });
        clock.last_seen = now;
        let single = self.splits.len() == 1;
        let mut keep = BooleanBufferBuilder::new(times.len());
        let mut late = 0u64;
        for i in 0..times.len() {
            let on_time = times.is_valid(i) && {
                let t = times.value(i);
                let ok = t >= self.current;
                self.advance(split, t, now, single);
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

    /// Moves `split`'s clock to `t` if that is later, and the watermark with it.
    fn advance(&mut self, split: u32, t: Millis, now: Instant, single: bool) {
        let Some(clock) = self.splits.get_mut(&split) else { return };
        if t <= clock.max_time {
            return;
        }
        clock.max_time = t;
        let allowed = if single { t.saturating_sub(self.spec.delay) } else { self.combined(now) };
        self.current = self.current.max(allowed);
    }

    /// Checkpoint form: the watermark, then (split, clock) pairs.
    fn encode(&self) -> Vec<u8> {
        let mut out = (self.current as u64).to_be_bytes().to_vec();
        for (split, clock) in &self.splits {
            out.extend_from_slice(&split.to_be_bytes());
            out.extend_from_slice(&(clock.max_time as u64).to_be_bytes());
        }
        out
    }

    /// Restores what [`Watermarker::encode`] wrote; restored splits count as active.
    fn restore(&mut self, bytes: &[u8], now: Instant) -> Result<()> {
        let bad = || Error::Internal("bad watermark state".into());
        let (head, mut rest) = bytes.split_at_checked(8).ok_or_else(bad)?;
        self.current = u64::from_be_bytes(head.try_into().map_err(|_| bad())?) as Millis;
        while !rest.is_empty() {
            let (entry, tail) = rest.split_at_checked(12).ok_or_else(bad)?;
            let split = u32::from_be_bytes(entry[..4].try_into().map_err(|_| bad())?);
            let max_time = u64::from_be_bytes(entry[4..].try_into().map_err(|_| bad())?) as Millis;
            self.splits.insert(split, SplitClock { max_time, last_seen: now });
            rest = tail;
        }
        Ok(())
    }
}

/// Everything the source thread needs.
pub struct SourceTask {
    /// Where rows come from.
    pub reader: Box<dyn SourceReader>,
    /// Watermark definition of the stream, if it has one.
    pub watermark: Option<WatermarkSpec>,
    /// After this long without input a split stops holding the watermark back.
    pub idle_timeout: Option<Duration>,
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
    last_status: Instant,
}

const IDLE_WAIT: Duration = Duration::from_millis(20);
/// Wait after [`Poll::Pending`].
const PENDING_WAIT: Duration = Duration::from_millis(2);
/// How often an idle source refreshes its status for SHOW SOURCES.
const STATUS_INTERVAL: Duration = Duration::from_millis(250);

impl SourceTask {
    /// Restores position and counters, then runs until the input ends, `Stop` arrives or
    /// the operator thread goes away.
    pub fn run(self, state: &StateReader<'_>, control: Receiver<Control>, out: SyncSender<Message>) -> Result<()> {
        let epoch = restore_u64(state, b"epoch")?.unwrap_or(0);
        self.stats.late_rows.store(restore_u64(state, b"late")?.unwrap_or(0), Ordering::Relaxed);
        self.stats.bad_rows.store(restore_u64(state, b"bad")?.unwrap_or(0), Ordering::Relaxed);
        self.stats.rows_read.store(restore_u64(state, b"read")?.unwrap_or(0), Ordering::Relaxed);
        let mut watermarker =
            self.watermark.clone().map(|spec| Watermarker::new(spec, self.idle_timeout, Instant::now()));
        if let (Some(wm), Some(saved)) = (watermarker.as_mut(), state.get(b"wm")?) {
            wm.restore(&saved, Instant::now())?;
            self.stats.watermark.store(wm.current(), Ordering::Relaxed);
        }
        let mut run = Loop {
            task: self,
            watermarker,
            epoch,
            state_prefix: state.key(&[]),
            out,
            acks: Vec::new(),
            dirty: false,
            last_barrier: Instant::now(),
            last_status: Instant::now(),
        };
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
            let poll = self.task.reader.poll(self.task.batch_size)?;
            let new_splits = self.task.reader.new_splits();
            if let Some(wm) = self.watermarker.as_mut() {
                wm.register(&new_splits, Instant::now());
            }
            match poll {
                Poll::Data { batch, bad, split } => {
                    self.note_bad(bad);
                    self.on_batch(batch, split)?;
                }
                Poll::Bad(bad) => self.note_bad(bad),
                Poll::Pending => {
                    self.report_status(false);
                    match control.recv_timeout(PENDING_WAIT) {
                        Ok(Control::Flush(ack)) => self.flush_requested(ack),
                        Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                        Err(RecvTimeoutError::Timeout) => {}
                    }
                }
                Poll::Idle => {
                    self.report_status(false);
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

    fn on_batch(&mut self, batch: RecordBatch, split: u32) -> Result<()> {
        self.dirty = true;
        self.task.stats.rows_read.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        let Some(wm) = self.watermarker.as_mut() else {
            return self.send(Message::Batch(batch));
        };
        let before = wm.current();
        let (batch, late) = wm.apply(batch, split, Instant::now())?;
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
            writes.push((self.key(b"wm"), Some(wm.encode())));
        }
        writes.push((self.key(b"pos"), Some(self.task.reader.checkpoint()?)));
        self.report_status(true);
        debug!(epoch = self.epoch, "checkpoint barrier");
        let acks = if with_acks { std::mem::take(&mut self.acks) } else { Vec::new() };
        let barrier = Barrier { epoch: self.epoch, writes, acks };
        self.dirty = false;
        self.last_barrier = Instant::now();
        self.send(Message::Barrier(barrier))
    }

    /// Publishes the reader's status for SHOW SOURCES (at most every [`STATUS_INTERVAL`]
    /// unless `now`).
    fn report_status(&mut self, now: bool) {
        if !now && self.last_status.elapsed() < STATUS_INTERVAL {
            return;
        }
        self.last_status = Instant::now();
        let status = self.task.reader.status();
        if let Ok(mut shared) = self.task.stats.source.lock() {
            *shared = status;
        }
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

    /// Test clock: `ms` milliseconds after a fixed start.
    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    fn batch(times: Vec<Option<i64>>) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(TimestampMillisecondArray::from(times))]).unwrap()
    }

    #[test]
    fn lateness_is_per_row_and_independent_of_batching() {
        let t0 = Instant::now();
        let rows = vec![Some(10_000), Some(7_000), Some(5_000), Some(20_000), Some(16_500), None];
        let spec = WatermarkSpec { column: 0, delay: 4_000 };
        let mut whole = Watermarker::new(spec.clone(), None, t0);
        let (kept, late) = whole.apply(batch(rows.clone()), 0, t0).unwrap();
        assert_eq!((kept.num_rows(), late), (4, 2));
        let mut split = Watermarker::new(spec, None, t0);
        let mut total_late = 0;
        for r in rows {
            total_late += split.apply(batch(vec![r]), 0, t0).unwrap().1;
        }
        assert_eq!(total_late, 2);
        assert_eq!(whole.current(), split.current());
    }

    #[test]
    fn watermark_is_the_minimum_over_active_splits() {
        let t0 = Instant::now();
        let spec = WatermarkSpec { column: 0, delay: 1_000 };
        let mut wm = Watermarker::new(spec, Some(Duration::from_secs(3600)), t0);
        wm.apply(batch(vec![Some(10_000)]), 0, t0).unwrap();
        assert_eq!(wm.current(), 9_000);
        wm.apply(batch(vec![Some(5_000)]), 1, t0).unwrap();
        assert_eq!(wm.current(), 9_000, "never goes back");
        wm.apply(batch(vec![Some(20_000)]), 0, t0).unwrap();
        assert_eq!(wm.current(), 9_000, "split 1 holds it back");
        wm.apply(batch(vec![Some(15_000)]), 1, t0).unwrap();
        assert_eq!(wm.current(), 14_000);
        let mut restored = Watermarker::new(wm.spec.clone(), None, t0);
        restored.restore(&wm.encode(), t0).unwrap();
        assert_eq!(restored.current(), 14_000);
        assert_eq!(restored.splits.len(), 2);
    }

    #[test]
    fn a_registered_split_holds_the_watermark_before_its_first_row() {
        let t0 = Instant::now();
        let spec = WatermarkSpec { column: 0, delay: 0 };
        let mut wm = Watermarker::new(spec, Some(Duration::from_secs(3600)), t0);
        wm.register(&[0, 1], t0);
        wm.apply(batch(vec![Some(10_000)]), 0, t0).unwrap();
        assert_eq!(wm.current(), Millis::MIN);
        let (_, late) = wm.apply(batch(vec![Some(2_000)]), 1, t0).unwrap();
        assert_eq!((late, wm.current()), (0, 2_000));
    }

    #[test]
    fn an_idle_split_stops_holding_the_watermark() {
        let t0 = Instant::now();
        let spec = WatermarkSpec { column: 0, delay: 0 };
        let mut wm = Watermarker::new(spec, Some(Duration::from_millis(50)), t0);
        wm.apply(batch(vec![Some(1_000)]), 1, t0).unwrap();
        wm.apply(batch(vec![Some(10_000)]), 0, t0).unwrap();
        assert_eq!(wm.current(), 1_000);
        for (ms, t) in [(30, 11_000), (60, 12_000), (90, 13_000)] {
            wm.apply(batch(vec![Some(t)]), 0, at(t0, ms)).unwrap();
        }
        assert_eq!(wm.current(), 13_000, "split 1 was idle while split 0 delivered");
    }

    #[test]
    fn a_quiet_source_does_not_make_its_splits_idle() {
        let t0 = Instant::now();
        let spec = WatermarkSpec { column: 0, delay: 0 };
        let mut wm = Watermarker::new(spec, Some(Duration::from_millis(50)), t0);
        wm.apply(batch(vec![Some(1_000)]), 1, t0).unwrap();
        wm.apply(batch(vec![Some(10_000)]), 0, t0).unwrap();
        wm.apply(batch(vec![Some(12_000)]), 0, at(t0, 80)).unwrap();
        assert_eq!(wm.current(), 1_000, "split 1 still holds the watermark after an outage");
        let (_, late) = wm.apply(batch(vec![Some(2_000)]), 1, at(t0, 81)).unwrap();
        assert_eq!((late, wm.current()), (0, 2_000));
    }
}
