//! The `datagen` connector: rows for any declared schema, made up in process, as Flink's
//! datagen connector does.
//!
//! `connector.rs` calls [`check_options`] at CREATE and [`DatagenSource::open`] for each
//! view. This module owns the stream-level options (`rows_per_second`, `number_of_rows`,
//! `seed`), the check that every `fields.<col>.<property>` option names a declared column and
//! a known property, and the reader; each column's generator lives in `datagen/column.rs`.
//! The stream ends after `number_of_rows` rows or when a sequence column reaches its `end`,
//! whichever comes first. The checkpoint is the next row number.

pub mod column;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::generator::{self, GeneratorPosition, Pacer, SplitMix64, number_option};
use super::{Options, Poll, SourceReader, SourceStatus};
use crate::error::{Error, Result};
use column::{ColumnSpec, PROPERTIES};

/// Stream-level options.
const OPTIONS: [&str; 3] = ["rows_per_second", "number_of_rows", "seed"];
/// `rows_per_second` unless given.
pub const DEFAULT_ROWS_PER_SECOND: u64 = 10_000;

/// What a `datagen` stream generates, from its options and schema.
#[derive(Debug, Clone, PartialEq)]
pub struct DatagenOptions {
    /// One per declared column.
    pub columns: Vec<ColumnSpec>,
    /// Rows in all, if bounded.
    pub total: Option<u64>,
    /// Seed of every random value.
    pub seed: u64,
    /// Wall-clock pace; 0 for as fast as possible.
    pub rows_per_second: u64,
}

impl DatagenOptions {
    /// Reads and checks the options against the declared columns.
    pub fn new(options: &Options, schema: &SchemaRef) -> Result<DatagenOptions> {
        check_keys(options, schema)?;
        let columns = (schema.fields().iter())
            .map(|f| ColumnSpec::from_options(&f.name().to_lowercase(), f.data_type(), options))
            .collect::<Result<Vec<_>>>()?;
        let bounds = columns.iter().filter_map(ColumnSpec::rows);
        let total = bounds.chain(number_option(options, "number_of_rows")?).min();
        Ok(DatagenOptions {
            columns,
            total,
            seed: number_option(options, "seed")?.unwrap_or(0),
            rows_per_second: number_option(options, "rows_per_second")?.unwrap_or(DEFAULT_ROWS_PER_SECOND),
        })
    }
}

/// Every option is a stream option or `fields.<declared column>.<property>`.
fn check_keys(options: &Options, schema: &SchemaRef) -> Result<()> {
    let fields_options = options.keys().filter(|k| k.starts_with("fields."));
    for key in fields_options {
        let rest = &key["fields.".len()..];
        let Some((column, property)) = rest.rsplit_once('.') else {
            return Err(Error::InvalidParameter(format!(
                "invalid option \"{key}\" (expected fields.<column>.<property>)"
            )));
        };
        if !schema.fields().iter().any(|f| f.name().to_lowercase() == column) {
            return Err(Error::InvalidParameter(format!(
                "option \"{key}\" names no column: \"{column}\" is not declared"
            )));
        }
        if !PROPERTIES.contains(&property) {
            return Err(Error::InvalidParameter(format!(
                "unknown property \"{property}\" in option \"{key}\" (known: {})",
                PROPERTIES.join(", ")
            )));
        }
    }
    let rest: Options =
        options.iter().filter(|(k, _)| !k.starts_with("fields.")).map(|(k, v)| (k.clone(), v.clone())).collect();
    generator::check_known(&rest, "datagen", &OPTIONS)
}

/// Checks a stream's options and columns at CREATE.
pub fn check_options(options: &Options, schema: &SchemaRef) -> Result<()> {
    DatagenOptions::new(options, schema).map(|_| ())
}

/// Generates rows for a declared schema; see the module docs.
pub struct DatagenSource {
    opts: DatagenOptions,
    schema: SchemaRef,
    /// Per column, the seed of its random values.
    column_seeds: Vec<u64>,
    position: GeneratorPosition,
    pacer: Pacer,
    /// Unbounded and unpaced, `FLUSH` cannot wait for the end: the next poll answers
    /// `Idle` once, so the flush covers what was generated until then.
    pause_once: bool,
}

