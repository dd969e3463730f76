//! Postgres's `to_char(timestamp, pattern)`: the template patterns of Postgres's
//! formatting functions (`YYYY-MM-DD HH24:MI:SS`, `FMMonth DD, YYYY`, `Dy`, `HH12:MI AM`,
//! `"quoted text"`, `IW`, `Q`, ...). DataFusion's `to_char` reads chrono's `%Y` patterns
//! instead and gives a Postgres pattern back unchanged, which is a silently wrong answer.
//!
//! `Engine::open` calls [`register`], which replaces DataFusion's `to_char` with
//! [`ToChar`] for dates, timestamps and `timestamptz` (in UTC, the session's zone).
//! A pattern is read once per distinct text into [`Node`]s, then written for every row.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Replaces `to_char` on `ctx`.
pub(super) fn register(ctx: &SessionContext) {
    // DataFusion's `to_char` is also `date_format`: taking that name too leaves no copy of
    // it that a later rebuild of the session's functions could put back as `to_char`.
    ctx.register_udf(ScalarUDF::new_from_impl(ToChar::new()).with_aliases(["date_format"]));
}

/// `to_char(date | timestamp | timestamptz, text)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToChar {
    signature: Signature,
}

impl ToChar {
    fn new() -> ToChar {
        ToChar { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    /// A date or timestamp (text read as a timestamp), and a pattern as text.
    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let value = match args.first() {
            Some(DataType::Timestamp(_, zone)) => DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
            Some(DataType::Date32 | DataType::Date64 | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
                DataType::Timestamp(TimeUnit::Microsecond, None)
            }
            Some(DataType::Null) => DataType::Timestamp(TimeUnit::Microsecond, None),
            other => {
                return Err(DataFusionError::Plan(format!(
                    "function to_char({}, text) does not exist: to_char takes a date or a timestamp",
                    other.map_or("".to_string(), |t| t.to_string())
                )));
            }
        };
        if args.len() != 2 {
            return Err(DataFusionError::Plan("function to_char takes a value and a pattern".into()));
        }
        Ok(vec![value, DataType::Utf8])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value, pattern] = args.args.as_slice() else {
            return Err(DataFusionError::Plan("to_char takes a value and a pattern".into()));
        };
        let scalars = matches!((value, pattern), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
        let rows = if scalars { 1 } else { args.number_rows };
        let times = value.to_array(rows)?;
        let times = arrow::compute::cast(&times, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let times = times
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            .ok_or_else(|| DataFusionError::Internal("to_char: timestamp cast did not give microseconds".into()))?;
        let patterns = pattern.to_array(rows)?;
        let patterns = arrow::compute::cast(&patterns, &DataType::Utf8)?;
        let patterns = patterns
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .ok_or_else(|| DataFusionError::Internal("to_char: pattern is not text".into()))?;
        let zoned = matches!(value.data_type(), DataType::Timestamp(_, Some(_)));
        let mut out = StringBuilder::new();
        let mut parsed: Option<(String, Vec<Node>)> = None;
        for row in 0..rows {
            if times.is_null(row) || patterns.is_null(row) {
                out.append_null();
                continue;
            }
            let text = patterns.value(row);
            if parsed.as_ref().is_none_or(|(t, _)| t != text) {
                parsed = Some((text.to_string(), parse(text)));
            }
            let nodes = parsed.as_ref().map(|(_, n)| n.as_slice()).unwrap_or_default();
            let micros = times.value(row);
            let Some(time) = chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc()) else {
                return Err(DataFusionError::Execution("timestamp out of range".into()));
            };
            out.append_value(format(nodes, &time, micros, zoned));
        }
        let result: ArrayRef = Arc::new(out.finish());
        if scalars {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Text copied as it is.
    Text(String),
    /// A field, with the `FM` (no padding) prefix and the `TH`/`th` suffix.
    Field { field: Field, fill: bool, ordinal: Option<bool> },
}

/// The fields of Postgres's date/time patterns. Letter case matters only where the output
/// has case (`MONTH`, `Month`, `month`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Hour24,
    Hour12,
    Minute,
    Second,
    Millis,
    Micros,
    Fraction(u8),
    SecondsOfDay,
    Meridiem { upper: bool, dots: bool },
    Era { upper: bool, dots: bool },
    YearComma,
    Year(u8),
    IsoYear(u8),
    Month(Case),
    MonthShort(Case),
    MonthNumber,
    Roman { upper: bool },
    Day(Case),
    DayShort(Case),
    DayOfYear,
    IsoDayOfYear,
    DayOfMonth,
    DayOfWeek,
    IsoDayOfWeek,
    WeekOfMonth,
    WeekOfYear,
    IsoWeek,
    Century,
    Julian,
    Quarter,
    Zone { upper: bool },
    ZoneHours,
    ZoneMinutes,
    Offset,
}

/// How a name is written: `MONTH`, `Month` or `month`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Upper,
    Title,
    Lower,
}

/// The patterns, longest first where one starts another (as Postgres matches them).
/// Case-insensitive unless the entry says its case.
const PATTERNS: &[(&str, Field)] = &[
    ("HH24", Field::Hour24),
    ("HH12", Field::Hour12),
    ("HH", Field::Hour12),
    ("MI", Field::Minute),
    ("SSSSS", Field::SecondsOfDay),
    ("SSSS", Field::SecondsOfDay),
    ("SS", Field::Second),
    ("MS", Field::Millis),
    ("US", Field::Micros),
    ("FF1", Field::Fraction(1)),
    ("FF2", Field::Fraction(2)),
    ("FF3", Field::Fraction(3)),
    ("FF4", Field::Fraction(4)),
    ("FF5", Field::Fraction(5)),
    ("FF6", Field::Fraction(6)),
    ("Y,YYY", Field::YearComma),
    ("YYYY", Field::Year(4)),
    ("YYY", Field::Year(3)),
    ("YY", Field::Year(2)),
    ("Y", Field::Year(1)),
    ("IYYY", Field::IsoYear(4)),
    ("IYY", Field::IsoYear(3)),
    ("IY", Field::IsoYear(2)),
    ("IDDD", Field::IsoDayOfYear),
    ("ID", Field::IsoDayOfWeek),
    ("IW", Field::IsoWeek),
    ("I", Field::IsoYear(1)),
    ("MM", Field::MonthNumber),
    ("DDD", Field::DayOfYear),
    ("DD", Field::DayOfMonth),
    ("D", Field::DayOfWeek),
    ("WW", Field::WeekOfYear),
    ("W", Field::WeekOfMonth),
    ("CC", Field::Century),
    ("J", Field::Julian),
    ("Q", Field::Quarter),
    ("OF", Field::Offset),
];

/// The zone's hours and minutes, matched before the cased `TZ`.
const ZONE_PARTS: &[(&str, Field)] = &[("TZH", Field::ZoneHours), ("TZM", Field::ZoneMinutes)];

/// Patterns whose letter case sets the output's, matched exactly.
const CASED: &[(&str, Field)] = &[
    ("MONTH", Field::Month(Case::Upper)),
    ("Month", Field::Month(Case::Title)),
    ("month", Field::Month(Case::Lower)),
    ("MON", Field::MonthShort(Case::Upper)),
    ("Mon", Field::MonthShort(Case::Title)),
    ("mon", Field::MonthShort(Case::Lower)),
    ("DAY", Field::Day(Case::Upper)),
    ("Day", Field::Day(Case::Title)),
    ("day", Field::Day(Case::Lower)),
    ("DY", Field::DayShort(Case::Upper)),
    ("Dy", Field::DayShort(Case::Title)),
    ("dy", Field::DayShort(Case::Lower)),
    ("A.M.", Field::Meridiem { upper: true, dots: true }),
    ("P.M.", Field::Meridiem { upper: true, dots: true }),
    ("a.m.", Field::Meridiem { upper: false, dots: true }),
    ("p.m.", Field::Meridiem { upper: false, dots: true }),
    ("AM", Field::Meridiem { upper: true, dots: false }),
    ("PM", Field::Meridiem { upper: true, dots: false }),
    ("am", Field::Meridiem { upper: false, dots: false }),
    ("pm", Field::Meridiem { upper: false, dots: false }),
    ("A.D.", Field::Era { upper: true, dots: true }),
    ("B.C.", Field::Era { upper: true, dots: true }),
    ("a.d.", Field::Era { upper: false, dots: true }),
    ("b.c.", Field::Era { upper: false, dots: true }),
    ("AD", Field::Era { upper: true, dots: false }),
    ("BC", Field::Era { upper: true, dots: false }),
    ("ad", Field::Era { upper: false, dots: false }),
    ("bc", Field::Era { upper: false, dots: false }),
    ("RM", Field::Roman { upper: true }),
    ("rm", Field::Roman { upper: false }),
    ("TZ", Field::Zone { upper: true }),
    ("tz", Field::Zone { upper: false }),
];

/// Reads a pattern into nodes.
fn parse(pattern: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut rest = pattern;
    let mut text = String::new();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (literal, after) = read_quoted(quoted);
            text.push_str(&literal);
            rest = after;
            continue;
        }
        if let Some(escaped) = rest.strip_prefix("\\\"") {
            text.push('"');
            rest = escaped;
            continue;
        }
        let (fill, body) = match strip_prefix_ignore_case(rest, "FM") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let body =
            strip_prefix_ignore_case(body, "TM").or_else(|| strip_prefix_ignore_case(body, "FX")).unwrap_or(body);
        if let Some((field, after)) = field_at(body) {
            if !text.is_empty() {
                nodes.push(Node::Text(std::mem::take(&mut text)));
            }
            let (ordinal, after) = match after {
                a if a.starts_with("TH") => (Some(true), &a[2..]),
                a if a.starts_with("th") => (Some(false), &a[2..]),
                a => (None, a),
            };
            nodes.push(Node::Field { field, fill, ordinal });
            rest = after;
            continue;
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            text.push(c);
        }
        rest = chars.as_str();
    }
    if !text.is_empty() {
        nodes.push(Node::Text(text));
    }
    nodes
}

