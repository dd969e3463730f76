//! The file source: reads newline-delimited records from a file, a directory or a glob.
//!
//! This module owns [`FileSource`], which the stream's source task polls for batches, and
//! [`FilePosition`], the resumable offset per file that checkpoints store as JSON. It is the
//! transport only: the bytes of whole lines go to [`LineDecoder`] (see `format.rs`) for
//! decoding. Files are read in name order, each to its current end before the next, in
//! large chunks cut at the last '\n'. In follow mode the path is re-listed at most every
//! [`RESCAN_INTERVAL`] to pick up appended lines and new files. It never sleeps or blocks
//! waiting for data (the caller does), and unreadable files are skipped with a warning.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};
use tracing::{debug, trace, warn};

use super::format::{Decoded, Format, LineDecoder};
use crate::error::{Error, Result};

/// How often, at most, a following source lists its path and checks files for growth.
pub const RESCAN_INTERVAL: Duration = Duration::from_millis(200);

/// Size of the read buffer; it grows only for a line longer than this.
const BUFFER_BYTES: usize = 4 << 20;

/// One rejected line of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The file, as listed from the source's path.
    pub file: String,
    /// 1-based line number in the file.
    pub line: u64,
    /// Why the line was rejected.
    pub reason: String,
}

/// Where a reader stands in each file; stored in checkpoints as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// Per file (named as listed from the source's path), what has been consumed.
    pub files: BTreeMap<String, FileOffset>,
}

/// What has been consumed of one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffset {
    /// Byte offset after the last whole line consumed.
    pub offset: u64,
    /// Number of lines consumed (good, bad, blank and header lines alike).
    pub lines: u64,
}

/// What one call to [`FileSource::poll`] found.
#[derive(Debug)]
pub enum Poll {
    /// Records, with the lines of the same chunk that were rejected.
    Data {
        /// The good records, at least one.
        batch: RecordBatch,
        /// The rejected lines between them.
        bad: Vec<BadRecord>,
    },
    /// A chunk with only bad lines.
    Bad(Vec<BadRecord>),
    /// Following and nothing new for now: poll again later.
    Idle,
    /// Bounded and everything has been read.
    End,
}

/// Reads records from the files of a path; see the module docs.
pub struct FileSource {
    path: String,
    decoder: LineDecoder,
    bounded: bool,
    position: FilePosition,
    /// Files known to have unread bytes, in name order.
    queue: VecDeque<String>,
    current: Option<OpenFile>,
    buffer: Buffer,
    /// Per file, the size at which it held only a partial line (follow mode).
    stalled: HashMap<String, u64>,
    /// Files already warned about, so a broken file is reported once.
    warned: HashSet<String>,
    last_scan: Option<Instant>,
}

/// The file being read.
struct OpenFile {
    name: String,
    file: File,
    /// Consumed so far (the buffer's first unconsumed byte is at `offset`).
    at: FileOffset,
    /// The last read returned end of file.
    eof: bool,
}

/// A chunk of whole lines in the buffer.
struct Chunk {
    len: usize,
    lines: u64,
}

impl FileSource {
    /// `path` is a file, a directory (all regular files in it, not recursive, hidden files
    /// skipped) or a glob. `bounded`: end of data is the end (for `sluice run`); otherwise
    /// follow. Reading resumes after `position`.
    pub fn open(path: &str, format: Format, schema: SchemaRef, position: FilePosition, bounded: bool) -> Result<Self> {
        if is_glob(path) {
            glob::Pattern::new(path)
                .map_err(|e| Error::InvalidParameter(format!("invalid value for option \"path\": \"{path}\": {e}")))?;
        }
        let decoder = LineDecoder::new(&format, schema)?;
        let mut source = FileSource {
            path: path.to_string(),
            decoder,
            bounded,
            position,
            queue: VecDeque::new(),
            current: None,
            buffer: Buffer::default(),
            stalled: HashMap::new(),
            warned: HashSet::new(),
            last_scan: None,
        };
        source.rescan();
        Ok(source)
    }

