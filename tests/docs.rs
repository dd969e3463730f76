//! The SQL the documentation shows must run, so that the docs cannot drift from the code:
//! `sql/quickstart.sql` as a `sluice run` script and live through psql (with the values
//! it must show worked out here from the sample files), `sql/kafka.sql` through psql
//! against a real Kafka broker filled as `docker-compose.yml` fills it, and every
//! ```` ```sql ```` example of `README.md`, `docs/sql.md` and `sql/nexmark/README.md`.
//!
//! An example runs in a server of its own that first gets the streams, tables and views it
//! names without creating them (the [`FIXTURES`]). Paths and broker addresses are pointed
//! at test data and the test's broker. Syntax templates run twice: without their optional
//! `[...]` parts, and with each part (the first alternative of `a | b`). Every statement
//! must succeed; a push query (SUBSCRIBE, `EMIT CHANGES`) must start streaming without an
//! error.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Server;
use common::kafka::Broker;
use futures::{StreamExt, TryStreamExt, pin_mut};

/// A stream, table or view that examples use without creating it.
struct Fixture {
    name: &'static str,
    /// Other fixtures it reads.
    reads: &'static [&'static str],
    ddl: &'static str,
}

/// What the examples assume exists. Paths are relative to the repository root, where test
/// servers run.
const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "bids",
        reads: &[],
        ddl: "CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, date_time TIMESTAMP,
                WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
              WITH (connector = 'file', path = 'sql/data/bids', format = 'json')",
    },
    Fixture {
        name: "clicks",
        reads: &[],
        ddl: "CREATE STREAM clicks (user_id TEXT, page TEXT, amount BIGINT, ts TIMESTAMP,
                WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
              WITH (connector = 'file', path = 'tests/data/clicks.json', format = 'json')",
    },
    Fixture {
        name: "impressions",
        reads: &[],
        ddl: "CREATE STREAM impressions (imp_id TEXT, ad TEXT, ts TIMESTAMP, WATERMARK FOR ts AS ts)
              WITH (connector = 'file', path = 'tests/data/impressions.json', format = 'json')",
    },
    Fixture {
        name: "ad_clicks",
        reads: &[],
        ddl: "CREATE STREAM ad_clicks (click_id TEXT, imp_id TEXT, ad TEXT, ts TIMESTAMP, WATERMARK FOR ts AS ts)
              WITH (connector = 'file', path = 'tests/data/ad_clicks.json', format = 'json')",
    },
    Fixture {
        name: "users",
        reads: &[],
        ddl: "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT, city TEXT)
              WITH (connector = 'file', path = 'tests/data/users.json', format = 'json')",
    },
    Fixture {
        name: "bid",
        reads: &[],
        ddl: "CREATE STREAM bid (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, url TEXT,
                dateTime TIMESTAMP, extra TEXT, WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)
              WITH (connector = 'nexmark', table = 'bid', events = '10000', seed = '42')",
    },
    Fixture {
        name: "auction",
        reads: &[],
        ddl: "CREATE STREAM auction (id BIGINT, itemName TEXT, description TEXT, initialBid BIGINT, reserve BIGINT,
                dateTime TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra TEXT,
                WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)
              WITH (connector = 'nexmark', table = 'auction', events = '10000', seed = '42')",
    },
    Fixture {
        name: "auction_stats",
        reads: &["bids"],
        ddl: "CREATE MATERIALIZED VIEW auction_stats AS
                SELECT auction, window_start, window_end, count(*) AS bids, max(price) AS top
                FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND) GROUP BY auction, window_start, window_end",
    },
    Fixture {
        name: "closed",
        reads: &["bids"],
        ddl: "CREATE MATERIALIZED VIEW closed AS
                SELECT window_end, count(DISTINCT bidder) AS bidders
                FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND) GROUP BY window_end EMIT ON WINDOW CLOSE",
    },
    Fixture {
        name: "stats",
        reads: &["bids"],
        ddl: "CREATE MATERIALIZED VIEW stats AS SELECT auction, count(*) AS bids FROM bids GROUP BY auction",
    },
    Fixture {
        name: "per_user",
        reads: &["clicks"],
        ddl: "CREATE MATERIALIZED VIEW per_user AS
                SELECT user_id, count(*) AS n, sum(amount) AS total FROM clicks GROUP BY user_id",
    },
];

/// Where the examples' paths and brokers point in the tests.
fn localize(sql: &str, broker: &Broker, out: &Path) -> String {
    sql.replace("'/data/bids'", "'sql/data/bids'")
        .replace("'users.json'", "'tests/data/users.json'")
        .replace("'/out/", &format!("'{}/", out.display()))
        .replace("localhost:9092", &broker.servers())
        .replace("kafka:9092", &broker.servers())
}

