//! Postgres types that Arrow has no type of its own for: `json`, `jsonb` and `varchar` are
//! all text in Arrow, and a `numeric` without precision is `DECIMAL(38, 10)`. A cast to one
//! of them (`$1::json`, `CAST(x AS VARCHAR)`, `x::numeric`) plans as a cast to the Arrow
//! type whose field carries an Arrow extension name saying which Postgres type it is, so
//! the server can describe the column with that type's OID (and show a bare `numeric`
//! without trailing zeros).
//!
//! [`register`] installs [`PgTypePlanner`] into a DataFusion session, wrapping whatever
//! type planner the session already has (the pg_catalog planner, for one), so call it
//! after the others are set up; it also installs the analyzer rules of `sql::numbers`,
//! `sql::literals`, `sql::aggregates` and `sql::operators`. The server
//! reads the mark back with [`pg_type_name`]. DataFusion keeps the mark through
//! projections and drops it at a cast to a plain type (`j::text` is text again). Streams
//! strip it: a stream's `JSON` column is text.
//!
//! [`parameter_casts`] gives a parameter that DataFusion leaves untyped the type it is cast
//! to (`$1::int4` is an `int4` parameter, as in Postgres).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::logical_expr::{Cast, Expr, LogicalPlan};
use datafusion::sql::sqlparser::ast::{DataType as SqlType, ExactNumberInfo};

/// The field metadata key of an Arrow extension type's name (arrow-schema's
/// `EXTENSION_TYPE_NAME_KEY`, which `arrow` does not re-export).
const EXTENSION_TYPE_NAME_KEY: &str = "ARROW:extension:name";

/// Extension name of a `json` column (Arrow's canonical JSON extension type).
pub const JSON: &str = "arrow.json";
/// Extension name of a `jsonb` column.
pub const JSONB: &str = "sluice.jsonb";
/// Extension name of a `varchar` column.
pub const VARCHAR: &str = "sluice.varchar";
/// Extension name of a bare `numeric` column (no precision; Arrow gives it `DECIMAL(38, 10)`).
pub const NUMERIC: &str = "sluice.numeric";
/// Extension name of a numeric quotient (`sql::operators::NumericDiv`), whose values
/// Postgres shows each with a scale of its own.
pub const QUOTIENT: &str = "sluice.quotient";
/// The field metadata key of a quotient's least scale (its operands' scale).
const QUOTIENT_SCALE_KEY: &str = "sluice.quotient.scale";

/// Plans the SQL types above; every other type goes to the wrapped planner, then to
/// DataFusion's own mapping.
#[derive(Debug, Default)]
pub struct PgTypePlanner {
    /// The planner that was installed before this one.
    pub(super) inner: Option<Arc<dyn TypePlanner>>,
}

impl TypePlanner for PgTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<FieldRef>> {
        let (data_type, extension) = match sql_type {
            SqlType::JSON => (DataType::Utf8, JSON),
            SqlType::JSONB => (DataType::Utf8, JSONB),
            SqlType::Varchar(_) | SqlType::CharacterVarying(_) | SqlType::CharVarying(_) => (DataType::Utf8, VARCHAR),
            SqlType::Numeric(ExactNumberInfo::None) | SqlType::Decimal(ExactNumberInfo::None) => {
                (DataType::Decimal128(BARE_NUMERIC_PRECISION, BARE_NUMERIC_SCALE), NUMERIC)
            }
            _ => return self.inner.as_ref().map_or(Ok(None), |inner| inner.plan_type_field(sql_type)),
        };
        Ok(Some(marked_field(data_type, extension)))
    }
}

/// The precision and scale DataFusion gives a `numeric` without them.
const BARE_NUMERIC_PRECISION: u8 = 38;
const BARE_NUMERIC_SCALE: i8 = 10;

/// A nullable field of `data_type` marked with `extension`.
fn marked_field(data_type: DataType, extension: &str) -> FieldRef {
    Arc::new(marked(Field::new("", data_type, true), extension))
}

/// `field` marked with `extension` (one of the names above), as a function returning
/// such a type marks its result.
pub fn marked(field: Field, extension: &str) -> Field {
    let metadata = [(EXTENSION_TYPE_NAME_KEY.to_string(), extension.to_string())].into();
    field.with_metadata(metadata)
}

