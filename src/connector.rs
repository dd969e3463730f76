//! Connectors: where rows come from. Transport (file, Kafka) is kept apart from format
//! (json, csv), so every transport speaks every format; the built-in generators (`nexmark`,
//! `datagen`) make their rows in process.
//!
//! The engine validates a stream's `WITH (...)` options here at CREATE time, and each view
//! pipeline opens its own [`SourceReader`] from them, resuming from the position saved in
//! its last checkpoint.

pub mod avro;
pub mod datagen;
pub mod file;
pub mod file_access;
pub mod format;
pub mod generator;
pub mod kafka;
pub mod nexmark;
pub mod repartition;
pub mod sink;

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::datatypes::SchemaRef;

use arrow::record_batch::RecordBatch;
use file::{FilePosition, FileSource};
use format::Format;

use crate::error::{Error, Result};

/// The `WITH (...)` options of a stream, keys lowercased.
pub type Options = BTreeMap<String, String>;

/// The part of a stream one reader reads: in a cluster, a view over a Kafka topic runs as
/// one shard per partition, and shard `index` of `count` reads the partitions whose number
/// is `index` modulo `count` (partitions added later join a shard that way too). Every
/// other source is read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// This reader's shard.
    pub index: u16,
    /// How many shards share the stream.
    pub count: u16,
}

impl Slice {
    /// The whole stream.
    pub const WHOLE: Slice = Slice { index: 0, count: 1 };

    /// The shard's number for keys of its state: None for the whole stream.
    pub fn shard(self) -> Option<u16> {
        (self.count > 1).then_some(self.index)
    }

    /// Whether partition `partition` is this slice's.
    pub fn holds(self, partition: i32) -> bool {
        self.count <= 1 || partition.rem_euclid(i32::from(self.count)) == i32::from(self.index)
    }
}

/// One rejected input record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// Where it was: the file as listed from the source's path, or `topic/partition`.
    pub source: String,
    /// The 1-based line number in the file, or the message's offset.
    pub position: u64,
    /// Why it was rejected.
    pub reason: String,
}

/// What one call to [`SourceReader::poll`] found.
#[derive(Debug)]
pub enum Poll {
    /// Records, with the records of the same chunk that were rejected.
    Data {
        /// The good records, at least one.
        batch: RecordBatch,
        /// The rejected records between them.
        bad: Vec<BadRecord>,
        /// Which split of the source (Kafka partition; 0 for files) the batch comes from:
        /// watermarks are tracked per split.
        split: u32,
    },
    /// A chunk with only bad records.
    Bad(Vec<BadRecord>),
    /// Following and nothing new for now: poll again later.
    Idle,
    /// Nothing right now, but input the source knows of is still on its way (a Kafka
    /// fetch in flight after `FLUSH`): poll again soon, and do not consider the source
    /// caught up yet.
    Pending,
    /// The input's watermark moved to this (ms): for an input that says its watermark
    /// itself rather than having it derived from a column (a repartition topic).
    Watermark(i64),
    /// Bounded and everything has been read.
    End,
}

/// Where a source stands, for `SHOW SOURCES`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceStatus {
    /// Connection state, e.g. `reading`, `connecting`, or the last error.
    pub state: String,
    /// Per split (file, or partition).
    pub splits: Vec<SplitStatus>,
}

/// Where a source stands in one split.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SplitStatus {
    /// The file, or the partition number.
    pub split: String,
    /// Next line (files) or next offset (Kafka) to read.
    pub position: i64,
    /// Records between the position and the end known to the source, if known.
    pub lag: Option<i64>,
    /// Good records read from this split since the reader started, if counted.
    pub rows: Option<u64>,
    /// Bad records skipped in this split since the reader started, if counted.
    pub rejected: Option<u64>,
    /// Times the split was read again from its start because it was rotated (files).
    pub restarts: Option<u64>,
}

