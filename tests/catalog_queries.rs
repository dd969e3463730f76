//! Replays the catalog queries that BI tools and drivers send on connect and while browsing
//! (Metabase, Grafana, DBeaver, pgjdbc's DatabaseMetaData, SQLAlchemy/Superset, DataGrip,
//! pgcli, Tableau) against the real server, over both the simple and the extended
//! protocol, and checks that none fails and that the listings name the user's stream and
//! materialized view. Statements marked `-- known-failure: <SQLSTATE> <why>` are what
//! Sluice does not support yet: they must still fail cleanly with that SQLSTATE (and the
//! connection must go on), and the test fails once one of them works, so the mark goes. The statements and where each comes from are in
//! `tests/catalog_queries/` (see its README).

mod common;

use std::path::Path;

use common::Server;
use tokio_postgres::SimpleQueryMessage;

/// The objects the replayed queries name: `bids` (a stream) and `bids_mv` (a view).
const SETUP: &str = "
CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, date_time TIMESTAMP,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json');
CREATE MATERIALIZED VIEW bids_mv AS SELECT auction, count(*) AS n, max(price) AS top FROM bids GROUP BY auction;
FLUSH;
";

/// One replayed statement.
struct Replayed {
    /// `file:line` of its first line.
    at: String,
    /// Its `-- source:` line.
    source: String,
    /// Its text.
    sql: String,
    /// The SQLSTATE it is known to fail with today, and why (a `-- known-failure:` line).
    known_failure: Option<(String, String)>,
}

/// The statements of a replay file: text up to a line that is exactly `;`.
fn statements(path: &Path) -> Vec<Replayed> {
    let text = std::fs::read_to_string(path).expect("read replay file");
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mut out = Vec::new();
    let (mut sql, mut source, mut start, mut known_failure) = (String::new(), String::new(), 0, None);
    for (i, line) in text.lines().enumerate() {
        if line.trim() == ";" {
            out.push(Replayed {
                at: format!("{name}:{}", start + 1),
                source: source.clone(),
                sql: sql.trim().to_string(),
                known_failure: known_failure.take(),
            });
            sql.clear();
            continue;
        }
        if let Some(s) = line.strip_prefix("-- source: ") {
            source = s.to_string();
        }
        if let Some((code, why)) = line.strip_prefix("-- known-failure: ").and_then(|s| s.split_once(' ')) {
            known_failure = Some((code.to_string(), why.to_string()));
            continue;
        }
        let is_header =
            ["-- source:", "-- purpose:", "-- note:", "--   ", "-- ===", "-- RAW"].iter().any(|p| line.starts_with(p));
        if is_header || (sql.is_empty() && line.trim().is_empty()) {
            continue;
        }
        if sql.is_empty() {
            start = i;
        }
        sql.push_str(line);
        sql.push('\n');
    }
    out
}

/// True for statements a driver also sends through the extended protocol (queries).
fn is_query(sql: &str) -> bool {
    let first = sql.lines().find(|l| !l.trim_start().starts_with("--")).unwrap_or("").trim_start().to_lowercase();
    first.starts_with("select") || first.starts_with("with") || first.starts_with("show")
}

/// Rows of a simple query as text.
fn rows(messages: &[SimpleQueryMessage]) -> Vec<Vec<String>> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).unwrap_or("").to_string()).collect()),
            _ => None,
        })
        .collect()
}

