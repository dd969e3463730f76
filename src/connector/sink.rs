//! Sinks: where the rows of a view (or stream) are written out. Transport (file, Kafka) is
//! kept apart from encoding ([`Encoder`]: json or csv values, keys).
//!
//! A sink runs as the last operator of its own pipeline (`dataflow::sink`), which hands it
//! encoded [`Record`]s and drives the checkpoint protocol of [`SinkWriter`]: `write` as rows
//! arrive, `prepare` before the checkpoint commits (make the epoch's output durable or
//! recoverable, adding the writer's own state to the checkpoint), `committed` after it
//! (publish the epoch). A writer keeps that state through [`SinkState`], which the store
//! provides, so this module does not depend on the store. Each transport documents its
//! delivery guarantee.
//!
//! The engine checks a sink's options with [`validate`] at CREATE SINK and opens the writer
//! with [`open`].

pub mod file;
pub mod kafka;

use arrow::array::{Array, BinaryArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use arrow::util::display::array_value_to_string;

use super::{Options, connector_name, required};
use crate::error::{Error, Result};

/// One output record: for Kafka a message (`value: None` is a tombstone), for files a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Message key, if the sink has one.
    pub key: Option<Vec<u8>>,
    /// Encoded row; `None` deletes the key.
    pub value: Option<Vec<u8>>,
}

/// One change to a store: a key and its new value (`None` removes the key), as a
/// checkpoint commits it.
pub type Entry = (Vec<u8>, Option<Vec<u8>>);

/// Where a sink writer keeps what it needs to resume exactly once: entries under its own
/// keys in its pipeline's store, committed with the pipeline's checkpoints. The store
/// (`crate::state::StateReader`) provides it; a writer sees only keys and bytes.
pub trait SinkState {
    /// The full key of the writer's entry `sub`, for the entries it adds to a checkpoint.
    fn key(&self, sub: &[u8]) -> Vec<u8>;
    /// The value of the writer's entry `sub`, as last committed.
    fn get(&self, sub: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Commits `entries` (full keys) durably now, outside any checkpoint.
    fn commit_now(&self, entries: Vec<Entry>) -> Result<()>;
}

/// A sink transport; see the module docs for the protocol.
///
/// A call may fail with a transient error ([`Error::is_transient`]: the target is
/// unreachable). The sink operator then calls [`SinkWriter::reset`] and, after a backoff,
/// the same call again (`write` with no records: the writer kept them before failing), so
/// a writer must be able to reconnect and redo whatever was not yet delivered.
pub trait SinkWriter: Send {
    /// Restores from the last checkpoint; whatever it left half done is finished by the
    /// next call that reaches the target. Must not block on the target.
    fn open(&mut self, state: &dyn SinkState) -> Result<()>;
    /// Writes records of the current epoch.
    fn write(&mut self, records: Vec<Record>) -> Result<()>;
    /// Drops the connection after a transient error; the next call reconnects.
    fn reset(&mut self) {}
    /// Called with checkpoint `epoch`'s writes before they commit.
    fn prepare(&mut self, epoch: u64, writes: &mut Vec<Entry>) -> Result<()>;
    /// Called once checkpoint `epoch` is durable.
    fn committed(&mut self, epoch: u64) -> Result<()>;
    /// Short description of the target, for SHOW SINKS.
    fn target(&self) -> String;
}

/// How rows are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkFormat {
    /// One JSON object per row.
    Json,
    /// One CSV line per row, no header.
    Csv,
}

/// Checks a sink's options when it is created. `keyed`: the rows are upserts by key.
pub fn validate(options: &Options, schema: &SchemaRef, keyed: bool) -> Result<()> {
    let format = format(options)?;
    if keyed && format == SinkFormat::Csv {
        let error = Error::Unsupported("csv cannot carry the updates and deletes of an updating view".into());
        return Err(error.with_hint("Use format = 'json'."));
    }
    if keyed && options.contains_key("key") {
        return Err(Error::InvalidParameter(
            "the key of an updating view is its group key; option \"key\" applies to append-only results".into(),
        ));
    }
    key_columns(options, schema)?;
    match connector_name(options)? {
        "file" => required(options, "path").map(|_| ()),
        "kafka" => kafka::KafkaSinkOptions::from_options(options).map(|_| ()),
        other => Err(Error::InvalidParameter(format!("unknown sink connector \"{other}\""))),
    }
}

