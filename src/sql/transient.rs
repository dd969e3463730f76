//! Which parts of an ad-hoc query run as streaming pipelines.
//!
//! A SELECT that reads a stream must mean what the same query means as a materialized view:
//! the same windows, sessions, watermarks and late rows. So every part of its plan that
//! reads a stream and that the streaming planner can express (scans, window functions,
//! filters, projections, aggregations, joins, top-N) is cut out and replaced by a scan of a
//! pipeline's result (DataFusion's `StreamingTable` over it): a pipeline planned by [`super::plan::plan_transient`], run to the end
//! of its bounded input, whose result rows DataFusion reads. What is left above the cuts
//! (ORDER BY, LIMIT, UNION, window functions over the result, subqueries, joins with
//! catalog tables) is ordinary SQL over finished results, which DataFusion runs as it runs
//! any query. A part the streaming planner refuses is refused for the SELECT too, with the
//! same error, so a query never quietly falls back to a different meaning.
//!
//! Called by the engine for every SELECT, before DataFusion executes it.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_plan::streaming::PartitionStream;

use super::plan::topn_over_window;
use super::relations::{StreamTable, TableRelation, ViewRelation, WindowedStream};
use crate::error::Result;

/// The columns of a cut-out part, renamed by position: an ad-hoc query's columns may share
/// a name (`SELECT * FROM a JOIN b`), the result's may not.
pub fn positional_schema(schema: &Schema) -> SchemaRef {
    // (With each column's metadata: a numeric's display scale, for one.)
    let fields: Vec<Field> = (schema.fields().iter().enumerate())
        .map(|(i, f)| f.as_ref().clone().with_name(format!("c{i}")).with_nullable(true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// One part of a query cut out for a streaming pipeline.
pub struct Part {
    /// The part's plan, as DataFusion planned it (not yet analyzed).
    pub plan: LogicalPlan,
    /// Only the first rows of its result are read (a LIMIT right above it, with no
    /// ORDER BY in between): an endless generator may then be read without an end.
    pub limited: bool,
}

/// Makes the pipeline of a part, or refuses it: what DataFusion reads as the part's result,
/// columns `c0`, `c1`, ... (see [`positional_schema`]), read once.
pub type Pipeline<'a> = dyn FnMut(Part) -> Result<Arc<dyn PartitionStream>> + 'a;

/// `plan` with every part that reads a stream and can run as a pipeline replaced by a scan
/// of the pipeline `pipeline` makes for it. With `finished_inputs`, a part whose top node the
/// streaming planner does not support (0A000: a join of two streams without an equality,
/// an aggregate that cannot retract) runs in DataFusion over the finished results of the
/// parts below it, as it would over tables; without, the refusal is the query's error.
pub fn cut(plan: LogicalPlan, finished_inputs: bool, pipeline: &mut Pipeline<'_>) -> Result<LogicalPlan> {
    Cutter { finished_inputs, pipeline }.rewrite(plan, false)
}

struct Cutter<'a, 'b> {
    finished_inputs: bool,
    pipeline: &'a mut Pipeline<'b>,
}

impl Cutter<'_, '_> {
    fn rewrite(&mut self, plan: LogicalPlan, limited: bool) -> Result<LogicalPlan> {
        if !reads_stream(&plan) {
            return Ok(plan);
        }
        if streamable(&plan) {
            match (self.pipeline)(Part { plan: plan.clone(), limited }) {
                Ok(stream) => return scan_of(&plan, stream),
                Err(e) if self.finished_inputs && e.sqlstate() == "0A000" && !is_scan(&plan) => {}
                Err(e) => return Err(e),
            }
        }
        self.rewrite_inputs(plan, limited)
    }

    /// `plan` with its inputs and subqueries rewritten; the node itself runs in DataFusion.
    fn rewrite_inputs(&mut self, plan: LogicalPlan, limited: bool) -> Result<LogicalPlan> {
        let passes_limit = match &plan {
            LogicalPlan::Limit(limit) => limit.fetch.is_some(),
            LogicalPlan::Projection(_) | LogicalPlan::SubqueryAlias(_) => limited,
            _ => false,
        };
        let mut failed = None;
        let mut apply = |child: LogicalPlan| match self.rewrite(child.clone(), passes_limit) {
            Ok(rewritten) => Ok(Transformed::yes(rewritten)),
            Err(e) => {
                failed.get_or_insert(e);
                Ok(Transformed::no(child))
            }
        };
        let plan = plan.map_children(&mut apply)?.data;
        let plan = plan.map_subqueries(&mut apply)?.data;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(plan.recompute_schema()?)
    }
}

/// A scan of `pipeline`'s result in place of `part`: its columns under the names and
/// qualifiers the rest of the query uses.
fn scan_of(part: &LogicalPlan, pipeline: Arc<dyn PartitionStream>) -> Result<LogicalPlan> {
    let table = StreamingTable::try_new(pipeline.schema().clone(), vec![pipeline])?;
    let columns = (part.schema().iter().enumerate()).map(|(i, (qualifier, field))| {
        Expr::Column(format!("c{i}").into()).alias_qualified(qualifier.cloned(), field.name())
    });
    let scan = LogicalPlanBuilder::scan("transient", provider_as_source(Arc::new(table)), None)?;
    Ok(scan.project(columns)?.build()?)
}

fn is_scan(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::TableScan(_))
}

/// Whether `plan` or a subquery of it scans a stream.
fn reads_stream(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && (provider.downcast_ref::<StreamTable>().is_some() || provider.downcast_ref::<WindowedStream>().is_some())
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Whether the streaming planner has an operator for every node of `plan`: the kinds of
/// node it lowers, over the relations it reads, without subqueries.
fn streamable(plan: &LogicalPlan) -> bool {
    let inputs_streamable = || plan.inputs().into_iter().all(streamable);
    let own_expressions = || {
        let mut plain = true;
        let _ = plan.apply_expressions(|e| {
            plain &= !e.exists(|e| Ok(is_unstreamable_expression(e))).unwrap_or(true);
            Ok(if plain { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
        });
        plain
    };
    match plan {
        LogicalPlan::TableScan(scan) => source_as_provider(&scan.source).is_ok_and(|p| {
            p.downcast_ref::<StreamTable>().is_some()
                || p.downcast_ref::<WindowedStream>().is_some()
                || p.downcast_ref::<ViewRelation>().is_some()
                || p.downcast_ref::<TableRelation>().is_some()
        }),
        // A rank filter over a window function is a top-N.
        LogicalPlan::Filter(f) if topn_over_window(&f.input) => own_expressions() && ranked_input_streamable(&f.input),
        LogicalPlan::Filter(_) | LogicalPlan::Projection(_) | LogicalPlan::Join(_) => {
            own_expressions() && inputs_streamable()
        }
        LogicalPlan::Aggregate(a) => {
            !a.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) && own_expressions() && inputs_streamable()
        }
        LogicalPlan::SubqueryAlias(_) => inputs_streamable(),
        _ => false,
    }
}

/// Whether what the window functions under a rank filter rank is streamable.
fn ranked_input_streamable(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::SubqueryAlias(a) => ranked_input_streamable(&a.input),
        LogicalPlan::Projection(p) => {
            !p.expr.iter().any(|e| e.exists(|e| Ok(is_unstreamable_expression(e))).unwrap_or(true))
                && ranked_input_streamable(&p.input)
        }
        LogicalPlan::Window(w) => streamable(&w.input),
        _ => false,
    }
}

/// Subqueries, references to an outer query, and ordered aggregates (`array_agg(x ORDER
/// BY y)`), which no streaming operator computes.
fn is_unstreamable_expression(e: &Expr) -> bool {
    match e {
        Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_) | Expr::OuterReferenceColumn(..) => true,
        Expr::SetComparison(_) => true,
        Expr::AggregateFunction(f) => !f.params.order_by.is_empty(),
        _ => false,
    }
}
