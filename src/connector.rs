//! Connectors: where rows come from. Transport (file today, Kafka next) is kept apart from
//! format (json, csv), so every transport speaks every format.
//!
//! The engine validates a stream's `WITH (...)` options here at CREATE time, and each view
//! pipeline opens its own [`SourceReader`] from them, resuming from the position saved in
//! its last checkpoint.

pub mod file;
pub mod format;

use std::collections::BTreeMap;

use arrow::datatypes::SchemaRef;

pub use file::{BadRecord, Poll};
use file::{FilePosition, FileSource};
use format::Format;

use crate::error::{Error, Result};

/// The `WITH (...)` options of a stream, keys lowercased.
pub type Options = BTreeMap<String, String>;

/// A source of record batches, polled by the source thread of a pipeline.
pub trait SourceReader: Send {
    /// Returns what is available now, without waiting; see [`Poll`].
    fn poll(&mut self, max_rows: usize) -> Result<Poll>;
    /// The position after everything returned so far, to store in a checkpoint.
    fn checkpoint(&self) -> Result<Vec<u8>>;
    /// Look for new input at the next poll without waiting for any polling interval.
    fn refresh(&mut self) {}
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
}

/// Checks a stream's options when it is created.
pub fn validate(options: &Options) -> Result<()> {
    match connector_name(options)? {
        "file" => {
            required(options, "path")?;
            Format::from_options(options)?;
            Ok(())
        }
        other => Err(Error::InvalidParameter(format!("unknown connector \"{other}\""))),
    }
}

/// Opens a reader for a stream with `options` and `schema`. `saved` is the checkpointed
/// position; `bounded` makes the end of the data the end of the stream.
pub fn open(
    options: &Options,
    schema: SchemaRef,
    saved: Option<Vec<u8>>,
    bounded: bool,
) -> Result<Box<dyn SourceReader>> {
    match connector_name(options)? {
        "file" => {
            let position: FilePosition = match saved {
                Some(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Internal(format!("cannot decode file position: {e}")))?,
                None => FilePosition::default(),
            };
            let format = Format::from_options(options)?;
            Ok(Box::new(FileSource::open(required(options, "path")?, format, schema, position, bounded)?))
        }
        other => Err(Error::InvalidParameter(format!("unknown connector \"{other}\""))),
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
