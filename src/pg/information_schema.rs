//! The `information_schema` schema: DataFusion's (tables, columns, views, schemata,
//! routines, ...), with materialized views reported as `MATERIALIZED VIEW` in
//! `information_schema.tables` rather than DataFusion's `VIEW`, as Materialize and
//! RisingWave report them, and Postgres type names (`bigint`, `udt_name` `int8`) rather
//! than Arrow's in `information_schema.columns`, whose `ordinal_position` counts from 1
//! as Postgres's does. The constraint views, which DataFusion lacks, are empty
//! (`constraint_tables`).
//!
//! Materialized views are listed in `columns` too, so that tools reading only
//! `information_schema` (Grafana) see their columns. Postgres leaves them out, and
//! clients that know it add them from `pg_attribute` (Metabase): for such statements
//! `compat` reads [`POSTGRES_COLUMNS`] instead, `columns` without materialized views.
//!
//! `Engine::open` calls [`register`]. The schema is registered as an ordinary schema of
//! Sluice's catalog (DataFusion's built-in one is turned off), so `pg_namespace` lists it
//! as Postgres does and DataFusion does not list it twice.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use std::str::FromStr;

use arrow::array::{BooleanArray, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use arrow::record_batch::RecordBatch;
use arrow_pg::datatypes::into_pg_type;
use async_trait::async_trait;
use datafusion::catalog::information_schema::{INFORMATION_SCHEMA, InformationSchemaProvider};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::cast::{as_string_array, as_uint64_array};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result as DfResult;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use pgwire::api::Type;

use super::constraint_tables;
use super::pg_catalog::{column, poisoned, read_all, replace_column};
use crate::catalog::Catalog;
use crate::catalog::{CATALOG_NAME, SCHEMA_NAME};
use crate::error::{Error, Result};
use crate::sql::compat::POSTGRES_COLUMNS;
use crate::sql::types::marked_type;

/// Registers `information_schema` in Sluice's catalog.
pub fn register(ctx: &SessionContext, catalog: &Arc<RwLock<Catalog>>) -> Result<()> {
    let inner = InformationSchemaProvider::new(ctx.state().catalog_list().clone());
    let overlay = Overlay { inner, catalog: catalog.clone() };
    let provider = ctx.catalog(CATALOG_NAME).ok_or_else(|| Error::Internal("default catalog missing".into()))?;
    provider.register_schema(INFORMATION_SCHEMA, Arc::new(overlay))?;
    Ok(())
}

/// DataFusion's information schema with `tables` corrected.
struct Overlay {
    inner: InformationSchemaProvider,
    catalog: Arc<RwLock<Catalog>>,
}

#[async_trait]
impl SchemaProvider for Overlay {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(constraint_tables::information_schema_names().map(String::from));
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(empty) = constraint_tables::information_schema_table(name)? {
            return Ok(Some(empty));
        }
        let lowered = name.to_ascii_lowercase();
        let (kind, base) = match lowered.as_str() {
            "tables" => (Kind::Tables, self.inner.table(name).await?),
            "columns" => (Kind::Columns { views: true }, self.inner.table(name).await?),
            POSTGRES_COLUMNS => (Kind::Columns { views: false }, self.inner.table("columns").await?),
            _ => return self.inner.table(name).await,
        };
        Ok(base.map(|base| Arc::new(Corrected { kind, base, catalog: self.catalog.clone() }) as Arc<dyn TableProvider>))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name) || constraint_tables::information_schema_names().any(|n| n == name)
    }
}

/// Columns of Postgres's `information_schema.columns` that DataFusion's lacks: the type's
/// schema and name, and whether the column is an identity or generated one (never).
const ADDED_COLUMNS: [&str; 4] = ["udt_schema", "udt_name", "is_identity", "is_generated"];

/// Which table a [`Corrected`] corrects.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Materialized views typed as such.
    Tables,
    /// Postgres type names in `data_type`, and the [`ADDED_COLUMNS`]; materialized
    /// views' columns unless `views` is false.
    Columns { views: bool },
}

/// An `information_schema` table of DataFusion's, corrected when scanned.
struct Corrected {
    kind: Kind,
    base: Arc<dyn TableProvider>,
    catalog: Arc<RwLock<Catalog>>,
}

#[async_trait]
impl TableProvider for Corrected {
    fn schema(&self) -> SchemaRef {
        match self.kind {
            Kind::Tables => self.base.schema(),
            Kind::Columns { .. } => {
                let mut fields: Vec<Field> = self.base.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
                fields.extend(ADDED_COLUMNS.map(|n| Field::new(n, DataType::Utf8, true)));
                Arc::new(Schema::new(fields))
            }
        }
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let rows = read_all(self.base.as_ref(), state).await?;
        let batch = match self.kind {
            Kind::Tables => self.tables(rows)?,
            Kind::Columns { views } => self.columns(rows, views)?,
        };
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema(), projection.cloned())?)
    }
}

