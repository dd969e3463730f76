//! Postgres catalog functions that `datafusion-pg-catalog` does not provide and that psql,
//! drivers and BI tools call: `version()`, `pg_table_is_visible`, `pg_get_viewdef`, the
//! visibility checks of types and functions, `txid_current()` and `age(xid)`, and the description and definition
//! functions, which answer NULL because Sluice keeps no comments, indexes or triggers.
//!
//! Registered by the engine after `pg_catalog::register`, whose relations it reads: the
//! functions that take a relation's object id look it up in what the `pg_class` overlay
//! recorded ([`Relations`]). Session-dependent
//! functions (`current_setting`, `current_user`) are not here: the session replaces them
//! with their values before planning.

use std::hash::{Hash, Hasher};
use std::sync::{Arc, RwLock};

use std::collections::HashMap;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
    new_null_array,
};
use arrow::datatypes::{DataType, Int32Type};
use datafusion::error::Result as DfResult;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};

use super::SERVER_VERSION;
use super::pg_catalog::{OWNER, Relations, poisoned, view_definition};
use crate::catalog::Catalog;

/// What a function computes from its arguments (as arrays) and the number of rows.
type Body = Arc<dyn Fn(&[ArrayRef], usize) -> DfResult<ArrayRef> + Send + Sync>;

/// A scalar function taking any argument types (it casts what it needs itself).
struct PgFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: Body,
}

impl PgFunction {
    /// A function of `arities` arguments (of any type) returning `returns`.
    fn udf(name: &'static str, arities: &[usize], returns: DataType, body: Body) -> ScalarUDF {
        let variants =
            arities.iter().map(|&n| if n == 0 { TypeSignature::Nullary } else { TypeSignature::Any(n) }).collect();
        let signature = Signature::one_of(variants, Volatility::Stable);
        ScalarUDF::new_from_impl(PgFunction { name, signature, returns, body })
    }
}

impl std::fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgFunction").field("name", &self.name).finish()
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl Hash for PgFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let rows = arrays.first().map(|a| a.len()).unwrap_or(args.number_rows);
        Ok(ColumnarValue::Array((self.body)(&arrays, rows)?))
    }
}

/// Registers the functions on `ctx`.
pub(super) fn register(
    ctx: &SessionContext,
    relations: Arc<RwLock<Relations>>,
    catalog: Arc<RwLock<Catalog>>,
    type_oids: HashMap<String, i32>,
) {
    ctx.register_udf(version());
    ctx.register_udf(super::type_of::udf());
    ctx.register_udf(get_userbyid());
    ctx.register_udf(constant("pg_is_in_recovery", Arc::new(BooleanArray::from(vec![false]))));
    ctx.register_udf(constant("pg_postmaster_start_time", started_at()));
    ctx.register_udf(to_regtype(type_oids));
    ctx.register_udf(txid_current());
    ctx.register_udf(xid_age());
    ctx.register_udf(table_is_visible(relations.clone()));
    ctx.register_udf(to_regclass(relations.clone()));
    ctx.register_udf(get_viewdef(relations, catalog));
    for name in [
        "pg_type_is_visible",
        "pg_function_is_visible",
        "pg_collation_is_visible",
        "pg_operator_is_visible",
        "pg_opclass_is_visible",
        "pg_conversion_is_visible",
    ] {
        ctx.register_udf(always_true(name));
    }
    let sizes = |_: &[ArrayRef], rows: usize| -> DfResult<ArrayRef> { Ok(Arc::new(Int64Array::from(vec![0; rows]))) };
    ctx.register_udf(PgFunction::udf("pg_database_size", &[1], DataType::Int64, Arc::new(sizes)));
    let empty = |_: &[ArrayRef], rows: usize| -> DfResult<ArrayRef> { Ok(Arc::new(StringArray::from(vec![""; rows]))) };
    ctx.register_udf(PgFunction::udf("pg_tablespace_location", &[1], DataType::Utf8, Arc::new(empty)));
    let nulls: [(&str, &[usize]); 9] = [
        ("obj_description", &[1, 2]),
        ("col_description", &[2]),
        ("shobj_description", &[2]),
        ("pg_get_function_result", &[1]),
        ("pg_get_function_arguments", &[1]),
        ("pg_get_indexdef", &[1, 3]),
        ("pg_get_triggerdef", &[1, 2]),
        ("pg_get_ruledef", &[1, 2]),
        ("pg_get_serial_sequence", &[2]),
    ];
    for (name, arities) in nulls {
        ctx.register_udf(null_text(name, arities));
    }
}

