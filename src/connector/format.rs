//! Record formats: turning newline-delimited bytes into Arrow record batches.
//!
//! This module owns [`Format`] (parsed from the `WITH` options of `CREATE STREAM`) and
//! [`LineDecoder`], which decodes a chunk of whole lines (JSON objects or CSV rows) into one
//! [`RecordBatch`] of the stream's schema. It knows nothing about where the bytes come from:
//! the file source calls it today, a Kafka source can call it tomorrow.
//!
//! Decoding is built for throughput. A chunk goes to arrow's JSON or CSV decoder in one piece;
//! only when that fails (or the row count does not match the line count) is the chunk split
//! in halves, recursively, until every bad line is isolated, so a few bad lines cost a few
//! extra passes, not one decoder call per line. A bad line is reported as a [`BadLine`], never
//! as an error. This module must not read files, sleep or log per record above `trace`.
//!
//! A decoder can be given a projection, the columns the pipeline needs ([`LineDecoder::projected`]).
//! Only those are turned into arrays (for JSON the arrow decoder gets the reduced schema and
//! skips the other keys, for CSV arrow's own projection is used); arrow still tokenizes every
//! field, which is most of the cost, so this saves about 15-20% on Nexmark bids. Every other column comes out as an all-null array
//! of its type, so batches keep the stream's schema and column indexes. Consequently a line
//! that is bad only in an unneeded column is not bad: it is accepted, with nulls there. A
//! non-nullable column is always decoded, since nulls cannot stand in for it.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, PrimitiveArray, RecordBatch, StringArray, new_null_array};
use arrow::compute::concat_batches;
use arrow::compute::kernels::cast_utils::string_to_datetime;
use arrow::datatypes::{
    ArrowTimestampType, DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow::error::ArrowError;
use chrono::{DateTime, TimeZone, Utc};

use crate::error::{Error, Result, lowercase_first};

/// Rows per arrow decoder batch; bigger chunks are decoded in several batches and concatenated.
const DECODER_BATCH_ROWS: usize = 8 * 1024;

/// How the records of a stream are encoded, one record per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line; fields matched to columns by exact name.
    Json,
    /// Delimited text, one row per line, columns in schema order.
    Csv {
        /// The first line of each file names the columns and is skipped.
        header: bool,
        /// The field separator.
        delimiter: u8,
    },
}

impl Format {
    /// From the WITH options of CREATE STREAM: format = 'json' | 'csv' (default 'json'),
    /// header = 'true'|'false' (default true for csv), delimiter = ',' (one char; 'tab' or
    /// '\t' allowed). Other options are ignored; they belong to the transport.
    /// Unknown format or bad option value -> [`Error::InvalidParameter`].
    pub fn from_options(options: &BTreeMap<String, String>) -> Result<Format> {
        let format = options.get("format").map(String::as_str).unwrap_or("json");
        match format.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv {
                header: header_option(options.get("header"))?,
                delimiter: delimiter_option(options.get("delimiter"))?,
            }),
            _ => Err(Error::InvalidParameter(format!(
                "invalid value for option \"format\": \"{format}\" (expected 'json' or 'csv')"
            ))),
        }
    }
}

fn header_option(value: Option<&String>) -> Result<bool> {
    let Some(value) = value else { return Ok(true) };
    match value.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(Error::InvalidParameter(format!(
            "invalid value for option \"header\": \"{value}\" (expected 'true' or 'false')"
        ))),
    }
}

fn delimiter_option(value: Option<&String>) -> Result<u8> {
    let Some(value) = value else { return Ok(b',') };
    let byte = match value.as_str() {
        "tab" | "\\t" | "\t" => b'\t',
        s if s.len() == 1 => s.as_bytes()[0],
        _ => 0,
    };
    if byte == 0 || matches!(byte, b'\n' | b'\r' | b'"') || !byte.is_ascii() {
        return Err(Error::InvalidParameter(format!(
            "invalid value for option \"delimiter\": \"{value}\" (expected one character)"
        )));
    }
    Ok(byte)
}

/// One rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in its file (or partition).
    pub line: u64,
    /// Why the decoder rejected it, Postgres style (lowercase first letter).
    pub reason: String,
}

/// The result of decoding one chunk.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The good records in line order; `None` when there were none.
    pub batch: Option<RecordBatch>,
    /// The rejected lines, in line order.
    pub bad: Vec<BadLine>,
}

/// Decodes chunks of whole lines into record batches of a fixed schema.
pub struct LineDecoder {
    format: Format,
    projection: Projection,
    inner: Inner,
}

/// Which columns of the schema are decoded; the others come out all null.
#[derive(Debug, Clone)]
struct Projection {
    /// The stream's schema: every batch returned has it.
    schema: SchemaRef,
    /// The decoded columns, ascending (all of them without a projection).
    columns: Vec<usize>,
    /// The schema of the decoded columns alone, which the arrow decoders produce.
    decoded: SchemaRef,
}

