//! The file source: reads newline-delimited records from a file, a directory or a glob.
//!
//! This module owns [`FileSource`], which the stream's source task polls for batches, and
//! [`FilePosition`], the resumable offset per file that checkpoints store as JSON. It is the
//! transport only: the bytes of whole lines go to [`LineDecoder`] (see `format.rs`) for
//! decoding. Files are read in name order, each to its current end before the next, in
//! large blocks cut into chunks of whole lines. In follow mode the file being read is read
//! on as it grows, and the path is re-listed at most every [`RESCAN_INTERVAL`] to pick up
//! new files and lines appended to others; the file being read stays open across a
//! re-listing that finds nothing else to read. It never sleeps or
//! blocks waiting for new data (the caller does), and unreadable files are skipped with a
//! warning.
//!
//! Reading is cheap and decoding is not, so decoding runs on a small pool of worker threads
//! ([`DEFAULT_DECODERS`], see [`FileSource::with_decoders`]), each with its own decoder.
//! The polling thread reads chunk k, sends it to worker k mod n, and takes the results back
//! from the workers in the same round-robin order, so batches come out in file order whatever
//! the number of workers. At most [`CHUNKS_PER_DECODER`] chunks per worker are in flight,
//! which bounds memory. Two positions are kept: the read one (where the next chunk starts,
//! ahead by the chunks in flight) and the returned one, which advances only when the caller
//! receives a chunk's result; only the latter is checkpointed, so a checkpoint never covers
//! rows not yet returned and a restored source neither skips nor repeats a line. `poll` may
//! wait for a decode in flight, never for new input. Dropping the source stops and joins the
//! workers.
//!
//! A projection ([`FileSource::with_projection`]) decodes only the columns the pipeline
//! needs; the others come out all null. A line that is bad only in an unneeded column is
//! then accepted (see `format.rs`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tracing::{debug, trace, warn};

mod rotation;

use super::file_access::{glob_base, is_glob};
use super::format::{Decoded, Format, LineDecoder};
use super::{BadRecord, Poll};
use crate::error::{Error, Result};

/// How often, at most, a following source lists its path and checks files for growth.
pub const RESCAN_INTERVAL: Duration = Duration::from_millis(200);

/// Decoder threads of a source unless [`FileSource::with_decoders`] says otherwise.
pub const DEFAULT_DECODERS: usize = 2;

/// Chunks in flight per decoder thread: one being decoded, one waiting.
pub const CHUNKS_PER_DECODER: usize = 2;

/// Size of a read block; a block grows only for a line longer than this.
const BUFFER_BYTES: usize = 4 << 20;

/// Where a reader stands in each file; stored in checkpoints as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePosition {
    /// Per file (named as listed from the source's path), what has been consumed.
    pub files: BTreeMap<String, FileOffset>,
}

/// What has been consumed of one file, and how to tell that file from a rotated one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOffset {
    /// Byte offset after the last whole line consumed.
    pub offset: u64,
    /// Number of lines consumed (good, bad, blank and header lines alike).
    pub lines: u64,
    /// Device of the file read (0: not known yet).
    #[serde(default)]
    pub dev: u64,
    /// Inode of the file read (0: not known yet).
    #[serde(default)]
    pub ino: u64,
    /// How many leading bytes the fingerprint covers (see `rotation.rs`).
    #[serde(default)]
    pub head_len: u64,
    /// Fingerprint of the file's first `head_len` bytes.
    #[serde(default)]
    pub head_hash: u64,
    /// Times the file was read again from its start after it was rotated.
    #[serde(default)]
    pub restarts: u64,
}

/// Reads records from the files of a path; see the module docs.
pub struct FileSource {
    path: String,
    format: Format,
    schema: SchemaRef,
    /// The columns to decode; `None` for all.
    projection: Option<Vec<usize>>,
    bounded: bool,
    /// After everything returned by `poll`: what checkpoints store.
    position: FilePosition,
    /// After everything read and sent to the decoders: ahead of `position` by the chunks in
    /// flight. Listing and opening files go by this one.
    read: FilePosition,
    /// Files known to have unread bytes, in name order.
    queue: VecDeque<String>,
    current: Option<OpenFile>,
    buffer: Buffer,
    /// Per file, the size at which it held only a partial line (follow mode).
    stalled: HashMap<String, u64>,
    /// Files already warned about, so a broken file is reported once.
    warned: HashSet<String>,
    last_scan: Option<Instant>,
    decoders: Decoders,
    /// The chunks sent to the decoders whose results are not yet returned, oldest first.
    in_flight: VecDeque<InFlight>,
}

