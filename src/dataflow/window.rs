//! Window assignment: adds `window_start` and `window_end` to every row.
//!
//! Created by the planner for `TUMBLE(stream, time_col, size)` and
//! `HOP(stream, time_col, slide, size)`, `CUMULATE(...)` and `SESSION(stream, time_col, gap)`
//! in FROM. Windows are aligned to the Unix epoch: a
//! tumbling window of a row with event time `t` is `[t - t mod size, t - t mod size + size)`;
//! a row belongs to the `size / slide` hopping windows whose start is a multiple of `slide`
//! in `(t - size, t]`, and to the cumulating windows (`CUMULATE(stream, time_col, step,
//! size)`) of its size-aligned start that end after `t`; it comes out once per window. Aggregation over these columns is what keeps
//! per-window state; this operator is stateless.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, TimestampMillisecondArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::{Message, Millis, Operator};
use crate::error::{Error, Result};

/// How rows are assigned to windows.
#[derive(Debug, Clone, PartialEq)]
pub enum WindowKind {
    /// Fixed-size, non-overlapping windows.
    Tumble {
        /// Window length.
        size: Millis,
    },
    /// Fixed-size windows starting every `slide` (a divisor of `size`): each row is in
    /// `size / slide` windows.
    Hop {
        /// Time between window starts.
        slide: Millis,
        /// Window length.
        size: Millis,
    },
    /// Windows starting every `size` whose end grows by `step` (a divisor of `size`):
    /// `[s, s + step)`, `[s, s + 2 step)`, ... `[s, s + size)`; a row is in each that has
    /// not ended before it.
    Cumulate {
        /// How much the end grows.
        step: Millis,
        /// The largest window's length, and the distance between starts.
        size: Millis,
    },
    /// Sessions per group key: rows less than `gap` apart belong to one session. Here each
    /// row gets the session of its own, `[t, t + gap)`; the session aggregate
    /// (`super::session`) merges them.
    Session {
        /// The inactivity that ends a session.
        gap: Millis,
    },
}

impl WindowKind {
    /// The start of the latest window holding event time `t`.
    pub fn start_of(&self, t: Millis) -> Millis {
        let step = match self {
            WindowKind::Tumble { size } | WindowKind::Cumulate { size, .. } => *size,
            WindowKind::Hop { slide, .. } => *slide,
            WindowKind::Session { .. } => return t,
        };
        t - t.rem_euclid(step)
    }

    /// The largest window length: no window ends later than this after its start.
    pub fn size(&self) -> Millis {
        match self {
            WindowKind::Tumble { size } | WindowKind::Hop { size, .. } | WindowKind::Cumulate { size, .. } => *size,
            WindowKind::Session { gap } => *gap,
        }
    }

    /// Every window (start, end) holding `t`, by start, then end.
    fn windows(&self, t: Millis, out: &mut Vec<(Millis, Millis)>) {
        let last = self.start_of(t);
        match self {
            WindowKind::Tumble { size } => out.push((last, last + size)),
            WindowKind::Hop { slide, size } => {
                out.extend((0..size / slide).rev().map(|k| (last - k * slide, last - k * slide + size)));
            }
            WindowKind::Cumulate { step, size } => {
                out.extend((1..=size / step).map(|k| (last, last + k * step)).filter(|(_, end)| *end > t));
            }
            WindowKind::Session { gap } => out.push((t, t.saturating_add(*gap))),
        }
    }
}

/// Appends window bounds computed from the event-time column.
pub struct WindowAssign {
    kind: WindowKind,
    time_column: usize,
    schema: SchemaRef,
}

impl WindowAssign {
    /// Assigns windows of `kind` by the column at `time_column` of `input`.
    pub fn new(kind: WindowKind, time_column: usize, input: &Schema) -> Result<WindowAssign> {
        let schema = Arc::new(output_schema(input, time_column)?);
        Ok(WindowAssign { kind, time_column, schema })
    }

