//! Postgres's text output for the Arrow types whose default text differs from it:
//! timestamps (no trailing fractional zeros; a `timestamptz` in its column's zone, which
//! the session has set to its TimeZone, with the offset: `+00`, `-05`, `+05:30`), times,
//! floats (the shortest text that reads back exactly, `1e+300`, `Infinity`, `-0`),
//! durations (a timestamp difference is an interval of days and time: `21 days 23:59:59`),
//! intervals (fractions of a second without trailing zeros) and numeric quotients (each
//! with Postgres's scale).
//!
//! Used by `types` for result columns sent in text format and by `copy` for COPY's rows.
//! Postgres's own output functions (`timestamp_out`, `float8out`, `interval_out`) are the
//! reference; every other type's text already agrees and is left to the caller.

use std::fmt::Write as _;

use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, StringArray, StringBuilder};
use arrow::datatypes::{
    DataType, Decimal128Type, DecimalType, DurationMicrosecondType, IntervalMonthDayNanoType, IntervalUnit, TimeUnit,
};
use chrono::{DateTime, Datelike, NaiveDateTime, NaiveTime, Offset, Timelike};

/// Microseconds in a day, the unit Postgres splits a timestamp difference by.
const DAY_MICROS: i64 = 86_400_000_000;

/// True for the types whose text this module gives.
pub(super) fn has_own_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Float64
            | DataType::Float32
            | DataType::Timestamp(..)
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Duration(_)
            | DataType::Interval(_)
    )
}

/// `column` as Postgres prints it, for the types this module knows; `None` for the others.
pub(super) fn pg_text(column: &ArrayRef) -> Option<StringArray> {
    let text: StringArray = match column.data_type() {
        DataType::Float64 => {
            column.as_primitive::<arrow::datatypes::Float64Type>().iter().map(|v| v.map(float8)).collect()
        }
        DataType::Float32 => {
            column.as_primitive::<arrow::datatypes::Float32Type>().iter().map(|v| v.map(float4)).collect()
        }
        DataType::Timestamp(unit, zone) => {
            let zone = zone.as_deref().map(str::parse::<Tz>).transpose().ok()?;
            let raw = arrow::compute::cast(column, &DataType::Int64).ok()?;
            let micros =
                raw.as_primitive::<arrow::datatypes::Int64Type>().iter().map(|v| v.map(|v| to_micros(v, *unit)));
            micros.map(|v| v.map(|m| timestamp(m, zone.as_ref()))).collect()
        }
        DataType::Time32(_) | DataType::Time64(_) => {
            let micros = arrow::compute::cast(column, &DataType::Time64(TimeUnit::Microsecond)).ok()?;
            let micros = micros.as_primitive::<arrow::datatypes::Time64MicrosecondType>();
            micros.iter().map(|v| v.map(time)).collect()
        }
        DataType::Duration(_) => {
            let micros = arrow::compute::cast(column, &DataType::Duration(TimeUnit::Microsecond)).ok()?;
            micros.as_primitive::<DurationMicrosecondType>().iter().map(|v| v.map(duration)).collect()
        }
        DataType::Interval(_) => {
            let wide = arrow::compute::cast(column, &DataType::Interval(IntervalUnit::MonthDayNano)).ok()?;
            let values = wide.as_primitive::<IntervalMonthDayNanoType>();
            values.iter().map(|v| v.map(|v| interval(v.months, v.days, v.nanoseconds / 1000))).collect()
        }
        _ => return None,
    };
    Some(text)
}

/// A numeric quotient column (`sql::types::QUOTIENT`) as Postgres shows it: each value
/// rounded (half away from zero) to the scale Postgres's `select_div_scale` gives it, 16
/// significant digits for a quotient of 1 or more, 4 more for each 4 digits (one
/// base-10000 digit of Postgres's numerics) below, never fewer than `least` nor more than
/// the column holds.
pub(super) fn quotients(decimals: &Decimal128Array, least: i8) -> StringArray {
    let mut text = StringBuilder::with_capacity(decimals.len(), decimals.len() * 24);
    for value in shown_quotients(decimals, least) {
        match value {
            None => text.append_null(),
            Some((digits, scale)) => {
                text.append_value(<Decimal128Type as DecimalType>::format_decimal(digits, 38, scale as i8))
            }
        }
    }
    text.finish()
}

