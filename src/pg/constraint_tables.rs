//! Catalog relations that clients read and that have no rows in Sluice, with Postgres's
//! columns: the constraint views of `information_schema` (Sluice has no primary, unique or
//! foreign keys; Metabase reads them to sync a table's columns and keys),
//! `pg_catalog.pg_available_extensions` (Sluice has no extensions; DBeaver lists them) and
//! `pg_catalog.pg_locks` (Sluice takes no locks; DataGrip reads the oldest transaction
//! holding one).
//!
//! Used by the `information_schema` and `pg_catalog` overlays, for names their inner
//! providers do not know.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::Result as DfResult;

/// A column's type (a function: a time zone cannot be written in a constant).
type ColumnType = fn() -> DataType;
/// Text columns.
const T: ColumnType = || DataType::Utf8;
/// `cardinal_number`, `int4` and `oid` columns.
const N: ColumnType = || DataType::Int32;
const I2: ColumnType = || DataType::Int16;
/// `xid8` columns.
const I8: ColumnType = || DataType::Int64;
const B: ColumnType = || DataType::Boolean;
const TIMESTAMPTZ: ColumnType = || DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));

/// The empty `information_schema` views, with their columns.
const INFORMATION_SCHEMA: &[(&str, &[(&str, ColumnType)])] = &[
    (
        "table_constraints",
        &[
            ("constraint_catalog", T),
            ("constraint_schema", T),
            ("constraint_name", T),
            ("table_catalog", T),
            ("table_schema", T),
            ("table_name", T),
            ("constraint_type", T),
            ("is_deferrable", T),
            ("initially_deferred", T),
            ("enforced", T),
            ("nulls_distinct", T),
        ],
    ),
    (
        "key_column_usage",
        &[
            ("constraint_catalog", T),
            ("constraint_schema", T),
            ("constraint_name", T),
            ("table_catalog", T),
            ("table_schema", T),
            ("table_name", T),
            ("column_name", T),
            ("ordinal_position", N),
            ("position_in_unique_constraint", N),
        ],
    ),
    (
        "referential_constraints",
        &[
            ("constraint_catalog", T),
            ("constraint_schema", T),
            ("constraint_name", T),
            ("unique_constraint_catalog", T),
            ("unique_constraint_schema", T),
            ("unique_constraint_name", T),
            ("match_option", T),
            ("update_rule", T),
            ("delete_rule", T),
        ],
    ),
    (
        "constraint_column_usage",
        &[
            ("table_catalog", T),
            ("table_schema", T),
            ("table_name", T),
            ("column_name", T),
            ("constraint_catalog", T),
            ("constraint_schema", T),
            ("constraint_name", T),
        ],
    ),
];

/// The empty `pg_catalog` views, with their columns.
const PG_CATALOG: &[(&str, &[(&str, ColumnType)])] = &[
    ("pg_available_extensions", &[("name", T), ("default_version", T), ("installed_version", T), ("comment", T)]),
    (
        "pg_locks",
        &[
            ("locktype", T),
            ("database", N),
            ("relation", N),
            ("page", N),
            ("tuple", I2),
            ("virtualxid", T),
            ("transactionid", I8),
            ("classid", N),
            ("objid", N),
            ("objsubid", I2),
            ("virtualtransaction", T),
            ("pid", N),
            ("mode", T),
            ("granted", B),
            ("fastpath", B),
            ("waitstart", TIMESTAMPTZ),
        ],
    ),
];

/// Names of the empty `information_schema` views.
pub(super) fn information_schema_names() -> impl Iterator<Item = &'static str> {
    INFORMATION_SCHEMA.iter().map(|(name, _)| *name)
}

/// Names of the empty `pg_catalog` views.
pub(super) fn pg_catalog_names() -> impl Iterator<Item = &'static str> {
    PG_CATALOG.iter().map(|(name, _)| *name)
}

/// The empty `information_schema` view `name`, if it is one.
pub(super) fn information_schema_table(name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
    empty(INFORMATION_SCHEMA, name)
}

/// The empty `pg_catalog` view `name`, if it is one.
pub(super) fn pg_catalog_table(name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
    empty(PG_CATALOG, name)
}

fn empty(tables: &[(&str, &[(&str, ColumnType)])], name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let Some((_, columns)) = tables.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else { return Ok(None) };
    let fields: Vec<Field> = columns.iter().map(|(c, t)| Field::new(*c, t(), true)).collect();
    let table = MemTable::try_new(Arc::new(Schema::new(fields)), vec![vec![]])?;
    Ok(Some(Arc::new(table)))
}
