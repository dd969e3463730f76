//! Number literals as Postgres reads them. A literal with a fraction or an exponent is a
//! `numeric` in Postgres (`0.1 + 0.2` is `0.3`, `1.10 * 3` is `3.30`); the engine's
//! session makes DataFusion read such literals as decimals
//! (`datafusion.sql_parser.parse_float_as_decimal`), which it does from their digits, but
//! an exponent gives it a negative scale or one past Arrow's limits (`1e10`, `1e-40`).
//!
//! [`rewrite`] therefore writes every literal with an exponent in plain digits, with the
//! scale Postgres gives it (`2.5e-3` is `0.0025`; `1.5e3` is `1500.`, a `numeric` of scale
//! 0, with a point so it is not read as an integer). An integer too large for a `bigint`
//! gets the point too: Postgres makes it a `numeric` (DataFusion: an unsigned integer). A
//! literal with more digits than a decimal holds (76) becomes a `float8` (`1e308`), where
//! Postgres would still have a `numeric`.
//!
//! An integer that fits in 32 bits is an `integer` in Postgres and a `bigint` in
//! DataFusion: [`IntegerLiterals`], an analyzer rule that `sql::semantics::register` installs
//! before type coercion, narrows such literals, so `2147483647 + 1` overflows and
//! `pg_typeof(1)` is `integer`, as in Postgres.
//!
//! `super::parser::parse` calls [`rewrite`] on the tokens of every SQL text.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan, Values};
use datafusion::optimizer::AnalyzerRule;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

/// The most digits a decimal holds (Arrow's `Decimal256`).
const MAX_DIGITS: usize = 76;

/// `tokens` with every number literal that has an exponent written out (module doc).
pub fn rewrite(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let rewritten = |t: &TokenWithSpan| matches!(&t.token, Token::Number(n, _) if has_exponent(n) || beyond_bigint(n));
    if !tokens.iter().any(rewritten) {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len());
    for token in tokens {
        match &token.token {
            // Read as a number with a zero exponent: its digits, or a float past 76 of them.
            Token::Number(n, _) if beyond_bigint(n) => match plain(&format!("{n}e0")) {
                Some(Some(digits)) => out.push(TokenWithSpan::wrap(numeric(digits))),
                Some(None) => out.extend(float8(n).into_iter().map(TokenWithSpan::wrap)),
                None => out.push(token),
            },
            Token::Number(n, _) if has_exponent(n) => match plain(n) {
                Some(Some(digits)) => out.push(TokenWithSpan::wrap(numeric(digits))),
                Some(None) => out.extend(float8(n).into_iter().map(TokenWithSpan::wrap)),
                None => out.push(token),
            },
            _ => out.push(token),
        }
    }
    out
}

fn has_exponent(number: &str) -> bool {
    number.contains(['e', 'E'])
}

/// Whether `number` is an integer too large for a `bigint`.
fn beyond_bigint(number: &str) -> bool {
    if !number.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return false;
    }
    let digits = if number.contains('_') { Cow::Owned(number.replace('_', "")) } else { Cow::Borrowed(number) };
    digits.parse::<i64>().is_err()
}

/// A number in plain digits: the digits before the point and after it (Postgres's scale).
#[derive(Debug, PartialEq)]
struct Plain {
    whole: String,
    fraction: String,
}

/// `number` (`1.5e-3`) in plain digits; `Some(None)` when it has more digits than a
/// decimal holds, `None` when it is not a number with an exponent.
fn plain(number: &str) -> Option<Option<Plain>> {
    let number = number.replace('_', "");
    let (mantissa, exponent) = number.split_once(['e', 'E'])?;
    let exponent: i64 = exponent.parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !(whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())) || whole.len() + fraction.len() == 0 {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    // The position of the point in `digits` once the exponent is applied.
    let point = whole.len() as i64 + exponent;
    let scale = (fraction.len() as i64 - exponent).max(0);
    if point.unsigned_abs() > MAX_DIGITS as u64 || scale > MAX_DIGITS as i64 {
        return Some(None);
    }
    let (whole, fraction) = if point <= 0 {
        (String::new(), format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)))
    } else if point as usize >= digits.len() {
        (format!("{digits}{}", "0".repeat(point as usize - digits.len())), String::new())
    } else {
        (digits[..point as usize].to_string(), digits[point as usize..].to_string())
    };
    let whole = whole.trim_start_matches('0');
    let plain = Plain { whole: if whole.is_empty() { "0".into() } else { whole.into() }, fraction };
    Some((plain.whole.len() + plain.fraction.len() <= MAX_DIGITS).then_some(plain))
}

/// The `numeric` literal of these digits: with a point, even with no digit after it
/// (module doc).
fn numeric(plain: Plain) -> Token {
    Token::Number(format!("{}.{}", plain.whole, plain.fraction), false)
}

/// `number` as a `float8`.
fn float8(number: &str) -> Vec<Token> {
    cast(Token::SingleQuotedString(number.into()), vec![Token::make_keyword("FLOAT8")])
}

/// `CAST(value AS type)`.
fn cast(value: Token, data_type: Vec<Token>) -> Vec<Token> {
    let mut tokens = vec![Token::make_keyword("CAST"), Token::LParen, value, Token::make_keyword("AS")];
    tokens.extend(data_type);
    tokens.push(Token::RParen);
    tokens
}

