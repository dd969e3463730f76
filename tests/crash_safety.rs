//! Crash safety: the server is killed with SIGKILL at 50 moments during ingestion into a
//! windowed view, an updating aggregation, a top-N over it, a stream-stream join and a
//! file sink. After every restart (once FLUSH has caught up) and at the end, each view
//! and the sink's file must equal a batch computation over the same input, worked out
//! here in Rust: no row lost, none counted twice, no stale update left behind.
//!
//! The kill moments are pseudo-random but fixed (a seeded generator), so a failure
//! reproduces. Input is at most one second out of order, under the watermark's four
//! seconds, so no row is late and the expected results do not depend on timing.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{Server, query_rows};

const KILLS: usize = 50;
const CHUNK_ROWS: usize = 1_000;
/// Event time of the first row (epoch milliseconds); rows are 5 ms apart.
const BASE_MS: i64 = 1_772_359_200_000;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[derive(Debug, Clone, Copy)]
struct Bid {
    auction: i64,
    bidder: i64,
    price: i64,
    ms: i64,
}

/// The input: good rows, and how many malformed lines were written among them.
#[derive(Default)]
struct Input {
    rows: Vec<Bid>,
    bad: u64,
    lines: u64,
}

impl Input {
    /// Appends a chunk of rows (and a malformed line now and then) to the file.
    fn append(&mut self, path: &Path, rng: &mut Lcg) {
        let mut text = String::new();
        for _ in 0..CHUNK_ROWS {
            self.lines += 1;
            if self.lines.is_multiple_of(997) {
                text.push_str("{\"auction\": \"not a number\"}\n");
                self.bad += 1;
                continue;
            }
            let n = self.rows.len() as i64;
            let ms = BASE_MS + n * 5 - rng.next(1_000) as i64;
            let bid =
                Bid { auction: rng.next(40) as i64, bidder: rng.next(500) as i64, price: rng.next(1_000) as i64, ms };
            text.push_str(&format!(
                "{{\"auction\": {}, \"bidder\": {}, \"price\": {}, \"ms\": {ms}, \"date_time\": {ms}}}\n",
                bid.auction, bid.bidder, bid.price
            ));
            self.rows.push(bid);
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }
}

const SETUP: &str = "
CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, ms BIGINT, date_time TIMESTAMP,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'file', path = 'INPUT', format = 'json');
CREATE MATERIALIZED VIEW windowed AS
  SELECT auction, window_start, count(*) AS n, sum(price) AS total
  FROM TUMBLE(bids, date_time, INTERVAL '2' SECOND) GROUP BY auction, window_start;
CREATE MATERIALIZED VIEW groups AS
  SELECT bidder % 25 AS grp, count(*) AS n, sum(price) AS total, max(price) AS top, min(ms) AS first
  FROM bids GROUP BY bidder % 25;
CREATE MATERIALIZED VIEW leaders AS
  SELECT * FROM (
    SELECT auction, total, ROW_NUMBER() OVER (ORDER BY total DESC, auction) AS rn
    FROM (SELECT auction, sum(price) AS total FROM bids GROUP BY auction)
  ) WHERE rn <= 5;
CREATE MATERIALIZED VIEW followups AS
  SELECT a.auction, a.bidder, b.bidder AS next_bidder, a.ms AS t1, b.ms AS t2
  FROM bids a JOIN bids b ON a.auction = b.auction
  WHERE a.price >= 950 AND b.date_time > a.date_time AND b.date_time <= a.date_time + INTERVAL '1' SECOND;
CREATE MATERIALIZED VIEW rich AS SELECT auction, bidder, price, ms FROM bids WHERE price >= 990;
CREATE SINK rich_out FROM rich WITH (connector = 'file', path = 'OUTPUT', format = 'json');
";

const VIEWS: [&str; 5] = ["followups", "groups", "leaders", "rich", "windowed"];