    /// Returns at most about `max_rows` rows of what is available now, without waiting; see
    /// [`Poll`]. Advances [`FileSource::position`] past everything returned.
    pub fn poll(&mut self, max_rows: usize) -> Result<Poll> {
        let max_rows = max_rows.max(1);
        loop {
            if self.current.is_none() && !self.open_next() {
                return Ok(if self.bounded { Poll::End } else { Poll::Idle });
            }
            match self.next_chunk(max_rows) {
                Ok(Some(chunk)) => {
                    if let Some(poll) = self.decode_chunk(chunk)? {
                        return Ok(poll);
                    }
                }
                Ok(None) if self.keep_following() => return Ok(Poll::Idle),
                Ok(None) => self.close_current(),
                Err(e) => {
                    if let Some(open) = self.current.take() {
                        self.warn_once(&open.name, "cannot read file; skipping it", &e);
                    }
                    self.buffer.clear();
                }
            }
        }
    }

    /// Makes the next poll look for appended lines and new files at once, instead of
    /// waiting for the rescan interval (used by `FLUSH`).
    pub fn rescan_now(&mut self) {
        self.last_scan = None;
    }

    /// The position after everything returned so far.
    pub fn position(&self) -> FilePosition {
        self.position.clone()
    }

    /// Whether to stay on the exhausted current file rather than move on: when following,
    /// nothing else is queued and it is not yet time to look for more.
    fn keep_following(&self) -> bool {
        !self.bounded && self.queue.is_empty() && !self.scan_due()
    }

    fn scan_due(&self) -> bool {
        self.last_scan.is_none_or(|t| t.elapsed() >= RESCAN_INTERVAL)
    }

    /// Makes the next queued file current, rescanning first when following and due.
    /// Returns false when there is nothing to read now.
    fn open_next(&mut self) -> bool {
        if self.queue.is_empty() && !self.bounded && self.scan_due() {
            self.rescan();
        }
        while let Some(name) = self.queue.pop_front() {
            let at = self.position.files.get(&name).copied().unwrap_or_default();
            match open_at(&name, at.offset) {
                Ok(file) => {
                    debug!(file = %name, offset = at.offset, line = at.lines, "reading file");
                    self.buffer.clear();
                    self.current = Some(OpenFile { name, file, at, eof: false });
                    return true;
                }
                Err(e) => self.warn_once(&name, "cannot open file; skipping it", &e),
            }
        }
        false
    }

    /// Leaves the current file; when following, remembers a trailing partial line so the
    /// file is not re-read until it grows.
    fn close_current(&mut self) {
        if let Some(open) = self.current.take() {
            if !self.buffer.is_empty() && !self.bounded {
                self.stalled.insert(open.name.clone(), open.at.offset + self.buffer.len() as u64);
            }
            trace!(file = %open.name, offset = open.at.offset, "file exhausted for now");
        }
        self.buffer.clear();
    }

    /// Lists the path and queues, in name order, the files with bytes beyond their position.
    /// Called only with an empty queue and no current file.
    fn rescan(&mut self) {
        self.last_scan = Some(Instant::now());
        for name in list_files(&self.path) {
            let size = match std::fs::metadata(&name) {
                Ok(meta) => meta.len(),
                Err(_) => continue, // gone since listing
            };
            let consumed = self.position.files.get(&name).map_or(0, |f| f.offset);
            if size < consumed {
                let error = format!("size {size} is below the consumed offset {consumed}");
                self.warn_once(&name, "file shrank; skipping it", &error);
            } else if size > consumed && self.stalled.get(&name) != Some(&size) {
                self.queue.push_back(name);
            }
        }
        self.queue.make_contiguous().sort();
    }

