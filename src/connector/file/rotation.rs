//! Whether a file the source has read from was rotated: it shrank below what was read, it
//! was replaced by another file (a new device and inode at its name), or its leading bytes
//! changed (copied and truncated, then written again past the old position).
//!
//! `FileSource` calls [`check`] whenever it opens a file to read on from a stored position,
//! and before it reads on in a followed file after reaching its end. The first check of a
//! file records its identity and a fingerprint of its first [`HEAD_BYTES`] bytes in the
//! [`FileOffset`], which checkpoints store with the position. This module only compares;
//! the source decides to read the file again from its start ([`restarted`]).

use std::fmt;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};

use super::FileOffset;

/// How many leading bytes of a file its fingerprint covers.
pub const HEAD_BYTES: u64 = 4096;

/// How a file was rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It holds fewer bytes than were read.
    Shrank {
        /// Its size now.
        size: u64,
    },
    /// Another file has its name.
    Replaced,
    /// Its first bytes are not those read before.
    HeadChanged,
}

impl fmt::Display for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rotation::Shrank { size } => write!(f, "file shrank to {size} bytes"),
            Rotation::Replaced => f.write_str("file was replaced (new inode)"),
            Rotation::HeadChanged => f.write_str("leading bytes changed"),
        }
    }
}

/// Checks `file`, read up to byte `end`, against what `at` recorded of it; on no rotation,
/// records its identity and extends its fingerprint in `at`.
pub fn check(file: &File, at: &mut FileOffset, end: u64) -> std::io::Result<Option<Rotation>> {
    let meta = file.metadata()?;
    if replaced(&meta, at) {
        return Ok(Some(Rotation::Replaced));
    }
    if meta.len() < end.max(at.offset) {
        return Ok(Some(Rotation::Shrank { size: meta.len() }));
    }
    if at.head_len > 0 && (meta.len() < at.head_len || fingerprint(file, at.head_len)? != at.head_hash) {
        return Ok(Some(Rotation::HeadChanged));
    }
    (at.dev, at.ino) = (meta.dev(), meta.ino());
    let head = meta.len().min(HEAD_BYTES);
    if head > at.head_len {
        (at.head_len, at.head_hash) = (head, fingerprint(file, head)?);
    }
    Ok(None)
}

/// Whether the file of `meta` is another one than `at` recorded (unknown identity: no).
pub fn replaced(meta: &std::fs::Metadata, at: &FileOffset) -> bool {
    at.ino != 0 && (at.dev, at.ino) != (meta.dev(), meta.ino())
}

/// The position to read a rotated file from again: its start, one restart more.
pub fn restarted(at: &FileOffset) -> FileOffset {
    FileOffset { restarts: at.restarts + 1, ..FileOffset::default() }
}

/// FNV-1a of the first `len` bytes: stable across versions, as checkpoints keep it.
fn fingerprint(file: &File, len: u64) -> std::io::Result<u64> {
    let mut buf = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn reopen(path: &std::path::Path) -> File {
        File::open(path).unwrap()
    }

    #[test]
    fn appends_are_not_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "one\n").unwrap();
        let mut at = FileOffset::default();
        assert_eq!(check(&reopen(&path), &mut at, 0).unwrap(), None);
        assert_eq!(at.head_len, 4);
        at.offset = 4;
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"two\n").unwrap();
        assert_eq!(check(&reopen(&path), &mut at, 4).unwrap(), None);
        assert_eq!(at.head_len, 8, "the fingerprint grows with the file");
    }

    #[test]
    fn shrinking_replacing_and_rewriting_are_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "line 1\nline 2\n").unwrap();
        let mut at = FileOffset::default();
        check(&reopen(&path), &mut at, 0).unwrap();
        at.offset = 14;
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        file.set_len(7).unwrap();
        assert_eq!(check(&file, &mut at.clone(), 14).unwrap(), Some(Rotation::Shrank { size: 7 }));
        std::fs::write(&path, "LINE 1\nLINE 2\nLINE 3\n").unwrap(); // same inode, new bytes
        assert_eq!(check(&file, &mut at.clone(), 14).unwrap(), Some(Rotation::HeadChanged));
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "line 1\nline 2\nline 3\n").unwrap();
        assert_eq!(check(&reopen(&path), &mut at.clone(), 14).unwrap(), Some(Rotation::Replaced));
        let fresh = restarted(&at);
        assert_eq!((fresh.offset, fresh.lines, fresh.restarts, fresh.ino), (0, 0, 1, 0));
    }
}
