//! The `information_schema` schema: DataFusion's (tables, columns, views, schemata,
//! routines, ...), with materialized views reported as `MATERIALIZED VIEW` in
//! `information_schema.tables` rather than DataFusion's `VIEW`, as Materialize and
//! RisingWave report them.
//!
//! `Engine::open` calls [`register`]. The schema is registered as an ordinary schema of
//! Sluice's catalog (DataFusion's built-in one is turned off), so `pg_namespace` lists it
//! as Postgres does and DataFusion does not list it twice.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use arrow::array::StringArray;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::information_schema::{INFORMATION_SCHEMA, InformationSchemaProvider};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::cast::as_string_array;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result as DfResult;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use super::pg_catalog::{column, poisoned, read_all, replace_column};
use super::{CATALOG_NAME, SCHEMA_NAME};
use crate::catalog::Catalog;
use crate::error::{Error, Result};

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
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let base = self.inner.table(name).await?;
        match base {
            Some(base) if name.eq_ignore_ascii_case("tables") => {
                Ok(Some(Arc::new(Tables { base, catalog: self.catalog.clone() })))
            }
            other => Ok(other),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

/// `information_schema.tables` with materialized views typed as such.
struct Tables {
    base: Arc<dyn TableProvider>,
    catalog: Arc<RwLock<Catalog>>,
}

#[async_trait]
impl TableProvider for Tables {
    fn schema(&self) -> SchemaRef {
        self.base.schema()
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
        let batch = self.corrected(read_all(self.base.as_ref(), state).await?)?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema(), projection.cloned())?)
    }
}

impl Tables {
    fn corrected(&self, tables: RecordBatch) -> DfResult<RecordBatch> {
        let views: HashSet<String> = self.catalog.read().map_err(|_| poisoned())?.views.keys().cloned().collect();
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

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables").finish_non_exhaustive()
    }
}
