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

/// Three nodes of cluster `name`, each with a data directory of its own.
fn three_nodes(broker: &Broker, name: &str) -> (Vec<tempfile::TempDir>, Vec<Server>) {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = dirs.iter().map(|d| node(broker, name, d.path())).collect();
    (dirs, nodes)
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

/// Expected `auction -> max(price)`, and the count and sum of the bids priced 90 or more.
fn peaks(msgs: &[(i32, Option<String>, String)]) -> (BTreeMap<String, String>, (i64, i64)) {
    let (mut peak, mut dear) = (BTreeMap::<i64, i64>::new(), (0, 0));
    for (_, _, v) in msgs {
        let json: serde_json::Value = serde_json::from_str(v).unwrap();
        let (auction, price) = (json["auction"].as_i64().unwrap(), json["price"].as_i64().unwrap());
        let top = peak.entry(auction).or_insert(price);
        *top = (*top).max(price);
        if price >= 90 {
            dear = (dear.0 + 1, dear.1 + price);
        }
    }
    (peak.into_iter().map(|(a, p)| (a.to_string(), p.to_string())).collect(), dear)
}

/// Random numbers below `n` for a test's kill schedule, from a seed it prints.
fn kill_schedule() -> impl FnMut(u64) -> u64 {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("kill schedule seed {seed}");
    let mut random = seed;
    move |n: u64| {
        random = random.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (random >> 33) % n
    }
}

/// What `client` serves of the three views of the test below.
async fn served(
    client: &tokio_postgres::Client,
) -> (BTreeMap<String, (String, String)>, BTreeMap<String, String>, (i64, i64)) {
    let peak =
        query_rows(client, "SELECT auction, top FROM peak").await.into_iter().map(|r| (r[0].clone(), r[1].clone()));
    let dear = query_rows(client, "SELECT count(*), coalesce(sum(price), 0) FROM dear").await;
    let dear = (dear[0][0].parse().unwrap(), dear[0][1].parse().unwrap());
    (read_totals(client).await, peak.collect(), dear)
}

/// The node (index into `nodes`) that runs view `view` (or its shard `view#k`), as SHOW
/// CLUSTER on `client` says (waiting while a rebalance leaves it on no node, or on two in
/// heartbeats of different ages).
async fn runner(client: &tokio_postgres::Client, nodes: &[Server], view: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = query_rows(client, "SELECT address, runs FROM sluice_catalog.cluster WHERE state = 'up'").await;
        let runs: Vec<&Vec<String>> = rows.iter().filter(|r| r[1].split(", ").any(|v| v == view)).collect();
        if let [one] = runs.as_slice() {
            return nodes.iter().position(|n| one[0] == format!("127.0.0.1:{}", n.port)).expect("a node of the test");
        }
        assert!(Instant::now() < deadline, "view {view} does not run on exactly one node: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Each view and sink runs on one node, and moves with its state when that node goes:
/// killed (ten times, at random moments, some right after a FLUSH, some while bids arrive)
/// or stopped gracefully. Every node keeps serving the same rows, exactly the rows of every
/// bid sent, counted once; the exactly-once Kafka sink writes each row once; a dropped
/// view's and sink's changelog topics are deleted.
#[tokio::test(flavor = "multi_thread")]
async fn views_move_with_their_state_when_their_node_goes() {
    let broker = Broker::start();
    broker.create_topic("bids", 3).await;
    let (dirs, mut nodes) = three_nodes(&broker, "move");
    let stream = format!(
        "CREATE STREAM bids (auction BIGINT, price BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) \
         WITH (connector = 'kafka', topic = 'bids', bootstrap_servers = '{}', format = 'json')",
        broker.servers()
    );
    let first = nodes[0].client().await;
    first.batch_execute(&stream).await.unwrap();
    broker.create_topic("dear_out", 1).await;
    for view in [
        "CREATE MATERIALIZED VIEW totals AS SELECT auction, count(*) AS n, sum(price) AS total FROM bids GROUP BY auction",
        "CREATE MATERIALIZED VIEW peak AS SELECT auction, max(price) AS top FROM bids GROUP BY auction",
        "CREATE MATERIALIZED VIEW dear AS SELECT auction, price FROM bids WHERE price >= 90",
        &format!(
            "CREATE SINK dear_out FROM dear WITH (connector = 'kafka', topic = 'dear_out', bootstrap_servers = '{}')",
            broker.servers()
        ),
    ] {
        first.batch_execute(view).await.unwrap();
    }
    drop(first);
    let mut sent = bids(0, 1000);
    send(&broker, &sent);
    let mut next = kill_schedule();
    for round in 0..10 {
        let any = nodes[0].client().await;
        // Kill the node running the sink every other round, the one running totals else.
        let victim = runner(&any, &nodes, if round % 2 == 0 { "dear_out#0" } else { "totals#0" }).await;
        let survivor = (victim + 1 + next(2) as usize) % 3;
        if next(2) == 0 {
            any.batch_execute("FLUSH").await.unwrap();
        }
        let batch = bids(sent.len(), 500);
        send(&broker, &batch[..250]);
        tokio::time::sleep(Duration::from_millis(next(1500))).await;
        nodes[victim].kill9();
        let killed = Instant::now();
        send(&broker, &batch[250..]);
        sent.extend(batch);
        let client = nodes[survivor].client().await;
        client.batch_execute("FLUSH").await.unwrap();
        eprintln!(
            "round {round}: node {victim} killed; FLUSH on node {survivor} returned after {:?}",
            killed.elapsed()
        );
        let expected = (totals(&sent), peaks(&sent).0, peaks(&sent).1);
        for (i, n) in nodes.iter().enumerate() {
            if i != victim {
                assert_eq!(served(&n.client().await).await, expected, "round {round}, node {i}");
            }
        }
        nodes[victim] = node(&broker, "move", dirs[victim].path());
        let back = nodes[victim].client().await;
        back.batch_execute("FLUSH").await.unwrap();
        assert_eq!(served(&back).await, expected, "round {round}, the restarted node");
    }

    // A node stopped gracefully hands its views over at once.
    let any = nodes[0].client().await;
    let victim = runner(&any, &nodes, "peak#0").await;
    nodes[victim].terminate();
    let more = bids(sent.len(), 500);
    send(&broker, &more);
    sent.extend(more);
    let survivor = (victim + 1) % 3;
    let client = nodes[survivor].client().await;
    let stopped = Instant::now();
    client.batch_execute("FLUSH").await.unwrap();
    eprintln!("graceful stop: FLUSH returned after {:?}", stopped.elapsed());
    assert_eq!(served(&client).await, (totals(&sent), peaks(&sent).0, peaks(&sent).1));
    runner(&client, &nodes, "peak#0").await;

    // A fourth node joins: the group gives it some of the views and sinks, which it takes
    // over with their state, and every node still serves the same rows.
    let fourth = tempfile::tempdir().unwrap();
    nodes.push(node(&broker, "move", fourth.path()));
    let more = bids(sent.len(), 500);
    send(&broker, &more);
    sent.extend(more);
    let late = nodes[3].client().await;
    let runs = format!("SELECT runs FROM sluice_catalog.cluster WHERE address = '127.0.0.1:{}'", nodes[3].port);
    wait_for(&late, &runs, 0, |r| !r.is_empty(), "the fourth node runs something").await;
    late.batch_execute("FLUSH").await.unwrap();
    let expected = (totals(&sent), peaks(&sent).0, peaks(&sent).1);
    for n in nodes.iter().filter(|n| n.pid() != 0) {
        assert_eq!(served(&n.client().await).await, expected);
    }
    let rebalanced = "SELECT count(*) FROM sluice_catalog.cluster WHERE state = 'up' AND last_rebalance IS NOT NULL";
    assert_eq!(query_rows(&client, rebalanced).await, vec![vec!["3".to_string()]]);

    // The sink wrote every dear bid once (read_committed), whichever node ran it when.
    let dear = peaks(&sent).1;
    let written = common::kafka::consume_all(&broker.servers(), "dear_out", true, dear.0 as usize);
    let prices = written.iter().map(|(_, v)| {
        let json: serde_json::Value = serde_json::from_str(v.as_deref().unwrap()).unwrap();
        json["price"].as_i64().unwrap()
    });
    assert_eq!((written.len() as i64, prices.sum::<i64>()), dear);

    // DROP removes the view and the sink everywhere, with their changelog topics.
    let changelogs = || broker.topics().into_iter().filter(|t| t.starts_with("_sluice-move-changelog-")).count();
    assert_eq!(changelogs(), 4);
    client.batch_execute("DROP MATERIALIZED VIEW dear CASCADE").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while changelogs() != 2 {
        assert!(Instant::now() < deadline, "the changelog of the dropped view still exists: {:?}", broker.topics());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in nodes.iter().filter(|n| n.pid() != 0) {
        let views = query_rows(&n.client().await, "SELECT name FROM sluice_catalog.views ORDER BY name").await;
        assert_eq!(views, vec![vec!["peak".to_string()], vec!["totals".to_string()]]);
    }
}

/// Appends `msgs` (their values) to `path`, one JSON line each.
fn append_lines(path: &std::path::Path, msgs: &[(i32, Option<String>, String)]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    for (_, _, value) in msgs {
        writeln!(file, "{value}").unwrap();
    }
    file.sync_all().unwrap();
}

/// A view over a file stream runs on one node, which reads the file (at the same path on
/// every node); when that node is killed, the node given the view continues from the
/// position committed with the view's state, so every line counts once.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_stream_is_read_by_the_node_running_its_view() {
    let broker = Broker::start();
    let root = tempfile::tempdir().unwrap();
    let path = root.path().join("bids.json");
    let mut sent = bids(0, 2000);
    append_lines(&path, &sent);
    let dirs: Vec<_> = ["a", "b", "c"].iter().map(|d| root.path().join(d)).collect();
    let mut nodes: Vec<Server> = dirs.iter().map(|d| node(&broker, "files", d)).collect();
    let client = nodes[1].client().await;
    client
        .batch_execute(&format!(
            "CREATE STREAM bids (auction BIGINT, price BIGINT, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) \
             WITH (connector = 'file', path = '{}', format = 'json'); \
             CREATE MATERIALIZED VIEW totals AS SELECT auction, count(*) AS n, sum(price) AS total FROM bids GROUP BY auction",
            path.display()
        ))
        .await
        .unwrap();
    client.batch_execute("FLUSH").await.unwrap();
    for n in &nodes {
        assert_eq!(read_totals(&n.client().await).await, totals(&sent));
    }
    let victim = runner(&client, &nodes, "totals").await;
    nodes[victim].kill9();
    let more = bids(2000, 1000);
    append_lines(&path, &more);
    sent.extend(more);
    let survivor = (victim + 1) % 3;
    let client = nodes[survivor].client().await;
    client.batch_execute("FLUSH").await.unwrap();
    assert_ne!(runner(&client, &nodes, "totals").await, victim);
    for (i, n) in nodes.iter().enumerate().filter(|(i, _)| *i != victim) {
        assert_eq!(read_totals(&n.client().await).await, totals(&sent), "node {i}");
    }
    nodes[victim] = node(&broker, "files", &dirs[victim]);
    let back = nodes[victim].client().await;
    back.batch_execute("FLUSH").await.unwrap();
    assert_eq!(read_totals(&back).await, totals(&sent));
}

/// A view over a generator runs on one node; the node taking it over when that one is
/// killed continues the generator where the last checkpoint left it, so every row counts
/// once.
#[tokio::test(flavor = "multi_thread")]
async fn a_generator_continues_on_the_node_taking_its_view_over() {
    let broker = Broker::start();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<Server> = dirs.iter().map(|d| node(&broker, "gen", d.path())).collect();
    let client = nodes[0].client().await;
    client
        .batch_execute(
            "CREATE STREAM seq (id BIGINT) WITH (connector = 'datagen', rows_per_second = '1000', \
               number_of_rows = '4000', fields.id.kind = 'sequence', fields.id.start = '1'); \
             CREATE MATERIALIZED VIEW seen AS SELECT count(*) AS n, sum(id) AS total FROM seq",
        )
        .await
        .unwrap();
    client.batch_execute("FLUSH").await.unwrap();
    let victim = runner(&client, &nodes, "seen").await;
    nodes[victim].kill9();
    let client = nodes[1 - victim].client().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        client.batch_execute("FLUSH").await.unwrap();
        let seen = query_rows(&client, "SELECT n, total FROM seen").await;
        if seen == vec![vec!["4000".to_string(), "8002000".to_string()]] {
            break;
        }
        assert!(Instant::now() < deadline, "the generator's rows after the takeover: {seen:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Who runs each shard of `view` by SHOW CLUSTER on `client` (shard label -> node
/// address), once every one of its `count` shards runs on exactly one node that is up.
async fn shard_runners(client: &tokio_postgres::Client, view: &str, count: usize) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = query_rows(client, "SELECT address, runs FROM sluice_catalog.cluster WHERE state = 'up'").await;
        let mut runners: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in &rows {
            for label in row[1].split(", ").filter(|l| l.starts_with(&format!("{view}#"))) {
                runners.entry(label.to_string()).or_default().push(row[0].clone());
            }
        }
        if runners.len() == count && runners.values().all(|r| r.len() == 1) {
            return runners.into_iter().map(|(label, mut r)| (label, r.remove(0))).collect();
        }
        assert!(Instant::now() < deadline, "the shards of {view} do not each run on one node: {rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Expected count, sum of prices and sum of auctions of the bids priced under 50.
fn cheap(msgs: &[(i32, Option<String>, String)]) -> Vec<Vec<String>> {
    let (mut n, mut prices, mut auctions) = (0i64, 0i64, 0i64);
    for (_, _, v) in msgs {
        let json: serde_json::Value = serde_json::from_str(v).unwrap();
        let price = json["price"].as_i64().unwrap();
        if price < 50 {
            (n, prices, auctions) = (n + 1, prices + price, auctions + json["auction"].as_i64().unwrap());
        }
    }
    vec![vec![n.to_string(), prices.to_string(), auctions.to_string()]]
}

/// A view that keeps no state between rows, over a topic of six partitions, runs as six
/// shards, one per partition, shared out among the nodes by the group; each shard commits
/// to its own changelog partition, and every node serves all of them. When a node is
/// killed its shards go to the others and continue from their checkpoints: every bid counts
/// once, on every node.
#[tokio::test(flavor = "multi_thread")]
async fn a_view_runs_as_one_shard_per_partition_across_the_nodes() {
    let broker = Broker::start();
    broker.create_topic("bids", 6).await;
    let (dirs, mut nodes) = three_nodes(&broker, "shards");
    let client = nodes[0].client().await;
    client
        .batch_execute(&format!(
            "CREATE STREAM bids (auction BIGINT, price BIGINT, ts TIMESTAMP) \
             WITH (connector = 'kafka', topic = 'bids', bootstrap_servers = '{}', format = 'json'); \
             CREATE MATERIALIZED VIEW cheap AS SELECT auction, price FROM bids WHERE price < 50",
            broker.servers()
        ))
        .await
        .unwrap();
    let spread = |i: usize| (i % 6) as i32;
    let six = |from: usize, n: usize| -> Vec<(i32, Option<String>, String)> {
        bids(from, n).into_iter().enumerate().map(|(i, (_, k, v))| (spread(from + i), k, v)).collect()
    };
    let mut sent = six(0, 3000);
    send(&broker, &sent);
    let summary = "SELECT count(*), sum(price), sum(auction) FROM cheap";
    client.batch_execute("FLUSH").await.unwrap();
    for n in &nodes {
        assert_eq!(query_rows(&n.client().await, summary).await, cheap(&sent));
    }
    let runners = shard_runners(&client, "cheap", 6).await;
    let busy: std::collections::BTreeSet<&String> = runners.values().collect();
    assert!(busy.len() >= 2, "the shards are shared out: {runners:?}");
    // Each node's SHOW SOURCES has the partitions of the shards it runs.
    for n in &nodes {
        let address = format!("127.0.0.1:{}", n.port);
        let mine: Vec<Vec<String>> =
            runners.iter().filter(|(_, a)| **a == address).map(|(label, _)| vec![label[6..].to_string()]).collect();
        if !mine.is_empty() {
            let sql = "SELECT split FROM sluice_catalog.sources WHERE view = 'cheap' ORDER BY split";
            assert_eq!(query_rows(&n.client().await, sql).await, mine, "node {address}");
        }
    }
    let lag = "SELECT count(*) FROM sluice_catalog.cluster WHERE state = 'up' AND lag = 0";
    wait_for(&client, lag, 0, |n| n == "3", "every node has read its partitions to the end").await;
    let changelog = broker.topics().into_iter().find(|t| t.starts_with("_sluice-shards-changelog-")).unwrap();
    let written = broker.end_offsets(&changelog, 6);
    assert!(written.iter().all(|(_, end)| *end > 0), "one changelog partition per shard, each written: {written:?}");

    for round in 0..3 {
        let any = nodes[(round + 1) % 3].client().await;
        let runners = shard_runners(&any, "cheap", 6).await;
        let victim_address = runners.values().next().unwrap().clone();
        let victim = nodes.iter().position(|n| format!("127.0.0.1:{}", n.port) == victim_address).unwrap();
        let batch = six(sent.len(), 1200);
        send(&broker, &batch[..600]);
        nodes[victim].kill9();
        let killed = Instant::now();
        send(&broker, &batch[600..]);
        sent.extend(batch);
        let survivor = (victim + 1) % 3;
        let client = nodes[survivor].client().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while shard_runners(&client, "cheap", 6).await.values().any(|a| *a == victim_address) {
            assert!(Instant::now() < deadline, "round {round}: the killed node's shards stay with it");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("round {round}: node {victim} killed; its shards ran elsewhere after {:?}", killed.elapsed());
        client.batch_execute("FLUSH").await.unwrap();
        for (i, n) in nodes.iter().enumerate().filter(|(i, _)| *i != victim) {
            assert_eq!(query_rows(&n.client().await, summary).await, cheap(&sent), "round {round}, node {i}");
        }
        nodes[victim] = node(&broker, "shards", dirs[victim].path());
        let back = nodes[victim].client().await;
        back.batch_execute("FLUSH").await.unwrap();
        assert_eq!(query_rows(&back, summary).await, cheap(&sent), "round {round}, the restarted node");
    }
}

/// The rows of `sql` on `client`, sorted.
async fn sorted(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<String>> {
    let mut rows = query_rows(client, sql).await;
    rows.sort();
    rows
}

/// The views of the acceptance test: a q5-style count per auction and window (its stream
/// is partitioned by bidder, so the count needs a repartition), a q7-style top price per
/// window (all of a window meets in one shard), a top-N per auction, a stream-table join,
/// a filter, and an interval join of the stream with itself by auction (both sides
/// repartitioned by the join key).
const STAGED_VIEWS: [(&str, &str); 6] = [
    (
        "hot",
        "SELECT auction, window_start, count(*) AS n FROM TUMBLE(bids, ts, INTERVAL '2' SECOND) \
         GROUP BY auction, window_start, window_end",
    ),
    (
        "top",
        "SELECT window_start, max(price) AS top, count(*) AS n FROM TUMBLE(bids, ts, INTERVAL '2' SECOND) \
         GROUP BY window_start, window_end",
    ),
    (
        "best",
        "SELECT auction, price, bidder FROM (SELECT auction, price, bidder, ROW_NUMBER() OVER \
         (PARTITION BY auction ORDER BY price DESC, bidder) AS rn FROM bids) WHERE rn <= 2",
    ),
    ("sold", "SELECT b.auction, b.price, s.seller FROM bids b JOIN sellers s ON b.auction = s.id"),
    ("cheap", "SELECT auction, price FROM bids WHERE price < 10"),
    (
        "pairs",
        "SELECT a.auction, a.bidder, a.price, b.bidder AS next_bidder, b.price AS next_price \
         FROM bids a JOIN bids b ON a.auction = b.auction \
         WHERE b.ts BETWEEN a.ts + INTERVAL '1' MILLISECOND AND a.ts + INTERVAL '30' MILLISECOND AND a.price < 100",
    ),
];

/// Creates the stream, the table, [`STAGED_VIEWS`] and two exactly-once Kafka sinks on
/// `client`: of `cheap` into topic `sink`, and of `hot` (keyed, in stages in a cluster)
/// into `<sink>_hot`.
async fn create_staged(client: &tokio_postgres::Client, servers: &str, sink: &str) {
    client
        .batch_execute(&format!(
            "CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, ts TIMESTAMP, \
               WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) \
             WITH (connector = 'kafka', topic = 'bids', bootstrap_servers = '{servers}', format = 'json'); \
             CREATE TABLE sellers (id BIGINT PRIMARY KEY, seller BIGINT) \
             WITH (connector = 'kafka', topic = 'sellers', bootstrap_servers = '{servers}', format = 'json')"
        ))
        .await
        .unwrap();
    for (name, query) in STAGED_VIEWS {
        client.batch_execute(&format!("CREATE MATERIALIZED VIEW {name} AS {query}")).await.unwrap();
    }
    // Its own transactional id: the single node and the cluster write through one broker.
    let sinks = format!(
        "CREATE SINK cheap_out FROM cheap WITH (connector = 'kafka', topic = '{sink}', \
         bootstrap_servers = '{servers}', transactional_id = '{sink}'); \
         CREATE SINK hot_out FROM hot WITH (connector = 'kafka', topic = '{sink}_hot', \
         bootstrap_servers = '{servers}', transactional_id = '{sink}_hot')"
    );
    client.batch_execute(&sinks).await.unwrap();
}

/// `n` bids from `from` on, partitioned by bidder over 6 partitions, a millisecond apart.
fn bidder_bids(from: usize, n: usize) -> Vec<(i32, Option<String>, String)> {
    (from..from + n)
        .map(|i| {
            let (auction, bidder, price) = (i * 7 % 23, i % 11, (i * 37) % 1000);
            let value = format!(
                r#"{{"auction": {auction}, "bidder": {bidder}, "price": {price}, "ts": {}}}"#,
                1_700_000_000_000i64 + i as i64
            );
            ((bidder % 6) as i32, None, value)
        })
        .collect()
}

/// What every view of [`STAGED_VIEWS`] holds, as `client` serves it.
async fn staged_contents(client: &tokio_postgres::Client) -> Vec<Vec<Vec<String>>> {
    let mut out = Vec::new();
    for (name, _) in STAGED_VIEWS {
        out.push(sorted(client, &format!("SELECT * FROM {name}")).await);
    }
    out
}

/// What a keyed sink's records in `topic` (read_committed) leave per key: the last value,
/// none after a tombstone.
fn sunk_table(broker: &Broker, topic: &str) -> BTreeMap<String, String> {
    let mut table = BTreeMap::new();
    for (key, value) in common::kafka::consume_all(&broker.servers(), topic, true, 1) {
        let key = key.expect("a keyed sink's record has a key");
        match value {
            Some(value) => table.insert(key, value),
            None => table.remove(&key),
        };
    }
    table
}

/// The sink's records in `topic` (read_committed), sorted.
fn sunk(broker: &Broker, topic: &str, expected: usize) -> Vec<String> {
    let records = common::kafka::consume_all(&broker.servers(), topic, true, expected);
    let mut values: Vec<String> = records.into_iter().map(|(_, v)| v.unwrap_or_default()).collect();
    values.sort();
    values
}

/// The acceptance test of scale-out: three nodes share views over a topic of six
/// partitions. Views whose grouping is not the topic's partitioning run in two stages
/// joined by a repartition topic; the rest run as one shard per partition or whole. After
/// FLUSH, every view read on every node equals what one plain `sluice serve` computes from
/// the same input, and so do the exactly-once sinks' topics: after each of ten kill -9 at
/// random moments (bids arriving meanwhile), after a graceful stop and after a fourth node
/// joins. DROP on any node removes a view in stages with its internal topics.
#[tokio::test(flavor = "multi_thread")]
async fn views_in_stages_across_nodes_equal_a_single_node() {
    let broker = Broker::start();
    broker.create_topic("bids", 6).await;
    broker.create_topic("sunk_alone", 1).await;
    broker.create_topic("sunk_cluster", 1).await;
    broker.create_topic("sunk_alone_hot", 1).await;
    broker.create_topic("sunk_cluster_hot", 1).await;
    broker.create_compacted_topic("sellers", 1).await;
    let sellers: Vec<(i32, Option<String>, String)> =
        (0..23).map(|a| (0, Some(a.to_string()), format!(r#"{{"id": {a}, "seller": {}}}"#, 100 + a % 5))).collect();
    let refs: Vec<(i32, Option<&str>, &str)> = sellers.iter().map(|(p, k, v)| (*p, k.as_deref(), v.as_str())).collect();
    broker.producer().send("sellers", &refs);

    let single_dir = tempfile::tempdir().unwrap();
    let single = Server::start_with(single_dir.path(), &["--checkpoint-interval-ms", "60000"]);
    let alone = single.client().await;
    create_staged(&alone, &broker.servers(), "sunk_alone").await;
    let (mut dirs, mut nodes) = three_nodes(&broker, "stages");
    let first = nodes[0].client().await;
    create_staged(&first, &broker.servers(), "sunk_cluster").await;
    first.batch_execute("FLUSH").await.unwrap();

    // EXPLAIN shows where a view is cut into stages, and how many shards it runs as.
    let explain = |query: &str| format!("EXPLAIN CREATE MATERIALIZED VIEW x AS {query}");
    let plan = query_rows(&first, &explain(STAGED_VIEWS[0].1)).await.concat().join("\n");
    assert!(
        plan.contains("Repartition: hash(") && plan.contains("into 6 shards through the repartition topic"),
        "{plan}"
    );
    let plan = query_rows(&first, &explain(STAGED_VIEWS[4].1)).await.concat().join("\n");
    assert!(plan.contains("Shards: 6, one per partition"), "{plan}");
    let plan = query_rows(&first, &explain(STAGED_VIEWS[5].1)).await.concat().join("\n");
    assert_eq!(plan.matches("into 6 shards through the repartition topic").count(), 2, "{plan}");
    drop(first);

    let mut next = kill_schedule();
    let mut sent = 0;
    // Round 0 kills nobody; rounds 1-10 kill one node each; round 11 stops one gracefully;
    // round 12 starts a fourth node.
    for round in 0..13 {
        let batch = bidder_bids(sent, 2000);
        sent += batch.len();
        send(&broker, &batch[..1000]);
        tokio::time::sleep(Duration::from_millis(next(1500))).await;
        let up: Vec<usize> = (0..nodes.len()).filter(|i| nodes[*i].pid() != 0).collect();
        let victim = up[next(up.len() as u64) as usize];
        match round {
            1..=10 => nodes[victim].kill9(),
            11 => nodes[victim].terminate(),
            12 => {
                dirs.push(tempfile::tempdir().unwrap());
                nodes.push(node(&broker, "stages", dirs[3].path()));
            }
            _ => {}
        }
        send(&broker, &batch[1000..]);
        alone.batch_execute("FLUSH").await.unwrap();
        let expected = staged_contents(&alone).await;
        let sizes: Vec<usize> = expected.iter().map(Vec::len).collect();
        assert!(sizes[0] >= 23 && sizes[2] == 46 && sizes[5] > 0, "the single node's views have {sizes:?} rows");
        let asked = *up.iter().find(|i| **i != victim).unwrap();
        let started = Instant::now();
        nodes[asked].client().await.batch_execute("FLUSH").await.unwrap();
        let event = match round {
            1..=10 => format!("node {victim} killed"),
            11 => format!("node {victim} stopped"),
            12 => "a fourth node joined".to_string(),
            _ => "all nodes up".to_string(),
        };
        eprintln!("round {round}: {event}; FLUSH on node {asked} took {:?}", started.elapsed());
        for (i, n) in nodes.iter().enumerate().filter(|(_, n)| n.pid() != 0) {
            let got = staged_contents(&n.client().await).await;
            for ((name, _), (got, expected)) in STAGED_VIEWS.iter().zip(got.iter().zip(&expected)) {
                assert_eq!(got, expected, "round {round}: view {name} on node {i}");
            }
        }
        if (1..=10).contains(&round) {
            nodes[victim] = node(&broker, "stages", dirs[victim].path());
        }
    }
    let any = nodes[asked_any(&nodes)].client().await;
    // Sinks run as shards too, each writing its part with a transactional id of its own.
    for object in ["hot", "top", "best", "sold", "cheap", "pairs", "cheap_out", "hot_out"] {
        shard_runners(&any, object, 6).await;
    }
    // What the nodes' sources read adds up to the input, each bid counted once across
    // kills and takeovers (every shard restores its own counters).
    let read = "SELECT rows_read FROM sluice_catalog.views WHERE name = 'cheap'";
    let mut total = 0;
    for n in nodes.iter().filter(|n| n.pid() != 0) {
        total += query_rows(&n.client().await, read).await[0][0].parse::<usize>().unwrap();
    }
    assert_eq!(total, sent);
    assert_eq!(query_rows(&alone, read).await, vec![vec![sent.to_string()]]);
    let cheap_rows = query_rows(&alone, "SELECT count(*) FROM cheap").await[0][0].parse::<usize>().unwrap();
    assert_eq!(sunk(&broker, "sunk_cluster", cheap_rows), sunk(&broker, "sunk_alone", cheap_rows));
    let hot = sunk_table(&broker, "sunk_cluster_hot");
    assert_eq!(hot.len(), query_rows(&alone, "SELECT * FROM hot").await.len());
    assert_eq!(hot, sunk_table(&broker, "sunk_alone_hot"));

    // DROP on any node removes a view in stages everywhere, with its internal topics and
    // its sink's.
    let internal =
        |kind: &str| broker.topics().into_iter().filter(|t| t.starts_with(&format!("_sluice-stages-{kind}-"))).count();
    assert_eq!(internal("repartition"), 5, "hot, top, best, pairs and hot_out run in two stages");
    let changelogs = internal("changelog");
    any.batch_execute("DROP MATERIALIZED VIEW hot CASCADE").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while internal("repartition") != 3 || internal("changelog") != changelogs - 2 {
        assert!(Instant::now() < deadline, "the dropped view's topics remain: {:?}", broker.topics());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for n in nodes.iter().filter(|n| n.pid() != 0) {
        let views = query_rows(&n.client().await, "SELECT count(*) FROM sluice_catalog.views WHERE name = 'hot'").await;
        assert_eq!(views, vec![vec!["0".to_string()]]);
    }
}

/// A node of `nodes` that is up.
fn asked_any(nodes: &[Server]) -> usize {
    nodes.iter().position(|n| n.pid() != 0).unwrap()
}