/// The text of a quoted literal (`\"` is a quote) and what follows its closing quote.
fn read_quoted(quoted: &str) -> (String, &str) {
    let mut literal = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (literal, &quoted[i + 1..]),
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    literal.push(next);
                }
            }
            other => literal.push(other),
        }
    }
    (literal, "")
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// The field a pattern starts with, and the rest.
fn field_at(text: &str) -> Option<(Field, &str)> {
    // `TZH` before the cased `TZ`; the cased names before the patterns that start them
    // (`DAY` before `DD` and `D`).
    let ignoring_case = |patterns: &'static [(&str, Field)]| {
        patterns.iter().find_map(|(name, field)| Some((*field, strip_prefix_ignore_case(text, name)?)))
    };
    ignoring_case(ZONE_PARTS)
        .or_else(|| CASED.iter().find_map(|(name, field)| Some((*field, text.strip_prefix(name)?))))
        .or_else(|| ignoring_case(PATTERNS))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const ROMAN: [&str; 12] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"];

/// Writes `time` by `nodes`.
fn format(nodes: &[Node], time: &NaiveDateTime, micros: i64, zoned: bool) -> String {
    let mut out = String::new();
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Field { field, fill, ordinal } => {
                let (text, number) = field_text(*field, time, micros, zoned, *fill);
                out.push_str(&text);
                if let (Some(upper), Some(n)) = (ordinal, number) {
                    let suffix = ordinal_suffix(n);
                    out.push_str(&if *upper { suffix.to_uppercase() } else { suffix.to_string() });
                }
            }
        }
    }
    out
}

