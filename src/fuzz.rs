//! The input surfaces fuzzing drives: one function per surface, taking arbitrary bytes.
//!
//! Called by the `cargo fuzz` targets in `fuzz/` (one target per function) and by
//! `tests/fuzz_corpus.rs`, which replays the committed seed corpora through the same
//! functions on every test run. A function returns normally whatever the bytes are: an
//! input Sluice refuses is an error it answers, never a panic, an abort or a hang. A panic
//! is the finding (libFuzzer's panic hook turns it into a crash report; the replay test
//! counts panics). Each returns how much of the input was accepted (statements planned,
//! bytes answered, rows decoded, checks passed), so the replay test can tell that its
//! seeds reach past the first refusal.
//!
//! ```text
//!  sql      SQL text ──▶ sql::parse ──▶ Engine::describe (plan) / EXPLAIN of a view
//!  pgwire   bytes ──▶ a TCP connection to an in-process server (optionally after a
//!           valid startup message) ──▶ whatever the server answers, until it closes
//!  records  bytes ──▶ the JSON and CSV line decoders, for a fixed schema
//!  avro     bytes ──▶ the Confluent-framed Avro decoder, with a known writer schema
//!  options  `key=value` lines ──▶ WITH options of CREATE STREAM and CREATE SINK, checked
//! ```
//!
//! The engine and the server behind `sql` and `pgwire` are made once per process, over a
//! temporary store, with one file stream, one table and one view to plan against. `pgwire`
//! drops what a fuzzed session created, so the engine does not grow with the inputs.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::SessionContext;

use crate::connector::avro::AvroDecoder;
use crate::connector::file_access::FileRoots;
use crate::connector::format::{Format, LineDecoder};
use crate::connector::{self, Options};
use crate::engine::{Engine, EngineConfig, Output};
use crate::error::Result;
use crate::sql::{self, parser::Statement};
use crate::state::Store;

/// How long a fuzzed connection may stay open after its input ended.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The engine (and its runtime, and its directory) `sql` and `pgwire` use.
struct Harness {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    /// Where the server of `pgwire` listens, once started.
    server: OnceLock<SocketAddr>,
    /// The directory of the stream's file; file streams may use it and nothing else.
    dir: PathBuf,
}

/// SQL text, parsed and planned against a stream, a table and a view. Queries are planned
/// (as the extended protocol's Describe does), `CREATE MATERIALIZED VIEW` is explained
/// (planned into a dataflow, not started); SHOW, DESCRIBE and EXPLAIN run.
pub fn sql(data: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(data) else { return 0 };
    let Ok(statements) = sql::parse(text) else { return 0 };
    let harness = harness();
    let mut planned = 0;
    for stmt in statements {
        let stmt = match stmt {
            Statement::CreateView(v) => Statement::Explain(v),
            s @ (Statement::Query(_)
            | Statement::Explain(_)
            | Statement::Describe(_)
            | Statement::ShowStreams
            | Statement::ShowTables
            | Statement::ShowViews
            | Statement::ShowSinks
            | Statement::ShowSources
            | Statement::ShowCluster) => s,
            _ => continue,
        };
        planned += usize::from(harness.runtime.block_on(harness.engine.describe(&stmt)).is_ok());
    }
    planned
}

/// Bytes sent by a client to the server. When the first byte is even, a valid startup
/// message goes first, so the fuzzer reaches the protocol after startup quickly.
pub fn pgwire(data: &[u8]) -> usize {
    let harness = harness();
    let addr = harness.server();
    let Ok(mut tcp) = TcpStream::connect(addr) else { return 0 };
    let _ = tcp.set_read_timeout(Some(CONNECTION_TIMEOUT));
    let _ = tcp.set_nodelay(true);
    let startup = match data.first() {
        Some(b) if b % 2 == 0 => startup_message(),
        _ => Vec::new(),
    };
    let input = data.get(1..).unwrap_or_default();
    let mut answer = Vec::new();
    if tcp.write_all(&startup).and_then(|_| tcp.write_all(input)).is_ok() {
        let _ = tcp.shutdown(Shutdown::Write);
        let _ = tcp.read_to_end(&mut answer);
    }
    drop(tcp);
    if changes_catalog(input) {
        harness.runtime.block_on(harness.reset());
    }
    answer.len()
}

