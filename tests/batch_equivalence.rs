//! A tumbling-window view over 100k generated out-of-order rows equals the same aggregate
//! computed in batch over the same file, in both emit modes, through `sluice run`.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;

/// A small deterministic generator (no external crates).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

const ROWS: usize = 100_000;
const WINDOW_MS: i64 = 10_000;

type Expected = BTreeMap<(i64, i64), (u64, i64, i64, i64)>;

/// Writes rows 10 ms apart, each delayed by up to 3 s (within the 4 s watermark delay), and
/// returns the batch aggregate per (auction, window start).
fn generate(path: &std::path::Path) -> Expected {
    let base: i64 = 1_772_359_200_000;
    let mut rng = Lcg(42);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut expected = Expected::new();
    for i in 0..ROWS {
        let t = base + i as i64 * 10 - rng.next(3000) as i64;
        let auction = rng.next(50) as i64;
        let price = rng.next(10_000) as i64;
        writeln!(out, "{{\"auction\": {auction}, \"price\": {price}, \"date_time\": {t}}}").unwrap();
        let start = t - t.rem_euclid(WINDOW_MS);
        let e = expected.entry((auction, start)).or_insert((0, 0, i64::MIN, i64::MAX));
        e.0 += 1;
        e.1 += price;
        e.2 = e.2.max(price);
        e.3 = e.3.min(price);
    }
    expected
}

fn run_script(dir: &std::path::Path, data: &std::path::Path, emit: &str) -> Expected {
    let script = format!(
        "CREATE STREAM bids (auction BIGINT, price BIGINT, date_time TIMESTAMP, \
           WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND) \
         WITH (connector = 'file', path = '{}', format = 'json');
         CREATE MATERIALIZED VIEW w AS
           SELECT auction, window_start, count(*) AS n, sum(price) AS total, max(price) AS top, min(price) AS low
           FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND)
           GROUP BY auction, window_start {emit};
         SELECT auction, CAST(window_start AS BIGINT) AS ws, n, total, top, low FROM w;
         SELECT late_rows, bad_rows FROM sluice_catalog.views;",
        data.display()
    );
    let script_path = dir.join(format!("script{}.sql", emit.len()));
    std::fs::write(&script_path, script).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--format", "csv"])
        .arg("--file-root")
        .arg(dir)
        .arg(&script_path)
        .output()
        .expect("run sluice");
    assert!(output.status.success(), "sluice run failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("auction,ws,n,total,top,low"));
    let mut got = Expected::new();
    for line in lines.by_ref() {
        if line == "late_rows,bad_rows" {
            break;
        }
        let v: Vec<i64> = line.split(',').map(|c| c.parse().unwrap()).collect();
        assert!(got.insert((v[0], v[1]), (v[2] as u64, v[3], v[4], v[5])).is_none(), "duplicate row {line}");
    }
    assert_eq!(lines.next(), Some("0,0"), "no row may be late or bad");
    got
}

#[test]
fn tumbling_view_equals_batch_aggregate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bids.json");
    let expected = generate(&data);
    assert!(expected.len() > 4000);
    for emit in ["", "EMIT ON WINDOW CLOSE"] {
        let got = run_script(dir.path(), &data, emit);
        assert_eq!(got.len(), expected.len(), "group count differs ({emit})");
        assert!(got == expected, "results differ from the batch aggregate ({emit})");
    }
}