/// Each value of a quotient column as Postgres shows it: its digits rounded to the scale
/// [`quotients`] describes, and that scale.
pub(super) fn shown_quotients(decimals: &Decimal128Array, least: i8) -> impl Iterator<Item = Option<(i128, u32)>> + '_ {
    let held = u32::try_from(decimals.scale()).unwrap_or(0);
    let least = u32::try_from(least).unwrap_or(0);
    decimals.iter().map(move |value| {
        value.map(|v| {
            let scale = display_scale(v, held).max(least).min(held);
            (round_half_away(v, held - scale), scale)
        })
    })
}

/// A bare `numeric` column (no scale of its own; Arrow holds it with 10 decimals) without
/// trailing fractional zeros: `12.3400000000` is `12.34`.
pub(super) fn trimmed_numerics(decimals: &Decimal128Array) -> StringArray {
    let mut text = StringBuilder::with_capacity(decimals.len(), decimals.len() * 8);
    for i in 0..decimals.len() {
        if decimals.is_null(i) {
            text.append_null();
            continue;
        }
        let shown = decimals.value_as_string(i);
        let trimmed = if shown.contains('.') { shown.trim_end_matches('0').trim_end_matches('.') } else { &shown };
        text.append_value(trimmed);
    }
    text.finish()
}

/// Postgres's scale for a quotient `value` (of scale `held`): 16 - 4 × its weight in
/// base-10000 digits.
fn display_scale(value: i128, held: u32) -> u32 {
    let magnitude = value.unsigned_abs();
    let one = 10u128.pow(held);
    if magnitude == 0 {
        return 20;
    }
    if magnitude >= one {
        let integer_digits = (magnitude / one).ilog10() + 1;
        return 16u32.saturating_sub(4 * ((integer_digits - 1) / 4));
    }
    // Zeros after the point before the first digit.
    let zeros = held - (magnitude.ilog10() + 1);
    16 + 4 * (zeros / 4 + 1)
}

/// `value` with its last `digits` digits rounded off, half away from zero.
fn round_half_away(value: i128, digits: u32) -> i128 {
    if digits == 0 {
        return value;
    }
    let unit = 10i128.pow(digits);
    let (quotient, remainder) = (value / unit, value % unit);
    if remainder.abs() * 2 >= unit { quotient + value.signum() } else { quotient }
}

/// A timestamp's microseconds; nanoseconds rounded half up, as Postgres rounds input with
/// more digits than it keeps.
fn to_micros(value: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => value.saturating_mul(1_000_000),
        TimeUnit::Millisecond => value.saturating_mul(1_000),
        TimeUnit::Microsecond => value,
        TimeUnit::Nanosecond => value.saturating_add(500).div_euclid(1_000),
    }
}

/// `float8out`: the shortest text that reads back to the same value.
pub(super) fn float8(v: f64) -> String {
    special(v).unwrap_or_else(|| shortest(&format!("{v:e}"), 15))
}

/// `float4out`, with a float4's precision.
pub(super) fn float4(v: f32) -> String {
    special(f64::from(v)).unwrap_or_else(|| shortest(&format!("{v:e}"), 6))
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else if v == 0.0 {
        Some(if v.is_sign_negative() { "-0" } else { "0" }.into())
    } else {
        None
    }
}

/// Rust's shortest scientific form (`1.2345e17`) laid out as Postgres does: plain digits
/// when the decimal exponent is in `-4..max_exponent`, else `d.ddde+XX` with at least two
/// exponent digits.
fn shortest(scientific: &str, max_exponent: i32) -> String {
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..max_exponent).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}e{exp_sign}{:02}", exponent.abs());
    }
    let point = exponent + 1;
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    };
    format!("{sign}{text}")
}

