//! Scalar subqueries of catalog queries that DataFusion cannot plan as written: a
//! correlated `(SELECT t.typname FROM pg_type t WHERE t.oid = a.atttypid)` without an
//! aggregate, which SQLAlchemy's `get_columns` and other clients send. Postgres runs it
//! per outer row and fails if it yields more than one row; DataFusion only decorrelates
//! subqueries that aggregate. Each such subquery's single result column is wrapped in
//! `first_value`, which gives the same value whenever Postgres would give one (no row:
//! NULL, one row: its value).
//!
//! DataFusion cannot decorrelate a condition on the outer row alone either
//! (`... AND pg_attribute.atthasdef`): such conditions move out, to a `CASE WHEN` around
//! the subquery, which gives NULL when they do not hold, as the subquery would.
//!
//! Nor can it decorrelate an outer column in the result column (SQLAlchemy's
//! `json_build_object('always', pg_attribute.attidentity = 'a', ...)`): each such column
//! comes from a derived table of its distinct values, joined to the outer row by equality
//! (so an outer NULL there gives NULL).
//!
//! Called by `compat::rewrite` for statements that read the Postgres catalogs only: in a
//! user's query the subquery keeps DataFusion's own error.

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    self, BinaryOperator, CaseWhen, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, GroupByExpr, Ident, ObjectName, Query, SelectItem, SetExpr, TableFactor, TableWithJoins, Visit,
    Visitor,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Aggregate functions a subquery's result column may already use (it is left alone then).
const AGGREGATES: [&str; 16] = [
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "array_agg",
    "string_agg",
    "bool_and",
    "bool_or",
    "every",
    "first_value",
    "last_value",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
];

/// Wraps the result column of every non-aggregating scalar subquery of `statement` in
/// `first_value`, and moves its conditions on the outer row alone out of it.
pub fn aggregate_scalar_subqueries(statement: &mut ast::Statement) {
    let mut collector = AliasCollector(HashMap::new());
    let _ = statement.visit(&mut collector);
    let aliases = collector.0;
    let _ = ast::visit_expressions_mut(statement, |expr| {
        let Expr::Subquery(query) = expr else { return ControlFlow::Continue(()) };
        if !aggregate(query) {
            return ControlFlow::Continue(());
        }
        let hoisted = take_outer_conditions(query);
        join_outer_columns(query, &aliases);
        if let Some(condition) = hoisted {
            let subquery = std::mem::replace(expr, Expr::value(ast::Value::Null));
            *expr = Expr::Case {
                case_token: AttachedToken::empty(),
                end_token: AttachedToken::empty(),
                operand: None,
                conditions: vec![CaseWhen { condition, result: subquery }],
                else_result: None,
            };
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `query` with its result column aggregated, when it is a plain single-column SELECT that
/// neither groups nor aggregates nor limits; true when it was.
fn aggregate(query: &mut Query) -> bool {
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return false;
    }
    let SetExpr::Select(select) = query.body.as_mut() else { return false };
    let ungrouped = matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if !ungrouped || select.having.is_some() || select.distinct.is_some() || select.from.is_empty() {
        return false;
    }
    let [SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. }] =
        select.projection.as_mut_slice()
    else {
        return false;
    };
    if aggregates(item) {
        return false;
    }
    *item = first_value(item.clone());
    // An ORDER BY of the subquery would now sort the one aggregated row: drop it.
    query.order_by = None;
    true
}

/// Takes the conjuncts of `query`'s WHERE that name only outer columns out of it; their
/// conjunction, if there are any.
fn take_outer_conditions(query: &mut Query) -> Option<Expr> {
    let SetExpr::Select(select) = query.body.as_mut() else { return None };
    let inner = relation_names(&select.from);
    let mut conjuncts = Vec::new();
    split_and(select.selection.take()?, &mut conjuncts);
    let (outer, kept): (Vec<Expr>, Vec<Expr>) = conjuncts.into_iter().partition(|c| names_only_outer(c, &inner));
    select.selection = join_and(kept);
    join_and(outer)
}

/// The tables of a statement by alias (lowercased): an alias used for several tables maps
/// to all of them.
type Aliases = HashMap<String, Vec<String>>;

/// Collects the [`Aliases`] of a statement.
struct AliasCollector(Aliases);

impl Visitor for AliasCollector {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, alias: Some(alias), .. } = factor {
            self.0.entry(alias.name.value.to_lowercase()).or_default().push(name.to_string());
        }
        ControlFlow::Continue(())
    }
}