impl Corrected {
    /// Postgres's `data_type` and `udt_name` for each column's Arrow type, and
    /// `ordinal_position` from 1; without materialized views unless `views`.
    fn columns(&self, columns: RecordBatch, views: bool) -> DfResult<RecordBatch> {
        let columns = if views { columns } else { self.without_views(&columns)? };
        let positions = as_uint64_array(column(&columns, "ordinal_position")?)?.unary::<_, UInt64Type>(|p| p + 1);
        let columns = replace_column(&columns, "ordinal_position", Arc::new(positions))?;
        let types = as_string_array(column(&columns, "data_type")?)?;
        let marked = self.marked_types(&columns)?;
        let pg: Vec<Option<Type>> = types
            .iter()
            .zip(marked)
            .map(|(t, marked)| {
                marked.or_else(|| t.and_then(|t| DataType::from_str(t).ok()).and_then(|t| into_pg_type(&t).ok()))
            })
            .collect();
        let data_types: StringArray =
            pg.iter().zip(types.iter()).map(|(p, t)| p.as_ref().map(sql_name).or(t)).collect();
        let udt_names: StringArray = pg.iter().map(|p| p.as_ref().map(|p| p.name().to_string())).collect();
        let mut batch = replace_column(&columns, "data_type", Arc::new(data_types))?;
        let n = batch.num_rows();
        let mut arrays = batch.columns().to_vec();
        arrays.push(Arc::new(StringArray::from(vec!["pg_catalog"; n])));
        arrays.push(Arc::new(udt_names));
        arrays.push(Arc::new(StringArray::from(vec!["NO"; n])));
        arrays.push(Arc::new(StringArray::from(vec!["NEVER"; n])));
        batch = RecordBatch::try_new(self.schema(), arrays)?;
        Ok(batch)
    }

    /// For each row of `columns`, the Postgres type its view column is marked with, if
    /// any (`json`, `varchar`, ...: Arrow's type names cannot tell).
    fn marked_types(&self, columns: &RecordBatch) -> DfResult<Vec<Option<Type>>> {
        let catalog = self.catalog.read().map_err(|_| poisoned())?;
        let schemas = as_string_array(column(columns, "table_schema")?)?;
        let tables = as_string_array(column(columns, "table_name")?)?;
        let names = as_string_array(column(columns, "column_name")?)?;
        Ok((0..columns.num_rows())
            .map(|i| {
                let view = (schemas.value(i) == SCHEMA_NAME).then(|| catalog.views.get(tables.value(i))).flatten()?;
                marked_type(view.schema.field_with_name(names.value(i)).ok()?)
            })
            .collect())
    }

    /// The rows of `columns` that are not materialized views' columns.
    fn without_views(&self, columns: &RecordBatch) -> DfResult<RecordBatch> {
        let views = self.view_names()?;
        let schemas = as_string_array(column(columns, "table_schema")?)?;
        let names = as_string_array(column(columns, "table_name")?)?;
        let keep: BooleanArray = (0..columns.num_rows())
            .map(|i| Some(!(schemas.value(i) == SCHEMA_NAME && views.contains(names.value(i)))))
            .collect();
        Ok(arrow::compute::filter_record_batch(columns, &keep)?)
    }

    fn view_names(&self) -> DfResult<HashSet<String>> {
        Ok(self.catalog.read().map_err(|_| poisoned())?.views.keys().cloned().collect())
    }

    fn tables(&self, tables: RecordBatch) -> DfResult<RecordBatch> {
        let views = self.view_names()?;
        let schemas = as_string_array(column(&tables, "table_schema")?)?;
        let names = as_string_array(column(&tables, "table_name")?)?;
        let types = as_string_array(column(&tables, "table_type")?)?;
        let corrected: StringArray = (0..tables.num_rows())
            .map(|i| {
                let view = schemas.value(i) == SCHEMA_NAME && views.contains(names.value(i));
                Some(if view { "MATERIALIZED VIEW" } else { types.value(i) })
            })
            .collect();
        replace_column(&tables, "table_type", Arc::new(corrected))
    }
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Corrected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Corrected").finish_non_exhaustive()
    }
}

/// The SQL-standard name `information_schema.columns.data_type` gives a Postgres type.
pub(super) fn sql_name(t: &Type) -> &'static str {
    match *t {
        Type::BOOL => "boolean",
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::NUMERIC => "numeric",
        Type::TEXT => "text",
        Type::VARCHAR => "character varying",
        Type::BPCHAR => "character",
        Type::BYTEA => "bytea",
        Type::DATE => "date",
        Type::TIME => "time without time zone",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::INTERVAL => "interval",
        Type::JSON => "json",
        Type::JSONB => "jsonb",
        Type::UUID => "uuid",
        _ if t.name().starts_with('_') => "ARRAY",
        _ => "USER-DEFINED",
    }
}
