//! Decodes the parameter values of a bound portal (text or binary format) into
//! `ScalarValue`s for `Engine::execute`, using arrow-pg's decoder.
//!
//! Used by the extended query handler. Each value's wire type is the one the client named
//! at Parse, else the one the engine described, else text (Postgres resolves a parameter
//! nobody typed as `text` too). It does not cast: turning a value into the type an
//! expression needs is the engine's job.

use arrow::datatypes::DataType;
use arrow_pg::datatypes::df::deserialize_parameters;
use datafusion::common::ParamValues;
use datafusion::scalar::ScalarValue;
use pgwire::api::portal::Portal;
use pgwire::error::PgWireResult;

use super::response::{internal, user_error};

/// SQLSTATE for a Bind whose parameters do not match the statement.
const PROTOCOL_VIOLATION: &str = "08P01";

/// The type of a parameter that neither the client nor the engine typed.
static UNTYPED: DataType = DataType::Utf8;

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
    let ParamValues::List(values) = deserialize_parameters(portal, &hints)? else {
        return Err(internal("parameters decoded by name, not by position".into()));
    };
    if values.len() != count {
        // arrow-pg skips a NULL it cannot type; refuse rather than shift the others.
        return Err(user_error(PROTOCOL_VIOLATION, "could not determine the type of a NULL parameter"));
    }
    Ok(values.into_iter().map(|v| v.value).collect())
}

/// The Arrow type each parameter should decode to: the engine's type when it knows one;
/// none when the client named a type at Parse (arrow-pg then keeps the client's type);
/// text otherwise.
fn target_types<'a, S: Clone>(portal: &Portal<S>, described: &'a [Option<DataType>]) -> Vec<Option<&'a DataType>> {
    (0..portal.parameter_len())
        .map(|i| {
            let engine_type = described.get(i).and_then(Option::as_ref);
            let client_typed = matches!(portal.statement.parameter_types.get(i), Some(Some(_)));
            match engine_type {
                Some(DataType::Null) | None if client_typed => None,
                Some(DataType::Null) | None => Some(&UNTYPED),
                Some(t) => Some(t),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use pgwire::api::Type;
    use pgwire::api::stmt::StoredStatement;
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
    fn untyped_null_decodes_as_text_null() {
        let p = portal(vec![], vec![None]);
        let values = decode(&p, &[None]).expect("decodes");
        assert_eq!(values, vec![ScalarValue::Utf8(None)]);
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