/// Narrows `bigint` literals that fit in 32 bits to `integer`s (module doc).
#[derive(Debug, Default)]
pub struct IntegerLiterals;

impl AnalyzerRule for IntegerLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        // A recursive query's work table keeps the types it was planned with.
        if plan.exists(|node| Ok(matches!(node, LogicalPlan::RecursiveQuery(_))))? {
            return Ok(plan);
        }
        plan.transform_up_with_subqueries(|node| {
            match node {
                // LIMIT and OFFSET take a bigint.
                LogicalPlan::Limit(_) => return Ok(Transformed::no(node)),
                LogicalPlan::Values(values) => return narrow_values(values),
                _ => {}
            }
            let names = NamePreserver::new(&node);
            // A node's schema says the types its children had when planned: recompute it
            // (the rules after this one read types from schemas).
            node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let narrowed = expr.transform_down(narrow)?;
                Ok(if narrowed.transformed { narrowed.update_data(|e| saved.restore(e)) } else { narrowed })
            })?
            .map_data(LogicalPlan::recompute_schema)
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "sluice_integer_literals"
    }
}

/// `values` with its columns of `bigint` literals narrowed to `integer` when every one
/// fits (`VALUES (1), (2)` is an `integer` column; `VALUES (1), (3000000000)` a `bigint`
/// one). DataFusion keeps the schema of a VALUES as planned, so it is rebuilt here.
fn narrow_values(mut values: Values) -> Result<Transformed<LogicalPlan>> {
    let fits = |e: &Expr| match e {
        Expr::Literal(ScalarValue::Int64(n), _) => n.is_none_or(|n| i32::try_from(n).is_ok()),
        _ => false,
    };
    let narrowed: Vec<usize> = (0..values.schema.fields().len())
        .filter(|&j| values.values.iter().all(|row| row.get(j).is_some_and(fits)))
        .collect();
    if narrowed.is_empty() {
        return Ok(Transformed::no(LogicalPlan::Values(values)));
    }
    for row in &mut values.values {
        for &j in &narrowed {
            if let Expr::Literal(ScalarValue::Int64(n), metadata) = &row[j] {
                row[j] = Expr::Literal(ScalarValue::Int32(n.map(|n| n as i32)), metadata.clone());
            }
        }
    }
    let fields = values.schema.iter().enumerate().map(|(j, (qualifier, field))| {
        let field = if narrowed.contains(&j) {
            Arc::new(field.as_ref().clone().with_data_type(DataType::Int32))
        } else {
            field.clone()
        };
        (qualifier.cloned(), field)
    });
    let schema = DFSchema::new_with_metadata(fields.collect(), values.schema.metadata().clone())?;
    values.schema = Arc::new(schema);
    Ok(Transformed::yes(LogicalPlan::Values(values)))
}

/// `expr` as an `integer` when it is a `bigint` literal that fits in one. The arguments
/// of window functions are left alone (DataFusion reads their offsets and bucket counts
/// as `bigint`s), and so is `count(*)`'s `1`.
fn narrow(expr: Expr) -> Result<Transformed<Expr>> {
    match expr {
        Expr::WindowFunction(_) => Ok(Transformed::new(expr, false, TreeNodeRecursion::Jump)),
        Expr::AggregateFunction(ref call) if call.func.name() == "count" => {
            Ok(Transformed::new(expr, false, TreeNodeRecursion::Jump))
        }
        Expr::Literal(ScalarValue::Int64(Some(n)), metadata) if i32::try_from(n).is_ok() => {
            Ok(Transformed::yes(Expr::Literal(ScalarValue::Int32(Some(n as i32)), metadata)))
        }
        other => Ok(Transformed::no(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(number: &str) -> String {
        let tokens = rewrite(vec![TokenWithSpan::wrap(Token::Number(number.into(), false))]);
        tokens.iter().map(|t| t.token.to_string()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn exponents_become_plain_digits_with_postgres_scale() {
        assert_eq!(text("2.5e-3"), "0.0025");
        assert_eq!(text("1.25E1"), "12.5");
        assert_eq!(text("1e-2"), "0.01");
        assert_eq!(text("0.000e2"), "0.0");
        assert_eq!(text("1.5e3"), "1500.");
        assert_eq!(text("1e10"), "10000000000.");
        assert_eq!(text("0e0"), "0.");
    }

    #[test]
    fn integers_beyond_bigint_are_numerics() {
        assert_eq!(text("9223372036854775807"), "9223372036854775807");
        assert_eq!(text("9223372036854775808"), "9223372036854775808.");
        assert_eq!(text("1_000"), "1_000");
    }

    #[test]
    fn numbers_too_long_for_a_decimal_are_floats() {
        assert_eq!(text("1e308"), "CAST ( '1e308' AS FLOAT8 )");
        assert_eq!(text("1.5e-80"), "CAST ( '1.5e-80' AS FLOAT8 )");
    }

    #[test]
    fn other_numbers_are_left_alone() {
        assert_eq!(text("1.5"), "1.5");
        assert_eq!(text("42"), "42");
    }
}