/// The ```` ```sql ```` blocks of a Markdown file: (line, text), indentation and psql's
/// `sluice=> ` prompts removed.
fn sql_blocks(path: &str) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(common::repo_root().join(path)).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match (&mut current, trimmed) {
            (None, "```sql") => current = Some((i + 1, String::new())),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some((_, block)), _) => {
                block.push_str(trimmed.strip_prefix("sluice=> ").unwrap_or(trimmed));
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "{path}: a ```sql block is not closed");
    blocks
}

/// The runnable forms of a syntax template: without its `[...]` parts, and with each of
/// them (its first alternative). A block without brackets is its own single form.
fn forms(template: &str) -> Vec<String> {
    if !template.contains('[') {
        return vec![template.to_string()];
    }
    let (mut bare, mut full) = (String::new(), String::new());
    let mut rest = template;
    while let Some(open) = rest.find('[') {
        let close = open + rest[open..].find(']').expect("an unclosed [ in a template");
        bare.push_str(&rest[..open]);
        full.push_str(&rest[..open]);
        full.push_str(rest[open + 1..close].split(" | ").next().unwrap_or_default());
        rest = &rest[close + 1..];
    }
    bare.push_str(rest);
    full.push_str(rest);
    vec![bare, full]
}

/// The statements of a script: `--` comments dropped, split at semicolons outside quotes.
fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '-') if chars.peek() == Some(&'-') => {
                while chars.next_if(|&c| c != '\n').is_some() {}
                continue;
            }
            (None, ';') => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Whether `word` occurs in `sql` as a whole identifier (case-insensitive).
fn mentions(sql: &str, word: &str) -> bool {
    let sql = sql.to_lowercase();
    sql.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|w| w == word)
}

/// Whether `sql` creates `name` itself.
fn creates(sql: &str, name: &str) -> bool {
    const KEYWORDS: &[&str] = &["stream", "table", "materialized", "view", "sink", "if", "not", "exists"];
    statements(sql).iter().any(|s| {
        let mut words = s.split_whitespace().map(|w| w.trim_end_matches('(').to_lowercase());
        words.next().as_deref() == Some("create")
            && words.find(|w| !KEYWORDS.contains(&w.as_str())).as_deref() == Some(name)
    })
}

/// The fixtures `example` needs, in creation order.
fn fixtures_for(example: &str) -> Vec<&'static Fixture> {
    let mut needed: Vec<&str> =
        FIXTURES.iter().filter(|f| mentions(example, f.name) && !creates(example, f.name)).map(|f| f.name).collect();
    let mut i = 0;
    while i < needed.len() {
        let fixture = FIXTURES.iter().find(|f| f.name == needed[i]).unwrap();
        let more: Vec<&str> =
            fixture.reads.iter().filter(|r| !needed.contains(r) && !creates(example, r)).copied().collect();
        needed.extend(more);
        i += 1;
    }
    FIXTURES.iter().filter(|f| needed.contains(&f.name)).collect()
}

/// Whether a statement is a push query, which streams until it is cancelled.
fn is_push(statement: &str) -> bool {
    let upper = statement.to_uppercase();
    upper.starts_with("SUBSCRIBE")
        || upper.starts_with("COPY (SUBSCRIBE")
        || (upper.contains("EMIT CHANGES") && !upper.starts_with("CREATE"))
}

/// Runs one statement of an example; panics with `at` and the server's error if it fails.
async fn run_statement(server: &Server, client: &tokio_postgres::Client, statement: &str, at: &str) {
    let fail = |e: tokio_postgres::Error| -> ! {
        let detail = e.as_db_error().map(|d| format!("{} ({})", d.message(), d.code().code())).unwrap_or(e.to_string());
        panic!("{at}: `{statement}` failed: {detail}")
    };
    if is_push(statement) {
        // A client of its own, dropped after a while: the push query must have started.
        let push = server.client().await;
        if statement.to_uppercase().starts_with("COPY") {
            let stream = push.copy_out(statement).await.unwrap_or_else(|e| fail(e));
            pin_mut!(stream);
            if let Ok(Some(Err(e))) = tokio::time::timeout(Duration::from_millis(1500), stream.next()).await {
                fail(e)
            }
        } else {
            let stream = push.simple_query_raw(statement).await.unwrap_or_else(|e| fail(e));
            pin_mut!(stream);
            let read = async {
                while let Some(message) = stream.try_next().await? {
                    let _ = message;
                }
                Ok::<(), tokio_postgres::Error>(())
            };
            if let Ok(Err(e)) = tokio::time::timeout(Duration::from_millis(1500), read).await {
                fail(e)
            }
        }
    } else if statement.to_uppercase().starts_with("COPY") {
        let stream = client.copy_out(statement).await.unwrap_or_else(|e| fail(e));
        let chunks: Vec<_> = stream.try_collect().await.unwrap_or_else(|e| fail(e));
        assert!(!chunks.is_empty(), "{at}: `{statement}` wrote nothing");
    } else {
        client.simple_query(statement).await.unwrap_or_else(|e| fail(e));
    }
}