/// The text of one field, and its number when it has one (for `TH`).
fn field_text(field: Field, t: &NaiveDateTime, micros: i64, zoned: bool, fill: bool) -> (String, Option<i64>) {
    let pad = |n: i64, width: usize| -> (String, Option<i64>) {
        let text = if fill {
            n.to_string()
        } else if n < 0 {
            format!("-{:0width$}", -n, width = width)
        } else {
            format!("{n:0width$}")
        };
        (text, Some(n))
    };
    let name = |name: &str, case: Case, width: usize| -> (String, Option<i64>) {
        let cased = match case {
            Case::Upper => name.to_uppercase(),
            Case::Title => name.to_string(),
            Case::Lower => name.to_lowercase(),
        };
        (if fill { cased } else { format!("{cased:<width$}") }, None)
    };
    let year = i64::from(t.year());
    let display_year = if year <= 0 { 1 - year } else { year };
    let fraction = micros.rem_euclid(1_000_000);
    match field {
        Field::Hour24 => pad(i64::from(t.hour()), 2),
        Field::Hour12 => pad(
            i64::from(match t.hour() % 12 {
                0 => 12,
                h => h,
            }),
            2,
        ),
        Field::Minute => pad(i64::from(t.minute()), 2),
        Field::Second => pad(i64::from(t.second()), 2),
        Field::Millis => pad(fraction / 1000, 3),
        Field::Micros => pad(fraction, 6),
        Field::Fraction(digits) => pad(fraction / 10_i64.pow(6 - u32::from(digits)), usize::from(digits)),
        Field::SecondsOfDay => pad(i64::from(t.num_seconds_from_midnight()), 0),
        Field::Meridiem { upper, dots } => {
            let pm = t.hour() >= 12;
            let text = match (pm, dots) {
                (false, false) => "AM",
                (true, false) => "PM",
                (false, true) => "A.M.",
                (true, true) => "P.M.",
            };
            (if upper { text.to_string() } else { text.to_lowercase() }, None)
        }
        Field::Era { upper, dots } => {
            let text = match (year > 0, dots) {
                (true, false) => "AD",
                (false, false) => "BC",
                (true, true) => "A.D.",
                (false, true) => "B.C.",
            };
            (if upper { text.to_string() } else { text.to_lowercase() }, None)
        }
        Field::YearComma => (format!("{},{:03}", display_year / 1000, display_year % 1000), Some(display_year)),
        Field::Year(4) => pad(display_year, 4),
        Field::Year(digits) => last_digits(display_year, digits, fill),
        Field::IsoYear(4) => pad(i64::from(t.iso_week().year()), 4),
        Field::IsoYear(digits) => last_digits(i64::from(t.iso_week().year()), digits, fill),
        Field::Month(case) => name(MONTHS[t.month0() as usize], case, 9),
        Field::MonthShort(case) => name(&MONTHS[t.month0() as usize][..3], case, 3),
        Field::MonthNumber => pad(i64::from(t.month()), 2),
        Field::Roman { upper } => {
            let numeral = ROMAN[t.month0() as usize];
            let numeral = if upper { numeral.to_string() } else { numeral.to_lowercase() };
            (if fill { numeral } else { format!("{numeral:<4}") }, None)
        }
        Field::Day(case) => name(DAYS[t.weekday().num_days_from_sunday() as usize], case, 9),
        Field::DayShort(case) => name(&DAYS[t.weekday().num_days_from_sunday() as usize][..3], case, 3),
        Field::DayOfYear => pad(i64::from(t.ordinal()), 3),
        Field::IsoDayOfYear => {
            let week = i64::from(t.iso_week().week());
            pad((week - 1) * 7 + i64::from(t.weekday().number_from_monday()), 3)
        }
        Field::DayOfMonth => pad(i64::from(t.day()), 2),
        Field::DayOfWeek => pad(i64::from(t.weekday().number_from_sunday()), 0),
        Field::IsoDayOfWeek => pad(i64::from(t.weekday().number_from_monday()), 0),
        Field::WeekOfMonth => pad(i64::from((t.day() - 1) / 7 + 1), 0),
        Field::WeekOfYear => pad(i64::from((t.ordinal() - 1) / 7 + 1), 2),
        Field::IsoWeek => pad(i64::from(t.iso_week().week()), 2),
        Field::Century => {
            let century = if year > 0 { (year + 99) / 100 } else { -((99 - (year - 1)) / 100) };
            pad(century, 2)
        }
        Field::Julian => pad(i64::from(t.date().num_days_from_ce()) + 1_721_425, 0),
        Field::Quarter => pad(i64::from(t.month0() / 3 + 1), 0),
        Field::Zone { upper } => {
            let zone = if zoned { "UTC" } else { "" };
            (if upper { zone.to_string() } else { zone.to_lowercase() }, None)
        }
        Field::ZoneHours => (if zoned { "+00".into() } else { String::new() }, None),
        Field::ZoneMinutes => (if zoned { "00".into() } else { String::new() }, None),
        Field::Offset => (if zoned { "+00".into() } else { String::new() }, None),
    }
}