    fn assign(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let times = batch
            .column(self.time_column)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or_else(|| Error::Internal("window time column is not timestamp(ms)".into()))?;
        let tz = times.timezone().map(Arc::from);
        let mut columns: Vec<ArrayRef>;
        let single = match self.kind {
            WindowKind::Tumble { size } | WindowKind::Session { gap: size } => Some(size),
            _ => None,
        };
        let (starts, ends) = if let Some(size) = single {
            columns = batch.columns().to_vec();
            let starts: TimestampMillisecondArray = times.unary(|t| self.kind.start_of(t));
            let ends = starts.unary(|s| s.saturating_add(size));
            (starts, ends)
        } else {
            let (rows, starts, ends) = self.window_rows(times);
            columns = batch.columns().iter().map(|c| Ok(take(c, &rows, None)?)).collect::<Result<_>>()?;
            (starts, ends)
        };
        columns.push(Arc::new(starts.with_timezone_opt(tz.clone())));
        columns.push(Arc::new(ends.with_timezone_opt(tz)));
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// For windows that overlap: which input row each output row copies, and its window's
    /// start and end (a row without event time is kept once, without a window).
    fn window_rows(
        &self,
        times: &TimestampMillisecondArray,
    ) -> (UInt32Array, TimestampMillisecondArray, TimestampMillisecondArray) {
        let (mut rows, mut starts, mut ends, mut buf) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..times.len() {
            if times.is_null(i) {
                rows.push(i as u32);
                starts.push(None);
                ends.push(None);
                continue;
            }
            buf.clear();
            self.kind.windows(times.value(i), &mut buf);
            rows.extend(std::iter::repeat_n(i as u32, buf.len()));
            starts.extend(buf.iter().map(|w| Some(w.0)));
            ends.extend(buf.iter().map(|w| Some(w.1)));
        }
        (UInt32Array::from(rows), TimestampMillisecondArray::from(starts), TimestampMillisecondArray::from(ends))
    }
}

/// `input` plus `window_start` and `window_end` of the time column's type.
pub fn output_schema(input: &Schema, time_column: usize) -> Result<Schema> {
    let time_type = input.field(time_column).data_type().clone();
    if !matches!(time_type, DataType::Timestamp(TimeUnit::Millisecond, _)) {
        return Err(Error::Plan(format!(
            "window time column \"{}\" must be a timestamp",
            input.field(time_column).name()
        )));
    }
    let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("window_start", time_type.clone(), true));
    fields.push(Field::new("window_end", time_type, true));
    Ok(Schema::new(fields))
}

impl Operator for WindowAssign {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => out.push(Message::Batch(self.assign(batch)?)),
            other => out.push(other),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumble_aligns_to_epoch_including_negative_times() {
        let k = WindowKind::Tumble { size: 10_000 };
        assert_eq!(k.start_of(12_345), 10_000);
        assert_eq!(k.start_of(10_000), 10_000);
        assert_eq!(k.start_of(-1), -10_000);
    }

    #[test]
    fn hop_puts_each_row_in_every_window_holding_it() {
        let input = Schema::new(vec![Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true)]);
        let kind = WindowKind::Hop { slide: 1000, size: 3000 };
        let mut op = WindowAssign::new(kind, 0, &input).unwrap();
        let times = TimestampMillisecondArray::from(vec![Some(2500), None, Some(-1)]);
        let batch = RecordBatch::try_new(Arc::new(input), vec![Arc::new(times)]).unwrap();
        let mut out = vec![];
        op.process(Message::Batch(batch), &mut out).unwrap();
        let Message::Batch(b) = &out[0] else { panic!() };
        let column = |i: usize| b.column(i).as_any().downcast_ref::<TimestampMillisecondArray>().unwrap().clone();
        let starts: Vec<Option<i64>> = column(1).iter().collect();
        assert_eq!(starts, vec![Some(0), Some(1000), Some(2000), None, Some(-3000), Some(-2000), Some(-1000)]);
        let rows: Vec<Option<i64>> = column(0).iter().collect();
        assert_eq!(rows[..4], [Some(2500), Some(2500), Some(2500), None]);
        assert_eq!(column(2).value(0), 3000);
    }

    #[test]
    fn cumulate_windows_share_a_start_and_grow() {
        let mut out = Vec::new();
        WindowKind::Cumulate { step: 1000, size: 3000 }.windows(4500, &mut out);
        assert_eq!(out, vec![(3000, 5000), (3000, 6000)]);
        out.clear();
        WindowKind::Cumulate { step: 1000, size: 3000 }.windows(3000, &mut out);
        assert_eq!(out, vec![(3000, 4000), (3000, 5000), (3000, 6000)]);
    }

    #[test]
    fn appends_bounds() {
        let input = Schema::new(vec![Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true)]);
        let mut op = WindowAssign::new(WindowKind::Tumble { size: 1000 }, 0, &input).unwrap();
        let batch = RecordBatch::try_new(
            Arc::new(input),
            vec![Arc::new(TimestampMillisecondArray::from(vec![Some(1500), None]))],
        )
        .unwrap();
        let mut out = vec![];
        op.process(Message::Batch(batch), &mut out).unwrap();
        let Message::Batch(b) = &out[0] else { panic!() };
        let ends = b.column(2).as_any().downcast_ref::<TimestampMillisecondArray>().unwrap();
        assert_eq!(ends.value(0), 2000);
        assert!(ends.is_null(1));
    }
}