/// The object ids in the first argument.
fn oids(args: &[ArrayRef]) -> DfResult<ArrayRef> {
    Ok(arrow::compute::cast(&args[0], &DataType::Int32)?)
}

/// `version()`: what Postgres prints, naming Sluice; clients parse the version number.
fn version() -> ScalarUDF {
    let text = format!(
        "PostgreSQL {SERVER_VERSION} (Sluice {}) on {}-linux, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    );
    let body: Body = Arc::new(move |_, rows| Ok(Arc::new(StringArray::from(vec![text.as_str(); rows]))));
    PgFunction::udf("version", &[0], DataType::Utf8, body)
}

/// A function without arguments that answers `value` (a one-row array).
fn constant(name: &'static str, value: ArrayRef) -> ScalarUDF {
    let returns = value.data_type().clone();
    let body: Body = Arc::new(move |_, rows| {
        let indices = arrow::array::UInt32Array::from(vec![0; rows]);
        Ok(arrow::compute::take(&value, &indices, None)?)
    });
    PgFunction::udf(name, &[0], returns, body)
}

/// The transaction ids `txid_current()` hands out. Sluice has no transactions beyond the
/// statement: each call (each statement that makes one) gets the next id, as in Postgres
/// when every statement commits on its own.
static NEXT_TRANSACTION: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

/// `txid_current()`: a new transaction id (DataGrip reads it on connect).
fn txid_current() -> ScalarUDF {
    let body: Body = Arc::new(|_, rows| {
        let id = NEXT_TRANSACTION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Arc::new(Int64Array::from(vec![id; rows])))
    });
    PgFunction::udf("txid_current", &[0], DataType::Int64, body)
}

/// `age(xid)`: how many transaction ids were handed out since `xid`. Only transaction ids:
/// `age(timestamp)` is not supported.
fn xid_age() -> ScalarUDF {
    let body: Body = Arc::new(|args, _| {
        if !args[0].data_type().is_integer() && !args[0].data_type().is_null() {
            return Err(datafusion::error::DataFusionError::NotImplemented(format!(
                "age({}) is not supported: only age(xid)",
                args[0].data_type()
            )));
        }
        let ids = arrow::compute::cast(&args[0], &DataType::Int64)?;
        let next = NEXT_TRANSACTION.load(std::sync::atomic::Ordering::Relaxed);
        let ages: Int32Array = ids
            .as_primitive::<arrow::datatypes::Int64Type>()
            .iter()
            .map(|id| id.map(|id| i32::try_from(next - id).unwrap_or(i32::MAX)))
            .collect();
        Ok(Arc::new(ages))
    });
    PgFunction::udf("age", &[1], DataType::Int32, body)
}

/// When this process started, for `pg_postmaster_start_time()`.
fn started_at() -> ArrayRef {
    static STARTED: std::sync::LazyLock<i64> = std::sync::LazyLock::new(|| chrono::Utc::now().timestamp_micros());
    Arc::new(TimestampMicrosecondArray::from(vec![*STARTED]).with_timezone("UTC"))
}

/// `to_regtype(name)`: the object id of the type called `name`, NULL if there is none
/// (psycopg asks for `hstore` this way).
fn to_regtype(type_oids: HashMap<String, i32>) -> ScalarUDF {
    let body: Body = Arc::new(move |args, _| {
        let names = arrow::compute::cast(&args[0], &DataType::Utf8)?;
        let oids: Int32Array =
            names.as_string::<i32>().iter().map(|n| n.and_then(|n| type_oids.get(n).copied())).collect();
        Ok(Arc::new(oids))
    });
    PgFunction::udf("to_regtype", &[1], DataType::Int32, body)
}

/// `pg_get_userbyid(oid)`: the owner of everything.
fn get_userbyid() -> ScalarUDF {
    let body: Body = Arc::new(|_, rows| Ok(Arc::new(StringArray::from(vec![OWNER; rows]))));
    PgFunction::udf("pg_get_userbyid", &[1], DataType::Utf8, body)
}

