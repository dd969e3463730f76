//! Postgres's `information_schema._pg_expandarray(array)`, which pgjdbc's `getPrimaryKeys`
//! and Metabase's primary-key sync call: in Postgres a set-returning function giving one
//! `(x, n)` record per element, `x` the element and `n` its position from 1.
//!
//! Here `_pg_expandarray` returns that set as a list of `{x, n}` structs, and `compat`
//! rewrites each call into `unnest(_pg_expandarray(array))`, which DataFusion expands
//! into rows in the select list as Postgres does (two calls in one select list expand
//! side by side). `(record).n` becomes `get_field(record, 'n')` there too.
//!
//! Registered by `Engine::open`.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, ListArray, StructArray};
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Registers the array functions on `ctx`.
pub(super) fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(ExpandArray { signature: Signature::any(1, Volatility::Immutable) }));
}

/// `_pg_expandarray`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExpandArray {
    signature: Signature,
}

/// The fields of one record: the element (as `int4`, the element types of the catalog's
/// vectors fit) and its position.
fn record_fields() -> Fields {
    Fields::from(vec![Field::new("x", DataType::Int32, true), Field::new("n", DataType::Int32, false)])
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        "_pg_expandarray"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new("item", DataType::Struct(record_fields()), true))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [array] = arrays.as_slice() else {
            return Err(DataFusionError::Plan("_pg_expandarray() takes one array".into()));
        };
        Ok(ColumnarValue::Array(expand(array)?))
    }
}

/// Each list of `lists` as a list of `{x: element, n: position}` records.
fn expand(lists: &ArrayRef) -> Result<ArrayRef> {
    let lists = match lists.data_type() {
        DataType::List(_) => lists.as_list::<i32>().clone(),
        DataType::Null => ListArray::new_null(Arc::new(Field::new("item", DataType::Int32, true)), lists.len()),
        other => return Err(DataFusionError::Plan(format!("_pg_expandarray() takes an array, not {other}"))),
    };
    let offsets = lists.offsets();
    let first = offsets.first().copied().unwrap_or(0) as usize;
    let last = offsets.last().copied().unwrap_or(0) as usize;
    let elements = arrow::compute::cast(&lists.values().slice(first, last - first), &DataType::Int32)?;
    let positions: Int32Array = offsets.windows(2).flat_map(|w| 1..=(w[1] - w[0])).collect();
    let records = StructArray::try_new(record_fields(), vec![elements, Arc::new(positions)], None)?;
    let offsets = arrow::buffer::OffsetBuffer::new(offsets.iter().map(|o| o - offsets[0]).collect());
    let item = Arc::new(Field::new("item", DataType::Struct(record_fields()), true));
    Ok(Arc::new(ListArray::try_new(item, offsets, Arc::new(records), lists.nulls().cloned())?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Int16Type, Int32Type};

    fn records(expanded: &ListArray, row: usize) -> (Vec<i32>, Vec<i32>) {
        let records = expanded.value(row);
        let records = records.as_struct();
        let column = |i: usize| records.column(i).as_primitive::<Int32Type>().values().to_vec();
        (column(0), column(1))
    }

    #[test]
    fn each_element_gets_its_position() {
        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int16Type, _, _>(vec![
            Some(vec![Some(7)]),
            Some(vec![Some(3), Some(1)]),
            None,
            Some(vec![Some(2)]),
        ]));
        // A slice, as batches often are: its offsets do not start at 0.
        let expanded = expand(&lists.slice(1, 3)).unwrap();
        let expanded = expanded.as_list::<i32>();
        assert_eq!(records(expanded, 0), (vec![3, 1], vec![1, 2]));
        assert!(expanded.is_null(1));
        assert_eq!(records(expanded, 2), (vec![2], vec![1]));
    }
}