/// Replaces each outer column `t.c` in `query`'s result column, and in its conditions that
/// compare inner with outer columns other than by equality (`a.attcollation <>
/// t.typcollation`), with `__outer_n.c`, where `__outer_n` is `(SELECT DISTINCT c FROM
/// t)` joined by `__outer_n.c = t.c`. Nothing changes when an outer alias cannot be
/// resolved to one table.
fn join_outer_columns(query: &mut Query, aliases: &Aliases) {
    let SetExpr::Select(select) = query.body.as_mut() else { return };
    let inner = relation_names(&select.from);
    let [SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. }] =
        select.projection.as_mut_slice()
    else {
        return;
    };
    if contains_subquery(item) {
        return;
    }
    let mut conjuncts = Vec::new();
    if let Some(selection) = select.selection.take() {
        split_and(selection, &mut conjuncts);
    }
    let mixed: Vec<bool> = conjuncts.iter().map(|c| compares_inner_with_outer(c, &inner)).collect();
    let mut targets: Vec<&mut Expr> = vec![item];
    targets.extend(conjuncts.iter_mut().zip(&mixed).filter(|(_, m)| **m).map(|(c, _)| c));
    let outer = outer_columns(&targets, &inner);
    let tables: Option<Vec<String>> = outer.iter().map(|(q, _)| outer_table(q, aliases)).collect();
    let Some(tables) = tables else {
        select.selection = join_and(conjuncts);
        return;
    };
    for target in targets {
        rename_outer_columns(target, &inner, &outer);
    }
    for (n, ((qualifier, column), table)) in outer.iter().zip(&tables).enumerate() {
        let derived = format!("SELECT 1 FROM (SELECT DISTINCT {column} FROM {table}) AS __outer_{n}");
        let equality = format!("__outer_{n}.{column} = {qualifier}.{column}");
        if let Some((from, condition)) = parse_from(&derived).zip(parse_expr(&equality)) {
            select.from.push(from);
            conjuncts.push(condition);
        }
    }
    select.selection = join_and(conjuncts);
}

/// The outer columns (qualifier as written, column) that `targets` name, each once.
fn outer_columns(targets: &[&mut Expr], inner: &[String]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for target in targets {
        let _ = ast::visit_expressions(&**target, |e| {
            if let Some(key) = outer_column(e, inner)
                && !found.contains(&key)
            {
                found.push(key);
            }
            ControlFlow::<()>::Continue(())
        });
    }
    found
}

/// `(qualifier, column)` when `expr` is a column qualified by a relation outside `inner`.
fn outer_column(expr: &Expr, inner: &[String]) -> Option<(String, String)> {
    let Expr::CompoundIdentifier(parts) = expr else { return None };
    let (column, qualifier) = parts.split_last()?;
    if qualifier.is_empty() {
        return None;
    }
    let qualifier = qualifier.iter().map(ToString::to_string).collect::<Vec<_>>().join(".");
    (!inner.contains(&qualifier.to_lowercase())).then(|| (qualifier, column.to_string()))
}

