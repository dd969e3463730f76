//! Lowering a join of two streams into a [`StreamJoin`](crate::dataflow::join::StreamJoin).
//!
//! Part of the view planner (`super`). Each side is lowered into its own chain (a stream,
//! a windowed stream, a windowed aggregation, another join); inside a join a windowed
//! aggregation emits each window once, when it closes, as Flink's window aggregations do,
//! because the join needs append-only inputs. The equality conditions between the sides
//! are the join keys; the others are its filter. Conditions that bound one side's event
//! time by the other's (`b.ts BETWEEN a.ts - INTERVAL '5' SECOND AND a.ts`, or equal
//! window bounds) become [`TimeBounds`], which let the join drop state with the watermarks.

use std::collections::HashMap;

use datafusion::common::{Column, JoinType};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, ExprSchemable, Join, LogicalPlan, Operator as BinaryOp};

use super::join::split_condition;
use super::{Building, Chain, Head, JoinNode, Lowering, nullable, window_bound};
use crate::dataflow::Millis;
use crate::dataflow::join::{JoinSpec, TimeBounds};
use crate::dataflow::window::WindowKind;
use crate::error::{Error, Result};
use crate::sql::relations::{StreamTable, ViewRelation, WindowedStream, interval_millis};

impl Lowering<'_> {
    /// Lowers an inner join of two streams (or of results derived from streams).
    pub(super) fn stream_join(&mut self, j: &Join) -> Result<()> {
        if j.join_type != JoinType::Inner {
            let kind = j.join_type.to_string().to_uppercase();
            let error = Error::Unsupported(format!("{kind} joins of two streams are not supported yet"));
            return Err(error.with_hint("Use an INNER join."));
        }
        let left = self.branch(&j.left)?;
        let right = self.branch(&j.right)?;
        let (pairs, residual) = split_condition(j, false);
        if pairs.is_empty() {
            return Err(Error::Unsupported(
                "a join of two streams needs an equality condition between them, such as a.id = b.id".into(),
            ));
        }
        let (ls, rs) = (j.left.schema(), j.right.schema());
        let mut key_types = Vec::new();
        let (mut left_keys, mut right_keys) = (Vec::new(), Vec::new());
        for (l, r) in &pairs {
            let wanted = l.get_type(ls)?;
            let r = if r.get_type(rs)? == wanted {
                r.clone()
            } else {
                Expr::Cast(Cast::new(Box::new(r.clone()), wanted.clone()))
            };
            left_keys.push(self.physical(l, ls)?);
            right_keys.push(self.physical(&r, rs)?);
            key_types.push(wanted);
        }
        let bounds = time_bounds(j, &pairs, &residual);
        let filter = conjunction(residual).map(|f| self.physical(&f, &j.schema)).transpose()?;
        let spec = JoinSpec { left_keys, right_keys, filter, bounds, schema: nullable(&j.schema) };
        let left_width = ls.fields().len();
        self.chain.head = Some(Head::Join(Box::new(JoinNode { left, right, spec, key_types, left_width })));
        Ok(())
    }

    /// Lowers one side of a join into a chain of its own.
    fn branch(&mut self, plan: &LogicalPlan) -> Result<Chain> {
        let outer = std::mem::replace(&mut self.chain, Building::new(true));
        let lowered = self.lower(plan);
        let inner = std::mem::replace(&mut self.chain, outer);
        lowered?;
        if inner.keyed {
            return Err(Error::Unsupported(
                "a join of two streams cannot read an updating aggregation yet; join the streams first, or aggregate by window"
                    .into(),
            ));
        }
        inner.finish()
    }
}

/// A bound `right.t - left.t` in `[lower, upper]` for one pair of time columns.
type Range = (Millis, Millis);

/// The tightest bounds the join's conditions put on one pair of event-time columns.
fn time_bounds(j: &Join, pairs: &[(Expr, Expr)], residual: &[Expr]) -> Option<TimeBounds> {
    let mut ranges: HashMap<(usize, usize), Range> = HashMap::new();
    let mut note = |cmp: Comparison| {
        let range = ranges.entry((cmp.left, cmp.right)).or_insert((Millis::MIN, Millis::MAX));
        if matches!(cmp.op, BinaryOp::GtEq | BinaryOp::Gt | BinaryOp::Eq) {
            range.0 = range.0.max(cmp.difference);
        }
        if matches!(cmp.op, BinaryOp::LtEq | BinaryOp::Lt | BinaryOp::Eq) {
            range.1 = range.1.min(cmp.difference);
        }
    };
    for (l, r) in pairs {
        comparison(j, l, BinaryOp::Eq, r).into_iter().for_each(&mut note);
    }
    for e in residual {
        comparisons(j, e).into_iter().for_each(&mut note);
    }
    let ((left, right), (lower, upper)) = ranges
        .into_iter()
        .filter(|(_, (lo, hi))| *lo != Millis::MIN && *hi != Millis::MAX)
        .min_by_key(|((l, r), (lo, hi))| (hi.saturating_sub(*lo), *l, *r))?;
    let left_lag = time_lag(left, &j.left)?;
    let right_lag = time_lag(right, &j.right)?;
    Some(TimeBounds { left_time: left, right_time: right, lower, upper, left_lag, right_lag })
}