/// `timestamp_out` (ISO DateStyle); a `timestamptz` (`zone` given) is shown in that zone,
/// with its offset at that instant.
fn timestamp(micros: i64, zone: Option<&Tz>) -> String {
    let Some(at) = DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    let (local, offset) = match zone {
        Some(zone) => {
            let local = at.with_timezone(zone);
            (local.naive_local(), Some(local.offset().fix().local_minus_utc()))
        }
        None => (at.naive_utc(), None),
    };
    let mut text = date_time(&local);
    if let Some(offset) = offset {
        push_offset(&mut text, offset);
    }
    if local.year() <= 0 {
        text.push_str(" BC");
    }
    text
}

/// A zone's offset from UTC as Postgres prints it: `+00`, `-05`, `+05:30`, `+00:09:21`.
fn push_offset(text: &mut String, seconds: i32) {
    let sign = if seconds < 0 { '-' } else { '+' };
    let seconds = seconds.unsigned_abs();
    let _ = write!(text, "{sign}{:02}", seconds / 3600);
    if !seconds.is_multiple_of(3600) {
        let _ = write!(text, ":{:02}", seconds / 60 % 60);
    }
    if !seconds.is_multiple_of(60) {
        let _ = write!(text, ":{:02}", seconds % 60);
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, the year counted as Postgres counts BC years.
fn date_time(at: &NaiveDateTime) -> String {
    let year = if at.year() <= 0 { 1 - at.year() } else { at.year() };
    let mut text = format!("{year:04}-{:02}-{:02} ", at.month(), at.day());
    push_time(&mut text, at.time());
    text
}

/// `HH:MM:SS` and the fraction of a second without trailing zeros.
fn push_time(text: &mut String, time: NaiveTime) {
    let _ = write!(text, "{:02}:{:02}:{:02}", time.hour(), time.minute(), time.second());
    push_fraction(text, i64::from(time.nanosecond() / 1000));
}

fn push_fraction(text: &mut String, micros: i64) {
    if micros != 0 {
        let fraction = format!("{micros:06}");
        let _ = write!(text, ".{}", fraction.trim_end_matches('0'));
    }
}

/// `time_out`.
fn time(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let mut text = format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    push_fraction(&mut text, micros.rem_euclid(1_000_000));
    text
}

/// A timestamp difference as Postgres's `interval_out` shows it: whole days, then the time.
fn duration(micros: i64) -> String {
    let days = micros / DAY_MICROS;
    interval(0, i32::try_from(days).unwrap_or(i32::MAX), micros % DAY_MICROS)
}

/// `interval_out` in the default IntervalStyle (`postgres`): `1 year 2 mons -3 days
/// +04:05:06.5`. Each nonzero field carries its own sign, a positive one after a negative
/// one a `+`; the time is shown when nonzero or when every field is zero.
pub(super) fn interval(months: i32, days: i32, micros: i64) -> String {
    let mut text = String::new();
    let mut after_negative = false;
    for (value, unit) in [(i64::from(months / 12), "year"), (i64::from(months % 12), "mon"), (i64::from(days), "day")] {
        if value == 0 {
            continue;
        }
        let space = if text.is_empty() { "" } else { " " };
        let plus = if after_negative && value > 0 { "+" } else { "" };
        let plural = if value == 1 { "" } else { "s" };
        let _ = write!(text, "{space}{plus}{value} {unit}{plural}");
        after_negative = value < 0;
    }
    if text.is_empty() || micros != 0 {
        let sign = if micros < 0 {
            "-"
        } else if after_negative {
            "+"
        } else {
            ""
        };
        let space = if text.is_empty() { "" } else { " " };
        let abs = micros.unsigned_abs();
        let seconds = abs / 1_000_000;
        let _ = write!(text, "{space}{sign}{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
        push_fraction(&mut text, (abs % 1_000_000) as i64);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        DurationMicrosecondArray, Time64MicrosecondArray, TimestampMicrosecondArray, TimestampNanosecondArray,
    };

    use super::*;

    fn texts(column: ArrayRef) -> Vec<Option<String>> {
        pg_text(&column).expect("a known type").iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn floats_are_shortest_and_spelled_as_postgres_does() {
        let cases = [
            (0.1, "0.1"),
            (3.0, "3"),
            (1e300, "1e+300"),
            (13537.372, "13537.372"),
            (1e-7, "1e-07"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (-3.75, "-3.75"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (-0.0, "-0"),
        ];
        for (value, shown) in cases {
            assert_eq!(float8(value), shown, "{value:?}");
        }
        assert_eq!(float4(1.1), "1.1");
        assert_eq!(float4(123456789.0), "1.2345679e+08");
        assert_eq!(float4(1e10), "1e+10");
        assert_eq!(float4(3.4e38), "3.4e+38");
        assert_eq!(float4(100000.0), "100000");
    }

    #[test]
    fn timestamps_drop_trailing_zeros_and_round_nanoseconds() {
        let nanos = [1_641_031_200_000_000_000, 1_641_031_200_500_000_000, 1_641_031_200_123_456_700];
        let plain: ArrayRef =
            Arc::new(TimestampNanosecondArray::from(vec![Some(nanos[0]), Some(nanos[1]), Some(nanos[2]), None]));
        assert_eq!(
            texts(plain),
            vec![
                Some("2022-01-01 10:00:00".into()),
                Some("2022-01-01 10:00:00.5".into()),
                Some("2022-01-01 10:00:00.123457".into()),
                None
            ]
        );
        // Year 0 is 1 BC.
        let micros = vec![1_641_031_200_000_000, -62_167_219_200_000_000];
        let zoned: ArrayRef = Arc::new(TimestampMicrosecondArray::from(micros).with_timezone("UTC"));
        assert_eq!(texts(zoned), vec![Some("2022-01-01 10:00:00+00".into()), Some("0001-01-01 00:00:00+00 BC".into())]);
        // In the column's zone, with its offset at that instant.
        let instants = vec![1_641_031_200_000_000, 1_656_669_600_000_000];
        let new_york: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(instants.clone()).with_timezone("America/New_York"));
        assert_eq!(texts(new_york), vec![Some("2022-01-01 05:00:00-05".into()), Some("2022-07-01 06:00:00-04".into())]);
        let kolkata: ArrayRef = Arc::new(TimestampMicrosecondArray::from(instants).with_timezone("Asia/Kolkata"));
        assert_eq!(texts(kolkata)[0], Some("2022-01-01 15:30:00+05:30".into()));
    }

    #[test]
    fn intervals_read_as_in_postgres() {
        assert_eq!(interval(0, 0, 0), "00:00:00");
        assert_eq!(interval(14, 3, 14_706_789_000), "1 year 2 mons 3 days 04:05:06.789");
        assert_eq!(interval(0, -1, 7_200_000_000), "-1 days +02:00:00");
        assert_eq!(interval(-1, 1, -1), "-1 mons +1 day -00:00:00.000001");
        assert_eq!(interval(0, 0, 129_600_000_000), "36:00:00");
        assert_eq!(interval(12, 0, 0), "1 year");
    }

    #[test]
    fn times_and_durations_read_as_in_postgres() {
        let times: ArrayRef = Arc::new(Time64MicrosecondArray::from(vec![36_000_000_000, 45_296_500_000]));
        assert_eq!(texts(times), vec![Some("10:00:00".into()), Some("12:34:56.5".into())]);
        let gap = (21 * 86_400 + 23 * 3600 + 59 * 60 + 59) * 1_000_000;
        let durations: ArrayRef = Arc::new(DurationMicrosecondArray::from(vec![gap, -gap, 500_000, 0]));
        assert_eq!(
            texts(durations),
            vec![
                Some("21 days 23:59:59".into()),
                Some("-21 days -23:59:59".into()),
                Some("00:00:00.5".into()),
                Some("00:00:00".into())
            ]
        );
    }
}
