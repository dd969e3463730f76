//! Decodes the parameter values of a bound portal (text or binary format) into
//! `ScalarValue`s for `Engine::execute`, using arrow-pg's decoder.
//!
//! Used by the extended query handler. Each value's wire type is the one the client named
//! at Parse, else the one the engine described, else text (Postgres resolves a parameter
//! nobody typed as `text` too). `json` and `jsonb` values, which arrow-pg does not decode,
//! are text (binary `jsonb` after its version byte). A value the client typed differently
//! from what the engine described (an `int4` for `$1::numeric`, a `varchar` for
//! `$1::int4`) is then cast to the described type, as Postgres casts a typed parameter.

use std::sync::Arc;

use arrow::datatypes::{DataType, IntervalUnit};
use arrow_pg::datatypes::df::deserialize_parameters;
use bytes::Bytes;
use datafusion::common::ParamValues;
use datafusion::scalar::ScalarValue;
use pgwire::api::Type;
use pgwire::api::portal::Portal;
use pgwire::api::stmt::StoredStatement;
use pgwire::error::PgWireResult;

use super::errors::{internal, user_error};
use crate::sql::literals::postgres_input;

/// SQLSTATE for a Bind whose parameters do not match the statement.
const PROTOCOL_VIOLATION: &str = "08P01";

/// SQLSTATE for a binary parameter value that is not valid for its type.
const INVALID_BINARY_REPRESENTATION: &str = "22P03";

/// SQLSTATE for a parameter value that cannot be read as the type it is used as.
const INVALID_TEXT_REPRESENTATION: &str = "22P02";

/// The type of a parameter that neither the client nor the engine typed.
static UNTYPED: DataType = DataType::Utf8;

/// The type of an `interval` parameter.
static INTERVAL: DataType = DataType::Interval(IntervalUnit::MonthDayNano);

/// The values bound to `portal`, decoded in the types `described` by the engine.
pub(super) fn decode<S: Clone>(portal: &Portal<S>, described: &[Option<DataType>]) -> PgWireResult<Vec<ScalarValue>> {
    let count = portal.parameter_len();
    let expected = described.len().max(portal.statement.parameter_types.len());
    if count != expected {
        return Err(user_error(
            PROTOCOL_VIOLATION,
            format!("bind message supplies {count} parameters, but prepared statement requires {expected}"),
        ));
    }
    let hints = target_types(portal, described);
    let ParamValues::List(values) = deserialize_parameters(&json_as_text(portal)?, &hints)? else {
        return Err(internal("parameters decoded by name, not by position".into()));
    };
    if values.len() != count {
        // arrow-pg skips a NULL it cannot type; refuse rather than shift the others.
        return Err(user_error(PROTOCOL_VIOLATION, "could not determine the type of a NULL parameter"));
    }
    let values = values.into_iter().map(|v| v.value).enumerate();
    values.map(|(i, value)| cast(i, value, wanted_type(portal, described, i))).collect()
}

/// The type parameter `i` must have: the engine's, else an interval when the client said
/// so (its text is read by `cast`, not by arrow-pg).
fn wanted_type<'a, S: Clone>(portal: &Portal<S>, described: &'a [Option<DataType>], i: usize) -> Option<&'a DataType> {
    let engine_type = described.get(i).and_then(Option::as_ref).filter(|t| **t != DataType::Null);
    let client_interval = matches!(portal.statement.parameter_types.get(i), Some(Some(Type::INTERVAL)));
    engine_type.or(client_interval.then_some(&INTERVAL))
}

/// Parameter `i` (from 0) as the type the engine described, if it has another; text is
/// read as Postgres reads it (`\x...` for bytea, `04:00:00` in an interval, a time with a
/// zone).
fn cast(i: usize, value: ScalarValue, described: Option<&DataType>) -> PgWireResult<ScalarValue> {
    let Some(t) = described.filter(|t| **t != DataType::Null && value.data_type() != **t) else {
        return Ok(value);
    };
    let postgres = match &value {
        ScalarValue::Utf8(Some(text)) => postgres_input(text, t),
        _ => None,
    };
    let cast = postgres.unwrap_or_else(|| value.cast_to(t));
    cast.map_err(|e| {
        let message = format!("invalid input for parameter ${} of type {t}: {e}", i + 1);
        user_error(INVALID_TEXT_REPRESENTATION, message)
    })
}

