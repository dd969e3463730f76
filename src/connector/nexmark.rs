//! The `nexmark` connector: the person, auction and bid streams of the Nexmark benchmark,
//! generated in process.
//!
//! `connector.rs` calls [`check_options`] at CREATE and [`NexmarkSource::open`] for each
//! view; tests and benchmarks call [`generate`] for the same rows in batch. This module owns
//! the options, the mapping of declared columns to Nexmark fields (by name, ignoring case and
//! underscores, cast to the declared type) and the reader, which builds batches column-wise
//! with Arrow builders; the values of each event come from `nexmark/model.rs`. A stream is
//! unbounded unless `events` is given, and paced to `rate` events a second if given. The
//! checkpoint is the next event number (and the time base), so a restart resumes exactly
//! there.

pub mod model;

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Builder, StringBuilder, TimestampMillisecondBuilder, new_null_array};
use arrow::compute::{can_cast_types, cast};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::generator::{self, GeneratorPosition, Pacer, number_option, parse_timestamp_ms};
use super::{Options, Poll, SourceReader, SourceStatus};
use crate::error::{Error, Result};
use model::{Kind, Model, Value};

/// Person fields, as in Flink's Nexmark DDL.
pub const PERSON_FIELDS: [&str; 8] = ["id", "name", "emailAddress", "creditCard", "city", "state", "dateTime", "extra"];
/// Auction fields.
pub const AUCTION_FIELDS: [&str; 10] =
    ["id", "itemName", "description", "initialBid", "reserve", "dateTime", "expires", "seller", "category", "extra"];
/// Bid fields.
pub const BID_FIELDS: [&str; 7] = ["auction", "bidder", "price", "channel", "url", "dateTime", "extra"];

/// Options the connector knows.
const OPTIONS: [&str; 6] = ["table", "events", "seed", "event_rate", "base_time", "rate"];
/// `base_time` unless given: 2025-01-01 00:00:00 UTC.
pub const DEFAULT_BASE_MS: i64 = 1_735_689_600_000;
/// `event_rate` unless given.
pub const DEFAULT_EVENT_RATE: u64 = 10_000;

/// What a `nexmark` stream generates, from its options.
#[derive(Debug, Clone, PartialEq)]
pub struct NexmarkOptions {
    /// Which of the three streams.
    pub table: Kind,
    /// Total events over all kinds, if bounded.
    pub events: Option<u64>,
    /// Seed of every random value.
    pub seed: u64,
    /// Events per second of event time.
    pub event_rate: u64,
    /// Event 0's time in epoch milliseconds; `None` for the wall clock at the first start.
    pub base_ms: Option<i64>,
    /// Wall-clock pace in events per second; 0 for as fast as possible.
    pub rate: u64,
}

impl NexmarkOptions {
    /// Reads and checks the options.
    pub fn from_options(options: &Options) -> Result<NexmarkOptions> {
        generator::check_known(options, "nexmark", &OPTIONS)?;
        let table = match options.get("table").map(|t| t.to_ascii_lowercase()) {
            None => return Err(Error::InvalidParameter("missing option \"table\" (person, auction or bid)".into())),
            Some(t) if t == "person" => Kind::Person,
            Some(t) if t == "auction" => Kind::Auction,
            Some(t) if t == "bid" => Kind::Bid,
            Some(t) => {
                return Err(Error::InvalidParameter(format!(
                    "invalid value for option \"table\": \"{t}\" (expected person, auction or bid)"
                )));
            }
        };
        let event_rate = number_option(options, "event_rate")?.unwrap_or(DEFAULT_EVENT_RATE);
        if event_rate == 0 {
            return Err(Error::InvalidParameter("option \"event_rate\" must be at least 1".into()));
        }
        let base_ms = match options.get("base_time").map(|t| t.trim()) {
            None => Some(DEFAULT_BASE_MS),
            Some(t) if t.eq_ignore_ascii_case("now") => None,
            Some(t) => Some(parse_timestamp_ms("base_time", t)?),
        };
        Ok(NexmarkOptions {
            table,
            events: number_option(options, "events")?,
            seed: number_option(options, "seed")?.unwrap_or(0),
            event_rate,
            base_ms,
            rate: number_option(options, "rate")?.unwrap_or(0),
        })
    }
}

