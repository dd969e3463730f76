//! Checksums on stored values and the store's format version.
//!
//! Every value Sluice writes ends in a CRC-32 (crc32fast) of its key and its bytes:
//! [`seal`] adds it on write and [`open`] checks it on every read, so a damaged value (or
//! one moved under another key) is an [`Error::Corrupted`] naming its key space, never
//! wrong, empty or partial data. sled checksums its own log records too; this covers what
//! it does not (damage it reads back without noticing, values of blob files, bugs).
//!
//! The format version is stored under `m format`. [`check_format`] runs when the store
//! opens: a store of a newer version is refused; a store without a version (format 1,
//! written before checksums existed) is migrated once, in batches that each record how far
//! the migration got, so a crash in the middle resumes where it stopped and never seals a
//! value twice.
//!
//! Called only by `state` (the [`super::Store`]); knows nothing about what values mean,
//! except where format 1 kept a view's run list (moved by the migration).

use std::ops::Bound;

use tracing::info;

use super::space;
use crate::error::{Error, Result};

/// The format this build writes and reads. 1: no checksums (before the version was
/// stored). 2: a checksum on every value, run lists under the view's key space.
pub const FORMAT_VERSION: u32 = 2;

/// Where the format version is stored.
const FORMAT_KEY: &[u8] = b"mformat";
/// While a migration runs: the last key it has sealed.
const MIGRATE_KEY: &[u8] = b"mmigrate";
/// Bytes of the checksum at the end of every value.
const CHECKSUM_LEN: usize = 4;
/// A migration batch ends after this many values or bytes.
const MIGRATE_BATCH: (usize, usize) = (2_000, 32 << 20);

/// `value` with the checksum of `key` and `value` appended, as stored.
pub fn seal(key: &[u8], mut value: Vec<u8>) -> Vec<u8> {
    let sum = checksum(key, &value);
    value.extend_from_slice(&sum.to_le_bytes());
    value
}

/// How many bytes the value stored as `stored` has, without reading or checking it.
pub fn len(stored: &[u8]) -> usize {
    stored.len().saturating_sub(CHECKSUM_LEN)
}

/// The bytes of a stored value without its checksum, after checking it.
pub fn open<'a>(key: &[u8], stored: &'a [u8]) -> Result<&'a [u8]> {
    let Some((value, sum)) = stored.split_last_chunk::<CHECKSUM_LEN>() else {
        return Err(corrupted(key, format!("a value of {} bytes is too short to hold its checksum", stored.len())));
    };
    let expected = u32::from_le_bytes(*sum);
    let actual = checksum(key, value);
    if actual != expected {
        return Err(corrupted(key, format!("checksum mismatch (stored {expected:08x}, computed {actual:08x})")));
    }
    Ok(value)
}

fn checksum(key: &[u8], value: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(key);
    hasher.update(value);
    hasher.finalize()
}

/// The error for a damaged value under `key`.
pub fn corrupted(key: &[u8], why: String) -> Error {
    Error::Corrupted { what: describe(key), detail: format!("{why} at key {}", hex(key)) }
}

/// What the value under `key` is, for error messages.
pub fn describe(key: &[u8]) -> String {
    let object = key.get(1..9).and_then(|id| id.try_into().ok()).map(u64::from_be_bytes);
    match (key.first().copied(), object) {
        (Some(space::CATALOG), Some(id)) => format!("catalog entry {id}"),
        (Some(space::VIEW), Some(id)) => format!("the stored rows of object {id}"),
        (Some(space::STATE), Some(id)) => format!("the checkpointed state of object {id}"),
        (Some(space::META), _) => "the store's metadata".to_string(),
        _ => "the store".to_string(),
    }
}

/// A key in hex, cut after 48 bytes.
fn hex(key: &[u8]) -> String {
    let shown: String = key.iter().take(48).map(|b| format!("{b:02x}")).collect();
    if key.len() > 48 { format!("{shown}...") } else { shown }
}

/// Checks the format version of the store in `db` (named `name` in errors), writing it
/// into a new store and migrating a store of format 1.
pub fn check_format(db: &sled::Db, name: &str) -> Result<()> {
    match db.get(FORMAT_KEY)? {
        Some(stored) => {
            let bytes = open(FORMAT_KEY, &stored)?;
            let version = bytes
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| corrupted(FORMAT_KEY, format!("a format version of {} bytes", bytes.len())))?;
            if version > FORMAT_VERSION {
                return Err(Error::Config(format!(
                    "{name} holds a store of format version {version}, newer than this sluice reads (version {FORMAT_VERSION}); run a newer sluice"
                )));
            }
            Ok(())
        }
        None if db.is_empty() => {
            db.insert(FORMAT_KEY, version_value())?;
            super::flush_within(db)?;
            Ok(())
        }
        None => migrate(db, name),
    }
}

fn version_value() -> Vec<u8> {
    seal(FORMAT_KEY, FORMAT_VERSION.to_be_bytes().to_vec())
}

