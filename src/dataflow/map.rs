//! The map operator: filter and projection with DataFusion physical expressions.
//!
//! Created by the planner for WHERE, SELECT lists, and HAVING (a filter after an aggregate).
//! On append-only batches it filters and projects rows; on change batches an upsert whose new
//! value fails the filter becomes a delete of its key, so views stay exact when an aggregate
//! moves in and out of a HAVING condition.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, BooleanArray};
use arrow::compute::{concat, filter, filter_record_batch, not, prep_null_mask_filter};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::physical_expr::PhysicalExpr;

use super::{ChangeBatch, Message, Operator};
use crate::error::{Error, Result};

/// Filters, then projects.
pub struct Map {
    filter: Option<Arc<dyn PhysicalExpr>>,
    projection: Option<(Vec<Arc<dyn PhysicalExpr>>, SchemaRef)>,
}

impl Map {
    /// A filter on rows.
    pub fn filter(predicate: Arc<dyn PhysicalExpr>) -> Map {
        Map { filter: Some(predicate), projection: None }
    }

    /// A projection producing `schema`.
    pub fn project(exprs: Vec<Arc<dyn PhysicalExpr>>, schema: SchemaRef) -> Map {
        Map { filter: None, projection: Some((exprs, schema)) }
    }

    /// A filter (if any), then a projection (if any) producing its schema.
    pub fn new(
        filter: Option<Arc<dyn PhysicalExpr>>,
        projection: Option<(Vec<Arc<dyn PhysicalExpr>>, SchemaRef)>,
    ) -> Map {
        Map { filter, projection }
    }

    /// The rows of `batch` that pass the filter (NULL counts as false); None without one.
    pub fn mask(&self, batch: &RecordBatch) -> Result<Option<BooleanArray>> {
        let Some(predicate) = &self.filter else { return Ok(None) };
        let value = predicate.evaluate(batch)?.into_array(batch.num_rows())?;
        let mask = value
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| Error::Internal("filter predicate is not boolean".into()))?;
        // NULL counts as false, as in SQL.
        Ok(Some(if mask.null_count() > 0 { prep_null_mask_filter(mask) } else { mask.clone() }))
    }

    /// `batch` projected (unchanged without a projection).
    pub fn apply_projection(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let Some((exprs, schema)) = &self.projection else { return Ok(batch) };
        let columns = exprs
            .iter()
            .map(|e| e.evaluate(&batch)?.into_array(batch.num_rows()))
            .collect::<datafusion::error::Result<Vec<ArrayRef>>>()?;
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(schema.clone(), columns, &options)?)
    }

    fn on_batch(&self, batch: RecordBatch) -> Result<Option<RecordBatch>> {
        let batch = match self.mask(&batch)? {
            Some(mask) => filter_record_batch(&batch, &mask)?,
            None => batch,
        };
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        self.apply_projection(batch).map(Some)
    }

    fn on_changes(&self, changes: ChangeBatch) -> Result<ChangeBatch> {
        let ChangeBatch { keys, rows, deletes } = changes;
        let (keys, rows, deletes) = match self.mask(&rows)? {
            Some(mask) => {
                let dropped = filter(&keys, &not(&mask)?)?;
                let deletes = concat(&[&deletes as &dyn Array, dropped.as_ref()])?;
                let keys = filter(&keys, &mask)?;
                (downcast_binary(keys)?, filter_record_batch(&rows, &mask)?, downcast_binary(deletes)?)
            }
            None => (keys, rows, deletes),
        };
        Ok(ChangeBatch { keys, rows: self.apply_projection(rows)?, deletes })
    }
}

fn downcast_binary(array: ArrayRef) -> Result<BinaryArray> {
    array
        .as_any()
        .downcast_ref::<BinaryArray>()
        .cloned()
        .ok_or_else(|| Error::Internal("change keys are not binary".into()))
}

impl Operator for Map {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => {
                if let Some(batch) = self.on_batch(batch)? {
                    out.push(Message::Batch(batch));
                }
            }
            Message::Changes(changes) => out.push(Message::Changes(Box::new(self.on_changes(*changes)?))),
            other => out.push(other),
        }
        Ok(())
    }
}