/// The options of a new file sink: each known. Checked for new sinks only, so one created
/// before the check existed still starts.
pub fn check_file_options(options: &Options) -> Result<()> {
    super::generator::check_known(options, "file", &["path", "format", "key"])
}

/// Checks at CREATE SINK what the sink refers to outside Sluice (the Kafka topic exists).
/// Blocks for up to a few seconds; call it off the async runtime.
pub fn check_external(options: &Options) -> Result<()> {
    match connector_name(options)? {
        "kafka" => kafka::check(options),
        _ => Ok(()),
    }
}

/// Who writes through a sink's writer: which sink, and which shard of it when it runs as
/// several.
#[derive(Debug, Clone)]
pub struct WriterName {
    /// The Kafka transactional id unless the sink's options name one: unique to the sink
    /// among everything that writes to the broker.
    pub transactional_id: String,
    /// The shard, for a sink run as several (each has a transactional id of its own).
    pub shard: Option<u16>,
}

/// Opens the writer named `name`.
pub fn open(name: WriterName, options: &Options) -> Result<Box<dyn SinkWriter>> {
    match connector_name(options)? {
        "file" => Ok(Box::new(file::FileSink::new(required(options, "path")?))),
        "kafka" => Ok(Box::new(kafka::KafkaSink::new(name, kafka::KafkaSinkOptions::from_options(options)?))),
        other => Err(Error::InvalidParameter(format!("unknown sink connector \"{other}\""))),
    }
}

fn format(options: &Options) -> Result<SinkFormat> {
    match options.get("format").map(|f| f.to_ascii_lowercase()).as_deref() {
        None | Some("json") => Ok(SinkFormat::Json),
        Some("csv") => Ok(SinkFormat::Csv),
        Some(other) => Err(Error::InvalidParameter(format!("unknown sink format \"{other}\" (expected json or csv)"))),
    }
}