/// A copy of `portal` whose `json` and `jsonb` parameters are typed `text`, with the
/// version byte of binary `jsonb` values taken off, and so are `interval` parameters in
/// text (Postgres's input syntax, which arrow-pg does not read: `cast` does).
fn json_as_text<S: Clone>(portal: &Portal<S>) -> PgWireResult<Portal<()>> {
    let mut types = portal.statement.parameter_types.clone();
    let mut values = portal.parameters.clone();
    for (i, pg_type) in types.iter_mut().enumerate() {
        let binary = portal.parameter_format.is_binary(i);
        let jsonb = match pg_type {
            Some(Type::JSON) => false,
            Some(Type::JSONB) => true,
            Some(Type::INTERVAL) if !binary => false,
            _ => continue,
        };
        *pg_type = Some(Type::TEXT);
        if jsonb && binary {
            let value = values.get_mut(i).and_then(Option::as_mut);
            if let Some(bytes) = value {
                *bytes = jsonb_text(bytes)?;
            }
        }
    }
    // Portal is non-exhaustive: start from an empty one and fill in what decoding reads.
    let mut copy = Portal::<()>::default();
    copy.statement = Arc::new(StoredStatement::new(portal.statement.id.clone(), (), types));
    copy.parameter_format = portal.parameter_format.clone();
    copy.parameters = values;
    Ok(copy)
}

/// The text of a binary `jsonb` value: what follows its version byte (1).
fn jsonb_text(value: &Bytes) -> PgWireResult<Bytes> {
    match value.first() {
        Some(1) => Ok(value.slice(1..)),
        _ => Err(user_error(INVALID_BINARY_REPRESENTATION, "unsupported jsonb version number")),
    }
}