impl Projection {
    fn all(schema: SchemaRef) -> Self {
        let columns = (0..schema.fields().len()).collect();
        Projection { decoded: schema.clone(), schema, columns }
    }

    /// Decodes `needed` plus the non-nullable columns; with none of either, the first column
    /// (something must count the rows).
    fn of(schema: SchemaRef, needed: &[usize]) -> Result<Self> {
        let width = schema.fields().len();
        if let Some(bad) = needed.iter().find(|&&i| i >= width) {
            return Err(Error::Internal(format!("projected column {bad} is out of range for {width} columns")));
        }
        let mut columns: Vec<usize> =
            (0..width).filter(|&i| needed.contains(&i) || !schema.field(i).is_nullable()).collect();
        if columns.is_empty() && width > 0 {
            columns.push(0);
        }
        if columns.len() == width {
            return Ok(Projection::all(schema));
        }
        let decoded = Arc::new(schema.project(&columns)?);
        Ok(Projection { schema, columns, decoded })
    }

    fn is_all(&self) -> bool {
        self.columns.len() == self.schema.fields().len()
    }

    /// Widens a batch of the decoded columns to the whole schema with all-null columns.
    fn widen(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if self.is_all() {
            return Ok(batch);
        }
        let rows = batch.num_rows();
        let mut decoded = batch.columns().iter().zip(&self.columns).peekable();
        let arrays = (self.schema.fields().iter().enumerate())
            .map(|(i, field)| match decoded.next_if(|&(_, &c)| c == i) {
                Some((array, _)) => array.clone(),
                None => new_null_array(field.data_type(), rows),
            })
            .collect();
        Ok(RecordBatch::try_new(self.schema.clone(), arrays)?)
    }
}

/// A non-blank line of a chunk: its byte range and its line number.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    end: usize,
    number: u64,
}

impl LineDecoder {
    /// A decoder producing batches of `schema` from `format`; fails on column types the
    /// format cannot decode.
    pub fn new(format: &Format, schema: SchemaRef) -> Result<Self> {
        Self::build(format, Projection::all(schema))
    }

    /// Like [`LineDecoder::new`], but decodes only the columns `needed` (indexes into
    /// `schema`, in any order); the others come out all null (see the module docs).
    pub fn projected(format: &Format, schema: SchemaRef, needed: &[usize]) -> Result<Self> {
        Self::build(format, Projection::of(schema, needed)?)
    }

    /// Another decoder with the same format, schema and projection.
    pub fn fresh(&self) -> Result<Self> {
        Self::build(&self.format, self.projection.clone())
    }

    fn build(format: &Format, projection: Projection) -> Result<Self> {
        let inner = Inner::new(format, &projection)?;
        Ok(LineDecoder { format: format.clone(), projection, inner })
    }

    /// Decodes `data`, which holds whole records only, one per line ('\n', optional '\r'
    /// before it; the last line may lack '\n'). `first_line` is the 1-based line number of
    /// the first line in its file; for CSV with a header, line 1 is the header and skipped.
    /// Blank lines are skipped silently. Errors only on internal failures, never on bad data.
    pub fn decode(&mut self, data: &[u8], first_line: u64) -> Result<Decoded> {
        let Decoded { batch, bad } = self.decode_narrow(data, first_line)?;
        let batch = batch.map(|b| self.projection.widen(b)).transpose()?;
        Ok(Decoded { batch, bad })
    }

    /// [`LineDecoder::decode`] into batches of the decoded columns only.
    fn decode_narrow(&mut self, data: &[u8], first_line: u64) -> Result<Decoded> {
        let (data, first_line) = self.skip_header(data, first_line);
        if data.is_empty() {
            return Ok(Decoded::default());
        }
        let expected = count_lines(data);
        let whole_failed = match self.decode_range(data, expected) {
            Ok(batch) => {
                return Ok(Decoded { batch, bad: Vec::new() });
            }
            Err(RangeError::Failed(_)) => true,
            Err(RangeError::Count(_)) => false,
        };
        tracing::trace!(first_line, "chunk rejected by fast path; isolating bad lines");
        self.decode_slow(data, first_line, whole_failed)
    }

