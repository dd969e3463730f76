//! Storage faults against the real binary: every kind of file sled keeps in the data
//! directory is damaged in turn (bytes overwritten in the middle, or cut in half), and the
//! server restarted on it must end in a clear refusal (a one-line start error, or XX001 for
//! a view that SHOW lists as failed) or in exactly the rows it had before, never in other
//! rows or a panic. Then a disk that fills up under a running server (a small tmpfs,
//! when this process may mount one): checkpoints fail visibly, FLUSH, CREATE and DROP
//! answer errors instead of hanging or OK, and a restart after the disk is freed resumes
//! from the last good checkpoint to exactly the right rows.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, query_rows, repo_root};

const SETUP: &str = "
CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP,
  WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
  WITH (connector = 'file', path = 'PATH', format = 'json');
CREATE MATERIALIZED VIEW rich AS SELECT auction, bidder, price, date_time FROM bids WHERE price > 300;
CREATE MATERIALIZED VIEW windowed AS
  SELECT auction, window_start, count(*) AS n, sum(price) AS total
  FROM TUMBLE(bids, date_time, INTERVAL '2' SECOND) GROUP BY auction, window_start, window_end;
CREATE MATERIALIZED VIEW closed AS
  SELECT window_end, count(*) AS n, max(price) AS top
  FROM TUMBLE(bids, date_time, INTERVAL '2' SECOND) GROUP BY window_end EMIT ON WINDOW CLOSE;
CREATE MATERIALIZED VIEW totals AS SELECT auction, count(*) AS n, sum(price) AS total FROM bids GROUP BY auction;
";

const VIEWS: [&str; 4] = ["rich", "windowed", "closed", "totals"];

