//! Kafka messages to Arrow rows: which columns come from the value and which from the
//! message's metadata, and the decoding of one partition's messages per poll.
//!
//! Used by the Kafka source (`super`), which fetches messages into [`Chunk`]s and turns each
//! into a batch with [`decode`]. Values are decoded by the stream's format
//! (`connector::format`) in one call per chunk; metadata columns are built beside them.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    new_null_array,
};
use arrow::compute::{cast, interleave};
use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use rdkafka::message::Message;

use crate::connector::avro::AvroDecoder;
use crate::connector::format::{Decoded, LineDecoder};
use crate::error::{Error, Result};

/// A column filled from message metadata rather than from the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaColumn {
    /// `_key`: the message key (TEXT or BYTEA).
    Key,
    /// `_partition`: the partition number (an integer type).
    Partition,
    /// `_offset`: the offset in the partition (an integer type).
    Offset,
    /// `_timestamp`: the message timestamp (TIMESTAMP).
    Timestamp,
    /// `_deleted`: the message is a tombstone (no value). With this column a tombstone is a
    /// row with null value columns instead of a bad record: how tables see deletes.
    Deleted,
}

impl MetaColumn {
    fn of(name: &str) -> Option<MetaColumn> {
        match name {
            "_key" => Some(MetaColumn::Key),
            "_partition" => Some(MetaColumn::Partition),
            "_offset" => Some(MetaColumn::Offset),
            "_timestamp" => Some(MetaColumn::Timestamp),
            "_deleted" => Some(MetaColumn::Deleted),
            _ => None,
        }
    }

    fn accepts(self, t: &DataType) -> bool {
        match self {
            MetaColumn::Key => matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Binary),
            MetaColumn::Partition | MetaColumn::Offset => t.is_integer(),
            MetaColumn::Timestamp => matches!(t, DataType::Timestamp(_, _)),
            MetaColumn::Deleted => matches!(t, DataType::Boolean),
        }
    }
}

/// Where each column of the stream comes from.
#[derive(Debug, Clone)]
pub(super) struct Columns {
    pub(super) schema: SchemaRef,
    /// The columns decoded from the message value, in stream order.
    pub(super) value_schema: SchemaRef,
    /// Per stream column: `Ok(index in value_schema)` or the metadata it holds.
    sources: Vec<std::result::Result<usize, MetaColumn>>,
}

impl Columns {
    pub(super) fn has(&self, meta: MetaColumn) -> bool {
        self.sources.contains(&Err(meta))
    }

    pub(super) fn values_only(&self) -> bool {
        self.sources.iter().all(|s| s.is_ok())
    }
}

impl Columns {
    pub(super) fn new(schema: SchemaRef) -> Result<Columns> {
        let mut value_fields = Vec::new();
        let mut sources = Vec::new();
        for field in schema.fields() {
            match MetaColumn::of(field.name()) {
                Some(meta) if !meta.accepts(field.data_type()) => {
                    return Err(Error::InvalidParameter(format!(
                        "column \"{}\" holds kafka metadata and cannot have type {}",
                        field.name(),
                        field.data_type()
                    )));
                }
                Some(meta) => sources.push(Err(meta)),
                None => {
                    sources.push(Ok(value_fields.len()));
                    value_fields.push(field.as_ref().clone());
                }
            }
        }
        if value_fields.is_empty() {
            return Err(Error::InvalidParameter(
                "a kafka stream needs at least one column read from the message value".into(),
            ));
        }
        Ok(Columns { schema, value_schema: Arc::new(Schema::new(value_fields)), sources })
    }
}

/// Decodes a chunk's values.
pub(super) enum ValueDecoder {
    /// JSON or CSV, one value per line.
    Lines(LineDecoder),
    /// Confluent-framed Avro.
    Avro(Box<AvroDecoder>),
}

impl ValueDecoder {
    fn decode(&mut self, chunk: &Chunk) -> Result<Decoded> {
        match self {
            _ if chunk.lines == 0 => Ok(Decoded::default()),
            ValueDecoder::Lines(lines) => lines.decode(&chunk.data, 1),
            ValueDecoder::Avro(avro) => {
                let mut start = 0;
                let values: Vec<&[u8]> = (chunk.ends.iter())
                    .map(|&end| {
                        let value = &chunk.data[start..end];
                        start = end;
                        value
                    })
                    .collect();
                avro.decode(&values)
            }
        }
    }
}

/// What the reader keeps of a message.
#[derive(Debug)]
pub(super) struct MessageMeta {
    pub(super) offset: i64,
    /// Kept when a `_key` column or a dead-letter topic needs it.
    pub(super) key: Option<Vec<u8>>,
    timestamp: Option<i64>,
    /// Its line in the chunk's data; `None` for a message without a value.
    line: Option<usize>,
    /// The raw value, kept only for a dead-letter topic.
    pub(super) value: Option<Vec<u8>>,
}

/// What one poll took from one partition: values as lines for the decoder.
#[derive(Debug, Default)]
pub(super) struct Chunk {
    data: Vec<u8>,
    lines: usize,
    /// Binary values: where each ends in `data`.
    ends: Vec<usize>,
    pub(super) messages: Vec<MessageMeta>,
    pub(super) next_offset: i64,
}

/// What the chunk builder keeps of each message.
#[derive(Debug, Clone, Copy)]
pub(super) struct Keep {
    /// Values are JSON (newlines inside a value are folded).
    pub(super) json: bool,
    /// Values are binary (Avro): kept as they are, with their ends, not as lines.
    pub(super) binary: bool,
    /// Message keys.
    pub(super) keys: bool,
    /// Raw values (for a dead-letter topic).
    pub(super) raw: bool,
}

