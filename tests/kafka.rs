//! Kafka streams against a real Apache Kafka broker and the real `sluice` binary:
//! every partition read, metadata columns, bad messages counted, SHOW SOURCES, errors at
//! CREATE, kill -9 during ingestion, and the broker stopped and started again.

mod common;

use std::collections::BTreeMap;

use common::kafka::{Broker, OUTAGE};
use common::{Server, query_rows};

/// One test message: (partition, key, value).
type Msg = (i32, Option<String>, String);

/// `n` bids over `partitions` partitions, in event-time order within each partition.
fn bids(from: usize, n: usize, partitions: i32) -> Vec<Msg> {
    (from..from + n)
        .map(|i| {
            let auction = (i * 7) % 13;
            let value = format!(
                r#"{{"auction": {auction}, "price": {}, "ts": {}}}"#,
                i % 100,
                1_700_000_000_000i64 + i as i64 * 10
            );
            ((i as i32) % partitions, Some(format!("k{auction}")), value)
        })
        .collect()
}

fn send(broker: &Broker, topic: &str, msgs: &[Msg]) {
    let refs: Vec<(i32, Option<&str>, &str)> = msgs.iter().map(|(p, k, v)| (*p, k.as_deref(), v.as_str())).collect();
    broker.producer().send(topic, &refs);
}

/// Expected `auction -> (count, sum(price))` of good bids.
fn totals(msgs: &[Msg]) -> BTreeMap<i64, (i64, i64)> {
    let mut out = BTreeMap::new();
    for (_, _, v) in msgs {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(v) else { continue };
        let (Some(a), Some(p)) = (json["auction"].as_i64(), json["price"].as_i64()) else { continue };
        let e = out.entry(a).or_insert((0, 0));
        e.0 += 1;
        e.1 += p;
    }
    out
}

fn stream_sql(broker: &Broker, topic: &str) -> String {
    format!(
        "CREATE STREAM bids (auction BIGINT, price BIGINT, ts TIMESTAMP, _key TEXT, _partition INT, _offset BIGINT, \
         WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) \
         WITH (connector = 'kafka', topic = '{topic}', bootstrap_servers = '{}', format = 'json')",
        broker.servers()
    )
}

/// Per-auction count and sum of prices.
const TOTALS: &str =
    "CREATE MATERIALIZED VIEW totals AS SELECT auction, count(*) AS n, sum(price) AS total FROM bids GROUP BY auction;";

/// A server on `dir` with the `bids` stream over the broker's `bids` topic, the `totals`
/// view, then `more` statements.
async fn serve_bids(broker: &Broker, dir: &std::path::Path, more: &str) -> (Server, tokio_postgres::Client) {
    let server = Server::start(dir);
    let client = server.client().await;
    client.batch_execute(&stream_sql(broker, "bids")).await.unwrap();
    client.batch_execute(&format!("{TOTALS} {more}")).await.unwrap();
    (server, client)
}