/// The fields of a table, in model order.
pub fn fields(table: Kind) -> &'static [&'static str] {
    match table {
        Kind::Person => &PERSON_FIELDS,
        Kind::Auction => &AUCTION_FIELDS,
        Kind::Bid => &BID_FIELDS,
    }
}

/// What a declared column is made of.
#[derive(Debug, Clone)]
struct Column {
    /// Index into the table's fields; `None` for `_deleted` (always null, for CREATE TABLE).
    field: Option<usize>,
    /// The type the field is generated as.
    generated: DataType,
    /// The declared type.
    target: DataType,
}

/// Checks a stream's options and columns at CREATE.
pub fn check_options(options: &Options, schema: &SchemaRef) -> Result<()> {
    let opts = NexmarkOptions::from_options(options)?;
    columns(opts.table, schema).map(|_| ())
}

/// Maps the declared columns to fields, checking names and types.
fn columns(table: Kind, schema: &SchemaRef) -> Result<Vec<Column>> {
    let names = fields(table);
    let mut out = Vec::with_capacity(schema.fields().len());
    for declared in schema.fields() {
        let target = declared.data_type().clone();
        if declared.name() == "_deleted" {
            out.push(Column { field: None, generated: DataType::Boolean, target });
            continue;
        }
        let Some(i) = names.iter().position(|f| same_name(f, declared.name())) else {
            return Err(Error::InvalidParameter(format!(
                "column \"{}\" is not a field of nexmark table \"{}\" (fields: {})",
                declared.name(),
                table_name(table),
                names.join(", ")
            )));
        };
        let generated = field_type(table, i);
        if !can_cast_types(&generated, &target) {
            return Err(Error::InvalidParameter(format!(
                "column \"{}\" cannot be {target}: nexmark field \"{}\" is {generated}",
                declared.name(),
                names[i]
            )));
        }
        out.push(Column { field: Some(i), generated, target });
    }
    Ok(out)
}

/// Names match ignoring case and underscores: `dateTime`, `datetime`, `date_time`.
fn same_name(field: &str, declared: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|&c| c != '_').map(|c| c.to_ascii_lowercase()).collect::<String>();
    norm(field) == norm(declared)
}

fn table_name(table: Kind) -> &'static str {
    match table {
        Kind::Person => "person",
        Kind::Auction => "auction",
        Kind::Bid => "bid",
    }
}

/// The Arrow type a field is generated as (as [`Value`] gives it).
fn field_type(table: Kind, i: usize) -> DataType {
    match fields(table)[i] {
        "dateTime" | "expires" => DataType::Timestamp(TimeUnit::Millisecond, None),
        "id" | "initialBid" | "reserve" | "seller" | "category" | "auction" | "bidder" | "price" => DataType::Int64,
        _ => DataType::Utf8,
    }
}

/// Reads one Nexmark table; see the module docs.
pub struct NexmarkSource {
    opts: NexmarkOptions,
    model: Model,
    schema: SchemaRef,
    columns: Vec<Column>,
    position: GeneratorPosition,
    pacer: Pacer,
    /// Unbounded and unpaced, `FLUSH` cannot wait for the end: the next poll answers
    /// `Idle` once, so the flush covers what was generated until then.
    pause_once: bool,
}

impl NexmarkSource {
    /// Opens a reader at the saved position (the first event when `None`). `bounded`
    /// (`sluice run`) requires `events`.
    pub fn open(options: &Options, schema: SchemaRef, saved: Option<Vec<u8>>, bounded: bool) -> Result<NexmarkSource> {
        let opts = NexmarkOptions::from_options(options)?;
        if bounded && opts.events.is_none() {
            return Err(Error::InvalidParameter(
                "a nexmark stream read to its end needs option \"events\" (it is unbounded otherwise)".into(),
            ));
        }
        let columns = columns(opts.table, &schema)?;
        let mut position = GeneratorPosition::decode(saved)?;
        let base_ms = *position.base_ms.get_or_insert_with(|| opts.base_ms.unwrap_or_else(generator::now_ms));
        let model = Model::new(opts.seed, base_ms, opts.event_rate);
        let pacer = Pacer::new(opts.rate);
        Ok(NexmarkSource { opts, model, schema, columns, position, pacer, pause_once: false })
    }

