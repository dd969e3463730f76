//! `pg_aggregate.aggfnoid` as the aggregate's object id in `pg_proc`. The crate keeps the
//! function's name (`pg_catalog.avg`, once for each of `avg`'s seven signatures), so the
//! `pg_aggregate.aggfnoid = pg_proc.oid` joins of Grafana's and DBeaver's aggregate
//! lists could not be planned.
//!
//! Used by the `pg_catalog` overlay, which converts the column when the table is read.
//! Both static tables come from Postgres 16 in object id order, so the n-th aggregate
//! named `avg` is the n-th aggregate function named `avg` in `pg_proc`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::common::cast::as_string_array;
use datafusion::error::Result as DfResult;

use super::column;

/// The column that holds a function's object id in Postgres and its name in the crate.
const FUNCTION: &str = "aggfnoid";

/// `base` with [`FUNCTION`] as an object id.
pub(super) fn schema(base: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = base
        .fields()
        .iter()
        .map(|f| match f.name() == FUNCTION {
            true => Field::new(FUNCTION, DataType::Int32, true),
            false => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, base.metadata().clone()))
}

/// `aggregates` (the crate's `pg_aggregate`) with each function name replaced by the
/// object id of the matching aggregate function of `procs` (`pg_proc`).
pub(super) fn convert(aggregates: &RecordBatch, procs: &RecordBatch) -> DfResult<RecordBatch> {
    let mut by_name = aggregate_functions(procs)?;
    let names = as_string_array(column(aggregates, FUNCTION)?)?;
    let oids: Int32Array = names
        .iter()
        .map(|name| {
            let name = name?;
            let oids = by_name.get_mut(name.strip_prefix("pg_catalog.").unwrap_or(name))?;
            (!oids.is_empty()).then(|| oids.remove(0))
        })
        .collect();
    let mut columns = aggregates.columns().to_vec();
    columns[aggregates.schema().index_of(FUNCTION)?] = Arc::new(oids);
    Ok(RecordBatch::try_new(schema(&aggregates.schema()), columns)?)
}

/// The object ids of `procs`' aggregate functions by name, in object id order.
fn aggregate_functions(procs: &RecordBatch) -> DfResult<HashMap<String, Vec<i32>>> {
    let oids = column(procs, "oid")?.as_primitive::<Int32Type>();
    let names = as_string_array(column(procs, "proname")?)?;
    let kinds = as_string_array(column(procs, "prokind")?)?;
    let mut by_name: HashMap<String, Vec<i32>> = HashMap::new();
    for i in 0..procs.num_rows() {
        if kinds.is_valid(i) && kinds.value(i) == "a" && names.is_valid(i) {
            by_name.entry(names.value(i).to_string()).or_default().push(oids.value(i));
        }
    }
    for oids in by_name.values_mut() {
        oids.sort_unstable();
    }
    Ok(by_name)
}
