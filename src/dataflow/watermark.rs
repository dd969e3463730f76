//! Event time of one source input: the watermark and which rows are late.
//!
//! Owns [`WatermarkSpec`] (from a stream's `WATERMARK FOR` and a view's grace period),
//! [`IdlePolicy`] and the [`Watermarker`] that applies them row by row. The source stage
//! ([`super::source`]) keeps one watermarker per input of a pipeline.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arrow::array::{Array, BooleanArray, BooleanBufferBuilder, RecordBatch, TimestampMillisecondArray};
use arrow::compute::filter_record_batch;

use super::Millis;
use crate::error::{Error, Result};

/// How a stream derives its watermark: `WATERMARK FOR column AS column - delay`.
#[derive(Debug, Clone, PartialEq)]
pub struct WatermarkSpec {
    /// Index of the event-time column in the stream schema.
    pub column: usize,
    /// How far behind the largest event time seen the watermark trails.
    pub delay: Millis,
    /// The view's grace period (allowed lateness): rows up to this far behind the
    /// watermark still count, and windows close this much later.
    pub grace: Millis,
}

impl WatermarkSpec {
    /// How far behind the largest event time a view's effective watermark trails.
    fn lag(&self) -> Millis {
        self.delay.saturating_add(self.grace)
    }
}

/// What a source does when its input goes quiet.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IdlePolicy {
    /// After this long without input a split stops holding the watermark back.
    pub timeout: Option<Duration>,
    /// After `timeout` without any input, the watermark advances with processing time, as
    /// if event time went on at wall-clock speed from the latest event seen.
    pub advance: bool,
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
pub(super) struct Watermarker {
    pub(super) spec: WatermarkSpec,
    idle: IdlePolicy,
    splits: BTreeMap<u32, SplitClock>,
    current: Millis,
    /// When any split last delivered rows (or when tracking started).
    last_data: Instant,
}

/// A batch split by [`Watermarker::apply`].
pub(super) struct Applied {
    /// The on-time rows.
    pub(super) kept: RecordBatch,
    /// The late rows, with the watermark each was behind.
    pub(super) late: Option<(RecordBatch, Vec<Millis>)>,
}

pub(super) fn event_times(batch: &RecordBatch, column: usize) -> Result<&TimestampMillisecondArray> {
    batch
        .column(column)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or_else(|| Error::Internal("event-time column is not timestamp(ms)".into()))
}

/// The event-time clock of one split.
#[derive(Debug, Clone, Copy)]
struct SplitClock {
    max_time: Millis,
    last_seen: Instant,
}

impl Watermarker {
    pub(super) fn new(spec: WatermarkSpec, idle: IdlePolicy, now: Instant) -> Watermarker {
        Watermarker { spec, idle, splits: BTreeMap::new(), current: Millis::MIN, last_data: now }
    }

    pub(super) fn current(&self) -> Millis {
        self.current
    }

    /// Starts tracking `splits`, which hold the watermark back from now on.
    pub(super) fn register(&mut self, splits: &[u32], now: Instant) {
        for &split in splits {
            self.splits.entry(split).or_insert(SplitClock { max_time: Millis::MIN, last_seen: now });
        }
    }

    /// The watermark the active splits allow, at `now`.
    fn combined(&self, now: Instant) -> Millis {
        let active = self
            .splits
            .values()
            .filter(|c| self.idle.timeout.is_none_or(|timeout| now.saturating_duration_since(c.last_seen) < timeout));
        match active.map(|c| c.max_time).min() {
            Some(t) if t != Millis::MIN => t.saturating_sub(self.spec.lag()),
            _ => Millis::MIN,
        }
    }

