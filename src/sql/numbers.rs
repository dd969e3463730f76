//! Number literals as Postgres reads them. A literal with a fraction or an exponent is a
//! `numeric` in Postgres (`0.1 + 0.2` is `0.3`, `1.10 * 3` is `3.30`); the engine's
//! session makes DataFusion read such literals as decimals
//! (`datafusion.sql_parser.parse_float_as_decimal`), which it does from their digits, but
//! an exponent gives it a negative scale or one past Arrow's limits (`1e10`, `1e-40`).
//!
//! [`rewrite`] therefore writes every literal with an exponent in plain digits, with the
//! scale Postgres gives it (`2.5e-3` is `0.0025`; `1.5e3` is `1500`, a `numeric` of scale
//! 0, written `CAST(1500 AS NUMERIC(4, 0))` so it is not read as an integer). A literal
//! with more digits than a decimal holds (76) becomes a `float8` (`1e308`), where Postgres
//! would still have a `numeric`.
//!
//! `super::parser::parse` calls [`rewrite`] on the tokens of every SQL text.

use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

/// The most digits a decimal holds (Arrow's `Decimal256`).
const MAX_DIGITS: usize = 76;

/// `tokens` with every number literal that has an exponent written out (module doc).
pub fn rewrite(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    if !tokens.iter().any(|t| matches!(&t.token, Token::Number(n, _) if has_exponent(n))) {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len());
    for token in tokens {
        match &token.token {
            Token::Number(n, _) if has_exponent(n) => match plain(n) {
                Some(Some(digits)) => out.extend(numeric(digits).into_iter().map(TokenWithSpan::wrap)),
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

/// The tokens of a `numeric` literal of these digits (module doc).
fn numeric(plain: Plain) -> Vec<Token> {
    if !plain.fraction.is_empty() {
        return vec![Token::Number(format!("{}.{}", plain.whole, plain.fraction), false)];
    }
    let precision = plain.whole.len().max(1).to_string();
    let numeric = vec![
        Token::make_keyword("NUMERIC"),
        Token::LParen,
        Token::Number(precision, false),
        Token::Comma,
        Token::Number("0".into(), false),
        Token::RParen,
    ];
    cast(Token::Number(plain.whole, false), numeric)
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
        assert_eq!(text("1.5e3"), "CAST ( 1500 AS NUMERIC ( 4 , 0 ) )");
        assert_eq!(text("1e10"), "CAST ( 10000000000 AS NUMERIC ( 11 , 0 ) )");
        assert_eq!(text("0e0"), "CAST ( 0 AS NUMERIC ( 1 , 0 ) )");
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
