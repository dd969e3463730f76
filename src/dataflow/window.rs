//! Window assignment: adds `window_start` and `window_end` to every row.
//!
//! Created by the planner for `TUMBLE(stream, time_col, size)` in FROM. Tumbling windows
//! are aligned to the Unix epoch: a row with event time `t` belongs to
//! `[t - t mod size, t - t mod size + size)`. Aggregation over these columns is what keeps
//! per-window state; this operator is stateless.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, TimestampMillisecondArray};
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
}

impl WindowKind {
    /// The start of the window holding event time `t`.
    pub fn start_of(&self, t: Millis) -> Millis {
        match self {
            WindowKind::Tumble { size } => t - t.rem_euclid(*size),
        }
    }

    /// The window length.
    pub fn size(&self) -> Millis {
        match self {
            WindowKind::Tumble { size } => *size,
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

    /// The schema of the rows this operator emits.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn assign(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let times = batch
            .column(self.time_column)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or_else(|| Error::Internal("window time column is not timestamp(ms)".into()))?;
        let tz = times.timezone().map(Arc::from);
        let starts: TimestampMillisecondArray = times.unary(|t| self.kind.start_of(t));
        let size = self.kind.size();
        let ends: TimestampMillisecondArray = starts.unary(|s| s.saturating_add(size));
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        columns.push(Arc::new(starts.with_timezone_opt(tz.clone())));
        columns.push(Arc::new(ends.with_timezone_opt(tz)));
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
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
    fn name(&self) -> &'static str {
        "window"
    }

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
