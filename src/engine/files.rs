//! Who may use which files: the checks of file streams, tables and sinks at CREATE time
//! and before a pipeline opens a file stream.
//!
//! A file stream's or sink's path must lie inside the engine's [`FileRoots`] (42501
//! otherwise); a new stream's directory must exist (58P01); a new sink may not write a file
//! that exists already (58P02: it would append to or cut back a file it did not create) or
//! that another sink writes (55006). When clients log in with passwords, only superusers
//! may create file streams and sinks ([`file_privilege`], checked by the session). The
//! file connector itself (`connector::file`, `connector::sink::file`) knows nothing of
//! roots or users.

use std::path::{Path, PathBuf};

use super::Engine;
use crate::catalog::Catalog;
use crate::connector::file_access::{Access, glob_base, resolve};
use crate::connector::{self, Options, file_path};
use crate::error::{Error, Result};
use crate::sql::Statement;

impl Engine {
    /// A new file stream or table: its path is allowed and its directory exists.
    pub(super) fn check_new_file_source(&self, options: &Options) -> Result<()> {
        let Some(path) = file_path(options) else { return Ok(()) };
        connector::check_file_options(options)?;
        self.inner.config.file_roots.check(path, Access::Read)?;
        let (base, pattern) = glob_base(path);
        let dir = match pattern {
            Some(_) => Some(base),
            None => base.parent().map(PathBuf::from),
        };
        match dir.filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) if !dir.is_dir() => Err(Error::UndefinedFile(format!(
                "could not open file \"{path}\": directory \"{}\" does not exist",
                dir.display()
            ))),
            _ => Ok(()),
        }
    }

    /// Before a pipeline opens file streams: every path is still allowed.
    pub(super) fn check_file_sources<'a>(&self, options: impl IntoIterator<Item = &'a Options>) -> Result<()> {
        for path in options.into_iter().filter_map(file_path) {
            self.inner.config.file_roots.check(path, Access::Read)?;
        }
        Ok(())
    }

    /// A file sink: its path is allowed, no other sink of `catalog` writes it, and a new
    /// sink (`new`) does not find the file there already.
    pub(super) fn check_file_sink(&self, catalog: &Catalog, name: &str, options: &Options, new: bool) -> Result<()> {
        let Some(path) = file_path(options) else { return Ok(()) };
        if new {
            connector::sink::check_file_options(options)?;
        }
        let resolved = self.inner.config.file_roots.check(path, Access::Write)?;
        for (other, sink) in &catalog.sinks {
            let theirs = file_path(&sink.options).and_then(|p| resolve(Path::new(p)).ok());
            if other != name && theirs.as_ref() == Some(&resolved) {
                return Err(Error::ObjectInUse(format!("file \"{path}\" is already written by sink \"{other}\"")));
            }
        }
        if new && std::fs::symlink_metadata(&resolved).is_ok() {
            return Err(Error::DuplicateFile {
                message: format!("could not create file \"{path}\": file exists"),
                hint: Some(
                    "A file sink writes only files it creates itself; remove the file or choose another path.".into(),
                ),
            });
        }
        Ok(())
    }
}

/// For statements that create a file stream, table or sink: the refusal a user without
/// superuser rights gets (like Postgres's `pg_read_server_files`).
pub(super) fn file_privilege(stmt: &Statement, user: &str) -> Result<()> {
    let (options, access) = match stmt {
        Statement::CreateStream(s) | Statement::CreateTable(s) => (&s.options, "read"),
        Statement::CreateSink(k) => (&k.options, "write"),
        _ => return Ok(()),
    };
    if options.get("connector").map(String::as_str) != Some("file") {
        return Ok(());
    }
    Err(Error::InsufficientPrivilege {
        message: format!("permission denied to {access} server files for user \"{user}\""),
        hint: Some(
            "Only superusers may create file streams, tables and sinks; mark the user \"superuser\" in the --auth file."
                .into(),
        ),
    })
}