    /// Splits a batch from `split`, read at `now`, into its on-time rows and its late ones
    /// (with the watermark each was behind).
    pub(super) fn apply(&mut self, batch: RecordBatch, split: u32, now: Instant) -> Result<Applied> {
        let times = event_times(&batch, self.spec.column)?.clone();
        let quiet = now.saturating_duration_since(self.last_data);
        if self.idle.timeout.is_some_and(|timeout| quiet >= timeout) {
            self.splits.values_mut().for_each(|c| c.last_seen = now);
        }
        self.last_data = now;
        let clock = self.splits.entry(split).or_insert(SplitClock { max_time: Millis::MIN, last_seen: now });
        clock.last_seen = now;
        let single = self.splits.len() == 1;
        let mut keep = BooleanBufferBuilder::new(times.len());
        let mut behind = Vec::new();
        for i in 0..times.len() {
            let on_time = times.is_valid(i) && {
                let t = times.value(i);
                let ok = t >= self.current;
                self.advance(split, t, now, single);
                ok
            };
            if !on_time {
                behind.push(self.current);
            }
            keep.append(on_time);
        }
        if behind.is_empty() {
            return Ok(Applied { kept: batch, late: None });
        }
        let mask = BooleanArray::new(keep.finish(), None);
        let late = filter_record_batch(&batch, &arrow::compute::not(&mask)?)?;
        Ok(Applied { kept: filter_record_batch(&batch, &mask)?, late: Some((late, behind)) })
    }

    /// With [`IdlePolicy::advance`], moves the watermark on by the processing time passed
    /// since the source went quiet (once it has been quiet for the idle timeout). Returns
    /// whether it moved.
    pub(super) fn tick(&mut self, now: Instant) -> bool {
        let Some(timeout) = self.idle.timeout.filter(|_| self.idle.advance) else { return false };
        let quiet = now.saturating_duration_since(self.last_data);
        let latest = self.splits.values().map(|c| c.max_time).max().unwrap_or(Millis::MIN);
        if quiet < timeout || latest == Millis::MIN {
            return false;
        }
        let quiet = Millis::try_from(quiet.as_millis()).unwrap_or(Millis::MAX);
        let allowed = latest.saturating_add(quiet).saturating_sub(self.spec.lag());
        let moved = allowed > self.current;
        self.current = self.current.max(allowed);
        moved
    }

    /// Moves `split`'s clock to `t` if that is later, and the watermark with it.
    fn advance(&mut self, split: u32, t: Millis, now: Instant, single: bool) {
        let Some(clock) = self.splits.get_mut(&split) else { return };
        if t <= clock.max_time {
            return;
        }
        clock.max_time = t;
        let allowed = if single { t.saturating_sub(self.spec.lag()) } else { self.combined(now) };
        self.current = self.current.max(allowed);
    }

