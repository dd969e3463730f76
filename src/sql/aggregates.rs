//! `avg` and `sum` with Postgres's result types. Postgres sums `bigint`s as `numeric` (a
//! sum past the `bigint` range is still right); DataFusion as `bigint`, wrapping around.
//! Postgres averages integers and numerics as
//! `numeric` (`avg` of 1 and 2 is `1.5000000000000000`); DataFusion averages integers as
//! `float8` and numerics to their scale plus 4, truncated. [`PostgresAggregates`] is an
//! analyzer rule, installed by `sql::semantics::register` before type coercion, that computes
//! such an `avg` as Postgres does: the `numeric` sum divided by the count, with
//! Postgres's division (`sql::operators::numeric_div`). The aggregate then computes the
//! sum and the count, and a projection over it divides them under the `avg` column's name,
//! so the plan above sees the same columns. A `sum` of `bigint`s becomes the `sum` of
//! their casts to `numeric`. `avg` of floats, and `avg` and `sum` as window functions,
//! stay DataFusion's.

use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, DFSchema, Result};
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan, Projection, cast};
use datafusion::optimizer::AnalyzerRule;

use super::operators::{QUOTIENT_SCALE, numeric_div};

/// Rewrites `avg` of integers and numerics and `sum` of `bigint`s (module doc).
#[derive(Debug, Default)]
pub struct PostgresAggregates;

impl AnalyzerRule for PostgresAggregates {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Aggregate(aggregate) => numeric_averages(aggregate),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "sluice_postgres_aggregates"
    }
}

/// Where an output column of the rewritten aggregate comes from.
enum Output {
    /// The aggregate column at this index of the new aggregate.
    Same(usize),
    /// The sum and count at these indexes, of a sum of scale `scale`, divided to
    /// `digits` digits.
    Average { sum: usize, count: usize, scale: i8, digits: i8 },
}

/// `aggregate` with its numeric averages as sums and counts, under a projection that
/// divides them; unchanged without such averages (or with grouping sets).
fn numeric_averages(aggregate: Aggregate) -> Result<Transformed<LogicalPlan>> {
    let groups = aggregate.group_expr.len();
    let grouping_sets = aggregate.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_)));
    let input_schema = aggregate.input.schema().clone();
    let mut calls = Vec::new();
    let mut outputs = Vec::new();
    for expr in &aggregate.aggr_expr {
        match numeric_average(expr, &input_schema)?.filter(|_| !grouping_sets) {
            Some(Average { sum, count, scale, digits }) => {
                let (sum, count) =
                    (groups + call_index(&mut calls, sum, true), groups + call_index(&mut calls, count, true));
                outputs.push(Output::Average { sum, count, scale, digits });
            }
            None => match numeric_sum(expr, &input_schema)?.filter(|_| !grouping_sets) {
                Some(sum) => outputs.push(Output::Same(groups + call_index(&mut calls, sum, false))),
                None => outputs.push(Output::Same(groups + call_index(&mut calls, expr.clone(), false))),
            },
        }
    }
    if calls == aggregate.aggr_expr {
        return Ok(Transformed::no(LogicalPlan::Aggregate(aggregate)));
    }
    let rewritten = Aggregate::try_new(aggregate.input.clone(), aggregate.group_expr.clone(), calls)?;
    let schema = rewritten.schema.clone();
    let column = |i: usize| Expr::Column(Column::from(schema.qualified_field(i)));
    let mut exprs: Vec<Expr> = (0..groups).map(column).collect();
    for (i, output) in outputs.into_iter().enumerate() {
        let name = aggregate.schema.field(groups + i).name();
        exprs.push(match output {
            Output::Same(at) => column(at).alias(name),
            Output::Average { sum, count, scale, digits } => {
                let count = cast(column(count), DataType::Decimal128(20, 0));
                numeric_div(column(sum), count, scale, 0, digits).alias(name)
            }
        });
    }
    let projection = Projection::try_new(exprs, Arc::new(LogicalPlan::Aggregate(rewritten)))?;
    Ok(Transformed::yes(LogicalPlan::Projection(projection)))
}

/// The index of `call` among `calls`, added if it is not there (two averages of one
/// column share its count). A sum or count made here gets a name of its own: DataFusion
/// names `sum(CAST(x AS ...))` `sum(x)`, as the user's own `sum(x)` may be named.
fn call_index(calls: &mut Vec<Expr>, call: Expr, made: bool) -> usize {
    let same = |c: &Expr| match c {
        Expr::Alias(alias) => *alias.expr == call,
        other => *other == call,
    };
    match calls.iter().position(same) {
        Some(i) => i,
        None => {
            let name = format!("__sluice_avg_{}", calls.len());
            calls.push(if made { call.alias(name) } else { call });
            calls.len() - 1
        }
    }
}

