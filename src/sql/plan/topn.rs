//! Lowering a filter on the rank of `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)` into
//! a top-N or deduplication operator (`crate::dataflow::topn`).
//!
//! Part of the view planner (`super`). DataFusion plans `SELECT * FROM (SELECT *, ROW_NUMBER()
//! OVER (...) AS rn FROM s) WHERE rn <= 3` as a `Filter` over projections and aliases over a
//! `Window`. The conditions on the rank become the ranks kept (`rn <= N`, `rn < N`, `rn = N`,
//! optionally with a lower bound `rn >= M`); other conditions become a filter after the
//! operator. `rn = 1` ordered by the stream's event time is deduplication: ascending keeps
//! the first row (final once the watermark passes it, so append-only), descending the last.
//! Other window functions, frames, and windows without a filter on their rank are refused
//! with 0A000.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::logical_plan::{Filter, Window};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator as BinaryOp, WindowFrame, WindowFrameBound,
};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{PhysicalExpr, create_physical_sort_expr};

use super::{Lowering, Node, nullable, window_bound};
use crate::dataflow::aggregate::WindowKey;
use crate::dataflow::topn::{TopNEmit, TopNKind, TopNSpec};
use crate::dataflow::window::WindowKind;
use crate::error::{Error, Result};
use crate::sql::relations::{StreamTable, WindowedStream};

/// The error for a window function that is not a filtered `ROW_NUMBER()`.
pub(super) fn needs_rank_filter() -> Error {
    Error::Unsupported(
        "window functions (OVER) are supported in materialized views only as ROW_NUMBER() filtered on its rank, as in SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY x DESC) AS rn FROM s) WHERE rn <= 3"
            .into(),
    )
}

/// Whether `plan` is a window function's output seen through projections and aliases.
pub(super) fn over_window(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::SubqueryAlias(a) => over_window(&a.input),
        LogicalPlan::Projection(p) => over_window(&p.input),
        LogicalPlan::Window(_) => true,
        _ => false,
    }
}

impl Lowering<'_> {
    /// A filter over a window function: its rank conditions select the ranks kept.
    pub(super) fn top_n(&mut self, f: &Filter) -> Result<()> {
        let mut ranks = (1, None);
        let mut residual = Vec::new();
        for e in split_conjunction(&f.predicate) {
            if !rank_condition(e, &f.input, &mut ranks)? {
                residual.push(e.clone());
            }
        }
        let (first, last) = match ranks {
            (_, None) if residual.len() == split_conjunction(&f.predicate).len() => return Err(needs_rank_filter()),
            (_, None) => return Err(bad_rank_filter("it needs an upper bound, such as rn <= 10")),
            (first, Some(last)) if last < first.max(1) => return Err(bad_rank_filter("it selects no rows")),
            (first, Some(last)) => (first.max(1) as u64, last as u64),
        };
        self.lower_over_window(&f.input, (first, last))?;
        if let Some(rest) = conjunction(residual) {
            let predicate = self.physical(&rest, f.input.schema())?;
            self.chain.push(Node::Filter(predicate));
        }
        Ok(())
    }

    /// Lowers the projections above the window after the top-N that replaces it.
    fn lower_over_window(&mut self, plan: &LogicalPlan, ranks: (u64, u64)) -> Result<()> {
        match plan {
            LogicalPlan::SubqueryAlias(a) => self.lower_over_window(&a.input, ranks),
            LogicalPlan::Projection(p) => {
                self.lower_over_window(&p.input, ranks)?;
                self.project(p)
            }
            LogicalPlan::Window(w) => self.rank_window(w, ranks),
            _ => Err(Error::Internal("a rank filter lost its window function".into())),
        }
    }

    fn rank_window(&mut self, w: &Window, ranks: (u64, u64)) -> Result<()> {
        let call = row_number(w)?;
        self.lower(&w.input)?;
        let schema = w.input.schema();
        let partition_by = &call.params.partition_by;
        let partition = partition_by.iter().map(|e| self.physical(e, schema)).collect::<Result<Vec<_>>>()?;
        let partition_fields = partition_by
            .iter()
            .map(|e| {
                let (_, field) = e.to_field(schema)?;
                let name = match e {
                    Expr::Column(c) => c.name.clone(),
                    other => other.schema_name().to_string(),
                };
                Ok(Field::new(name, field.data_type().clone(), true))
            })
            .collect::<Result<Vec<_>>>()?;
        let order_by = &call.params.order_by;
        let context = PhysicalPlanningContext::default();
        let order = (order_by.iter())
            .map(|s| Ok(create_physical_sort_expr(s, schema, self.state.execution_props(), &context)?))
            .collect::<Result<Vec<_>>>()?;
        // Grouped by both bounds, the end tells when a window closes (exact for cumulating
        // windows, whose ends differ for one start); a session's start says nothing of its end.
        let window = (partition_by.iter().enumerate())
            .filter_map(|(i, e)| match window_bound(e, &w.input)? {
                (_, true) => Some(WindowKey { group_index: i, end_offset: 0 }),
                (WindowKind::Session { .. }, false) => None,
                (kind, false) => Some(WindowKey { group_index: i, end_offset: kind.size() }),
            })
            .min_by_key(|k| k.end_offset);
        let by_time = ranks == (1, 1) && order_by.len() == 1 && is_event_time(&order_by[0].expr, &w.input);
        let kind = match (by_time, order_by.first().is_some_and(|s| s.asc)) {
            (false, _) => TopNKind::TopN,
            (true, true) => TopNKind::KeepFirst,
            (true, false) => TopNKind::KeepLast,
        };
        let updating_input = self.chain.keyed;
        let emit = match (self.chain.emit_on_close && window.is_some(), kind) {
            (true, _) => TopNEmit::OnWindowClose,
            (false, TopNKind::KeepFirst) if !updating_input => TopNEmit::FirstRow,
            _ => TopNEmit::Updates,
        };
        let output_schema = nullable(&w.schema);
        let spec =
            TopNSpec { partition, partition_fields, order, ranks, window, emit, kind, updating_input, output_schema };
        self.chain.push(Node::TopN(spec));
        self.chain.keyed = emit == TopNEmit::Updates;
        self.chain.windowed |= emit == TopNEmit::OnWindowClose;
        Ok(())
    }
}