/// Seals every value of a format-1 store, resuming after the last key a crashed
/// migration sealed; then moves run lists and writes the version, in one batch.
fn migrate(db: &sled::Db, name: &str) -> Result<()> {
    let resume = match db.get(MIGRATE_KEY)? {
        Some(stored) => Some(open(MIGRATE_KEY, &stored)?.to_vec()),
        None => None,
    };
    info!(store = %name, from = 1, to = FORMAT_VERSION, resumed = resume.is_some(), "migrating store format");
    let start = resume.map_or(Bound::Unbounded, Bound::Excluded);
    let (mut batch, mut values, mut bytes, mut total) = (sled::Batch::default(), 0, 0, 0u64);
    let mut last = None;
    for pair in db.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
        let (key, value) = pair?;
        if key == FORMAT_KEY || key == MIGRATE_KEY {
            continue;
        }
        bytes += value.len();
        values += 1;
        batch.insert(key.clone(), seal(&key, value.to_vec()));
        last = Some(key);
        if values >= MIGRATE_BATCH.0 || bytes >= MIGRATE_BATCH.1 {
            total += values as u64;
            (values, bytes) = (0, 0);
            commit_step(db, std::mem::take(&mut batch), last.take())?;
        }
    }
    total += values as u64;
    commit_step(db, batch, last)?;
    let mut batch = sled::Batch::default();
    move_run_lists(db, &mut batch)?;
    batch.insert(FORMAT_KEY, version_value());
    batch.remove(MIGRATE_KEY);
    db.apply_batch(batch)?;
    super::flush_within(db)?;
    info!(store = %name, values = total, version = FORMAT_VERSION, "store migrated");
    Ok(())
}

/// Commits one migration batch durably, with the marker at `last`, the last key it seals.
fn commit_step(db: &sled::Db, mut batch: sled::Batch, last: Option<sled::IVec>) -> Result<()> {
    let Some(last) = last else { return Ok(()) };
    batch.insert(MIGRATE_KEY, seal(MIGRATE_KEY, last.to_vec()));
    db.apply_batch(batch)?;
    super::flush_within(db)?;
    Ok(())
}

/// Format 1 kept a view's run list with its materialize operator's state
/// (`s`, view, operator, `runs`); format 2 keeps it under the view's rows
/// ([`super::runs_key`]), where readers find it. Values here are sealed already.
fn move_run_lists(db: &sled::Db, batch: &mut sled::Batch) -> Result<()> {
    for pair in db.scan_prefix([space::STATE]) {
        let (key, value) = pair?;
        let Some(view) = legacy_run_list_view(&key) else { continue };
        let list = open(&key, &value)?;
        if list.len() < 8 || (list.len() - 8) % 16 != 0 {
            continue;
        }
        let new_key = super::runs_key(view);
        batch.insert(new_key.clone(), seal(&new_key, list.to_vec()));
        batch.remove(key);
    }
    Ok(())
}

/// The view whose format-1 run list `key` is, if it is one.
fn legacy_run_list_view(key: &[u8]) -> Option<u64> {
    if key.len() != 14 || !key.ends_with(b"runs") {
        return None;
    }
    key[1..9].try_into().ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_and_damage_is_caught() {
        let sealed = seal(b"vkey", b"hello".to_vec());
        assert_eq!(open(b"vkey", &sealed).unwrap(), b"hello");
        let mut flipped = sealed.clone();
        flipped[1] ^= 0x10;
        assert!(matches!(open(b"vkey", &flipped), Err(Error::Corrupted { .. })));
        assert!(matches!(open(b"other", &sealed), Err(Error::Corrupted { .. })), "a value under another key");
        assert!(matches!(open(b"vkey", &sealed[..3]), Err(Error::Corrupted { .. })), "too short");
        assert_eq!(open(b"k", &seal(b"k", vec![])).unwrap(), b"");
    }

    fn legacy_store(dir: &std::path::Path, n: u64) -> sled::Db {
        let db = sled::Config::new().path(dir).open().unwrap();
        db.insert(b"mid", 9u64.to_be_bytes().to_vec()).unwrap();
        for i in 0..n {
            db.insert(super::super::view_key(1, &i.to_be_bytes()), format!("row {i}").into_bytes()).unwrap();
        }
        let mut list = 5u64.to_be_bytes().to_vec();
        list.extend_from_slice(&[0; 16]);
        db.insert(super::super::state_key(1, 3, b"runs"), list).unwrap();
        db.flush().unwrap();
        db
    }

    #[test]
    fn format_1_is_migrated_once_and_resumes_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let db = legacy_store(dir.path(), 5_000);
        // A migration that crashed after its first batch: keys up to the marker are sealed.
        let first = db.iter().next().unwrap().unwrap().0;
        db.insert(&first, seal(&first, db.get(&first).unwrap().unwrap().to_vec())).unwrap();
        db.insert(MIGRATE_KEY, seal(MIGRATE_KEY, first.to_vec())).unwrap();
        check_format(&db, "test").unwrap();
        check_format(&db, "test").unwrap();
        for pair in db.iter() {
            let (key, value) = pair.unwrap();
            assert!(open(&key, &value).is_ok(), "{key:?} sealed once");
        }
        let row = db.get(super::super::view_key(1, &42u64.to_be_bytes())).unwrap().unwrap();
        assert_eq!(open(&super::super::view_key(1, &42u64.to_be_bytes()), &row).unwrap(), b"row 42");
        assert!(db.get(super::super::state_key(1, 3, b"runs")).unwrap().is_none());
        assert!(db.get(super::super::runs_key(1)).unwrap().is_some(), "run list moved");
        assert!(db.get(MIGRATE_KEY).unwrap().is_none());
    }

    #[test]
    fn a_newer_format_is_refused() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        db.insert(FORMAT_KEY, seal(FORMAT_KEY, (FORMAT_VERSION + 1).to_be_bytes().to_vec())).unwrap();
        let e = check_format(&db, "data directory \"d\"").unwrap_err();
        assert!(e.to_string().contains("format version 3, newer than this sluice reads"), "{e}");
    }
}