/// Runs `example` (each of its forms) in a fresh server holding the fixtures it needs.
async fn run_example(at: &str, example: &str, broker: &Broker) {
    for (n, form) in forms(example).iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(&dir.path().join("data"));
        let client = server.client().await;
        let at = format!("{at} (form {})", n + 1);
        for fixture in fixtures_for(form) {
            let ddl = localize(fixture.ddl, broker, dir.path());
            client.simple_query(&ddl).await.unwrap_or_else(|e| panic!("{at}: fixture {}: {e:?}", fixture.name));
        }
        for statement in statements(&localize(form, broker, dir.path())) {
            run_statement(&server, &client, &statement, &at).await;
        }
    }
}

/// A sample bid: auction, channel, price, event time (ms since the epoch).
struct Bid {
    auction: i64,
    channel: String,
    price: i64,
    at: i64,
}

/// The sample bids of `sql/data/bids` that decode, in file order.
fn sample_bids() -> Vec<Bid> {
    let mut bids = Vec::new();
    let mut files: Vec<_> =
        std::fs::read_dir(common::repo_root().join("sql/data/bids")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            if !["auction", "bidder", "price"].iter().all(|k| record[k].is_i64()) {
                continue;
            }
            let at = match &record["date_time"] {
                serde_json::Value::String(text) => {
                    let at = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").unwrap();
                    at.and_utc().timestamp_millis()
                }
                other => other.as_i64().unwrap(),
            };
            let channel = record["channel"].as_str().unwrap_or("").to_string();
            bids.push(Bid {
                auction: record["auction"].as_i64().unwrap(),
                channel,
                price: record["price"].as_i64().unwrap(),
                at,
            });
        }
    }
    bids
}

/// The rows of the quickstart's first query (auction_stats with more than 3 bids, the 5
/// highest tops), as psql prints them: `avg` of bigints with Postgres's 16 decimals.
fn expected_auction_stats() -> Vec<String> {
    let mut groups: BTreeMap<(i64, i64), (i64, i64, i64)> = BTreeMap::new();
    for bid in sample_bids() {
        let entry = groups.entry((bid.auction, bid.at - bid.at.rem_euclid(10_000))).or_default();
        *entry = (entry.0 + 1, entry.1.max(bid.price), entry.2 + bid.price);
    }
    let mut rows: Vec<_> = groups.into_iter().filter(|(_, (n, _, _))| *n > 3).collect();
    rows.sort_by_key(|(_, (_, top, _))| -top);
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap().format("%Y-%m-%d %H:%M:%S").to_string();
    let mean = |sum: i64, n: i64| {
        let scaled = (i128::from(sum) * 10i128.pow(17) / i128::from(n) + 5) / 10; // 16 digits, half up
        format!("{}.{:016}", scaled / 10i128.pow(16), scaled % 10i128.pow(16))
    };
    let rows = rows.into_iter().take(5);
    rows.map(|((auction, start), (n, top, sum))| {
        format!(" {auction:>7} | {} | {} | {n:>4} | {top:>3} | {}", time(start), time(start + 10_000), mean(sum, n))
    })
    .collect()
}

/// The rows `by_channel` and `big_bids` of the quickstart must hold, as psql and
/// `sluice run` print them: per channel seen more than once, its count and volume; and
/// the number of bids over 400.
fn expected_quickstart() -> (Vec<String>, String) {
    let mut per_channel: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for bid in sample_bids() {
        let entry = per_channel.entry(bid.channel).or_default();
        entry.0 += 1;
        entry.1 += bid.price;
    }
    let rows = per_channel.iter().filter(|(_, (n, _))| *n > 1);
    let rows = rows.map(|(channel, (n, volume))| format!(" {channel:<7} | {n:>4} | {volume:>6}")).collect();
    let big = sample_bids().iter().filter(|bid| bid.price > 400).count();
    (rows, format!("-----\n {big:>3}\n(1 row)"))
}

/// The quickstart's output, in `sluice run` and in psql alike (lines compared without
/// trailing blanks, which psql adds and `sluice run` does not).
fn assert_quickstart_output(stdout: &str) {
    let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    for row in expected_auction_stats() {
        assert!(lines.contains(&row.as_str()), "quickstart output lacks auction_stats row {row:?}:\n{stdout}");
    }
    let (channels, big) = expected_quickstart();
    assert!(channels.len() >= 2, "the sample data has lost its channels");
    for row in channels {
        assert!(stdout.contains(&row), "quickstart output lacks by_channel row {row:?}:\n{stdout}");
    }
    assert!(stdout.contains(&big), "quickstart output lacks {big:?}:\n{stdout}");
    assert!(stdout.contains("bids-001.json |       31 |"), "quickstart output lacks the bad line:\n{stdout}");
}

