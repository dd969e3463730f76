//! COPY's text and CSV formats: how the rows of `COPY ... TO STDOUT` (and of a push query
//! run as `COPY (SUBSCRIBE ...) TO STDOUT`) are written into CopyData messages.
//!
//! Used by `response` for `Output::Copy` and by `subscribe`. Text format: columns
//! separated by the delimiter (tab), NULL as `\\N`, backslash, tab, newline and carriage
//! return escaped. CSV: fields quoted when they hold the delimiter, a quote or a line
//! break, NULL as nothing, an optional header line.

use std::fmt::Write as _;

use arrow::array::{Array, AsArray, StringArray};
use arrow::datatypes::Decimal128Type;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::text::{pg_text, quotients, trimmed_numerics};
use crate::engine::CopyFormat;
use crate::sql::types::{marked_type, quotient_scale};

impl CopyFormat {
    /// Postgres's default text format.
    pub fn text() -> CopyFormat {
        CopyFormat { csv: false, header: false, delimiter: '\t', null: "\\N".into() }
    }
}

/// Each row of `batch` as one line in `format`, every value in Postgres's text.
pub(crate) fn rows(batch: &RecordBatch, format: &CopyFormat) -> Result<Vec<String>, ArrowError> {
    let options = FormatOptions::new().with_null("");
    let columns = text_columns(batch, &options)?;
    let mut lines = Vec::with_capacity(batch.num_rows());
    let mut formatted = String::new();
    for row in 0..batch.num_rows() {
        let mut line = String::new();
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                line.push(format.delimiter);
            }
            let Some(value) = column.value(batch.column(i).as_ref(), row, &mut formatted) else {
                line.push_str(&format.null);
                continue;
            };
            if format.csv {
                quote_into(value, format.delimiter, &mut line);
            } else {
                escape_into(value, &mut line);
            }
        }
        line.push('\n');
        lines.push(line);
    }
    Ok(lines)
}

/// Every value of `batch` in Postgres's text, row by row (`None` for NULL): what psql
/// shows, for `sluice run`'s output.
pub(crate) fn text_rows(batch: &RecordBatch) -> Result<Vec<Vec<Option<String>>>, ArrowError> {
    let options = FormatOptions::new().with_null("");
    let columns = text_columns(batch, &options)?;
    let mut formatted = String::new();
    let rows = (0..batch.num_rows()).map(|row| {
        let values = columns.iter().enumerate();
        values.map(|(i, c)| c.value(batch.column(i).as_ref(), row, &mut formatted).map(str::to_string)).collect()
    });
    Ok(rows.collect())
}

/// How each column of `batch` becomes Postgres's text.
fn text_columns<'a>(batch: &'a RecordBatch, options: &'a FormatOptions<'a>) -> Result<Vec<Column<'a>>, ArrowError> {
    let schema = batch.schema();
    batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, field)| match (quotient_scale(field), c.as_primitive_opt::<Decimal128Type>()) {
            (Some(least), Some(decimals)) => Ok(Column::Text(quotients(decimals, least))),
            (None, Some(decimals)) if marked_type(field).is_some() => Ok(Column::Text(trimmed_numerics(decimals))),
            _ => match pg_text(c) {
                Some(text) => Ok(Column::Text(text)),
                None => ArrayFormatter::try_new(c.as_ref(), options).map(Column::Arrow),
            },
        })
        .collect()
}

/// How one column's values become text.
enum Column<'a> {
    /// Postgres's text, where it differs from Arrow's (`server::text`).
    Text(StringArray),
    Arrow(ArrayFormatter<'a>),
}

impl Column<'_> {
    /// The text of row `row` of `array` (this column's values), `None` for NULL;
    /// `scratch` holds it when it has to be formatted.
    fn value<'s>(&'s self, array: &dyn Array, row: usize, scratch: &'s mut String) -> Option<&'s str> {
        if array.is_null(row) {
            return None;
        }
        match self {
            Column::Text(text) => Some(text.value(row)),
            Column::Arrow(formatter) => {
                scratch.clear();
                let _ = write!(scratch, "{}", formatter.value(row));
                Some(scratch.as_str())
            }
        }
    }
}

/// The CSV header line of `batch`'s columns.
pub(crate) fn header(batch_schema: &arrow::datatypes::Schema, format: &CopyFormat) -> String {
    let mut line = String::new();
    for (i, field) in batch_schema.fields().iter().enumerate() {
        if i > 0 {
            line.push(format.delimiter);
        }
        quote_into(field.name(), format.delimiter, &mut line);
    }
    line.push('\n');
    line
}

fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn quote_into(value: &str, delimiter: char, out: &mut String) {
    if value.is_empty() || value.contains([delimiter, '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![Field::new("a", DataType::Utf8, true), Field::new("b", DataType::Int64, true)]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringArray::from(vec![Some("x\ty\\z"), None, Some("q\"r,s")])),
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn text_escapes_and_marks_nulls() {
        assert_eq!(rows(&batch(), &CopyFormat::text()).unwrap().concat(), "x\\ty\\\\z\t1\n\\N\t\\N\nq\"r,s\t3\n");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let csv = CopyFormat { csv: true, header: true, delimiter: ',', null: String::new() };
        assert_eq!(rows(&batch(), &csv).unwrap().concat(), "x\ty\\z,1\n,\n\"q\"\"r,s\",3\n");
        assert_eq!(header(&batch().schema(), &csv), "a,b\n");
    }
}
