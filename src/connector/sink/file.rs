//! The file sink: appends one line per record to a file it creates, exactly once.
//!
//! Lines are written as records arrive. Before a checkpoint commits, the file is flushed
//! and synced and its length goes into the checkpoint; on restart the file is cut back to
//! the length of the last checkpoint, so lines of an epoch that did not commit are written
//! again by the replay, never twice. A delete (from an updating view) is written as the key
//! object with `"_deleted": true`.
//!
//! The sink only ever cuts back a file it created itself: at its first start it creates the
//! file (refusing one that exists, unless it is empty) and at once records the file's
//! identity (device and inode) in the store, outside the checkpoint protocol, so a crash
//! before the first checkpoint still finds the file its own. At a restart, a file replaced
//! by another one, or shorter than the last checkpoint, is an error (the pipeline fails and
//! the file is left alone); a file removed is created again, empty.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write as _};
use std::path::PathBuf;

use tracing::warn;

use super::{Entry, Record, SinkState, SinkWriter};
use crate::error::{Error, Result};

/// State key of the committed file length.
const LENGTH: &[u8] = b"len";

/// State key of the identity of the file the sink created.
const IDENTITY: &[u8] = b"file";

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

    /// Creates the file (or adopts an empty one) and records it as the sink's own.
    fn create(&mut self, state: &dyn SinkState) -> Result<File> {
        let file = match OpenOptions::new().create_new(true).append(true).open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => self.adopt_empty()?,
            Err(e) => return Err(self.io(e)),
        };
        self.length = 0;
        let identity = identity(&file.metadata().map_err(|e| self.io(e))?);
        let length = self.length.to_be_bytes().to_vec();
        state.commit_now(vec![(state.key(IDENTITY), Some(identity)), (self.length_key.clone(), Some(length))])?;
        Ok(file)
    }

    /// An existing file at the path, if it is empty: nothing in it can be lost.
    fn adopt_empty(&self) -> Result<File> {
        let file = OpenOptions::new().append(true).open(&self.path).map_err(|e| self.io(e))?;
        if file.metadata().map_err(|e| self.io(e))?.len() > 0 {
            return Err(Error::DuplicateFile {
                message: format!("could not create file \"{}\": file exists", self.path.display()),
                hint: Some("A file sink writes only files it creates itself.".into()),
            });
        }
        Ok(file)
    }

    /// Opens the file the sink created before, checking it is still that file and holds
    /// at least the committed length. A file removed meanwhile is created again.
    fn reopen(&mut self, owned: Option<&[u8]>, state: &dyn SinkState) -> Result<File> {
        let file = match OpenOptions::new().append(true).open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                warn!(path = %self.path.display(), "sink file was removed; creating it again");
                return self.create(state);
            }
            Err(e) => return Err(self.io(e)),
        };
        let meta = file.metadata().map_err(|e| self.io(e))?;
        let path = self.path.display();
        if owned.is_some_and(|owned| owned != identity(&meta)) {
            return Err(Error::Connector(format!(
                "file \"{path}\" was replaced by another file since the sink wrote it; refusing to cut it back"
            )));
        }
        if meta.len() < self.length {
            return Err(Error::Connector(format!(
                "file \"{path}\" is shorter ({} bytes) than at the last checkpoint ({} bytes): it was changed outside Sluice",
                meta.len(),
                self.length
            )));
        }
        if owned.is_none() {
            // Written before sinks recorded their file: it is the sink's own.
            state.commit_now(vec![(state.key(IDENTITY), Some(identity(&meta)))])?;
        }
        Ok(file)
    }
}

/// Device and inode of a file, as stored under [`IDENTITY`].
fn identity(meta: &std::fs::Metadata) -> Vec<u8> {
    use std::os::unix::fs::MetadataExt;
    [meta.dev().to_be_bytes(), meta.ino().to_be_bytes()].concat()
}

