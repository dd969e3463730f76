//! [`ViewTable`]: a materialized view as a DataFusion table, read from the store.
//!
//! Registered by the engine for every view; DataFusion calls `scan` when a query reads
//! the view. The scan decodes the runs of the last committed checkpoint (under the view's
//! rows lock, `Published::read`, so it never sees half a checkpoint) into Arrow batches. Damaged rows are an
//! XX001 error naming the view, never fewer rows.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::dataflow::published::Published;
use crate::dataflow::stats::PipelineStats;
use crate::error::Result;
use crate::state::{Store, read_view};

/// A view's stored rows.
#[derive(Debug)]
pub struct ViewTable {
    store: Store,
    id: u64,
    /// The view as errors name it, e.g. `materialized view "v"`.
    what: String,
    schema: SchemaRef,
    stats: Arc<PipelineStats>,
    published: Arc<Published>,
}

impl ViewTable {
    /// The table of view `id`, named `what` in errors, its rows committed under `published`.
    pub fn new(
        store: Store,
        id: u64,
        what: String,
        schema: SchemaRef,
        stats: Arc<PipelineStats>,
        published: Arc<Published>,
    ) -> ViewTable {
        ViewTable { store, id, what, schema, stats, published }
    }

    /// Reads every row.
    pub fn read(&self) -> Result<Vec<RecordBatch>> {
        self.stats.check_readable(&self.what)?;
        let _guard = self.published.read()?;
        read_view(&self.store, self.id, &self.schema).map_err(|e| self.stats.read_failed(&self.what, e))
    }
}

#[async_trait]
impl TableProvider for ViewTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let batches = self.read().map_err(|e| DataFusionError::External(Box::new(e)))?;
        let exec = MemorySourceConfig::try_new_exec(&[batches], self.schema.clone(), projection.cloned())?;
        Ok(exec)
    }
}
