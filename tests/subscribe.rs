//! SUBSCRIBE and push queries with real clients: tokio-postgres reads the rows of
//! `SUBSCRIBE TO v` as they arrive, over the simple and the extended protocol (prepared,
//! and through a portal with a row limit), and cancels it with a CancelRequest; psql
//! streams `COPY (SUBSCRIBE TO v) TO STDOUT` and is interrupted with SIGINT. Each time the
//! subscription is freed (the view's `subscribers` count goes back to 0) and the
//! connection goes on. `SELECT ... WHERE ... EMIT CHANGES` filters a view's changes and
//! follows a stream from its end.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Server, query_rows, wait_for};
use futures::{StreamExt, pin_mut};
use tokio_postgres::{NoTls, Row, SimpleQueryMessage};

const SETUP: &str = "
CREATE STREAM clicks (user_id TEXT, amount INT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
  WITH (connector = 'file', path = 'PATH', format = 'json');
CREATE MATERIALIZED VIEW per_user AS SELECT user_id, count(*) AS clicks, sum(amount) AS total FROM clicks GROUP BY user_id;
FLUSH;
";

/// A server with the clicks stream (holding `lines`) and the per_user view, flushed; the
/// directory lives as long as the returned guard.
async fn start(lines: &[(&str, i64, u32)]) -> (tempfile::TempDir, PathBuf, Server) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("clicks.json");
    append(&data, lines);
    let server = Server::start(&dir.path().join("db"));
    server.client().await.batch_execute(&SETUP.replace("PATH", &data.display().to_string())).await.unwrap();
    (dir, data, server)
}

fn append(path: &Path, lines: &[(&str, i64, u32)]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for (user, amount, second) in lines {
        writeln!(f, r#"{{"user_id": "{user}", "amount": {amount}, "ts": "2026-03-01T10:00:{second:02}"}}"#).unwrap();
    }
}

/// The next data row of a subscription as (op, user, clicks, total).
async fn next_row(
    stream: &mut (impl futures::Stream<Item = Result<SimpleQueryMessage, tokio_postgres::Error>> + Unpin),
) -> [String; 4] {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .expect("a row within a minute")
            .expect("the subscription goes on")
            .expect("no error");
        if let SimpleQueryMessage::Row(row) = message {
            let get = |i: usize| row.get(i).unwrap_or("NULL").to_string();
            return [get(0), get(2), get(3), get(4)];
        }
    }
}

/// The next CopyData message of a `copy_out` stream, as text.
async fn next_message<T: AsRef<[u8]>>(
    stream: &mut (impl futures::Stream<Item = Result<T, tokio_postgres::Error>> + Unpin),
) -> String {
    let chunk = tokio::time::timeout(Duration::from_secs(60), stream.next()).await.expect("a row").unwrap();
    String::from_utf8(chunk.unwrap().as_ref().to_vec()).unwrap()
}

fn row(op: &str, user: &str, clicks: i64, total: i64) -> [String; 4] {
    [op.to_string(), user.to_string(), clicks.to_string(), total.to_string()]
}

/// `COPY (SUBSCRIBE ...) TO STDOUT` through the extended protocol, as drivers send COPY
/// (tokio-postgres' `copy_out`): CopyOut with text rows as they commit, then 57014 on
/// cancel, and the connection goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_subscribe_streams_through_the_extended_protocol() {
    let (_dir, data, server) = start(&[("u1", 1, 0)]).await;
    let client = server.client().await;
    let stream = client.copy_out("COPY (SUBSCRIBE TO per_user) TO STDOUT").await.unwrap();
    pin_mut!(stream);
    let first = next_message(&mut stream).await;
    assert!(first.starts_with("insert\t") && first.ends_with("\tu1\t1\t1\n"), "{first:?}");
    append(&data, &[("u2", 7, 1)]);
    let second = next_message(&mut stream).await;
    assert!(second.starts_with("insert\t") && second.ends_with("\tu2\t1\t7\n"), "{second:?}");
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    assert_eq!(ending_error(&mut stream).await, "57014");
    assert_eq!(query_rows(&client, "SELECT count(*) FROM per_user").await, vec![vec!["2"]], "the connection goes on");
}

