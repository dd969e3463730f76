//! SUBSCRIBE with real clients: tokio-postgres reads the rows of `SUBSCRIBE TO v` as they
//! arrive and cancels it with a CancelRequest; psql streams `COPY (SUBSCRIBE TO v) TO
//! STDOUT` and is interrupted with SIGINT. Each time the subscription is freed (the view's
//! `subscribers` count goes back to 0) and the connection goes on.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Server, query_rows, wait_for};
use futures::{StreamExt, pin_mut};
use tokio_postgres::{NoTls, SimpleQueryMessage};

const SETUP: &str = "
CREATE STREAM clicks (user_id TEXT, amount BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '5' SECOND)
  WITH (connector = 'file', path = 'PATH', format = 'json');
CREATE MATERIALIZED VIEW per_user AS SELECT user_id, count(*) AS clicks, sum(amount) AS total FROM clicks GROUP BY user_id;
FLUSH;
";

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

fn row(op: &str, user: &str, clicks: i64, total: i64) -> [String; 4] {
    [op.to_string(), user.to_string(), clicks.to_string(), total.to_string()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_reads_changes_as_they_commit_and_cancels() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("clicks.json");
    append(&data, &[("u1", 1, 0), ("u2", 2, 1)]);
    let server = Server::start(&dir.path().join("db"));
    let client = server.client().await;
    client.batch_execute(&SETUP.replace("PATH", &data.display().to_string())).await.unwrap();

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
    let error = loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.next()).await.expect("ends after the cancel") {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => panic!("the subscription ended without the cancel error"),
        }
    };
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("57014"), "{error}");
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
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("clicks.json");
    append(&data, &[("u1", 1, 0)]);
    let server = Server::start(&dir.path().join("db"));
    let client = server.client().await;
    client.batch_execute(&SETUP.replace("PATH", &data.display().to_string())).await.unwrap();

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