/// `right.t - left.t <op> difference` between two time columns.
struct Comparison {
    left: usize,
    right: usize,
    op: BinaryOp,
    difference: Millis,
}

/// The comparisons of time columns in one condition.
fn comparisons(j: &Join, e: &Expr) -> Vec<Comparison> {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => comparison(j, left, *op, right).into_iter().collect(),
        Expr::Between(Between { expr, negated: false, low, high }) => {
            let low = comparison(j, expr, BinaryOp::GtEq, low);
            let high = comparison(j, expr, BinaryOp::LtEq, high);
            low.into_iter().chain(high).collect()
        }
        _ => Vec::new(),
    }
}

/// `a <op> b` as a comparison of `right.t - left.t`, if `a` and `b` are time columns
/// (plus or minus a constant interval) of different sides with a watermark behind them.
fn comparison(j: &Join, a: &Expr, op: BinaryOp, b: &Expr) -> Option<Comparison> {
    if !matches!(op, BinaryOp::Eq | BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq) {
        return None;
    }
    let ((a_col, a_off), (b_col, b_off)) = (time_term(a)?, time_term(b)?);
    let side = |c: &Column| {
        let in_left = j.left.schema().index_of_column(c).ok().filter(|&i| time_lag(i, &j.left).is_some());
        let in_right = j.right.schema().index_of_column(c).ok().filter(|&i| time_lag(i, &j.right).is_some());
        match (in_left, in_right) {
            (Some(i), None) => Some((true, i)),
            (None, Some(i)) => Some((false, i)),
            _ => None,
        }
    };
    match (side(&a_col)?, side(&b_col)?) {
        // right + a_off <op> left + b_off  =>  right - left <op> b_off - a_off
        ((false, r), (true, l)) => Some(Comparison { left: l, right: r, op, difference: b_off - a_off }),
        // left + a_off <op> right + b_off  =>  right - left <flipped op> a_off - b_off
        ((true, l), (false, r)) => {
            let op = op.swap()?;
            Some(Comparison { left: l, right: r, op, difference: a_off - b_off })
        }
        _ => None,
    }
}

/// `column`, `column + interval`, `column - interval` or `interval + column`: the column
/// and the constant in milliseconds.
fn time_term(e: &Expr) -> Option<(Column, Millis)> {
    match e {
        Expr::Column(c) => Some((c.clone(), 0)),
        Expr::Cast(Cast { expr, .. }) => time_term(expr),
        Expr::BinaryExpr(BinaryExpr { left, op: BinaryOp::Plus, right }) => match (left.as_ref(), right.as_ref()) {
            (_, Expr::Literal(v, _)) => time_term(left).and_then(|(c, off)| Some((c, off + interval_millis(v)?))),
            (Expr::Literal(v, _), _) => time_term(right).and_then(|(c, off)| Some((c, off + interval_millis(v)?))),
            _ => None,
        },
        Expr::BinaryExpr(BinaryExpr { left, op: BinaryOp::Minus, right }) => match right.as_ref() {
            Expr::Literal(v, _) => time_term(left).and_then(|(c, off)| Some((c, off - interval_millis(v)?))),
            _ => None,
        },
        _ => None,
    }
}

/// If column `index` of `plan`'s output is an event time that the watermark bounds: how far
/// behind the watermark its rows still to come may be (0 for a stream's watermark column
/// and a window end, the window size for a window start).
pub(super) fn time_lag(index: usize, plan: &LogicalPlan) -> Option<Millis> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let provider = source_as_provider(&scan.source).ok()?;
            let index = scan.projection.as_ref().map_or(Some(index), |p| p.get(index).copied())?;
            if let Some(v) = provider.downcast_ref::<ViewRelation>() {
                return time_lag(index, &v.plan);
            }
            if let Some(w) = provider.downcast_ref::<WindowedStream>() {
                let width = provider.schema().fields().len();
                return match width - index {
                    1 => Some(0),
                    2 if !matches!(w.window, WindowKind::Session { .. }) => Some(w.window.size()),
                    _ => (index == w.time_column).then_some(0),
                };
            }
            let stream = provider.downcast_ref::<StreamTable>()?;
            (Some(index) == stream.info.time_column).then_some(0)
        }
        LogicalPlan::SubqueryAlias(a) => time_lag(index, &a.input),
        LogicalPlan::Filter(f) => time_lag(index, &f.input),
        LogicalPlan::Projection(p) => {
            let Expr::Column(c) = p.expr.get(index)?.clone().unalias() else { return None };
            time_lag(p.input.schema().index_of_column(&c).ok()?, &p.input)
        }
        LogicalPlan::Aggregate(a) => match window_bound(a.group_expr.get(index)?, &a.input)? {
            (_, true) => Some(0),
            (WindowKind::Session { .. }, false) => None,
            (kind, false) => Some(kind.size()),
        },
        _ => None,
    }
}