/// What every view and the sink hold, as text rows in a fixed order.
#[derive(Debug, PartialEq)]
struct Snapshot {
    windowed: Vec<Vec<String>>,
    groups: Vec<Vec<String>>,
    leaders: Vec<Vec<String>>,
    followups: Vec<Vec<String>>,
    rich: Vec<Vec<String>>,
    /// Per view: rows read, bad rows.
    stats: Vec<Vec<String>>,
    /// The sink file's records, in file order.
    sink: Vec<Vec<String>>,
}

async fn snapshot(server: &Server, sink: &Path) -> Snapshot {
    let client = server.client().await;
    client.simple_query("FLUSH").await.unwrap();
    let q = |sql: &'static str| query_rows(&client, sql);
    Snapshot {
        windowed: q("SELECT auction, CAST(EXTRACT(EPOCH FROM window_start) AS BIGINT), n, total \
                     FROM windowed ORDER BY 1, 2")
        .await,
        groups: q("SELECT grp, n, total, top, first FROM groups ORDER BY grp").await,
        leaders: q("SELECT auction, total, rn FROM leaders ORDER BY rn").await,
        followups: q("SELECT auction, bidder, next_bidder, t1, t2 FROM followups ORDER BY 4, 5, 1, 2, 3").await,
        rich: q("SELECT auction, bidder, price, ms FROM rich ORDER BY ms, auction, bidder, price").await,
        stats: q("SELECT name, rows_read, bad_rows FROM sluice_catalog.views ORDER BY name").await,
        sink: sink_records(sink),
    }
}

fn sink_records(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    (text.lines())
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            ["auction", "bidder", "price", "ms"].iter().map(|k| record[k].to_string()).collect()
        })
        .collect()
}

fn row(values: &[i64]) -> Vec<String> {
    values.iter().map(i64::to_string).collect()
}

/// The batch computation: every view and the sink over all of `input`.
fn expected(input: &Input) -> Snapshot {
    let rows = &input.rows;
    let mut windows: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
    let mut groups: BTreeMap<i64, (i64, i64, i64, i64)> = BTreeMap::new();
    let mut totals: BTreeMap<i64, i64> = BTreeMap::new();
    for b in rows {
        let w = windows.entry((b.auction, b.ms.div_euclid(2_000) * 2)).or_default();
        *w = (w.0 + 1, w.1 + b.price);
        let g = groups.entry(b.bidder % 25).or_insert((0, 0, i64::MIN, i64::MAX));
        *g = (g.0 + 1, g.1 + b.price, g.2.max(b.price), g.3.min(b.ms));
        *totals.entry(b.auction).or_default() += b.price;
    }
    let mut leaders: Vec<(i64, i64)> = totals.into_iter().collect();
    leaders.sort_by_key(|&(auction, total)| (-total, auction));
    let mut by_auction: BTreeMap<i64, Vec<&Bid>> = BTreeMap::new();
    for b in rows {
        by_auction.entry(b.auction).or_default().push(b);
    }
    for bids in by_auction.values_mut() {
        bids.sort_by_key(|b| b.ms);
    }
    let mut followups = Vec::new();
    for a in rows.iter().filter(|a| a.price >= 950) {
        let bids = &by_auction[&a.auction];
        let from = bids.partition_point(|b| b.ms <= a.ms);
        for b in bids[from..].iter().take_while(|b| b.ms <= a.ms + 1_000) {
            followups.push([b.ms, a.auction, a.bidder, b.bidder, a.ms]);
        }
    }
    followups.sort_by_key(|&[t2, auction, bidder, next, t1]| (t1, t2, auction, bidder, next));
    let rich_in_order: Vec<Vec<String>> =
        rows.iter().filter(|b| b.price >= 990).map(|b| row(&[b.auction, b.bidder, b.price, b.ms])).collect();
    let mut rich = rich_in_order.clone();
    rich.sort_by_key(|r| (r[3].parse::<i64>().unwrap(), r[0].parse::<i64>().unwrap(), r[1].parse::<i64>().unwrap()));
    // The self-join reads the stream twice, once per side, and counts both.
    let reads = |view: &str| if view == "followups" { 2 } else { 1 };
    Snapshot {
        windowed: windows.into_iter().map(|((a, s), (n, t))| row(&[a, s, n, t])).collect(),
        groups: groups.into_iter().map(|(g, (n, t, top, first))| row(&[g, n, t, top, first])).collect(),
        leaders: leaders.iter().take(5).zip(1..).map(|(&(a, t), rn)| row(&[a, t, rn])).collect(),
        followups: followups.iter().map(|&[t2, a, b, n, t1]| row(&[a, b, n, t1, t2])).collect(),
        rich,
        stats: (VIEWS.iter())
            .map(|v| row(&[rows.len() as i64 * reads(v), input.bad as i64 * reads(v)]))
            .zip(VIEWS)
            .map(|(counts, v)| [vec![v.to_string()], counts].concat())
            .collect(),
        sink: rich_in_order,
    }
}

