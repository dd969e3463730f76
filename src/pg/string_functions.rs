//! Postgres's `format(formatstr, args...)`, which DataFusion lacks and Metabase's field sync
//! calls (`format('%I.%I', schema, table)`): `%s` inserts a value as text (NULL as
//! nothing), `%I` as a quoted identifier when it needs quotes, `%L` as a quoted literal
//! (NULL as `NULL`), `%%` a percent sign; `%n$s` takes argument n. Width and `-` flags
//! are refused (22023).
//!
//! Registered by `Engine::open`.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};

/// Registers the string functions on `ctx`.
pub(super) fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(Format { signature: Signature::variadic_any(Volatility::Immutable) }));
}

/// `format`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Format {
    signature: Signature,
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some((pattern, values)) = arrays.split_first() else {
            return Err(DataFusionError::Plan("format() needs a format string".into()));
        };
        let mut out = StringBuilder::new();
        for row in 0..args.number_rows {
            let pattern = ScalarValue::try_from_array(pattern, row)?;
            if pattern.is_null() {
                out.append_null();
                continue;
            }
            out.append_value(format_row(&pattern.to_string(), values, row)?);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `pattern` with row `row` of `values` put in.
fn format_row(pattern: &str, values: &[ArrayRef], row: usize) -> Result<String> {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut next = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            chars.next();
            if d.is_ascii_alphabetic() || d == '%' {
                spec.push(d);
                break;
            }
            spec.push(d);
        }
        let kind = spec.pop().ok_or_else(|| invalid("unterminated format() type specifier"))?;
        if kind == '%' && spec.is_empty() {
            out.push('%');
            continue;
        }
        let index = match spec.strip_suffix('$') {
            Some(position) => {
                position.parse::<usize>().ok().filter(|p| *p > 0).ok_or_else(|| invalid("bad position"))? - 1
            }
            None if spec.is_empty() => next,
            None => return Err(invalid("format() widths and flags are not supported")),
        };
        next = index + 1;
        let array = values.get(index).ok_or_else(|| invalid("too few arguments for format()"))?;
        let value = ScalarValue::try_from_array(array, row)?;
        out.push_str(&placed(kind, &value)?);
    }
    Ok(out)
}

/// `value` as the specifier `kind` puts it.
fn placed(kind: char, value: &ScalarValue) -> Result<String> {
    let text = (!value.is_null()).then(|| value.to_string());
    match (kind, text) {
        ('s', text) => Ok(text.unwrap_or_default()),
        ('I', Some(text)) => Ok(quote_ident(&text)),
        ('I', None) => Err(DataFusionError::Execution("null values cannot be formatted as an SQL identifier".into())),
        ('L', Some(text)) => Ok(quote_literal(&text)),
        ('L', None) => Ok("NULL".into()),
        (other, _) => Err(invalid(&format!("unrecognized format() type specifier \"{other}\""))),
    }
}

/// An identifier as Postgres's `quote_ident` writes it: bare when it is lowercase letters,
/// digits and underscores not starting with a digit, else in double quotes.
fn quote_ident(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { name.to_string() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

/// A string literal as Postgres's `quote_literal` writes it.
fn quote_literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') { format!("E'{}'", quoted.replace('\\', "\\\\")) } else { format!("'{quoted}'") }
}

fn invalid(message: &str) -> DataFusionError {
    DataFusionError::Plan(message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn formatted(pattern: &str) -> Result<String> {
        let values: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["public"])),
            Arc::new(StringArray::from(vec!["Bids x"])),
            Arc::new(StringArray::from(vec![None::<&str>])),
            Arc::new(Int64Array::from(vec![42])),
            Arc::new(StringArray::from(vec!["it's"])),
        ];
        format_row(pattern, &values, 0)
    }

    #[test]
    fn specifiers_as_postgres_writes_them() {
        assert_eq!(formatted("%I.%I").expect("formats"), "public.\"Bids x\"");
        assert_eq!(formatted("%s|%s|%s|%s").expect("formats"), "public|Bids x||42");
        assert_eq!(formatted("%5$L %3$L 100%%").expect("formats"), "'it''s' NULL 100%");
        // After `%2$s`, a plain `%s` takes the third argument (NULL: nothing).
        assert_eq!(formatted("%2$s %s").expect("formats"), "Bids x ");
    }

    #[test]
    fn bad_specifiers_are_errors() {
        assert!(formatted("%3$I").is_err());
        assert!(formatted("%10s").is_err());
        assert!(formatted("%x").is_err());
        assert!(formatted("%9$s").is_err());
    }
}