/// Lines of JSON and of CSV (with and without a header) decoded into a fixed schema; the
/// first byte picks the decoder.
pub fn records(data: &[u8]) -> usize {
    let Some((&pick, lines)) = data.split_first() else { return 0 };
    let format = match pick % 3 {
        0 => Format::Json,
        1 => Format::Csv { header: false, delimiter: b',' },
        _ => Format::Csv { header: true, delimiter: b'|' },
    };
    let rows = |decoded: Result<crate::connector::format::Decoded>| {
        decoded.ok().and_then(|d| d.batch).map_or(0, |b| b.num_rows())
    };
    let Ok(mut decoder) = LineDecoder::new(&format, record_schema()) else { return 0 };
    let mut decoded = rows(decoder.decode(lines, 1));
    // A projection decodes only some columns: its own code path.
    if let Ok(mut projected) = LineDecoder::projected(&format, record_schema(), &[4, 1]) {
        decoded += rows(projected.decode(lines, 1));
    }
    decoded
}

/// Kafka message values in the Confluent Avro format: each value is a 2-byte big-endian
/// length and that many bytes. Schema id 1 is known (a record of the fields of
/// [`record_schema`]); other ids are unknown to the (unreachable) registry.
pub fn avro(data: &[u8]) -> usize {
    let mut values = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let end = (2 + len).min(rest.len());
        values.push(&rest[2..end]);
        rest = &rest[end..];
    }
    let Ok(mut decoder) = AvroDecoder::with_writer_schema(record_schema(), 1, AVRO_WRITER_SCHEMA) else { return 0 };
    decoder.decode(&values).ok().and_then(|d| d.batch).map_or(0, |b| b.num_rows())
}

/// WITH options, one `key=value` per line, checked as a stream's and as a sink's, and
/// also through the parser and planner as the options of a `CREATE STREAM`.
pub fn options(data: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(data) else { return 0 };
    let options: Options = (text.lines())
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.to_string()))
        .collect();
    let schema = record_schema();
    let mut passed = [
        connector::validate(&options, &schema).is_ok(),
        connector::check_file_options(&options).is_ok(),
        connector::idle_timeout(&options).is_ok(),
        connector::sink::validate(&options, &schema, false).is_ok(),
        connector::sink::validate(&options, &schema, true).is_ok(),
    ]
    .into_iter()
    .filter(|ok| *ok)
    .count();
    let with: Vec<String> = options.iter().map(|(k, v)| format!("{} = {}", quote(k), quote(v))).collect();
    let create = format!("CREATE STREAM s (id BIGINT, name TEXT) WITH ({})", with.join(", "));
    if let Ok(statements) = sql::parse(&create) {
        let state = SessionContext::new().state();
        for stmt in statements {
            if let Statement::CreateStream(s) = stmt {
                let runtime = &harness().runtime;
                if let Ok(def) = runtime.block_on(sql::plan::plan_stream(&state, &s)) {
                    passed += usize::from(connector::validate(&def.options, &def.schema).is_ok());
                }
            }
        }
    }
    passed
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The columns `records`, `avro` and `options` decode into: every kind of type a stream
/// column commonly has.
fn record_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("price", DataType::Float64, true),
        Field::new("ok", DataType::Boolean, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("amount", DataType::Decimal128(10, 2), true),
        Field::new("day", DataType::Date32, true),
        Field::new("small", DataType::Int32, true),
    ]))
}

/// The writer schema of Avro schema id 1.
const AVRO_WRITER_SCHEMA: &str = r#"{"type":"record","name":"r","fields":[
 {"name":"id","type":["null","long"]},
 {"name":"name","type":["null","string"]},
 {"name":"price","type":"double"},
 {"name":"ok","type":"boolean"},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"day","type":{"type":"int","logicalType":"date"}},
 {"name":"small","type":"int"},
 {"name":"extra","type":{"type":"array","items":"string"}}]}"#;

fn startup_message() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196608u32.to_be_bytes());
    for part in ["user", "sluice", "database", "sluice", ""] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    message
}

/// Whether the bytes may hold a CREATE or DROP statement.
fn changes_catalog(data: &[u8]) -> bool {
    let has = |word: &[u8]| data.windows(word.len()).any(|w| w.eq_ignore_ascii_case(word));
    has(b"create") || has(b"drop")
}

