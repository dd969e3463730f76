//! Stream-table joins: the [`TableIndex`] of a changelog table and the [`LookupJoin`]
//! operator that enriches stream rows with it.
//!
//! A table's pipeline (`super::changelog::Upsert`) keeps its index current as it applies
//! the table's changes; every view joining a stream with the table holds the same index and
//! looks each stream row up in it as the row is processed, like ksqlDB's stream-table join
//! and Flink's lookup join. Table changes never produce output by themselves, and a row
//! already joined is not revised when the table changes later.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use arrow::array::{Array, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, filter_record_batch, take};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::physical_expr::PhysicalExpr;

use super::{ENTRY_OVERHEAD, Message, Operator};
use crate::error::{Error, Result};

/// The current rows of a changelog table by primary key, in memory, shared between the
/// table's pipeline (the only writer) and the pipelines that join with it.
pub struct TableIndex {
    schema: SchemaRef,
    key_columns: Vec<usize>,
    keys: RowConverter,
    rows: RowConverter,
    map: RwLock<HashMap<Box<[u8]>, OwnedRow>>,
    /// Memory of the map's rows.
    bytes: AtomicUsize,
}

/// Memory of one indexed row.
fn entry_bytes(key: &[u8], row: &OwnedRow) -> usize {
    ENTRY_OVERHEAD + key.len() + row.row().as_ref().len()
}

impl std::fmt::Debug for TableIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableIndex").field("key_columns", &self.key_columns).finish()
    }
}

impl TableIndex {
    /// An empty index of rows with `schema`, keyed by the columns at `key_columns`.
    pub fn new(schema: SchemaRef, key_columns: Vec<usize>) -> Result<TableIndex> {
        let key_fields = key_columns.iter().map(|&i| SortField::new(schema.field(i).data_type().clone())).collect();
        let row_fields = schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
        Ok(TableIndex {
            keys: RowConverter::new(key_fields)?,
            rows: RowConverter::new(row_fields)?,
            schema,
            key_columns,
            map: RwLock::new(HashMap::new()),
            bytes: AtomicUsize::new(0),
        })
    }

    /// The types of the key columns, in key order.
    pub fn key_types(&self) -> Vec<DataType> {
        self.key_columns.iter().map(|&i| self.schema.field(i).data_type().clone()).collect()
    }

    /// Positions of the key columns in the table's rows.
    pub fn key_columns(&self) -> &[usize] {
        &self.key_columns
    }

    /// Encodes key columns (of exactly the key types) as change keys.
    pub fn encode_keys(&self, keys: &[ArrayRef]) -> Result<BinaryArray> {
        let rows = self.keys.convert_columns(keys)?;
        let mut builder = BinaryBuilder::with_capacity(rows.num_rows(), rows.size());
        for row in rows.iter() {
            builder.append_value(row.as_ref());
        }
        Ok(builder.finish())
    }

