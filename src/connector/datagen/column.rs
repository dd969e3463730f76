//! One column of a `datagen` stream: its `fields.<col>.*` options checked against its type
//! ([`ColumnSpec::from_options`]) and the column of a batch of rows ([`ColumnSpec::build`]).
//!
//! Called by `datagen.rs` at CREATE (to check) and by its reader (to build). Row `i` of a
//! random column draws from its own [`SplitMix64`] seeded with (column seed, `i`), so the
//! values do not depend on how rows are cut into batches or where a reader resumed.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringBuilder, TimestampMillisecondArray,
    new_null_array,
};
use arrow::compute::cast;
use arrow::datatypes::DataType;

use crate::connector::generator::{SplitMix64, now_ms, parse_timestamp_ms};
use crate::connector::{Options, parse_duration};
use crate::error::{Error, Result};

/// Properties a `fields.<col>.` option may name.
pub const PROPERTIES: [&str; 8] = ["kind", "start", "end", "step", "min", "max", "length", "null_rate"];
const MS_PER_DAY: i64 = 86_400_000;

/// How a column's values are made.
#[derive(Debug, Clone, PartialEq)]
pub enum Generator {
    /// Always null (`_deleted`, so a changelog table over datagen only inserts).
    Null,
    /// The wall clock at generation (timestamps by default).
    Now,
    /// `start + i * step`, up to `end` inclusive: numbers, text of numbers, days of a date,
    /// milliseconds of a timestamp.
    Sequence { start: i64, step: i64, end: Option<i64> },
    /// Uniform in `min..=max`: whole numbers, days, milliseconds.
    Int { min: i64, max: i64 },
    /// Uniform in `min..max`.
    Float { min: f64, max: f64 },
    /// True or false, even odds.
    Bool,
    /// `length` random lowercase letters.
    Text { length: usize },
}

/// A declared column and how to make it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    /// The declared type.
    pub target: DataType,
    /// How values are made.
    pub generator: Generator,
    /// Share of rows that are null.
    pub null_rate: f64,
}

/// The `fields.<col>.*` options of one column, read and checked.
struct Props<'a> {
    column: &'a str,
    options: &'a Options,
}

impl Props<'_> {
    fn key(&self, prop: &str) -> String {
        format!("fields.{}.{prop}", self.column)
    }

    fn get(&self, prop: &str) -> Option<&str> {
        self.options.get(&self.key(prop)).map(|v| v.trim())
    }

    fn invalid(&self, prop: &str, expected: &str) -> Error {
        let value = self.get(prop).unwrap_or_default();
        Error::InvalidParameter(format!("invalid value for option \"{}\": \"{value}\" ({expected})", self.key(prop)))
    }

    fn int(&self, prop: &str) -> Result<Option<i64>> {
        self.get(prop).map(|v| v.parse().map_err(|_| self.invalid(prop, "expected a whole number"))).transpose()
    }

    fn float(&self, prop: &str) -> Result<Option<f64>> {
        let parsed = |v: &str| v.parse::<f64>().ok().filter(|f| f.is_finite());
        self.get(prop).map(|v| parsed(v).ok_or_else(|| self.invalid(prop, "expected a number"))).transpose()
    }

    fn millis(&self, prop: &str) -> Result<Option<i64>> {
        self.get(prop).map(|v| parse_timestamp_ms(&self.key(prop), v)).transpose()
    }

    fn days(&self, prop: &str) -> Result<Option<i64>> {
        Ok(self.millis(prop)?.map(|ms| ms.div_euclid(MS_PER_DAY)))
    }

    /// Fails if any of `props` is given: they do not apply to this column.
    fn reject(&self, props: &[&str], why: &str) -> Result<()> {
        match props.iter().find(|p| self.get(p).is_some()) {
            None => Ok(()),
            Some(p) => Err(Error::InvalidParameter(format!("option \"{}\" does not apply: {why}", self.key(p)))),
        }
    }

    fn error(&self, message: &str) -> Error {
        Error::InvalidParameter(format!("column \"{}\": {message}", self.column))
    }
}