/// Where the rank is among the columns `plan` passes on, if it is a window function's
/// output seen through filters and aliases.
pub(super) fn rank_column(plan: &LogicalPlan) -> Option<usize> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => rank_column(&a.input),
        LogicalPlan::Filter(f) => rank_column(&f.input),
        LogicalPlan::Window(w) => Some(w.input.schema().fields().len()),
        _ => None,
    }
}

/// `e` with the rank column named `rank` (DataFusion names it after the whole OVER clause).
pub(super) fn rename_rank(e: Arc<dyn PhysicalExpr>, rank: usize) -> Result<Arc<dyn PhysicalExpr>> {
    let renamed = e.transform(|e| {
        Ok(match e.downcast_ref::<Column>() {
            Some(c) if c.index() == rank => {
                Transformed::yes(Arc::new(Column::new("rank", rank)) as Arc<dyn PhysicalExpr>)
            }
            _ => Transformed::no(e),
        })
    })?;
    Ok(renamed.data)
}

/// The window's single function, checked to be `ROW_NUMBER()` with ORDER BY and no frame.
fn row_number(w: &Window) -> Result<&WindowFunction> {
    let [expr] = w.window_expr.as_slice() else {
        return Err(Error::Unsupported(
            "only one window function per materialized view is supported (ROW_NUMBER() filtered on its rank)".into(),
        ));
    };
    let Expr::WindowFunction(call) = strip_alias(expr) else {
        return Err(Error::Internal(format!("unexpected window expression {expr}")));
    };
    let name = call.fun.name();
    if name != "row_number" {
        return Err(Error::Unsupported(format!(
            "window function {name}() is not supported in materialized views; only ROW_NUMBER() filtered on its rank is"
        )));
    }
    let p = &call.params;
    if p.filter.is_some() || !p.args.is_empty() {
        return Err(Error::Unsupported("ROW_NUMBER() takes no arguments and no FILTER in materialized views".into()));
    }
    if !default_frame(&p.window_frame) {
        return Err(Error::Unsupported(
            "window frames (ROWS, RANGE or GROUPS BETWEEN ...) are not supported in materialized views".into(),
        ));
    }
    if p.order_by.is_empty() {
        return Err(Error::Unsupported("ROW_NUMBER() in a materialized view needs ORDER BY in its OVER clause".into()));
    }
    Ok(call)
}

/// Whether `frame` is one DataFusion gives an OVER clause without a frame (from the start of
/// the partition to the current row or its end; bounds may be retyped by coercion).
fn default_frame(frame: &WindowFrame) -> bool {
    let unbounded = |v: &ScalarValue| v.is_null();
    matches!(&frame.start_bound, WindowFrameBound::Preceding(v) if unbounded(v))
        && match &frame.end_bound {
            WindowFrameBound::CurrentRow => true,
            WindowFrameBound::Following(v) => unbounded(v),
            WindowFrameBound::Preceding(_) => false,
        }
}

fn strip_alias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => strip_alias(&a.expr),
        other => other,
    }
}

fn bad_rank_filter(why: &str) -> Error {
    Error::Unsupported(format!(
        "a filter on the rank of ROW_NUMBER() must be rn <= N, rn < N or rn = N (optionally with rn >= M); {why}"
    ))
}