/// The last `digits` digits of a year (`YY`), zero-padded unless `FM`.
fn last_digits(year: i64, digits: u8, fill: bool) -> (String, Option<i64>) {
    let n = year % 10_i64.pow(u32::from(digits));
    let text = if fill { n.to_string() } else { format!("{n:0width$}", width = usize::from(digits)) };
    (text, Some(n))
}

/// `st`, `nd`, `rd` or `th` after a number, in English.
fn ordinal_suffix(n: i64) -> &'static str {
    match (n % 100, n % 10) {
        (11..=13, _) => "th",
        (_, 1) => "st",
        (_, 2) => "nd",
        (_, 3) => "rd",
        _ => "th",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(time: &str, pattern: &str) -> String {
        let time = NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S%.f").expect("a time");
        let micros = time.and_utc().timestamp_micros();
        format(&parse(pattern), &time, micros, false)
    }

    #[test]
    fn postgres_patterns() {
        let t = "2022-01-23 21:05:09.123456";
        assert_eq!(text(t, "YYYY-MM-DD HH24:MI:SS"), "2022-01-23 21:05:09");
        assert_eq!(text(t, "HH12:MI:SS AM"), "09:05:09 PM");
        assert_eq!(text(t, "YYYY\"Q\"Q"), "2022Q1");
        assert_eq!(text(t, "MS US"), "123 123456");
        assert_eq!(text(t, "FMMonth DD, YYYY"), "January 23, 2022");
        assert_eq!(text(t, "Month|Day|Dy|MON|mon"), "January  |Sunday   |Sun|JAN|jan");
        assert_eq!(text(t, "DDD IW ID D WW W CC J"), "023 03 7 1 04 4 21 2459603");
        assert_eq!(text(t, "FMDDth FMDDTH"), "23rd 23RD");
        assert_eq!(text(t, "yyyy-mm-dd hh24:mi"), "2022-01-23 21:05");
        assert_eq!(text(t, "Y,YYY RM rm"), "2,022 I    i   ");
        assert_eq!(text("2015-07-15 00:00:01", "YYYY-MM-DD HH12 am"), "2015-07-15 12 am");
    }
}
