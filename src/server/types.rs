//! The Postgres types of result columns and how their values go on the wire: arrow-pg's
//! mapping from Arrow types, corrected where Arrow cannot tell Postgres types apart.
//!
//! Used by `response` (results of ad-hoc statements), `portal` and `subscribe` (push
//! queries). A column that the query cast to `json`, `jsonb`, `varchar` or a bare `numeric`
//! carries a mark ([`crate::sql::types`]) and is described with that type. Two encodings
//! differ from arrow-pg's, so such columns are rewritten before encoding: binary `jsonb` is
//! the text behind a version byte (1), and a bare `numeric` (no precision: Arrow gives it
//! scale 10) is shown in text without trailing zeros, as Postgres shows `12.34::numeric`.
//! Interval columns with NULLs are encoded here too: arrow-pg 0.16 sends a NULL interval as
//! `00:00:00`. In text format, timestamps, times, floats and durations are sent in
//! Postgres's text (`server::text`), which differs from arrow-pg's.
//! Columns also get Postgres's type size and modifier (`numeric(p, s)`). It describes and
//! encodes only: the values come from the engine.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder};
use arrow::datatypes::{DataType, Decimal128Type, Field, IntervalMonthDayNanoType, IntervalUnit, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;

use super::errors::internal;
use super::numeric::numeric_binary;
use super::text::{has_own_text, pg_text, quotients, shown_quotients, trimmed_numerics};
use crate::sql::compat::names::DUPLICATE_MARK;
use crate::sql::types::{marked_type, quotient_scale};

/// The version byte that starts a binary `jsonb` value.
const JSONB_VERSION: u8 = 1;

/// `pg_attribute.atttypmod` of a type without modifier (`numeric`, `varchar`).
const NO_MODIFIER: i32 = -1;

/// Row descriptions for `schema`, each column in the format the client asked for.
pub(super) fn fields(schema: &SchemaRef, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    let described = arrow_schema_to_pg_fields(schema, format, None)?;
    let fields = described.into_iter().zip(schema.fields()).map(|(info, field)| describe(info, field));
    Ok(fields.collect())
}

/// `info` with the Postgres type `field` is marked with, if any, and that type's size and
/// modifier; a repeated column name loses the mark that made it unique for DataFusion.
fn describe(info: FieldInfo, field: &Field) -> FieldInfo {
    let info = match info.name().split_once(DUPLICATE_MARK) {
        Some((name, _)) => {
            let name = name.to_string();
            FieldInfo::new(name, None, None, info.datatype().clone(), info.format())
        }
        None => info,
    };
    let marked = marked_type(field);
    let modifier = match (field.data_type(), &marked) {
        (DataType::Decimal128(p, s), None) => ((i32::from(*p) << 16) | i32::from(*s)) + 4,
        _ => NO_MODIFIER,
    };
    let info = match marked {
        Some(pg_type) => FieldInfo::new(info.name().into(), None, None, pg_type, info.format()),
        None => info,
    };
    let size = type_size(info.datatype());
    info.with_type_size(size).with_type_modifier(modifier)
}

/// `pg_type.typlen`: the byte width of fixed-width types, -1 for the others.
fn type_size(pg_type: &Type) -> i16 {
    match *pg_type {
        Type::BOOL | Type::CHAR => 1,
        Type::INT2 => 2,
        Type::INT4 | Type::FLOAT4 | Type::DATE | Type::OID => 4,
        Type::INT8 | Type::FLOAT8 | Type::TIME | Type::TIMESTAMP | Type::TIMESTAMPTZ => 8,
        Type::INTERVAL => 16,
        _ => -1,
    }
}

/// The rows of `batch` encoded as described by `fields`.
pub(super) fn encode(
    fields: Arc<Vec<FieldInfo>>,
    batch: RecordBatch,
) -> Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send> {
    match wire_batch(&fields, batch) {
        Ok(batch) => encode_recordbatch(fields, batch),
        Err(e) => Box::new(std::iter::once(Err(e))),
    }
}

/// How a column is rewritten before arrow-pg encodes it.
enum Rewrite {
    /// Binary `jsonb`: version byte, then the text.
    JsonbBytes,
    /// Bare `numeric` in text: the number without trailing zeros.
    TrimmedNumeric,
    /// A numeric quotient in text: each value with Postgres's scale for it (the least
    /// scale is the operands').
    Quotient(i8),
    /// A numeric quotient in binary: each value with its own display scale.
    BinaryQuotient(i8),
    /// A binary interval column with NULLs.
    BinaryIntervals,
    /// A column whose Postgres text differs from arrow-pg's (`server::text`).
    PgText,
}

/// The rewrite that `column` (of `field`), described by `info`, needs, if any.
fn rewrite(info: &FieldInfo, field: &Field, column: &ArrayRef) -> Option<Rewrite> {
    match (info.datatype(), info.format()) {
        (&Type::NUMERIC, FieldFormat::Text)
            if matches!(column.data_type(), DataType::Decimal128(..)) && quotient_scale(field).is_some() =>
        {
            quotient_scale(field).map(Rewrite::Quotient)
        }
        (&Type::NUMERIC, FieldFormat::Binary) if matches!(column.data_type(), DataType::Decimal128(..)) => {
            quotient_scale(field).map(Rewrite::BinaryQuotient)
        }
        (&Type::JSONB, FieldFormat::Binary) => Some(Rewrite::JsonbBytes),
        (&Type::NUMERIC, FieldFormat::Text)
            if info.type_modifier() == NO_MODIFIER && matches!(column.data_type(), DataType::Decimal128(..)) =>
        {
            Some(Rewrite::TrimmedNumeric)
        }
        (_, FieldFormat::Text) if has_own_text(column.data_type()) => Some(Rewrite::PgText),
        (_, FieldFormat::Binary) if matches!(column.data_type(), DataType::Interval(_)) && column.null_count() > 0 => {
            Some(Rewrite::BinaryIntervals)
        }
        _ => None,
    }
}

/// `batch` with the columns that need it rewritten (see [`Rewrite`]).
fn wire_batch(fields: &[FieldInfo], batch: RecordBatch) -> PgWireResult<RecordBatch> {
    let schema = batch.schema();
    let rewrites: Vec<Option<Rewrite>> =
        fields.iter().zip(schema.fields()).zip(batch.columns()).map(|((info, f), c)| rewrite(info, f, c)).collect();
    if rewrites.iter().all(Option::is_none) {
        return Ok(batch);
    }
    let mut columns = batch.columns().to_vec();
    let mut schema_fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (i, rewrite) in rewrites.into_iter().enumerate() {
        let (column, data_type) = match rewrite {
            None => continue,
            Some(Rewrite::JsonbBytes) => (jsonb_bytes(&columns[i])?, DataType::Binary),
            Some(Rewrite::TrimmedNumeric) => (trimmed_numeric(&columns[i])?, DataType::Utf8),
            Some(Rewrite::Quotient(scale)) => (quotient_text(&columns[i], scale)?, DataType::Utf8),
            Some(Rewrite::BinaryQuotient(scale)) => (quotient_bytes(&columns[i], scale)?, DataType::Binary),
            Some(Rewrite::BinaryIntervals) => (interval_bytes(&columns[i])?, DataType::Binary),
            Some(Rewrite::PgText) => (pg_text_column(&columns[i])?, DataType::Utf8),
        };
        columns[i] = column;
        schema_fields[i] = Field::new(schema_fields[i].name(), data_type, true);
    }
    let schema = Arc::new(Schema::new(schema_fields));
    RecordBatch::try_new(schema, columns).map_err(|e| internal(format!("rewritten column: {e}")))
}

/// A column in Postgres's text (see `server::text`).
fn pg_text_column(column: &ArrayRef) -> PgWireResult<ArrayRef> {
    match pg_text(column) {
        Some(text) => Ok(Arc::new(text)),
        None => Err(internal(format!("no Postgres text for a column of type {}", column.data_type()))),
    }
}

/// A text column as binary `jsonb` values: version byte, then the text.
fn jsonb_bytes(column: &ArrayRef) -> PgWireResult<ArrayRef> {
    let Some(text) = column.as_string_opt::<i32>() else {
        return Err(internal(format!("jsonb column of type {}", column.data_type())));
    };
    let mut bytes = BinaryBuilder::with_capacity(text.len(), text.value_data().len() + text.len());
    for value in text.iter() {
        match value {
            Some(json) => bytes.append_value([&[JSONB_VERSION], json.as_bytes()].concat()),
            None => bytes.append_null(),
        }
    }
    Ok(Arc::new(bytes.finish()))
}

/// A bare `numeric` column as text without trailing fractional zeros
/// (`server::text::trimmed_numerics`).
fn trimmed_numeric(column: &ArrayRef) -> PgWireResult<ArrayRef> {
    let Some(decimals) = column.as_primitive_opt::<Decimal128Type>() else {
        return Err(internal(format!("numeric column of type {}", column.data_type())));
    };
    Ok(Arc::new(trimmed_numerics(decimals)))
}

/// A quotient column as Postgres shows it (`server::text::quotients`).
fn quotient_text(column: &ArrayRef, least: i8) -> PgWireResult<ArrayRef> {
    let Some(decimals) = column.as_primitive_opt::<Decimal128Type>() else {
        return Err(internal(format!("numeric column of type {}", column.data_type())));
    };
    Ok(Arc::new(quotients(decimals, least)))
}

/// The (months, days, microseconds) of each interval of `column`, None for NULL.
fn intervals(column: &ArrayRef) -> PgWireResult<Vec<Option<pg_interval::Interval>>> {
    let wide = arrow::compute::cast(column, &DataType::Interval(IntervalUnit::MonthDayNano))
        .map_err(|e| internal(format!("interval column: {e}")))?;
    let values = wide.as_primitive::<IntervalMonthDayNanoType>();
    let interval =
        |v: arrow::datatypes::IntervalMonthDayNano| pg_interval::Interval::new(v.months, v.days, v.nanoseconds / 1000);
    Ok(values.iter().map(|v| v.map(interval)).collect())
}

/// A quotient column as Postgres's binary numerics, each with its display scale.
fn quotient_bytes(column: &ArrayRef, least: i8) -> PgWireResult<ArrayRef> {
    let Some(decimals) = column.as_primitive_opt::<Decimal128Type>() else {
        return Err(internal(format!("numeric column of type {}", column.data_type())));
    };
    let bytes = shown_quotients(decimals, least).map(|v| v.map(|(digits, scale)| numeric_binary(digits, scale)));
    Ok(Arc::new(bytes.collect::<arrow::array::BinaryArray>()))
}

/// An interval column as Postgres's binary (microseconds, days, months), keeping its NULLs.
fn interval_bytes(column: &ArrayRef) -> PgWireResult<ArrayRef> {
    let bytes = intervals(column)?.into_iter().map(|v| {
        v.map(|i| [&i.microseconds.to_be_bytes()[..], &i.days.to_be_bytes(), &i.months.to_be_bytes()].concat())
    });
    Ok(Arc::new(bytes.collect::<arrow::array::BinaryArray>()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow::array::StringArray;

    use super::*;

    fn marked(name: &str, extension: &str) -> Field {
        let metadata = HashMap::from([("ARROW:extension:name".to_string(), extension.to_string())]);
        Field::new(name, DataType::Utf8, true).with_metadata(metadata)
    }

    fn json_batch() -> RecordBatch {
        let schema = Schema::new(vec![marked("j", "arrow.json"), marked("b", "sluice.jsonb")]);
        let column: ArrayRef = Arc::new(StringArray::from(vec![Some("{\"a\":1}"), None]));
        RecordBatch::try_new(Arc::new(schema), vec![column.clone(), column]).expect("valid batch")
    }

    #[test]
    fn marked_columns_are_described_with_their_postgres_type() {
        let batch = json_batch();
        let schema = Arc::new(Schema::new(vec![
            batch.schema().field(0).clone(),
            batch.schema().field(1).clone(),
            marked("v", "sluice.varchar"),
            Field::new("t", DataType::Utf8, true),
            Field::new("n", DataType::Int32, true),
            Field::new("d", DataType::Decimal128(10, 2), true),
            marked_decimal("u"),
        ]));
        let described = fields(&schema, &Format::UnifiedText).expect("describes");
        let types: Vec<_> = described.iter().map(|f| f.datatype().clone()).collect();
        let expected =
            vec![Type::JSON, Type::JSONB, Type::VARCHAR, Type::TEXT, Type::INT4, Type::NUMERIC, Type::NUMERIC];
        assert_eq!(types, expected);
        let sizes: Vec<_> = described.iter().map(FieldInfo::type_size).collect();
        assert_eq!(sizes, vec![-1, -1, -1, -1, 4, -1, -1]);
        let modifiers: Vec<_> = described.iter().map(FieldInfo::type_modifier).collect();
        assert_eq!(modifiers, vec![-1, -1, -1, -1, -1, (10 << 16 | 2) + 4, -1]);
    }

    fn interval_rows(format: Format) -> Vec<Vec<u8>> {
        use arrow::array::IntervalMonthDayNanoArray;
        use arrow::datatypes::IntervalMonthDayNano;
        let values = IntervalMonthDayNanoArray::from(vec![Some(IntervalMonthDayNano::new(1, 2, 3_000_000_000)), None]);
        let schema = Arc::new(Schema::new(vec![Field::new("i", values.data_type().clone(), true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).expect("valid batch");
        let described = Arc::new(fields(&schema, &format).expect("describes"));
        encode(described, batch)
            .map(|row| {
                let mut buf = bytes::BytesMut::new();
                pgwire::messages::Message::encode(&row.expect("encodes"), &mut buf).expect("encodes");
                buf.to_vec()
            })
            .collect()
    }

    #[test]
    fn unsigned_64_bit_integers_are_numeric_as_they_are() {
        let values = arrow::array::UInt64Array::from(vec![Some(18_446_744_073_709_551_615), None]);
        let schema = Arc::new(Schema::new(vec![Field::new("u", DataType::UInt64, true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).expect("valid batch");
        let described = Arc::new(fields(&schema, &Format::UnifiedText).expect("describes"));
        assert_eq!(described[0].datatype(), &Type::NUMERIC);
        let rows: Vec<_> = encode(described, batch).collect::<PgWireResult<_>>().expect("encodes");
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn null_intervals_stay_null() {
        let text = interval_rows(Format::UnifiedText);
        assert!(text[0].ends_with(b"1 mon 2 days 00:00:03"), "{:?}", text[0]);
        assert!(text[1].ends_with(&[0xff, 0xff, 0xff, 0xff]), "{:?}", text[1]);
        let binary = interval_rows(Format::UnifiedBinary);
        let expected =
            [&16i32.to_be_bytes()[..], &3_000_000i64.to_be_bytes(), &2i32.to_be_bytes(), &1i32.to_be_bytes()];
        assert!(binary[0].ends_with(&expected.concat()), "{:?}", binary[0]);
        assert!(binary[1].ends_with(&[0xff, 0xff, 0xff, 0xff]), "{:?}", binary[1]);
    }

    fn marked_decimal(name: &str) -> Field {
        let metadata = HashMap::from([("ARROW:extension:name".to_string(), "sluice.numeric".to_string())]);
        Field::new(name, DataType::Decimal128(38, 10), true).with_metadata(metadata)
    }

    #[test]
    fn bare_numeric_text_has_no_trailing_zeros() {
        use arrow::array::Decimal128Array;
        let values = Decimal128Array::from(vec![Some(123_400_000_000), Some(50_000_000_000), None, Some(-5)])
            .with_precision_and_scale(38, 10)
            .expect("valid decimal");
        let schema = Arc::new(Schema::new(vec![marked_decimal("u")]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(values)]).expect("valid batch");
        let described = Arc::new(fields(&schema, &Format::UnifiedText).expect("describes"));
        let rows: Vec<Vec<u8>> = encode(described, batch)
            .map(|row| {
                let mut buf = bytes::BytesMut::new();
                pgwire::messages::Message::encode(&row.expect("encodes"), &mut buf).expect("encodes");
                buf.to_vec()
            })
            .collect();
        let shown = |row: &Vec<u8>, text: &str| row.ends_with(text.as_bytes());
        assert!(shown(&rows[0], "12.34"), "{:?}", rows[0]);
        assert!(shown(&rows[1], "\x00\x00\x00\x015"), "{:?}", rows[1]);
        assert!(rows[2].ends_with(&[0xff, 0xff, 0xff, 0xff]), "{:?}", rows[2]);
        assert!(shown(&rows[3], "-0.0000000005"), "{:?}", rows[3]);
    }

    fn first_row(format: Format) -> Vec<u8> {
        let batch = json_batch();
        let described = Arc::new(fields(&batch.schema(), &format).expect("describes"));
        let row = encode(described, batch).next().expect("a row").expect("encodes");
        let mut buf = bytes::BytesMut::new();
        pgwire::messages::Message::encode(&row, &mut buf).expect("encodes");
        buf.to_vec()
    }

    #[test]
    fn binary_jsonb_has_a_version_byte_and_text_jsonb_has_none() {
        let binary = first_row(Format::UnifiedBinary);
        let json = b"{\"a\":1}";
        // json (binary format) is the text itself; jsonb is 1 followed by the text.
        assert!(binary.windows(json.len() + 4).any(|w| w == [&[0, 0, 0, 7][..], json].concat()));
        assert!(binary.windows(json.len() + 5).any(|w| w == [&[0, 0, 0, 8, 1][..], json].concat()));
        let text = first_row(Format::UnifiedText);
        assert!(!text.windows(json.len() + 1).any(|w| w == [&[1][..], json].concat()));
    }
}