/// Each row of `COPY (SUBSCRIBE ...) TO STDOUT` comes in a CopyData message of its own, as
/// Postgres sends COPY's rows: a snapshot of two rows and a commit of an update (a pair of
/// rows) give four messages of one line each. psycopg parses one row from each message, so
/// a message of two rows lost the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_subscribe_sends_one_row_per_message() {
    let (_dir, data, server) = start(&[("u1", 1, 0), ("u2", 7, 1)]).await;
    let client = server.client().await;
    let stream = client.copy_out("COPY (SUBSCRIBE TO per_user) TO STDOUT").await.unwrap();
    pin_mut!(stream);
    let mut messages = vec![next_message(&mut stream).await, next_message(&mut stream).await];
    append(&data, &[("u1", 2, 2)]);
    messages.extend([next_message(&mut stream).await, next_message(&mut stream).await]);
    let rows: Vec<Vec<&str>> = messages
        .iter()
        .map(|m| {
            assert_eq!(m.matches('\n').count(), 1, "one row per message: {m:?}");
            let fields: Vec<&str> = m.trim_end().split('\t').collect();
            [&fields[..1], &fields[2..]].concat()
        })
        .collect();
    let (mut snapshot, update) = (rows[..2].to_vec(), rows[2..].to_vec());
    snapshot.sort();
    assert_eq!(snapshot, [["insert", "u1", "1", "1"], ["insert", "u2", "1", "7"]]);
    assert_eq!(update, [["update_before", "u1", "1", "1"], ["update_after", "u1", "2", "3"]]);
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    assert_eq!(ending_error(&mut stream).await, "57014");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_reads_changes_as_they_commit_and_cancels() {
    let (_dir, data, server) = start(&[("u1", 1, 0), ("u2", 2, 1)]).await;
    let client = server.client().await;

    let stream = client.simple_query_raw("SUBSCRIBE TO per_user").await.unwrap();
    pin_mut!(stream);
    let mut snapshot = vec![next_row(&mut stream).await, next_row(&mut stream).await];
    snapshot.sort();
    assert_eq!(snapshot, vec![row("insert", "u1", 1, 1), row("insert", "u2", 1, 2)]);

    append(&data, &[("u1", 10, 2), ("u3", 5, 3)]);
    let mut changes = vec![next_row(&mut stream).await, next_row(&mut stream).await, next_row(&mut stream).await];
    changes.sort();
    assert_eq!(
        changes,
        vec![row("insert", "u3", 1, 5), row("update_after", "u1", 2, 11), row("update_before", "u1", 1, 1)],
        "u2 did not change, so it does not come out"
    );

    let observer = server.client().await;
    assert_eq!(query_rows(&observer, "SELECT subscribers FROM sluice_catalog.views").await, vec![vec!["1"]]);
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    assert_eq!(ending_error(&mut stream).await, "57014");
    assert_eq!(query_rows(&client, "SELECT count(*) FROM per_user").await, vec![vec!["3"]], "the connection goes on");
    wait_for(&observer, "SELECT subscribers FROM sluice_catalog.views", 0, |v| v == "0", "SHOW MATERIALIZED VIEWS")
        .await;

    // A subscriber whose connection just goes away (psql killed) frees its subscription too.
    let mut leaving = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", "sluice", "-d", "sluice", "-X"])
        .args(["-c", "SUBSCRIBE TO per_user WITH (snapshot = false)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run psql");
    wait_for(&observer, "SELECT subscribers FROM sluice_catalog.views", 0, |v| v == "1", "SHOW MATERIALIZED VIEWS")
        .await;
    leaving.kill().unwrap();
    leaving.wait().unwrap();
    wait_for(&observer, "SELECT subscribers FROM sluice_catalog.views", 0, |v| v == "0", "SHOW MATERIALIZED VIEWS")
        .await;

    let error = client.simple_query("SUBSCRIBE TO no_such_view").await.unwrap_err();
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("42P01"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_copies_a_subscription_until_interrupted() {
    if Command::new("psql").arg("--version").output().is_err() {
        panic!("psql is not installed; scripts/test installs postgresql-client");
    }
    let (dir, data, server) = start(&[("u1", 1, 0)]).await;
    let client = server.client().await;

    let out = dir.path().join("copy.out");
    let mut psql = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", "sluice", "-d", "sluice", "-X"])
        .args(["-c", "COPY (SUBSCRIBE TO per_user) TO STDOUT"])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::piped())
        .spawn()
        .expect("run psql");
    wait_for(&client, "SELECT subscribers FROM sluice_catalog.views", 0, |v| v == "1", "SHOW MATERIALIZED VIEWS").await;
    append(&data, &[("u1", 4, 1)]);
    let epoch = query_rows(&client, "SELECT checkpoint FROM sluice_catalog.views").await[0][0].clone();
    wait_for(&client, "SELECT count(*) FROM per_user WHERE clicks = 2", 0, |v| v == "1", "SELECT * FROM per_user")
        .await;
    wait_for(&client, "SELECT checkpoint FROM sluice_catalog.views", 0, |v| v != epoch, "SHOW MATERIALIZED VIEWS")
        .await;

    // SIGINT: psql sends a CancelRequest and exits with the server's error.
    Command::new("kill").args(["-INT", &psql.id().to_string()]).status().unwrap();
    let status = psql.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(psql.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("canceling statement due to user request"), "{stderr}");
    let copied = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<Vec<&str>> = copied.lines().map(|l| l.split('\t').collect()).collect();
    let ops: Vec<(&str, &str, &str)> = lines.iter().map(|l| (l[0], l[3], l[4])).collect();
    assert_eq!(ops, vec![("insert", "1", "1"), ("update_before", "1", "1"), ("update_after", "2", "5")], "{copied}");
    assert!(lines.iter().all(|l| l.len() == 5 && l[2] == "u1"), "{copied}");
    wait_for(&client, "SELECT subscribers FROM sluice_catalog.views", 0, |v| v == "0", "SHOW MATERIALIZED VIEWS").await;
}

/// A row of `SUBSCRIBE TO per_user` read in binary: (op, user, clicks, total).
fn binary_row(row: &Row) -> [String; 4] {
    [
        row.get::<_, String>(0),
        row.get::<_, String>(2),
        row.get::<_, i64>(3).to_string(),
        row.get::<_, i64>(4).to_string(),
    ]
}

/// The next `n` rows of a prepared subscription, sorted.
async fn next_rows(
    stream: &mut (impl futures::Stream<Item = Result<Row, tokio_postgres::Error>> + Unpin),
    n: usize,
) -> Vec<[String; 4]> {
    let mut rows = Vec::new();
    for _ in 0..n {
        let row = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .expect("a row within a minute")
            .expect("the subscription goes on")
            .expect("no error");
        rows.push(binary_row(&row));
    }
    rows.sort();
    rows
}

/// Waits for the error that ends a subscription stream and returns its SQLSTATE.
async fn ending_error<T>(
    stream: &mut (impl futures::Stream<Item = Result<T, tokio_postgres::Error>> + Unpin),
) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.next()).await.expect("ends after the cancel") {
            Some(Ok(_)) => continue,
            Some(Err(e)) => return e.as_db_error().map(|e| e.code().code().to_string()).unwrap_or(e.to_string()),
            None => panic!("the subscription ended without an error"),
        }
    }
}

