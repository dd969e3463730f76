//! The embedded store: sled behind a small interface that speaks Sluice's key spaces.
//!
//! Owns the on-disk layout. Everything lives in one sled tree so that a checkpoint, a set of
//! writes spanning view rows, operator state and source positions, is one atomic
//! [`sled::Batch`]. Key spaces (first byte):
//!
//! | prefix | key                         | value                                |
//! |--------|-----------------------------|--------------------------------------|
//! | `c`    | object id (u64 BE)          | catalog entry (JSON)                 |
//! | `m`    | name                        | store metadata (next id, format)     |
//! | `v`    | view id, run id             | a run of view rows (see [`runs`])    |
//! | `v`    | view id, `runs`             | the view's run list                  |
//! | `s`    | view id, operator, sub key  | operator or source state             |
//!
//! Every value carries a checksum of its key and bytes, checked on every read
//! ([`integrity`]); a damaged value is [`Error::Corrupted`], never data. The store's
//! format version is checked (and an old store migrated) when it opens.
//!
//! Called by the catalog (DDL), by pipelines at checkpoints, and by queries reading views.
//! It knows nothing about SQL.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};

mod integrity;
mod runs;

pub use runs::{KeyedBuilder, Layout, ViewRuns, read_keyed_view, read_view};

/// sled's page cache size. Its default (1 GiB) is far more than view rows and state need.
const CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// The lock file in a data directory; its contents name the process holding it.
const LOCK_FILE: &str = "sluice.lock";

