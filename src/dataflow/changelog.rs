//! The [`Upsert`] operator: turns a changelog table's source rows into keyed changes.
//!
//! First operator of every table's pipeline (the engine builds it for CREATE TABLE). A
//! source row is the new value of its primary key; a row flagged `_deleted` (a Kafka
//! tombstone, or `"_deleted": true` in a JSON line) removes its key. When the key columns are
//! missing from the value, as in a tombstone, they are read from the message key (`_key`):
//! a JSON object with the key columns, or for a one-column key the key text itself. Rows
//! whose key is still null are counted as bad and skipped. Changes go on to the table's
//! materialization and into its [`TableIndex`], in order.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, RecordBatch, StringArray, UInt32Array};
use arrow::compute::kernels::zip::zip;
use arrow::compute::{cast, is_null, or, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef};

use super::lookup::TableIndex;
use super::stats::PipelineStats;
use super::{ChangeBatch, Message, Operator, StateReader};
use crate::connector::BadRecord;
use crate::error::{Error, Result};
use crate::state::read_view;

/// Where the table's columns are in its source rows.
#[derive(Debug, Clone)]
pub struct ChangelogColumns {
    /// The `_key` column (message key), if the source has one.
    pub message_key: Option<usize>,
    /// The `_deleted` flag column, if the source has one.
    pub deleted: Option<usize>,
}

/// Applies a table's source rows as upserts and deletes by primary key.
pub struct Upsert {
    table: String,
    schema: SchemaRef,
    columns: ChangelogColumns,
    index: Arc<TableIndex>,
    stats: Arc<PipelineStats>,
}

impl Upsert {
    /// The operator of table `table` with rows of `schema` (the table's own columns come
    /// first in each source row, in order).
    pub fn new(
        table: &str,
        schema: SchemaRef,
        columns: ChangelogColumns,
        index: Arc<TableIndex>,
        stats: Arc<PipelineStats>,
    ) -> Upsert {
        Upsert { table: table.to_string(), schema, columns, index, stats }
    }

    /// What it keeps, for its operator id: the table's columns and the source columns it
    /// reads keys and deletes from.
    pub fn describe(&self) -> String {
        let ChangelogColumns { message_key, deleted } = &self.columns;
        let columns = super::identity::columns(&self.schema);
        format!("Upsert: columns={columns} message_key={message_key:?} deleted={deleted:?}")
    }

    fn on_batch(&self, batch: RecordBatch, out: &mut Vec<Message>) -> Result<()> {
        let n = batch.num_rows();
        let deleted = match self.columns.deleted {
            Some(i) => batch.column(i).as_boolean_opt().cloned().unwrap_or_else(|| BooleanArray::from(vec![false; n])),
            None => BooleanArray::from(vec![false; n]),
        };
        // A null flag is no delete.
        let deleted = if deleted.null_count() > 0 { arrow::compute::prep_null_mask_filter(&deleted) } else { deleted };
        let mut columns: Vec<ArrayRef> = batch.columns()[..self.schema.fields().len()].to_vec();
        self.fill_keys(&batch, &deleted, &mut columns)?;
        let rows = RecordBatch::try_new(self.schema.clone(), columns)?;
        let key_columns: Vec<ArrayRef> = self.index.key_columns().iter().map(|&i| rows.column(i).clone()).collect();
        let valid: Vec<bool> = (0..n).map(|i| key_columns.iter().all(|k| k.is_valid(i))).collect();
        self.report_bad(&batch, &valid);
        for (delete, segment) in segments(&deleted, &valid) {
            let rows =
                if segment.len() == n { rows.clone() } else { take_record_batch(&rows, &UInt32Array::from(segment))? };
            let keys: Vec<ArrayRef> = self.index.key_columns().iter().map(|&i| rows.column(i).clone()).collect();
            let keys = self.index.encode_keys(&keys)?;
            let changes = if delete {
                self.index.delete(&keys)?;
                ChangeBatch { keys: BinaryArray::from(Vec::<&[u8]>::new()), rows: rows.slice(0, 0), deletes: keys }
            } else {
                self.index.upsert(&keys, &rows)?;
                ChangeBatch { keys, rows, deletes: BinaryArray::from(Vec::<&[u8]>::new()) }
            };
            out.push(Message::Changes(Box::new(changes)));
        }
        Ok(())
    }