impl ColumnSpec {
    /// Reads the options of column `column` of type `target`.
    pub fn from_options(column: &str, target: &DataType, options: &Options) -> Result<ColumnSpec> {
        let props = Props { column, options };
        let null_rate = props.float("null_rate")?.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&null_rate) {
            return Err(props.invalid("null_rate", "expected a number from 0 to 1"));
        }
        let sequence = match props.get("kind").map(str::to_ascii_lowercase) {
            None => false,
            Some(k) if k == "sequence" => true,
            Some(k) if k == "random" => false,
            Some(_) => return Err(props.invalid("kind", "expected sequence or random")),
        };
        let generator = if column == "_deleted" {
            props.reject(&PROPERTIES, "\"_deleted\" is always null")?;
            Generator::Null
        } else if sequence {
            props.reject(&["min", "max", "length"], "the column is a sequence")?;
            sequence_of(&props, target)?
        } else {
            props.reject(&["start", "end", "step"], "the column is random (set kind = 'sequence')")?;
            random_of(&props, target)?
        };
        Ok(ColumnSpec { target: target.clone(), generator, null_rate })
    }

    /// Rows before the sequence ends, if it does.
    pub fn rows(&self) -> Option<u64> {
        match self.generator {
            Generator::Sequence { start, step, end: Some(end) } => {
                Some(((i128::from(end) - i128::from(start)) / i128::from(step) + 1) as u64)
            }
            _ => None,
        }
    }

    /// Rows `first..first + rows` of this column, `seed` being the column's.
    pub fn build(&self, seed: u64, first: u64, rows: usize) -> Result<ArrayRef> {
        let valid = |i: u64| self.null_rate == 0.0 || SplitMix64::for_item(!seed, i).unit() >= self.null_rate;
        let ids = first..first + rows as u64;
        let array: ArrayRef = match &self.generator {
            Generator::Null => return Ok(new_null_array(&self.target, rows)),
            Generator::Now => {
                let now = now_ms();
                Arc::new(ids.map(|i| valid(i).then_some(now)).collect::<Int64Array>())
            }
            Generator::Sequence { start, step, .. } => {
                let at = |i: u64| start.wrapping_add(step.wrapping_mul(i as i64));
                Arc::new(ids.map(|i| valid(i).then(|| at(i))).collect::<Int64Array>())
            }
            Generator::Int { min, max } => {
                let span = (*max as i128 - *min as i128 + 1) as u128;
                let pick = |i| min.wrapping_add(random_below(&mut SplitMix64::for_item(seed, i), span) as i64);
                Arc::new(ids.map(|i| valid(i).then(|| pick(i))).collect::<Int64Array>())
            }
            Generator::Float { min, max } => {
                let pick = |i| min + (max - min) * SplitMix64::for_item(seed, i).unit();
                Arc::new(ids.map(|i| valid(i).then(|| pick(i))).collect::<Float64Array>())
            }
            Generator::Bool => Arc::new(
                ids.map(|i| valid(i).then(|| SplitMix64::for_item(seed, i).below(2) == 1)).collect::<BooleanArray>(),
            ),
            Generator::Text { length } => text(seed, ids, *length, valid),
        };
        to_target(array, &self.target)
    }
}

/// A number in `0..span`, where `span` may be 2^64.
fn random_below(r: &mut SplitMix64, span: u128) -> u64 {
    match u64::try_from(span) {
        Ok(span) => r.below(span),
        Err(_) => r.next_u64(),
    }
}

fn text(seed: u64, ids: std::ops::Range<u64>, length: usize, valid: impl Fn(u64) -> bool) -> ArrayRef {
    let rows = (ids.end - ids.start) as usize;
    let mut b = StringBuilder::with_capacity(rows, rows * length);
    let mut buf = String::with_capacity(length);
    for i in ids {
        if !valid(i) {
            b.append_null();
            continue;
        }
        let r = &mut SplitMix64::for_item(seed, i);
        buf.clear();
        buf.extend((0..length).map(|_| (b'a' + r.below(26) as u8) as char));
        b.append_value(&buf);
    }
    Arc::new(b.finish())
}

/// The generated array (whole numbers, floats, booleans or text) as the declared type.
fn to_target(array: ArrayRef, target: &DataType) -> Result<ArrayRef> {
    let as_ints = || array.as_any().downcast_ref::<Int64Array>().cloned();
    match target {
        DataType::Timestamp(_, tz) if array.data_type() == &DataType::Int64 => {
            let ints = as_ints().ok_or_else(|| Error::Internal("timestamps not generated as i64".into()))?;
            let (values, nulls) = (ints.values().clone(), ints.nulls().cloned());
            Ok(Arc::new(TimestampMillisecondArray::new(values, nulls).with_timezone_opt(tz.clone())))
        }
        DataType::Date32 if array.data_type() == &DataType::Int64 => {
            let ints = as_ints().ok_or_else(|| Error::Internal("dates not generated as i64".into()))?;
            Ok(Arc::new(ints.iter().map(|d| d.map(|d| d as i32)).collect::<Date32Array>()))
        }
        t if array.data_type() == t => Ok(array),
        t => Ok(cast(&array, t)?),
    }
}