/// Creates `dir` if needed and takes its lock: a clear error when it cannot be written
/// or another process holds it, before sled touches anything.
fn lock_dir(dir: &Path) -> Result<std::fs::File> {
    use std::io::Write;
    let shown = dir.display();
    let unusable = |what: &str, e: std::io::Error| {
        Error::DataDirectory(format!("data directory \"{shown}\" {what}: {}", lowercase_io(&e)))
    };
    std::fs::create_dir_all(dir).map_err(|e| unusable("cannot be created", e))?;
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| unusable("is not writable", e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            return Err(Error::DataDirectory(format!(
                "data directory \"{shown}\" is in use by another sluice process (pid {holder})"
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(unusable("cannot be locked", e)),
    }
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(|e| unusable("is not writable", e))?;
    file.sync_all().map_err(|e| unusable("is not writable", e))?;
    Ok(file)
}

/// An I/O error's text without Rust's capital first letter ("read-only file system (os
/// error 30)").
fn lowercase_io(e: &std::io::Error) -> String {
    crate::error::lowercase_first(&e.to_string())
}
/// How long a flush may take before the disk is taken to have failed.
const FLUSH_DEADLINE: Duration = Duration::from_secs(20);

/// One write of a checkpoint: `None` deletes the key.
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// The data directory's lock file, locked while the store is open (None in memory).
    _lock: Option<Arc<std::fs::File>>,
    /// Test switch: every write fails as if the disk refused it ([`Store::fail_writes`]).
    failing: Arc<AtomicBool>,
    /// Why a write failed, once one did: sled does not recover from an I/O error (its
    /// flush can wait forever after one), so every later write fails at once.
    broken: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Key-space prefixes, see the module docs.
pub mod space {
    /// Catalog entries.
    pub const CATALOG: u8 = b'c';
    /// Store metadata.
    pub const META: u8 = b'm';
    /// View rows.
    pub const VIEW: u8 = b'v';
    /// Operator and source state.
    pub const STATE: u8 = b's';
}

impl Store {
    /// Opens (or creates) the store in directory `dir`, checks its format version and
    /// migrates a store of an older format.
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_dir(dir).map_err(|e| match e {
            // Said in one line at start-up, where there is no DETAIL field.
            Error::Corrupted { what, detail } => {
                Error::Io(std::io::Error::other(format!("could not read {what}: data corrupted: {detail}")))
            }
            other => other,
        })
    }

    fn open_dir(dir: &Path) -> Result<Store> {
        let lock = lock_dir(dir)?;
        let name = format!("data directory \"{}\"", dir.display());
        let opened = std::panic::catch_unwind(|| {
            sled::Config::new().path(dir).cache_capacity(CACHE_BYTES).flush_every_ms(None).open()
        });
        let db = match opened {
            Ok(db) => db.map_err(|e| match &e {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    Error::Io(std::io::Error::other(format!("{name} is in use by another sluice process")))
                }
                _ => store_error(e).corrupting(name.clone()),
            })?,
            Err(panic) => {
                let detail = crate::error::from_panic(panic).to_string();
                return Err(Error::Corrupted { what: name, detail: format!("the store panicked opening: {detail}") });
            }
        };
        Store::checked(db, &name, Some(Arc::new(lock)))
    }

    /// Opens a store that lives in memory only (for `sluice run` and tests).
    pub fn temporary() -> Result<Store> {
        let db = sled::Config::new().temporary(true).cache_capacity(CACHE_BYTES).flush_every_ms(None).open()?;
        Store::checked(db, "the temporary store", None)
    }

    fn checked(db: sled::Db, name: &str, lock: Option<Arc<std::fs::File>>) -> Result<Store> {
        integrity::check_format(&db, name).map_err(|e| e.corrupting(name))?;
        Ok(Store { db, _lock: lock, failing: Arc::new(AtomicBool::new(false)), broken: Arc::new(Mutex::new(None)) })
    }

    /// Reads one key, checking its checksum.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.db.get(key).map_err(store_error)? {
            Some(stored) => Ok(Some(integrity::open(key, &stored)?.to_vec())),
            None => Ok(None),
        }
    }

    /// The length of the value under `key`, if any, without reading or checking its bytes.
    pub fn value_len(&self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.db.get(key).map_err(store_error)?.map(|stored| integrity::len(&stored)))
    }

    /// Applies `writes` atomically and makes them durable before returning; an error means
    /// the writes may or may not survive a restart, as a whole.
    pub fn commit(&self, writes: Vec<Write>) -> Result<()> {
        self.check_writable()?;
        let mut batch = sled::Batch::default();
        for (key, value) in writes {
            match value {
                Some(v) => {
                    let sealed = integrity::seal(&key, v);
                    batch.insert(key, sealed)
                }
                None => batch.remove(key),
            }
        }
        self.db.apply_batch(batch).map_err(|e| self.broke(e.into()))?;
        flush_within(&self.db).map_err(|e| self.broke(e))
    }

    /// All pairs whose key starts with `prefix`, in key order, values checked and without
    /// their checksums.
    pub fn scan_prefix(&self, prefix: &[u8]) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec)>> + use<> {
        self.db.scan_prefix(prefix).map(|pair| {
            let (key, stored) = pair.map_err(store_error)?;
            let len = integrity::open(&key, &stored)?.len();
            Ok((key, stored.subslice(0, len)))
        })
    }

    /// Every key that starts with `prefix`, in order (values are not read).
    pub fn keys(&self, prefix: &[u8]) -> impl Iterator<Item = Result<sled::IVec>> + use<> {
        self.db.scan_prefix(prefix).keys().map(|key| key.map_err(store_error))
    }

    /// Removes every key under `prefix` (durably).
    pub fn remove_prefix(&self, prefix: &[u8]) -> Result<()> {
        let mut writes = Vec::new();
        for key in self.keys(prefix) {
            writes.push((key?.to_vec(), None));
            if writes.len() >= 10_000 {
                self.commit(std::mem::take(&mut writes))?;
            }
        }
        self.commit(writes)
    }

    /// Makes every later write fail (`true`) as a full or failing disk would, or work
    /// again: fault injection for tests of what a failed checkpoint does.
    pub fn fail_writes(&self, fail: bool) {
        self.failing.store(fail, Ordering::Relaxed);
    }

    /// Stores `value` under `key` without a checksum, as damage would leave it (tests).
    #[cfg(test)]
    pub(crate) fn write_unsealed(&self, key: &[u8], value: &[u8]) {
        self.db.insert(key, value).expect("test write");
    }

    fn check_writable(&self) -> Result<()> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(Error::Io(std::io::Error::other("injected write failure")));
        }
        match self.broken.lock().ok().and_then(|b| b.clone()) {
            Some(why) => Err(Error::Io(std::io::Error::other(format!(
                "the store refused an earlier write ({why}); restart the server once the disk is fixed"
            )))),
            None => Ok(()),
        }
    }

    /// Remembers that a write failed with `error`, and returns it.
    fn broke(&self, error: Error) -> Error {
        tracing::error!(%error, "a write to the store failed; later writes fail until a restart");
        if let Ok(mut broken) = self.broken.lock() {
            broken.get_or_insert_with(|| error.to_string());
        }
        error
    }

    /// Hands out a fresh object id, durably.
    pub fn next_id(&self) -> Result<u64> {
        self.check_writable()?;
        let key = [space::META, b'i', b'd'];
        loop {
            let old = self.db.get(key).map_err(store_error)?;
            let next = match &old {
                Some(stored) => decode_u64(integrity::open(&key, stored)?) + 1,
                None => 1,
            };
            let new = integrity::seal(&key, next.to_be_bytes().to_vec());
            let swapped = self.db.compare_and_swap(key, old, Some(new)).map_err(|e| self.broke(e.into()))?;
            if swapped.is_ok() {
                flush_within(&self.db).map_err(|e| self.broke(e))?;
                return Ok(next);
            }
        }
    }
}