/// Each outer column of `expr` listed in `outer` as `__outer_n.c`.
fn rename_outer_columns(expr: &mut Expr, inner: &[String], outer: &[(String, String)]) {
    let _ = ast::visit_expressions_mut(expr, |e| {
        if let Some(key) = outer_column(e, inner)
            && let Some(n) = outer.iter().position(|k| *k == key)
        {
            *e = Expr::CompoundIdentifier(vec![Ident::new(format!("__outer_{n}")), Ident::new(key.1)]);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The table an outer qualifier stands for: the one table of that alias, else the
/// qualifier itself (a table's name); None when the alias names several tables.
fn outer_table(qualifier: &str, aliases: &Aliases) -> Option<String> {
    match aliases.get(&qualifier.to_lowercase()).map(Vec::as_slice) {
        None => Some(qualifier.to_string()),
        Some([table]) => Some(table.clone()),
        Some(_) => None,
    }
}

/// True when `condition` names both inner and outer columns and is not an equality
/// (which DataFusion decorrelates itself).
fn compares_inner_with_outer(condition: &Expr, inner: &[String]) -> bool {
    if matches!(condition, Expr::BinaryOp { op: BinaryOperator::Eq, .. }) || contains_subquery(condition) {
        return false;
    }
    let (mut inner_columns, mut outer_columns) = (0, 0);
    let _ = ast::visit_expressions(condition, |e| {
        match e {
            Expr::Identifier(_) => inner_columns += 1,
            Expr::CompoundIdentifier(_) if outer_column(e, inner).is_some() => outer_columns += 1,
            Expr::CompoundIdentifier(_) => inner_columns += 1,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    inner_columns > 0 && outer_columns > 0
}

/// True when `expr` holds a subquery (whose columns would not be told apart here).
fn contains_subquery(expr: &Expr) -> bool {
    let mut found = false;
    let _ = ast::visit_expressions(expr, |e| {
        found |= matches!(e, Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. });
        ControlFlow::<()>::Continue(())
    });
    found
}

/// The FROM item of the query `sql`.
fn parse_from(sql: &str) -> Option<TableWithJoins> {
    let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?.pop()?;
    let ast::Statement::Query(query) = statement else { return None };
    let SetExpr::Select(select) = *query.body else { return None };
    select.from.into_iter().next()
}

/// The expression `sql`.
fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).ok()?.parse_expr().ok()
}

/// The names a column of `from` may be qualified with: aliases, else the table's full
/// name and its last part, lowercased.
fn relation_names(from: &[TableWithJoins]) -> Vec<String> {
    let factors = from.iter().flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)));
    let mut names = Vec::new();
    for factor in factors {
        match factor {
            TableFactor::Table { alias: Some(alias), .. } | TableFactor::Derived { alias: Some(alias), .. } => {
                names.push(alias.name.value.to_lowercase());
            }
            TableFactor::Table { name, alias: None, .. } => {
                names.push(name.to_string().to_lowercase());
                if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                    names.push(last.value.to_lowercase());
                }
            }
            _ => {}
        }
    }
    names
}