    fn skip_header<'a>(&self, data: &'a [u8], first_line: u64) -> (&'a [u8], u64) {
        let header = matches!(self.format, Format::Csv { header: true, .. });
        if !header || first_line != 1 {
            return (data, first_line);
        }
        match memchr::memchr(b'\n', data) {
            Some(i) => (&data[i + 1..], 2),
            None => (&[], 2),
        }
    }

    /// Line by line recovery: bisects the non-blank lines until each failing range is a
    /// single line. `whole_failed` says the whole chunk is known to fail already.
    fn decode_slow(&mut self, data: &[u8], first_line: u64, whole_failed: bool) -> Result<Decoded> {
        let lines = index_lines(data, first_line);
        let mut batches = Vec::new();
        let mut bad = Vec::new();
        if whole_failed && lines.len() > 1 {
            let (left, right) = lines.split_at(lines.len() / 2);
            self.bisect(data, left, &mut batches, &mut bad);
            self.bisect(data, right, &mut batches, &mut bad);
        } else {
            self.bisect(data, &lines, &mut batches, &mut bad);
        }
        let batch = match batches.len() {
            0 => None,
            1 => batches.pop(),
            _ => Some(concat_batches(&self.projection.decoded, &batches)?),
        };
        Ok(Decoded { batch, bad })
    }

    fn bisect(&mut self, data: &[u8], lines: &[Line], batches: &mut Vec<RecordBatch>, bad: &mut Vec<BadLine>) {
        let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
            return;
        };
        match self.decode_range(&data[first.start..last.end], lines.len()) {
            Ok(batch) => batches.extend(batch),
            Err(e) if lines.len() == 1 => bad.push(BadLine { line: first.number, reason: e.reason() }),
            Err(_) => {
                let (left, right) = lines.split_at(lines.len() / 2);
                self.bisect(data, left, batches, bad);
                self.bisect(data, right, batches, bad);
            }
        }
    }

    /// Decodes `data` as exactly `expected` records; on failure the decoder is rebuilt, as
    /// arrow's decoders cannot continue after an error.
    fn decode_range(&mut self, data: &[u8], expected: usize) -> Result<Option<RecordBatch>, RangeError> {
        let batches = match self.inner.decode(data, &self.projection.decoded) {
            Ok(batches) => batches,
            Err(e) => {
                self.inner =
                    Inner::new(&self.format, &self.projection).map_err(|_| RangeError::Failed(e.to_string()))?;
                return Err(RangeError::Failed(arrow_reason(&e)));
            }
        };
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows != expected {
            return Err(RangeError::Count(rows));
        }
        match batches.len() {
            0 => Ok(None),
            1 => Ok(batches.into_iter().next()),
            _ => concat_batches(&self.projection.decoded, &batches)
                .map(Some)
                .map_err(|e| RangeError::Failed(arrow_reason(&e))),
        }
    }
}

/// Why a range of lines could not be taken as is.
enum RangeError {
    /// The decoder rejected it, with this reason.
    Failed(String),
    /// It decoded to this many records instead of one per line.
    Count(usize),
}

impl RangeError {
    fn reason(self) -> String {
        match self {
            RangeError::Failed(reason) => reason,
            RangeError::Count(n) => format!("expected one record on the line, found {n}"),
        }
    }
}

/// The arrow decoder of a format, plus what it needs to finish batches.
enum Inner {
    Json(arrow::json::reader::Decoder),
    Csv {
        decoder: Box<arrow::csv::reader::Decoder>,
        /// Timestamp columns among the decoded ones, decoded as text by arrow and converted by
        /// [`parse_timestamps`].
        timestamps: Vec<usize>,
    },
}

impl Inner {
    fn new(format: &Format, projection: &Projection) -> Result<Self> {
        match format {
            Format::Json => {
                let decoder = arrow::json::ReaderBuilder::new(projection.decoded.clone())
                    .with_batch_size(DECODER_BATCH_ROWS)
                    .with_coerce_primitive(true)
                    .build_decoder()?;
                Ok(Inner::Json(decoder))
            }
            Format::Csv { delimiter, .. } => {
                let mut builder = arrow::csv::ReaderBuilder::new(csv_text_schema(&projection.schema))
                    .with_header(false)
                    .with_delimiter(*delimiter)
                    .with_batch_size(DECODER_BATCH_ROWS);
                if !projection.is_all() {
                    builder = builder.with_projection(projection.columns.clone());
                }
                let timestamps = (projection.decoded.fields().iter().enumerate())
                    .filter(|(_, field)| matches!(field.data_type(), DataType::Timestamp(..)))
                    .map(|(i, _)| i)
                    .collect();
                Ok(Inner::Csv { decoder: Box::new(builder.build_decoder()), timestamps })
            }
        }
    }

    /// Decodes all of `data`, returning one batch per arrow decoder batch.
    fn decode(&mut self, data: &[u8], schema: &SchemaRef) -> Result<Vec<RecordBatch>, ArrowError> {
        match self {
            Inner::Json(decoder) => decode_json(decoder, data),
            Inner::Csv { decoder, timestamps } => {
                let batches = decode_csv(decoder, data)?;
                batches.into_iter().map(|b| parse_timestamps(b, schema, timestamps)).collect()
            }
        }
    }
}

fn decode_json(decoder: &mut arrow::json::reader::Decoder, data: &[u8]) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut batches = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let read = decoder.decode(rest)?;
        rest = &rest[read..];
        if !rest.is_empty() {
            // The decoder stopped because its batch is full.
            batches.extend(decoder.flush()?);
        }
    }
    batches.extend(decoder.flush()?);
    Ok(batches)
}

fn decode_csv(decoder: &mut arrow::csv::reader::Decoder, data: &[u8]) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut batches = Vec::new();
    let mut rest = data;
    loop {
        if decoder.capacity() == 0 {
            batches.extend(decoder.flush()?);
        }
        // An empty buffer tells the decoder the input ended, completing a last unterminated line.
        let read = decoder.decode(rest)?;
        if rest.is_empty() {
            break;
        }
        rest = &rest[read..];
    }
    batches.extend(decoder.flush()?);
    Ok(batches)
}