/// Indexes of the `key = 'col[,col]'` columns.
fn key_columns(options: &Options, schema: &SchemaRef) -> Result<Option<Vec<usize>>> {
    let Some(list) = options.get("key") else { return Ok(None) };
    let columns = list
        .split(',')
        .map(|name| {
            let name = name.trim();
            schema.index_of(name).map_err(|_| Error::InvalidParameter(format!("key column \"{name}\" does not exist")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(columns))
}

/// Turns rows and changes into records.
pub struct Encoder {
    format: SinkFormat,
    /// Append-only rows: the key columns, if any.
    key_columns: Option<Vec<usize>>,
    /// Upserts: decodes group keys (and their column names).
    group_key: Option<(RowConverter, SchemaRef)>,
}

impl Encoder {
    /// An encoder for rows of `schema`; `group_key` is the schema of the group key of an
    /// updating result.
    pub fn new(options: &Options, schema: &SchemaRef, group_key: Option<SchemaRef>) -> Result<Encoder> {
        let group_key = match group_key {
            Some(key) => {
                let fields = key.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
                Some((RowConverter::new(fields)?, key))
            }
            None => None,
        };
        Ok(Encoder { format: format(options)?, key_columns: key_columns(options, schema)?, group_key })
    }

    /// Append-only rows.
    pub fn rows(&self, batch: &RecordBatch) -> Result<Vec<Record>> {
        let values = self.values(batch)?;
        let keys = match &self.key_columns {
            Some(cols) => encode_keys(&batch.project(cols)?)?.into_iter().map(Some).collect(),
            None => vec![None; values.len()],
        };
        Ok(keys.into_iter().zip(values).map(|(key, value)| Record { key, value: Some(value) }).collect())
    }

    /// Upserts: `rows[i]` is the new value of group key `keys[i]`.
    pub fn upserts(&self, keys: &BinaryArray, rows: &RecordBatch) -> Result<Vec<Record>> {
        let keys = self.group_keys(keys)?;
        let values = self.values(rows)?;
        Ok(keys.into_iter().zip(values).map(|(key, value)| Record { key: Some(key), value: Some(value) }).collect())
    }

    /// Deletes of group keys: tombstones.
    pub fn deletes(&self, keys: &BinaryArray) -> Result<Vec<Record>> {
        Ok(self.group_keys(keys)?.into_iter().map(|key| Record { key: Some(key), value: None }).collect())
    }

    fn group_keys(&self, keys: &BinaryArray) -> Result<Vec<Vec<u8>>> {
        let (converter, schema) = self
            .group_key
            .as_ref()
            .ok_or_else(|| Error::Internal("keyed changes reached an append-only sink".into()))?;
        if schema.fields().is_empty() {
            return Ok(vec![b"{}".to_vec(); keys.len()]);
        }
        let parser = converter.parser();
        let rows = keys.iter().map(|k| parser.parse(k.unwrap_or_default()));
        let columns = converter.convert_rows(rows)?;
        encode_keys(&RecordBatch::try_new(schema.clone(), columns)?)
    }

    fn values(&self, batch: &RecordBatch) -> Result<Vec<Vec<u8>>> {
        let mut buf = Vec::new();
        match self.format {
            SinkFormat::Json => {
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut buf);
                writer.write(batch)?;
                writer.finish()?;
            }
            SinkFormat::Csv => {
                let mut writer = arrow::csv::WriterBuilder::new().with_header(false).build(&mut buf);
                writer.write(batch)?;
            }
        }
        let mut lines: Vec<Vec<u8>> = buf.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        lines.truncate(batch.num_rows());
        if lines.len() != batch.num_rows() {
            return Err(Error::Internal("row encoder produced a wrong number of lines".into()));
        }
        Ok(lines)
    }
}

/// Keys: a single column as its text, several as a JSON object.
fn encode_keys(batch: &RecordBatch) -> Result<Vec<Vec<u8>>> {
    if batch.num_columns() == 1 {
        let column = batch.column(0);
        return (0..batch.num_rows())
            .map(
                |i| {
                    if column.is_null(i) { Ok(Vec::new()) } else { Ok(array_value_to_string(column, i)?.into_bytes()) }
                },
            )
            .collect();
    }
    let mut buf = Vec::new();
    let mut writer = arrow::json::LineDelimitedWriter::new(&mut buf);
    writer.write(batch)?;
    writer.finish()?;
    Ok(buf.split(|&b| b == b'\n').take(batch.num_rows()).map(<[u8]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema =
            Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true), Field::new("n", DataType::Int64, true)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(vec!["a", "b"])), Arc::new(Int64Array::from(vec![1, 2]))],
        )
        .unwrap()
    }

    #[test]
    fn rows_become_json_values_with_keys() {
        let b = batch();
        let options: Options = BTreeMap::from([("key".to_string(), "k".to_string())]);
        let records = Encoder::new(&options, &b.schema(), None).unwrap().rows(&b).unwrap();
        assert_eq!(records[0].key.as_deref(), Some(&b"a"[..]));
        assert_eq!(records[1].value.as_deref(), Some(&br#"{"k":"b","n":2}"#[..]));
    }

    #[test]
    fn group_keys_are_decoded_for_upserts_and_tombstones() {
        let b = batch();
        let key_schema = Arc::new(b.schema().project(&[0, 1]).unwrap());
        let fields = key_schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
        let converter = RowConverter::new(fields).unwrap();
        let rows = converter.convert_columns(b.columns()).unwrap();
        let keys = BinaryArray::from_iter_values(rows.iter().map(|r| r.as_ref().to_vec()));
        let encoder = Encoder::new(&Options::new(), &b.schema(), Some(key_schema)).unwrap();
        let deletes = encoder.deletes(&keys).unwrap();
        assert_eq!(deletes[1], Record { key: Some(br#"{"k":"b","n":2}"#.to_vec()), value: None });
        let upserts = encoder.upserts(&keys, &b).unwrap();
        assert_eq!(upserts[0].value.as_deref(), Some(&br#"{"k":"a","n":1}"#[..]));
    }
}
