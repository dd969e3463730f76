//! How deeply a statement may nest, checked right after parsing, before anything else
//! walks the tree.
//!
//! sqlparser builds `1+1+...+1` and `a OR b OR ...` as left-deep trees and a chain of
//! `UNION ALL`s as a left-deep tree of set operations, without recursion while parsing.
//! Everything after the parser recurses over that tree: our rewrites, DataFusion's
//! planner and optimizer, expression evaluation, even `Clone` and `Drop`. `sql::parser`
//! calls [`check`] on every parsed statement; a statement deeper than
//! [`MAX_EXPRESSION_DEPTH`] or with more than [`MAX_SET_OPERATIONS`] nested set operations
//! is refused with 54001 (statement too complex), as Postgres refuses one that would
//! exhaust its stack. The refused tree is taken apart a bounded slice at a time, so that
//! dropping it cannot overflow the stack either.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Query, SetExpr, Value, VisitMut, VisitorMut};

use crate::error::{Error, Result};

/// How many expressions may nest inside each other (`1+1+...+1` has one per `+`).
/// Postgres' default 2 MB stack allows roughly 10,000; DataFusion's planner and the
/// evaluation of a view's expressions use more stack per level, so we allow fewer.
pub(crate) const MAX_EXPRESSION_DEPTH: usize = 2_000;

/// How many set operations (`UNION`, `INTERSECT`, `EXCEPT`) may nest in one query body.
pub(crate) const MAX_SET_OPERATIONS: usize = 2_000;

/// Refuses `tree` when it nests deeper than the limits allow; then it has been taken
/// apart (and is left holding placeholders), so the caller should only drop it.
pub(crate) fn check<T: VisitMut>(tree: &mut T) -> Result<()> {
    let mut guard = Guard::default();
    let _ = tree.visit(&mut guard);
    if guard.cut.is_empty() {
        return Ok(());
    }
    let detail = guard.detail.take().unwrap_or_default();
    dismantle(guard.cut);
    Err(Error::TooComplex { detail })
}

/// A subtree cut out of a statement that was too deep.
enum Cut {
    /// An expression.
    Expr(Box<Expr>),
    /// A query body (boxed: far larger than an expression).
    Set(Box<SetExpr>),
}

/// Drops subtrees without deep recursion: each is walked with the same guard, which cuts
/// what lies deeper than the limit into further pieces, until every piece is shallow.
fn dismantle(mut pending: Vec<Cut>) {
    while let Some(piece) = pending.pop() {
        let mut guard = Guard::default();
        match piece {
            Cut::Expr(mut e) => {
                let _ = e.as_mut().visit(&mut guard);
            }
            Cut::Set(mut s) => {
                let _ = s.as_mut().visit(&mut guard);
            }
        }
        pending.append(&mut guard.cut);
    }
}

/// Measures nesting while sqlparser's visitor walks the tree, and cuts subtrees out at the
/// limit so the walk never goes deeper than it.
#[derive(Default)]
struct Guard {
    /// Expressions entered and not yet left.
    depth: usize,
    /// Subtrees cut out at the limit.
    cut: Vec<Cut>,
    /// What was too deep, for the error's detail (the first finding).
    detail: Option<String>,
}

impl Guard {
    fn too_deep(&mut self, what: String) {
        self.detail.get_or_insert(what);
    }
}

impl VisitorMut for Guard {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let cut = cut_set_operations(&mut query.body, MAX_SET_OPERATIONS);
        if !cut.is_empty() {
            self.too_deep(format!(
                "A query combines more than {MAX_SET_OPERATIONS} nested set operations (UNION, INTERSECT, EXCEPT)."
            ));
            self.cut.extend(cut.into_iter().map(|s| Cut::Set(Box::new(s))));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > MAX_EXPRESSION_DEPTH {
            self.too_deep(format!("Expressions nest more than {MAX_EXPRESSION_DEPTH} levels deep."));
            // The visitor goes on into the placeholder, which has nothing inside.
            self.cut.push(Cut::Expr(Box::new(std::mem::replace(expr, Expr::Value(Value::Null.into())))));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &mut Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// Cuts the set operations nested deeper than `max` out of `body`, walking it with a
/// stack of its own; returns what was cut.
fn cut_set_operations(body: &mut SetExpr, max: usize) -> Vec<SetExpr> {
    let mut cut = Vec::new();
    let mut stack = vec![(body, 0usize)];
    while let Some((node, depth)) = stack.pop() {
        let SetExpr::SetOperation { left, right, .. } = node else { continue };
        if depth >= max {
            cut.push(std::mem::replace(left.as_mut(), placeholder()));
            cut.push(std::mem::replace(right.as_mut(), placeholder()));
            continue;
        }
        stack.push((left.as_mut(), depth + 1));
        stack.push((right.as_mut(), depth + 1));
    }
    cut
}

/// A query body with nothing inside: what a cut-out subtree leaves behind.
fn placeholder() -> SetExpr {
    SetExpr::Values(datafusion::sql::sqlparser::ast::Values { explicit_row: false, value_keyword: false, rows: vec![] })
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn parsed(sql: &str) -> datafusion::sql::sqlparser::ast::Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses").remove(0)
    }

    fn chain(op: &str, terms: usize) -> String {
        format!("SELECT {}", vec!["1"; terms].join(op))
    }

    #[test]
    fn shallow_statements_pass() {
        let mut stmt = parsed(&chain("+", MAX_EXPRESSION_DEPTH));
        assert!(check(&mut stmt).is_ok());
        let mut stmt = parsed(&vec!["SELECT 1"; MAX_SET_OPERATIONS].join(" UNION ALL "));
        assert!(check(&mut stmt).is_ok());
    }

    #[test]
    fn deep_expressions_are_refused_and_dropped_safely() {
        // Deep enough that a recursive drop would overflow a 2 MB test thread's stack.
        for op in [" + ", " OR ", " || "] {
            let mut stmt = parsed(&chain(op, 200_000));
            let err = check(&mut stmt).expect_err("too deep");
            assert_eq!(err.sqlstate(), "54001");
            assert!(err.detail().expect("detail").contains("levels deep"), "{:?}", err.detail());
            drop(stmt);
        }
    }

    #[test]
    fn long_unions_are_refused_and_dropped_safely() {
        let mut stmt = parsed(&vec!["SELECT 1"; 50_000].join(" UNION ALL "));
        let err = check(&mut stmt).expect_err("too many set operations");
        assert_eq!(err.sqlstate(), "54001");
        assert!(err.detail().expect("detail").contains("set operations"));
    }

    #[test]
    fn deep_expressions_inside_subqueries_are_counted() {
        let inner = chain("+", MAX_EXPRESSION_DEPTH + 10);
        let mut stmt = parsed(&format!("SELECT * FROM ({inner}) AS t WHERE 1 IN (SELECT 1)"));
        assert_eq!(check(&mut stmt).expect_err("too deep").sqlstate(), "54001");
    }
}