/// A source of record batches, polled by the source thread of a pipeline.
pub trait SourceReader: Send {
    /// Returns what is available now, without waiting long; see [`Poll`].
    fn poll(&mut self, max_rows: usize) -> Result<Poll>;
    /// The position after everything returned so far, to store in a checkpoint.
    fn checkpoint(&self) -> Result<Vec<u8>>;
    /// Look for new input at the next poll without waiting for any polling interval.
    fn refresh(&mut self) {}
    /// Where the reader stands.
    fn status(&self) -> SourceStatus;
    /// Splits the reader has started reading since the last call (all of them at first).
    /// Each holds the watermark back until it delivers rows or stays idle for the idle
    /// timeout, so the rows of a split that is slow to start are not late.
    fn new_splits(&mut self) -> Vec<u32> {
        Vec::new()
    }
}

impl SourceReader for FileSource {
    fn poll(&mut self, max_rows: usize) -> Result<Poll> {
        FileSource::poll(self, max_rows)
    }

    fn refresh(&mut self) {
        self.rescan_now();
    }

    fn checkpoint(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.position()).map_err(|e| Error::Internal(format!("cannot encode file position: {e}")))
    }

    fn status(&self) -> SourceStatus {
        let splits = (self.position().files.into_iter())
            .map(|(file, at)| SplitStatus {
                split: file,
                position: at.lines as i64,
                restarts: Some(at.restarts),
                ..SplitStatus::default()
            })
            .collect();
        SourceStatus { state: "reading".into(), splits }
    }
}

/// Checks a stream's options against its schema when it is created (or replayed).
pub fn validate(options: &Options, schema: &SchemaRef) -> Result<()> {
    match connector_name(options)? {
        "file" => {
            required(options, "path")?;
            Format::from_options(options)?;
        }
        "kafka" => kafka::check_options(options, schema)?,
        "nexmark" => nexmark::check_options(options, schema)?,
        "datagen" => datagen::check_options(options, schema)?,
        other => return Err(Error::InvalidParameter(format!("unknown connector \"{other}\""))),
    }
    if idle_advance(options)? && idle_timeout(options)?.is_none() {
        return Err(Error::InvalidParameter("option \"idle_advance\" needs an \"idle_timeout\"".into()));
    }
    Ok(())
}

/// The options of a file stream or table: each known, and each applying to its format.
/// Checked for new streams only, so one created before a check existed still starts.
pub fn check_file_options(options: &Options) -> Result<()> {
    generator::check_known(options, "file", &["path", "format", "header", "delimiter", "idle_advance"])?;
    let format = Format::from_options(options)?;
    let csv_only = ["header", "delimiter"];
    match (format, csv_only.iter().find(|o| options.contains_key(**o))) {
        (Format::Json, Some(option)) => Err(Error::InvalidParameter(format!(
            "option \"{option}\" applies only to format 'csv', not to format 'json'"
        ))),
        _ => Ok(()),
    }
}

/// `idle_advance = 'true'`: once the whole source has had no input for its idle timeout,
/// the watermark advances with processing time, so windows close on a quiet stream.
pub fn idle_advance(options: &Options) -> Result<bool> {
    match options.get("idle_advance").map(|v| v.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" || v == "on" => Ok(true),
        Some(v) if v == "false" || v == "off" => Ok(false),
        Some(v) => Err(Error::InvalidParameter(format!(
            "invalid value for option \"idle_advance\": \"{v}\" (expected true or false)"
        ))),
    }
}

/// Checks what a new stream refers to outside Sluice (the Kafka topic exists). Blocks for
/// up to a few seconds; call it off the async runtime.
pub fn check_external(options: &Options, schema: &SchemaRef) -> Result<()> {
    match connector_name(options)? {
        "kafka" => kafka::check(options, schema),
        _ => Ok(()),
    }
}

