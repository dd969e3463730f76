//! The Nexmark queries of `sql/nexmark/` as materialized views over the `nexmark`
//! generator, through the real binary, each compared (as a sorted multiset of rows) with
//! the same query run in batch by DataFusion over the rows the library generator gives for
//! the same options. In the batch text, `TUMBLE` and `HOP` become derived tables whose
//! windows are computed arithmetically from the epoch milliseconds, independently of the
//! engine's window operators.
//! Each query has a test named after it (q4 is an aggregation over an updating
//! aggregation: the re-aggregation with retractions).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMillisecondType,
};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use sluice::nexmark;

const EVENTS: &str = "200000";
const SEED: &str = "7";

const PERSON: &str = "id BIGINT, name TEXT, emailAddress TEXT, creditCard TEXT, city TEXT, state TEXT, \
    dateTime TIMESTAMP, extra TEXT";
const AUCTION: &str = "id BIGINT, itemName TEXT, description TEXT, initialBid BIGINT, reserve BIGINT, \
    dateTime TIMESTAMP, expires TIMESTAMP, seller BIGINT, category BIGINT, extra TEXT";
const BID: &str = "auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT, url TEXT, dateTime TIMESTAMP, extra TEXT";
const WATERMARK: &str = "WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND";

/// The options of a stream; `more` adds options (e.g. `, rate = '50000'`).
fn with(table: &str, more: &str) -> String {
    format!("WITH (connector = 'nexmark', table = '{table}', events = '{EVENTS}', seed = '{SEED}'{more})")
}

/// The streams (and, for q3 as a stream-table join, a `person_table`).
fn ddl(more: &str) -> Vec<String> {
    vec![
        format!("CREATE STREAM person ({PERSON}, {WATERMARK}) {}", with("person", more)),
        format!("CREATE STREAM auction ({AUCTION}, {WATERMARK}) {}", with("auction", more)),
        format!("CREATE STREAM bid ({BID}, {WATERMARK}) {}", with("bid", more)),
        format!("CREATE TABLE person_table ({PERSON}, PRIMARY KEY (id)) {}", with("person", "")),
    ]
}

/// The Arrow schema a declaration gives (names folded to lowercase).
fn schema(columns: &str) -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    let fields = columns.split(", ").map(|c| {
        let (name, ty) = c.trim().split_once(' ').expect("name and type");
        let ty = match ty {
            "BIGINT" => DataType::Int64,
            "TEXT" => DataType::Utf8,
            _ => ts.clone(),
        };
        Field::new(name.to_lowercase(), ty, true)
    });
    Arc::new(Schema::new(fields.collect::<Vec<_>>()))
}

