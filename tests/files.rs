//! File access and file robustness against the real binary: file streams and sinks only
//! inside `--file-root` directories (after `..` and symbolic links), only for superusers
//! when clients log in with passwords, checks at CREATE time (missing directory, options
//! that do not apply, a sink's file that exists or another sink writes), a restart after a
//! root was removed, and a followed file rotated with copytruncate read again from its
//! start without losing or making up a row.

mod common;

use std::io::Write;
use std::path::Path;

use common::{Server, query_rows, wait_for};
use tokio_postgres::{Client, NoTls};

/// The SQLSTATE, message and hint of the error `sql` fails with.
async fn error_of(client: &Client, sql: &str) -> (String, String, String) {
    let error = client.batch_execute(sql).await.expect_err(sql);
    let db = error.as_db_error().unwrap_or_else(|| panic!("{sql}: {error}"));
    (db.code().code().to_string(), db.message().to_string(), db.hint().unwrap_or_default().to_string())
}

fn stream_over(name: &str, path: &str, extra: &str) -> String {
    format!("CREATE STREAM {name} (id BIGINT) WITH (connector = 'file', path = '{path}', format = 'json'{extra})")
}

fn json_lines(ids: std::ops::Range<i64>) -> String {
    ids.map(|i| format!("{{\"id\":{i}}}\n")).collect()
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_outside_the_file_roots_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"));
    let client = server.client().await;
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).unwrap();
    let inside_link = dir.path().join("passwd").display().to_string();
    for path in ["/etc/passwd", "../../../../../../etc/passwd", "tests/../../../etc/passwd", &inside_link, "/etc/*"] {
        let (code, message, hint) = error_of(&client, &stream_over("s", path, "")).await;
        assert_eq!(code, "42501", "{path}: {message}");
        let expected = format!("could not open file \"{path}\" for reading: outside the allowed file roots");
        assert_eq!(message, expected);
        assert!(hint.contains("--file-root"), "{hint}");
    }
    let sink = "CREATE SINK out FROM s WITH (connector = 'file', path = '/tmp/../etc/sluice-out.json')";
    client.batch_execute(&stream_over("s", "tests/data/bids_small.json", "")).await.unwrap();
    let (code, message, _) = error_of(&client, sink).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("42501", "could not open file \"/tmp/../etc/sluice-out.json\" for writing: outside the allowed file roots")
    );
    // The repository's files (the quickstart's) and the test's directory stay usable.
    client.batch_execute(&stream_over("q", "sql/data/bids", "")).await.unwrap();
    let ours = dir.path().join("later.json").display().to_string();
    client.batch_execute(&stream_over("later", &ours, "")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_removed_at_restart_stops_every_read_of_its_streams() {
    let dir = tempfile::tempdir().unwrap();
    let (data, files) = (dir.path().join("db"), dir.path().join("files"));
    std::fs::create_dir(&files).unwrap();
    append(&files.join("a.json"), "{\"id\": 1, \"ts\": \"2026-01-01 10:00:00\"}\n");
    let repo = common::repo_root().display().to_string();
    let server = Server::start_with(&data, &["--file-root", &repo, "--file-root", &files.display().to_string()]);
    let client = server.client().await;
    let create = format!(
        "CREATE STREAM s (id BIGINT, ts TIMESTAMP) WITH (connector = 'file', path = '{}', format = 'json')",
        files.join("a.json").display()
    );
    client.batch_execute(&create).await.unwrap();
    let reads = [
        "SELECT count(*) FROM s",
        "SELECT window_start, count(*) FROM TUMBLE(s, ts, INTERVAL '1' SECOND) GROUP BY 1",
        "SELECT count(*) FROM HOP(s, ts, INTERVAL '1' SECOND, INTERVAL '2' SECOND)",
    ];
    for sql in reads {
        client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    drop(client);
    drop(server);

    // The operator takes the directory out of the roots: the stream is still listed, but
    // nothing reads its file any more, neither ad-hoc queries nor push queries.
    let server = Server::start_with(&data, &["--file-root", &repo]);
    let client = server.client().await;
    let subscribe = "SUBSCRIBE TO s";
    for sql in reads.iter().chain([&subscribe]) {
        let refused = tokio::time::timeout(std::time::Duration::from_secs(30), error_of(&client, sql)).await;
        let (code, message, _) = refused.unwrap_or_else(|_| panic!("{sql}: not refused"));
        assert_eq!(code, "42501", "{sql}: {message}");
        assert!(message.ends_with("for reading: outside the allowed file roots"), "{sql}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_checks_directories_options_and_sink_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"));
    let client = server.client().await;
    let (code, message, _) = error_of(&client, &stream_over("s", "nonexistent_dir/x.json", "")).await;
    assert_eq!(code, "58P01", "{message}");
    assert_eq!(message, "could not open file \"nonexistent_dir/x.json\": directory \"nonexistent_dir\" does not exist");
    assert_eq!(error_of(&client, &stream_over("s", "nonexistent_dir/*.json", "")).await.0, "58P01");
    let (code, message, _) = error_of(&client, &stream_over("s", "x.json", ", header = 'false'")).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("22023", "option \"header\" applies only to format 'csv', not to format 'json'")
    );
    let (code, message, _) = error_of(&client, &stream_over("s", "x.json", ", colour = 'red'")).await;
    assert_eq!(code, "22023");
    assert!(message.starts_with("unknown option \"colour\" for connector \"file\""), "{message}");

    client.batch_execute(&stream_over("s", "tests/data/bids_small.json", "")).await.unwrap();
    let existing = dir.path().join("existing.json");
    std::fs::write(&existing, "precious\n").unwrap();
    let sink = |name: &str, path: &Path| {
        format!("CREATE SINK {name} FROM s WITH (connector = 'file', path = '{}')", path.display())
    };
    let (code, message, hint) = error_of(&client, &sink("a", &existing)).await;
    assert_eq!(code, "58P02", "{message}");
    assert!(hint.contains("creates itself"), "{hint}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "precious\n", "left alone");
    let out = dir.path().join("out.json");
    client.batch_execute(&sink("a", &out)).await.unwrap();
    let same = dir.path().join("sub/../out.json");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let (code, message, _) = error_of(&client, &sink("b", &same)).await;
    assert_eq!(code, "55006", "{message}");
    assert!(message.ends_with("is already written by sink \"a\""), "{message}");
    let (code, _, _) =
        error_of(&client, &format!("{} WITH (connector = 'file', path = 'x', colour = 'red')", "CREATE SINK c FROM s"))
            .await;
    assert_eq!(code, "22023");
}

async fn connect(server: &Server, user: &str, password: &str) -> Client {
    let conn = format!("host=127.0.0.1 port={} user={user} password={password} dbname=sluice", server.port);
    let (client, connection) = tokio_postgres::connect(&conn, NoTls).await.expect("log in");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_superusers_use_files_when_clients_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.conf");
    let text =
        format!("{} superuser\n{}\n", common::users_line("root", "root-pw"), common::users_line("bob", "bob-pw"));
    std::fs::write(&users, text).unwrap();
    let server = Server::start_with(&dir.path().join("db"), &["--auth", users.to_str().unwrap()]);
    let bob = connect(&server, "bob", "bob-pw").await;
    let (code, message, hint) = error_of(&bob, &stream_over("s", "tests/data/bids_small.json", "")).await;
    assert_eq!(code, "42501");
    assert_eq!(message, "permission denied to read server files for user \"bob\"");
    assert!(hint.contains("superuser"), "{hint}");
    bob.batch_execute("CREATE STREAM g (id BIGINT) WITH (connector = 'datagen')").await.unwrap();
    let root = connect(&server, "root", "root-pw").await;
    root.batch_execute(&stream_over("s", "tests/data/bids_small.json", "")).await.unwrap();
    let out = dir.path().join("out.json").display().to_string();
    let sink = format!("CREATE SINK o FROM s WITH (connector = 'file', path = '{out}')");
    let (code, message, _) = error_of(&bob, &sink).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("42501", "permission denied to write server files for user \"bob\"")
    );
    root.batch_execute(&sink).await.unwrap();
    let counted = query_rows(&bob, "SELECT count(*) FROM s").await;
    assert_eq!(counted.len(), 1, "reading a stream needs no privilege");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_removed_before_a_restart_fails_only_its_objects() {
    let dir = tempfile::tempdir().unwrap();
    let (allowed, other) = (dir.path().join("allowed"), dir.path().join("other"));
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let input = allowed.join("in.json");
    append(&input, &json_lines(0..10));
    let data = dir.path().join("db");
    let mut server = Server::start_with(&data, &["--file-root", allowed.to_str().unwrap()]);
    let client = server.client().await;
    client.batch_execute(&stream_over("s", input.to_str().unwrap(), "")).await.unwrap();
    client.batch_execute("CREATE MATERIALIZED VIEW v AS SELECT id FROM s; FLUSH").await.unwrap();
    server.terminate();
    let server = Server::start_with(&data, &["--file-root", other.to_str().unwrap()]);
    let client = server.client().await;
    assert_eq!(query_rows(&client, "SELECT 1").await, vec![vec!["1".to_string()]]);
    assert_eq!(query_rows(&client, "SELECT name FROM sluice_catalog.streams").await, vec![vec!["s".to_string()]]);
    let (code, _, _) = error_of(&client, "CREATE MATERIALIZED VIEW w AS SELECT id FROM s").await;
    assert_eq!(code, "42501");
    let (code, _, _) = error_of(&client, "SELECT count(*) FROM s").await;
    assert_eq!(code, "42501", "ad-hoc reads too");
    client.batch_execute("DROP STREAM s CASCADE").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_rotation_loses_and_invents_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("db"));
    let client = server.client().await;
    let log = dir.path().join("app.log");
    append(&log, &json_lines(0..2_000));
    client.batch_execute(&stream_over("s", log.to_str().unwrap(), "")).await.unwrap();
    client.batch_execute("CREATE MATERIALIZED VIEW v AS SELECT id FROM s").await.unwrap();
    let count = "SELECT count(*) FROM v";
    wait_for(&client, count, 0, |n| n == "2000", "SELECT * FROM sluice_catalog.sources").await;
    // logrotate's copytruncate: copy, then cut the file to nothing; the writer goes on.
    std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    append(&log, &json_lines(5_000_000..5_003_000));
    wait_for(&client, count, 0, |n| n == "5000", "SELECT * FROM sluice_catalog.sources").await;
    client.batch_execute("FLUSH").await.unwrap();
    let ids: Vec<i64> =
        query_rows(&client, "SELECT id FROM v ORDER BY id").await.iter().map(|r| r[0].parse().unwrap()).collect();
    let expected: Vec<i64> = (0..2_000).chain(5_000_000..5_003_000).collect();
    assert!(ids == expected, "{} rows; first unexpected: {:?}", ids.len(), ids.iter().find(|i| !expected.contains(i)));
    let errors = query_rows(&client, "SELECT count(*) FROM sluice_catalog.source_errors").await;
    assert_eq!(errors, vec![vec!["0".to_string()]], "no line read from its middle");
    let shown = query_rows(&client, "SELECT restarts, position, state FROM sluice_catalog.sources").await;
    assert_eq!(shown, vec![vec!["1".to_string(), "3000".to_string(), "reading".to_string()]]);
}
