//! A push query's WHERE and SELECT list applied to a changelog: batches of
//! `op, commit_ts, <relation's columns>` in, `op, commit_ts, <query's columns>` out.
//!
//! Used by [`super::PushQuery`] on every batch. A row that fails the filter is dropped. An
//! update (an `update_before` row directly followed by its `update_after`) that moves a row
//! out of the filter becomes a `delete` of the old row, one that moves a row into it an
//! `insert` of the new row; an update staying inside stays a pair, unless the SELECT list
//! does not show what changed, in which case nothing goes out. The expressions are
//! DataFusion physical expressions, run on whole batches by [`Map`].

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{filter, filter_record_batch, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};

use super::super::subscribe::with_ops;
use crate::dataflow::map::Map;
use crate::error::Result;

/// A push query's filter and projection over changes.
pub(super) struct Shape {
    /// Filter, then projection, over the relation's columns.
    map: Map,
    /// `op`, `commit_ts`, then the projected columns.
    schema: SchemaRef,
}

impl Shape {
    /// Runs `map`, making batches of `schema`.
    pub(super) fn new(map: Map, schema: SchemaRef) -> Shape {
        Shape { map, schema }
    }

    /// The changes of `batch` the query sends, or None.
    pub(super) fn apply(&self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let columns: Vec<usize> = (2..batch.num_columns()).collect();
        let mask = self.map.mask(&batch.project(&columns)?)?;
        let passes = |i: usize| mask.as_ref().is_none_or(|m| m.value(i));
        let (picks, ops) = route(batch.column(0).as_string::<i32>(), passes);
        if picks.is_empty() {
            return Ok(None);
        }
        let taken = take_record_batch(batch, &UInt32Array::from(picks))?;
        let rows = self.map.apply_projection(taken.project(&columns)?)?;
        let changed = changed_updates(&ops, &rows)?;
        let ops = StringArray::from(ops);
        let (ops, at, rows) = match changed {
            None => (ops, taken.column(1).clone(), rows),
            Some(keep) => {
                let ops = filter(&ops, &keep)?.as_string::<i32>().clone();
                (ops, filter(taken.column(1), &keep)?, filter_record_batch(&rows, &keep)?)
            }
        };
        let ops: Vec<&str> = ops.iter().map(|o| o.unwrap_or("insert")).collect();
        Ok(Some(with_ops(&self.schema, ops, at, &rows)?))
    }
}

/// Which rows go out (by index) and as what.
fn route(ops: &StringArray, passes: impl Fn(usize) -> bool) -> (Vec<u32>, Vec<&str>) {
    let (mut picks, mut out) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < ops.len() {
        let pair = ops.value(i) == "update_before" && i + 1 < ops.len() && ops.value(i + 1) == "update_after";
        if !pair {
            if passes(i) {
                picks.push(i as u32);
                out.push(ops.value(i));
            }
            i += 1;
            continue;
        }
        match (passes(i), passes(i + 1)) {
            (true, true) => {
                picks.extend([i as u32, i as u32 + 1]);
                out.extend(["update_before", "update_after"]);
            }
            (true, false) => {
                picks.push(i as u32);
                out.push("delete");
            }
            (false, true) => {
                picks.push(i as u32 + 1);
                out.push("insert");
            }
            (false, false) => {}
        }
        i += 2;
    }
    (picks, out)
}

/// Which rows to keep when some update pairs show no change once projected (None: all).
fn changed_updates(ops: &[&str], rows: &RecordBatch) -> Result<Option<BooleanArray>> {
    if !ops.contains(&"update_before") || rows.num_columns() == 0 {
        return Ok(None);
    }
    let fields = rows.schema().fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
    let converted = RowConverter::new(fields)?.convert_columns(rows.columns())?;
    let mut keep = vec![true; ops.len()];
    for i in 0..ops.len().saturating_sub(1) {
        if ops[i] == "update_before" && ops[i + 1] == "update_after" && converted.row(i) == converted.row(i + 1) {
            keep[i] = false;
            keep[i + 1] = false;
        }
    }
    Ok(keep.contains(&false).then(|| BooleanArray::from(keep)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal};
    use datafusion::scalar::ScalarValue;

    use super::*;
    use crate::engine::subscribe::change_schema;

    /// `SELECT k FROM v WHERE x > 10` over a view of (k, x).
    fn shape() -> Shape {
        let above = Arc::new(BinaryExpr::new(
            Arc::new(Column::new("x", 1)),
            Operator::Gt,
            Arc::new(Literal::new(ScalarValue::Int64(Some(10)))),
        ));
        let out = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let map = Map::new(Some(above), Some((vec![Arc::new(Column::new("k", 0))], out.clone())));
        Shape::new(map, change_schema(&out))
    }

    fn changes(rows: &[(&str, i64, i64)]) -> RecordBatch {
        let view = Schema::new(vec![Field::new("k", DataType::Int64, false), Field::new("x", DataType::Int64, false)]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(TimestampMillisecondArray::from(vec![7; rows.len()]).with_timezone("UTC")),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        ];
        RecordBatch::try_new(change_schema(&view), columns).unwrap()
    }

    fn ops_and_keys(batch: &RecordBatch) -> Vec<(String, i64)> {
        let ops = batch.column(0).as_string::<i32>();
        let keys = batch.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        (0..batch.num_rows()).map(|i| (ops.value(i).to_string(), keys.value(i))).collect()
    }

    #[test]
    fn changes_crossing_the_filter_become_inserts_and_deletes() {
        let batch = changes(&[
            ("insert", 1, 20),
            ("insert", 2, 5),
            ("update_before", 3, 20),
            ("update_after", 3, 5),
            ("update_before", 4, 5),
            ("update_after", 4, 30),
            ("update_before", 5, 20),
            ("update_after", 5, 30),
            ("update_before", 6, 1),
            ("update_after", 6, 2),
            ("delete", 7, 50),
        ]);
        let out = shape().apply(&batch).unwrap().unwrap();
        let expected = [("insert", 1), ("delete", 3), ("insert", 4), ("delete", 7)];
        assert_eq!(ops_and_keys(&out), expected.map(|(o, k)| (o.to_string(), k)).to_vec(), "5 changed only x");
        assert_eq!(out.schema().field(2).name(), "k");
    }

    #[test]
    fn a_batch_with_nothing_inside_gives_none() {
        assert!(shape().apply(&changes(&[("insert", 1, 1), ("delete", 2, 3)])).unwrap().is_none());
    }

    #[test]
    fn updates_that_show_a_change_stay_pairs() {
        let s = shape();
        let batch = changes(&[("update_before", 1, 20), ("update_after", 2, 30)]);
        let out = s.apply(&batch).unwrap().unwrap();
        assert_eq!(ops_and_keys(&out), vec![("update_before".to_string(), 1), ("update_after".to_string(), 2)]);
    }
}