/// The functions that answer from the relations the last read of `pg_class` recorded:
/// the engine reads `pg_class` before a statement that calls one.
pub(crate) const RELATION_FUNCTIONS: &[&str] = &["to_regclass", "pg_table_is_visible", "pg_get_viewdef"];

/// `to_regclass(name)`: the object id of the relation `name` (`bids`, `public.bids`, with
/// identifier quotes as `format('%I.%I', ...)` writes them), NULL when there is none.
/// `compat` turns casts of computed names (`format(...)::regclass`) into this.
fn to_regclass(relations: Arc<RwLock<Relations>>) -> ScalarUDF {
    let body = move |args: &[ArrayRef], rows: usize| -> DfResult<ArrayRef> {
        let names = arrow::compute::cast(&args[0], &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let relations = relations.read().map_err(|_| poisoned())?;
        let oids: Int32Array = (0..rows)
            .map(|i| {
                names.is_valid(i).then(|| unquoted(names.value(i))).and_then(|n| relations.by_name.get(&n).copied())
            })
            .collect();
        Ok(Arc::new(oids))
    };
    PgFunction::udf("to_regclass", &[1], DataType::Int32, Arc::new(body))
}

/// A possibly qualified, possibly quoted relation name without its quotes
/// (`"My Table"` is `My Table`, `Public.Bids` is `public.bids`).
fn unquoted(name: &str) -> String {
    let mut parts = Vec::new();
    let mut chars = name.chars().peekable();
    while chars.peek().is_some() {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
            let _ = chars.next_if_eq(&'.');
        } else {
            for c in chars.by_ref() {
                if c == '.' {
                    break;
                }
                part.extend(c.to_lowercase());
            }
        }
        parts.push(part);
    }
    parts.join(".")
}

/// `pg_table_is_visible(oid)`: true unless the relation is outside the search path.
fn table_is_visible(relations: Arc<RwLock<Relations>>) -> ScalarUDF {
    let body: Body = Arc::new(move |args, _| {
        let oids = oids(args)?;
        let relations = relations.read().map_err(|_| poisoned())?;
        let visible: BooleanArray =
            oids.as_primitive::<Int32Type>().iter().map(|o| o.map(|o| !relations.invisible.contains(&o))).collect();
        Ok(Arc::new(visible))
    });
    PgFunction::udf("pg_table_is_visible", &[1], DataType::Boolean, body)
}

/// `pg_get_viewdef(oid [, pretty])`: the query of a materialized view, NULL for others.
fn get_viewdef(relations: Arc<RwLock<Relations>>, catalog: Arc<RwLock<Catalog>>) -> ScalarUDF {
    let body: Body = Arc::new(move |args, _| {
        let relations = relations.read().map_err(|_| poisoned())?;
        let catalog = catalog.read().map_err(|_| poisoned())?;
        let by_name = |name: &str| catalog.views.get(name).map(|v| view_definition(&v.definition));
        let defs: StringArray = if args[0].data_type() == &DataType::Utf8 {
            args[0].as_string::<i32>().iter().map(|n| n.and_then(by_name)).collect()
        } else {
            let oids = oids(args)?;
            let oids = oids.as_primitive::<Int32Type>();
            oids.iter().map(|o| o.and_then(|o| relations.views.get(&o)).and_then(|n| by_name(n))).collect()
        };
        Ok(Arc::new(defs))
    });
    PgFunction::udf("pg_get_viewdef", &[1, 2], DataType::Utf8, body)
}

/// A visibility check that is always true: every type and function is in `pg_catalog`.
fn always_true(name: &'static str) -> ScalarUDF {
    let body: Body = Arc::new(|_, rows| Ok(Arc::new(BooleanArray::from(vec![true; rows]))));
    PgFunction::udf(name, &[1], DataType::Boolean, body)
}

/// A function that answers NULL text.
fn null_text(name: &'static str, arities: &[usize]) -> ScalarUDF {
    let body: Body = Arc::new(|_, rows| Ok(new_null_array(&DataType::Utf8, rows)));
    PgFunction::udf(name, arities, DataType::Utf8, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_names_lose_their_quotes() {
        assert_eq!(unquoted("public.bids"), "public.bids");
        assert_eq!(unquoted("Public.Bids"), "public.bids");
        assert_eq!(unquoted("\"public\".\"My \"\"T\"\"\""), "public.My \"T\"");
        assert_eq!(unquoted("bids"), "bids");
    }
}
