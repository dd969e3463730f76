//! `pg_typeof(any)`: the name of its argument's Postgres type (`integer`, `numeric`,
//! `timestamp with time zone`, `integer[]`), as Postgres's `regtype` output prints it.
//! The name comes from the argument's field, so a `varchar` or `json` mark
//! (`sql::types`) is seen. Registered by `functions::register`.

use std::hash::Hash;

use arrow::datatypes::{DataType, Field};
use arrow_pg::datatypes::into_pg_type;
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use pgwire::api::Type;

use super::information_schema::sql_name;
use crate::sql::types::marked_type;

/// The `pg_typeof` function.
pub(super) fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(TypeOf { signature: Signature::any(1, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeOf {
    signature: Signature,
}

impl ScalarUDFImpl for TypeOf {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let name = args.arg_fields.first().map_or_else(|| "unknown".to_string(), |f| type_name(f));
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}

/// The Postgres name of `field`'s type.
fn type_name(field: &Field) -> String {
    if let Some(marked) = marked_type(field) {
        return named(&marked);
    }
    match field.data_type() {
        DataType::Null => "unknown".into(),
        DataType::Duration(_) => "interval".into(),
        DataType::List(element) | DataType::LargeList(element) | DataType::FixedSizeList(element, _) => {
            format!("{}[]", type_name(element))
        }
        other => into_pg_type(other).map_or_else(|_| "unknown".into(), |t| named(&t)),
    }
}

/// The name `pg_typeof` prints for `pg_type`.
fn named(pg_type: &Type) -> String {
    match sql_name(pg_type) {
        "USER-DEFINED" | "ARRAY" => pg_type.name().to_string(),
        name => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn names_are_postgres_type_names() {
        let name = |t: DataType| type_name(&Field::new("x", t, true));
        assert_eq!(name(DataType::Int32), "integer");
        assert_eq!(name(DataType::Float64), "double precision");
        assert_eq!(name(DataType::Decimal128(38, 0)), "numeric");
        assert_eq!(name(DataType::Null), "unknown");
        assert_eq!(name(DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))), "bigint[]");
        let zoned = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()));
        assert_eq!(name(zoned), "timestamp with time zone");
        let varchar = crate::sql::types::marked(Field::new("x", DataType::Utf8, true), crate::sql::types::VARCHAR);
        assert_eq!(type_name(&varchar), "character varying");
    }
}
