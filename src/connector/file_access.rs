//! Which files file sources and sinks may use: the directories the operator allows
//! (`sluice serve --file-root DIR`), checked after resolving `..` and symbolic links, in the
//! spirit of Postgres's `pg_read_server_files` and `pg_write_server_files`.
//!
//! The engine keeps one [`FileRoots`] in its configuration and calls [`FileRoots::check`]
//! when a file stream, table or sink is created, and again before a pipeline opens a file
//! stream (at start-up too, so a root removed from the command line takes effect). A path
//! is resolved by [`resolve`]: made absolute against the working directory, its longest
//! existing prefix canonicalized (so symbolic links and `..` are followed where they
//! exist) and the rest normalized by its text. A glob is checked by the directory before
//! its first wildcard ([`glob_base`]); `..` after a wildcard is refused. This module only
//! resolves and compares paths: it never opens, creates or lists files.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The directories file sources and sinks may use, canonicalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRoots {
    roots: Vec<PathBuf>,
}

/// What a path is checked for; it names the access in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A file source reads it.
    Read,
    /// A file sink writes it.
    Write,
}

impl Access {
    fn verb(self) -> &'static str {
        match self {
            Access::Read => "reading",
            Access::Write => "writing",
        }
    }
}

impl Default for FileRoots {
    /// The working directory; nothing if it cannot be resolved.
    fn default() -> Self {
        FileRoots::working_directory().unwrap_or(FileRoots { roots: Vec::new() })
    }
}

impl FileRoots {
    /// The given directories, which must exist.
    pub fn new(dirs: &[PathBuf]) -> Result<FileRoots> {
        let mut roots = Vec::with_capacity(dirs.len());
        for dir in dirs {
            let root = dir
                .canonicalize()
                .map_err(|e| Error::Config(format!("invalid file root \"{}\": {e}", dir.display())))?;
            if !root.is_dir() {
                return Err(Error::Config(format!("invalid file root \"{}\": not a directory", dir.display())));
            }
            roots.push(root);
        }
        Ok(FileRoots { roots })
    }

    /// The process's working directory alone (the default of `sluice serve` and `run`).
    pub fn working_directory() -> Result<FileRoots> {
        FileRoots::new(&[std::env::current_dir()?])
    }

    /// The allowed directories, canonicalized.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Whether `path` (a file, a directory or a glob) lies inside an allowed root; returns
    /// it resolved (for a glob: its base directory). Outside: 42501 with a hint.
    pub fn check(&self, path: &str, access: Access) -> Result<PathBuf> {
        let (base, pattern) = glob_base(path);
        if pattern.as_deref().is_some_and(|p| Path::new(p).components().any(|c| c == Component::ParentDir)) {
            return Err(self.refused(path, access, "\"..\" after a wildcard"));
        }
        let resolved = resolve(&base)?;
        if self.roots.iter().any(|root| resolved.starts_with(root)) {
            Ok(resolved)
        } else {
            Err(self.refused(path, access, "outside the allowed file roots"))
        }
    }

    fn refused(&self, path: &str, access: Access, why: &str) -> Error {
        let roots: Vec<String> = self.roots.iter().map(|r| format!("\"{}\"", r.display())).collect();
        let allowed = if roots.is_empty() { "none".to_string() } else { roots.join(", ") };
        Error::InsufficientPrivilege {
            message: format!("could not open file \"{path}\" for {}: {why}", access.verb()),
            hint: Some(format!(
                "Allowed file roots: {allowed}. Start the server with --file-root DIR to allow another directory."
            )),
        }
    }
}

/// `path` made absolute against the working directory, with its longest existing prefix
/// canonicalized and the rest normalized by its text (`.` dropped, `..` removing the
/// component before it).
pub fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::env::current_dir()?.join(path);
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    let prefix = loop {
        match existing.canonicalize() {
            Ok(canonical) => break canonical,
            Err(_) => match (existing.parent(), existing.components().next_back()) {
                (Some(parent), Some(last)) => {
                    rest.push(last);
                    existing = parent;
                }
                _ => break PathBuf::from("/"),
            },
        }
    };
    let mut resolved = prefix;
    for component in rest.into_iter().rev() {
        match component {
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => resolved.push(name),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Ok(resolved)
}

/// Whether `path` has glob wildcards.
pub fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// A path split before its first component with a wildcard: the base directory and the
/// pattern after it (None when there is no wildcard: the base is the whole path).
pub fn glob_base(path: &str) -> (PathBuf, Option<String>) {
    if !is_glob(path) {
        return (PathBuf::from(path), None);
    }
    let mut base = PathBuf::new();
    let mut components = Path::new(path).components();
    for component in components.by_ref() {
        if is_glob(&component.as_os_str().to_string_lossy()) {
            let mut pattern = PathBuf::from(component.as_os_str());
            pattern.extend(components);
            return (base, Some(pattern.to_string_lossy().into_owned()));
        }
        base.push(component);
    }
    (base, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> FileRoots {
        FileRoots::new(&[dir.to_path_buf()]).unwrap()
    }

    #[test]
    fn paths_inside_a_root_pass_and_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let roots = roots(dir.path());
        let root = dir.path().canonicalize().unwrap();
        let inside = |p: &str| roots.check(&dir.path().join(p).to_string_lossy(), Access::Read).unwrap();
        assert_eq!(inside("sub/a.json"), root.join("sub/a.json"));
        assert_eq!(inside("sub/../b.json"), root.join("b.json"));
        assert_eq!(inside("later/x/../c.json"), root.join("later/c.json"), "not yet created");
        assert_eq!(inside("sub/*.json"), root.join("sub"), "a glob by its base");
    }

    #[test]
    fn dot_dot_and_symlinks_cannot_leave_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = dir.path().join("allowed");
        std::fs::create_dir(&allowed).unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), allowed.join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path(), allowed.join("up")).unwrap();
        let roots = roots(&allowed);
        for path in ["../secret", "link", "up/secret", "up/*.json", "x/../../secret", "new/../../secret", "*/../../x"] {
            let full = allowed.join(path).to_string_lossy().into_owned();
            let error = roots.check(&full, Access::Read).unwrap_err();
            assert_eq!(error.sqlstate(), "42501", "{path}");
            assert!(error.to_string().starts_with(&format!("could not open file \"{full}\" for reading")), "{error}");
            assert!(error.hint().unwrap().contains("--file-root"));
        }
        let error = roots.check("/etc/shadow", Access::Write).unwrap_err();
        assert_eq!(
            error.to_string(),
            "could not open file \"/etc/shadow\" for writing: outside the allowed file roots"
        );
    }

    #[test]
    fn roots_must_be_existing_directories() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "").unwrap();
        assert_eq!(FileRoots::new(&[dir.path().join("missing")]).unwrap_err().sqlstate(), "F0000");
        assert_eq!(FileRoots::new(&[dir.path().join("f")]).unwrap_err().sqlstate(), "F0000");
    }

    #[test]
    fn glob_base_stops_at_the_first_wildcard() {
        assert_eq!(glob_base("/a/b/x-*.json"), (PathBuf::from("/a/b"), Some("x-*.json".into())));
        assert_eq!(glob_base("a/*/c/*.json"), (PathBuf::from("a"), Some("*/c/*.json".into())));
        assert_eq!(glob_base("a/b.json"), (PathBuf::from("a/b.json"), None));
        assert_eq!(glob_base("*.json"), (PathBuf::new(), Some("*.json".into())));
    }
}
