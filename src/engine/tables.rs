//! [`ViewTable`]: a materialized view as a DataFusion table, read from the store.
//!
//! Registered by the engine for every view; DataFusion calls `scan` when a query reads
//! the view. The scan decodes the rows of the last committed checkpoint (under the view's
//! rows lock, so it never sees half a checkpoint) into Arrow batches.

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

use crate::dataflow::materialize::row_converter;
use crate::dataflow::pipeline::ViewStats;
use crate::error::{Error, Result};
use crate::state::{Store, view_prefix};

/// Rows per batch when reading a view.
const READ_BATCH: usize = 8192;

/// A view's stored rows.
#[derive(Debug)]
pub struct ViewTable {
    store: Store,
    id: u64,
    schema: SchemaRef,
    stats: Arc<ViewStats>,
}

impl ViewTable {
    /// The table of view `id`.
    pub fn new(store: Store, id: u64, schema: SchemaRef, stats: Arc<ViewStats>) -> ViewTable {
        ViewTable { store, id, schema, stats }
    }

    /// Reads every row.
    pub fn read(&self) -> Result<Vec<RecordBatch>> {
        let converter = row_converter(&self.schema)?;
        let parser = converter.parser();
        let _guard = self.stats.rows_lock.read().map_err(|_| Error::Internal("view lock poisoned".into()))?;
        let mut batches = Vec::new();
        let mut chunk = Vec::with_capacity(READ_BATCH);
        for pair in self.store.scan_prefix(&view_prefix(self.id)) {
            chunk.push(pair?.1);
            if chunk.len() == READ_BATCH {
                batches.push(self.decode(&converter, &parser, &chunk)?);
                chunk.clear();
            }
        }
        if !chunk.is_empty() {
            batches.push(self.decode(&converter, &parser, &chunk)?);
        }
        Ok(batches)
    }

    fn decode(
        &self,
        converter: &arrow::row::RowConverter,
        parser: &arrow::row::RowParser,
        rows: &[sled::IVec],
    ) -> Result<RecordBatch> {
        let columns = converter.convert_rows(rows.iter().map(|r| parser.parse(r)))?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
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