/// How many shards a view reading only this stream can run as: one per partition of a
/// Kafka topic (asked of its brokers: blocking), one for any other source.
pub fn partition_count(options: &Options) -> Result<usize> {
    match connector_name(options)? {
        "kafka" => kafka::partition_count(options),
        _ => Ok(1),
    }
}

/// `idle_timeout`: after how long without input a split (a Kafka partition) stops holding
/// the watermark back. Kafka streams default to 5 seconds; `'0'` turns it off.
pub fn idle_timeout(options: &Options) -> Result<Option<Duration>> {
    let default = (connector_name(options)? == "kafka").then_some(Duration::from_secs(5));
    match options.get("idle_timeout") {
        None => Ok(default),
        Some(text) => match parse_duration(text)? {
            d if d.is_zero() => Ok(None),
            d => Ok(Some(d)),
        },
    }
}

/// A duration such as `'500ms'`, `'5s'`, `'5 seconds'`, `'2m'`; a bare number is milliseconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || Error::InvalidParameter(format!("invalid duration: \"{text}\" (expected e.g. '500ms', '5s' or '2m')"));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let millis = match unit.trim() {
        "" | "ms" | "millisecond" | "milliseconds" => n,
        "s" | "second" | "seconds" => n * 1_000,
        "m" | "min" | "minute" | "minutes" => n * 60_000,
        _ => return Err(bad()),
    };
    Ok(Duration::from_millis(millis))
}

/// The path a file stream or sink with `options` reads or writes, if it is one.
pub fn file_path(options: &Options) -> Option<&str> {
    match options.get("connector").map(String::as_str) {
        Some("file") => options.get("path").map(String::as_str),
        _ => None,
    }
}

/// Opens a reader for a stream with `options` and `schema`. `saved` is the checkpointed
/// position; `bounded` makes the end of the data (for Kafka: the end offsets when the
/// reader starts) the end of the stream.
pub fn open(
    options: &Options,
    schema: SchemaRef,
    saved: Option<Vec<u8>>,
    bounded: bool,
    slice: Slice,
) -> Result<Box<dyn SourceReader>> {
    let name = connector_name(options)?;
    if name == "repartition" {
        return Ok(Box::new(repartition::RepartitionReader::open(options, saved, slice.index)?));
    }
    if slice != Slice::WHOLE && name != "kafka" {
        return Err(Error::Internal(format!("a \"{name}\" stream cannot be read in shards")));
    }
    match name {
        "file" => {
            let position: FilePosition = decode_position(saved, "file")?;
            let format = Format::from_options(options)?;
            Ok(Box::new(FileSource::open(required(options, "path")?, format, schema, position, bounded)?))
        }
        "kafka" => {
            let position: kafka::KafkaPosition = decode_position(saved, "kafka")?;
            Ok(Box::new(kafka::KafkaSource::open(options, schema, position, bounded)?.sliced(slice)))
        }
        "nexmark" => Ok(Box::new(nexmark::NexmarkSource::open(options, schema, saved, bounded)?)),
        "datagen" => Ok(Box::new(datagen::DatagenSource::open(options, schema, saved, bounded)?)),
        other => Err(Error::InvalidParameter(format!("unknown connector \"{other}\""))),
    }
}

fn decode_position<T: serde::de::DeserializeOwned + Default>(saved: Option<Vec<u8>>, what: &str) -> Result<T> {
    match saved {
        Some(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| Error::Internal(format!("cannot decode {what} position: {e}")))
        }
        None => Ok(T::default()),
    }
}

fn connector_name(options: &Options) -> Result<&str> {
    options
        .get("connector")
        .map(String::as_str)
        .ok_or_else(|| Error::InvalidParameter("missing option \"connector\"".into()))
}

fn required<'a>(options: &'a Options, key: &str) -> Result<&'a str> {
    options.get(key).map(String::as_str).ok_or_else(|| Error::InvalidParameter(format!("missing option \"{key}\"")))
}