async fn view_totals(client: &tokio_postgres::Client) -> BTreeMap<i64, (i64, i64)> {
    query_rows(client, "SELECT auction, n, total FROM totals")
        .await
        .into_iter()
        .map(|r| (r[0].parse().unwrap(), (r[1].parse().unwrap(), r[2].parse().unwrap())))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_partition_is_read_with_metadata_and_bad_messages_counted() {
    let broker = Broker::start();
    broker.create_topic("bids", 3).await;
    let mut msgs = bids(0, 3000, 3);
    msgs.push((1, None, "{not json".into()));
    msgs.push((2, Some("empty".into()), "".into()));
    send(&broker, "bids", &msgs);

    let dir = tempfile::tempdir().unwrap();
    let more = "CREATE MATERIALIZED VIEW parts AS SELECT _partition, count(*) AS n, max(_offset) AS last, \
                  count(DISTINCT _key) AS keys FROM bids GROUP BY _partition; FLUSH;";
    let (_server, client) = serve_bids(&broker, dir.path(), more).await;
    assert_eq!(view_totals(&client).await, totals(&msgs));
    let parts = query_rows(&client, "SELECT _partition, n, last, keys FROM parts ORDER BY _partition").await;
    // Partitions 1 and 2 end with a bad message at offset 1000.
    let expected: Vec<Vec<String>> =
        (0..3).map(|p| vec![p.to_string(), "1000".into(), "999".into(), "13".into()]).collect();
    assert_eq!(parts, expected);
    let sources = query_rows(
        &client,
        "SELECT split, position, lag, rows, rejected, state, connector FROM sluice_catalog.sources \
         WHERE view = 'totals' ORDER BY split",
    )
    .await;
    assert_eq!(
        sources,
        vec![
            vec!["0", "1000", "0", "1000", "0", "reading", "kafka"],
            vec!["1", "1001", "0", "1000", "1", "reading", "kafka"],
            vec!["2", "1001", "0", "1000", "1", "reading", "kafka"],
        ]
    );
    let errors = query_rows(
        &client,
        "SELECT source, position, reason FROM sluice_catalog.source_errors WHERE view = 'totals' ORDER BY source",
    )
    .await;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!((errors[0][0].as_str(), errors[0][1].as_str()), ("bids/1", "1000"));
    assert_eq!(
        (errors[1][0].as_str(), errors[1][1].as_str(), errors[1][2].as_str()),
        ("bids/2", "1000", "message has no value")
    );
    let shown = query_rows(&client, "SHOW SOURCES").await;
    assert_eq!(shown.len(), 6, "two views, three partitions each: {shown:?}");

    // New messages keep arriving.
    let more = bids(3000, 300, 3);
    send(&broker, "bids", &more);
    client.batch_execute("FLUSH").await.unwrap();
    msgs.extend(more);
    assert_eq!(view_totals(&client).await, totals(&msgs));
}

#[tokio::test(flavor = "multi_thread")]
async fn create_stream_errors_are_clear() {
    let broker = Broker::start();
    broker.create_topic("present", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client().await;
    let servers = broker.servers();
    let nowhere = format!("127.0.0.1:{}", common::free_port());
    let cases = [
        (
            format!("topic = 'absent', bootstrap_servers = '{servers}'"),
            "42704",
            "kafka topic \"absent\" does not exist",
        ),
        (format!("topic = 'present', bootstrap_servers = '{nowhere}'"), "08001", "cannot reach kafka"),
        (format!("topic = 'present', bootstrap_servers = '{servers}', startup = 'sometime'"), "22023", "startup"),
        (format!("bootstrap_servers = '{servers}'"), "22023", "missing option \"topic\""),
    ];
    for (options, code, text) in cases {
        let sql = format!("CREATE STREAM s (a BIGINT) WITH (connector = 'kafka', format = 'json', {options})");
        let err = client.batch_execute(&sql).await.expect_err(&sql);
        let db = err.as_db_error().unwrap_or_else(|| panic!("{sql}: {err}"));
        assert_eq!(db.code().code(), code, "{sql}: {}", db.message());
        assert!(db.message().contains(text), "{sql}: {}", db.message());
    }
    let err = client
        .batch_execute(&format!(
            "CREATE STREAM s (a BIGINT, _partition TEXT) WITH (connector = 'kafka', topic = 'present', bootstrap_servers = '{servers}')"
        ))
        .await
        .unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "22023");
    // The session is still usable and nothing was created.
    client.batch_execute(&stream_sql(&broker, "present")).await.unwrap();
    assert_eq!(query_rows(&client, "SELECT count(*) FROM sluice_catalog.streams").await, vec![vec!["1".to_string()]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill9_during_ingestion_loses_and_repeats_nothing() {
    let broker = Broker::start();
    broker.create_topic("bids", 4).await;
    let dir = tempfile::tempdir().unwrap();
    let more = "CREATE MATERIALIZED VIEW windows AS SELECT window_start, count(*) AS n \
                  FROM TUMBLE(bids, ts, INTERVAL '1' SECOND) GROUP BY window_start EMIT ON WINDOW CLOSE;";
    let (mut server, _client) = serve_bids(&broker, dir.path(), more).await;
    let mut all = Vec::new();
    for round in 0..10 {
        let msgs = bids(round * 4000, 4000, 4);
        send(&broker, "bids", &msgs);
        all.extend(msgs);
        if round == 5 {
            std::thread::sleep(std::time::Duration::from_millis(150));
            server.kill9();
        }
    }
    // While the server is down, the consumer group's offsets are moved to the end of the
    // topic: the restarted source must resume from its checkpoint, not from the group.
    let ends = broker.end_offsets("bids", 4);
    assert_eq!(ends.iter().map(|(_, o)| o).sum::<i64>(), all.len() as i64);
    broker.commit_group_offsets("sluice", "bids", &ends);
    let ends_committed: Vec<Option<i64>> = ends.iter().map(|&(_, o)| Some(o)).collect();
    assert_eq!(broker.group_offsets("sluice", "bids", 4), ends_committed);
    let mut server = Server::start(dir.path());
    let client = server.client().await;
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(view_totals(&client).await, totals(&all));
    // 40,000 bids 10 ms apart: 400 one-second windows; all but the last few have closed.
    let windows = query_rows(&client, "SELECT count(*), sum(n), min(n), max(n) FROM windows").await;
    let closed: i64 = windows[0][0].parse().unwrap();
    assert!(closed >= 397, "{windows:?}");
    assert_eq!(
        windows[0][2..],
        ["100".to_string(), "100".to_string()],
        "every closed window counted once: {windows:?}"
    );
    let late = query_rows(&client, "SELECT late_rows, bad_rows FROM sluice_catalog.views ORDER BY name").await;
    assert!(late.iter().all(|r| r == &["0", "0"]), "{late:?}");

    // Once more, with the group moved back to the beginning of the topic.
    let more = bids(40_000, 4000, 4);
    send(&broker, "bids", &more);
    all.extend(more);
    server.kill9();
    broker.commit_group_offsets("sluice", "bids", &[(0, 0), (1, 0), (2, 0), (3, 0)]);
    let server = Server::start(dir.path());
    let client = server.client().await;
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(view_totals(&client).await, totals(&all));
}

async fn wait_for(client: &tokio_postgres::Client, sql: &str, done: impl Fn(&str) -> bool) -> String {
    let diagnostics = "SELECT * FROM sluice_catalog.sources UNION ALL SELECT name, status, CAST(rows_read AS TEXT), \
                       CAST(late_rows AS TEXT), CAST(bad_rows AS TEXT), CAST(watermark AS TEXT), NULL, NULL, NULL \
                       FROM sluice_catalog.views";
    common::wait_for(client, sql, 0, done, diagnostics).await
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_outages_are_survived_without_loss() {
    let mut broker = Broker::start();
    broker.create_topic("bids", 2).await;
    let mut all = bids(0, 1000, 2);
    send(&broker, "bids", &all);

    let dir = tempfile::tempdir().unwrap();
    let (mut server, client) = serve_bids(&broker, dir.path(), "FLUSH;").await;
    assert_eq!(view_totals(&client).await, totals(&all));

    // The broker is stopped (SIGTERM): the server answers, and SHOW SOURCES says what is wrong.
    broker.cut();
    let state = "SELECT state FROM sluice_catalog.sources WHERE view = 'totals' LIMIT 1";
    wait_for(&client, state, |s| s.starts_with("error")).await;
    assert_eq!(view_totals(&client).await, totals(&all));

    // The server restarts while the broker is still down.
    server.terminate();
    let server = Server::start(dir.path());
    let client = server.client().await;
    wait_for(&client, state, |s| s.starts_with("connecting")).await;
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(view_totals(&client).await, totals(&all));

    // The broker comes back after about 10 s with more messages: the view catches up,
    // nothing lost or repeated.
    broker.restore_after(OUTAGE);
    let more = bids(1000, 1000, 2);
    send(&broker, "bids", &more);
    all.extend(more);
    wait_for(&client, state, |s| s == "reading").await;
    let total = "SELECT sum(n) FROM totals";
    wait_for(&client, total, |s| s.parse::<i64>().is_ok_and(|n| n >= all.len() as i64)).await;
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(view_totals(&client).await, totals(&all));

    // The broker crashes (SIGKILL) while the source is still reading a large batch.
    let more = bids(2000, 20_000, 2);
    send(&broker, "bids", &more);
    all.extend(more);
    broker.kill();
    wait_for(&client, state, |s| s.starts_with("error")).await;
    broker.restore_after(OUTAGE);
    wait_for(&client, total, |s| s.parse::<i64>().is_ok_and(|n| n >= all.len() as i64)).await;
    client.batch_execute("FLUSH").await.unwrap();
    assert_eq!(view_totals(&client).await, totals(&all));
}

/// `sluice run` over a Kafka stream is bounded by the topic's end offsets when it starts:
/// a view and an ad-hoc query see exactly the messages produced before, and the run ends.
#[tokio::test(flavor = "multi_thread")]
async fn a_bounded_run_ends_exactly_at_the_end_offsets() {
    let broker = Broker::start();
    broker.create_topic("bids", 3).await;
    let all = bids(0, 3000, 3);
    send(&broker, "bids", &all);
    let (count, sum): (i64, i64) = totals(&all).values().fold((0, 0), |(c, s), (n, t)| (c + n, s + t));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        format!(
            "{};\n{TOTALS}\nSELECT sum(n) AS n, sum(total) AS total FROM totals;\n\
             SELECT count(*) AS n, sum(price) AS total FROM bids;",
            stream_sql(&broker, "bids")
        ),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir.path())
        .args(["run", "--format", "csv"])
        .arg(&script)
        .output()
        .expect("run sluice");
    assert!(output.status.success(), "sluice run failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let expected = format!("n,total\n{count},{sum}\nn,total\n{count},{sum}\n");
    assert_eq!(text, expected);
}