    /// Replaces the key columns of deletes and of rows with a null key part by the key
    /// parsed from the message key, where there is one.
    fn fill_keys(&self, batch: &RecordBatch, deleted: &BooleanArray, columns: &mut [ArrayRef]) -> Result<()> {
        let Some(key_column) = self.columns.message_key else { return Ok(()) };
        let mut need = deleted.clone();
        for &k in self.index.key_columns() {
            need = or(&need, &is_null(&columns[k])?)?;
        }
        if need.true_count() == 0 {
            return Ok(());
        }
        let texts = cast(batch.column(key_column), &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let names = self.key_names();
        let parsed = parse_keys(texts, &need, &names);
        for (part, &k) in parsed.into_iter().zip(self.index.key_columns()) {
            let part = cast(&part, self.schema.field(k).data_type())?;
            columns[k] = zip(&need, &part, &columns[k])?;
        }
        Ok(())
    }

    /// The names of the primary key columns.
    fn key_names(&self) -> Vec<&str> {
        self.index.key_columns().iter().map(|&k| self.schema.field(k).name().as_str()).collect()
    }

    fn report_bad(&self, batch: &RecordBatch, valid: &[bool]) {
        if valid.iter().all(|v| *v) {
            return;
        }
        let keys = self.columns.message_key.and_then(|k| cast(batch.column(k), &DataType::Utf8).ok());
        let names = self.key_names();
        let bad = (valid.iter().enumerate().filter(|(_, v)| !**v))
            .map(|(i, _)| {
                let key = keys.as_ref().and_then(|k| k.as_string_opt::<i32>()).filter(|k| k.is_valid(i));
                let from = key.map_or(String::new(), |k| format!(" (message key \"{}\")", k.value(i)));
                BadRecord {
                    source: self.table.clone(),
                    position: 0,
                    reason: format!("primary key \"{}\" is null{from}", names.join("\", \"")),
                }
            })
            .collect();
        // A table's pipeline reads its input whole.
        self.stats.record_bad(0, bad);
    }
}

/// Runs of consecutive rows with the same operation (true: delete), valid rows only, so
/// that applying them in order keeps the source's order.
fn segments(deleted: &BooleanArray, valid: &[bool]) -> Vec<(bool, Vec<u32>)> {
    let mut runs: Vec<(bool, Vec<u32>)> = Vec::new();
    for (i, ok) in valid.iter().enumerate() {
        if !ok {
            continue;
        }
        let delete = deleted.value(i);
        match runs.last_mut() {
            Some((d, rows)) if *d == delete => rows.push(i as u32),
            _ => runs.push((delete, vec![i as u32])),
        }
    }
    runs
}

/// The key columns' values as text, parsed from message keys where `need` is set: a JSON
/// object holding the columns by name, or (one key column) the key itself, JSON-quoted or
/// not.
fn parse_keys(texts: &StringArray, need: &BooleanArray, names: &[&str]) -> Vec<ArrayRef> {
    let mut parts: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(texts.len()); names.len()];
    for i in 0..texts.len() {
        let text = (need.value(i) && texts.is_valid(i)).then(|| texts.value(i).trim());
        let object = text.filter(|t| t.starts_with('{')).and_then(|t| serde_json::from_str(t).ok());
        for (c, name) in names.iter().enumerate() {
            let value = match (&object, text) {
                (Some(serde_json::Value::Object(map)), _) => map.get(*name).and_then(json_text),
                (_, Some(t)) if names.len() == 1 && !t.starts_with('{') => match serde_json::from_str(t) {
                    Ok(serde_json::Value::String(s)) => Some(s),
                    _ => Some(t.to_string()),
                },
                _ => None,
            };
            parts[c].push(value);
        }
    }
    parts.into_iter().map(|p| Arc::new(StringArray::from(p)) as ArrayRef).collect()
}

fn json_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Operator for Upsert {
    /// The table's rows in its index (shared with the views that join with it).
    fn state_bytes(&self) -> usize {
        self.index.bytes()
    }

    /// Loads the table's committed rows into its index.
    fn open(&mut self, state: &StateReader<'_>) -> Result<()> {
        let rows = read_view(state.store, state.view, &self.schema)?;
        self.index.load(&rows)
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => self.on_batch(batch, out),
            Message::Changes(_) => Err(Error::Internal("keyed changes reached a table's source".into())),
            other => {
                out.push(other);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};

    fn source(ids: Vec<Option<i64>>, names: Vec<Option<&str>>, keys: Vec<Option<&str>>, del: Vec<bool>) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("_key", DataType::Utf8, true),
            Field::new("_deleted", DataType::Boolean, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(keys)),
            Arc::new(BooleanArray::from(del)),
        ];
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    fn table() -> (Upsert, Arc<TableIndex>, Arc<PipelineStats>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let index = Arc::new(TableIndex::new(schema.clone(), vec![0]).unwrap());
        let stats = Arc::new(PipelineStats::default());
        let columns = ChangelogColumns { message_key: Some(2), deleted: Some(3) };
        (Upsert::new("users", schema, columns, index.clone(), stats.clone()), index, stats)
    }

    #[test]
    fn latest_value_wins_and_tombstones_delete_in_order() {
        let (mut op, index, stats) = table();
        let batch = source(
            vec![Some(1), Some(2), None, Some(1), None, None],
            vec![Some("a"), Some("b"), None, Some("a2"), None, Some("x")],
            vec![Some("1"), Some("2"), Some("2"), Some("1"), Some("{\"id\": 3}"), None],
            vec![false, false, true, false, true, false],
        );
        let mut out = Vec::new();
        op.process(Message::Batch(batch), &mut out).unwrap();
        let ops: Vec<(usize, usize)> = out
            .iter()
            .map(|m| match m {
                Message::Changes(c) => (c.keys.len(), c.deletes.len()),
                _ => panic!(),
            })
            .collect();
        assert_eq!(ops, vec![(2, 0), (0, 1), (1, 0), (0, 1)]);
        assert_eq!(index.len(), 1, "only key 1 is left");
        let (positions, columns) = index.lookup(&[Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
        assert_eq!(positions, vec![Some(0), None]);
        assert_eq!(columns[1].as_string::<i32>().value(0), "a2");
        assert_eq!(stats.bad_rows(), 1, "the row without any key");
    }

    #[test]
    fn keys_come_from_json_or_plain_message_keys() {
        let need = BooleanArray::from(vec![true, true, true, false]);
        let texts = StringArray::from(vec![Some("\"7\""), Some("{\"id\":8,\"x\":1}"), Some("9"), Some("10")]);
        let parsed = parse_keys(&texts, &need, &["id"]);
        let got: Vec<Option<&str>> = parsed[0].as_string::<i32>().iter().collect();
        assert_eq!(got, vec![Some("7"), Some("8"), Some("9"), None]);
    }
}