/// The sequence generator of a column of type `target`.
fn sequence_of(props: &Props<'_>, target: &DataType) -> Result<Generator> {
    let (start, end, step) = match target {
        DataType::Timestamp(..) => {
            let start = props.millis("start")?.ok_or_else(|| props.error("a timestamp sequence needs a \"start\""))?;
            let step = match props.get("step") {
                None => 1_000,
                Some(text) => i64::try_from(parse_duration(text)?.as_millis()).unwrap_or(i64::MAX),
            };
            (start, props.millis("end")?, step)
        }
        DataType::Date32 => {
            props.reject(&["step"], "a date sequence advances one day a row")?;
            (props.days("start")?.unwrap_or(0), props.days("end")?, 1)
        }
        t if is_number(t) || t == &DataType::Utf8 => {
            (props.int("start")?.unwrap_or(0), props.int("end")?, props.int("step")?.unwrap_or(1))
        }
        other => return Err(props.error(&format!("kind \"sequence\" is not supported for type {other}"))),
    };
    if step <= 0 {
        return Err(props.invalid("step", "expected a positive step"));
    }
    if end.is_some_and(|end| end < start) {
        return Err(props.error("sequence \"end\" is before its \"start\""));
    }
    let mut end = end;
    if let Some((low, high)) = int_range(target) {
        if start < low || end.is_some_and(|end| end > high) {
            return Err(props.error(&format!("sequence does not fit in type {target}")));
        }
        end = Some(end.unwrap_or(high)); // like Flink, the sequence ends with the type
    }
    Ok(Generator::Sequence { start, step, end })
}

/// The random generator of a column of type `target`.
fn random_of(props: &Props<'_>, target: &DataType) -> Result<Generator> {
    if target != &DataType::Utf8 {
        props.reject(&["length"], "only text columns have a length")?;
    }
    let generator = match target {
        DataType::Boolean => {
            props.reject(&["min", "max"], "a boolean column has no range")?;
            Generator::Bool
        }
        DataType::Utf8 => {
            props.reject(&["min", "max"], "a text column has a length, not a range")?;
            let length = props.int("length")?.unwrap_or(10);
            let length = usize::try_from(length).map_err(|_| props.invalid("length", "expected 0 or more"))?;
            Generator::Text { length }
        }
        DataType::Timestamp(..) => match (props.millis("min")?, props.millis("max")?) {
            (None, None) => Generator::Now,
            (Some(min), Some(max)) => Generator::Int { min, max },
            _ => return Err(props.error("a random timestamp needs both \"min\" and \"max\"")),
        },
        DataType::Date32 => {
            let min = props.days("min")?.unwrap_or(10_957); // 2000-01-01
            Generator::Int { min, max: props.days("max")?.unwrap_or(min + 365 * 30) }
        }
        t @ (DataType::Float32 | DataType::Float64 | DataType::Decimal128(..)) => {
            let min = props.float("min")?.unwrap_or(0.0);
            let max = props.float("max")?.unwrap_or(min.max(0.0) + 1000.0);
            decimal_fits(props, t, min.abs().max(max.abs()))?;
            Generator::Float { min, max }
        }
        t => {
            let (low, high) = int_range(t).ok_or_else(|| props.error(&format!("type {t} is not supported")))?;
            let (min, max) = (props.int("min")?.unwrap_or(low), props.int("max")?.unwrap_or(high));
            if min < low || max > high {
                return Err(props.error(&format!("\"min\" and \"max\" must fit in type {t}")));
            }
            Generator::Int { min, max }
        }
    };
    match generator {
        Generator::Int { min, max } if min > max => Err(props.error("\"min\" is greater than \"max\"")),
        Generator::Float { min, max } if min > max => Err(props.error("\"min\" is greater than \"max\"")),
        g => Ok(g),
    }
}

fn is_number(t: &DataType) -> bool {
    int_range(t).is_some() || matches!(t, DataType::Float32 | DataType::Float64 | DataType::Decimal128(..))
}

/// The range of a whole-number type (unsigned 64-bit capped at `i64::MAX`).
fn int_range(t: &DataType) -> Option<(i64, i64)> {
    Some(match t {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DataType::Int64 => (i64::MIN, i64::MAX),
        DataType::UInt8 => (0, u8::MAX.into()),
        DataType::UInt16 => (0, u16::MAX.into()),
        DataType::UInt32 => (0, u32::MAX.into()),
        DataType::UInt64 => (0, i64::MAX),
        _ => return None,
    })
}

fn decimal_fits(props: &Props<'_>, t: &DataType, largest: f64) -> Result<()> {
    if let DataType::Decimal128(precision, scale) = t
        && largest >= 10f64.powi(i32::from(*precision) - i32::from(*scale))
    {
        return Err(props.error(&format!("\"min\" and \"max\" must fit in type {t} (default range 0 to 1000)")));
    }
    Ok(())
}