fn assert_matches(got: &Snapshot, want: &Snapshot, when: &str) {
    let parts = [
        ("windowed", &got.windowed, &want.windowed),
        ("groups", &got.groups, &want.groups),
        ("leaders", &got.leaders, &want.leaders),
        ("followups", &got.followups, &want.followups),
        ("rich", &got.rich, &want.rich),
        ("view statistics", &got.stats, &want.stats),
        ("the sink's file", &got.sink, &want.sink),
    ];
    for (name, got, want) in parts {
        if got != want {
            let first = got.iter().zip(want.iter()).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
            panic!(
                "{when}: {name} differs from the batch computation: {} rows, expected {}; first difference at \
                 row {first}: {:?} instead of {:?}",
                got.len(),
                want.len(),
                got.get(first),
                want.get(first)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_kills_during_ingestion_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("bids.json");
    let sink_path = dir.path().join("rich.json");
    let data_dir = dir.path().join("data");
    let setup =
        SETUP.replace("INPUT", &input_path.display().to_string()).replace("OUTPUT", &sink_path.display().to_string());
    let mut rng = Lcg(20261203);
    let mut input = Input::default();
    input.append(&input_path, &mut rng);

    let mut server = Server::start(&data_dir);
    server.client().await.batch_execute(&setup).await.unwrap();
    // Kills after which the restarted server had less than the input written before the
    // kill committed: the kill hit work in flight, which recovery had to replay.
    let mut in_flight = 0;
    for kill in 1..=KILLS {
        // New input (1,000 to 8,000 rows), then SIGKILL after a random moment of ingesting
        // it: while rows are being read, before, during or after a checkpoint (every
        // 100 ms). Appended lines are read within milliseconds, so the moments fall within
        // one checkpoint interval of the append (later ones would mostly find it committed).
        for _ in 0..=rng.next(8) {
            input.append(&input_path, &mut rng);
        }
        tokio::time::sleep(Duration::from_millis(rng.next(70))).await;
        let written = input.rows.len();
        server.kill9();
        // Input that arrives while the server is down.
        if rng.next(4) == 0 {
            input.append(&input_path, &mut rng);
        }
        server = Server::start(&data_dir);
        let read = "SELECT min(rows_read) FROM sluice_catalog.views";
        let restored: usize = query_rows(&server.client().await, read).await[0][0].parse().unwrap();
        in_flight += usize::from(restored < written);
        let got = snapshot(&server, &sink_path).await;
        assert_matches(&got, &expected(&input), &format!("after kill {kill} ({} rows)", input.rows.len()));
    }

    input.append(&input_path, &mut rng);
    let got = snapshot(&server, &sink_path).await;
    let want = expected(&input);
    assert_matches(&got, &want, "at the end");
    // The input was big enough for every view to mean something.
    assert!(want.windowed.len() > 1_000, "windowed: {}", want.windowed.len());
    assert!(want.followups.len() > 1_000, "followups: {}", want.followups.len());
    assert!(want.sink.len() > 100, "sink: {}", want.sink.len());
    assert!(input.bad > 10, "bad lines: {}", input.bad);
    eprintln!("{in_flight} of {KILLS} kills hit uncommitted work; {} rows in all", input.rows.len());
    assert!(in_flight >= KILLS / 5, "only {in_flight} of {KILLS} kills hit work in flight");
}