/// The file being read.
struct OpenFile {
    name: String,
    file: File,
    /// Read so far (the buffer's first byte is at `offset`).
    at: FileOffset,
    /// The last read returned end of file.
    eof: bool,
}

/// A chunk of whole lines cut from the buffer.
struct Chunk {
    data: Bytes,
    lines: u64,
}

/// A chunk being decoded: where its file's position goes when its result is returned.
struct InFlight {
    file: String,
    after: FileOffset,
}

impl FileSource {
    /// `path` is a file, a directory (all regular files in it, not recursive, hidden files
    /// skipped) or a glob. `bounded`: end of data is the end (for `sluice run`); otherwise
    /// follow. Reading resumes after `position`. Decodes all columns on
    /// [`DEFAULT_DECODERS`] threads.
    pub fn open(path: &str, format: Format, schema: SchemaRef, position: FilePosition, bounded: bool) -> Result<Self> {
        if is_glob(path) {
            glob::Pattern::new(path)
                .map_err(|e| Error::InvalidParameter(format!("invalid value for option \"path\": \"{path}\": {e}")))?;
        }
        let decoders = Decoders::start(LineDecoder::new(&format, schema.clone())?, DEFAULT_DECODERS)?;
        let mut source = FileSource {
            path: path.to_string(),
            format,
            schema,
            projection: None,
            bounded,
            read: position.clone(),
            position,
            queue: VecDeque::new(),
            current: None,
            buffer: Buffer::default(),
            stalled: HashMap::new(),
            warned: HashSet::new(),
            last_scan: None,
            decoders,
            in_flight: VecDeque::new(),
        };
        source.rescan();
        Ok(source)
    }

    /// Decodes on `threads` worker threads; 0 decodes on the polling thread. Call before the
    /// first poll.
    pub fn with_decoders(mut self, threads: usize) -> Result<Self> {
        self.restart_decoders(threads)?;
        Ok(self)
    }

    /// Decodes only the columns `needed` (indexes into the schema); every other column comes
    /// out all null, so batches keep the full schema. Call before the first poll.
    pub fn with_projection(mut self, needed: &[usize]) -> Result<Self> {
        self.projection = Some(needed.to_vec());
        self.restart_decoders(self.decoders.threads())?;
        Ok(self)
    }

    fn restart_decoders(&mut self, threads: usize) -> Result<()> {
        if !self.in_flight.is_empty() {
            return Err(Error::Internal("file source decoders changed while chunks are in flight".into()));
        }
        let decoder = match &self.projection {
            Some(needed) => LineDecoder::projected(&self.format, self.schema.clone(), needed)?,
            None => LineDecoder::new(&self.format, self.schema.clone())?,
        };
        self.decoders = Decoders::start(decoder, threads)?;
        Ok(())
    }