/// Makes what was written to `db` durable, or fails: with sled's error, or when the disk
/// has not confirmed within [`FLUSH_DEADLINE`] (sled may then wait forever; its thread is
/// left behind rather than the caller).
fn flush_within(db: &sled::Db) -> Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let db = db.clone();
    let flusher = std::thread::Builder::new().name("store-flush".into()).spawn(move || {
        let _ = tx.send(db.flush());
    })?;
    match rx.recv_timeout(FLUSH_DEADLINE) {
        Ok(flushed) => {
            // It is ending; joined so that its handle on the store is gone when we return.
            let _ = flusher.join();
            flushed.map(|_| ()).map_err(store_error)
        }
        Err(_) => Err(Error::Io(std::io::Error::other(format!(
            "the disk did not confirm a write within {} s",
            FLUSH_DEADLINE.as_secs()
        )))),
    }
}

/// sled's error as ours: damage sled finds itself is [`Error::Corrupted`] too.
fn store_error(e: sled::Error) -> Error {
    match e {
        sled::Error::Corruption { at, .. } => Error::Corrupted {
            what: "the store".into(),
            detail: format!("sled found a damaged record{}", at.map(|a| format!(" at {a:?}")).unwrap_or_default()),
        },
        other => Error::State(other),
    }
}

fn decode_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(buf)
}

/// Key of a run of view rows: `v`, view id, run key.
pub fn view_key(view: u64, row: &[u8]) -> Vec<u8> {
    let mut k = view_prefix(view);
    k.extend_from_slice(row);
    k
}

/// Prefix of all rows of a view.
pub fn view_prefix(view: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    k.push(space::VIEW);
    k.extend_from_slice(&view.to_be_bytes());
    k
}

/// Key of a view's run list: `v`, view id, `runs` (run keys are `v`, view id, 8 bytes).
pub fn runs_key(view: u64) -> Vec<u8> {
    view_key(view, b"runs")
}

/// Prefix of all state of a view's pipeline.
pub fn state_prefix(view: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(32);
    k.push(space::STATE);
    k.extend_from_slice(&view.to_be_bytes());
    k
}

/// Key of one piece of operator state: `s`, view id, operator index, sub key.
pub fn state_key(view: u64, operator: u8, sub: &[u8]) -> Vec<u8> {
    let mut k = state_prefix(view);
    k.push(operator);
    k.extend_from_slice(sub);
    k
}

/// Read access to one operator's checkpointed state.
pub struct StateReader<'a> {
    /// The store.
    pub store: &'a Store,
    /// The pipeline (view, table or sink) whose state this is.
    pub view: u64,
    /// The operator's index in the pipeline.
    pub operator: u8,
    /// The shard whose state this is, for the operators a pipeline runs once per shard
    /// (their keys start with it); None for the others.
    pub shard: Option<u16>,
}

impl crate::connector::sink::SinkState for StateReader<'_> {
    fn key(&self, sub: &[u8]) -> Vec<u8> {
        StateReader::key(self, sub)
    }

    fn get(&self, sub: &[u8]) -> Result<Option<Vec<u8>>> {
        StateReader::get(self, sub)
    }

    fn commit_now(&self, entries: Vec<Write>) -> Result<()> {
        self.store.commit(entries)
    }
}

impl StateReader<'_> {
    /// Reads one sub key.
    pub fn get(&self, sub: &[u8]) -> Result<Option<Vec<u8>>> {
        self.store.get(&self.key(sub))
    }

    /// All (sub key, value) pairs of this operator (of its shard).
    pub fn scan(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = self.key(&[]);
        self.store.scan_prefix(&prefix).map(|r| r.map(|(k, v)| (k[prefix.len()..].to_vec(), v.to_vec()))).collect()
    }

    /// The full store key of a sub key (for writes at the next checkpoint).
    pub fn key(&self, sub: &[u8]) -> Vec<u8> {
        match self.shard {
            Some(shard) => state_key(self.view, self.operator, &[&shard.to_be_bytes()[..], sub].concat()),
            None => state_key(self.view, self.operator, sub),
        }
    }
}

/// Key of a catalog entry.
pub fn catalog_key(id: u64) -> Vec<u8> {
    let mut k = vec![space::CATALOG];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_atomic_and_scannable() {
        let store = Store::temporary().unwrap();
        store.commit(vec![(view_key(1, b"a"), Some(b"1".to_vec())), (view_key(1, b"b"), Some(b"2".to_vec()))]).unwrap();
        store.commit(vec![(view_key(1, b"a"), None)]).unwrap();
        let rows: Vec<_> = store.scan_prefix(&view_prefix(1)).map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 1);
        assert_eq!(&rows[0].1[..], b"2");
    }

    #[test]
    fn ids_increase_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let a = {
            let s = Store::open(dir.path()).unwrap();
            s.next_id().unwrap()
        };
        let s = Store::open(dir.path()).unwrap();
        assert!(s.next_id().unwrap() > a);
    }
}
