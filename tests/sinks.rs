//! Sinks with the real `sluice` binary: file sinks exactly once across kill -9, and Kafka
//! sinks against a real Apache Kafka broker: at least once, through a broker crash, and
//! exactly once (transactions) across kill -9; transactional delivery against librdkafka's
//! mock cluster too.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use common::kafka::{Broker, consume_all};
use common::{Server, query_rows};
use rdkafka::mocking::MockCluster;

const ROWS: usize = 30_000;

/// Line `i` of the input: key `i % 7`, value `i`.
fn line(i: usize) -> String {
    format!("{{\"k\": {}, \"v\": {i}, \"ts\": {}}}\n", i % 7, 1_700_000_000_000u64 + i as u64)
}

fn append(path: &Path, range: std::ops::Range<usize>) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    let text: String = range.map(line).collect();
    f.write_all(text.as_bytes()).unwrap();
    f.sync_all().unwrap();
}

/// Expected `k -> (count, sum of v)` over the first `n` lines.
fn expected_totals(n: usize) -> BTreeMap<i64, (i64, i64)> {
    let mut out = BTreeMap::new();
    for i in 0..n {
        let e = out.entry((i % 7) as i64).or_insert((0, 0));
        e.0 += 1;
        e.1 += i as i64;
    }
    out
}

/// Folds an upsert changelog of JSON rows `{"k","n","total"}` (latest wins, deletes remove).
fn fold_totals<'a>(values: impl Iterator<Item = &'a str>) -> BTreeMap<i64, (i64, i64)> {
    let mut out = BTreeMap::new();
    for v in values {
        let json: serde_json::Value = serde_json::from_str(v).unwrap();
        let k = json["k"].as_i64().unwrap();
        if json["_deleted"].as_bool() == Some(true) {
            out.remove(&k);
        } else {
            out.insert(k, (json["n"].as_i64().unwrap(), json["total"].as_i64().unwrap()));
        }
    }
    out
}

/// How many times each row `0..ROWS` appears among the `v` values of the JSON rows.
fn times_seen<S: AsRef<str>>(raw: impl Iterator<Item = S>) -> Vec<u32> {
    let mut seen = vec![0u32; ROWS];
    for v in raw {
        let v = serde_json::from_str::<serde_json::Value>(v.as_ref()).unwrap()["v"].as_u64().unwrap() as usize;
        seen[v] += 1;
    }
    seen
}

/// Asserts that the `v` values of the JSON rows are exactly `0..ROWS`, each once.
fn assert_each_row_once(what: &str, raw: impl Iterator<Item = String>) {
    let seen = times_seen(raw);
    let total: u32 = seen.iter().sum();
    let missing = seen.iter().filter(|&&n| n == 0).count();
    let repeated = seen.iter().filter(|&&n| n > 1).count();
    let first_repeated = seen.iter().position(|&n| n > 1);
    assert!(
        missing == 0 && repeated == 0,
        "{what}: {total} rows, {missing} values missing, {repeated} repeated (first: {first_repeated:?})"
    );
}

/// The stream over `input` and the `totals` view.
fn setup_sql(input: &Path) -> String {
    format!(
        "CREATE STREAM s (k BIGINT, v BIGINT, ts TIMESTAMP) WITH (connector = 'file', path = '{}', format = 'json');
         CREATE MATERIALIZED VIEW totals AS SELECT k, count(*) AS n, sum(v) AS total FROM s GROUP BY k;",
        input.display()
    )
}

/// A server on `dir/data` with the stream over `dir/input.json` (holding lines `rows`)
/// and the `totals` view.
async fn serve(dir: &Path, rows: std::ops::Range<usize>) -> (Server, tokio_postgres::Client, std::path::PathBuf) {
    let input = dir.join("input.json");
    append(&input, rows);
    let server = Server::start(&dir.join("data"));
    let client = server.client().await;
    client.batch_execute(&setup_sql(&input)).await.unwrap();
    (server, client, input)
}

