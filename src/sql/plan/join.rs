//! Lowering a join of a stream with a changelog table into a lookup join.
//!
//! Part of the view planner (`super`): the stream side lowers as usual; the table side must
//! be a scan of a table, and the equality conditions must cover exactly the table's primary
//! key, so every stream row matches at most one table row. Other conditions of an inner join
//! become a filter after it. Joins of two streams go to `super::stream_join`; joins of two
//! tables are refused with 0A000.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, JoinType};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{BinaryExpr, Expr, Join, LogicalPlan, Operator as BinaryOp, TableScan};
use datafusion::physical_expr::PhysicalExpr;

use super::{Lowering, Node, nullable};
use crate::dataflow::lookup::{LookupSpec, TableIndex};
use crate::error::{Error, Result};
use crate::sql::relations::TableRelation;

impl Lowering<'_> {
    pub(super) fn join(&mut self, j: &Join) -> Result<()> {
        let (stream_side, table_side, table_first) = match (table_scan(&j.left), table_scan(&j.right)) {
            (None, Some(_)) => (&j.left, &j.right, false),
            (Some(_), None) => (&j.right, &j.left, true),
            (Some(_), Some(_)) => {
                return Err(Error::Unsupported(
                    "joining two tables is not supported in materialized views; query the tables with SELECT".into(),
                ));
            }
            (None, None) => return self.stream_join(j),
        };
        let keep_unmatched = match (j.join_type, table_first) {
            (JoinType::Inner, _) => false,
            (JoinType::Left, false) | (JoinType::Right, true) => true,
            _ => {
                return Err(Error::Unsupported(
                    "a stream can be joined with a table by an INNER or a LEFT join (stream LEFT JOIN table)".into(),
                ));
            }
        };
        let Some((scan, table, table_filters)) = table_scan(table_side) else {
            return Err(Error::Internal("table side vanished".into()));
        };
        self.lower(stream_side)?;
        let (pairs, mut residual) = split_condition(j, table_first);
        // Conditions on the table alone (moved below the join by the filter push-down)
        // apply to the joined rows.
        for filter in table_filters {
            residual.push(requalify(filter, table_side.schema())?);
        }
        let keys = self.lookup_keys(&pairs, stream_side.schema(), table_side.schema(), scan, &table)?;
        let table_columns =
            scan.projection.clone().unwrap_or_else(|| (0..scan.source.schema().fields().len()).collect());
        self.chain.push(Node::Lookup(LookupSpec {
            table: table.name.clone(),
            index: table.index.clone(),
            keys,
            table_columns,
            keep_unmatched,
            table_first,
            schema: nullable(&j.schema),
        }));
        if let Some(rest) = conjunction(residual) {
            if keep_unmatched {
                return Err(Error::Unsupported(
                    "a LEFT join of a stream with a table can only compare the table's primary key; move other conditions to WHERE".into(),
                ));
            }
            let predicate = self.physical(&rest, &j.schema)?;
            self.chain.push(Node::Filter(predicate));
        }
        self.tables.push(table.name.clone());
        Ok(())
    }

    /// The stream expression for each primary key column of the table, in key order.
    fn lookup_keys(
        &self,
        pairs: &[(Expr, Expr)],
        stream: &DFSchema,
        table_schema: &DFSchema,
        scan: &TableScan,
        table: &TableSide,
    ) -> Result<Vec<Arc<dyn PhysicalExpr>>> {
        let key_names: Vec<String> =
            table.index.key_columns().iter().map(|&i| scan.source.schema().field(i).name().clone()).collect();
        let wrong = || {
            Error::Unsupported(format!(
                "a stream can be joined with table \"{}\" only on its primary key ({}), each key column compared with = once",
                table.name,
                key_names.join(", ")
            ))
        };
        let mut by_key: BTreeMap<usize, Arc<dyn PhysicalExpr>> = BTreeMap::new();
        for (stream_expr, table_expr) in pairs {
            let Expr::Column(column) = table_expr else { return Err(wrong()) };
            let projected = table_schema.index_of_column(column).map_err(|_| wrong())?;
            let position = scan.projection.as_ref().map_or(projected, |p| p[projected]);
            let key = table.index.key_columns().iter().position(|&k| k == position).ok_or_else(wrong)?;
            if by_key.insert(key, self.physical(stream_expr, stream)?).is_some() {
                return Err(wrong());
            }
        }
        if by_key.len() != key_names.len() {
            return Err(wrong());
        }
        Ok(by_key.into_values().collect())
    }
}

/// The table a join side reads.
struct TableSide {
    name: String,
    index: Arc<TableIndex>,
}

/// The table scan (under aliases and filters) that `plan` is, if it is one, with the
/// filters' conditions.
fn table_scan(plan: &LogicalPlan) -> Option<(&TableScan, TableSide, Vec<Expr>)> {
    match plan {
        LogicalPlan::SubqueryAlias(a) => table_scan(&a.input),
        LogicalPlan::Filter(f) => {
            let (scan, side, mut filters) = table_scan(&f.input)?;
            filters.push(f.predicate.clone());
            Some((scan, side, filters))
        }
        LogicalPlan::TableScan(scan) => {
            let provider = source_as_provider(&scan.source).ok()?;
            let table = provider.downcast_ref::<TableRelation>()?;
            Some((scan, TableSide { name: table.name.clone(), index: table.index.clone() }, scan.filters.clone()))
        }
        _ => None,
    }
}

/// `e` with its columns named as in `schema` (a table's filter names the table; the join
/// may know it by an alias).
fn requalify(e: Expr, schema: &DFSchema) -> Result<Expr> {
    let renamed = e.transform(|e| match e {
        Expr::Column(c) => {
            let (qualifier, field) = schema.qualified_field_with_unqualified_name(&c.name)?;
            Ok(Transformed::yes(Expr::Column(Column::new(qualifier.cloned(), field.name()))))
        }
        other => Ok(Transformed::no(other)),
    })?;
    Ok(renamed.data)
}

/// The join's equality pairs as (stream expression, table expression), and every other
/// condition.
pub(super) fn split_condition(j: &Join, table_first: bool) -> (Vec<(Expr, Expr)>, Vec<Expr>) {
    let orient = |(l, r): (Expr, Expr)| if table_first { (r, l) } else { (l, r) };
    let mut pairs: Vec<(Expr, Expr)> = j.on.iter().cloned().map(orient).collect();
    let mut residual = Vec::new();
    for e in j.filter.iter().flat_map(|f| split_conjunction(f)) {
        match equality(e, j) {
            Some(pair) => pairs.push(orient(pair)),
            None => residual.push(e.clone()),
        }
    }
    (pairs, residual)
}

/// `left_expr = right_expr` with each side over one input only, as (left, right).
fn equality(e: &Expr, j: &Join) -> Option<(Expr, Expr)> {
    let Expr::BinaryExpr(BinaryExpr { left, op: BinaryOp::Eq, right }) = e else { return None };
    let over = |e: &Expr, schema: &DFSchema| {
        let refs = e.column_refs();
        !refs.is_empty() && refs.iter().all(|c| schema.has_column(c))
    };
    let (ls, rs) = (j.left.schema(), j.right.schema());
    if over(left, ls) && over(right, rs) {
        Some((left.as_ref().clone(), right.as_ref().clone()))
    } else if over(right, ls) && over(left, rs) {
        Some((right.as_ref().clone(), left.as_ref().clone()))
    } else {
        None
    }
}