    /// The next chunk of whole lines of the current file, or `None` when it has no whole
    /// line left now (at end of file in bounded mode a last line without '\n' counts).
    fn next_chunk(&mut self, max_rows: usize) -> std::io::Result<Option<Chunk>> {
        let Some(open) = self.current.as_mut() else {
            return Ok(None);
        };
        if open.eof && !self.bounded {
            open.eof = false; // a new poll: the file may have grown
        }
        loop {
            if !open.eof && self.buffer.wants_more() {
                open.eof = self.buffer.fill(&mut open.file)?;
            }
            if let Some((len, lines)) = self.buffer.whole_lines(max_rows) {
                return Ok(Some(Chunk { len, lines }));
            }
            if open.eof {
                let tail = self.buffer.len();
                return Ok((self.bounded && tail > 0).then_some(Chunk { len: tail, lines: 1 }));
            }
            if self.buffer.is_full() {
                self.buffer.grow();
            }
            open.eof = self.buffer.fill(&mut open.file)?;
        }
    }

    /// Decodes a chunk of the current file and advances the position over it. `None` when
    /// the chunk held nothing to return (blank lines, a header).
    fn decode_chunk(&mut self, chunk: Chunk) -> Result<Option<Poll>> {
        let Some(open) = self.current.as_mut() else {
            return Ok(None);
        };
        let Decoded { batch, bad } = self.decoder.decode(self.buffer.take(chunk.len), open.at.lines + 1)?;
        open.at.offset += chunk.len as u64;
        open.at.lines += chunk.lines;
        trace!(file = %open.name, offset = open.at.offset, lines = chunk.lines, bad = bad.len(), "chunk decoded");
        self.position.files.insert(open.name.clone(), open.at);
        let bad: Vec<BadRecord> =
            bad.into_iter().map(|b| BadRecord { file: open.name.clone(), line: b.line, reason: b.reason }).collect();
        if !bad.is_empty() {
            debug!(file = %open.name, count = bad.len(), "bad lines skipped");
        }
        Ok(match batch {
            Some(batch) if batch.num_rows() > 0 => Some(Poll::Data { batch, bad }),
            _ if !bad.is_empty() => Some(Poll::Bad(bad)),
            _ => None,
        })
    }

    /// Logs a problem with a file once per file, so a broken file does not flood the log.
    fn warn_once(&mut self, name: &str, what: &str, error: &dyn std::fmt::Display) {
        if self.warned.insert(name.to_string()) {
            warn!(file = %name, error = %error, "{what}");
        }
    }
}

fn open_at(name: &str, offset: u64) -> std::io::Result<File> {
    let mut file = File::open(name)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    file.seek(SeekFrom::Start(offset))?;
    Ok(file)
}

