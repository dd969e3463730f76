//! Several `sluice serve` processes forming one cluster on a real Apache Kafka broker:
//! DDL sent to any node is applied by every node in the same order, errors and SHOW agree
//! across nodes, a node started later (or restarted) replays the catalog, and SHOW
//! CLUSTER lists the nodes.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::kafka::Broker;
use common::{Server, query_rows, wait_for};

/// Starts a node of cluster `name` on the broker, with its own data directory. Its views
/// commit only when flushed (checkpoints a minute apart), so what a query sees depends on
/// FLUSH alone.
fn node(broker: &Broker, name: &str, dir: &std::path::Path) -> Server {
    let url = format!("kafka://{}", broker.servers());
    Server::start_with(dir, &["--checkpoint-interval-ms", "60000", "--cluster", &url, "--cluster-name", name])
}

/// `n` bids over 3 partitions: (partition, value).
fn bids(from: usize, n: usize) -> Vec<(i32, Option<String>, String)> {
    (from..from + n)
        .map(|i| {
            let value =
                format!(r#"{{"auction": {}, "price": {}, "ts": {}}}"#, i % 7, i % 100, 1_700_000_000_000i64 + i as i64);
            ((i % 3) as i32, None, value)
        })
        .collect()
}

fn send(broker: &Broker, msgs: &[(i32, Option<String>, String)]) {
    let refs: Vec<(i32, Option<&str>, &str)> = msgs.iter().map(|(p, k, v)| (*p, k.as_deref(), v.as_str())).collect();
    broker.producer().send("bids", &refs);
}

/// Expected `auction -> (count, sum(price))`.
fn totals(msgs: &[(i32, Option<String>, String)]) -> BTreeMap<String, (String, String)> {
    let mut out: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for (_, _, v) in msgs {
        let json: serde_json::Value = serde_json::from_str(v).unwrap();
        let e = out.entry(json["auction"].as_i64().unwrap()).or_default();
        e.0 += 1;
        e.1 += json["price"].as_i64().unwrap();
    }
    out.into_iter().map(|(a, (n, s))| (a.to_string(), (n.to_string(), s.to_string()))).collect()
}

async fn view_totals(client: &tokio_postgres::Client) -> BTreeMap<String, (String, String)> {
    client.batch_execute("FLUSH").await.unwrap();
    read_totals(client).await
}

async fn read_totals(client: &tokio_postgres::Client) -> BTreeMap<String, (String, String)> {
    query_rows(client, "SELECT auction, n, total FROM totals")
        .await
        .into_iter()
        .map(|r| (r[0].clone(), (r[1].clone(), r[2].clone())))
        .collect()
}

/// Waits until `sql`'s rows on `client` equal `expected`.
async fn wait_rows(client: &tokio_postgres::Client, sql: &str, expected: &[Vec<String>]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = query_rows(client, sql).await;
        if rows == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {rows:?}, expected {expected:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn error_of(client: &tokio_postgres::Client, sql: &str) -> (String, String) {
    let e = client.batch_execute(sql).await.expect_err(sql);
    let db = e.as_db_error().unwrap_or_else(|| panic!("{sql}: {e}"));
    (db.code().code().to_string(), db.message().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn ddl_on_any_node_is_applied_by_every_node_in_order() {
    let broker = Broker::start();
    broker.create_topic("bids", 3).await;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, mut b, c) = (
        node(&broker, "one", dirs[0].path()),
        node(&broker, "one", dirs[1].path()),
        node(&broker, "one", dirs[2].path()),
    );
    let (ca, cb, cc) = (a.client().await, b.client().await, c.client().await);

    // DDL on A; B and C apply it too.
    let stream = format!(
        "CREATE STREAM bids (auction BIGINT, price BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) \
         WITH (connector = 'kafka', topic = 'bids', bootstrap_servers = '{}', format = 'json')",
        broker.servers()
    );
    ca.batch_execute(&stream).await.unwrap();
    ca.batch_execute("CREATE MATERIALIZED VIEW totals AS SELECT auction, count(*) AS n, sum(price) AS total FROM bids GROUP BY auction")
        .await
        .unwrap();
    let shown = query_rows(&ca, "SELECT name FROM sluice_catalog.views").await;
    assert_eq!(shown, vec![vec!["totals".to_string()]]);
    for client in [&cb, &cc] {
        wait_rows(client, "SELECT name FROM sluice_catalog.views", &shown).await;
        wait_rows(client, "SELECT name FROM sluice_catalog.streams", &[vec!["bids".to_string()]]).await;
    }

    // Every node serves the whole view.
    let first = bids(0, 3000);
    send(&broker, &first);
    let expected = totals(&first);
    for client in [&ca, &cb, &cc] {
        assert_eq!(view_totals(client).await, expected);
    }

    // The same statement fails the same way on every node, and a statement that fails is
    // not applied anywhere.
    let duplicate = error_of(&ca, &stream).await;
    assert_eq!(duplicate.0, "42P07", "{duplicate:?}");
    assert_eq!(error_of(&cb, &stream).await, duplicate);
    let unknown = error_of(&cc, "CREATE MATERIALIZED VIEW nope AS SELECT x FROM missing").await;
    assert_eq!(error_of(&ca, "CREATE MATERIALIZED VIEW nope AS SELECT x FROM missing").await, unknown);
    assert_eq!(unknown.0, "42P01", "{unknown:?}");

    // SHOW CLUSTER lists the three nodes, up, on every node.
    wait_for(&ca, "SELECT count(*) FROM sluice_catalog.cluster WHERE state = 'up'", 0, |n| n == "3", "SHOW CLUSTER")
        .await;
    let me = query_rows(&cb, "SELECT node, address FROM sluice_catalog.cluster WHERE this_node").await;
    assert_eq!(me.len(), 1);
    assert_eq!(me[0][1], format!("127.0.0.1:{}", b.port));

    // DDL on C: a second view, then DROP of the first; every node follows, and a statement
    // that depends on the order (a view over a view dropped) fails alike.
    cc.batch_execute("CREATE MATERIALIZED VIEW big AS SELECT auction, n FROM totals WHERE n > 400").await.unwrap();
    let dependent = error_of(&ca, "DROP MATERIALIZED VIEW totals").await;
    assert_eq!(dependent.0, "2BP01", "{dependent:?}");
    cc.batch_execute("DROP MATERIALIZED VIEW totals CASCADE").await.unwrap();
    for client in [&ca, &cb, &cc] {
        wait_rows(client, "SELECT count(*) FROM sluice_catalog.views", &[vec!["0".to_string()]]).await;
    }
    cb.batch_execute("CREATE MATERIALIZED VIEW totals AS SELECT auction, count(*) AS n, sum(price) AS total FROM bids GROUP BY auction")
        .await
        .unwrap();
    // FLUSH on another node covers a view created elsewhere just before: C applies the
    // catalog as far as it goes before it flushes.
    cc.batch_execute("FLUSH").await.unwrap();
    assert_eq!(read_totals(&cc).await, totals(&first));

    // B restarts and D joins later: both replay the catalog (D from nothing).
    b.terminate();
    let more = bids(3000, 1500);
    send(&broker, &more);
    let all: Vec<_> = first.iter().chain(&more).cloned().collect();
    let expected = totals(&all);
    let b = node(&broker, "one", dirs[1].path());
    let d = node(&broker, "one", dirs[3].path());
    let (cb, cd) = (b.client().await, d.client().await);
    for client in [&ca, &cb, &cc, &cd] {
        wait_rows(client, "SELECT name FROM sluice_catalog.views", &[vec!["totals".to_string()]]).await;
        assert_eq!(view_totals(client).await, expected);
    }
    wait_for(&cd, "SELECT count(*) FROM sluice_catalog.cluster WHERE state = 'up'", 0, |n| n == "4", "SHOW CLUSTER")
        .await;

    // FLUSH on one node flushes every node: the others answer right after it, unflushed.
    let last = bids(4500, 2000);
    send(&broker, &last);
    let all: Vec<_> = all.iter().chain(&last).cloned().collect();
    let expected = totals(&all);
    cc.batch_execute("FLUSH").await.unwrap();
    for client in [&ca, &cb, &cc, &cd] {
        assert_eq!(read_totals(client).await, expected);
    }
    let shown = query_rows(&cd, "SHOW CLUSTER").await;
    assert_eq!(shown.len(), 4, "{shown:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_belongs_to_one_cluster() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    drop(node(&broker, "first", dir.path()));
    let url = format!("kafka://{}", broker.servers());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--listen", "127.0.0.1:0", "--cluster", &url, "--cluster-name", "second", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("belongs to cluster \"first\""), "{stderr}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--listen", "127.0.0.1:0", "--cluster", "broker:9092", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("must be a kafka:// URL"));
}