    /// Returns at most about `max_rows` rows of what is available now, without waiting for
    /// new input (it may wait for a chunk being decoded); see [`Poll`]. Advances
    /// [`FileSource::position`] past everything returned. Chunks read ahead were cut with
    /// the `max_rows` of the poll that read them.
    pub fn poll(&mut self, max_rows: usize) -> Result<Poll> {
        let max_rows = max_rows.max(1);
        loop {
            self.dispatch(max_rows)?;
            let Some(chunk) = self.in_flight.pop_front() else {
                return Ok(if self.bounded { Poll::End } else { Poll::Idle });
            };
            let decoded = self.decoders.take()?;
            if let Some(poll) = self.deliver(chunk, decoded) {
                return Ok(poll);
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

    /// A handle that the decoder threads keep alive until they exit (for tests).
    #[cfg(test)]
    fn decoder_liveness(&self) -> Option<std::sync::Weak<()>> {
        match &self.decoders {
            Decoders::Pool(pool) => Some(Arc::downgrade(&pool.alive)),
            Decoders::Inline { .. } => None,
        }
    }

    /// Reads chunks and sends them to the decoders until enough are in flight or nothing
    /// more can be read now.
    fn dispatch(&mut self, max_rows: usize) -> Result<()> {
        while self.in_flight.len() < self.decoders.capacity() {
            if self.current.is_none() && !self.open_next() {
                return Ok(());
            }
            match self.next_chunk(max_rows) {
                Ok(Some(chunk)) => self.send(chunk)?,
                Ok(None) if self.keep_following() || self.nothing_new_elsewhere() => return Ok(()),
                Ok(None) => self.close_current(),
                Err(e) => {
                    if let Some(open) = self.current.take() {
                        self.warn_once(&open.name, "cannot read file; skipping it", &e);
                    }
                    self.buffer.clear();
                }
            }
        }
        Ok(())
    }

    /// Sends a chunk of the current file to the decoders and advances the read position.
    fn send(&mut self, chunk: Chunk) -> Result<()> {
        let Some(open) = self.current.as_mut() else {
            return Ok(());
        };
        let first_line = open.at.lines + 1;
        open.at.offset += chunk.data.len() as u64;
        open.at.lines += chunk.lines;
        self.read.files.insert(open.name.clone(), open.at);
        let in_flight = InFlight { file: open.name.clone(), after: open.at };
        self.decoders.send(Job { data: chunk.data, first_line })?;
        self.in_flight.push_back(in_flight);
        Ok(())
    }

    /// Advances the position over a decoded chunk. `None` when the chunk held nothing to
    /// return (blank lines, a header).
    fn deliver(&mut self, chunk: InFlight, decoded: Decoded) -> Option<Poll> {
        let Decoded { batch, bad } = decoded;
        trace!(file = %chunk.file, offset = chunk.after.offset, bad = bad.len(), "chunk decoded");
        if !bad.is_empty() {
            debug!(file = %chunk.file, count = bad.len(), "bad lines skipped");
        }
        let bad: Vec<BadRecord> = bad
            .into_iter()
            .map(|b| BadRecord { source: chunk.file.clone(), position: b.line, reason: b.reason })
            .collect();
        self.position.files.insert(chunk.file, chunk.after);
        match batch {
            Some(batch) if batch.num_rows() > 0 => Some(Poll::Data { batch, bad, split: 0 }),
            _ if !bad.is_empty() => Some(Poll::Bad(bad)),
            _ => None,
        }
    }

    /// Whether to stay on the exhausted current file rather than move on: when following,
    /// nothing else is queued and it is not yet time to look for more.
    fn keep_following(&self) -> bool {
        !self.bounded && self.queue.is_empty() && !self.scan_due()
    }

    /// At the end of the followed current file, with a rescan due: rescans, and says
    /// whether it found nothing to read (no other file grew or appeared, and this one was
    /// not rotated), so that the current file stays open and its next lines are read as
    /// they are appended rather than after the next rescan.
    fn nothing_new_elsewhere(&mut self) -> bool {
        if self.bounded || !self.queue.is_empty() {
            return false;
        }
        self.rescan();
        self.queue.is_empty()
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
            let at = self.read.files.get(&name).copied().unwrap_or_default();
            match self.open_checked(&name, at) {
                Ok((file, at)) => {
                    debug!(file = %name, offset = at.offset, line = at.lines, "reading file");
                    self.buffer.clear();
                    self.read.files.insert(name.clone(), at);
                    self.current = Some(OpenFile { name, file, at, eof: false });
                    return true;
                }
                Err(e) => self.warn_once(&name, "cannot open file; skipping it", &e),
            }
        }
        false
    }

    /// Opens file `name` to read on from `at`, or from its start when it was rotated.
    fn open_checked(&mut self, name: &str, mut at: FileOffset) -> std::io::Result<(File, FileOffset)> {
        let mut file = open_regular(name)?;
        let end = at.offset;
        if let Some(rotation) = rotation::check(&file, &mut at, end)? {
            at = self.restart(name, &at, rotation);
            rotation::check(&file, &mut at, 0)?;
        }
        file.seek(SeekFrom::Start(at.offset))?;
        Ok((file, at))
    }

    /// Before reading on in the followed current file: reads it again from its start when
    /// it was rotated meanwhile.
    fn check_current(&mut self) -> std::io::Result<()> {
        let Some(open) = self.current.as_mut() else { return Ok(()) };
        open.eof = false;
        let end = open.at.offset + self.buffer.len() as u64;
        let Some(rotation) = rotation::check(&open.file, &mut open.at, end)? else { return Ok(()) };
        let (name, old) = (open.name.clone(), open.at);
        let mut at = self.restart(&name, &old, rotation);
        self.buffer.clear();
        if let Some(open) = self.current.as_mut() {
            rotation::check(&open.file, &mut at, 0)?;
            open.file.seek(SeekFrom::Start(0))?;
            open.at = at;
        }
        self.read.files.insert(name, at);
        Ok(())
    }

    /// Logs and counts a rotation of file `name`, read up to `at`; returns where to read
    /// it from now: its start.
    fn restart(&mut self, name: &str, at: &FileOffset, rotation: rotation::Rotation) -> FileOffset {
        let fresh = rotation::restarted(at);
        warn!(
            file = %name, reason = %rotation, offset = at.offset, line = at.lines, restarts = fresh.restarts,
            "file rotated; reading it again from its start"
        );
        self.stalled.remove(name);
        if let Some(returned) = self.position.files.get_mut(name) {
            returned.restarts = fresh.restarts;
        }
        fresh
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

    /// Lists the path and queues, in name order, the files with bytes beyond their read
    /// position. Called only with an empty queue (and the current file, if any, at its end).
    fn rescan(&mut self) {
        self.last_scan = Some(Instant::now());
        let base = listing_base(&self.path);
        for name in list_files(&self.path) {
            // The directory or the glob's base was checked against the file roots; a file
            // listed in it that resolves elsewhere is a symbolic link out of it.
            if let Some(base) = &base
                && !std::fs::canonicalize(&name).is_ok_and(|resolved| resolved.starts_with(base))
            {
                self.warn_once(&name, "file leads outside the stream's directory; skipping it", &"a symbolic link");
                continue;
            }
            let Ok(meta) = std::fs::metadata(&name) else {
                continue; // gone since listing
            };
            let at = self.read.files.get(&name).copied().unwrap_or_default();
            let size = meta.len();
            // A rotated file is queued: opening it finds out and reads it from its start.
            let rotated = size < at.offset || rotation::replaced(&meta, &at);
            if rotated || (size > at.offset && self.stalled.get(&name) != Some(&size)) {
                self.queue.push_back(name);
            }
        }
        self.queue.make_contiguous().sort();
    }

    /// The next chunk of whole lines of the current file, or `None` when it has no whole
    /// line left now (at end of file in bounded mode a last line without '\n' counts).
    fn next_chunk(&mut self, max_rows: usize) -> std::io::Result<Option<Chunk>> {
        if self.current.as_ref().is_some_and(|open| open.eof) && !self.bounded {
            self.check_current()?; // a new poll: the file may have grown, or been rotated
        }
        let Some(open) = self.current.as_mut() else {
            return Ok(None);
        };
        loop {
            if let Some(chunk) = self.buffer.take_lines(max_rows) {
                return Ok(Some(chunk));
            }
            if open.eof {
                let last = self.bounded && !self.buffer.is_empty();
                return Ok(last.then(|| Chunk { data: self.buffer.take_all(), lines: 1 }));
            }
            open.eof = self.buffer.fill(&mut open.file)?;
        }
    }

    /// Logs a problem with a file once per file, so a broken file does not flood the log.
    fn warn_once(&mut self, name: &str, what: &str, error: &dyn std::fmt::Display) {
        if self.warned.insert(name.to_string()) {
            warn!(file = %name, error = %error, "{what}");
        }
    }
}

fn open_regular(name: &str) -> std::io::Result<File> {
    let file = File::open(name)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// The bytes read from the current file and not yet cut into chunks. Each fill reads a fresh
/// block; chunks are slices of it (no copy), and a block is freed when its last chunk has
/// been decoded. Only a trailing partial line is copied, into the next block.
#[derive(Default)]
struct Buffer {
    data: Bytes,
}

impl Buffer {
    fn len(&self) -> usize {
        self.data.len()
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn clear(&mut self) {
        self.data = Bytes::new();
    }

    /// Reads a new block: the unconsumed bytes (a partial line) and then as much of the file
    /// as fits. Returns whether it hit the end of the file.
    fn fill(&mut self, file: &mut File) -> std::io::Result<bool> {
        let size = BUFFER_BYTES.max(self.data.len() * 2);
        let mut block = Vec::with_capacity(size);
        block.extend_from_slice(&self.data);
        let want = (size - block.len()) as u64;
        // `read_to_end` reads into the spare capacity without zeroing it first.
        let read = file.by_ref().take(want).read_to_end(&mut block)?;
        self.data = Bytes::from(block);
        Ok((read as u64) < want)
    }

    /// Cuts the longest prefix of at most `max_lines` whole lines, if there is a whole line.
    fn take_lines(&mut self, max_lines: usize) -> Option<Chunk> {
        let mut cut = None;
        let mut lines = 0u64;
        for i in memchr::memchr_iter(b'\n', &self.data) {
            cut = Some(i + 1);
            lines += 1;
            if lines == max_lines as u64 {
                break;
            }
        }
        cut.map(|len| Chunk { data: self.data.split_to(len), lines })
    }

    /// Cuts everything left.
    fn take_all(&mut self) -> Bytes {
        std::mem::take(&mut self.data)
    }
}

/// A chunk for a decoder: whole lines, the first being line `first_line` of its file.
struct Job {
    data: Bytes,
    first_line: u64,
}

/// The decoders of a source, returning results in the order chunks were sent.
enum Decoders {
    /// Decodes on the polling thread as each chunk is sent.
    Inline { decoder: LineDecoder, done: VecDeque<Result<Decoded>> },
    /// Decodes on worker threads.
    Pool(Pool),
}

impl Decoders {
    /// Starts `threads` workers (`decoder` and fresh copies of it); with 0, decodes inline.
    fn start(decoder: LineDecoder, threads: usize) -> Result<Self> {
        if threads == 0 {
            return Ok(Decoders::Inline { decoder, done: VecDeque::new() });
        }
        let mut decoders = Vec::with_capacity(threads);
        for _ in 1..threads {
            decoders.push(decoder.fresh()?);
        }
        decoders.push(decoder);
        Ok(Decoders::Pool(Pool::start(decoders)?))
    }

    fn threads(&self) -> usize {
        match self {
            Decoders::Inline { .. } => 0,
            Decoders::Pool(pool) => pool.workers.len(),
        }
    }

    /// How many chunks may be in flight (inline: one, decoded as soon as it is read).
    fn capacity(&self) -> usize {
        match self {
            Decoders::Inline { .. } => 1,
            Decoders::Pool(pool) => pool.workers.len() * CHUNKS_PER_DECODER,
        }
    }

    fn send(&mut self, job: Job) -> Result<()> {
        match self {
            Decoders::Inline { decoder, done } => {
                done.push_back(decoder.decode(&job.data, job.first_line));
                Ok(())
            }
            Decoders::Pool(pool) => pool.send(job),
        }
    }

    /// The result of the oldest chunk sent and not yet taken, waiting for it if need be.
    fn take(&mut self) -> Result<Decoded> {
        match self {
            Decoders::Inline { done, .. } => {
                done.pop_front().unwrap_or_else(|| Err(Error::Internal("no chunk is being decoded".into())))
            }
            Decoders::Pool(pool) => pool.take(),
        }
    }
}

/// Worker threads fed in round robin: chunk k goes to worker k mod n and its result is taken
/// from worker k mod n, so results come back in order.
struct Pool {
    workers: Vec<Worker>,
    /// Chunks sent so far.
    sent: usize,
    /// Results taken so far.
    taken: usize,
    /// Held by every worker thread until it exits, so tests can see that all stopped.
    alive: Arc<()>,
}

/// One decoder thread and its channels.
struct Worker {
    /// Closed (`None`) to stop the thread.
    jobs: Option<SyncSender<Job>>,
    results: Receiver<Result<Decoded>>,
    thread: Option<JoinHandle<()>>,
}

impl Pool {
    fn start(decoders: Vec<LineDecoder>) -> Result<Self> {
        let alive = Arc::new(());
        let mut workers = Vec::with_capacity(decoders.len());
        for (index, decoder) in decoders.into_iter().enumerate() {
            let (jobs, job_rx) = std::sync::mpsc::sync_channel(CHUNKS_PER_DECODER);
            let (result_tx, results) = std::sync::mpsc::channel();
            let span = tracing::info_span!("decoder", worker = index);
            let token = alive.clone();
            let thread = std::thread::Builder::new()
                .name(format!("sluice-decode-{index}"))
                .spawn(move || span.in_scope(|| work(decoder, job_rx, result_tx, token)))?;
            workers.push(Worker { jobs: Some(jobs), results, thread: Some(thread) });
        }
        debug!(threads = workers.len(), "decoder threads started");
        Ok(Pool { workers, sent: 0, taken: 0, alive })
    }

    fn send(&mut self, job: Job) -> Result<()> {
        let worker = &self.workers[self.sent % self.workers.len()];
        match &worker.jobs {
            Some(jobs) if jobs.send(job).is_ok() => {
                self.sent += 1;
                Ok(())
            }
            _ => Err(stopped()),
        }
    }

    fn take(&mut self) -> Result<Decoded> {
        let worker = &self.workers[self.taken % self.workers.len()];
        let result = worker.results.recv().map_err(|_| stopped())?;
        self.taken += 1;
        result
    }
}

impl Drop for Pool {
    /// Closes every job channel, then waits for each thread to finish its chunk and exit.
    fn drop(&mut self) {
        for worker in &mut self.workers {
            worker.jobs = None;
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take()
                && thread.join().is_err()
            {
                warn!("decoder thread panicked");
            }
        }
        let running = Arc::strong_count(&self.alive) - 1;
        trace!(threads = self.workers.len(), running, "decoder threads stopped");
    }
}

fn stopped() -> Error {
    Error::Internal("file source decoder thread stopped".into())
}

/// A decoder thread: decodes jobs until its job channel closes or the source is gone. A
/// panic in the decoder becomes an error for the source, and ends the thread.
fn work(mut decoder: LineDecoder, jobs: Receiver<Job>, results: Sender<Result<Decoded>>, _alive: Arc<()>) {
    while let Ok(job) = jobs.recv() {
        let decoded =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decoder.decode(&job.data, job.first_line)));
        drop(job); // frees the block once its last chunk is done
        let (result, panicked) = match decoded {
            Ok(result) => (result, false),
            Err(_) => (Err(Error::Internal("file source decoder panicked".into())), true),
        };
        if results.send(result).is_err() || panicked {
            break;
        }
    }
}

/// The directory the files of a directory or glob `path` are listed in, resolved; None
/// for a single file.
fn listing_base(path: &str) -> Option<PathBuf> {
    let dir = match glob_base(path) {
        (base, Some(_)) => base,
        (whole, None) => whole.is_dir().then_some(whole)?,
    };
    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
    std::fs::canonicalize(dir).ok()
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
    use crate::connector::SourceReader;
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
                Poll::Data { batch, bad: b, .. } => {
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

    /// Offset and lines consumed of file `name`.
    fn consumed(source: &FileSource, name: &str) -> (u64, u64) {
        let at = source.position().files[name];
        (at.offset, at.lines)
    }

    /// Truncates a file in place, as `logrotate`'s copytruncate does.
    fn truncate(path: &Path) {
        std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(0).unwrap();
    }

    /// Follows a file of 2,000 lines; rotates it with `rotate`, writes 3,000 lines of other
    /// ids (more bytes than before, so the size alone does not tell) and checks that every
    /// line comes exactly once, none made up, and the restart is counted.
    fn reads_a_rotated_file_again(rotate: impl Fn(&Path), decoders: usize) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        write(&path, &json_lines(0..2_000));
        let mut source = open(&path, FilePosition::default(), false).with_decoders(decoders).unwrap();
        let (first, _, _) = drain(&mut source, 300);
        assert_eq!(first, (0..2_000).collect::<Vec<_>>());
        rotate(&path);
        write(&path, &json_lines(5_000_000..5_003_000));
        wait_rescan();
        let (second, bad, _) = drain(&mut source, 300);
        assert!(bad.is_empty(), "no line is read from the middle: {bad:?}");
        assert_eq!(second, (5_000_000..5_003_000).collect::<Vec<_>>());
        let name = path.to_str().unwrap();
        assert_eq!(source.position().files[name].restarts, 1);
        assert_eq!(consumed(&source, name), (std::fs::metadata(&path).unwrap().len(), 3_000));
        let status = SourceReader::status(&source);
        assert_eq!(status.splits[0].restarts, Some(1), "counted for SHOW SOURCES");
    }

    #[test]
    fn copytruncate_rotation_is_read_again_from_the_start() {
        reads_a_rotated_file_again(truncate, 0);
        reads_a_rotated_file_again(truncate, 3);
    }

    #[test]
    fn a_replaced_file_is_read_from_the_start() {
        let replace = |path: &Path| {
            std::fs::rename(path, path.with_extension("1")).unwrap();
        };
        reads_a_rotated_file_again(replace, 2);
    }

    #[test]
    fn rotation_while_stopped_is_found_at_restore() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        write(&path, &json_lines(0..2_000));
        let mut source = open(&path, FilePosition::default(), true);
        drain(&mut source, 500);
        let saved = source.position();
        drop(source);
        // Fewer bytes than were read; then more bytes, but other ones.
        for ids in [10_000..10_010, 20_000..23_000] {
            truncate(&path);
            write(&path, &json_lines(ids.clone()));
            let mut restored = open(&path, saved.clone(), true);
            let (got, bad, _) = drain(&mut restored, 500);
            assert_eq!((got, bad.len()), (ids.collect::<Vec<_>>(), 0));
            assert_eq!(restored.position().files[path.to_str().unwrap()].restarts, 1);
        }
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
        let at = source.position().files[&name];
        assert_eq!((at.offset, at.lines), (std::fs::metadata(&path).unwrap().len(), 10));
    }

    #[test]
    fn bad_lines_reported_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        write(&path, "{\"id\":1}\nnope\n{\"id\":3}\n\n{\"id\":\"x\"}\n{\"id\":6}\n");
        let mut source = open(&path, FilePosition::default(), true);
        let (ids, bad, _) = drain(&mut source, 100);
        assert_eq!(ids, vec![1, 3, 6]);
        let lines: Vec<_> = bad.iter().map(|b| (b.source.as_str(), b.position)).collect();
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
                assert_eq!(bad.iter().map(|b| b.position).collect::<Vec<_>>(), vec![1, 2])
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
        assert_eq!(consumed(&source, name), (9, 1));
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
        assert_eq!(consumed(&source, name), (17, 2));
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
    fn links_out_of_the_directory_or_glob_are_skipped() {
        let (dir, outside) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(&dir.path().join("a.jsonl"), &json_lines(0..2));
        write(&outside.path().join("secret.jsonl"), &json_lines(100..101));
        std::os::unix::fs::symlink(outside.path().join("secret.jsonl"), dir.path().join("b.jsonl")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("a.jsonl"), dir.path().join("c.jsonl")).unwrap();
        for path in [dir.path().to_path_buf(), dir.path().join("*.jsonl")] {
            let mut source = open(&path, FilePosition::default(), true);
            let (ids, _, _) = drain(&mut source, 100);
            assert_eq!(ids, vec![0, 1, 0, 1], "{}: a, and c linking to a; not b", path.display());
        }
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
        position.files.insert(name, FileOffset { offset: 5, lines: 2, ..FileOffset::default() });
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

    /// Everything a run returns, poll by poll: ids, bad (file, line) and the position after.
    #[derive(Debug, Clone, PartialEq)]
    struct Step {
        ids: Vec<i64>,
        bad: Vec<(String, u64)>,
        position: FilePosition,
    }

    fn run(dir: &Path, position: FilePosition, decoders: usize) -> Vec<Step> {
        let mut source = open(dir, position, true).with_decoders(decoders).unwrap();
        let mut trace = Vec::new();
        loop {
            let (ids, bad) = match source.poll(7).unwrap() {
                Poll::Data { batch, bad, .. } => (batch.column(0).as_primitive::<Int64Type>().values().to_vec(), bad),
                Poll::Bad(bad) => (Vec::new(), bad),
                Poll::Idle | Poll::Pending | Poll::Watermark(_) => panic!("idle while bounded"),
                Poll::End => return trace,
            };
            let bad = bad.into_iter().map(|b| (b.source, b.position)).collect();
            trace.push(Step { ids, bad, position: source.position() });
        }
    }

    /// Three files of many chunks with bad, blank and partial last lines.
    fn messy_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (f, name) in ["a.jsonl", "b.jsonl", "c.jsonl"].iter().enumerate() {
            let mut text = String::new();
            for i in 0..120 {
                let id = f as i64 * 1000 + i;
                match i % 17 {
                    3 => text.push_str("not json\n"),
                    5 => text.push('\n'),
                    9 => text.push_str(&format!("{{\"id\":\"x{id}\"}}\n")),
                    _ => text.push_str(&format!("{{\"id\":{id}}}\n")),
                }
            }
            text.push_str(&format!("{{\"id\":{}}}", f as i64 * 1000 + 999)); // no '\n'
            write(&dir.path().join(name), &text);
        }
        dir
    }

    #[test]
    fn order_and_positions_do_not_depend_on_decoders() {
        let dir = messy_dir();
        let inline = run(dir.path(), FilePosition::default(), 0);
        assert!(inline.len() > 40, "many chunks");
        assert_eq!(run(dir.path(), FilePosition::default(), 1), inline);
        assert_eq!(run(dir.path(), FilePosition::default(), 3), inline);
        let bad: usize = inline.iter().map(|s| s.bad.len()).sum();
        assert_eq!(bad, 3 * 2 * 7, "two bad lines every 17, 120 lines per file");
        let last = &inline.last().unwrap().position;
        assert!(last.files.values().all(|f| f.lines == 121));
    }

    #[test]
    fn first_poll_returns_only_the_first_chunk_position() {
        let dir = messy_dir();
        let mut source = open(dir.path(), FilePosition::default(), true).with_decoders(3).unwrap();
        assert!(matches!(source.poll(7).unwrap(), Poll::Data { .. }));
        let name = dir.path().join("a.jsonl").to_str().unwrap().to_string();
        let position = source.position();
        assert_eq!(position.files.keys().collect::<Vec<_>>(), vec![&name]);
        assert_eq!(position.files[&name].lines, 7, "chunks still in flight are not covered");
        assert!(matches!(source.with_decoders(1), Err(Error::Internal(_))), "not with chunks in flight");
    }

    #[test]
    fn resumes_from_every_position_with_workers() {
        let dir = messy_dir();
        let full = run(dir.path(), FilePosition::default(), 3);
        let ids = |t: &[Step]| -> Vec<i64> { t.iter().flat_map(|s| s.ids.clone()).collect() };
        let bad = |t: &[Step]| -> Vec<(String, u64)> { t.iter().flat_map(|s| s.bad.clone()).collect() };
        for (i, step) in full.iter().enumerate() {
            let rest = run(dir.path(), step.position.clone(), 3);
            assert_eq!(ids(&rest), ids(&full[i + 1..]), "resume after poll {i}");
            assert_eq!(bad(&rest), bad(&full[i + 1..]), "resume after poll {i}");
            let end = rest.last().map_or(&step.position, |s| &s.position);
            assert_eq!(end, &full.last().unwrap().position);
        }
    }

    #[test]
    fn follows_with_workers_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        write(&a, &json_lines(0..50));
        let mut source = open(dir.path(), FilePosition::default(), false).with_decoders(3).unwrap();
        let (ids, _, end) = drain(&mut source, 4);
        assert_eq!((ids, matches!(end, Poll::Idle)), ((0..50).collect(), true));
        write(&a, &json_lines(50..60));
        write(&a, "{\"id\":");
        let (ids, _, _) = drain(&mut source, 4);
        assert_eq!(ids, (50..60).collect::<Vec<_>>());
        write(&a, "60}\n");
        let (ids, _, _) = drain(&mut source, 4);
        assert_eq!(ids, vec![60]);
        assert_eq!(source.position().files[a.to_str().unwrap()].lines, 61);
    }

    #[test]
    fn drop_stops_decoder_threads() {
        let dir = messy_dir();
        let mut source = open(dir.path(), FilePosition::default(), true).with_decoders(3).unwrap();
        source.poll(7).unwrap();
        let alive = source.decoder_liveness().unwrap();
        assert_eq!(alive.strong_count(), 4, "the pool and three threads");
        drop(source);
        assert_eq!(alive.strong_count(), 0, "every thread has exited");
        let inline = open(dir.path(), FilePosition::default(), true).with_decoders(0).unwrap();
        assert!(inline.decoder_liveness().is_none());
    }

    #[test]
    fn projection_decodes_needed_columns_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        write(&path, "{\"id\":1,\"name\":\"a\",\"n\":5}\n{\"id\":2,\"name\":\"b\",\"n\":\"bad\"}\n");
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let mut source =
            FileSource::open(path.to_str().unwrap(), Format::Json, schema.clone(), FilePosition::default(), true)
                .unwrap()
                .with_projection(&[1, 0])
                .unwrap();
        let Poll::Data { batch, bad, .. } = source.poll(100).unwrap() else { panic!("expected data") };
        assert!(bad.is_empty(), "the bad value is in an unneeded column");
        assert_eq!(batch.schema(), schema);
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().values().to_vec(), vec![1, 2]);
        let names: Vec<_> = batch.column(1).as_string::<i32>().iter().collect();
        assert_eq!(names, vec![Some("a"), Some("b")]);
        assert_eq!(batch.column(2).null_count(), 2);
    }
}