    /// The next event number.
    pub fn next_event(&self) -> u64 {
        self.position.next
    }

    /// Generates the rows of up to `max_rows` events of the table among the events before
    /// `limit`, and moves the position past the last event looked at.
    fn build(&mut self, max_rows: usize, limit: u64) -> Result<Option<RecordBatch>> {
        let mut builders: Vec<Builder> = self.columns.iter().map(|c| Builder::new(c, max_rows)).collect();
        let (table, mut n, mut rows) = (self.opts.table, self.position.next, 0);
        loop {
            n = table.next_at_or_after(n);
            if n >= limit || rows == max_rows {
                break;
            }
            self.append_event(n, &mut builders);
            rows += 1;
            n += 1;
        }
        self.position.next = n.min(limit);
        if rows == 0 {
            return Ok(None);
        }
        let arrays = (builders.into_iter().zip(&self.columns))
            .map(|(b, c)| b.finish(c, rows))
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(Some(RecordBatch::try_new(self.schema.clone(), arrays)?))
    }

    fn append_event(&self, n: u64, builders: &mut [Builder]) {
        let columns = self.columns.iter().zip(builders.iter_mut());
        match self.opts.table {
            Kind::Person => {
                let e = self.model.person(n);
                columns.for_each(|(c, b)| b.append(c.field.map(|i| e.value(i))));
            }
            Kind::Auction => {
                let e = self.model.auction(n);
                columns.for_each(|(c, b)| b.append(c.field.map(|i| e.value(i))));
            }
            Kind::Bid => {
                let e = self.model.bid(n);
                columns.for_each(|(c, b)| b.append(c.field.map(|i| e.value(i))));
            }
        }
    }
}

impl SourceReader for NexmarkSource {
    fn poll(&mut self, max_rows: usize) -> Result<Poll> {
        let next = self.position.next;
        if self.opts.events.is_some_and(|total| next >= total) {
            return Ok(Poll::End);
        }
        if std::mem::take(&mut self.pause_once) {
            return Ok(Poll::Idle);
        }
        // Every event kind counts towards the pace, so the three streams keep step.
        let allowed = self.pacer.allowance(next, max_rows.max(1) * 50) as u64;
        let limit = next.saturating_add(allowed);
        let limit = self.opts.events.map_or(limit, |total| total.min(limit));
        match self.build(max_rows.max(1), limit)? {
            Some(batch) => Ok(Poll::Data { batch, bad: Vec::new(), split: 0 }),
            None if self.opts.events.is_some_and(|t| self.position.next >= t) => Ok(Poll::End),
            None => Ok(Poll::Idle),
        }
    }

    fn checkpoint(&self) -> Result<Vec<u8>> {
        self.position.encode()
    }

    fn refresh(&mut self) {
        self.pause_once = self.opts.events.is_none() && self.opts.rate == 0;
    }

    fn status(&self) -> SourceStatus {
        generator::status(self.position.next, self.opts.events)
    }
}

/// A column being built.
enum Builder {
    Int(Int64Builder),
    Text(StringBuilder),
    Time(TimestampMillisecondBuilder),
    /// `_deleted`: nothing to build.
    Null,
}

impl Builder {
    fn new(column: &Column, rows: usize) -> Builder {
        match (column.field, &column.generated) {
            (None, _) => Builder::Null,
            (Some(_), DataType::Utf8) => Builder::Text(StringBuilder::with_capacity(rows, rows * 96)),
            (Some(_), DataType::Int64) => Builder::Int(Int64Builder::with_capacity(rows)),
            (Some(_), _) => Builder::Time(TimestampMillisecondBuilder::with_capacity(rows)),
        }
    }

