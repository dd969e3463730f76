//! The file sink: appends one line per record to a file, exactly once.
//!
//! Lines are written as records arrive. Before a checkpoint commits, the file is flushed
//! and synced and its length goes into the checkpoint; on restart the file is cut back to
//! the length of the last checkpoint, so lines of an epoch that did not commit are written
//! again by the replay, never twice. A delete (from an updating view) is written as the key
//! object with `"_deleted": true`.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::PathBuf;

use super::{Record, SinkWriter};
use crate::dataflow::StateReader;
use crate::error::{Error, Result};
use crate::state::Write;

/// State key of the committed file length.
const LENGTH: &[u8] = b"len";

/// Appends records to one file.
pub struct FileSink {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    length: u64,
    length_key: Vec<u8>,
}

impl FileSink {
    /// A sink writing to `path` (created if missing).
    pub fn new(path: &str) -> FileSink {
        FileSink { path: PathBuf::from(path), out: None, length: 0, length_key: Vec::new() }
    }

    fn out(&mut self) -> Result<&mut BufWriter<File>> {
        self.out.as_mut().ok_or_else(|| Error::Internal("file sink used before open".into()))
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::Connector(format!("cannot write \"{}\": {e}", self.path.display()))
    }
}

impl SinkWriter for FileSink {
    fn open(&mut self, state: &StateReader<'_>) -> Result<()> {
        self.length_key = state.key(LENGTH);
        self.length = match state.get(LENGTH)? {
            Some(bytes) => u64::from_be_bytes(
                bytes.as_slice().try_into().map_err(|_| Error::Internal("bad file sink state".into()))?,
            ),
            None => 0,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let file = OpenOptions::new().create(true).append(true).read(true).open(&self.path).map_err(|e| self.io(e))?;
        // Lines after the last checkpoint belong to an epoch that did not commit.
        file.set_len(self.length).map_err(|e| self.io(e))?;
        self.out = Some(BufWriter::with_capacity(1 << 20, file));
        Ok(())
    }

    fn write(&mut self, records: Vec<Record>) -> Result<()> {
        let path = self.path.clone();
        let io = |e: std::io::Error| Error::Connector(format!("cannot write \"{}\": {e}", path.display()));
        let mut written = 0u64;
        let out = self.out()?;
        for record in records {
            let line = match (record.value, record.key) {
                (Some(value), _) => value,
                (None, Some(key)) => deleted(&key),
                (None, None) => continue,
            };
            out.write_all(&line).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
            written += line.len() as u64 + 1;
        }
        self.length += written;
        Ok(())
    }

    fn prepare(&mut self, _epoch: u64, writes: &mut Vec<Write>) -> Result<()> {
        let path = self.path.clone();
        let io = |e: std::io::Error| Error::Connector(format!("cannot write \"{}\": {e}", path.display()));
        let out = self.out()?;
        out.flush().map_err(io)?;
        out.get_ref().sync_data().map_err(io)?;
        writes.push((self.length_key.clone(), Some(self.length.to_be_bytes().to_vec())));
        Ok(())
    }

    fn committed(&mut self, _epoch: u64) -> Result<()> {
        Ok(())
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }
}

/// The line of a delete: the key object with `"_deleted": true` (a bare key becomes
/// `{"_deleted": true, "key": ...}`).
fn deleted(key: &[u8]) -> Vec<u8> {
    match key.strip_prefix(b"{") {
        Some(b"}") => b"{\"_deleted\":true}".to_vec(),
        Some(rest) => [&b"{\"_deleted\":true,"[..], rest].concat(),
        None => {
            let text = serde_json::Value::String(String::from_utf8_lossy(key).into_owned());
            format!("{{\"_deleted\":true,\"key\":{text}}}").into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_carry_the_key() {
        assert_eq!(deleted(br#"{"a":1}"#), br#"{"_deleted":true,"a":1}"#.to_vec());
        assert_eq!(deleted(b"{}"), br#"{"_deleted":true}"#.to_vec());
        assert_eq!(deleted(b"k1"), br#"{"_deleted":true,"key":"k1"}"#.to_vec());
    }
}