/// True when `condition` names columns, all qualified by a relation outside `inner`, and
/// holds no subquery.
fn names_only_outer(condition: &Expr, inner: &[String]) -> bool {
    let mut outer_columns = 0;
    let mut other = false;
    let _ = ast::visit_expressions(condition, |e| {
        match e {
            Expr::CompoundIdentifier(parts) if parts.len() > 1 => {
                let qualifier = parts[..parts.len() - 1].iter().map(|p| p.value.to_lowercase()).collect::<Vec<_>>();
                if inner.contains(&qualifier.join(".")) {
                    other = true;
                } else {
                    outer_columns += 1;
                }
            }
            Expr::Identifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => other = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    outer_columns > 0 && !other
}

/// The conjuncts of `expr`, in order.
fn split_and(expr: Expr, into: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            split_and(*left, into);
            split_and(*right, into);
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => {
            split_and(*inner, into)
        }
        other => into.push(other),
    }
}

/// `conjuncts` joined with AND; None when there are none.
fn join_and(conjuncts: Vec<Expr>) -> Option<Expr> {
    conjuncts.into_iter().reduce(|l, r| Expr::BinaryOp {
        left: Box::new(l),
        op: BinaryOperator::And,
        right: Box::new(r),
    })
}

/// True when `expr` calls an aggregate function outside nested subqueries.
fn aggregates(expr: &Expr) -> bool {
    let mut found = false;
    let _ = ast::visit_expressions(expr, |e| {
        match e {
            Expr::Function(f) if is_aggregate(&f.name) => found = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

fn is_aggregate(name: &ObjectName) -> bool {
    let last = name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_lowercase());
    last.is_some_and(|n| AGGREGATES.contains(&n.as_str()))
}

/// `first_value(expr)`.
fn first_value(expr: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("first_value")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(expr))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses").remove(0);
        aggregate_scalar_subqueries(&mut statement);
        statement.to_string()
    }

    #[test]
    fn correlated_subqueries_without_aggregates_get_one() {
        let out = rewritten(
            "SELECT a.attname, (SELECT t.typname FROM pg_type t WHERE t.oid = a.atttypid) FROM pg_attribute a",
        );
        assert!(out.contains("(SELECT first_value(t.typname) FROM pg_type t WHERE t.oid = a.atttypid)"), "{out}");
        let out = rewritten(
            "SELECT CASE WHEN (SELECT t.c FROM pg_type t WHERE t.oid = a.x) != a.y THEN 1 END FROM pg_attribute a",
        );
        assert!(out.contains("(SELECT first_value(t.c) FROM pg_type t WHERE t.oid = a.x)"), "{out}");
    }

    #[test]
    fn conditions_on_the_outer_row_move_out() {
        let out = rewritten(
            "SELECT (SELECT pg_get_expr(pg_catalog.pg_attrdef.adbin) FROM pg_catalog.pg_attrdef \
             WHERE pg_catalog.pg_attrdef.adrelid = pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_attribute.atthasdef) \
             FROM pg_catalog.pg_attribute",
        );
        assert!(
            out.contains(
                "CASE WHEN pg_catalog.pg_attribute.atthasdef THEN (SELECT first_value(pg_get_expr(pg_catalog.pg_attrdef.adbin)) \
                 FROM pg_catalog.pg_attrdef WHERE pg_catalog.pg_attrdef.adrelid = pg_catalog.pg_attribute.attrelid) END"
            ),
            "{out}"
        );
        let kept = "SELECT (SELECT d.x FROM d WHERE d.k = a.k AND d.on) FROM a";
        assert_eq!(rewritten(kept), "SELECT (SELECT first_value(d.x) FROM d WHERE d.k = a.k AND d.on) FROM a");
    }

    #[test]
    fn outer_columns_in_the_result_come_from_a_joined_table() {
        let out = rewritten("SELECT (SELECT f(a.x, s.y) FROM s WHERE s.k = a.k) FROM a");
        assert_eq!(
            out,
            "SELECT (SELECT first_value(f(__outer_0.x, s.y)) FROM s, (SELECT DISTINCT x FROM a) AS __outer_0 \
             WHERE s.k = a.k AND __outer_0.x = a.x) FROM a"
        );
    }

    #[test]
    fn outer_columns_compared_with_inner_ones_come_from_a_joined_table() {
        // psql's `\\d name`.
        let out = rewritten(
            "SELECT (SELECT c.collname FROM pg_collation c, pg_type t \
             WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) \
             FROM pg_attribute a",
        );
        assert_eq!(
            out,
            "SELECT (SELECT first_value(c.collname) FROM pg_collation c, pg_type t, \
             (SELECT DISTINCT attcollation FROM pg_attribute) AS __outer_0 \
             WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND __outer_0.attcollation <> t.typcollation \
             AND __outer_0.attcollation = a.attcollation) FROM pg_attribute a"
        );
    }

    #[test]
    fn aggregating_grouped_and_limited_subqueries_are_left_alone() {
        for sql in [
            "SELECT (SELECT max(t.x) FROM t WHERE t.k = s.k) FROM s",
            "SELECT (SELECT t.x FROM t GROUP BY t.x) FROM s",
            "SELECT (SELECT t.x FROM t LIMIT 1) FROM s",
            "SELECT (SELECT 1) FROM s",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