/// Rows `from..to` of the input: 5 ms apart, 40 auctions.
fn chunk(from: u64, to: u64) -> String {
    let base: u64 = 1_772_359_200_000;
    let mut s = String::new();
    for n in from..to {
        let (auction, bidder, price) = (n * 7 % 40, n * 13 % 500, n * 7919 % 1000);
        let t = base + n * 5;
        s.push_str(&format!(
            "{{\"auction\": {auction}, \"bidder\": {bidder}, \"price\": {price}, \"date_time\": {t}}}\n"
        ));
    }
    s
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Every view's rows, sorted.
async fn contents(client: &tokio_postgres::Client) -> Vec<Vec<Vec<String>>> {
    let mut out = Vec::new();
    for v in VIEWS {
        let mut rows = query_rows(client, &format!("SELECT * FROM {v}")).await;
        rows.sort();
        out.push(rows);
    }
    out
}

/// A server that may refuse to start.
struct Started {
    child: Child,
    port: u16,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sluice serve` on `data_dir`: the server once ready, or its whole log and exit
/// status when it exits first.
fn try_start(data_dir: &Path) -> Result<Started, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--listen", "127.0.0.1:0", "--checkpoint-interval-ms", "100", "--data-dir"])
        .arg(data_dir)
        .current_dir(repo_root())
        .env("RUST_LOG", "warn,sluice=info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = String::new();
    while let Some(Ok(line)) = lines.next() {
        log.push_str(&line);
        log.push('\n');
        if line.contains("sluice is ready for connections") {
            let address = line.split_whitespace().find_map(|w| w.strip_prefix("address=")).expect("address");
            let port = address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    eprintln!("  | {line}");
                }
            });
            return Ok(Started { child, port });
        }
    }
    let status = child.wait().expect("wait for sluice");
    Err(format!("{status}\n{log}"))
}

async fn connect(port: u16) -> tokio_postgres::Client {
    let conn = format!("host=127.0.0.1 port={port} user=sluice dbname=sluice");
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The kind of a store file, by its path in the data directory.
fn kind(relative: &Path) -> String {
    let text = relative.to_string_lossy();
    if text.starts_with("blobs") {
        "blobs/*".into()
    } else if text.starts_with("snap.") {
        "snap.*".into()
    } else {
        text.into_owned()
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in files(from) {
        let target = to.join(file.strip_prefix(from).unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&file, &target).unwrap();
    }
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    /// 64 bytes in the middle overwritten.
    Overwrite,
    /// Cut to half its length.
    Truncate,
}

fn damage(path: &Path, how: Damage) {
    let mut bytes = std::fs::read(path).unwrap();
    match how {
        Damage::Overwrite => {
            let mid = bytes.len() / 2;
            let end = (mid + 64).min(bytes.len());
            for (i, b) in bytes[mid..end].iter_mut().enumerate() {
                *b ^= 0xA5 ^ i as u8;
            }
        }
        Damage::Truncate => bytes.truncate(bytes.len() / 2),
    }
    std::fs::write(path, bytes).unwrap();
}

/// What one damaged store ended in, for the log.
async fn outcome(dir: &Path, expected: &[Vec<Vec<String>>]) -> String {
    let server = match try_start(dir) {
        Ok(s) => s,
        Err(log) => {
            assert!(!log.contains("panicked"), "a panic instead of a clear refusal:\n{log}");
            assert!(!log.starts_with("exit status: 0"), "refused but exited 0:\n{log}");
            let said = log.lines().find(|l| l.contains("data corrupted") || l.contains("sluice:")).unwrap_or_default();
            return format!("refused at start: {}", said.trim());
        }
    };
    let client = connect(server.port).await;
    let _ = client.simple_query("FLUSH").await;
    let mut results = Vec::new();
    for (i, view) in VIEWS.iter().enumerate() {
        results.push(view_outcome(&client, view, &expected[i]).await);
    }
    assert_eq!(query_rows(&client, "SELECT 1").await, vec![vec!["1".to_string()]], "the server still answers");
    results.join(", ")
}

/// Polls `view` until it shows exactly `expected` (its pipeline may be catching up) or is
/// refused with XX001 and listed as failed; anything else within 60 s fails the test.
async fn view_outcome(client: &tokio_postgres::Client, view: &str, expected: &[Vec<String>]) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.simple_query(&format!("SELECT * FROM {view}")).await {
            Err(e) => {
                let db = e.as_db_error().unwrap_or_else(|| panic!("{view}: {e}"));
                assert_eq!(db.code().code(), "XX001", "{view}: {} ({:?})", db.message(), db.detail());
                assert!(db.message().contains(&format!("\"{view}\"")), "names the view: {}", db.message());
                let shown = query_rows(client, "SHOW MATERIALIZED VIEWS").await;
                let row = shown.iter().find(|r| r[0] == view).unwrap_or_else(|| panic!("{view} not listed"));
                assert!(row[4].starts_with("failed: "), "{view} listed as {}", row[4]);
                return format!("{view}: XX001");
            }
            Ok(_) => {
                let mut rows = query_rows(client, &format!("SELECT * FROM {view}")).await;
                rows.sort();
                if rows == expected {
                    return format!("{view}: exact");
                }
                assert!(Instant::now() < deadline, "{view}: {} rows instead of {}", rows.len(), expected.len());
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

/// A data directory with several checkpoints of four views, and their rows.
async fn pristine(root: &Path, input: &Path) -> (PathBuf, Vec<Vec<Vec<String>>>) {
    let dir = root.join("pristine");
    let mut server = Server::start(&dir);
    let client = server.client().await;
    client.batch_execute(&SETUP.replace("PATH", &input.display().to_string())).await.unwrap();
    for c in 0..6 {
        append(input, &chunk(c * 10_000, (c + 1) * 10_000));
        client.simple_query("FLUSH").await.unwrap();
    }
    let expected = contents(&client).await;
    assert!(expected.iter().all(|rows| !rows.is_empty()), "every view has rows");
    server.kill9();
    // sled writes its snapshot file (snap.*) when it recovers from a crash.
    let mut server = Server::start(&dir);
    server.kill9();
    (dir, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_store_files_are_refused_or_read_exactly() {
    let root = tempfile::tempdir().unwrap();
    let input = root.path().join("bids.json");
    let (pristine, expected) = pristine(root.path(), &input).await;
    let store_files: Vec<PathBuf> = files(&pristine)
        .into_iter()
        .filter(|f| !f.ends_with("sluice.lock") && f.metadata().unwrap().len() > 0)
        .collect();
    let kinds: std::collections::BTreeSet<String> =
        store_files.iter().map(|f| kind(f.strip_prefix(&pristine).unwrap())).collect();
    eprintln!("store files: {kinds:?}");
    assert!(["db", "conf", "snap.*", "blobs/*"].iter().all(|k| kinds.contains(*k)), "sled's files: {kinds:?}");
    let mut report = Vec::new();
    for (n, file) in store_files.iter().enumerate() {
        let relative = file.strip_prefix(&pristine).unwrap();
        for how in [Damage::Overwrite, Damage::Truncate] {
            let case = root.path().join(format!("case-{n}-{how:?}"));
            copy_dir(&pristine, &case);
            damage(&case.join(relative), how);
            let result = outcome(&case, &expected).await;
            eprintln!("{} ({how:?}): {result}", relative.display());
            report.push(format!("{} {how:?}: {result}", relative.display()));
            std::fs::remove_dir_all(&case).unwrap();
        }
    }
    eprintln!("storage faults:\n{}", report.join("\n"));
}

/// Mounts a tmpfs of `size` at `at`; false when this process may not mount.
fn mount_tmpfs(at: &Path, size: &str) -> bool {
    std::fs::create_dir_all(at).unwrap();
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` with a file of its own.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    path
}

/// Runs `sql` with a deadline: a statement that hangs on a failing disk fails the test.
async fn within(client: &tokio_postgres::Client, sql: &str) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(30), client.simple_query(sql)).await {
        Err(_) => panic!("{sql} hangs on a full disk"),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.as_db_error().map_or(e.to_string(), |d| format!("{}: {}", d.code().code(), d.message()))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_checkpoints_visibly_and_keeps_the_last_good_one() {
    let root = tempfile::tempdir().unwrap();
    let mnt = root.path().join("mnt");
    if !mount_tmpfs(&mnt, "48m") {
        eprintln!("skipped: this process may not mount a tmpfs (needs root)");
        return;
    }
    let _mounted = Mounted(mnt.clone());
    let input = root.path().join("bids.json");
    let setup = SETUP.replace("PATH", &input.display().to_string());
    append(&input, &chunk(0, 10_000));
    let data_dir = mnt.join("data");
    let mut server = Server::start(&data_dir);
    let client = server.client().await;
    client.batch_execute(&setup).await.unwrap();
    client.simple_query("FLUSH").await.unwrap();

    let filler = fill(&mnt);
    append(&input, &chunk(10_000, 40_000));
    let flushed = within(&client, "FLUSH").await;
    eprintln!("FLUSH on a full disk: {flushed:?}");
    assert!(flushed.is_err(), "FLUSH answered OK while the disk refused the checkpoint");
    let shown = query_rows(&client, "SHOW MATERIALIZED VIEWS").await;
    eprintln!("SHOW MATERIALIZED VIEWS: {shown:?}");
    assert!(shown.iter().any(|r| r[4].starts_with("failed: ")), "{shown:?}");
    let created = within(&client, "CREATE MATERIALIZED VIEW more AS SELECT * FROM bids").await;
    eprintln!("CREATE on a full disk: {created:?}");
    assert!(created.is_err(), "CREATE answered OK on a full disk");
    let dropped = within(&client, "DROP MATERIALIZED VIEW rich").await;
    eprintln!("DROP on a full disk: {dropped:?}");
    assert!(dropped.is_err(), "DROP answered OK on a full disk");
    assert_eq!(query_rows(&client, "SELECT 1").await, vec![vec!["1".to_string()]]);
    server.kill9();

    // The disk is freed; a restart resumes from the last good checkpoint.
    std::fs::remove_file(filler).unwrap();
    let server = Server::start(&data_dir);
    let client = server.client().await;
    client.simple_query("FLUSH").await.unwrap();
    let recovered = contents(&client).await;
    let reference = Server::start(&root.path().join("reference"));
    let reference_client = reference.client().await;
    reference_client.batch_execute(&setup).await.unwrap();
    reference_client.simple_query("FLUSH").await.unwrap();
    assert!(recovered == contents(&reference_client).await, "rows after the full disk differ from a clean run");
}
