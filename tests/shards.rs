//! Views whose keyed operators run as several shards (`serve --parallelism N`) give exactly
//! the rows of the same views run unsharded, keep the shards they were created with across
//! a kill -9 and a restart with another `--parallelism`, and EXPLAIN shows where the plan
//! is cut.

mod common;

use std::io::Write;

use common::{Server, query_rows};

/// Bid lines `from..to`: auctions spread over 500 keys, event time rising 7 ms per bid.
fn bids(from: u64, to: u64) -> String {
    (from..to)
        .map(|i| {
            let auction = (i * 2_654_435_761) % 500;
            let price = (i * 7919) % 10_000;
            let channel = ["web", "app", "api"][(i % 3) as usize];
            format!(
                "{{\"auction\": {auction}, \"bidder\": {}, \"price\": {price}, \"channel\": \"{channel}\", \"ts\": {}}}\n",
                i % 97,
                1_700_000_000_000 + i * 7
            )
        })
        .collect()
}

/// Views of every kind a cut can take: updating and window-close aggregates, a global
/// aggregate per window (one key), a top-N per partition, HAVING over an aggregate.
const VIEWS: &[(&str, &str)] = &[
    (
        "per_auction",
        "SELECT auction, window_start, count(*) AS n, sum(price) AS total, max(price) AS top \
         FROM HOP(bids, ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND) GROUP BY auction, window_start",
    ),
    (
        "closed",
        "SELECT auction, window_start, count(*) AS n FROM TUMBLE(bids, ts, INTERVAL '10' SECOND) \
         GROUP BY auction, window_start EMIT ON WINDOW CLOSE",
    ),
    (
        "max_per_window",
        "SELECT window_start, max(price) AS top FROM TUMBLE(bids, ts, INTERVAL '10' SECOND) \
         GROUP BY window_start EMIT ON WINDOW CLOSE",
    ),
    (
        "best_two",
        "SELECT * FROM (SELECT auction, price, bidder, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC, \
         bidder) AS rn FROM bids) WHERE rn <= 2",
    ),
    (
        "busy_channels",
        "SELECT channel, count(*) AS n, avg(price) AS mean FROM bids WHERE price > 5000 GROUP BY channel \
         HAVING count(*) > 100",
    ),
];

async fn create(server: &Server, path: &std::path::Path) {
    let client = server.client().await;
    client
        .batch_execute(&format!(
            "CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, ts TIMESTAMP, \
             WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) WITH (connector = 'file', path = '{}', format = 'json')",
            path.display()
        ))
        .await
        .unwrap();
    for (name, query) in VIEWS {
        client.batch_execute(&format!("CREATE MATERIALIZED VIEW {name} AS {query}")).await.unwrap();
    }
}

/// Every view's rows, sorted.
async fn contents(server: &Server) -> Vec<Vec<Vec<String>>> {
    let client = server.client().await;
    client.batch_execute("FLUSH").await.unwrap();
    let mut all = Vec::new();
    for (name, _) in VIEWS {
        let mut rows = query_rows(&client, &format!("SELECT * FROM {name}")).await;
        rows.sort();
        assert!(!rows.is_empty(), "{name} is empty");
        all.push(rows);
    }
    all
}

fn append(path: &std::path::Path, text: &str) {
    std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sharded_views_equal_unsharded_ones_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bids.json");
    append(&path, &bids(0, 60_000));
    let (one, three) = (dir.path().join("one"), dir.path().join("three"));
    let single = Server::start_with(&one, &["--checkpoint-interval-ms", "100"]);
    let mut sharded = Server::start_with(&three, &["--checkpoint-interval-ms", "100", "--parallelism", "3"]);
    create(&single, &path).await;
    create(&sharded, &path).await;
    assert_eq!(contents(&sharded).await, contents(&single).await);

    // EXPLAIN shows the cut: the exchange right below the aggregate, above the window.
    let explained =
        query_rows(&sharded.client().await, &format!("EXPLAIN CREATE MATERIALIZED VIEW x AS {}", VIEWS[0].1)).await;
    let lines: Vec<&str> = explained.iter().map(|r| r[0].trim()).collect();
    let at = lines.iter().position(|l| l.starts_with("Exchange: hash(auction@")).unwrap_or_else(|| panic!("{lines:?}"));
    assert!(lines[at].ends_with("into 3 shards"), "{lines:?}");
    assert!(lines[at - 1].starts_with("Aggregate"), "{lines:?}");
    assert!(lines[at + 1..].iter().any(|l| l.starts_with("Window")), "{lines:?}");

    // More input, and a kill -9 while the sharded server reads it; it comes back with
    // --parallelism 1, but its views keep their three shards (their state is stored so).
    append(&path, &bids(60_000, 140_000));
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    sharded.kill9();
    let sharded = Server::start_with(&three, &["--checkpoint-interval-ms", "100", "--parallelism", "1"]);
    append(&path, &bids(140_000, 160_000));
    assert_eq!(contents(&sharded).await, contents(&single).await);
    let threads = std::fs::read_dir(format!("/proc/{}/task", sharded.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .filter(|name| name.starts_with("ops-closed#"))
        .count();
    assert_eq!(threads, 3, "closed runs as its three shards");
}