#[test]
fn quickstart_runs_as_a_script() {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "sql/quickstart.sql"])
        .current_dir(common::repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    assert_quickstart_output(&stdout);
}

/// psql run from the repository root, with the server's port and no ~/.psqlrc.
fn psql(server: &Server) -> Command {
    let mut psql = Command::new("psql");
    psql.args(["-X", "-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", "sluice", "-d", "sluice"])
        .args(["-v", "ON_ERROR_STOP=1"])
        .env("PGCONNECT_TIMEOUT", "10")
        .current_dir(common::repo_root());
    psql
}

#[test]
fn quickstart_runs_live_in_psql() {
    let dir = tempfile::tempdir().unwrap();
    // The README's server: the default checkpoint interval.
    let server = Server::start_with(&dir.path().join("data"), &[]);
    let output = psql(&server).args(["-f", "sql/quickstart.sql"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    assert_quickstart_output(&stdout);
    assert!(!stdout.contains("(0 rows)"), "a quickstart query found nothing:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_script_runs_against_real_kafka() {
    let broker = Broker::start();
    broker.create_topic("bids", 3).await;
    broker.create_topic("rich_bids", 3).await;
    broker.create_compacted_topic("users", 3).await;
    fill_sample_topics(&broker);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("kafka.sql");
    let text = std::fs::read_to_string(common::repo_root().join("sql/kafka.sql")).unwrap();
    std::fs::write(&script, localize(&text, &broker, dir.path())).unwrap();
    let server = Server::start(&dir.path().join("data"));
    let output = psql(&server).arg("-f").arg(&script).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    // The users table: user 2 moved to kyiv, user 8 was deleted.
    assert!(stdout.contains("  2 | bob  | kyiv"), "{stdout}");
    assert!(!stdout.contains(" hal "), "user 8 was not deleted:\n{stdout}");
    assert!(stdout.contains("(7 rows)"), "{stdout}");
    let rich = common::kafka::consume_all(&broker.servers(), "rich_bids", true, 1);
    assert!(!rich.is_empty(), "nothing reached rich_bids");
}

/// Fills `bids` and `users` as the producer service of `docker-compose.yml` does.
fn fill_sample_topics(broker: &Broker) {
    let producer = broker.producer();
    let mut bids = Vec::new();
    for file in ["sql/data/bids/bids-001.json", "sql/data/bids/bids-002.json"] {
        bids.extend(std::fs::read_to_string(common::repo_root().join(file)).unwrap().lines().map(String::from));
    }
    let bids: Vec<_> = bids.iter().enumerate().map(|(i, line)| (i as i32 % 3, None, line.as_str())).collect();
    producer.send("bids", &bids);
    let users = std::fs::read_to_string(common::repo_root().join("sql/data/kafka/users.txt")).unwrap();
    let users: Vec<(i32, Option<&str>, Option<&str>)> = users
        .lines()
        .map(|line| {
            let (key, value) = line.split_once('|').unwrap();
            let partition = key.parse::<i32>().unwrap() % 3;
            (partition, Some(key), (value != "NULL").then_some(value))
        })
        .collect();
    producer.send_maybe("users", &users);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sql_example_in_the_docs_runs() {
    let broker = Broker::start();
    for topic in ["bids", "auction-stats", "rich-bids"] {
        broker.create_topic(topic, 3).await;
    }
    broker.create_compacted_topic("users", 3).await;
    fill_sample_topics(&broker);
    let mut count = 0;
    for doc in ["README.md", "docs/sql.md", "sql/nexmark/README.md"] {
        for (line, example) in sql_blocks(doc) {
            run_example(&format!("{doc}:{line}"), &example, &broker).await;
            count += 1;
        }
    }
    assert!(count >= 30, "only {count} examples found");
}

#[test]
fn templates_expand_to_both_forms() {
    let forms = forms("DROP STREAM [IF EXISTS] bids [CASCADE];\nSELECT 1 [EMIT CHANGES | EMIT ON WINDOW CLOSE];");
    assert_eq!(forms[0], "DROP STREAM  bids ;\nSELECT 1 ;");
    assert_eq!(forms[1], "DROP STREAM IF EXISTS bids CASCADE;\nSELECT 1 EMIT CHANGES;");
    assert_eq!(statements("SELECT 'a;b'; -- x; y\nBEGIN; COMMIT;"), ["SELECT 'a;b'", "BEGIN", "COMMIT"]);
    assert!(creates("CREATE TABLE IF NOT EXISTS users (id BIGINT)", "users"));
    assert!(!creates("SELECT * FROM users", "users"));
    assert!(!creates("CREATE SINK raw_bids FROM bids WITH (connector = 'file')", "bids"));
}