/// The type each untyped parameter of `plan` is cast to (the first cast, if several), by
/// parameter id (`$1`).
pub fn parameter_casts(plan: &LogicalPlan) -> Result<HashMap<String, DataType>> {
    let mut casts = HashMap::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::Cast(Cast { expr, field }) = e
                    && let Expr::Placeholder(p) = expr.as_ref()
                    && p.field.is_none()
                {
                    casts.entry(p.id.clone()).or_insert_with(|| field.data_type().clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(casts)
}

/// `field` marked as a quotient of operands of scale up to `scale`.
pub fn quotient(field: Field, scale: i8) -> Field {
    let metadata = [
        (EXTENSION_TYPE_NAME_KEY.to_string(), QUOTIENT.to_string()),
        (QUOTIENT_SCALE_KEY.to_string(), scale.to_string()),
    ];
    field.with_metadata(metadata.into())
}

/// The least scale of a quotient column: `None` when `field` is no quotient.
pub fn quotient_scale(field: &Field) -> Option<i8> {
    if field.extension_type_name() != Some(QUOTIENT) {
        return None;
    }
    field.metadata().get(QUOTIENT_SCALE_KEY).and_then(|s| s.parse().ok()).or(Some(0))
}

/// The Postgres type name a field is marked with: `json`, `jsonb`, `varchar` or `numeric`.
pub fn pg_type_name(field: &Field) -> Option<&'static str> {
    match field.extension_type_name()? {
        JSON => Some("json"),
        JSONB => Some("jsonb"),
        VARCHAR => Some("varchar"),
        NUMERIC | QUOTIENT => Some("numeric"),
        _ => None,
    }
}

/// The Postgres type a field is marked with ([`pg_type_name`]).
pub fn marked_type(field: &Field) -> Option<pgwire::api::Type> {
    use pgwire::api::Type;
    match pg_type_name(field)? {
        "json" => Some(Type::JSON),
        "jsonb" => Some(Type::JSONB),
        "varchar" => Some(Type::VARCHAR),
        _ => Some(Type::NUMERIC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn column(sql: &str) -> Field {
        let config = datafusion::prelude::SessionConfig::new()
            .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false);
        let ctx = SessionContext::new_with_config(config);
        crate::sql::semantics::register(&ctx).expect("registers");
        let frame = ctx.sql(sql).await.expect("plans");
        frame.schema().field(0).as_ref().clone()
    }

    #[tokio::test]
    async fn casts_mark_the_postgres_type() {
        assert_eq!(pg_type_name(&column("SELECT '{}'::json").await), Some("json"));
        assert_eq!(pg_type_name(&column("SELECT CAST('{}' AS JSONB)").await), Some("jsonb"));
        assert_eq!(pg_type_name(&column("SELECT 'x'::varchar(3)").await), Some("varchar"));
        assert_eq!(pg_type_name(&column("SELECT 'x'::character varying").await), Some("varchar"));
        let numeric = column("SELECT 12.34::numeric").await;
        assert_eq!((pg_type_name(&numeric), numeric.data_type()), (Some("numeric"), &DataType::Decimal128(38, 10)));
        assert_eq!(pg_type_name(&column("SELECT 12.34::numeric(5, 2)").await), None);
    }

    #[tokio::test]
    async fn a_cast_to_text_drops_the_mark() {
        let field = column("SELECT j::text FROM (SELECT '{}'::json AS j)").await;
        assert_eq!(field.data_type(), &DataType::Utf8);
        assert_eq!(pg_type_name(&field), None);
    }

    #[tokio::test]
    async fn parameters_take_the_type_they_are_cast_to() {
        let ctx = SessionContext::new();
        crate::sql::semantics::register(&ctx).expect("registers");
        let plan = ctx
            .state()
            .create_logical_plan("SELECT $1::int4 AS a, $2::json AS b, $2 AS c, $3 AS d")
            .await
            .expect("plans");
        let casts = parameter_casts(&plan).expect("walks");
        assert_eq!(casts.get("$1"), Some(&DataType::Int32));
        assert_eq!(casts.get("$2"), Some(&DataType::Utf8));
        assert_eq!(casts.get("$3"), None);
    }

    #[tokio::test]
    async fn other_types_are_left_to_datafusion() {
        let field = column("SELECT 1::int4").await;
        assert_eq!(field.data_type(), &DataType::Int32);
        assert_eq!(pg_type_name(&field), None);
    }
}
