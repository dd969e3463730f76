//! Recovery: kill -9 the server while it ingests a growing file, restart it, finish, and
//! compare every view with an uninterrupted run over the same data: identical. And a view
//! whose stored state a different plan computed is refused at restart, its data kept.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{Server, query_rows};
use sluice::Store;
use sluice::identity::{MANIFEST_SLOT, Manifest, OperatorId};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

const CHUNKS: usize = 60;
const CHUNK_ROWS: usize = 2_000;

/// Chunk `c` of the input: rows 5 ms apart, up to 5 s out of order (some are late), and a
/// malformed line now and then.
fn chunk(c: usize, rng: &mut Lcg) -> String {
    let base: i64 = 1_772_359_200_000;
    let mut s = String::new();
    for i in 0..CHUNK_ROWS {
        let n = (c * CHUNK_ROWS + i) as i64;
        if n % 9_973 == 0 {
            s.push_str("{\"auction\": \"oops\"}\n");
            continue;
        }
        let t = base + n * 5 - rng.next(5_000) as i64;
        s.push_str(&format!(
            "{{\"auction\": {}, \"bidder\": {}, \"price\": {}, \"date_time\": {t}}}\n",
            rng.next(40),
            rng.next(500),
            rng.next(1_000)
        ));
    }
    s
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

const SETUP: &str = "
CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'file', path = 'PATH', format = 'json');
CREATE MATERIALIZED VIEW windowed AS
  SELECT auction, window_start, window_end, count(*) AS n, max(price) AS top, avg(price) AS mean
  FROM TUMBLE(bids, date_time, INTERVAL '2' SECOND) GROUP BY auction, window_start, window_end;
CREATE MATERIALIZED VIEW closed AS
  SELECT window_end, count(*) AS n, count(DISTINCT bidder) AS bidders, sum(price) AS total
  FROM TUMBLE(bids, date_time, INTERVAL '2' SECOND) GROUP BY window_end EMIT ON WINDOW CLOSE;
CREATE MATERIALIZED VIEW totals AS
  SELECT auction, count(*) AS n, sum(price) AS total FROM bids GROUP BY auction HAVING count(*) > 10;
CREATE MATERIALIZED VIEW rich AS SELECT auction, bidder, price, date_time FROM bids WHERE price > 990;
CREATE MATERIALIZED VIEW top3 AS
  SELECT * FROM (
    SELECT auction, bidder, price, date_time, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rn
    FROM bids
  ) WHERE rn <= 3;
CREATE MATERIALIZED VIEW first_bid AS
  SELECT bidder, auction, price, date_time FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder ORDER BY date_time) AS rn FROM bids
  ) WHERE rn = 1;
CREATE MATERIALIZED VIEW top_volume AS
  SELECT * FROM (
    SELECT auction, total, ROW_NUMBER() OVER (ORDER BY total DESC, auction) AS rn
    FROM (SELECT auction, sum(price) AS total FROM bids GROUP BY auction)
  ) WHERE rn <= 5;
CREATE MATERIALIZED VIEW followups AS
  SELECT a.auction, a.bidder, b.bidder AS next_bidder, a.date_time AS t1, b.date_time AS t2
  FROM bids a JOIN bids b ON a.auction = b.auction
  WHERE a.price > 900 AND b.date_time > a.date_time AND b.date_time <= a.date_time + INTERVAL '1' SECOND;
CREATE MATERIALIZED VIEW shares AS
  SELECT w.auction, w.window_end, w.n, t.n AS total
  FROM (SELECT auction, window_start, window_end, count(*) AS n
        FROM TUMBLE(bids, date_time, INTERVAL '2' SECOND) GROUP BY auction, window_start, window_end) w
  JOIN (SELECT window_start, window_end, count(*) AS n
        FROM TUMBLE(bids, date_time, INTERVAL '2' SECOND) GROUP BY window_start, window_end) t
  ON w.window_end = t.window_end;
CREATE MATERIALIZED VIEW big_totals AS SELECT auction, total FROM totals WHERE total > 9000;
CREATE MATERIALIZED VIEW spread AS
  SELECT bidder % 10 AS grp, count(*) AS bidders, min(top) AS low, max(top) AS high, avg(top) AS mean, sum(top) AS total
  FROM (SELECT bidder, max(price) AS top FROM bids GROUP BY bidder HAVING count(*) < 240)
  GROUP BY bidder % 10;
";