/// Feeds the input in ten rounds, killing the server with SIGKILL after round five; then
/// restarts it and waits for everything to be processed.
async fn ingest_with_crash(dir: &Path, input: &Path, mut server: Server) -> Server {
    for round in 0..10 {
        append(input, round * ROWS / 10..(round + 1) * ROWS / 10);
        if round == 5 {
            std::thread::sleep(std::time::Duration::from_millis(300));
            server.kill9();
        }
    }
    let server = Server::start(dir);
    server.client().await.batch_execute("FLUSH").await.unwrap();
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn file_sinks_write_every_row_once_across_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, totals) = (dir.path().join("out/raw.json"), dir.path().join("out/totals.json"));
    let (server, client, input) = serve(dir.path(), 0..0).await;
    client
        .batch_execute(&format!(
            "CREATE SINK raw FROM s WITH (connector = 'file', path = '{}');
             CREATE SINK tot FROM totals WITH (connector = 'file', path = '{}', format = 'json');",
            raw.display(),
            totals.display()
        ))
        .await
        .unwrap();
    let server = ingest_with_crash(&dir.path().join("data"), &input, server).await;
    let raw_lines = std::fs::read_to_string(&raw).unwrap();
    assert_each_row_once("raw.json", raw_lines.lines().map(String::from));
    let changelog = std::fs::read_to_string(&totals).unwrap();
    assert_eq!(fold_totals(changelog.lines()), expected_totals(ROWS));
    let sinks = query_rows(&server.client().await, "SHOW SINKS").await;
    assert_eq!(sinks.len(), 2);
    assert!(sinks.iter().all(|s| s[5] == "running"), "{sinks:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_sinks_deliver_at_least_once_to_a_broker_without_transactions() {
    let broker = Broker::start();
    broker.create_topic("raw", 2).await;
    broker.create_topic("totals", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (_server, client, _) = serve(dir.path(), 0..ROWS).await;
    let servers = broker.servers();
    client
        .batch_execute(&format!(
            "CREATE SINK raw FROM s WITH (connector = 'kafka', topic = 'raw', bootstrap_servers = '{servers}', \
               key = 'k', delivery = 'at-least-once');
             CREATE SINK tot FROM totals WITH (connector = 'kafka', topic = 'totals', bootstrap_servers = '{servers}', \
               delivery = 'at-least-once');
             FLUSH;"
        ))
        .await
        .unwrap();
    let raw = consume_all(&servers, "raw", false, ROWS);
    assert!(raw.iter().all(|(k, v)| {
        let json: serde_json::Value = serde_json::from_str(v.as_deref().unwrap()).unwrap();
        k.as_deref() == Some(json["k"].as_i64().unwrap().to_string().as_str())
    }));
    assert_each_row_once("topic raw", raw.into_iter().filter_map(|(_, v)| v));
    let totals = consume_all(&servers, "totals", false, 7);
    assert!(totals.iter().all(|(k, _)| k.as_deref().is_some_and(|k| k.parse::<i64>().is_ok())), "{totals:?}");
    assert_eq!(fold_totals(totals.iter().filter_map(|(_, v)| v.as_deref())), expected_totals(ROWS));

    let err = client
        .batch_execute(&format!(
            "CREATE SINK bad FROM totals WITH (connector = 'kafka', topic = 't', bootstrap_servers = '{servers}', key = 'k')"
        ))
        .await
        .unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "22023");
}

/// A Kafka sink whose broker is unreachable waits and retries, across a server restart,
/// and delivers everything once the broker is back; the server keeps answering meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn kafka_sinks_wait_for_an_unreachable_broker() {
    let mut broker = Broker::start();
    broker.create_topic("raw", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let (mut server, client, input) = serve(dir.path(), 0..0).await;
    let servers = broker.servers();
    client
        .batch_execute(&format!(
            "CREATE SINK raw FROM s WITH (connector = 'kafka', topic = 'raw', bootstrap_servers = '{servers}', \
               key = 'k', delivery = 'at-least-once')"
        ))
        .await
        .unwrap();
    // A crash: the broker process is killed (SIGKILL) and started on its log directory about
    // 10 s later.
    broker.kill();
    append(&input, 0..ROWS / 2);
    let retrying = |s: &str| s.starts_with("retrying: kafka sink");
    common::wait_for(&client, "SHOW SINKS", 5, retrying, "SHOW SINKS").await;
    client.batch_execute("FLUSH").await.unwrap();
    let totals = query_rows(&client, "SELECT sum(n) FROM totals").await;
    assert_eq!(totals, vec![vec![(ROWS / 2).to_string()]], "views go on while the sink waits");

    server.terminate();
    let server = Server::start(&dir.path().join("data"));
    let client = server.client().await;
    append(&input, ROWS / 2..ROWS);
    common::wait_for(&client, "SHOW SINKS", 5, retrying, "SHOW SINKS").await;
    broker.restore_after(common::kafka::OUTAGE);
    common::wait_for(&client, "SHOW SINKS", 5, |s| s == "running", "SHOW SINKS").await;
    client.batch_execute("FLUSH").await.unwrap();
    let raw = consume_all(&servers, "raw", false, ROWS);
    let seen = times_seen(raw.iter().map(|(_, v)| v.as_deref().unwrap()));
    let missing = seen.iter().filter(|&&n| n == 0).count();
    assert_eq!(missing, 0, "{} messages, {missing} rows missing", raw.len());
}

