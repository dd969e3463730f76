//! Postgres's JSON constructor `json_build_object(key, value, ...)`, which DataFusion lacks
//! and clients use (SQLAlchemy's `get_columns` builds a column's identity options with it).
//! The result is `json` text in Postgres's layout: `{"a" : 1, "b" : "x"}`.
//!
//! Registered by `Engine::open`. Keys are text; values are JSON numbers, booleans, nulls,
//! embedded `json`/`jsonb` (a column marked so by `sql::types`), or strings (anything
//! else, as DataFusion displays it).

use std::sync::Arc;

use arrow::array::{ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::sql::types::{JSON, pg_type_name};

/// Registers the JSON functions on `ctx`.
pub(super) fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(BuildObject {
        signature: Signature::variadic_any(Volatility::Immutable),
    }));
}

/// `json_build_object`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct BuildObject {
    signature: Signature,
}

impl ScalarUDFImpl for BuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = Field::new(self.name(), DataType::Utf8, true);
        Ok(Arc::new(crate::sql::types::marked(field, JSON)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return Err(DataFusionError::Execution("argument list must have even number of elements".into()));
        }
        let embedded: Vec<bool> =
            args.arg_fields.iter().map(|f| matches!(pg_type_name(f), Some("json" | "jsonb"))).collect();
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let mut out = StringBuilder::new();
        for row in 0..args.number_rows {
            out.append_value(object(&arrays, &embedded, row)?);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// Row `row` of the key and value `arrays` as a JSON object.
fn object(arrays: &[ArrayRef], embedded: &[bool], row: usize) -> Result<String> {
    let mut members = Vec::with_capacity(arrays.len() / 2);
    for pair in arrays.chunks(2).zip(embedded.chunks(2)) {
        let ([key, value], [_, raw]) = pair else { continue };
        let key = ScalarValue::try_from_array(key, row)?;
        if key.is_null() {
            return Err(DataFusionError::Execution("null value not allowed for object key".into()));
        }
        let value = ScalarValue::try_from_array(value, row)?;
        members.push(format!("{} : {}", string(&key.to_string()), json_value(&value, *raw)));
    }
    Ok(format!("{{{}}}", members.join(", ")))
}

/// `value` as JSON; `raw` when it is JSON text already.
fn json_value(value: &ScalarValue, raw: bool) -> String {
    if value.is_null() {
        return "null".into();
    }
    let text = value.to_string();
    let number = value.data_type().is_numeric() && text.parse::<f64>().is_ok_and(f64::is_finite);
    if raw || number || matches!(value, ScalarValue::Boolean(_)) { text } else { string(&text) }
}

/// `text` as a JSON string.
fn string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BooleanArray, Int64Array, StringArray};

    #[test]
    fn objects_in_postgres_layout() {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a", "a"])),
            Arc::new(Int64Array::from(vec![Some(1), None])),
            Arc::new(StringArray::from(vec!["b", "b"])),
            Arc::new(StringArray::from(vec!["x\"y", "z"])),
            Arc::new(StringArray::from(vec!["c", "c"])),
            Arc::new(BooleanArray::from(vec![true, false])),
        ];
        let embedded = [false; 6];
        assert_eq!(object(&arrays, &embedded, 0).expect("object"), r#"{"a" : 1, "b" : "x\"y", "c" : true}"#);
        assert_eq!(object(&arrays, &embedded, 1).expect("object"), r#"{"a" : null, "b" : "z", "c" : false}"#);
    }

    #[test]
    fn a_null_key_is_an_error() {
        let arrays: Vec<ArrayRef> =
            vec![Arc::new(StringArray::from(vec![None::<&str>])), Arc::new(Int64Array::from(vec![1]))];
        assert!(object(&arrays, &[false, false], 0).is_err());
    }
}
