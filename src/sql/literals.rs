//! Postgres input syntax for string literals cast to `bytea`, `interval` and `time`, which
//! DataFusion reads differently: `'\x0001ff'::bytea` is three bytes in Postgres (DataFusion
//! would keep the eight characters), `'3 days 04:00:00'::interval` is Postgres's own
//! output format, which DataFusion's interval parser refuses, and Postgres ignores a zone
//! in `time` input (`'13:14:15+01'`, as pgjdbc's `setTime` sends it).
//!
//! [`PostgresLiterals`] is an analyzer rule that `sql::semantics::register` installs: it turns
//! such casts of a literal into the literal value. A cast of a column keeps DataFusion's
//! semantics, and so does any text DataFusion already reads the way Postgres does. The
//! server reads text parameters cast to these types with [`postgres_input`] too.

use arrow::datatypes::{DataType, IntervalUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Cast, Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

/// Rewrites casts of string literals to `bytea` and `interval` (see the module doc).
#[derive(Debug, Default)]
pub struct PostgresLiterals;

impl AnalyzerRule for PostgresLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let rewritten = expr.transform_up(rewrite_cast)?;
                Ok(if rewritten.transformed { rewritten.update_data(|e| saved.restore(e)) } else { rewritten })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "sluice_postgres_literals"
    }
}

/// The literal a cast of a string literal stands for in Postgres, when DataFusion would
/// read it otherwise.
fn rewrite_cast(expr: Expr) -> Result<Transformed<Expr>> {
    let Expr::Cast(Cast { expr: inner, field }) = &expr else { return Ok(Transformed::no(expr)) };
    let Expr::Literal(ScalarValue::Utf8(Some(text)) | ScalarValue::LargeUtf8(Some(text)), _) = inner.as_ref() else {
        return Ok(Transformed::no(expr));
    };
    match postgres_input(text, field.data_type()) {
        Some(value) => Ok(Transformed::yes(Expr::Literal(value?, None))),
        None => Ok(Transformed::no(expr)),
    }
}

/// `text` read as a value of `data_type` the way Postgres reads it, when DataFusion would
/// read it otherwise (`None`: DataFusion's cast is right). Also used for text parameters.
pub fn postgres_input(text: &str, data_type: &DataType) -> Option<Result<ScalarValue>> {
    match data_type {
        DataType::Binary if text.starts_with('\\') => Some(bytea(text).map(|b| ScalarValue::Binary(Some(b)))),
        DataType::Interval(IntervalUnit::MonthDayNano) => postgres_interval(text).map(Ok),
        DataType::Time32(_) | DataType::Time64(_) => {
            without_zone(text).map(|t| ScalarValue::from(t).cast_to(data_type))
        }
        _ => None,
    }
}

/// A time of day without the zone Postgres ignores in `time` input (`13:14:15+01` is
/// `13:14:15`); `None` when there is none.
fn without_zone(text: &str) -> Option<&str> {
    let at = text.find(['+', '-'])?;
    let zone = &text[at + 1..];
    let is_zone = !zone.is_empty() && zone.chars().all(|c| c.is_ascii_digit() || c == ':');
    is_zone.then(|| text[..at].trim_end())
}

/// The bytes of Postgres's `bytea` input: hex (`\x0001ff`) or escape (`a\\b\001`) format.
fn bytea(text: &str) -> Result<Vec<u8>> {
    let invalid = || DataFusionError::Execution(format!("invalid input syntax for type bytea: \"{text}\""));
    if let Some(hex) = text.strip_prefix("\\x") {
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !digits.len().is_multiple_of(2) {
            return Err(invalid());
        }
        let pairs =
            digits.chunks(2).map(|pair| std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()));
        return pairs.collect::<Option<Vec<u8>>>().ok_or_else(invalid);
    }
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first != b'\\' {
            bytes.push(first);
            rest = tail;
        } else if let Some(tail) = tail.strip_prefix(b"\\") {
            bytes.push(b'\\');
            rest = tail;
        } else {
            let octal = tail.get(..3).and_then(|o| std::str::from_utf8(o).ok()).ok_or_else(invalid)?;
            bytes.push(u8::from_str_radix(octal, 8).map_err(|_| invalid())?);
            rest = &tail[3..];
        }
    }
    Ok(bytes)
}

/// An interval in Postgres's output format (`3 days 04:00:00.000005`, `-1 mons`) that
/// DataFusion does not read; `None` when DataFusion reads it (or nobody does).
fn postgres_interval(text: &str) -> Option<ScalarValue> {
    let as_text = ScalarValue::Utf8(Some(text.to_string()));
    if as_text.cast_to(&DataType::Interval(IntervalUnit::MonthDayNano)).is_ok() {
        return None;
    }
    let interval = pg_interval::Interval::from_postgres(text).ok()?;
    let nanos = interval.microseconds.checked_mul(1000)?;
    Some(ScalarValue::new_interval_mdn(interval.months, interval.days, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytea_reads_hex_and_escape_formats() {
        assert_eq!(bytea("\\x0001ff").expect("hex"), vec![0, 1, 255]);
        assert_eq!(bytea("\\xDE AD").expect("hex with a space"), vec![0xde, 0xad]);
        assert_eq!(bytea("a\\\\b\\001").expect("escape"), vec![b'a', b'\\', b'b', 1]);
        assert!(bytea("\\x0").is_err());
        assert!(bytea("\\xzz").is_err());
        assert!(bytea("\\9").is_err());
    }

    #[test]
    fn times_drop_their_zone() {
        let time = DataType::Time64(arrow::datatypes::TimeUnit::Nanosecond);
        let expected = ScalarValue::Time64Nanosecond(Some((13 * 3600 + 14 * 60 + 15) * 1_000_000_000));
        assert_eq!(postgres_input("13:14:15+01", &time).map(|r| r.expect("reads")), Some(expected.clone()));
        assert_eq!(postgres_input("13:14:15 -05:30", &time).map(|r| r.expect("reads")), Some(expected));
        assert!(postgres_input("13:14:15", &time).is_none());
    }

    #[test]
    fn intervals_in_postgres_output_format() {
        let expected = ScalarValue::new_interval_mdn(0, 3, (4 * 3600 * 1_000_000 + 5) * 1000);
        assert_eq!(postgres_interval("3 days 04:00:00.000005"), Some(expected));
        let expected = ScalarValue::new_interval_mdn(14, -3, -(4 * 3600 + 5 * 60 + 6) * 1_000_000_000);
        assert_eq!(postgres_interval("1 year 2 mons -3 days -04:05:06"), Some(expected));
        // DataFusion reads these itself.
        assert_eq!(postgres_interval("3 days 4 hours"), None);
        assert_eq!(postgres_interval("0 years 0 mons 3 days 4 hours 5 mins 6.0 secs"), None);
        assert_eq!(postgres_interval("nonsense"), None);
    }
}