impl Chunk {
    /// Adds a message.
    pub(super) fn push<M: Message>(&mut self, m: &M, keep: Keep) {
        self.next_offset = m.offset() + 1;
        let value = m.payload().unwrap_or_default();
        let line = if value.is_empty() || (!keep.binary && value.iter().all(u8::is_ascii_whitespace)) {
            None
        } else if keep.binary {
            self.data.extend_from_slice(value);
            self.ends.push(self.data.len());
            self.lines += 1;
            Some(self.lines - 1)
        } else {
            if keep.json && memchr::memchr2(b'\n', b'\r', value).is_some() {
                // JSON allows any whitespace between tokens; a line holds one message.
                self.data.extend(value.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
            } else {
                self.data.extend_from_slice(value);
            }
            self.data.push(b'\n');
            self.lines += 1;
            Some(self.lines - 1)
        };
        let key = if keep.keys { m.key().map(<[u8]>::to_vec) } else { None };
        let value = (keep.raw && line.is_some()).then(|| value.to_vec());
        self.messages.push(MessageMeta { offset: m.offset(), key, timestamp: m.timestamp().to_millis(), line, value });
    }
}

/// A chunk's rows, and its rejected messages as (index in `messages`, reason).
pub(super) struct DecodedChunk {
    pub(super) batch: Option<RecordBatch>,
    pub(super) rejected: Vec<(usize, String)>,
}

/// Decodes a chunk into rows of the stream's schema, in message order. A message without a
/// value is a tombstone row when the stream has a `_deleted` column, else rejected.
pub(super) fn decode(
    decoder: &mut ValueDecoder,
    columns: &Columns,
    chunk: &Chunk,
    partition: i32,
) -> Result<DecodedChunk> {
    let decoded = decoder.decode(chunk)?;
    let bad_lines: HashSet<usize> = decoded.bad.iter().map(|b| (b.line - 1) as usize).collect();
    let mut reasons = decoded.bad.into_iter().map(|b| b.reason);
    let tombstones = columns.has(MetaColumn::Deleted);
    let mut rejected = Vec::new();
    let mut good = Vec::new();
    for (i, m) in chunk.messages.iter().enumerate() {
        match m.line {
            None if !tombstones => rejected.push((i, "message has no value".to_string())),
            Some(line) if bad_lines.contains(&line) => rejected.push((i, reasons.next().unwrap_or_default())),
            _ => good.push(m),
        }
    }
    if good.is_empty() {
        return Ok(DecodedChunk { batch: None, rejected });
    }
    let values = match decoded.batch {
        Some(values) if good.len() == values.num_rows() => values,
        values => with_tombstones(&columns.value_schema, values, &good)?,
    };
    let batch = assemble(columns, values, &good, partition)?;
    Ok(DecodedChunk { batch: Some(batch), rejected })
}

/// The value rows in message order with an all-null row for each tombstone.
fn with_tombstones(schema: &SchemaRef, values: Option<RecordBatch>, good: &[&MessageMeta]) -> Result<RecordBatch> {
    let nulls: Vec<ArrayRef> = schema.fields().iter().map(|f| new_null_array(f.data_type(), 1)).collect();
    let mut next = 0;
    let index: Vec<(usize, usize)> = (good.iter())
        .map(|m| match m.line {
            Some(_) => {
                next += 1;
                (1, next - 1)
            }
            None => (0, 0),
        })
        .collect();
    let columns = (0..schema.fields().len())
        .map(|c| {
            let mut sources: Vec<&dyn Array> = vec![nulls[c].as_ref()];
            if let Some(v) = &values {
                sources.push(v.column(c).as_ref());
            }
            Ok(interleave(&sources, &index)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The stream's batch: value columns and metadata columns in schema order.
fn assemble(columns: &Columns, values: RecordBatch, good: &[&MessageMeta], partition: i32) -> Result<RecordBatch> {
    if columns.values_only() {
        return Ok(values);
    }
    let arrays = (columns.sources.iter().zip(columns.schema.fields()))
        .map(|(source, field)| match source {
            Ok(i) => Ok(values.column(*i).clone()),
            Err(meta) => meta_array(*meta, good, partition, field.data_type()),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(columns.schema.clone(), arrays)?)
}

/// One metadata column for the good messages, cast to the column's type.
fn meta_array(meta: MetaColumn, good: &[&MessageMeta], partition: i32, to: &DataType) -> Result<ArrayRef> {
    let array: ArrayRef = match meta {
        MetaColumn::Key if matches!(to, DataType::Binary) => {
            Arc::new(good.iter().map(|m| m.key.as_deref()).collect::<BinaryArray>())
        }
        MetaColumn::Key => {
            Arc::new(good.iter().map(|m| m.key.as_deref().map(String::from_utf8_lossy)).collect::<StringArray>())
        }
        MetaColumn::Partition => Arc::new(Int64Array::from(vec![i64::from(partition); good.len()])),
        MetaColumn::Offset => Arc::new(good.iter().map(|m| Some(m.offset)).collect::<Int64Array>()),
        MetaColumn::Timestamp => Arc::new(good.iter().map(|m| m.timestamp).collect::<TimestampMillisecondArray>()),
        MetaColumn::Deleted => Arc::new(good.iter().map(|m| Some(m.line.is_none())).collect::<BooleanArray>()),
    };
    if array.data_type() == to {
        return Ok(array);
    }
    let array = match (meta, to) {
        (MetaColumn::Timestamp, DataType::Timestamp(TimeUnit::Millisecond, Some(tz))) => {
            Arc::new(TimestampMillisecondArray::from(array.to_data()).with_timezone(tz.clone()))
        }
        _ => cast(&array, to)?,
    };
    Ok(array)
}