/// The Arrow type each parameter should decode to: none when the client named a type at
/// Parse (arrow-pg then decodes it in the client's type); else the engine's type when it
/// knows one, except a time or an interval in text, which `cast` reads; text otherwise.
fn target_types<'a, S: Clone>(portal: &Portal<S>, described: &'a [Option<DataType>]) -> Vec<Option<&'a DataType>> {
    (0..portal.parameter_len())
        .map(|i| {
            let engine_type = described.get(i).and_then(Option::as_ref);
            let client_typed = matches!(portal.statement.parameter_types.get(i), Some(Some(_)));
            let text = !portal.parameter_format.is_binary(i);
            match engine_type {
                _ if client_typed => None,
                Some(DataType::Null) | None => Some(&UNTYPED),
                // Read as text, then as Postgres reads a time or an interval (see `cast`).
                Some(DataType::Time32(_) | DataType::Time64(_) | DataType::Interval(_)) if text => Some(&UNTYPED),
                Some(t) => Some(t),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use pgwire::error::PgWireError;
    use pgwire::messages::extendedquery::Bind;

    use super::*;

    fn portal(types: Vec<Option<Type>>, values: Vec<Option<&str>>) -> Portal<()> {
        let values = values.into_iter().map(|v| v.map(|s| Bytes::from(s.to_string()))).collect();
        let bind = Bind::new(None, None, vec![], values, vec![]);
        let stmt = StoredStatement::new("s".into(), (), types);
        Portal::try_new(&bind, Arc::new(stmt)).expect("valid bind")
    }

    #[test]
    fn text_values_decode_in_the_described_types() {
        let p = portal(vec![], vec![Some("42"), Some("hi"), None]);
        let described = [Some(DataType::Int64), None, Some(DataType::Float64)];
        let values = decode(&p, &described).expect("decodes");
        assert_eq!(
            values,
            vec![ScalarValue::Int64(Some(42)), ScalarValue::Utf8(Some("hi".into())), ScalarValue::Float64(None)]
        );
    }

    #[test]
    fn client_types_win_when_the_engine_has_none() {
        let p = portal(vec![Some(Type::INT4)], vec![Some("7")]);
        let values = decode(&p, &[None]).expect("decodes");
        assert_eq!(values, vec![ScalarValue::Int32(Some(7))]);
    }

    #[test]
    fn interval_parameters_are_read_as_postgres_reads_them() {
        // pgjdbc's PGInterval, typed `interval` by the client, with and without a cast.
        let text = "0 years 0 mons 3 days 4 hours 5 mins 6.0 secs";
        let expected = ScalarValue::new_interval_mdn(0, 3, (4 * 3600 + 5 * 60 + 6) * 1_000_000_000);
        let p = portal(vec![Some(Type::INTERVAL), Some(Type::INTERVAL)], vec![Some(text), Some(text)]);
        let described = [Some(INTERVAL.clone()), None];
        assert_eq!(decode(&p, &described).expect("decodes"), vec![expected.clone(), expected.clone()]);
        let untyped = portal(vec![], vec![Some(text)]);
        assert_eq!(decode(&untyped, &[Some(INTERVAL.clone())]).expect("decodes"), vec![expected]);
    }

    #[test]
    fn client_types_are_cast_to_the_engine_types() {
        let p = portal(vec![Some(Type::INT4), Some(Type::VARCHAR), Some(Type::INT8)], vec![Some("7"), Some("8"), None]);
        let described = [Some(DataType::Decimal128(38, 10)), Some(DataType::Int32), Some(DataType::Int16)];
        let values = decode(&p, &described).expect("decodes");
        assert_eq!(
            values,
            vec![
                ScalarValue::Decimal128(Some(70_000_000_000), 38, 10),
                ScalarValue::Int32(Some(8)),
                ScalarValue::Int16(None)
            ]
        );
        let p = portal(vec![Some(Type::VARCHAR), Some(Type::VARCHAR)], vec![Some("\\x01ff"), Some("3 days 04:00:00")]);
        let described =
            [Some(DataType::Binary), Some(DataType::Interval(arrow::datatypes::IntervalUnit::MonthDayNano))];
        let values = decode(&p, &described).expect("decodes");
        let four_hours = 4 * 3600 * 1_000_000_000;
        assert_eq!(
            values,
            vec![ScalarValue::Binary(Some(vec![1, 255])), ScalarValue::new_interval_mdn(0, 3, four_hours)]
        );
        let untyped_time = portal(vec![], vec![Some("13:14:15+01")]);
        let time = DataType::Time64(arrow::datatypes::TimeUnit::Nanosecond);
        let values = decode(&untyped_time, &[Some(time)]).expect("decodes");
        assert_eq!(values, vec![ScalarValue::Time64Nanosecond(Some((13 * 3600 + 14 * 60 + 15) * 1_000_000_000))]);
        let bad = portal(vec![Some(Type::VARCHAR)], vec![Some("x")]);
        let Err(PgWireError::UserError(info)) = decode(&bad, &[Some(DataType::Int32)]) else { panic!("decoded") };
        assert_eq!(info.code, "22P02");
    }

    #[test]
    fn untyped_null_decodes_as_text_null() {
        let p = portal(vec![], vec![None]);
        let values = decode(&p, &[None]).expect("decodes");
        assert_eq!(values, vec![ScalarValue::Utf8(None)]);
    }

    fn binary_portal(types: Vec<Option<Type>>, values: Vec<&[u8]>) -> Portal<()> {
        let values = values.into_iter().map(|v| Some(Bytes::copy_from_slice(v))).collect();
        let bind = Bind::new(None, None, vec![1], values, vec![]);
        let stmt = StoredStatement::new("s".into(), (), types);
        Portal::try_new(&bind, Arc::new(stmt)).expect("valid bind")
    }

    #[test]
    fn json_and_jsonb_decode_as_text() {
        let text = portal(vec![Some(Type::JSON), Some(Type::JSONB)], vec![Some("{\"a\":1}"), Some("[1]")]);
        let values = decode(&text, &[None, None]).expect("decodes");
        let expected = vec![ScalarValue::Utf8(Some("{\"a\":1}".into())), ScalarValue::Utf8(Some("[1]".into()))];
        assert_eq!(values, expected);
        let binary = binary_portal(vec![Some(Type::JSON), Some(Type::JSONB)], vec![b"{\"a\":1}", b"\x01[1]"]);
        assert_eq!(decode(&binary, &[None, None]).expect("decodes"), expected);
    }

    #[test]
    fn binary_jsonb_without_its_version_byte_is_an_error() {
        let binary = binary_portal(vec![Some(Type::JSONB)], vec![b"[1]"]);
        let Err(PgWireError::UserError(info)) = decode(&binary, &[None]) else { panic!("decoded") };
        assert_eq!(info.code, "22P03");
    }

    #[test]
    fn bad_text_is_an_error() {
        let p = portal(vec![], vec![Some("x")]);
        assert!(decode(&p, &[Some(DataType::Int64)]).is_err());
    }

    #[test]
    fn missing_values_are_a_protocol_violation() {
        let p = portal(vec![], vec![]);
        assert!(decode(&p, &[Some(DataType::Int64)]).is_err());
    }
}
