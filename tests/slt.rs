//! Runs every `tests/slt/*.slt` file over pgwire against a fresh `sluice serve`.
//!
//! Each file gets its own server and data directory. Paths in the files are relative to the
//! repository root, where the server runs; `$FILES_DIR` (with `control substitution on`)
//! is a directory for files the test makes, inside the server's file roots. An error reads
//! `message (SQLSTATE code)`, then ` HINT: hint` when the server sent one, for
//! `statement error` patterns to match.

mod common;

use std::path::PathBuf;

use async_trait::async_trait;
use sqllogictest::{DBOutput, DefaultColumnType};

struct Sluice {
    client: tokio_postgres::Client,
}

#[derive(Debug)]
struct SqlError(String);

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SqlError {}

#[async_trait]
impl sqllogictest::AsyncDB for Sluice {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let messages = self.client.simple_query(sql).await.map_err(|e| match e.as_db_error() {
            Some(db) => {
                let hint = db.hint().map(|h| format!(" HINT: {h}")).unwrap_or_default();
                SqlError(format!("{} (SQLSTATE {}){hint}", db.message(), db.code().code()))
            }
            None => SqlError(e.to_string()),
        })?;
        let mut rows = Vec::new();
        let mut width = None;
        for m in messages {
            match m {
                tokio_postgres::SimpleQueryMessage::RowDescription(cols) => width = Some(cols.len()),
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    width = Some(row.len());
                    rows.push((0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_string()).collect());
                }
                _ => {}
            }
        }
        match width {
            Some(n) => Ok(DBOutput::Rows { types: vec![DefaultColumnType::Any; n], rows }),
            None => Ok(DBOutput::StatementComplete(0)),
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "sluice"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = common::repo_root().join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    // SLT_FILTER=name runs only the files whose path contains `name`.
    if let Ok(only) = std::env::var("SLT_FILTER") {
        files.retain(|p| p.to_string_lossy().contains(&only));
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files found");
    let mut failures = Vec::new();
    for file in &files {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = common::Server::start(dir.path());
        let conn = server.conn_string();
        let mut runner = sqllogictest::Runner::new(move || {
            let conn = conn.clone();
            async move {
                let (client, connection) =
                    tokio_postgres::connect(&conn, tokio_postgres::NoTls).await.map_err(|e| SqlError(e.to_string()))?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok::<_, SqlError>(Sluice { client })
            }
        });
        // Files a test writes go under its server's temporary directory, a file root.
        runner.set_var("FILES_DIR".into(), dir.path().join("files").display().to_string());
        match runner.run_file_async(file).await {
            Ok(()) => println!("ok   {}", file.display()),
            Err(e) => {
                println!("FAIL {}\n{e}", file.display());
                failures.push(file.display().to_string());
            }
        }
        drop(server);
    }
    assert!(failures.is_empty(), "failed slt files: {failures:?}");
}