    /// `rows[i]` becomes the row of `keys[i]`.
    pub fn upsert(&self, keys: &BinaryArray, rows: &RecordBatch) -> Result<()> {
        let encoded = self.rows.convert_columns(rows.columns())?;
        let mut map = self.write()?;
        for (key, row) in keys.iter().zip(encoded.iter()) {
            if let Some(key) = key {
                let row = row.owned();
                self.bytes.fetch_add(entry_bytes(key, &row), Ordering::Relaxed);
                if let Some(old) = map.insert(key.into(), row) {
                    self.bytes.fetch_sub(entry_bytes(key, &old), Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Removes `keys`.
    pub fn delete(&self, keys: &BinaryArray) -> Result<()> {
        let mut map = self.write()?;
        for key in keys.iter().flatten() {
            if let Some(old) = map.remove(key) {
                self.bytes.fetch_sub(entry_bytes(key, &old), Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Replaces the contents with `batches` (the table's committed rows, at startup).
    pub fn load(&self, batches: &[RecordBatch]) -> Result<()> {
        self.write()?.clear();
        self.bytes.store(0, Ordering::Relaxed);
        for batch in batches {
            let keys: Vec<ArrayRef> = self.key_columns.iter().map(|&i| batch.column(i).clone()).collect();
            self.upsert(&self.encode_keys(&keys)?, batch)?;
        }
        Ok(())
    }

    /// Memory the rows take.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Looks up `keys` (key columns of the key types): for each input row the position of
    /// its match in the returned columns, which hold the matched table rows in input order.
    /// A key with a null part matches nothing, as in SQL.
    pub fn lookup(&self, keys: &[ArrayRef]) -> Result<(Vec<Option<u32>>, Vec<ArrayRef>)> {
        let len = keys.first().map_or(0, |k| k.len());
        let encoded = self.keys.convert_columns(keys)?;
        let map = self.map.read().map_err(|_| Error::Internal("table index lock poisoned".into()))?;
        let mut positions = Vec::with_capacity(len);
        let mut matched = Vec::new();
        for i in 0..len {
            let found = if keys.iter().any(|k| k.is_null(i)) { None } else { map.get(encoded.row(i).as_ref()) };
            positions.push(found.map(|row| {
                matched.push(row.row());
                (matched.len() - 1) as u32
            }));
        }
        let columns = self.rows.convert_rows(matched)?;
        Ok((positions, columns))
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, HashMap<Box<[u8]>, OwnedRow>>> {
        self.map.write().map_err(|_| Error::Internal("table index lock poisoned".into()))
    }
}

/// What the planner decided about one stream-table join.
#[derive(Clone)]
pub struct LookupSpec {
    /// The table's name, for EXPLAIN.
    pub table: String,
    /// The table's rows.
    pub index: Arc<TableIndex>,
    /// Per key column of the table, the stream expression it is compared with.
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The table columns the join outputs, by position in the table.
    pub table_columns: Vec<usize>,
    /// LEFT JOIN: stream rows without a match are kept, with nulls for the table columns.
    pub keep_unmatched: bool,
    /// The table's columns come before the stream's in the output (`FROM table JOIN stream`).
    pub table_first: bool,
    /// The output schema.
    pub schema: SchemaRef,
}

/// Enriches each stream batch with the matching table rows.
pub struct LookupJoin {
    spec: LookupSpec,
    key_types: Vec<DataType>,
}

impl LookupJoin {
    /// The operator for `spec`.
    pub fn new(spec: LookupSpec) -> LookupJoin {
        let key_types = spec.index.key_types();
        LookupJoin { spec, key_types }
    }

    fn join(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let keys = (self.spec.keys.iter().zip(&self.key_types))
            .map(|(expr, t)| Ok(cast(&expr.evaluate(&batch)?.into_array(batch.num_rows())?, t)?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        let (positions, table) = self.spec.index.lookup(&keys)?;
        let table: Vec<ArrayRef> = self.spec.table_columns.iter().map(|&i| table[i].clone()).collect();
        let (stream, table) = if self.spec.keep_unmatched {
            let indices = UInt32Array::from(positions);
            let table = table.iter().map(|c| Ok(take(c, &indices, None)?)).collect::<Result<Vec<_>>>()?;
            (batch, table)
        } else {
            let mask = BooleanArray::from_iter(positions.iter().map(|p| Some(p.is_some())));
            (filter_record_batch(&batch, &mask)?, table)
        };
        let columns = if self.spec.table_first {
            table.into_iter().chain(stream.columns().iter().cloned()).collect()
        } else {
            stream.columns().iter().cloned().chain(table).collect()
        };
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(stream.num_rows()));
        Ok(RecordBatch::try_new_with_options(self.spec.schema.clone(), columns, &options)?)
    }
}

impl Operator for LookupJoin {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => {
                let joined = self.join(batch)?;
                if joined.num_rows() > 0 {
                    out.push(Message::Batch(joined));
                }
            }
            Message::Changes(_) => return Err(Error::Internal("keyed changes reached a stream-table join".into())),
            other => out.push(other),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion::physical_expr::expressions::Column;

    fn users() -> Arc<TableIndex> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let index = Arc::new(TableIndex::new(schema.clone(), vec![0]).unwrap());
        let rows = RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(StringArray::from(vec!["ann", "bob"]))],
        )
        .unwrap();
        index.load(&[rows]).unwrap();
        index
    }

    fn join(index: Arc<TableIndex>, keep_unmatched: bool, bidders: Vec<Option<i32>>) -> RecordBatch {
        let out = Arc::new(Schema::new(vec![
            Field::new("bidder", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let spec = LookupSpec {
            table: "users".into(),
            index,
            keys: vec![Arc::new(Column::new("bidder", 0))],
            table_columns: vec![1],
            keep_unmatched,
            table_first: false,
            schema: out.clone(),
        };
        let input = Schema::new(vec![out.field(0).clone()]);
        let batch = RecordBatch::try_new(Arc::new(input), vec![Arc::new(arrow::array::Int32Array::from(bidders))]);
        LookupJoin::new(spec).join(batch.unwrap()).unwrap()
    }

    fn names(batch: &RecordBatch) -> Vec<Option<String>> {
        let names = batch.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        names.iter().map(|n| n.map(String::from)).collect()
    }

    #[test]
    fn inner_join_keeps_matches_in_order_and_casts_keys() {
        let joined = join(users(), false, vec![Some(2), Some(3), None, Some(1), Some(2)]);
        let want = ["bob", "ann", "bob"].map(|s| Some(s.to_string()));
        assert_eq!(names(&joined), want);
    }

    #[test]
    fn left_join_keeps_unmatched_rows_with_nulls() {
        let joined = join(users(), true, vec![Some(3), Some(1), None]);
        assert_eq!(names(&joined), vec![None, Some("ann".to_string()), None]);
    }

    #[test]
    fn later_changes_are_seen_by_later_rows() {
        let index = users();
        let key = index.encode_keys(&[Arc::new(Int64Array::from(vec![1]))]).unwrap();
        let two = index.bytes();
        index.delete(&key).unwrap();
        assert!(index.bytes() > ENTRY_OVERHEAD && index.bytes() < two, "{} of {two} bytes left", index.bytes());
        assert_eq!(names(&join(index.clone(), false, vec![Some(1), Some(2)])), vec![Some("bob".to_string())]);
        assert_eq!(index.len(), 1);
    }
}
