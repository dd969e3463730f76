//! The differential test: every query of `tests/pg_diff/*.sql` runs against `sluice serve`
//! and a real PostgreSQL server over the same small tables (`tests/pg_diff/tables.sql`, rows
//! in `tests/pg_diff/data/`), and the two results are compared: column names, every value
//! in its text form, row order where the query orders, and the SQLSTATE where a query fails.
//!
//! `tests/pg_diff/differences.txt` lists every query whose result differs today and how
//! (`names`, `values` or `error`), each explained in `docs/postgres-compatibility.md`. The
//! test fails when a query differs in a way the list does not say, and also when a listed
//! difference is gone, so the list stays exact. After a change that fixes differences,
//! `PG_DIFF_BLESS=1 cargo test --release --test pg_diff` rewrites the list; the diff shows
//! what was fixed (and anything that broke).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Server;
use common::postgres::Postgres;
use tokio_postgres::{Client, SimpleQueryMessage};

/// How long one query may take on either server.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

fn corpus_dir() -> PathBuf {
    common::repo_root().join("tests/pg_diff")
}

/// What a query gave: rows with their column names, or a failure's SQLSTATE.
#[derive(Debug, PartialEq)]
enum Outcome {
    Rows { names: Vec<String>, rows: Vec<Vec<Option<String>>> },
    Error { code: String, message: String },
}

/// How Sluice's outcome differs from PostgreSQL's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Same,
    /// The same values under other column names.
    Names,
    /// Other values, types' text or rows.
    Values,
    /// One failed and the other did not, or both failed with different SQLSTATEs.
    Error,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Same => "same",
            Verdict::Names => "names",
            Verdict::Values => "values",
            Verdict::Error => "error",
        }
    }
}

/// One query of the corpus: its file, its text on one line, and whether its rows come in a
/// defined order.
struct Query {
    file: String,
    sql: String,
    ordered: bool,
}

impl Query {
    fn key(&self) -> String {
        format!("{} {}", self.file, self.sql)
    }
}

/// The statements of a corpus file: each ends with a `;` at the end of a line; lines that
/// start with `--` are comments.
fn statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("--") {
            continue;
        }
        current.push_str(trimmed);
        current.push(' ');
        if trimmed.ends_with(';') {
            let sql = current.trim().trim_end_matches(';').trim().to_string();
            out.push(sql.split_whitespace().collect::<Vec<_>>().join(" "));
            current.clear();
        }
    }
    assert!(current.trim().is_empty(), "a statement without its closing ';': {current}");
    out
}

/// True when the outermost query orders its rows: an `ORDER BY` outside every parenthesis
/// and string literal.
fn is_ordered(sql: &str) -> bool {
    let lower = sql.to_lowercase();
    let (mut depth, mut quoted) = (0i32, false);
    for (at, c) in lower.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            'o' if !quoted && depth == 0 && lower[at..].starts_with("order by") => return true,
            _ => {}
        }
    }
    false
}

fn corpus() -> Vec<Query> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/pg_diff")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql") && !p.ends_with("tables.sql"))
        .collect();
    files.sort();
    let mut queries = Vec::new();
    for path in files {
        let file = path.file_name().and_then(|n| n.to_str()).expect("a file name").to_string();
        let text = std::fs::read_to_string(&path).expect("read a corpus file");
        for sql in statements(&text) {
            queries.push(Query { ordered: is_ordered(&sql), file: file.clone(), sql });
        }
    }
    queries
}

/// `CREATE TABLE name (columns)` of tables.sql: the name and the column list.
fn table_definitions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus_dir().join("tables.sql")).expect("tables.sql");
    statements(&text)
        .into_iter()
        .map(|sql| {
            let rest = sql.strip_prefix("CREATE TABLE ").expect("CREATE TABLE name (...)");
            let (name, columns) = rest.split_once(' ').expect("CREATE TABLE name (...)");
            (name.to_string(), columns.to_string())
        })
        .collect()
}

fn data_file(table: &str) -> PathBuf {
    corpus_dir().join("data").join(format!("{table}.jsonl"))
}

/// The same rows in both: PostgreSQL reads the JSON lines with `json_populate_recordset`,
/// Sluice as a file stream.
async fn load(postgres: &Client, sluice: &Client) {
    for (name, columns) in table_definitions() {
        postgres.batch_execute(&format!("CREATE TABLE {name} {columns}")).await.expect("create a PostgreSQL table");
        let lines = std::fs::read_to_string(data_file(&name)).expect("a data file");
        let array = format!("[{}]", lines.lines().collect::<Vec<_>>().join(","));
        let insert = format!("INSERT INTO {name} SELECT * FROM json_populate_recordset(NULL::{name}, $1::text::json)");
        postgres.execute(&insert, &[&array]).await.unwrap_or_else(|e| panic!("load {name} into PostgreSQL: {e}"));
        let path = Path::new("tests/pg_diff/data").join(format!("{name}.jsonl"));
        let stream = format!(
            "CREATE STREAM {name} {columns} WITH (connector = 'file', path = '{}', format = 'json')",
            path.display()
        );
        sluice.batch_execute(&stream).await.unwrap_or_else(|e| panic!("{stream}: {e}"));
    }
}