/// Exactly once across kill -9: the kill lands after a checkpoint (FLUSH), so the
/// restarted sink finds the last epoch still pending in its checkpoint and must see from
/// the transaction's marker (an offset committed to the sink's group inside the
/// transaction) that it was delivered, and not deliver it again.
///
/// Runs against the real Kafka broker of `common::kafka` (librdkafka's mock cluster does
/// not store the marker's TxnOffsetCommit nor hide aborted transactions).
#[tokio::test(flavor = "multi_thread")]
async fn kafka_sinks_are_exactly_once_across_kill9_with_transactions() {
    let broker = Broker::start();
    let servers = broker.servers();
    let (raw_topic, totals_topic) = ("raw", "totals");
    broker.create_topic(raw_topic, 2).await;
    broker.create_topic(totals_topic, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (data, input) = (dir.path().join("data"), dir.path().join("input.json"));
    append(&input, 0..ROWS / 2);
    // Checkpoints only at FLUSH, so the last epoch is still pending when the server dies.
    let slow = ["--checkpoint-interval-ms", "600000"];
    let mut server = Server::start_with(&data, &slow);
    let client = server.client().await;
    client.batch_execute(&setup_sql(&input)).await.unwrap();
    client
        .batch_execute(&format!(
            "CREATE SINK raw FROM s WITH (connector = 'kafka', topic = '{raw_topic}', bootstrap_servers = '{servers}');
             CREATE SINK tot FROM totals WITH (connector = 'kafka', topic = '{totals_topic}', bootstrap_servers = '{servers}');
             FLUSH;"
        ))
        .await
        .unwrap();
    server.kill9();
    let mut server = Server::start_with(&data, &slow);
    append(&input, ROWS / 2..ROWS * 3 / 4);
    // And a kill in the middle of ingestion: the open transaction is aborted.
    let client = server.client().await;
    client.batch_execute("FLUSH").await.unwrap();
    append(&input, ROWS * 3 / 4..ROWS);
    std::thread::sleep(std::time::Duration::from_millis(50));
    server.kill9();
    let server = Server::start_with(&data, &slow);
    server.client().await.batch_execute("FLUSH").await.unwrap();
    let raw = consume_all(&servers, raw_topic, true, ROWS);
    assert_each_row_once("raw topic", raw.into_iter().filter_map(|(_, v)| v));
    let totals = consume_all(&servers, totals_topic, true, 7);
    assert_eq!(fold_totals(totals.iter().filter_map(|(_, v)| v.as_deref())), expected_totals(ROWS));
}

/// Exactly once across ten kill -9s at moments of the run's own choosing (a seed printed so
/// a failure can be replayed with `SLUICE_KILL_SEED`): the input grows in ten rounds while
/// transactional sinks write, and after each round the server is killed after a delay of
/// 0 to 400 ms (mid-transaction, between checkpoints, or after one) and started again.
/// A `read_committed` consumer then sees every row exactly once and the view's latest
/// totals; a `read_uncommitted` one sees every row at least once (aborted transactions'
/// writes included, as docs/sql.md says).
#[tokio::test(flavor = "multi_thread")]
async fn kafka_sinks_are_exactly_once_across_ten_kill9s_at_random_moments() {
    let broker = Broker::start();
    let servers = broker.servers();
    broker.create_topic("raw", 2).await;
    broker.create_topic("totals", 1).await;
    let seed: u64 = std::env::var("SLUICE_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos().into()
    });
    println!("SLUICE_KILL_SEED={seed}");
    let mut state = seed | 1;
    let mut next_delay = move || {
        // xorshift64: a delay of 0 to 400 ms.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        std::time::Duration::from_millis(state % 401)
    };
    let dir = tempfile::tempdir().unwrap();
    let (data, input) = (dir.path().join("data"), dir.path().join("input.json"));
    let fast = ["--checkpoint-interval-ms", "100"];
    let mut server = Server::start_with(&data, &fast);
    let client = server.client().await;
    client.batch_execute(&setup_sql(&input)).await.unwrap();
    client
        .batch_execute(&format!(
            "CREATE SINK raw FROM s WITH (connector = 'kafka', topic = 'raw', bootstrap_servers = '{servers}', key = 'k');
             CREATE SINK tot FROM totals WITH (connector = 'kafka', topic = 'totals', bootstrap_servers = '{servers}');"
        ))
        .await
        .unwrap();
    for round in 0..10 {
        append(&input, round * ROWS / 10..(round + 1) * ROWS / 10);
        std::thread::sleep(next_delay());
        server.kill9();
        server = Server::start_with(&data, &fast);
    }
    server.client().await.batch_execute("FLUSH").await.unwrap();
    let raw = consume_all(&servers, "raw", true, ROWS);
    assert_each_row_once("raw topic, read_committed", raw.into_iter().filter_map(|(_, v)| v));
    let totals = consume_all(&servers, "totals", true, 7);
    assert_eq!(fold_totals(totals.iter().filter_map(|(_, v)| v.as_deref())), expected_totals(ROWS));
    let uncommitted = consume_all(&servers, "raw", false, ROWS);
    let seen = times_seen(uncommitted.iter().map(|(_, v)| v.as_deref().unwrap()));
    let missing = seen.iter().filter(|&&n| n == 0).count();
    let repeated = seen.iter().filter(|&&n| n > 1).count();
    println!("read_uncommitted: {} messages, {repeated} rows more than once", uncommitted.len());
    assert_eq!(missing, 0, "read_uncommitted: {missing} rows missing");
}

