//! Planning a push query, `SELECT ... FROM relation [WHERE ...] EMIT CHANGES`: which view
//! or stream it reads, and the filter and projection to run on every row it sends.
//!
//! Called by the engine (`engine::push`) when a push query is described or started. The
//! query is planned by DataFusion (`SqlToRel` and its analyzer, which resolves names and
//! coerces types), then must have the shape `Projection [Filter] [alias] TableScan`; the
//! WHERE and SELECT expressions become physical expressions over the relation's columns.
//! Everything else (aggregates, joins, ORDER BY, LIMIT, window functions) is refused with
//! 0A000: a materialized view computes those, and can be subscribed to.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::DFSchema;
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast;

use super::relations::WindowedStream;
use crate::catalog::SCHEMA_NAME;
use crate::dataflow::map::Map;
use crate::error::{Error, Result};

/// A planned push query.
pub struct PushPlan {
    /// The view or stream it reads.
    pub relation: String,
    /// The WHERE and SELECT list over the relation's columns.
    pub map: Map,
    /// The columns it sends (besides `op` and `commit_ts`).
    pub schema: SchemaRef,
    /// True when the query is `SELECT * FROM relation`: rows go out unchanged.
    pub identity: bool,
}

/// What a push query may be, for the refusals.
const SHAPE: &str = "push queries (EMIT CHANGES) read one materialized view or stream, with an optional WHERE";

/// Plans `query` (the SELECT without its `EMIT CHANGES`).
pub async fn plan_push(state: &SessionState, query: &ast::Query) -> Result<PushPlan> {
    let statement = DFStatement::Statement(Box::new(ast::Statement::Query(Box::new(query.clone()))));
    let plan = state.statement_to_plan(statement).await?;
    let plan = state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {})?;
    let LogicalPlan::Projection(projection) = &plan else { return Err(refusal(&plan)) };
    let (filter, mut below) = match projection.input.as_ref() {
        LogicalPlan::Filter(f) => (Some((&f.predicate, f.input.schema())), f.input.as_ref()),
        other => (None, other),
    };
    if let LogicalPlan::SubqueryAlias(alias) = below {
        below = alias.input.as_ref();
    }
    let LogicalPlan::TableScan(scan) = below else { return Err(refusal(below)) };
    if source_as_provider(&scan.source)?.downcast_ref::<WindowedStream>().is_some() {
        return Err(aggregates_refused());
    }
    if scan.table_name.schema().is_some_and(|s| s != SCHEMA_NAME) {
        return Err(Error::Unsupported(format!("{SHAPE}; \"{}\" is a system table", scan.table_name)));
    }
    let physical = |e: &Expr, schema: &DFSchema| -> Result<Arc<dyn PhysicalExpr>> {
        Ok(create_physical_expr(e, schema, state.execution_props(), &PhysicalPlanningContext::default())?)
    };
    let input = projection.input.schema();
    let exprs = projection.expr.iter().map(|e| physical(e, input)).collect::<Result<Vec<_>>>()?;
    let schema: SchemaRef = Arc::new(projection.schema.as_arrow().clone());
    let identity = filter.is_none() && is_identity(&projection.expr, input);
    let filter = filter.map(|(predicate, schema)| physical(predicate, schema)).transpose()?;
    let map = Map::new(filter, Some((exprs, schema.clone())));
    Ok(PushPlan { relation: scan.table_name.table().to_string(), map, schema, identity })
}

/// Whether `exprs` are the columns of `input`, in order.
fn is_identity(exprs: &[Expr], input: &DFSchema) -> bool {
    exprs.len() == input.fields().len()
        && exprs
            .iter()
            .enumerate()
            .all(|(i, e)| matches!(e, Expr::Column(c) if input.index_of_column(c).ok() == Some(i)))
}

fn aggregates_refused() -> Error {
    Error::Unsupported(
        "aggregations and windows in push queries are not supported: create a materialized view and SUBSCRIBE to it"
            .into(),
    )
}

/// Why a plan node cannot be part of a push query.
fn refusal(node: &LogicalPlan) -> Error {
    match node {
        LogicalPlan::Aggregate(_) | LogicalPlan::Window(_) | LogicalPlan::Distinct(_) => aggregates_refused(),
        LogicalPlan::Projection(p) => refusal(&p.input),
        LogicalPlan::Filter(f) => refusal(&f.input),
        LogicalPlan::Sort(_) => Error::Unsupported(format!("{SHAPE}; ORDER BY is not supported")),
        LogicalPlan::Limit(_) => Error::Unsupported(format!("{SHAPE}; LIMIT is not supported")),
        LogicalPlan::Join(_) => Error::Unsupported(format!("{SHAPE}; joins are not supported")),
        LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => {
            Error::Unsupported(format!("{SHAPE}; this query reads no relation"))
        }
        LogicalPlan::TableScan(_) | LogicalPlan::SubqueryAlias(_) => {
            Error::Unsupported(format!("{SHAPE}; subqueries are not supported"))
        }
        other => Error::Unsupported(format!("{SHAPE}; {} is not supported", other.display())),
    }
}