const CHECKS: [&str; 14] = [
    "SELECT * FROM windowed ORDER BY auction, window_start",
    "SELECT * FROM closed ORDER BY window_end",
    "SELECT * FROM totals ORDER BY auction",
    "SELECT * FROM rich ORDER BY date_time, auction, bidder, price",
    "SELECT name, rows_read, late_rows, bad_rows FROM sluice_catalog.views ORDER BY name",
    // Late rows are kept exactly once across the crash, like the views.
    "SELECT view, event_time, watermark, reason, \"row\" FROM sluice_catalog.late_rows \
     ORDER BY view, event_time, \"row\", watermark",
    "SELECT v.name, v.late_rows, count(l.view) FROM sluice_catalog.views v \
     LEFT JOIN sluice_catalog.late_rows l ON l.view = v.name GROUP BY v.name, v.late_rows ORDER BY v.name",
    "SELECT * FROM top3 ORDER BY auction, rn",
    "SELECT * FROM first_bid ORDER BY bidder",
    "SELECT * FROM top_volume ORDER BY rn",
    // Joins of two streams: an interval self-join, and a window join of two aggregations.
    "SELECT * FROM followups ORDER BY t1, auction, bidder, t2, next_bidder",
    "SELECT * FROM shares ORDER BY window_end, auction",
    // A view over an updating view.
    "SELECT * FROM big_totals ORDER BY auction",
    // An aggregation over an updating aggregation: bidders leave it as the HAVING fails.
    "SELECT * FROM spread ORDER BY grp",
];