impl DatagenSource {
    /// Opens a reader at the saved position (the first row when `None`). `bounded`
    /// (`sluice run`) requires an end.
    pub fn open(options: &Options, schema: SchemaRef, saved: Option<Vec<u8>>, bounded: bool) -> Result<DatagenSource> {
        let opts = DatagenOptions::new(options, &schema)?;
        if bounded && opts.total.is_none() {
            return Err(Error::InvalidParameter(
                "a datagen stream read to its end needs option \"number_of_rows\" (it is unbounded otherwise)".into(),
            ));
        }
        let column_seeds =
            (0..opts.columns.len() as u64).map(|j| SplitMix64::for_item(opts.seed, j).next_u64()).collect();
        let pacer = Pacer::new(opts.rows_per_second);
        let position = GeneratorPosition::decode(saved)?;
        Ok(DatagenSource { opts, schema, column_seeds, position, pacer, pause_once: false })
    }

    fn build(&mut self, rows: usize) -> Result<RecordBatch> {
        let first = self.position.next;
        let columns = (self.opts.columns.iter().zip(&self.column_seeds))
            .map(|(c, &seed)| c.build(seed, first, rows))
            .collect::<Result<Vec<_>>>()?;
        self.position.next += rows as u64;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

impl SourceReader for DatagenSource {
    fn poll(&mut self, max_rows: usize) -> Result<Poll> {
        let next = self.position.next;
        let left = self.opts.total.map_or(u64::MAX, |t| t.saturating_sub(next));
        if left == 0 {
            return Ok(Poll::End);
        }
        if std::mem::take(&mut self.pause_once) {
            return Ok(Poll::Idle);
        }
        let rows = self.pacer.allowance(next, max_rows.max(1)).min(usize::try_from(left).unwrap_or(usize::MAX));
        if rows == 0 {
            return Ok(Poll::Idle);
        }
        Ok(Poll::Data { batch: self.build(rows)?, bad: Vec::new(), split: 0 })
    }

    fn checkpoint(&self) -> Result<Vec<u8>> {
        self.position.encode()
    }

    fn refresh(&mut self) {
        self.pause_once = self.opts.total.is_none() && self.opts.rows_per_second == 0;
    }

    fn status(&self) -> SourceStatus {
        generator::status(self.position.next, self.opts.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{
        DataType, Date32Type, Field, Float64Type, Int16Type, Int64Type, Schema, TimeUnit, TimestampMillisecondType,
    };
    use std::sync::Arc;

    fn options(pairs: &[(&str, &str)]) -> Options {
        let mut o = Options::new();
        o.insert("connector".into(), "datagen".into());
        o.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        o
    }

    fn schema(columns: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(columns.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect::<Vec<_>>()))
    }

    fn ts() -> DataType {
        DataType::Timestamp(TimeUnit::Millisecond, None)
    }

    fn every_type() -> SchemaRef {
        schema(&[
            ("b", DataType::Boolean),
            ("s", DataType::Int16),
            ("i", DataType::Int32),
            ("l", DataType::Int64),
            ("r", DataType::Float32),
            ("d", DataType::Float64),
            ("m", DataType::Decimal128(10, 2)),
            ("t", DataType::Utf8),
            ("day", DataType::Date32),
            ("at", ts()),
        ])
    }

    /// Reads until the end (or `limit` polls), in batches of `batch` rows.
    fn read(o: &Options, s: &SchemaRef, saved: Option<Vec<u8>>, batch: usize, limit: usize) -> (RecordBatch, Vec<u8>) {
        let mut reader = DatagenSource::open(o, s.clone(), saved, false).unwrap();
        let mut got = Vec::new();
        for _ in 0..limit {
            match reader.poll(batch).unwrap() {
                Poll::Data { batch, .. } => got.push(batch),
                Poll::End => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        (arrow::compute::concat_batches(s, &got).unwrap(), reader.checkpoint().unwrap())
    }

    #[test]
    fn every_type_is_generated_deterministically() {
        let s = every_type();
        let o = options(&[
            ("number_of_rows", "500"),
            ("rows_per_second", "0"),
            ("seed", "3"),
            ("fields.at.kind", "sequence"),
            ("fields.at.start", "2026-03-01 10:00:00"),
        ]);
        let (a, _) = read(&o, &s, None, 64, 100);
        assert_eq!(a.num_rows(), 500);
        for (field, column) in s.fields().iter().zip(a.columns()) {
            assert_eq!(field.data_type(), column.data_type());
            assert_eq!(column.null_count(), 0, "{}", field.name());
        }
        assert_eq!(read(&o, &s, None, 500, 100).0, a, "same seed, other batching");
        let other = options(&[
            ("number_of_rows", "500"),
            ("rows_per_second", "0"),
            ("seed", "4"),
            ("fields.at.kind", "sequence"),
            ("fields.at.start", "2026-03-01 10:00:00"),
        ]);
        let (b, _) = read(&other, &s, None, 64, 100);
        assert_ne!(a.column(3), b.column(3));
        let day = a.column(8).as_primitive::<Date32Type>();
        assert!(day.values().iter().all(|d| (10_957..=10_957 + 365 * 30).contains(d)));
        let text = a.column(7).as_string::<i32>();
        assert!(text.iter().all(|t| t.is_some_and(|t| t.len() == 10 && t.bytes().all(|c| c.is_ascii_lowercase()))));
    }

    #[test]
    fn sequences_end_the_stream_and_timestamps_step() {
        let s = schema(&[("id", DataType::Int64), ("at", ts()), ("label", DataType::Utf8)]);
        let o = options(&[
            ("rows_per_second", "0"),
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "5"),
            ("fields.id.end", "1004"),
            ("fields.at.kind", "sequence"),
            ("fields.at.start", "2026-03-01 10:00:00"),
            ("fields.at.step", "100ms"),
            ("fields.label.kind", "sequence"),
            ("fields.label.start", "7"),
        ]);
        let (batch, _) = read(&o, &s, None, 300, 100);
        assert_eq!(batch.num_rows(), 1000);
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().values().to_vec(), (5..1005).collect::<Vec<_>>());
        let at = batch.column(1).as_primitive::<TimestampMillisecondType>();
        assert_eq!((at.value(0), at.value(999)), (1_772_359_200_000, 1_772_359_200_000 + 99_900));
        assert_eq!(batch.column(2).as_string::<i32>().value(3), "10");
        let limited = options(&[("rows_per_second", "0"), ("number_of_rows", "10"), ("fields.id.kind", "sequence")]);
        assert_eq!(read(&limited, &schema(&[("id", DataType::Int64)]), None, 4, 100).0.num_rows(), 10);
        let small = options(&[("rows_per_second", "0"), ("fields.s.kind", "sequence"), ("fields.s.start", "32000")]);
        let (batch, _) = read(&small, &schema(&[("s", DataType::Int16)]), None, 1000, 100);
        assert_eq!(batch.num_rows(), 768, "a SMALLINT sequence ends at 32767");
        assert_eq!(batch.column(0).as_primitive::<Int16Type>().value(767), 32767);
    }

    #[test]
    fn ranges_lengths_and_nulls() {
        let s = schema(&[("n", DataType::Int64), ("x", DataType::Float64), ("t", DataType::Utf8)]);
        let o = options(&[
            ("rows_per_second", "0"),
            ("number_of_rows", "4000"),
            ("fields.n.min", "-3"),
            ("fields.n.max", "3"),
            ("fields.x.min", "10"),
            ("fields.x.max", "20"),
            ("fields.t.length", "4"),
            ("fields.t.null_rate", "0.25"),
        ]);
        let (batch, _) = read(&o, &s, None, 1000, 100);
        let n = batch.column(0).as_primitive::<Int64Type>();
        assert!(n.values().iter().all(|v| (-3..=3).contains(v)));
        assert!((-3..=3).all(|k| n.values().contains(&k)), "every value in the range appears");
        assert!(batch.column(1).as_primitive::<Float64Type>().values().iter().all(|v| (10.0..20.0).contains(v)));
        let t = batch.column(2).as_string::<i32>();
        assert!((800..1200).contains(&t.null_count()), "{}", t.null_count());
        assert!(t.iter().flatten().all(|v| v.len() == 4));
    }

    #[test]
    fn a_reader_resumes_exactly_at_its_checkpoint() {
        let s = every_type();
        let o = options(&[
            ("number_of_rows", "1000"),
            ("rows_per_second", "0"),
            ("fields.at.min", "2020-01-01"),
            ("fields.at.max", "2021-01-01"),
        ]);
        let (whole, _) = read(&o, &s, None, 100, 100);
        let (head, saved) = read(&o, &s, None, 150, 3);
        let (tail, end) = read(&o, &s, Some(saved), 100, 100);
        assert_eq!(arrow::compute::concat_batches(&s, &[head, tail]).unwrap(), whole);
        assert_eq!(GeneratorPosition::decode(Some(end)).unwrap().next, 1000);
    }

    #[test]
    fn wall_clock_timestamps_by_default_and_pacing() {
        let s = schema(&[("at", ts())]);
        let mut reader = DatagenSource::open(&options(&[("rows_per_second", "1")]), s.clone(), None, false).unwrap();
        match reader.poll(100).unwrap() {
            Poll::Data { batch, .. } => panic!("paced to 1 row a second, got {} at once", batch.num_rows()),
            Poll::Idle => {}
            other => panic!("unexpected {other:?}"),
        }
        let mut fast = DatagenSource::open(&options(&[("rows_per_second", "0")]), s, None, false).unwrap();
        let Poll::Data { batch, .. } = fast.poll(10).unwrap() else { panic!("expected rows") };
        let at = batch.column(0).as_primitive::<TimestampMillisecondType>().value(0);
        assert!((at - generator::now_ms()).abs() < 60_000);
        fast.refresh();
        assert!(matches!(fast.poll(10).unwrap(), Poll::Idle), "unbounded: FLUSH gets a pause");
        assert_eq!(fast.status().splits[0].position, 10);
    }

    #[test]
    fn option_errors() {
        let s = schema(&[("id", DataType::Int64), ("name", DataType::Utf8), ("ok", DataType::Boolean), ("at", ts())]);
        let err = |pairs: &[(&str, &str)]| check_options(&options(pairs), &s).unwrap_err().to_string();
        let cases = [
            (vec![("speed", "1")], "unknown option \"speed\" for connector \"datagen\""),
            (vec![("fields.nope.kind", "random")], "option \"fields.nope.kind\" names no column"),
            (vec![("fields.id.colour", "red")], "unknown property \"colour\""),
            (vec![("fields.id.kind", "zigzag")], "\"fields.id.kind\": \"zigzag\" (expected sequence or random)"),
            (vec![("fields.ok.kind", "sequence")], "kind \"sequence\" is not supported for type Boolean"),
            (vec![("fields.name.kind", "sequence"), ("fields.name.start", "abc")], "expected a whole number"),
            (vec![("fields.id.min", "5"), ("fields.id.max", "1")], "column \"id\": \"min\" is greater than \"max\""),
            (vec![("fields.id.length", "5")], "only text columns have a length"),
            (vec![("fields.id.start", "5")], "the column is random"),
            (vec![("fields.id.kind", "sequence"), ("fields.id.min", "5")], "the column is a sequence"),
            (vec![("fields.id.kind", "sequence"), ("fields.id.start", "5"), ("fields.id.end", "1")], "before its"),
            (vec![("fields.name.null_rate", "2")], "expected a number from 0 to 1"),
            (vec![("fields.at.min", "2020-01-01")], "needs both \"min\" and \"max\""),
            (vec![("fields.at.kind", "sequence")], "a timestamp sequence needs a \"start\""),
            (vec![("number_of_rows", "many")], "\"number_of_rows\": \"many\" (expected a whole number)"),
        ];
        for (pairs, expected) in cases {
            let e = err(&pairs);
            assert!(e.contains(expected), "{pairs:?}: {e}");
        }
        let m = schema(&[("m", DataType::Decimal128(4, 2))]);
        assert!(check_options(&options(&[("fields.m.max", "100")]), &m).is_err());
        assert!(check_options(&options(&[("fields.m.max", "99")]), &m).is_ok());
        assert!(DatagenSource::open(&options(&[]), s.clone(), None, true).is_err(), "unbounded in sluice run");
    }
}