/// The schema arrow's CSV decoder reads: timestamp columns as text (arrow does not take epoch
/// numbers for them).
fn csv_text_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = (schema.fields().iter())
        .map(|field| match field.data_type() {
            DataType::Timestamp(..) => Field::new(field.name(), DataType::Utf8, true),
            _ => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Converts the text timestamp columns of a CSV batch to the schema's timestamp types.
fn parse_timestamps(batch: RecordBatch, schema: &SchemaRef, columns: &[usize]) -> Result<RecordBatch, ArrowError> {
    if columns.is_empty() {
        return batch.with_schema(schema.clone());
    }
    let mut arrays = batch.columns().to_vec();
    for &i in columns {
        let field = schema.field(i);
        let text = arrays[i]
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| ArrowError::SchemaError("timestamp column not read as text".into()))?;
        arrays[i] = timestamp_array(text, field)?;
    }
    RecordBatch::try_new(schema.clone(), arrays)
}

fn timestamp_array(text: &StringArray, field: &Field) -> Result<ArrayRef, ArrowError> {
    let DataType::Timestamp(unit, tz) = field.data_type() else {
        return Err(ArrowError::SchemaError(format!("column \"{}\" is not a timestamp", field.name())));
    };
    match tz {
        None => timestamp_array_in(text, field, *unit, &Utc),
        Some(tz) => timestamp_array_in(text, field, *unit, &Tz::from_str(tz)?),
    }
}

fn timestamp_array_in<Z: TimeZone>(
    text: &StringArray,
    field: &Field,
    unit: TimeUnit,
    zone: &Z,
) -> Result<ArrayRef, ArrowError> {
    match unit {
        TimeUnit::Second => typed_timestamps::<TimestampSecondType, Z>(text, field, zone),
        TimeUnit::Millisecond => typed_timestamps::<TimestampMillisecondType, Z>(text, field, zone),
        TimeUnit::Microsecond => typed_timestamps::<TimestampMicrosecondType, Z>(text, field, zone),
        TimeUnit::Nanosecond => typed_timestamps::<TimestampNanosecondType, Z>(text, field, zone),
    }
}

fn typed_timestamps<T: ArrowTimestampType, Z: TimeZone>(
    text: &StringArray,
    field: &Field,
    zone: &Z,
) -> Result<ArrayRef, ArrowError> {
    let values = text
        .iter()
        .map(|cell| cell.map(|s| parse_timestamp::<T, Z>(s.trim(), zone)).transpose())
        .collect::<Result<Vec<Option<i64>>, ArrowError>>()
        .map_err(|e| ArrowError::ParseError(format!("invalid timestamp for column \"{}\": {e}", field.name())))?;
    let array = values.into_iter().collect::<PrimitiveArray<T>>().with_data_type(field.data_type().clone());
    Ok(Arc::new(array))
}

/// An all-digits cell is a number in the column's unit (epoch milliseconds for TIMESTAMP);
/// anything else is an ISO-8601 date and time, converted to UTC when it carries a zone.
fn parse_timestamp<T: ArrowTimestampType, Z: TimeZone>(s: &str, zone: &Z) -> Result<i64, ArrowError> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map_err(|e| ArrowError::ParseError(format!("\"{s}\": {e}")));
    }
    let date =
        string_to_datetime(zone, s).map_err(|e| ArrowError::ParseError(format!("\"{s}\": {}", arrow_reason(&e))))?;
    in_unit(T::UNIT, &date.with_timezone(&Utc))
        .ok_or_else(|| ArrowError::ParseError(format!("\"{s}\" is out of range")))
}

fn in_unit(unit: TimeUnit, date: &DateTime<Utc>) -> Option<i64> {
    match unit {
        TimeUnit::Second => Some(date.timestamp()),
        TimeUnit::Millisecond => Some(date.timestamp_millis()),
        TimeUnit::Microsecond => Some(date.timestamp_micros()),
        TimeUnit::Nanosecond => date.timestamp_nanos_opt(),
    }
}

/// The number of lines in `data`, counting a last line without '\n'.
fn count_lines(data: &[u8]) -> usize {
    let newlines = memchr::memchr_iter(b'\n', data).count();
    match data.last() {
        Some(b'\n') | None => newlines,
        Some(_) => newlines + 1,
    }
}

/// The non-blank lines of `data` with their line numbers; a line's range excludes its '\n'.
fn index_lines(data: &[u8], first_line: u64) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut number = first_line;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
        if !data[start..end].iter().all(u8::is_ascii_whitespace) {
            lines.push(Line { start, end, number });
        }
        start = end + 1;
        number += 1;
    }
    lines
}

