//! One client must never take the server down: statements that are too deep, too long,
//! too slow or too big, sent over pgwire to the real binary. After each, another
//! connection must still get `SELECT 1` answered, and the server's memory must stay
//! bounded; the hostile connection itself stays usable.

mod common;

use std::time::{Duration, Instant};

use common::{Server, query_rows};
use tokio_postgres::error::SqlState;

/// The resident memory the server may reach in these tests (its query budget is 256 MiB).
const RSS_BOUND_MIB: u64 = 2048;

/// How long a probe may take before the server counts as unresponsive. Generous: this is
/// a liveness check on a shared machine, not a latency target (see docs/benchmarks.md).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

fn start(dir: &std::path::Path) -> Server {
    Server::start_with(dir, &["--checkpoint-interval-ms", "100", "--query-memory", "256", "--max-connections", "20"])
}

/// The server's resident set in MiB, from /proc.
fn rss_mib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    kib / 1024
}

/// Checks that a fresh connection gets `SELECT 1` answered and that memory is bounded;
/// returns how long the answer took.
async fn probe(server: &Server, after: &str) -> Duration {
    let started = Instant::now();
    let answered = tokio::time::timeout(PROBE_TIMEOUT, async {
        let client = server.client().await;
        query_rows(&client, "SELECT 1").await
    })
    .await
    .unwrap_or_else(|_| panic!("no answer to SELECT 1 within {PROBE_TIMEOUT:?} after {after}"));
    assert_eq!(answered, vec![vec!["1".to_string()]]);
    let rss = rss_mib(server);
    assert!(rss < RSS_BOUND_MIB, "server RSS {rss} MiB after {after}");
    started.elapsed()
}

/// Runs `sql` and returns its error's SQLSTATE and message (None if it succeeded).
async fn outcome(client: &tokio_postgres::Client, sql: &str) -> Option<(String, String)> {
    match client.simple_query(sql).await {
        Ok(_) => None,
        Err(e) => {
            let db = e.as_db_error().unwrap_or_else(|| panic!("{}: not a server error: {e}", preview(sql)));
            Some((db.code().code().to_string(), db.message().to_string()))
        }
    }
}

fn preview(sql: &str) -> String {
    sql.chars().take(80).collect()
}

/// Runs `sql` expecting SQLSTATE `code`.
async fn refused(client: &tokio_postgres::Client, sql: &str, code: &str) -> String {
    match outcome(client, sql).await {
        Some((got, message)) => {
            assert_eq!(got, code, "{}: {message}", preview(sql));
            message
        }
        None => panic!("{}: succeeded, expected {code}", preview(sql)),
    }
}

fn chain(op: &str, terms: usize) -> String {
    format!("SELECT {}", vec!["1"; terms].join(op))
}