/// The read buffer: bytes `start..end` are read but not yet consumed.
#[derive(Default)]
struct Buffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl Buffer {
    fn len(&self) -> usize {
        self.end - self.start
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn is_full(&self) -> bool {
        self.len() == self.data.len()
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Less than half a buffer is waiting: worth reading more before decoding.
    fn wants_more(&self) -> bool {
        self.len() < BUFFER_BYTES / 2
    }

    fn grow(&mut self) {
        let size = (self.data.len() * 2).max(BUFFER_BYTES);
        self.data.resize(size, 0);
    }

    /// Moves the unconsumed bytes to the front and reads until the buffer is full or the
    /// file ends. Returns whether it hit the end of the file.
    fn fill(&mut self, file: &mut File) -> std::io::Result<bool> {
        if self.data.is_empty() {
            self.data = vec![0; BUFFER_BYTES];
        }
        self.data.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        while self.end < self.data.len() {
            match file.read(&mut self.data[self.end..]) {
                Ok(0) => return Ok(true),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// The length and line count of the longest prefix of at most `max_lines` whole lines.
    fn whole_lines(&self, max_lines: usize) -> Option<(usize, u64)> {
        let bytes = &self.data[self.start..self.end];
        let mut cut = None;
        let mut lines = 0;
        for i in memchr::memchr_iter(b'\n', bytes) {
            cut = Some(i + 1);
            lines += 1;
            if lines == max_lines {
                break;
            }
        }
        cut.map(|len| (len, lines as u64))
    }

    /// Consumes and returns the next `len` bytes.
    fn take(&mut self, len: usize) -> &[u8] {
        let start = self.start;
        self.start += len;
        &self.data[start..self.start]
    }
}

fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// The regular, non-hidden files of `path` (a file, a directory or a glob), sorted by name.
/// Listing problems are logged, not returned: a path matching nothing yet is fine.
fn list_files(path: &str) -> Vec<String> {
    let mut names = if is_glob(path) {
        list_glob(path)
    } else {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => list_dir(path),
            Ok(_) => vec![path.to_string()],
            Err(_) => Vec::new(),
        }
    };
    names.sort();
    names
}

fn list_dir(dir: &str) -> Vec<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            warn!(path = %dir, error = %e, "cannot list directory");
            return Vec::new();
        }
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .filter(|entry| std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()))
        .filter_map(|entry| entry.path().to_str().map(str::to_string))
        .collect()
}

fn list_glob(pattern: &str) -> Vec<String> {
    let options = glob::MatchOptions { require_literal_leading_dot: true, ..Default::default() };
    let Ok(paths) = glob::glob_with(pattern, options) else {
        return Vec::new();
    };
    paths
        .filter_map(|p| p.ok())
        .filter(|p| p.is_file() && !is_hidden(p))
        .filter_map(|p| p.to_str().map(str::to_string))
        .collect()
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use std::io::Write;
    use std::sync::Arc;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]))
    }

    fn write(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn json_lines(ids: std::ops::Range<i64>) -> String {
        ids.map(|i| format!("{{\"id\":{i}}}\n")).collect()
    }

    fn open(path: &Path, position: FilePosition, bounded: bool) -> FileSource {
        FileSource::open(path.to_str().unwrap(), Format::Json, schema(), position, bounded).unwrap()
    }

    /// Polls until `Idle` or `End`, collecting ids, bad records and the final poll.
    fn drain(source: &mut FileSource, max_rows: usize) -> (Vec<i64>, Vec<BadRecord>, Poll) {
        let mut ids = Vec::new();
        let mut bad = Vec::new();
        loop {
            match source.poll(max_rows).unwrap() {
                Poll::Data { batch, bad: b } => {
                    assert!(batch.num_rows() <= max_rows);
                    ids.extend(batch.column(0).as_primitive::<Int64Type>().values().iter());
                    bad.extend(b);
                }
                Poll::Bad(b) => bad.extend(b),
                end => return (ids, bad, end),
            }
        }
    }

    fn wait_rescan() {
        std::thread::sleep(RESCAN_INTERVAL + Duration::from_millis(20));
    }

    #[test]
    fn source_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<FileSource>();
    }

    #[test]
    fn reads_a_file_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        write(&path, &json_lines(0..10));
        let mut source = open(&path, FilePosition::default(), true);
        let (ids, bad, end) = drain(&mut source, 3);
        assert_eq!(ids, (0..10).collect::<Vec<_>>());
        assert!(bad.is_empty());
        assert!(matches!(end, Poll::End));
        let name = path.to_str().unwrap().to_string();
        let expected = FileOffset { offset: std::fs::metadata(&path).unwrap().len(), lines: 10 };
        assert_eq!(source.position().files.get(&name), Some(&expected));
    }

    #[test]
    fn bad_lines_reported_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        write(&path, "{\"id\":1}\nnope\n{\"id\":3}\n\n{\"id\":\"x\"}\n{\"id\":6}\n");
        let mut source = open(&path, FilePosition::default(), true);
        let (ids, bad, _) = drain(&mut source, 100);
        assert_eq!(ids, vec![1, 3, 6]);
        let lines: Vec<_> = bad.iter().map(|b| (b.file.as_str(), b.line)).collect();
        let name = path.to_str().unwrap();
        assert_eq!(lines, vec![(name, 2), (name, 5)]);
        assert_eq!(source.position().files[name].lines, 6);
    }

    #[test]
    fn chunk_of_only_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        write(&path, "x\ny\n{\"id\":3}\n");
        let mut source = open(&path, FilePosition::default(), true);
        match source.poll(2).unwrap() {
            Poll::Bad(bad) => {
                assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![1, 2])
            }
            other => panic!("expected bad lines, got {other:?}"),
        }
        let (ids, _, _) = drain(&mut source, 2);
        assert_eq!(ids, vec![3]);
    }

    #[test]
    fn resumes_from_position_without_loss_or_repeat() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.jsonl"), &json_lines(0..25));
        write(&dir.path().join("b.jsonl"), &json_lines(25..50));
        let mut seen: Vec<i64> = Vec::new();
        let mut position = FilePosition::default();
        loop {
            // Reopen after every poll, as after a crash and restore from a checkpoint.
            let json = serde_json::to_string(&position).unwrap();
            let restored: FilePosition = serde_json::from_str(&json).unwrap();
            assert_eq!(restored, position);
            let mut source = open(dir.path(), restored, true);
            match source.poll(7).unwrap() {
                Poll::Data { batch, .. } => seen.extend(batch.column(0).as_primitive::<Int64Type>().values().iter()),
                Poll::End => break,
                other => panic!("unexpected {other:?}"),
            }
            position = source.position();
        }
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert_eq!(position.files.values().map(|f| f.lines).collect::<Vec<_>>(), vec![25, 25]);
    }

    #[test]
    fn follows_appends_and_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        write(&a, &json_lines(0..3));
        let mut source = open(dir.path(), FilePosition::default(), false);
        let (ids, _, end) = drain(&mut source, 100);
        assert_eq!(ids, vec![0, 1, 2]);
        assert!(matches!(end, Poll::Idle));
        write(&a, &json_lines(3..5));
        let (ids, _, _) = drain(&mut source, 100);
        assert_eq!(ids, vec![3, 4], "an append to the file being followed is seen at once");
        write(&dir.path().join("b.jsonl"), &json_lines(5..7));
        write(&a, &json_lines(7..8));
        wait_rescan();
        let (ids, _, end) = drain(&mut source, 100);
        assert_eq!(ids, vec![7, 5, 6]);
        assert!(matches!(end, Poll::Idle));
        write(&a, &json_lines(8..9));
        wait_rescan();
        let (ids, _, _) = drain(&mut source, 100);
        assert_eq!(ids, vec![8]);
    }

    #[test]
    fn partial_last_line_waits_when_following() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        write(&path, "{\"id\":1}\n{\"id\":");
        let mut source = open(&path, FilePosition::default(), false);
        let (ids, bad, end) = drain(&mut source, 100);
        assert_eq!((ids, bad.len()), (vec![1], 0));
        assert!(matches!(end, Poll::Idle));
        wait_rescan();
        assert!(matches!(source.poll(100).unwrap(), Poll::Idle));
        let name = path.to_str().unwrap();
        assert_eq!(source.position().files[name], FileOffset { offset: 9, lines: 1 });
        write(&path, "2}\n{\"id\":3}");
        wait_rescan();
        let (ids, bad, _) = drain(&mut source, 100);
        assert_eq!((ids, bad.len()), (vec![2], 0));
        write(&path, "\n");
        let (ids, _, _) = drain(&mut source, 100);
        assert_eq!(ids, vec![3]);
        assert_eq!(source.position().files[name].lines, 3);
    }

    #[test]
    fn partial_last_line_counts_when_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        write(&path, "{\"id\":1}\n{\"id\":2}");
        let mut source = open(&path, FilePosition::default(), true);
        let (ids, _, end) = drain(&mut source, 100);
        assert_eq!(ids, vec![1, 2]);
        assert!(matches!(end, Poll::End));
        let name = path.to_str().unwrap();
        assert_eq!(source.position().files[name], FileOffset { offset: 17, lines: 2 });
    }

    #[test]
    fn directory_skips_hidden_files_and_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("b.jsonl"), &json_lines(2..4));
        write(&dir.path().join("a.jsonl"), &json_lines(0..2));
        write(&dir.path().join(".hidden"), &json_lines(100..101));
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        write(&dir.path().join("sub").join("c.jsonl"), &json_lines(200..201));
        let mut source = open(dir.path(), FilePosition::default(), true);
        let (ids, _, _) = drain(&mut source, 100);
        assert_eq!(ids, vec![0, 1, 2, 3]);
    }

    #[test]
    fn glob_selects_matching_files() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("x-2.jsonl"), &json_lines(2..3));
        write(&dir.path().join("x-1.jsonl"), &json_lines(1..2));
        write(&dir.path().join("y-3.jsonl"), &json_lines(3..4));
        write(&dir.path().join(".x-4.jsonl"), &json_lines(4..5));
        let pattern = dir.path().join("x-*.jsonl");
        let mut source = open(&pattern, FilePosition::default(), true);
        let (ids, _, _) = drain(&mut source, 100);
        assert_eq!(ids, vec![1, 2]);
        let bad = FileSource::open("/tmp/[", Format::Json, schema(), FilePosition::default(), true);
        assert!(matches!(bad, Err(Error::InvalidParameter(_))));
    }

    #[test]
    fn missing_path_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later");
        let mut bounded = open(&path, FilePosition::default(), true);
        assert!(matches!(bounded.poll(10).unwrap(), Poll::End));
        let mut following = open(&path, FilePosition::default(), false);
        assert!(matches!(following.poll(10).unwrap(), Poll::Idle));
        std::fs::create_dir(&path).unwrap();
        write(&path.join("a.jsonl"), &json_lines(0..2));
        wait_rescan();
        let (ids, _, _) = drain(&mut following, 10);
        assert_eq!(ids, vec![0, 1]);
    }

    #[test]
    fn vanished_file_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.jsonl"), &json_lines(0..2));
        write(&dir.path().join("b.jsonl"), &json_lines(2..4));
        let mut source = open(dir.path(), FilePosition::default(), true);
        std::fs::remove_file(dir.path().join("a.jsonl")).unwrap();
        let (ids, _, end) = drain(&mut source, 100);
        assert_eq!(ids, vec![2, 3]);
        assert!(matches!(end, Poll::End));
    }

    #[test]
    fn csv_header_per_file() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.csv"), "id\n1\n2\n");
        write(&dir.path().join("b.csv"), "id\n3\n");
        let format = Format::Csv { header: true, delimiter: b',' };
        let open = |position| {
            FileSource::open(dir.path().to_str().unwrap(), format.clone(), schema(), position, true).unwrap()
        };
        let mut source = open(FilePosition::default());
        let (ids, bad, _) = drain(&mut source, 1);
        assert_eq!((ids, bad.len()), (vec![1, 2, 3], 0));
        let mut first = open(FilePosition::default());
        let (ids, _, _) = drain(&mut first, 2);
        assert_eq!(ids.len(), 3);
        let name = dir.path().join("a.csv").to_str().unwrap().to_string();
        let mut position = FilePosition::default();
        position.files.insert(name, FileOffset { offset: 5, lines: 2 });
        let (ids, bad, _) = drain(&mut open(position), 10);
        assert_eq!((ids, bad.len()), (vec![2, 3], 0));
    }

    #[test]
    fn long_lines_and_large_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let long = "y".repeat(BUFFER_BYTES + 10);
        let mut text = json_lines(0..1);
        text.push_str(&format!("{{\"id\":1,\"pad\":\"{long}\"}}\n"));
        text.push_str(&json_lines(2..200_000));
        write(&path, &text);
        let mut source = open(&path, FilePosition::default(), true);
        let (ids, bad, _) = drain(&mut source, 50_000);
        assert!(bad.is_empty());
        assert_eq!(ids, (0..200_000).collect::<Vec<_>>());
        assert_eq!(source.position().files[path.to_str().unwrap()].offset, text.len() as u64);
    }
}