/// If `e` is a condition on the rank, narrows `ranks` (first, last) by it and says so;
/// refuses other uses of the rank.
fn rank_condition(e: &Expr, plan: &LogicalPlan, ranks: &mut (i64, Option<i64>)) -> Result<bool> {
    let bounds = match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match (is_rank(left, plan), is_rank(right, plan)) {
            (true, false) => literal(right).map(|n| vec![(*op, n)]),
            (false, true) => literal(left).map(|n| vec![(flip(*op), n)]),
            _ => None,
        },
        Expr::Between(b) if !b.negated && is_rank(&b.expr, plan) => match (literal(&b.low), literal(&b.high)) {
            (Some(low), Some(high)) => Some(vec![(BinaryOp::GtEq, low), (BinaryOp::LtEq, high)]),
            _ => None,
        },
        _ => None,
    };
    let Some(bounds) = bounds else {
        if e.column_refs().into_iter().any(|c| is_rank(&Expr::Column(c.clone()), plan)) {
            return Err(bad_rank_filter(&format!("found {e}")));
        }
        return Ok(false);
    };
    for (op, n) in bounds {
        let (first, last) = ranks;
        match op {
            BinaryOp::Lt => *last = Some(last.map_or(n - 1, |l| l.min(n - 1))),
            BinaryOp::LtEq => *last = Some(last.map_or(n, |l| l.min(n))),
            BinaryOp::Eq => {
                *first = (*first).max(n);
                *last = Some(last.map_or(n, |l| l.min(n)));
            }
            BinaryOp::Gt => *first = (*first).max(n + 1),
            BinaryOp::GtEq => *first = (*first).max(n),
            _ => return Err(bad_rank_filter(&format!("found {e}"))),
        }
    }
    Ok(true)
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        other => other,
    }
}

fn strip_casts(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip_casts(&c.expr),
        Expr::TryCast(c) => strip_casts(&c.expr),
        Expr::Alias(a) => strip_casts(&a.expr),
        other => other,
    }
}

/// An integer constant (through casts the type coercion added).
fn literal(e: &Expr) -> Option<i64> {
    let Expr::Literal(v, _) = strip_casts(e) else { return None };
    match v.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(Some(n)) => Some(n),
        _ => None,
    }
}

/// Whether `e` is the rank column of the window under `plan`.
fn is_rank(e: &Expr, plan: &LogicalPlan) -> bool {
    let Expr::Column(c) = strip_casts(e) else { return false };
    let origin = plan.schema().index_of_column(c).ok().and_then(|i| origin(i, plan, strip_casts));
    matches!(origin, Some((LogicalPlan::Window(w), i)) if i >= w.input.schema().fields().len())
}

/// Whether `e` is the event-time (watermark) column of the stream read under `plan`.
fn is_event_time(e: &Expr, plan: &LogicalPlan) -> bool {
    let Expr::Column(c) = strip_alias(e) else { return false };
    let Some((LogicalPlan::TableScan(scan), index)) =
        plan.schema().index_of_column(c).ok().and_then(|i| origin(i, plan, strip_alias))
    else {
        return false;
    };
    let Some(index) = scan.projection.as_ref().map_or(Some(index), |p| p.get(index).copied()) else { return false };
    let Ok(provider) = source_as_provider(&scan.source) else { return false };
    match provider.downcast_ref::<WindowedStream>() {
        Some(w) => w.time_column == index,
        None => provider.downcast_ref::<StreamTable>().is_some_and(|s| s.info.time_column == Some(index)),
    }
}

/// Where column `index` of `plan` comes from: the node that makes it (a scan, a window
/// function, an aggregate...) and its index there, following columns passed on unchanged
/// (up to what `strip` removes) through aliases, projections, filters, joins and windows.
fn origin(index: usize, plan: &LogicalPlan, strip: fn(&Expr) -> &Expr) -> Option<(&LogicalPlan, usize)> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => origin(index, &a.input, strip),
        LogicalPlan::Filter(f) => origin(index, &f.input, strip),
        LogicalPlan::Projection(p) => {
            let Expr::Column(c) = strip(p.expr.get(index)?) else { return None };
            origin(p.input.schema().index_of_column(c).ok()?, &p.input, strip)
        }
        LogicalPlan::Join(j) => {
            let left = j.left.schema().fields().len();
            if index < left { origin(index, &j.left, strip) } else { origin(index - left, &j.right, strip) }
        }
        LogicalPlan::Window(w) if index < w.input.schema().fields().len() => origin(index, &w.input, strip),
        other => Some((other, index)),
    }
}

/// The EXPLAIN line of a top-N or deduplication.
pub(super) fn explain(spec: &TopNSpec) -> String {
    let partition: Vec<String> = spec.partition.iter().map(|e| e.to_string()).collect();
    let order: Vec<String> = spec.order.iter().map(|o| o.to_string()).collect();
    let window = spec.window.as_ref().map_or(String::new(), |w| format!(" window={}", partition[w.group_index]));
    let emit = match spec.emit {
        TopNEmit::Updates => "on update",
        TopNEmit::OnWindowClose => "on window close",
        TopNEmit::FirstRow => "on watermark",
    };
    let (first, last) = spec.ranks;
    let (partition, order) = (partition.join(", "), order.join(", "));
    match spec.kind {
        TopNKind::TopN => {
            let from = if first > 1 { format!(" from={first}") } else { String::new() };
            format!("TopN: partition=[{partition}] order=[{order}] limit={last}{from}{window} emit={emit}")
        }
        TopNKind::KeepFirst | TopNKind::KeepLast => {
            let keep = if spec.kind == TopNKind::KeepFirst { "first" } else { "last" };
            format!("Deduplicate: key=[{partition}] order=[{order}] keep={keep}{window} emit={emit}")
        }
    }
}