impl SinkWriter for FileSink {
    fn open(&mut self, state: &dyn SinkState) -> Result<()> {
        self.length_key = state.key(LENGTH);
        let committed = match state.get(LENGTH)? {
            Some(bytes) => Some(u64::from_be_bytes(
                bytes.as_slice().try_into().map_err(|_| Error::Internal("bad file sink state".into()))?,
            )),
            None => None,
        };
        self.length = committed.unwrap_or(0);
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let owned = state.get(IDENTITY)?;
        let file = match (owned, committed) {
            (None, None) => self.create(state)?,
            (owned, _) => self.reopen(owned.as_deref(), state)?,
        };
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

    fn prepare(&mut self, _epoch: u64, writes: &mut Vec<Entry>) -> Result<()> {
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
    use std::io::Write as _;

    use super::*;
    use crate::state::{StateReader, Store};

    fn line(text: &str) -> Record {
        Record { key: None, value: Some(text.as_bytes().to_vec()) }
    }

    /// Opens a sink on `path` with the state of `store`, as a (re)started pipeline does.
    fn start(store: &Store, path: &std::path::Path) -> Result<FileSink> {
        let mut sink = FileSink::new(path.to_str().unwrap());
        sink.open(&StateReader { store, view: 7, operator: 1, shard: None })?;
        Ok(sink)
    }

    /// Prepares and commits a checkpoint, as the sink operator does.
    fn checkpoint(store: &Store, sink: &mut FileSink) {
        let mut writes = Vec::new();
        sink.prepare(1, &mut writes).unwrap();
        store.commit(writes).unwrap();
    }

    #[test]
    fn never_truncates_a_file_it_did_not_create() {
        let (dir, store) = (tempfile::tempdir().unwrap(), Store::temporary().unwrap());
        let path = dir.path().join("out.json");
        std::fs::write(&path, "precious\n").unwrap();
        let error = start(&store, &path).err().unwrap();
        assert_eq!(error.sqlstate(), "58P02");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious\n");
        std::fs::write(&path, "").unwrap();
        let mut sink = start(&store, &path).unwrap();
        sink.write(vec![line("1")]).unwrap();
        checkpoint(&store, &mut sink);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n", "an empty file is adopted");
    }

    #[test]
    fn recovery_cuts_back_its_own_file_even_before_the_first_checkpoint() {
        let (dir, store) = (tempfile::tempdir().unwrap(), Store::temporary().unwrap());
        let path = dir.path().join("sub/out.json");
        let mut sink = start(&store, &path).unwrap();
        sink.write(vec![line("lost")]).unwrap();
        sink.out().unwrap().flush().unwrap();
        drop(sink); // a crash before any checkpoint
        let mut sink = start(&store, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        sink.write(vec![line("a"), line("b")]).unwrap();
        checkpoint(&store, &mut sink);
        sink.write(vec![line("uncommitted")]).unwrap();
        sink.out().unwrap().flush().unwrap();
        drop(sink);
        let _sink = start(&store, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");
    }

    #[test]
    fn a_replaced_or_shortened_file_is_an_error_and_left_alone() {
        let (dir, store) = (tempfile::tempdir().unwrap(), Store::temporary().unwrap());
        let path = dir.path().join("out.json");
        let mut sink = start(&store, &path).unwrap();
        sink.write(vec![line("a"), line("b")]).unwrap();
        checkpoint(&store, &mut sink);
        drop(sink);
        // Moved away, not removed, so the new file cannot get the old one's inode back.
        std::fs::rename(&path, dir.path().join("out.json.1")).unwrap();
        std::fs::write(&path, "someone else's file, longer than ours\n").unwrap();
        let error = start(&store, &path).err().unwrap();
        assert!(error.to_string().contains("was replaced by another file"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "someone else's file, longer than ours\n");
        std::fs::remove_file(&path).unwrap();
        let mut sink = start(&store, &path).unwrap();
        sink.write(vec![line("c")]).unwrap();
        checkpoint(&store, &mut sink);
        drop(sink);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "c\n", "a removed file is created again");
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1).unwrap();
        let error = start(&store, &path).err().unwrap();
        assert!(error.to_string().contains("is shorter (1 bytes) than at the last checkpoint (2 bytes)"), "{error}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1, "not padded");
    }

    #[test]
    fn deletes_carry_the_key() {
        assert_eq!(deleted(br#"{"a":1}"#), br#"{"_deleted":true,"a":1}"#.to_vec());
        assert_eq!(deleted(b"{}"), br#"{"_deleted":true}"#.to_vec());
        assert_eq!(deleted(b"k1"), br#"{"_deleted":true,"key":"k1"}"#.to_vec());
    }
}