/// `levels` nested CASEs whose innermost WHEN is misspelled.
fn nested_case(levels: usize) -> String {
    let mut expr = "CASE WHN x = 1 THEN 1 END".to_string();
    for _ in 1..levels {
        expr = format!("CASE WHEN x = 1 THEN {expr} ELSE 0 END");
    }
    format!("SELECT {expr} FROM (SELECT 1 AS x) t")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_long_and_pathological_statements() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = server.client().await;
    let mut slowest = Duration::ZERO;

    // Deep enough to be accepted: the same answer as Postgres.
    let sum = query_rows(&client, &chain("+", 1_800)).await;
    assert_eq!(sum, vec![vec!["1800".to_string()]]);
    let unions =
        query_rows(&client, &format!("SELECT count(*) FROM ({}) u", vec!["SELECT 1"; 1_000].join(" UNION ALL "))).await;
    assert_eq!(unions, vec![vec!["1000".to_string()]]);
    slowest = slowest.max(probe(&server, "accepted deep statements").await);

    let too_deep = [
        chain(" + ", 20_000),
        chain(" OR ", 50_000).replace('1', "true"),
        chain(" || ", 50_000).replace('1', "'a'"),
        vec!["SELECT 1"; 100_000].join(" UNION ALL "),
        nested_case(25),
        nested_case(60),
        format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000)),
        format!("SELECT {}true", "NOT ".repeat(10_000)),
    ];
    for sql in &too_deep {
        let code = outcome(&client, sql).await.map(|(code, _)| code);
        assert!(matches!(code.as_deref(), Some("54001" | "42601")), "{}: {code:?}", preview(sql));
        slowest = slowest.max(probe(&server, &preview(sql)).await);
    }

    // Long but flat statements are fine.
    let in_list = format!(
        "SELECT count(*) FROM (SELECT 5 AS x) t WHERE x IN ({})",
        (0..20_000).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
    );
    assert_eq!(query_rows(&client, &in_list).await, vec![vec!["1".to_string()]]);
    let wide = format!("SELECT {}", (0..5_000).map(|i| format!("{i} AS c{i}")).collect::<Vec<_>>().join(", "));
    assert_eq!(query_rows(&client, &wide).await[0].len(), 5_000);
    let literal = format!("SELECT length('{}')", "x".repeat(8 << 20));
    assert_eq!(query_rows(&client, &literal).await, vec![vec![(8u64 << 20).to_string()]]);
    slowest = slowest.max(probe(&server, "long flat statements").await);

    // The hostile connection is still usable.
    assert_eq!(query_rows(&client, "SELECT 2").await, vec![vec!["2".to_string()]]);
    eprintln!("slowest probe: {slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_and_queries_beyond_memory_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = server.client().await;

    for sql in [
        "SELECT lpad('x', 2147483647)",
        "SELECT length(rpad('x', 2000000000, 'yz'))",
        "SELECT length(repeat('abc', 1000000000))",
        "SELECT generate_series(1, 10000000000)",
        "SELECT cardinality(range(1, 10000000000))",
    ] {
        let message = refused(&client, sql, "54000").await;
        assert!(!message.is_empty());
        probe(&server, sql).await;
    }
    // A value under the cap works.
    assert_eq!(query_rows(&client, "SELECT length(lpad('x', 1000000))").await, vec![vec!["1000000".to_string()]]);

    // Operators that hold rows count against the query memory (256 MiB here).
    let grouped = "SELECT count(*) FROM (SELECT x, count(*) FROM generate_series(1, 30000000) AS t(x) GROUP BY x) g";
    let code = outcome(&client, grouped).await.map(|(code, _)| code);
    assert!(code.is_none() || code.as_deref() == Some("53200"), "{grouped}: {code:?}");
    probe(&server, grouped).await;
    let sorted = "SELECT x FROM generate_series(1, 20000000) AS t(x) ORDER BY x DESC OFFSET 19999999";
    let code = outcome(&client, sorted).await.map(|(code, _)| code);
    assert!(code.is_none() || code.as_deref() == Some("53200"), "{sorted}: {code:?}");
    probe(&server, sorted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_cancels_stop_long_statements() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = server.client().await;
    let forever = "SELECT count(*) FROM generate_series(1, 100000000000)";

    client.batch_execute("SET statement_timeout = '300ms'").await.unwrap();
    let started = Instant::now();
    let message = refused(&client, forever, "57014").await;
    assert_eq!(message, "canceling statement due to statement timeout");
    assert!(started.elapsed() < Duration::from_secs(60), "the timeout did not stop the statement");
    // The same with the extended protocol.
    let err = client.query(forever, &[]).await.expect_err("timed out");
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED));
    client.batch_execute("RESET statement_timeout").await.unwrap();
    assert_eq!(query_rows(&client, "SHOW statement_timeout").await, vec![vec!["0".to_string()]]);

    // A cancel request interrupts it.
    let cancel = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cancel.cancel_query(tokio_postgres::NoTls).await
    });
    let message = refused(&client, forever, "57014").await;
    assert_eq!(message, "canceling statement due to user request");
    canceller.await.unwrap().unwrap();
    probe(&server, "cancelled statements").await;

    // While one client runs a long statement, others are served.
    let busy = server.client().await;
    let running = tokio::spawn(async move { busy.simple_query(forever).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..20 {
        probe(&server, "a running long statement").await;
    }
    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_that_cannot_run_are_refused_at_create() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = server.client().await;
    client
        .batch_execute(
            "CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, date_time TIMESTAMP,
               WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
               WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json')",
        )
        .await
        .unwrap();

    for (function, call) in [
        ("now", "now()"),
        ("now", "current_timestamp"),
        ("current_date", "current_date"),
        ("random", "random()"),
        ("uuid", "uuid()"),
    ] {
        let sql = format!("CREATE MATERIALIZED VIEW v AS SELECT auction, {call} AS t FROM bids");
        let message = refused(&client, &sql, "42P17").await;
        assert_eq!(message, format!("function {function}() cannot be used in a materialized view"));
    }
    let bomb = "CREATE MATERIALIZED VIEW hop_bomb AS SELECT auction, window_start, window_end, count(*)
                FROM HOP(bids, date_time, INTERVAL '1' MILLISECOND, INTERVAL '1' DAY) GROUP BY 1, 2, 3";
    let message = refused(&client, bomb, "54000").await;
    assert!(message.contains("86400000 windows"), "{message}");
    // DISTINCT ON once answered XX000 (an unwrap in DataFusion's rewrite); it is one row
    // per key, the first to arrive.
    let distinct_on = "CREATE MATERIALIZED VIEW d AS SELECT DISTINCT ON (auction) auction, price FROM bids";
    assert_eq!(outcome(&client, distinct_on).await, None);

    // Functions DataFusion rewrites before it runs them work in views.
    client
        .batch_execute(
            "CREATE MATERIALIZED VIEW filled AS
               SELECT auction, coalesce(channel, 'none') AS c, nvl(channel, 'x') AS n, ifnull(price, 0) AS p FROM bids;
             FLUSH",
        )
        .await
        .unwrap();
    let rows = query_rows(&client, "SELECT count(*) FROM filled").await;
    assert_ne!(rows, vec![vec!["0".to_string()]]);
    let per_key = query_rows(&client, "SELECT count(*) = count(DISTINCT auction), count(*) > 0 FROM d").await;
    assert_eq!(per_key, vec![vec!["t".to_string(), "t".to_string()]]);
    // Nothing above left FLUSH broken.
    client.batch_execute("FLUSH").await.unwrap();
    assert!(query_rows(&client, "SHOW MATERIALIZED VIEWS").await.iter().all(|r| !r.join(" ").contains("failed")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_whose_state_outgrows_the_budget_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--checkpoint-interval-ms", "100", "--state-memory", "16"]);
    let client = server.client().await;
    // A million distinct 64-letter keys: about 100 MiB of groups, far over the 16 MiB.
    client
        .batch_execute(
            "CREATE STREAM many (k TEXT, v BIGINT) WITH (connector = 'datagen', rows_per_second = '0',
               number_of_rows = '1000000', fields.k.length = '64');
             CREATE STREAM few (g BIGINT) WITH (connector = 'datagen', rows_per_second = '200',
               fields.g.min = '1', fields.g.max = '10');
             CREATE MATERIALIZED VIEW small AS SELECT g, count(*) AS n FROM few GROUP BY g;
             CREATE MATERIALIZED VIEW huge AS SELECT k, count(*) AS n FROM many GROUP BY k",
        )
        .await
        .unwrap();
    let status = "SELECT status FROM sluice_catalog.views WHERE name = 'huge'";
    let failed = common::wait_for(&client, status, 0, |s| s.starts_with("failed"), "SHOW MATERIALIZED VIEWS").await;
    assert!(failed.starts_with("failed: out of memory for pipeline state (\"huge\" holds "), "{failed}");
    assert!(failed.contains("may hold 16.0 MiB (--state-memory)"), "{failed}");
    probe(&server, "a view outgrew the state budget").await;

    // The other view runs on and reports its state; the failed one's memory was returned.
    let small = "SELECT status, state_bytes FROM sluice_catalog.views WHERE name = 'small'";
    let bytes = common::wait_for(&client, small, 1, |b| b.parse::<u64>().is_ok_and(|b| b > 0), small).await;
    assert!(bytes.parse::<u64>().unwrap() < 1 << 20, "ten groups: {bytes} bytes");
    assert_eq!(query_rows(&client, small).await[0][0], "running");
    let huge = query_rows(&client, "SELECT state_bytes FROM sluice_catalog.views WHERE name = 'huge'").await;
    assert_eq!(huge, vec![vec!["0".to_string()]]);
    client.batch_execute("FLUSH").await.unwrap();
    // Dropping the failed view works, and a view within the budget runs.
    client
        .batch_execute(
            "DROP MATERIALIZED VIEW huge;
             CREATE MATERIALIZED VIEW fits AS SELECT length(k) AS len, count(*) AS n FROM many GROUP BY 1;
             FLUSH",
        )
        .await
        .unwrap();
    assert_eq!(
        query_rows(&client, "SELECT len, n FROM fits").await,
        vec![vec!["64".to_string(), "1000000".to_string()]]
    );
    let shown = query_rows(&client, "SHOW MATERIALIZED VIEWS").await;
    assert!(shown.iter().all(|r| !r.join(" ").contains("failed")), "{shown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(server.client().await);
    }
    let err = tokio_postgres::connect(&server.conn_string(), tokio_postgres::NoTls).await.err().expect("refused");
    assert_eq!(err.code(), Some(&SqlState::TOO_MANY_CONNECTIONS), "{err}");
    held.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = server.client().await;
    assert_eq!(query_rows(&client, "SELECT 1").await, vec![vec!["1".to_string()]]);
    // The held connections still work.
    assert_eq!(query_rows(&held[0], "SELECT 3").await, vec![vec!["3".to_string()]]);
}

/// Reads backend messages until one of type `until`; returns (type, body) of each.
async fn read_until(tcp: &mut tokio::net::TcpStream, until: u8) -> Vec<(u8, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut messages = Vec::new();
    loop {
        let kind = tcp.read_u8().await.expect("a message");
        let length = tcp.read_u32().await.expect("its length") as usize;
        let mut body = vec![0; length - 4];
        tcp.read_exact(&mut body).await.expect("its body");
        messages.push((kind, body));
        if kind == until {
            return messages;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_protocol_messages_get_fatal_08p01() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut startup = 196608u32.to_be_bytes().to_vec();
    startup.extend_from_slice(b"user\0sluice\0database\0sluice\0\0");
    let mut frame = (startup.len() as u32 + 4).to_be_bytes().to_vec();
    frame.extend_from_slice(&startup);
    // The fuzzer's find: a Parse announcing one parameter type and holding none. It made
    // pgwire read past the message and panic.
    let parse = b"s1\0SELECT $1\0\x00\x01";
    let mut bad = vec![b'P'];
    bad.extend_from_slice(&(parse.len() as u32 + 4).to_be_bytes());
    bad.extend_from_slice(parse);
    bad.extend_from_slice(b"S\0\0\0\x04");
    for together in [false, true] {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
        if together {
            // Startup and the bad message in one write: checked also when read together.
            tcp.write_all(&[frame.clone(), bad.clone()].concat()).await.unwrap();
            read_until(&mut tcp, b'Z').await;
        } else {
            tcp.write_all(&frame).await.unwrap();
            read_until(&mut tcp, b'Z').await;
            tcp.write_all(&bad).await.unwrap();
        }
        let (kind, body) = read_until(&mut tcp, b'E').await.pop().unwrap();
        assert_eq!(kind, b'E');
        let fields = String::from_utf8_lossy(&body).to_string();
        assert!(fields.contains("SFATAL\0") && fields.contains("C08P01\0"), "{fields:?}");
        assert!(fields.contains("Minvalid message format\0"), "{fields:?}");
        assert!(fields.contains("Dinsufficient data left in message\0"), "{fields:?}");
        let mut rest = Vec::new();
        use tokio::io::AsyncReadExt;
        assert_eq!(tcp.read_to_end(&mut rest).await.unwrap(), 0, "the connection is closed");
    }
    probe(&server, "a malformed Parse").await;

    // The fuzzer's second find: a `$n` far beyond what Bind can carry sized an allocation
    // of n types when the statement was described, and aborted the process.
    let client = server.client().await;
    for sql in ["SELECT 2 + $9999999999999999", "SELECT $65536::int"] {
        let err = client.prepare(sql).await.expect_err(sql);
        assert_eq!(err.code(), Some(&SqlState::UNDEFINED_PARAMETER), "{sql}: {err}");
    }
    assert!(client.prepare("SELECT $0").await.is_err());
    probe(&server, "huge parameter numbers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_execute_row_limit_is_served_without_harm() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut client = server.client().await;
    let tx = client.transaction().await.unwrap();
    // The fuzzer's fourth find: pgwire reserved room for max_rows rows up front, so an
    // Execute asking for two billion aborted the process. Zero or less means all rows.
    let five = tx.prepare("SELECT x FROM generate_series(1, 5) AS t(x)").await.unwrap();
    for max_rows in [i32::MAX, 1 << 30, 0, -1, i32::MIN] {
        let portal = tx.bind(&five, &[]).await.unwrap();
        let rows = tx.query_portal(&portal, max_rows).await.unwrap();
        assert_eq!(rows.len(), 5, "max_rows {max_rows}");
    }
    let portal = tx.bind(&five, &[]).await.unwrap();
    assert_eq!(tx.query_portal(&portal, 3).await.unwrap().len(), 3);
    assert_eq!(tx.query_portal(&portal, 3).await.unwrap().len(), 2, "the rest after the suspension");
    // Beyond 1,048,576 rows per Execute, the rows come in pieces; none is lost.
    let many = tx.prepare("SELECT x FROM generate_series(1, 1100000) AS t(x)").await.unwrap();
    let portal = tx.bind(&many, &[]).await.unwrap();
    let first = tx.query_portal(&portal, 2_000_000).await.unwrap();
    let rest = tx.query_portal(&portal, 2_000_000).await.unwrap();
    assert_eq!((first.len(), rest.len()), (1 << 20, 1_100_000 - (1 << 20)));
    let last: i64 = rest.last().unwrap().get(0);
    assert_eq!(last, 1_100_000);
    tx.commit().await.unwrap();
    probe(&server, "huge and negative Execute row limits").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_connection_slots_are_kept_for_superusers() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.conf");
    let text =
        format!("{} superuser\n{}\n", common::users_line("root", "root-pw"), common::users_line("bob", "bob-pw"));
    std::fs::write(&users, text).unwrap();
    let args = ["--auth", users.to_str().unwrap(), "--max-connections", "4", "--superuser-reserved-connections", "2"];
    let server = Server::start_with(&dir.path().join("db"), &args);
    let connect = |user: &'static str| {
        let conn = format!("host=127.0.0.1 port={} user={user} password={user}-pw dbname=sluice", server.port);
        async move {
            let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            Ok::<_, tokio_postgres::Error>(client)
        }
    };
    let mut held = vec![connect("bob").await.unwrap(), connect("bob").await.unwrap()];
    let err = connect("bob").await.expect_err("bob refused: only reserved slots are left");
    assert_eq!(err.code(), Some(&SqlState::TOO_MANY_CONNECTIONS), "{err}");
    let message = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
    assert_eq!(message, "remaining connection slots are reserved for roles with the SUPERUSER attribute");
    held.push(connect("root").await.expect("a superuser takes a reserved slot"));
    held.push(connect("root").await.expect("and the last one"));
    let err = connect("root").await.expect_err("no slot left at all");
    let message = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
    assert_eq!(message, "sorry, too many clients already");
    assert_eq!(query_rows(&held[3], "SELECT 1").await, vec![vec!["1".to_string()]]);
    // The reserve must be smaller than the limit: a start-up error, not a server nobody
    // but a superuser can use.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--listen", "127.0.0.1:0", "--max-connections", "3", "--superuser-reserved-connections", "3"])
        .arg("--data-dir")
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--superuser-reserved-connections (3) must be less than --max-connections (3)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_busy_server_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let busy = server.client().await;
    let running = tokio::spawn(async move {
        busy.simple_query("SELECT count(*) FROM generate_series(1, 100000000000)").await.map(|_| ())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    server.terminate();
    assert!(started.elapsed() < Duration::from_secs(60), "SIGTERM took {:?}", started.elapsed());
    let ended = running.await.unwrap();
    let err = ended.expect_err("the running statement ends with the server");
    if let Some(db) = err.as_db_error() {
        assert_eq!(db.code(), &SqlState::ADMIN_SHUTDOWN);
    }
}

/// Runs `sluice serve` expecting it to fail at start; returns its standard error.
fn failed_start(data_dir: &std::path::Path, extra: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "error")
        .output()
        .expect("run sluice");
    assert!(!output.status.success(), "sluice started");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(stderr.trim().lines().count(), 1, "not one line: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour codes: {stderr:?}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_failures_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let message = failed_start(dir.path(), &["--listen", "127.0.0.1:0"]);
    assert!(message.contains("is in use by another sluice process"), "{message}");
    let other = tempfile::tempdir().unwrap();
    let message = failed_start(other.path(), &["--listen", &format!("127.0.0.1:{}", server.port)]);
    assert!(message.contains("cannot listen on"), "{message}");
    // A directory that cannot be created or written (sysfs refuses new files even to root).
    let message = failed_start(std::path::Path::new("/sys/kernel/sluice-data"), &["--listen", "127.0.0.1:0"]);
    assert!(message.contains("data directory"), "{message}");
    drop(server);
    // A store written by a newer sluice (its format version, `m format`, beyond this one's)
    // is refused, untouched.
    let store = sluice::Store::open(dir.path()).unwrap();
    store.commit(vec![(b"mformat".to_vec(), Some(u32::MAX.to_be_bytes().to_vec()))]).unwrap();
    drop(store);
    let message = failed_start(dir.path(), &["--listen", "127.0.0.1:0"]);
    assert!(
        message.contains(&format!("store of format version {}, newer than this sluice reads", u32::MAX)),
        "{message}"
    );
    let store = sluice::Store::open(dir.path());
    assert!(store.is_err(), "the newer store was changed into one this sluice opens");
}