    /// Checkpoint form: the watermark, then (split, clock) pairs.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = (self.current as u64).to_be_bytes().to_vec();
        for (split, clock) in &self.splits {
            out.extend_from_slice(&split.to_be_bytes());
            out.extend_from_slice(&(clock.max_time as u64).to_be_bytes());
        }
        out
    }

    /// Restores what [`Watermarker::encode`] wrote; restored splits count as active.
    pub(super) fn restore(&mut self, bytes: &[u8], now: Instant) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Test clock: `ms` milliseconds after a fixed start.
    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use std::sync::Arc;

    fn idle(timeout: Duration) -> IdlePolicy {
        IdlePolicy { timeout: Some(timeout), advance: false }
    }

    fn batch(times: Vec<Option<i64>>) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(TimestampMillisecondArray::from(times))]).unwrap()
    }

    #[test]
    fn lateness_is_per_row_and_independent_of_batching() {
        let t0 = Instant::now();
        let rows = vec![Some(10_000), Some(7_000), Some(5_000), Some(20_000), Some(16_500), None];
        let spec = WatermarkSpec { column: 0, delay: 4_000, grace: 0 };
        let mut whole = Watermarker::new(spec.clone(), IdlePolicy::default(), t0);
        let applied = whole.apply(batch(rows.clone()), 0, t0).unwrap();
        let (late, behind) = applied.late.unwrap();
        assert_eq!((applied.kept.num_rows(), late.num_rows()), (4, 2));
        assert_eq!(behind, vec![6_000, 16_000], "each late row with the watermark it was behind");
        let mut split = Watermarker::new(spec, IdlePolicy::default(), t0);
        let mut total_late = 0;
        for r in rows {
            total_late += split.apply(batch(vec![r]), 0, t0).unwrap().late.map_or(0, |l| l.0.num_rows());
        }
        assert_eq!(total_late, 2);
        assert_eq!(whole.current(), split.current());
    }

    #[test]
    fn watermark_is_the_minimum_over_active_splits() {
        let t0 = Instant::now();
        let spec = WatermarkSpec { column: 0, delay: 1_000, grace: 0 };
        let mut wm = Watermarker::new(spec, idle(Duration::from_secs(3600)), t0);
        wm.apply(batch(vec![Some(10_000)]), 0, t0).unwrap();
        assert_eq!(wm.current(), 9_000);
        wm.apply(batch(vec![Some(5_000)]), 1, t0).unwrap();
        assert_eq!(wm.current(), 9_000, "never goes back");
        wm.apply(batch(vec![Some(20_000)]), 0, t0).unwrap();
        assert_eq!(wm.current(), 9_000, "split 1 holds it back");
        wm.apply(batch(vec![Some(15_000)]), 1, t0).unwrap();
        assert_eq!(wm.current(), 14_000);
        let mut restored = Watermarker::new(wm.spec.clone(), IdlePolicy::default(), t0);
        restored.restore(&wm.encode(), t0).unwrap();
        assert_eq!(restored.current(), 14_000);
        assert_eq!(restored.splits.len(), 2);
    }

    #[test]
    fn a_registered_split_holds_the_watermark_before_its_first_row() {
        let t0 = Instant::now();
        let spec = WatermarkSpec { column: 0, delay: 0, grace: 0 };
        let mut wm = Watermarker::new(spec, idle(Duration::from_secs(3600)), t0);
        wm.register(&[0, 1], t0);
        wm.apply(batch(vec![Some(10_000)]), 0, t0).unwrap();
        assert_eq!(wm.current(), Millis::MIN);
        let applied = wm.apply(batch(vec![Some(2_000)]), 1, t0).unwrap();
        assert_eq!((applied.late.is_none(), wm.current()), (true, 2_000));
    }

    #[test]
    fn an_idle_split_stops_holding_the_watermark() {
        let t0 = Instant::now();
        let spec = WatermarkSpec { column: 0, delay: 0, grace: 0 };
        let mut wm = Watermarker::new(spec, idle(Duration::from_millis(50)), t0);
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
        let spec = WatermarkSpec { column: 0, delay: 0, grace: 0 };
        let mut wm = Watermarker::new(spec, idle(Duration::from_millis(50)), t0);
        wm.apply(batch(vec![Some(1_000)]), 1, t0).unwrap();
        wm.apply(batch(vec![Some(10_000)]), 0, t0).unwrap();
        wm.apply(batch(vec![Some(12_000)]), 0, at(t0, 80)).unwrap();
        assert_eq!(wm.current(), 1_000, "split 1 still holds the watermark after an outage");
        let applied = wm.apply(batch(vec![Some(2_000)]), 1, at(t0, 81)).unwrap();
        assert_eq!((applied.late.is_none(), wm.current()), (true, 2_000));
    }

    #[test]
    fn grace_lets_rows_behind_the_watermark_count_and_holds_windows_open() {
        let t0 = Instant::now();
        let spec = WatermarkSpec { column: 0, delay: 1_000, grace: 2_000 };
        let mut wm = Watermarker::new(spec, IdlePolicy::default(), t0);
        wm.apply(batch(vec![Some(10_000)]), 0, t0).unwrap();
        assert_eq!(wm.current(), 7_000, "the effective watermark trails by delay + grace");
        let applied = wm.apply(batch(vec![Some(7_500), Some(6_999)]), 0, t0).unwrap();
        assert_eq!(applied.kept.num_rows(), 1);
        assert_eq!(applied.late.unwrap().1, vec![7_000]);
    }

    #[test]
    fn a_quiet_source_advances_by_processing_time_only_when_asked() {
        let t0 = Instant::now();
        let spec = WatermarkSpec { column: 0, delay: 1_000, grace: 0 };
        let advancing = IdlePolicy { timeout: Some(Duration::from_millis(100)), advance: true };
        for (policy, expected) in [(advancing, 9_000 + 250), (idle(Duration::from_millis(100)), 9_000)] {
            let mut wm = Watermarker::new(spec.clone(), policy, t0);
            assert!(!wm.tick(at(t0, 500)), "nothing seen yet: nothing to advance from");
            wm.apply(batch(vec![Some(10_000)]), 0, at(t0, 1_000)).unwrap();
            assert!(!wm.tick(at(t0, 1_050)), "not quiet for the timeout yet");
            wm.tick(at(t0, 1_250));
            assert_eq!(wm.current(), expected);
        }
    }
}