    /// Appends a value of the column's generated type.
    fn append(&mut self, value: Option<Value<'_>>) {
        match (self, value) {
            (Builder::Int(b), Some(Value::Int(v))) => b.append_value(v),
            (Builder::Text(b), Some(Value::Text(v))) => b.append_value(v),
            (Builder::Time(b), Some(Value::Time(v))) => b.append_value(v),
            (Builder::Null, _) => {}
            (Builder::Int(b), _) => b.append_null(),
            (Builder::Text(b), _) => b.append_null(),
            (Builder::Time(b), _) => b.append_null(),
        }
    }

    /// The finished column, cast to the declared type.
    fn finish(self, column: &Column, rows: usize) -> Result<ArrayRef> {
        let array: ArrayRef = match self {
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Time(mut b) => Arc::new(b.finish()),
            Builder::Null if column.target == DataType::Boolean => Arc::new(BooleanArray::new_null(rows)),
            Builder::Null => new_null_array(&column.target, rows),
        };
        if array.data_type() == &column.target {
            return Ok(array);
        }
        Ok(cast(&array, &column.target)?)
    }
}

/// Generates in batch the rows a bounded stream with these options and schema gives (the
/// same as its reader's), ignoring `rate`. For tests and benchmarks.
pub fn generate(options: &Options, schema: SchemaRef, batch_rows: usize) -> Result<Vec<RecordBatch>> {
    let mut reader = NexmarkSource::open(options, schema, None, true)?;
    reader.pacer = Pacer::new(0);
    let mut batches = Vec::new();
    loop {
        match reader.poll(batch_rows)? {
            Poll::Data { batch, .. } => batches.push(batch),
            Poll::End => return Ok(batches),
            Poll::Idle | Poll::Pending | Poll::Bad(_) | Poll::Watermark(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Field, Int64Type, Schema, TimestampMillisecondType};

    fn options(pairs: &[(&str, &str)]) -> Options {
        let mut o: Options = [("connector", "nexmark")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        o.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        o
    }

    fn schema(columns: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(columns.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect::<Vec<_>>()))
    }

    fn ts() -> DataType {
        DataType::Timestamp(TimeUnit::Millisecond, None)
    }

    fn bid_schema() -> SchemaRef {
        schema(&[
            ("auction", DataType::Int64),
            ("bidder", DataType::Int64),
            ("price", DataType::Int64),
            ("channel", DataType::Utf8),
            ("url", DataType::Utf8),
            ("datetime", ts()),
            ("extra", DataType::Utf8),
        ])
    }

    fn all(table: &str, events: &str, seed: &str, schema: SchemaRef) -> RecordBatch {
        let o = options(&[("table", table), ("events", events), ("seed", seed), ("event_rate", "1000")]);
        let batches = generate(&o, schema.clone(), 1000).unwrap();
        arrow::compute::concat_batches(&schema, &batches).unwrap()
    }

    fn ints(batch: &RecordBatch, column: usize) -> Vec<i64> {
        batch.column(column).as_primitive::<Int64Type>().values().to_vec()
    }

    fn times(batch: &RecordBatch, column: usize) -> Vec<i64> {
        batch.column(column).as_primitive::<TimestampMillisecondType>().values().to_vec()
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let a = all("bid", "5000", "42", bid_schema());
        assert_eq!(a, all("bid", "5000", "42", bid_schema()));
        let b = all("bid", "5000", "43", bid_schema());
        assert_eq!(a.num_rows(), b.num_rows());
        assert_ne!(ints(&a, 2), ints(&b, 2));
    }

    #[test]
    fn the_tables_split_events_1_3_46() {
        let count = |table, events| all(table, events, "0", schema(&[("dateTime", ts())])).num_rows();
        assert_eq!((count("person", "1000"), count("auction", "1000"), count("bid", "1000")), (20, 60, 920));
        assert_eq!((count("person", "1002"), count("auction", "1002"), count("bid", "1002")), (21, 61, 920));
    }

    #[test]
    fn event_time_follows_the_event_number() {
        let persons = all("person", "500", "0", schema(&[("date_time", ts()), ("ID", DataType::Int64)]));
        let base = DEFAULT_BASE_MS;
        assert_eq!(times(&persons, 0), (0..10).map(|k| base + 50 * k).collect::<Vec<_>>(), "1 event per ms");
        assert_eq!(ints(&persons, 1), (1000..1010).collect::<Vec<_>>());
        let o = options(&[("table", "bid"), ("events", "100"), ("base_time", "2026-03-01 10:00:00")]);
        let bids = generate(&o, schema(&[("datetime", ts())]), 100).unwrap();
        let t = times(&bids[0], 0);
        assert_eq!((t[0], t[45]), (1_772_359_200_000, 1_772_359_200_000 + 4), "10 events per ms by default");
    }

    /// Bids and auctions come from separate readers, yet every bid names an auction created
    /// before it or one of the next few (the model's lead), and a bidder likewise.
    #[test]
    fn bids_reference_auctions_and_people_of_the_same_sequence() {
        let auctions = all("auction", "100000", "7", schema(&[("id", DataType::Int64), ("datetime", ts())]));
        let persons = all("person", "100000", "7", schema(&[("id", DataType::Int64), ("datetime", ts())]));
        let bids = all("bid", "100000", "7", bid_schema());
        let created_by =
            |ids: Vec<i64>, at: Vec<i64>| move |t: i64| ids[..at.partition_point(|&x| x <= t)].last().copied();
        let last_auction = created_by(ints(&auctions, 0), times(&auctions, 1));
        let last_person = created_by(ints(&persons, 0), times(&persons, 1));
        let (mut existing, mut hot) = (0, 0);
        for ((auction, bidder), t) in ints(&bids, 0).into_iter().zip(ints(&bids, 1)).zip(times(&bids, 5)) {
            let (a, p) = (last_auction(t).unwrap(), last_person(t).unwrap());
            assert!((1000..=a + model::ID_LEAD as i64).contains(&auction), "bid at {t} on {auction}, last {a}");
            assert!(auction >= a - model::NUM_IN_FLIGHT_AUCTIONS as i64 || auction % 100 == 0, "{auction} {a}");
            assert!((1000..=p + model::ID_LEAD as i64).contains(&bidder), "bidder {bidder}, last {p}");
            existing += usize::from(auction <= a);
            hot += usize::from(auction == (a - 1000) / 100 * 100 + 1000);
        }
        let n = bids.num_rows();
        assert_eq!(n, 92_000);
        assert!(existing > n * 95 / 100, "{existing} of {n}");
        assert!((n * 45 / 100..n * 60 / 100).contains(&hot), "hot auction bids {hot} of {n}");
    }

    #[test]
    fn a_reader_resumes_exactly_at_its_checkpoint() {
        let o = options(&[("table", "bid"), ("events", "20000"), ("seed", "5")]);
        let mut first = NexmarkSource::open(&o, bid_schema(), None, false).unwrap();
        let mut got = Vec::new();
        for _ in 0..3 {
            let Poll::Data { batch, .. } = first.poll(777).unwrap() else { panic!("expected data") };
            got.push(batch);
        }
        let saved = first.checkpoint().unwrap();
        assert!(matches!(first.status().splits[0].lag, Some(lag) if lag > 0));
        drop(first);
        let mut second = NexmarkSource::open(&o, bid_schema(), Some(saved), false).unwrap();
        while let Poll::Data { batch, .. } = second.poll(1000).unwrap() {
            got.push(batch);
        }
        assert!(matches!(second.poll(1000).unwrap(), Poll::End));
        assert_eq!(second.status().splits[0].position, 20_000);
        let resumed = arrow::compute::concat_batches(&bid_schema(), &got).unwrap();
        let plain = arrow::compute::concat_batches(&bid_schema(), &generate(&o, bid_schema(), 500).unwrap());
        assert_eq!(resumed, plain.unwrap());
        assert_eq!(resumed.num_rows(), 18_400);
    }

    #[test]
    fn a_wall_clock_base_is_kept_across_restarts() {
        let o = options(&[("table", "person"), ("base_time", "now")]);
        let s = schema(&[("datetime", ts())]);
        let mut reader = NexmarkSource::open(&o, s.clone(), None, false).unwrap();
        let Poll::Data { batch, .. } = reader.poll(10).unwrap() else { panic!("expected data") };
        let first = times(&batch, 0)[0];
        assert!((first - generator::now_ms()).abs() < 60_000);
        let mut again = NexmarkSource::open(&o, s, Some(reader.checkpoint().unwrap()), false).unwrap();
        let Poll::Data { batch, .. } = again.poll(1).unwrap() else { panic!("expected data") };
        assert_eq!(times(&batch, 0)[0], first + 10 * 50 / 10);
    }

    #[test]
    fn declared_types_are_cast_and_columns_matched_in_any_order() {
        let s = schema(&[("price", DataType::Float64), ("date_time", ts()), ("AUCTION", DataType::Utf8)]);
        let batch = all("bid", "100", "1", s);
        assert_eq!(batch.column(0).data_type(), &DataType::Float64);
        assert!(batch.column(2).as_string::<i32>().value(0).parse::<i64>().unwrap() >= 1000);
        let s = schema(&[("auction", DataType::Int64), ("_deleted", DataType::Boolean)]);
        assert_eq!(all("bid", "100", "1", s).column(1).null_count(), 92);
    }

    #[test]
    fn option_and_column_errors() {
        let err = |pairs: &[(&str, &str)], s: SchemaRef| check_options(&options(pairs), &s).unwrap_err().to_string();
        let price = schema(&[("price", DataType::Int64)]);
        assert!(err(&[], price.clone()).contains("missing option \"table\""));
        assert!(err(&[("table", "bids")], price.clone()).contains("\"bids\" (expected person, auction or bid)"));
        assert!(err(&[("table", "bid"), ("events", "-1")], price.clone()).contains("\"events\""));
        assert!(err(&[("table", "bid"), ("speed", "1")], price.clone()).contains("unknown option \"speed\""));
        assert!(err(&[("table", "bid"), ("base_time", "x")], price.clone()).contains("\"base_time\""));
        assert!(err(&[("table", "bid"), ("event_rate", "0")], price.clone()).contains("\"event_rate\""));
        let e = err(&[("table", "person")], price);
        assert!(e.contains("column \"price\" is not a field of nexmark table \"person\" (fields: id, name"), "{e}");
        let e = err(&[("table", "bid")], schema(&[("datetime", DataType::Boolean)]));
        assert!(e.contains("column \"datetime\" cannot be Boolean"), "{e}");
        assert!(check_options(&options(&[("table", "BID")]), &bid_schema()).is_ok());
        let unbounded = NexmarkSource::open(&options(&[("table", "bid")]), bid_schema(), None, true);
        assert!(unbounded.is_err());
    }

    #[test]
    fn an_unbounded_reader_pauses_once_for_flush() {
        let mut reader = NexmarkSource::open(&options(&[("table", "bid")]), bid_schema(), None, false).unwrap();
        assert!(matches!(reader.poll(10).unwrap(), Poll::Data { .. }));
        reader.refresh();
        assert!(matches!(reader.poll(10).unwrap(), Poll::Idle));
        assert!(matches!(reader.poll(10).unwrap(), Poll::Data { .. }));
        assert_eq!(reader.status().splits[0].lag, None);
    }

    /// Generation speed, for docs/benchmarks.md: `cargo test --release --lib
    /// nexmark_generation_speed -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a test"]
    fn nexmark_generation_speed() {
        let o = options(&[("table", "bid"), ("events", "10870000")]);
        let narrow = schema(&[("auction", DataType::Int64), ("price", DataType::Int64), ("datetime", ts())]);
        for (what, schema) in [("all 7 columns", bid_schema()), ("auction, price, dateTime", narrow)] {
            let start = std::time::Instant::now();
            let mut reader = NexmarkSource::open(&o, schema, None, false).unwrap();
            let mut rows = 0;
            while let Poll::Data { batch, .. } = reader.poll(8192).unwrap() {
                rows += batch.num_rows();
            }
            let secs = start.elapsed().as_secs_f64();
            println!("{rows} bids ({what}) in {secs:.2} s: {:.0} bids/s", rows as f64 / secs);
        }
    }
}