/// A DataFusion context with the generated tables, reading decimal literals as numerics
/// as Sluice (and Postgres) does: `0.908 * price` is exact.
fn batch_context() -> SessionContext {
    let config =
        datafusion::prelude::SessionConfig::new().set_bool("datafusion.sql_parser.parse_float_as_decimal", true);
    let ctx = SessionContext::new_with_config(config);
    for (name, columns) in [("person", PERSON), ("auction", AUCTION), ("bid", BID)] {
        let options: BTreeMap<String, String> =
            [("connector", "nexmark"), ("table", name), ("events", EVENTS), ("seed", SEED)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let schema = schema(columns);
        let batches = nexmark::generate(&options, schema.clone(), 8192).expect("generate");
        let table = MemTable::try_new(schema, vec![batches]).expect("mem table");
        ctx.register_table(name, Arc::new(table)).expect("register");
    }
    ctx
}

/// The text of `sql/nexmark/<name>.sql` without comment lines.
fn query_text(name: &str) -> String {
    let path = common::repo_root().join(format!("sql/nexmark/{name}.sql"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n")
}

/// `TUMBLE(table, dateTime, size)` in batch: each row in the window that holds it.
fn tumble(table: &str, size_ms: i64) -> String {
    let start =
        "(CAST(datetime AS BIGINT) - CAST(datetime AS BIGINT) % {size})".replace("{size}", &size_ms.to_string());
    format!(
        "(SELECT *, to_timestamp_millis({start}) AS window_start, to_timestamp_millis({start} + {size_ms}) AS window_end \
         FROM {table}) AS tumbled"
    )
}

/// `HOP(table, dateTime, slide, size)` in batch: each row in the `size / slide` windows
/// that hold it.
fn hop(table: &str, slide_ms: i64, size_ms: i64) -> String {
    let offsets: Vec<String> = (0..size_ms / slide_ms).map(|k| format!("({})", k * slide_ms)).collect();
    let start = format!("(CAST(datetime AS BIGINT) - CAST(datetime AS BIGINT) % {slide_ms} - o.k)");
    format!(
        "(SELECT {table}.*, to_timestamp_millis({start}) AS window_start, \
         to_timestamp_millis({start} + {size_ms}) AS window_end \
         FROM {table} CROSS JOIN (VALUES {}) AS o(k)) AS hopped",
        offsets.join(", ")
    )
}

/// The batch text of a query: its file with the window table functions replaced.
fn batch_text(name: &str) -> String {
    let mut text = query_text(name);
    let windows = [
        ("TUMBLE(bid, dateTime, INTERVAL '10' SECOND)", tumble("bid", 10_000)),
        ("TUMBLE(person, dateTime, INTERVAL '10' SECOND)", tumble("person", 10_000)),
        ("TUMBLE(auction, dateTime, INTERVAL '10' SECOND)", tumble("auction", 10_000)),
        ("HOP(bid, dateTime, INTERVAL '2' SECOND, INTERVAL '10' SECOND)", hop("bid", 2_000, 10_000)),
    ];
    for (call, table) in windows {
        text = text.replace(call, &table);
    }
    assert!(!text.contains("TUMBLE(") && !text.contains("HOP("), "a window call was not replaced in {name}");
    text
}

/// Rows in a form both sides agree on: timestamps as epoch milliseconds, floats through
/// `f64`, NULL as `NULL`.
type Rows = Vec<Vec<String>>;

fn batch_rows(batches: &[RecordBatch]) -> (Rows, Vec<DataType>) {
    let mut rows = Vec::new();
    let types = batches.first().map(|b| b.schema().fields().iter().map(|f| f.data_type().clone()).collect());
    for batch in batches {
        for i in 0..batch.num_rows() {
            rows.push(batch.columns().iter().map(|c| cell(c, i)).collect());
        }
    }
    (rows, types.unwrap_or_default())
}

fn cell(column: &ArrayRef, i: usize) -> String {
    if column.is_null(i) {
        return "NULL".into();
    }
    match column.data_type() {
        DataType::Int64 => column.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Float64 => column.as_primitive::<Float64Type>().value(i).to_string(),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            column.as_primitive::<TimestampMillisecondType>().value(i).to_string()
        }
        DataType::Utf8 => column.as_string::<i32>().value(i).to_string(),
        DataType::Utf8View => column.as_string_view().value(i).to_string(),
        other => arrow::util::display::array_value_to_string(column, i).unwrap_or_else(|e| panic!("{other}: {e}")),
    }
}

/// A view's text row in the same form, given the batch result's column types.
fn canonical(row: Vec<String>, types: &[DataType]) -> Vec<String> {
    row.into_iter()
        .zip(types)
        .map(|(text, ty)| match ty {
            _ if text == "NULL" => text,
            DataType::Float64 => text.parse::<f64>().unwrap_or_else(|e| panic!("{text}: {e}")).to_string(),
            DataType::Timestamp(..) => chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f")
                .unwrap_or_else(|e| panic!("{text}: {e}"))
                .and_utc()
                .timestamp_millis()
                .to_string(),
            _ => text,
        })
        .collect()
}

/// Creates the streams and each query as a view.
async fn create_views(client: &tokio_postgres::Client, names: &[&str], more: &str) {
    for statement in ddl(more) {
        client.simple_query(&statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    for name in names {
        let view = view_text(name);
        let create = format!("CREATE MATERIALIZED VIEW {name} AS {view}");
        client.simple_query(&create).await.unwrap_or_else(|e| panic!("{name}: {}", error_text(&e)));
    }
}

/// Compares view `name` with its batch result; returns its row count.
async fn compare(client: &tokio_postgres::Client, ctx: &SessionContext, name: &str) -> usize {
    let batches = ctx.sql(&batch_text(&base_name(name))).await.expect("batch plan").collect().await.expect("run");
    let (mut expected, types) = batch_rows(&batches);
    let got = common::query_rows(client, &format!("SELECT * FROM {name}")).await;
    let mut got: Rows = got.into_iter().map(|r| canonical(r, &types)).collect();
    expected.sort();
    got.sort();
    assert_eq!(got.len(), expected.len(), "{name}: row count differs from batch");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
        panic!("{name}: first difference at sorted row {i}: view {:?}, batch {:?}", got[i], expected[i]);
    }
    got.len()
}

async fn assert_nothing_late(client: &tokio_postgres::Client) {
    let late = common::query_rows(client, "SELECT sum(late_rows), sum(bad_rows) FROM sluice_catalog.views").await;
    assert_eq!(late, vec![vec!["0".to_string(), "0".to_string()]], "no row may be late or bad");
}

/// Creates each query as a view, waits, and compares it with the batch result; returns
/// the row counts.
async fn check_queries(names: &[&str]) -> Vec<(String, usize)> {
    let ctx = batch_context();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = common::Server::start(dir.path());
    let client = server.client().await;
    create_views(&client, names, "").await;
    client.simple_query("FLUSH").await.expect("flush");
    let mut counts = Vec::new();
    for name in names {
        counts.push((name.to_string(), compare(&client, &ctx, name).await));
    }
    assert_nothing_late(&client).await;
    counts
}

/// `q3_lookup` is q3 with the person stream replaced by the `person_table` table.
fn view_text(name: &str) -> String {
    match name {
        "q3_lookup" => query_text("q3").replace("person AS P", "person_table AS P"),
        other => query_text(other),
    }
}

fn base_name(name: &str) -> String {
    name.trim_end_matches("_lookup").to_string()
}

fn error_text(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map(|d| d.message().to_string()).unwrap_or_else(|| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexmark_queries_match_batch() {
    let names = ["q0", "q1", "q2", "q3_lookup", "q5_auction_bids", "q7_max_price", "q19"];
    let counts = check_queries(&names).await;
    println!("{counts:?}");
    let rows: BTreeMap<String, usize> = counts.into_iter().collect();
    assert_eq!(rows["q0"], 184_000, "every bid of 200,000 events");
    assert_eq!(rows["q1"], 184_000);
    assert!(rows["q2"] > 0 && rows["q3_lookup"] > 0 && rows["q5_auction_bids"] > 10_000);
    assert_eq!(rows["q7_max_price"], 2, "20 seconds of event time");
    assert!(rows["q19"] > 1_000, "up to 10 bids of every auction with bids");
}

/// Paced streams, the server killed midway and restarted: the generators resume from the
/// checkpointed event numbers and every view ends equal to the batch result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_resumes_the_generators_exactly() {
    let names = ["q0", "q5_auction_bids", "q7_max_price"];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = common::Server::start(dir.path());
    let client = server.client().await;
    create_views(&client, &names, ", rate = '50000'").await;
    let progress = "SELECT min(position) FROM sluice_catalog.sources WHERE view LIKE 'q%'";
    let midway = |p: &str| p.parse::<u64>().is_ok_and(|p| p >= 30_000);
    common::wait_for(&client, progress, 0, midway, "SELECT * FROM sluice_catalog.sources").await;
    server.kill9();
    let server = common::Server::start(dir.path());
    let client = server.client().await;
    let finished = "SELECT count(*) FROM sluice_catalog.sources WHERE view LIKE 'q%' AND state = 'finished'";
    common::wait_for(&client, finished, 0, |n| n == "3", "SELECT * FROM sluice_catalog.sources").await;
    client.simple_query("FLUSH").await.expect("flush");
    let ctx = batch_context();
    for name in names {
        compare(&client, &ctx, name).await;
    }
    assert_nothing_late(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexmark_q3_stream_join() {
    let counts = check_queries(&["q3"]).await;
    println!("{counts:?}");
    assert!(counts[0].1 > 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexmark_q4() {
    let counts = check_queries(&["q4"]).await;
    println!("{counts:?}");
    assert!(counts[0].1 > 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexmark_q5() {
    let counts = check_queries(&["q5"]).await;
    println!("{counts:?}");
    assert!(counts[0].1 > 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexmark_q7() {
    let counts = check_queries(&["q7"]).await;
    println!("{counts:?}");
    assert!(counts[0].1 > 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nexmark_q8() {
    let counts = check_queries(&["q8"]).await;
    println!("{counts:?}");
    assert!(counts[0].1 > 0, "{counts:?}");
}

/// Every query file, with the windows computed arithmetically, runs in batch: the texts of
/// the queries the engine cannot run yet are valid SQL and their tests compare something.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_runs_in_batch() {
    let ctx = batch_context();
    let mut names: Vec<String> = std::fs::read_dir(common::repo_root().join("sql/nexmark"))
        .expect("sql/nexmark")
        .filter_map(|e| e.expect("entry").file_name().to_str()?.strip_suffix(".sql").map(String::from))
        .collect();
    names.sort();
    assert_eq!(names.len(), 11, "{names:?}");
    for name in names {
        let batches = ctx.sql(&batch_text(&name)).await.unwrap_or_else(|e| panic!("{name}: {e}")).collect().await;
        let rows: usize = batches.unwrap_or_else(|e| panic!("{name}: {e}")).iter().map(|b| b.num_rows()).sum();
        println!("{name}: {rows} rows in batch");
        assert!(rows > 0, "{name} gives no rows");
    }
}