async fn run(client: &Client, sql: &str) -> Outcome {
    let messages = match tokio::time::timeout(QUERY_TIMEOUT, client.simple_query(sql)).await {
        Err(_) => return Outcome::Error { code: "timeout".into(), message: "no answer within 30 s".into() },
        Ok(Err(e)) => {
            let code = e.code().map_or("none", |c| c.code()).to_string();
            let message = e.as_db_error().map_or_else(|| e.to_string(), |d| d.message().to_string());
            return Outcome::Error { code, message };
        }
        Ok(Ok(messages)) => messages,
    };
    let mut names = Vec::new();
    let mut rows = Vec::new();
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                names = columns.iter().map(|c| c.name().to_string()).collect();
            }
            SimpleQueryMessage::Row(row) => rows.push((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect()),
            _ => {}
        }
    }
    Outcome::Rows { names, rows }
}

fn compare(postgres: &Outcome, sluice: &Outcome, ordered: bool) -> Verdict {
    match (postgres, sluice) {
        (Outcome::Error { code: a, .. }, Outcome::Error { code: b, .. }) if a == b => Verdict::Same,
        (Outcome::Rows { names: pn, rows: pr }, Outcome::Rows { names: sn, rows: sr }) => {
            let (mut pr, mut sr) = (pr.clone(), sr.clone());
            if !ordered {
                pr.sort();
                sr.sort();
            }
            match (pr == sr, pn == sn) {
                (true, true) => Verdict::Same,
                (true, false) => Verdict::Names,
                (false, _) => Verdict::Values,
            }
        }
        _ => Verdict::Error,
    }
}

fn show(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Error { code, message } => format!("ERROR {code}: {message}"),
        Outcome::Rows { names, rows } => {
            let mut text = names.join(" | ");
            for row in rows.iter().take(12) {
                let values: Vec<&str> = row.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect();
                let _ = write!(text, "\n      {}", values.join(" | "));
            }
            if rows.len() > 12 {
                let _ = write!(text, "\n      ... {} rows", rows.len());
            }
            text
        }
    }
}

fn differences_file() -> PathBuf {
    corpus_dir().join("differences.txt")
}

/// The recorded differences: query key → verdict name.
fn recorded() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(differences_file()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (verdict, key) = l.split_once(' ').expect("`verdict file query` lines");
            (key.to_string(), verdict.to_string())
        })
        .collect()
}

fn write_recorded(found: &BTreeMap<String, Verdict>) {
    let mut text = String::from(
        "# Queries of tests/pg_diff whose results differ from PostgreSQL's today, and how\n\
         # (names, values or error); see docs/postgres-compatibility.md. Written by\n\
         # PG_DIFF_BLESS=1 cargo test --release --test pg_diff.\n",
    );
    for (key, verdict) in found.iter().filter(|(_, v)| **v != Verdict::Same) {
        let _ = writeln!(text, "{} {key}", verdict.name());
    }
    std::fs::write(differences_file(), text).expect("write differences.txt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_match_postgresql() {
    let postgres_server = Postgres::start();
    let postgres = postgres_server.client().await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"));
    let mut sluice = server.client().await;
    load(&postgres, &sluice).await;

    let queries = corpus();
    let mut found = BTreeMap::new();
    let mut report = String::new();
    for query in &queries {
        if sluice.is_closed() {
            let _ = writeln!(report, "the connection to sluice closed before: {}", query.sql);
            sluice = server.client().await;
        }
        let expected = run(&postgres, &query.sql).await;
        let actual = run(&sluice, &query.sql).await;
        let verdict = compare(&expected, &actual, query.ordered);
        if verdict != Verdict::Same {
            let _ = writeln!(
                report,
                "{} {}: {}\n  postgres: {}\n  sluice:   {}",
                verdict.name(),
                query.file,
                query.sql,
                show(&expected),
                show(&actual)
            );
        }
        found.insert(query.key(), verdict);
    }
    let count = |v: Verdict| found.values().filter(|f| **f == v).count();
    eprintln!("{report}");
    eprintln!(
        "pg_diff: {} queries: {} identical, {} with other column names, {} with other values, {} with another error",
        queries.len(),
        count(Verdict::Same),
        count(Verdict::Names),
        count(Verdict::Values),
        count(Verdict::Error)
    );
    assert_eq!(found.len(), queries.len(), "two queries of one file have the same text");

    if std::env::var_os("PG_DIFF_BLESS").is_some() {
        write_recorded(&found);
        return;
    }
    let recorded = recorded();
    let mut changed = Vec::new();
    for (key, verdict) in &found {
        let was = recorded.get(key).map_or("same", String::as_str);
        if was != verdict.name() {
            changed.push(format!("{key}: recorded {was}, now {}", verdict.name()));
        }
    }
    for key in recorded.keys().filter(|k| !found.contains_key(*k)) {
        changed.push(format!("{key}: recorded, but no longer in the corpus"));
    }
    assert!(
        changed.is_empty(),
        "results differ from tests/pg_diff/differences.txt (PG_DIFF_BLESS=1 rewrites it):\n{}",
        changed.join("\n")
    );
}

#[test]
fn statements_split_at_line_ends_and_skip_comments() {
    let text = "-- a comment\nSELECT 1;\nSELECT 'a;b',\n  2;\n";
    assert_eq!(statements(text), vec!["SELECT 1", "SELECT 'a;b', 2"]);
    assert!(is_ordered("SELECT * FROM (SELECT 1 ORDER BY 1) t ORDER BY 1"));
    assert!(!is_ordered("SELECT * FROM (SELECT x FROM t ORDER BY 1 LIMIT 2) s"));
    assert!(is_ordered("SELECT s FROM words ORDER BY lower(s), id"));
    assert!(!is_ordered("SELECT 'order by' FROM t"));
}