/// An upsert sink of an updating view into a compacted topic: read as a compacted topic
/// is (the latest message per key, a tombstone removing the key), the topic ends equal to
/// the view. Keys leave the view (HAVING) in the last round, which must give tombstones.
#[tokio::test(flavor = "multi_thread")]
async fn an_upsert_sink_into_a_compacted_topic_ends_equal_to_its_view() {
    let broker = Broker::start();
    broker.create_compacted_topic("few", 2).await;
    let servers = broker.servers();
    let dir = tempfile::tempdir().unwrap();
    // Lines 0..7: keys 0..6 once each.
    let (_server, client, input) = serve(dir.path(), 0..7).await;
    client
        .batch_execute(&format!(
            "CREATE MATERIALIZED VIEW few AS SELECT k, count(*) AS n FROM s GROUP BY k HAVING count(*) < 3;
             CREATE SINK few_out FROM few WITH (connector = 'kafka', topic = 'few', bootstrap_servers = '{servers}');
             FLUSH;"
        ))
        .await
        .unwrap();
    // Every key a second time, then keys 0..3 a third time: they leave the view.
    append(&input, 7..14);
    client.batch_execute("FLUSH").await.unwrap();
    append(&input, 14..18);
    client.batch_execute("FLUSH").await.unwrap();
    let view = query_rows(&client, "SELECT k, n FROM few ORDER BY k").await;
    assert_eq!(view, [["4", "2"], ["5", "2"], ["6", "2"]]);

    let messages = consume_all(&servers, "few", true, 0);
    let tombstones = messages.iter().filter(|(_, v)| v.is_none()).count();
    assert_eq!(tombstones, 4, "one tombstone per key that left the view: {messages:?}");
    let mut latest = BTreeMap::new();
    for (key, value) in messages {
        let key = key.expect("every message of an upsert sink has a key");
        match value {
            Some(v) => latest.insert(key, v),
            None => latest.remove(&key),
        };
    }
    let compacted: Vec<[String; 2]> = latest
        .values()
        .map(|v| {
            let json: serde_json::Value = serde_json::from_str(v).unwrap();
            [json["k"].to_string(), json["n"].to_string()]
        })
        .collect();
    let view: Vec<[String; 2]> = view.into_iter().map(|r| [r[0].clone(), r[1].clone()]).collect();
    assert_eq!(compacted, view);
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_sinks_commit_transactions() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("raw", 1, 1).unwrap();
    let servers = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let (_server, client, _) = serve(dir.path(), 0..ROWS).await;
    client
        .batch_execute(&format!(
            "CREATE SINK raw FROM s WITH (connector = 'kafka', topic = 'raw', bootstrap_servers = '{servers}'); FLUSH;"
        ))
        .await
        .unwrap();
    let sinks = query_rows(&client, "SHOW SINKS").await;
    let raw = consume_all(&servers, "raw", true, ROWS);
    assert_each_row_once(&format!("topic raw ({sinks:?})"), raw.into_iter().filter_map(|(_, v)| v));
}