/// An average as a sum and a count.
struct Average {
    /// `sum(x)`, a numeric.
    sum: Expr,
    /// `count(x)`.
    count: Expr,
    /// The sum's scale.
    scale: i8,
    /// The digits after the point that the average has room for: an average is never
    /// larger than its largest value, so what `x`'s type leaves of a decimal's 38 digits,
    /// up to [`QUOTIENT_SCALE`] (19 for a `bigint`).
    digits: i8,
}

/// For `sum(x)` of a `bigint` `x`: the sum of `x` cast to `numeric`.
fn numeric_sum(expr: &Expr, input: &DFSchema) -> Result<Option<Expr>> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else { return Ok(None) };
    let [arg] = params.args.as_slice() else { return Ok(None) };
    if func.name() != "sum" || !matches!(arg.get_type(input)?, DataType::Int64 | DataType::UInt64) {
        return Ok(None);
    }
    let mut call = AggregateFunction { func: func.clone(), params: params.clone() };
    call.params.args = vec![cast(arg.clone(), DataType::Decimal128(38, 0))];
    // Under the name of the user's `sum(x)`, which it replaces.
    Ok(Some(Expr::AggregateFunction(call).alias(expr.schema_name().to_string())))
}

/// For `avg(x)` of an integer or numeric `x`: its sum and count.
fn numeric_average(expr: &Expr, input: &DFSchema) -> Result<Option<Average>> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else { return Ok(None) };
    let [arg] = params.args.as_slice() else { return Ok(None) };
    if func.name() != "avg" || !params.order_by.is_empty() {
        return Ok(None);
    }
    let (summed, scale, whole_digits) = match arg.get_type(input)? {
        DataType::Int64 => (cast(arg.clone(), DataType::Decimal128(38, 0)), 0, 19),
        DataType::UInt64 => (cast(arg.clone(), DataType::Decimal128(38, 0)), 0, 20),
        t if t.is_integer() => (cast(arg.clone(), DataType::Decimal128(38, 0)), 0, 10),
        DataType::Decimal128(precision, scale) => (arg.clone(), scale, i16::from(precision) - i16::from(scale)),
        _ => return Ok(None),
    };
    let digits = i8::try_from((38 - whole_digits).clamp(0, i16::from(QUOTIENT_SCALE))).unwrap_or(0);
    let call = |func, arg| {
        let p = params;
        Expr::AggregateFunction(AggregateFunction::new_udf(
            func,
            vec![arg],
            p.distinct,
            p.filter.clone(),
            Vec::new(),
            p.null_treatment,
        ))
    };
    Ok(Some(Average { sum: call(sum_udaf(), summed), count: call(count_udaf(), arg.clone()), scale, digits }))
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    async fn rows(sql: &str) -> Vec<String> {
        let ctx = SessionContext::new();
        crate::sql::semantics::register(&ctx).expect("registers");
        let batches = ctx.sql(sql).await.expect("plans").collect().await.expect("runs");
        let text = arrow::util::pretty::pretty_format_batches(&batches).expect("prints").to_string();
        let cells = |l: &str| l.split('|').map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>().join(" | ");
        text.lines().skip(3).filter(|l| !l.starts_with('+')).map(cells).collect()
    }

    #[tokio::test]
    async fn averages_of_integers_are_numeric_quotients() {
        let sql = "SELECT k, avg(CAST(v AS INT)) AS a, count(*) AS n FROM (VALUES ('x', 1), ('x', 2), ('y', 2)) t(k, v) \
                   GROUP BY k ORDER BY k";
        assert_eq!(rows(sql).await, ["x | 1.50000000000000000000 | 2", "y | 2.00000000000000000000 | 1"]);
        // A bigint's average keeps 19 digits before the point: 19 are left after it.
        let big = "SELECT avg(v) FROM (VALUES (9223372036854775807), (9223372036854775806)) t(v)";
        assert_eq!(rows(big).await, ["9223372036854775806.5000000000000000000"]);
    }

    #[tokio::test]
    async fn averages_of_nothing_are_null_and_filters_apply() {
        let sql = "SELECT avg(v) FILTER (WHERE v > 5), avg(DISTINCT v) FROM (VALUES (1), (1), (4)) t(v)";
        // The first average has no rows: NULL, an empty cell. The literals are integers.
        assert_eq!(rows(sql).await, ["2.50000000000000000000"]);
    }

    #[tokio::test]
    async fn sums_of_bigints_are_numerics_that_do_not_wrap() {
        let sql = "SELECT sum(v), count(*) FROM (VALUES (9223372036854775807), (3)) t(v)";
        assert_eq!(rows(sql).await, ["9223372036854775810 | 2"]);
        let ctx = SessionContext::new();
        crate::sql::semantics::register(&ctx).expect("registers");
        let frame = ctx.sql("SELECT sum(v) AS s FROM (VALUES (9223372036854775807)) t(v)").await.expect("plans");
        let schema = frame.schema().as_arrow().clone();
        let plan = frame.create_physical_plan().await.expect("plans");
        assert_eq!(schema.field(0).name(), "s");
        assert_eq!(plan.schema().field(0).data_type(), &arrow::datatypes::DataType::Decimal128(38, 0));
    }
}