/// Drops every sink, view, table and stream but the harness's own.
async fn drop_everything(engine: &Engine) {
    let kinds = [
        ("SHOW SINKS", "SINK"),
        ("SHOW MATERIALIZED VIEWS", "MATERIALIZED VIEW"),
        ("SHOW TABLES", "TABLE"),
        ("SHOW STREAMS", "STREAM"),
    ];
    for (show, noun) in kinds {
        let Ok(outputs) = engine.execute_sql(show).await else { continue };
        for name in names(&outputs) {
            if !OWN_OBJECTS.contains(&name.as_str()) {
                let _ = engine
                    .execute_sql(&format!("DROP {noun} IF EXISTS \"{}\" CASCADE", name.replace('"', "\"\"")))
                    .await;
            }
        }
    }
}

/// The first column of every row of `outputs`.
fn names(outputs: &[Output]) -> Vec<String> {
    let mut names = Vec::new();
    for output in outputs {
        if let Output::Rows { batches, .. } = output {
            for batch in batches {
                let Ok(column) = arrow::compute::cast(batch.column(0), &DataType::Utf8) else { continue };
                let Some(strings) = column.as_any().downcast_ref::<arrow::array::StringArray>() else { continue };
                names.extend(strings.iter().flatten().map(str::to_string));
            }
        }
    }
    names
}

/// The objects the harness makes, which fuzzed sessions may use but not keep (they are
/// made again when dropped).
const OWN_OBJECTS: [&str; 3] = ["bids", "people", "auction_counts"];

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| match Harness::start() {
        Ok(harness) => harness,
        // Without its harness no input can be tried: stop the fuzzer at once.
        Err(e) => {
            eprintln!("sluice fuzz harness: {e}");
            std::process::exit(2)
        }
    })
}

impl Harness {
    fn start() -> Result<Harness> {
        let dir = std::env::temp_dir().join(format!("sluice-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("bids.json"), BIDS)?;
        std::fs::write(dir.join("people.json"), PEOPLE)?;
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let config = EngineConfig {
            statement_timeout: Duration::from_secs(2),
            query_memory: 256 << 20,
            file_roots: FileRoots::new(std::slice::from_ref(&dir))?,
            ..EngineConfig::default()
        };
        let engine = runtime.block_on(Engine::open(Store::temporary()?, config))?;
        let harness = Harness { runtime, engine, server: OnceLock::new(), dir };
        harness.runtime.block_on(harness.engine.execute_sql(&harness.setup()))?;
        Ok(harness)
    }

    fn setup(&self) -> String {
        SETUP.replace("{dir}", &self.dir.to_string_lossy())
    }

    /// Drops what fuzzed sessions created and makes again what they dropped.
    async fn reset(&self) {
        drop_everything(&self.engine).await;
        let _ = self.engine.execute_sql(&self.setup()).await;
    }

    /// The address of the in-process server, started on first use.
    fn server(&self) -> SocketAddr {
        *self.server.get_or_init(|| {
            let listener = match self.runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")) {
                Ok(listener) => listener,
                Err(e) => {
                    eprintln!("sluice fuzz harness: cannot listen: {e}");
                    std::process::exit(2)
                }
            };
            let addr = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
            let engine = self.engine.clone();
            self.runtime.spawn(crate::server::run(listener, engine, std::future::pending::<()>()));
            addr
        })
    }
}

const BIDS: &str = r#"{"auction": 1, "bidder": 7, "price": 100, "date_time": "2024-01-01T10:00:00"}
{"auction": 2, "bidder": 8, "price": 250, "date_time": "2024-01-01T10:00:03"}
"#;

const PEOPLE: &str = r#"{"id": 7, "name": "ann", "city": "oslo"}
"#;

const SETUP: &str = "
CREATE STREAM IF NOT EXISTS bids (auction BIGINT, bidder BIGINT, price BIGINT, date_time TIMESTAMP,
    WATERMARK FOR date_time AS date_time - INTERVAL '1' SECOND)
    WITH (connector = 'file', path = '{dir}/bids.json', format = 'json');
CREATE TABLE IF NOT EXISTS people (id BIGINT PRIMARY KEY, name TEXT, city TEXT)
    WITH (connector = 'file', path = '{dir}/people.json', format = 'json');
CREATE MATERIALIZED VIEW IF NOT EXISTS auction_counts AS
    SELECT auction, count(*) AS bids, max(price) AS top FROM bids GROUP BY auction;
";