async fn subscribers(client: &tokio_postgres::Client, expected: &str) {
    let sql = "SELECT subscribers FROM sluice_catalog.views";
    wait_for(client, sql, 0, |v| v == expected, "SHOW MATERIALIZED VIEWS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_subscription_streams_and_cancels() {
    let (_dir, data, server) = start(&[("u1", 1, 0), ("u2", 2, 1)]).await;
    let client = server.client().await;

    let statement = client.prepare("SUBSCRIBE TO per_user").await.unwrap();
    let names: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["op", "commit_ts", "user_id", "clicks", "total"]);
    let stream = client.query_raw(&statement, std::iter::empty::<i64>()).await.unwrap();
    pin_mut!(stream);
    assert_eq!(next_rows(&mut stream, 2).await, vec![row("insert", "u1", 1, 1), row("insert", "u2", 1, 2)]);
    append(&data, &[("u1", 10, 2), ("u3", 5, 3)]);
    assert_eq!(
        next_rows(&mut stream, 3).await,
        vec![row("insert", "u3", 1, 5), row("update_after", "u1", 2, 11), row("update_before", "u1", 1, 1)]
    );

    let observer = server.client().await;
    subscribers(&observer, "1").await;
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    assert_eq!(ending_error(&mut stream).await, "57014");
    assert_eq!(query_rows(&client, "SELECT count(*) FROM per_user").await, vec![vec!["3"]], "the connection goes on");
    subscribers(&observer, "0").await;

    // A connection that just closes in the middle of a prepared subscription frees it too.
    let (leaving, connection) = tokio_postgres::connect(&server.conn_string(), NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    let stream = leaving.query_raw("SUBSCRIBE TO per_user", std::iter::empty::<i64>()).await.unwrap();
    pin_mut!(stream);
    assert_eq!(next_rows(&mut stream, 3).await.len(), 3);
    subscribers(&observer, "1").await;
    connection.abort();
    subscribers(&observer, "0").await;

    for (sql, code) in [
        ("SUBSCRIBE TO no_such_view", "42P01"),
        ("SELECT * FROM no_such_view EMIT CHANGES", "42P01"),
        ("SELECT user_id, count(*) FROM clicks GROUP BY user_id EMIT CHANGES", "0A000"),
        ("SELECT * FROM per_user ORDER BY total EMIT CHANGES", "0A000"),
    ] {
        let error = client.prepare(sql).await.unwrap_err();
        assert_eq!(error.as_db_error().map(|e| e.code().code()), Some(code), "{sql}: {error}");
    }
    assert_eq!(query_rows(&client, "SELECT count(*) FROM per_user").await, vec![vec!["3"]], "the connection goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_with_a_row_limit_resumes_where_it_stopped() {
    let (_dir, data, server) = start(&[("u1", 1, 0), ("u2", 2, 1)]).await;
    let mut client = server.client().await;
    let observer = server.client().await;

    let transaction = client.transaction().await.unwrap();
    let portal = transaction.bind("SUBSCRIBE TO per_user", &[]).await.unwrap();
    let mut snapshot = Vec::new();
    for _ in 0..2 {
        let rows = transaction.query_portal(&portal, 1).await.unwrap();
        assert_eq!(rows.len(), 1, "one row per Execute");
        snapshot.push(binary_row(&rows[0]));
    }
    snapshot.sort();
    assert_eq!(snapshot, vec![row("insert", "u1", 1, 1), row("insert", "u2", 1, 2)]);
    subscribers(&observer, "1").await;

    append(&data, &[("u2", 3, 2)]);
    let rows = transaction.query_portal(&portal, 2).await.unwrap();
    let mut changes: Vec<[String; 4]> = rows.iter().map(binary_row).collect();
    changes.sort();
    assert_eq!(changes, vec![row("update_after", "u2", 2, 5), row("update_before", "u2", 1, 2)]);
    subscribers(&observer, "1").await;
    drop(portal); // tokio-postgres closes the portal, which ends the subscription
    transaction.commit().await.unwrap();
    subscribers(&observer, "0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emit_changes_filters_a_view_and_follows_a_stream() {
    let (_dir, data, server) = start(&[("u1", 5, 0), ("u2", 1, 1), ("u3", 20, 2)]).await;
    let client = server.client().await;

    let statement = client.prepare("SELECT user_id, total FROM per_user WHERE total > 3 EMIT CHANGES").await.unwrap();
    let names: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["op", "commit_ts", "user_id", "total"]);
    let view = client.query_raw(&statement, std::iter::empty::<i64>()).await.unwrap();
    pin_mut!(view);
    let short = |row: &Row| (row.get::<_, String>(0), row.get::<_, String>(2), row.get::<_, i64>(3));
    let mut take = async |n: usize| {
        let mut rows = Vec::new();
        for _ in 0..n {
            let next = tokio::time::timeout(Duration::from_secs(60), view.next()).await.expect("a row within a minute");
            rows.push(short(&next.expect("the query goes on").expect("no error")));
        }
        rows.sort();
        rows
    };
    let owned = |rows: &[(&str, &str, i64)]| -> Vec<(String, String, i64)> {
        rows.iter().map(|(o, u, t)| (o.to_string(), u.to_string(), *t)).collect()
    };
    assert_eq!(take(2).await, owned(&[("insert", "u1", 5), ("insert", "u3", 20)]));

    // A push query over the stream, started now: it sees only what is appended from now on.
    let other = server.client().await;
    let pushed =
        other.simple_query_raw("SELECT user_id, amount FROM clicks WHERE amount >= 1 EMIT CHANGES").await.unwrap();
    pin_mut!(pushed);
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), pushed.next()).await.expect("a header");
        if let SimpleQueryMessage::RowDescription(columns) = message.expect("started").expect("no error") {
            let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
            assert_eq!(names, ["op", "commit_ts", "user_id", "amount"]);
            break;
        }
    }

    // u1 leaves the filter (5 - 4 = 1), u2 enters it (1 + 10), u3 changes inside it.
    append(&data, &[("u1", -4, 3), ("u2", 10, 4), ("u3", 1, 5)]);
    assert_eq!(
        take(4).await,
        owned(&[("delete", "u1", 5), ("insert", "u2", 11), ("update_after", "u3", 21), ("update_before", "u3", 20)])
    );
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let message =
            tokio::time::timeout(Duration::from_secs(60), pushed.next()).await.expect("a row within a minute");
        if let SimpleQueryMessage::Row(row) = message.expect("goes on").expect("no error") {
            seen.push((
                row.get(0).unwrap().to_string(),
                row.get(2).unwrap().to_string(),
                row.get(3).unwrap().to_string(),
            ));
        }
    }
    let expected =
        [("insert", "u2", "10"), ("insert", "u3", "1")].map(|(o, u, a)| (o.to_string(), u.to_string(), a.to_string()));
    assert_eq!(seen, expected.to_vec(), "u1's -4 fails the filter; the rows from before the query never come");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_can_be_subscribed_from_its_beginning() {
    let (_dir, data, server) = start(&[("u1", 5, 0), ("u2", 1, 1)]).await;
    let client = server.client().await;

    let stream =
        client.query_raw("SUBSCRIBE TO clicks WITH (snapshot = true)", std::iter::empty::<i64>()).await.unwrap();
    pin_mut!(stream);
    let mut users = Vec::new();
    for _ in 0..3 {
        if users.len() == 2 {
            append(&data, &[("u3", 7, 2)]);
        }
        let row = tokio::time::timeout(Duration::from_secs(60), stream.next()).await.expect("a row").unwrap().unwrap();
        users.push((row.get::<_, String>(0), row.get::<_, String>(2), i64::from(row.get::<_, i32>(3))));
    }
    let expected = [("insert", "u1", 5), ("insert", "u2", 1), ("insert", "u3", 7)];
    assert_eq!(users, expected.map(|(o, u, a)| (o.to_string(), u.to_string(), a)).to_vec());
    client.cancel_token().cancel_query(NoTls).await.unwrap();
    assert_eq!(ending_error(&mut stream).await, "57014");
    assert_eq!(query_rows(&client, "SELECT 1").await, vec![vec!["1"]], "the connection goes on");
}