/// The message of an arrow error without its kind prefix or the decoder's own (chunk
/// relative, hence misleading) line numbers, lowercase first.
fn arrow_reason(e: &ArrowError) -> String {
    let text = match e {
        ArrowError::JsonError(m)
        | ArrowError::CsvError(m)
        | ArrowError::ParseError(m)
        | ArrowError::CastError(m)
        | ArrowError::InvalidArgumentError(m)
        | ArrowError::SchemaError(m)
        | ArrowError::ComputeError(m) => m.clone(),
        other => other.to_string(),
    };
    lowercase_first(&strip_line_numbers(&text))
}

/// Removes " at line N" and " for line N" from arrow's messages.
fn strip_line_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = [" at line ", " for line "].iter().filter_map(|p| rest.find(p).map(|i| (i, p.len()))).min() {
        let (at, len) = i;
        let after = &rest[at + len..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push_str(&rest[..at + len]);
        } else {
            out.push_str(&rest[..at]);
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{Date32Type, Float64Type, Int32Type, Int64Type};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]))
    }

    fn decode(format: &Format, schema: SchemaRef, data: &str, first_line: u64) -> Decoded {
        let mut decoder = LineDecoder::new(format, schema).expect("decoder");
        decoder.decode(data.as_bytes(), first_line).expect("decode")
    }

    fn ids(batch: &RecordBatch) -> Vec<i64> {
        batch.column(0).as_primitive::<Int64Type>().values().to_vec()
    }

    fn millis(batch: &RecordBatch, column: usize) -> Vec<Option<i64>> {
        batch.column(column).as_primitive::<TimestampMillisecondType>().iter().collect()
    }

    fn csv() -> Format {
        Format::Csv { header: false, delimiter: b',' }
    }

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options_parse() {
        assert_eq!(Format::from_options(&options(&[])).unwrap(), Format::Json);
        assert_eq!(Format::from_options(&options(&[("format", "JSON")])).unwrap(), Format::Json);
        assert_eq!(
            Format::from_options(&options(&[("format", "csv")])).unwrap(),
            Format::Csv { header: true, delimiter: b',' }
        );
        let tab = options(&[("format", "csv"), ("header", "false"), ("delimiter", "tab")]);
        assert_eq!(Format::from_options(&tab).unwrap(), Format::Csv { header: false, delimiter: b'\t' });
        let escaped = options(&[("format", "csv"), ("delimiter", "\\t")]);
        assert_eq!(Format::from_options(&escaped).unwrap(), Format::Csv { header: true, delimiter: b'\t' });
        let pipe = options(&[("format", "csv"), ("delimiter", "|"), ("path", "/x")]);
        assert_eq!(Format::from_options(&pipe).unwrap(), Format::Csv { header: true, delimiter: b'|' });
    }

    #[test]
    fn options_reject_bad_values() {
        let err = |pairs: &[(&str, &str)]| Format::from_options(&options(pairs)).unwrap_err();
        let e = err(&[("format", "xml")]);
        assert!(matches!(e, Error::InvalidParameter(_)));
        assert_eq!(e.to_string(), "invalid value for option \"format\": \"xml\" (expected 'json' or 'csv')");
        assert!(err(&[("format", "csv"), ("header", "maybe")]).to_string().contains("\"header\""));
        assert!(err(&[("format", "csv"), ("delimiter", ",,")]).to_string().contains("\"delimiter\""));
        assert!(err(&[("format", "csv"), ("delimiter", "")]).to_string().contains("\"delimiter\""));
        assert!(err(&[("format", "csv"), ("delimiter", "é")]).to_string().contains("\"delimiter\""));
    }

    #[test]
    fn json_happy_path() {
        let data =
            "{\"id\":1,\"name\":\"a\",\"ts\":1000,\"extra\":[1,2]}\n{\"name\":\"b\",\"id\":2}\r\n{\"id\":3,\"name\":7}";
        let d = decode(&Format::Json, schema(), data, 1);
        assert!(d.bad.is_empty());
        let batch = d.batch.unwrap();
        assert_eq!(ids(&batch), vec![1, 2, 3]);
        let names: Vec<_> = batch.column(1).as_string::<i32>().iter().collect();
        assert_eq!(names, vec![Some("a"), Some("b"), Some("7")]);
        assert_eq!(millis(&batch, 2), vec![Some(1000), None, None]);
    }

    #[test]
    fn json_types() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int32, true),
            Field::new("f", DataType::Float64, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("d", DataType::Date32, true),
        ]));
        let data = "{\"i\":-5,\"f\":1.5,\"b\":true,\"d\":\"2026-03-01\"}\n";
        let batch = decode(&Format::Json, schema, data, 1).batch.unwrap();
        assert_eq!(batch.column(0).as_primitive::<Int32Type>().value(0), -5);
        assert_eq!(batch.column(1).as_primitive::<Float64Type>().value(0), 1.5);
        assert!(batch.column(2).as_boolean().value(0));
        assert_eq!(batch.column(3).as_primitive::<Date32Type>().value(0), 20513);
    }

    const TIMESTAMPS: [(&str, i64); 5] = [
        ("2026-03-01T10:00:00.250", 1_772_359_200_250),
        ("2026-03-01 10:00:00", 1_772_359_200_000),
        ("2026-03-01T10:00:00Z", 1_772_359_200_000),
        ("2026-03-01T12:00:00+02:00", 1_772_359_200_000),
        ("2026-03-01 12:00:00.5+02:00", 1_772_359_200_500),
    ];

    #[test]
    fn json_timestamps_in_all_forms() {
        let mut lines: Vec<String> = TIMESTAMPS.iter().map(|(s, _)| format!("{{\"id\":1,\"ts\":\"{s}\"}}")).collect();
        lines.push("{\"id\":1,\"ts\":1772359200250}".into());
        lines.push("{\"id\":1,\"ts\":-1000}".into());
        let expected: Vec<_> =
            TIMESTAMPS.iter().map(|(_, v)| Some(*v)).chain([Some(1_772_359_200_250), Some(-1000)]).collect();
        let d = decode(&Format::Json, schema(), &lines.join("\n"), 1);
        assert!(d.bad.is_empty(), "{:?}", d.bad);
        assert_eq!(millis(&d.batch.unwrap(), 2), expected);
    }

    #[test]
    fn csv_timestamps_in_all_forms() {
        let numbers = [("1772359200250", 1_772_359_200_250), ("-1000", -1000)];
        let all = TIMESTAMPS.iter().chain(numbers.iter());
        let lines: Vec<String> = all.clone().map(|(s, _)| format!("1,x,{s}")).collect();
        let expected: Vec<_> = all.map(|(_, v)| Some(*v)).collect();
        let d = decode(&csv(), schema(), &lines.join("\n"), 5);
        assert!(d.bad.is_empty(), "{:?}", d.bad);
        assert_eq!(millis(&d.batch.unwrap(), 2), expected);
    }

    #[test]
    fn timestamps_with_zone_column() {
        let zoned = DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()));
        let schema = Arc::new(Schema::new(vec![Field::new("ts", zoned.clone(), true)]));
        let data = "{\"ts\":\"2026-03-01T12:00:00+02:00\"}\n{\"ts\":\"2026-03-01 10:00:00\"}\n{\"ts\":5}\n";
        let batch = decode(&Format::Json, schema.clone(), data, 1).batch.unwrap();
        assert_eq!(batch.schema().field(0).data_type(), &zoned);
        assert_eq!(millis(&batch, 0), vec![Some(1_772_359_200_000), Some(1_772_359_200_000), Some(5)]);
        let data = "2026-03-01T12:00:00+02:00\n2026-03-01 10:00:00\n5\n\"\"\n";
        let batch = decode(&csv(), schema, data, 1).batch.unwrap();
        assert_eq!(batch.schema().field(0).data_type(), &zoned);
        assert_eq!(millis(&batch, 0), vec![Some(1_772_359_200_000), Some(1_772_359_200_000), Some(5), None]);
    }

    #[test]
    fn json_bad_lines_isolated() {
        let mut lines: Vec<String> = (1..=100).map(|i| format!("{{\"id\":{i}}}")).collect();
        lines[9] = "{\"id\":\"abc\"}".into(); // line 10
        lines[49] = "not json".into(); // line 50
        lines[50] = "{\"id\":1".into(); // line 51, truncated
        lines[98] = "{\"id\":1}{\"id\":2}".into(); // line 99, two records
        lines[99] = "{\"id\":1,\"ts\":\"yesterday\"}".into(); // line 100
        let d = decode(&Format::Json, schema(), &lines.join("\n"), 1);
        let bad: Vec<_> = d.bad.iter().map(|b| b.line).collect();
        assert_eq!(bad, vec![10, 50, 51, 99, 100]);
        assert_eq!(d.bad[0].reason, "whilst decoding field 'id': failed to parse \"abc\" as Int64");
        assert!(
            d.bad[1].reason.starts_with("encountered unexpected 'o' whilst parsing literal"),
            "{}",
            d.bad[1].reason
        );
        assert_eq!(d.bad[3].reason, "expected one record on the line, found 2");
        assert!(d.bad[4].reason.contains("yesterday"), "{}", d.bad[4].reason);
        let expected: Vec<i64> = (1..=98).filter(|i| ![10, 50, 51].contains(i)).collect();
        assert_eq!(ids(&d.batch.unwrap()), expected);
    }

    #[test]
    fn bad_line_numbers_are_file_relative() {
        let d = decode(&Format::Json, schema(), "{\"id\":1}\n{\"id\":true}\n", 1001);
        assert_eq!(d.bad, vec![BadLine { line: 1002, reason: d.bad[0].reason.clone() }]);
        let d = decode(&csv(), schema(), "1,a,\n2,b,c,d\n", 41);
        assert_eq!(d.bad.len(), 1);
        assert_eq!(d.bad[0].line, 42);
        assert!(!d.bad[0].reason.contains("line"), "{}", d.bad[0].reason);
    }

    #[test]
    fn only_bad_lines() {
        let d = decode(&Format::Json, schema(), "x\ny\n", 1);
        assert!(d.batch.is_none());
        assert_eq!(d.bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn blank_lines_skipped() {
        let d = decode(&Format::Json, schema(), "\n{\"id\":1}\n  \n\r\n{\"id\":2}\n\n", 1);
        assert!(d.bad.is_empty());
        assert_eq!(ids(&d.batch.unwrap()), vec![1, 2]);
        let d = decode(&csv(), schema(), "1,a,\n\n2,b,\n", 1);
        assert!(d.bad.is_empty(), "{:?}", d.bad);
        assert_eq!(ids(&d.batch.unwrap()), vec![1, 2]);
        let d = decode(&Format::Json, schema(), "\n\n", 1);
        assert!(d.batch.is_none() && d.bad.is_empty());
    }

    #[test]
    fn csv_happy_path_and_bad_lines() {
        let data = "1,a,1000\n2,\"b,c\",\nzz,d,1\n4,e\n5,f,2026-13-45\n6,g,6\r\n7,h,7";
        let d = decode(&csv(), schema(), data, 1);
        assert_eq!(ids(d.batch.as_ref().unwrap()), vec![1, 2, 6, 7]);
        let batch = d.batch.unwrap();
        let names: Vec<_> = batch.column(1).as_string::<i32>().iter().collect();
        assert_eq!(names, vec![Some("a"), Some("b,c"), Some("g"), Some("h")]);
        assert_eq!(millis(&batch, 2), vec![Some(1000), None, Some(6), Some(7)]);
        let bad: Vec<_> = d.bad.iter().map(|b| b.line).collect();
        assert_eq!(bad, vec![3, 4, 5]);
        assert!(d.bad[0].reason.contains("zz"), "{}", d.bad[0].reason);
        assert!(d.bad[1].reason.contains("incorrect number of fields"), "{}", d.bad[1].reason);
        assert!(d.bad[2].reason.contains("invalid timestamp for column \"ts\""), "{}", d.bad[2].reason);
    }

    #[test]
    fn csv_header_skipped_only_at_file_start() {
        let format = Format::Csv { header: true, delimiter: b';' };
        let d = decode(&format, schema(), "id;name;ts\n1;a;5\n", 1);
        assert!(d.bad.is_empty());
        assert_eq!(ids(&d.batch.unwrap()), vec![1]);
        let d = decode(&format, schema(), "2;b;6\n3;c;7\n", 3);
        assert_eq!(ids(&d.batch.unwrap()), vec![2, 3]);
        let d = decode(&format, schema(), "id;name;ts\n", 1);
        assert!(d.batch.is_none() && d.bad.is_empty());
        let d = decode(&format, schema(), "id;name;ts\n1;a;5\nx;y;z\n", 1);
        assert_eq!(d.bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn decoder_reusable_after_errors() {
        let mut decoder = LineDecoder::new(&Format::Json, schema()).unwrap();
        let d = decoder.decode(b"{\"id\":1}\n{\"id\":\"x\"}\n", 1).unwrap();
        assert_eq!(d.bad.len(), 1);
        let d = decoder.decode(b"{\"id\":3}\n{\"id\":4}\n", 3).unwrap();
        assert!(d.bad.is_empty());
        assert_eq!(ids(&d.batch.unwrap()), vec![3, 4]);
        let mut decoder = LineDecoder::new(&csv(), schema()).unwrap();
        decoder.decode(b"1,a,1\nx,b\n", 1).unwrap();
        let d = decoder.decode(b"3,c,3\n4,d,4", 3).unwrap();
        assert_eq!(ids(&d.batch.unwrap()), vec![3, 4]);
    }

    #[test]
    fn large_chunks_span_decoder_batches() {
        let n = DECODER_BATCH_ROWS as i64 * 2 + 7;
        let mut data: String = (0..n).map(|i| format!("{{\"id\":{i}}}\n")).collect();
        let d = decode(&Format::Json, schema(), &data, 1);
        assert_eq!(ids(&d.batch.unwrap()), (0..n).collect::<Vec<_>>());
        data.push_str("oops\n");
        let d = decode(&Format::Json, schema(), &data, 1);
        assert_eq!(d.batch.unwrap().num_rows() as i64, n);
        assert_eq!(d.bad[0].line, n as u64 + 1);
        let csv_data: String = (0..n).map(|i| format!("{i},x,{i}\n")).collect();
        let d = decode(&csv(), schema(), &csv_data, 1);
        let batch = d.batch.unwrap();
        assert_eq!(ids(&batch), (0..n).collect::<Vec<_>>());
        let ts = batch.column(2).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.value(n as usize - 1), n - 1);
    }

    #[test]
    fn strip_line_numbers_from_messages() {
        assert_eq!(strip_line_numbers("bad value for column 1 at line 3. Row"), "bad value for column 1. Row");
        assert_eq!(
            strip_line_numbers("incorrect number of fields for line 12, expected"),
            "incorrect number of fields, expected"
        );
        assert_eq!(strip_line_numbers("at line x"), "at line x");
    }

    #[test]
    fn garbage_never_panics() {
        let nasty: [&[u8]; 14] = [
            b"\"",
            b"{",
            b"}",
            b"[",
            b"]]]",
            b"{\"id\":[1,{\"a\":}]}",
            b"\xff\xfe{}",
            b"\\",
            b"{\"id\":1}}",
            b"{\"name\":\"\\u12\"}",
            b"{\"id\":1e999}",
            b"null",
            b"{\"id\":-}",
            b",,,,",
        ];
        let mut seed: u64 = 42;
        let mut random = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u8
        };
        let mut data = Vec::new();
        for round in 0..400 {
            match round % 3 {
                0 => data.extend_from_slice(nasty[round % nasty.len()]),
                1 => data.extend_from_slice(b"{\"id\":7,\"name\":\"ok\"}"),
                _ => data.extend((0..round % 40).map(|_| random()).filter(|b| *b != b'\n')),
            }
            data.push(b'\n');
        }
        for format in [Format::Json, csv()] {
            let d = decode(&format, schema(), &String::from_utf8_lossy(&data), 1);
            let rows = d.batch.map_or(0, |b| b.num_rows());
            assert!(rows + d.bad.len() <= 400);
            let mut decoder = LineDecoder::new(&format, schema()).unwrap();
            let d = decoder.decode(&data, 1).unwrap();
            assert!(d.bad.windows(2).all(|w| w[0].line < w[1].line));
        }
        let d = decode(&Format::Json, schema(), &String::from_utf8_lossy(&data), 1);
        assert!(d.batch.unwrap().num_rows() >= 133);
    }

    #[test]
    fn nullability_enforced() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let d = decode(&Format::Json, schema, "{\"id\":1}\n{}\n", 1);
        assert_eq!(d.bad.len(), 1);
        assert_eq!(d.bad[0].line, 2);
    }

    fn projected(format: &Format, schema: SchemaRef, needed: &[usize], data: &str) -> Decoded {
        let mut decoder = LineDecoder::projected(format, schema, needed).expect("decoder");
        decoder.decode(data.as_bytes(), 1).expect("decode")
    }

    #[test]
    fn json_projection_nulls_unneeded_columns() {
        let data = "{\"id\":1,\"name\":\"a\",\"ts\":1000}\n{\"id\":2,\"name\":[1],\"ts\":2000}\n\
                    {\"id\":\"x\",\"ts\":3000}\n{\"id\":4,\"ts\":\"never\"}\n";
        let d = projected(&Format::Json, schema(), &[2, 0], data);
        assert_eq!(d.bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![3, 4], "bad in needed columns");
        let batch = d.batch.unwrap();
        assert_eq!(batch.schema(), schema());
        assert_eq!(ids(&batch), vec![1, 2], "a bad value in an unneeded column is accepted");
        assert_eq!(millis(&batch, 2), vec![Some(1000), Some(2000)]);
        assert_eq!(batch.column(1).null_count(), 2);
        assert_eq!(batch.column(1).data_type(), &DataType::Utf8);
    }

    #[test]
    fn csv_projection_nulls_unneeded_columns() {
        let data = "1,a,1000\n2,b,not a time\nzz,c,3\n4,d\n";
        let d = projected(&csv(), schema(), &[0], data);
        assert_eq!(d.bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![3, 4], "field count still checked");
        let batch = d.batch.unwrap();
        assert_eq!(batch.schema(), schema());
        assert_eq!(ids(&batch), vec![1, 2]);
        assert_eq!((batch.column(1).null_count(), batch.column(2).null_count()), (2, 2));
        let d = projected(&csv(), schema(), &[2], "zz,a,1000\n2,b,7\n");
        let batch = d.batch.unwrap();
        assert_eq!(millis(&batch, 2), vec![Some(1000), Some(7)], "timestamp parsed at its projected index");
        assert_eq!(batch.column(0).null_count(), 2);
    }

    #[test]
    fn projection_edge_cases() {
        let strict = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("must", DataType::Int64, false),
        ]));
        let d = projected(&Format::Json, strict.clone(), &[0], "{\"id\":1,\"must\":2}\n{\"id\":3}\n");
        assert_eq!(d.bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![2], "non-nullable always decoded");
        assert_eq!(d.batch.unwrap().column(1).as_primitive::<Int64Type>().value(0), 2);
        let d = projected(&Format::Json, schema(), &[], "{\"id\":1}\n{\"name\":\"x\"}\n\n");
        assert_eq!(d.batch.unwrap().num_rows(), 2, "rows still counted with no column needed");
        let all = projected(&Format::Json, schema(), &[0, 1, 2, 1], "{\"id\":1,\"name\":\"a\"}\n");
        assert_eq!(all.batch.unwrap().column(1).null_count(), 0);
        let e = LineDecoder::projected(&Format::Json, schema(), &[3]).err().unwrap();
        assert!(matches!(e, Error::Internal(_)), "{e}");
    }
}