fn replay_files() -> Vec<std::path::PathBuf> {
    let dir = common::repo_root().join("tests/catalog_queries");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("replay dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bi_tools_catalog_queries_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client().await;
    client.batch_execute(SETUP).await.unwrap();

    let mut failures = Vec::new();
    let (mut count, mut known) = (0, 0);
    for file in replay_files() {
        for stmt in statements(&file) {
            count += 1;
            if let Some((expected, why)) = &stmt.known_failure {
                // Still failing, cleanly, with the SQLSTATE noted; once it works, drop the mark.
                match client.simple_query(&stmt.sql).await {
                    Ok(_) => failures.push(format!("{} now works: remove its known-failure mark ({why})", stmt.at)),
                    Err(e) if e.code().is_some_and(|c| c.code() == expected) => known += 1,
                    Err(e) => {
                        failures.push(format!("{} failed with [{}], not the known {expected}", stmt.at, code(&e)))
                    }
                }
                continue;
            }
            if let Err(e) = client.simple_query(&stmt.sql).await {
                failures.push(format!("{} (simple) [{}]\n  source: {}", stmt.at, code(&e), stmt.source));
                continue;
            }
            if is_query(&stmt.sql)
                && let Err(e) = client.query(stmt.sql.as_str(), &[]).await
            {
                failures.push(format!("{} (extended) [{}]\n  source: {}", stmt.at, code(&e), stmt.source));
            }
        }
    }
    assert!(count > 200, "only {count} statements found");
    println!("{count} statements replayed; {known} fail as their known-failure marks say");
    assert!(failures.is_empty(), "{} of {count} statements failed:\n{}", failures.len(), failures.join("\n"));
}

/// SQLSTATE and message of a failure.
fn code(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        None => format!("no sqlstate: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_pings_get_an_empty_response() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client().await;
    // Grafana's pgx pings with a comment, lib/pq and SQLAlchemy over psycopg 3 with ";".
    for ping in ["-- ping", ";", ""] {
        let messages = client.simple_query(ping).await.unwrap_or_else(|e| panic!("{ping:?}: {e}"));
        assert!(rows(&messages).is_empty(), "{ping:?}");
    }
    client.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_name_the_stream_and_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client().await;
    client.batch_execute(SETUP).await.unwrap();

    // pgjdbc's getTables (Metabase, DBeaver): bids is a TABLE, bids_mv a MATERIALIZED VIEW.
    let tables = rows(
        &client
            .simple_query(
                "SELECT c.relname, CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'v' THEN 'VIEW' \
                 WHEN 'm' THEN 'MATERIALIZED VIEW' END FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c \
                 WHERE c.relnamespace = n.oid AND n.nspname = 'public' ORDER BY 1",
            )
            .await
            .unwrap(),
    );
    assert_eq!(tables, vec![vec!["bids", "TABLE"], vec!["bids_mv", "MATERIALIZED VIEW"]]);
    // pg_class is kept between reads; a relation created or dropped shows at once, also
    // one dropped and created again under its name as another kind.
    let listed = "SELECT c.relname, c.relkind, c.relnatts FROM pg_catalog.pg_class c \
                  JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid WHERE n.nspname = 'public' ORDER BY 1";
    let before = rows(&client.simple_query(listed).await.unwrap());
    assert_eq!(before, rows(&client.simple_query(listed).await.unwrap()), "the same rows twice");
    client
        .batch_execute(
            "DROP MATERIALIZED VIEW bids_mv;
             CREATE STREAM bids_mv (a BIGINT) WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json');
             CREATE MATERIALIZED VIEW extra AS SELECT auction FROM bids",
        )
        .await
        .unwrap();
    let after = rows(&client.simple_query(listed).await.unwrap());
    assert_eq!(after, vec![vec!["bids", "r", "5"], vec!["bids_mv", "r", "1"], vec!["extra", "m", "1"]], "{before:?}");
    client
        .batch_execute(
            "DROP MATERIALIZED VIEW extra; DROP STREAM bids_mv;
             CREATE MATERIALIZED VIEW bids_mv AS SELECT auction, count(*) AS n, max(price) AS top FROM bids GROUP BY auction",
        )
        .await
        .unwrap();
    assert_eq!(rows(&client.simple_query(listed).await.unwrap()), before);

    // Grafana and Superset read information_schema.
    let columns = rows(
        &client
            .simple_query(
                "SELECT column_name, data_type FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name = 'bids_mv' ORDER BY ordinal_position",
            )
            .await
            .unwrap(),
    );
    assert_eq!(columns, vec![vec!["auction", "bigint"], vec!["n", "bigint"], vec!["top", "bigint"]]);
    let matviews = rows(&client.simple_query("SELECT matviewname FROM pg_matviews").await.unwrap());
    assert_eq!(matviews, vec![vec!["bids_mv"]]);
    // Sluice has no keys: the constraint views exist, with Postgres's columns, and are empty.
    let keys = rows(
        &client
            .simple_query(
                "SELECT tc.table_name, kc.column_name FROM information_schema.table_constraints tc \
                 JOIN information_schema.key_column_usage kc ON tc.constraint_name = kc.constraint_name \
                 WHERE tc.constraint_type = 'PRIMARY KEY'",
            )
            .await
            .unwrap(),
    );
    assert!(keys.is_empty(), "{keys:?}");
    // Grafana's aggregate list joins pg_aggregate to pg_proc on the function's object id.
    let aggregates = rows(
        &client
            .simple_query(
                "SELECT DISTINCT proname FROM pg_aggregate JOIN pg_proc ON aggfnoid = pg_proc.oid \
                 JOIN pg_type ON pg_type.oid = prorettype WHERE pronargs = 1 AND typname = 'float8' \
                 AND proname IN ('avg', 'count', 'max', 'stddev') ORDER BY 1",
            )
            .await
            .unwrap(),
    );
    assert_eq!(aggregates, vec![vec!["avg"], vec!["max"], vec!["stddev"]]);
    // DataGrip's time zones; Sluice's own catalog tables are found without schema, too.
    let zones = rows(
        &client
            .simple_query(
                "SELECT name, abbrev, utc_offset, is_dst FROM pg_timezone_names \
                 WHERE name IN ('UTC', 'Asia/Kolkata') ORDER BY 1",
            )
            .await
            .unwrap(),
    );
    assert_eq!(zones, vec![vec!["Asia/Kolkata", "IST", "05:30:00", "f"], vec!["UTC", "UTC", "00:00:00", "f"]]);
    assert!(rows(&client.simple_query("SELECT pid FROM pg_locks").await.unwrap()).is_empty());
    let settings =
        rows(&client.simple_query("SELECT context FROM pg_settings WHERE name = 'application_name'").await.unwrap());
    assert_eq!(settings, vec![vec!["user"]]);
}

/// Metabase's field sync (describe-fields) reads `information_schema.columns` and adds the
/// materialized views' columns from `pg_attribute`, as Postgres needs: each column comes
/// once, typed and numbered from 0 as Metabase expects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metabase_field_sync_lists_each_column_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client().await;
    client.batch_execute(SETUP).await.unwrap();
    let path = common::repo_root().join("tests/catalog_queries/metabase.sql");
    let sync =
        statements(&path).into_iter().find(|s| s.sql.contains("\"database-position\"")).expect("describe-fields");
    let fields: Vec<Vec<String>> = rows(&client.simple_query(&sync.sql).await.unwrap())
        .into_iter()
        .map(|r| vec![r[4].clone(), r[0].clone(), r[1].clone(), r[2].clone()])
        .collect();
    let expected = [
        ["bids", "auction", "int8", "0"],
        ["bids", "bidder", "int8", "1"],
        ["bids", "price", "int8", "2"],
        ["bids", "channel", "text", "3"],
        ["bids", "date_time", "timestamp", "4"],
        ["bids_mv", "auction", "int8", "0"],
        ["bids_mv", "n", "int8", "1"],
        ["bids_mv", "top", "int8", "2"],
    ];
    assert_eq!(fields, expected.map(|r| r.map(String::from).to_vec()).to_vec());
    // Other clients see the view's columns in information_schema, numbered from 1.
    let positions = rows(
        &client
            .simple_query(
                "SELECT ordinal_position FROM information_schema.columns \
                 WHERE table_name = 'bids_mv' ORDER BY ordinal_position",
            )
            .await
            .unwrap(),
    );
    assert_eq!(positions, vec![vec!["1"], vec!["2"], vec!["3"]]);
}