async fn snapshot(server: &Server) -> Vec<Vec<Vec<String>>> {
    let client = server.client().await;
    client.simple_query("FLUSH").await.unwrap();
    let mut out = Vec::new();
    for q in CHECKS {
        out.push(query_rows(&client, q).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_during_ingestion_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bids.json");
    let setup = SETUP.replace("PATH", &data.display().to_string());
    let mut rng = Lcg(7);
    let chunks: Vec<String> = (0..CHUNKS).map(|c| chunk(c, &mut rng)).collect();

    // Interrupted run: ingest, crash at the middle, append while down, restart, finish.
    append(&data, &chunks[0]);
    let mut server = Server::start(&dir.path().join("crashy"));
    server.client().await.batch_execute(&setup).await.unwrap();
    for (c, text) in chunks.iter().enumerate().skip(1) {
        if c == CHUNKS / 2 {
            server.kill9();
        }
        append(&data, text);
        if c == CHUNKS / 2 + 3 {
            server = Server::start(&dir.path().join("crashy"));
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let recovered = snapshot(&server).await;
    drop(server);

    // Uninterrupted run over the same, now complete, file.
    let reference_server = Server::start(&dir.path().join("clean"));
    reference_server.client().await.batch_execute(&setup).await.unwrap();
    let reference = snapshot(&reference_server).await;

    assert!(reference[0].len() > 100, "windowed view too small: {}", reference[0].len());
    assert!(!reference[3].is_empty());
    assert_eq!((reference[7].len(), reference[9].len()), (120, 5), "top 3 of 40 auctions, top 5 overall");
    assert!(reference[8].len() > 400, "most of 500 bidders have a first bid: {}", reference[8].len());
    assert!(reference[10].len() > 1_000 && reference[11].len() > 100, "joins too small");
    assert!(!reference[12].is_empty(), "some auction totals above 9000");
    assert_eq!(reference[13].len(), 10, "every bidder group keeps bidders under 240 bids");
    for (i, q) in CHECKS.iter().enumerate() {
        assert_eq!(recovered[i].len(), reference[i].len(), "row count differs for {q}");
        assert!(recovered[i] == reference[i], "contents differ for {q}");
    }
    let stats = &reference[4];
    assert!(stats.iter().all(|r| r[3] != "0"), "bad rows must be counted: {stats:?}");
    assert!(stats.iter().all(|r| r[2] != "0"), "late rows must be counted: {stats:?}");
    assert!(reference[6].iter().all(|r| r[1] == r[2]), "every late row is kept: {:?}", reference[6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_restart_keeps_streams_and_views() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bids.json");
    let setup = SETUP.replace("PATH", &data.display().to_string());
    let mut rng = Lcg(9);
    append(&data, &chunk(0, &mut rng));
    let mut server = Server::start(&dir.path().join("db"));
    server.client().await.batch_execute(&setup).await.unwrap();
    let before = snapshot(&server).await;
    server.terminate();
    let server = Server::start(&dir.path().join("db"));
    let client = server.client().await;
    let shown = query_rows(&client, "SHOW MATERIALIZED VIEWS").await;
    assert_eq!(shown.len(), 11);
    assert_eq!(snapshot(&server).await, before);
    append(&data, &chunk(1, &mut rng));
    let after = snapshot(&server).await;
    assert_ne!(after[2], before[2], "views go on after a restart");
}

/// The operators of view `name` as the store's manifests record them: (pipeline id,
/// manifest), found by the view's aggregate or filter text.
fn manifest_of(store: &Store, mentioning: &str) -> (u64, Manifest) {
    let mut found = Vec::new();
    for entry in store.scan_prefix(b"s") {
        let (key, value) = entry.unwrap();
        if key.len() == 10 && key[9] == MANIFEST_SLOT {
            let manifest: Manifest = serde_json::from_slice(&value).unwrap();
            if manifest.operators.iter().any(|o| o.what.contains(mentioning)) {
                found.push((u64::from_be_bytes(key[1..9].try_into().unwrap()), manifest));
            }
        }
    }
    assert_eq!(found.len(), 1, "manifests mentioning {mentioning:?}: {found:?}");
    found.pop().unwrap()
}

/// A view whose stored state was computed by a different plan (simulated: its manifest is
/// replaced by one an older planner could have written, one operator different) is refused
/// at restart with a clear error, its rows still readable and nothing deleted; the other
/// views go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_whose_plan_changed_is_refused_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let (data, db) = (dir.path().join("bids.json"), dir.path().join("db"));
    let mut rng = Lcg(5);
    append(&data, &chunk(0, &mut rng));
    let mut server = Server::start(&db);
    let client = server.client().await;
    let stream = SETUP.split(';').next().unwrap().replace("PATH", &data.display().to_string());
    client.batch_execute(&stream).await.unwrap();
    client
        .batch_execute(
            "CREATE MATERIALIZED VIEW per_auction AS SELECT auction, count(*) AS n, sum(price) AS total FROM bids GROUP BY auction;
             CREATE MATERIALIZED VIEW rich AS SELECT auction, price FROM bids WHERE price > 990;
             FLUSH",
        )
        .await
        .unwrap();
    let per_auction = query_rows(&client, "SELECT * FROM per_auction ORDER BY auction").await;
    let rich = query_rows(&client, "SELECT count(*) FROM rich").await;
    server.terminate();

    let store = Store::open(&db).unwrap();
    let (id, stored) = manifest_of(&store, "aggregates=");
    let mut older: Vec<(OperatorId, String)> = stored
        .operators
        .iter()
        .map(|o| (OperatorId(u64::from_str_radix(&o.id, 16).unwrap()), o.what.clone()))
        .collect();
    let aggregate = older.iter().position(|(_, what)| what.contains("aggregates=")).unwrap();
    older[aggregate] = (OperatorId(42), format!("{} (as an older planner wrote it)", older[aggregate].1));
    let older = Manifest::new(&older);
    let key = [&[b's'][..], &id.to_be_bytes(), &[MANIFEST_SLOT]].concat();
    store.commit(vec![(key.clone(), Some(serde_json::to_vec(&older).unwrap()))]).unwrap();
    let state_keys = store.keys(&[&[b's'][..], &id.to_be_bytes()].concat()).count();
    let row_keys = store.keys(&[&[b'v'][..], &id.to_be_bytes()].concat()).count();
    drop(store);

    let mut server = Server::start(&db);
    let client = server.client().await;
    let views = query_rows(&client, "SELECT name, status FROM sluice_catalog.views ORDER BY name").await;
    assert_eq!(views[0][0], "per_auction");
    assert!(
        views[0][1].contains("the stored state of materialized view \"per_auction\" was computed by a different plan"),
        "{views:?}"
    );
    assert!(!views[1][1].contains("failed"), "{views:?}");
    assert_eq!(query_rows(&client, "SELECT * FROM per_auction ORDER BY auction").await, per_auction, "rows kept");
    append(&data, &chunk(1, &mut rng));
    client.simple_query("FLUSH").await.unwrap();
    assert_ne!(query_rows(&client, "SELECT count(*) FROM rich").await, rich, "the other view goes on");
    assert_eq!(query_rows(&client, "SELECT * FROM per_auction ORDER BY auction").await, per_auction);
    server.terminate();

    let store = Store::open(&db).unwrap();
    assert_eq!(store.get(&key).unwrap(), Some(serde_json::to_vec(&older).unwrap()), "the manifest is as it was");
    assert_eq!(store.keys(&[&[b's'][..], &id.to_be_bytes()].concat()).count(), state_keys, "state kept");
    assert_eq!(store.keys(&[&[b'v'][..], &id.to_be_bytes()].concat()).count(), row_keys, "rows kept");
}
