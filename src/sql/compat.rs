//! Rewrites the Postgres-specific SQL that clients send (psql's `\d` queries, drivers'
//! and BI tools' catalog queries) into SQL DataFusion can plan, with the rules of the
//! `datafusion-pg-catalog` crate: `pg_catalog.` qualifiers on functions are dropped,
//! unqualified `pg_*` tables get theirs, `OPERATOR(pg_catalog.~)` becomes `~`,
//! `'name'::regclass` becomes a lookup in `pg_class`, `COLLATE` is dropped, `= ANY(array)`
//! is rewritten, `current_user` becomes a function call, and so on. A few whole queries
//! DataFusion cannot plan at all are swapped for equivalents by the crate's list of
//! known client queries, which works on the text.
//!
//! `parser::parse` calls [`rewrite`] on every statement that goes to DataFusion as is
//! (never on Sluice's own DDL).

use std::ops::ControlFlow;
use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{self, Expr, FunctionArguments, SelectItem};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

/// The crate's parser, built once (it tokenizes its list of known queries).
static COMPAT: LazyLock<PostgresCompatibilityParser> = LazyLock::new(PostgresCompatibilityParser::new);

/// Words whose presence marks a text as a catalog query, worth checking against the
/// crate's list of known client queries.
const CATALOG_WORDS: [&str; 2] = ["pg_catalog", "information_schema"];

/// Fragments of psql's queries that no rule can make plannable, and what replaces them.
/// psql 14 to 17 send them verbatim.
const PSQL_FRAGMENTS: [(&str, &str); 1] = [(
    // `\d+`: table options plus the TOAST table's, through an unnest of an outer column.
    "c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x)",
    "c.reloptions",
)];

/// Functions whose result column Postgres names after the function, as clients expect
/// (DataFusion would call it `current_schema()`).
const NAMED_AFTER_FUNCTION: [&str; 11] = [
    "current_schema",
    "current_database",
    "current_catalog",
    "current_user",
    "session_user",
    "current_role",
    "user",
    "current_setting",
    "set_config",
    "pg_backend_pid",
    "version",
];

/// `sql` with the known psql fragments replaced.
pub fn replace_fragments(sql: &str) -> std::borrow::Cow<'_, str> {
    let mut text = std::borrow::Cow::Borrowed(sql);
    for (fragment, replacement) in PSQL_FRAGMENTS {
        if text.contains(fragment) {
            text = std::borrow::Cow::Owned(text.replace(fragment, replacement));
        }
    }
    text
}

/// `statement` rewritten for DataFusion.
pub fn rewrite(mut statement: ast::Statement) -> ast::Statement {
    name_function_columns(&mut statement);
    aggregate_array_subqueries(COMPAT.rewrite(statement))
}

/// Every `ARRAY(subquery)` of `statement` as an aggregating subquery, and every `LIKE`
/// with an escape character other than backslash rewritten to backslash.
fn aggregate_array_subqueries(mut statement: ast::Statement) -> ast::Statement {
    let _ = ast::visit_expressions_mut(&mut statement, |expr| {
        if let Some(aggregated) = array_of_subquery(expr) {
            *expr = aggregated;
        }
        backslash_escape(expr);
        ControlFlow::<()>::Continue(())
    });
    statement
}

/// `x LIKE 'pg/_' || '%' ESCAPE '/'` as `x LIKE 'pg\_' || '%'`: DataFusion knows only
/// backslash as the escape character. Patterns made of other than literals are left alone.
fn backslash_escape(expr: &mut Expr) {
    let (Expr::Like { pattern, escape_char, .. } | Expr::ILike { pattern, escape_char, .. }) = expr else { return };
    let Some(ast::Value::SingleQuotedString(escape)) = escape_char.as_ref().map(|e| &e.value) else { return };
    let mut chars = escape.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else { return };
    if c == '\\' || !only_literals(pattern) {
        return;
    }
    rewrite_literals(pattern, &|s: &str| {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '\\' => out.push_str("\\\\"),
                ch if ch == c => {
                    out.push('\\');
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                }
                ch => out.push(ch),
            }
        }
        out
    });
    *escape_char = None;
}

/// True when `expr` is string literals joined with `||`.
fn only_literals(expr: &Expr) -> bool {
    match expr {
        Expr::Value(v) => matches!(v.value, ast::Value::SingleQuotedString(_)),
        Expr::BinaryOp { left, op: ast::BinaryOperator::StringConcat, right } => {
            only_literals(left) && only_literals(right)
        }
        Expr::Nested(e) | Expr::Cast { expr: e, .. } => only_literals(e),
        _ => false,
    }
}

fn rewrite_literals(expr: &mut Expr, f: &dyn Fn(&str) -> String) {
    match expr {
        Expr::Value(v) => {
            if let ast::Value::SingleQuotedString(s) = &mut v.value {
                *s = f(s);
            }
        }
        Expr::BinaryOp { left, right, .. } => {
            rewrite_literals(left, f);
            rewrite_literals(right, f);
        }
        Expr::Nested(e) | Expr::Cast { expr: e, .. } => rewrite_literals(e, f),
        _ => {}
    }
}

/// Names the result columns that are calls of [`NAMED_AFTER_FUNCTION`] functions after
/// the function, as Postgres does.
fn name_function_columns(statement: &mut ast::Statement) {
    let ast::Statement::Query(query) = statement else { return };
    let ast::SetExpr::Select(select) = query.body.as_mut() else { return };
    for item in &mut select.projection {
        let SelectItem::UnnamedExpr(Expr::Function(f)) = item else { continue };
        let Some(name) = f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_lowercase()) else { continue };
        if NAMED_AFTER_FUNCTION.contains(&name.as_str()) {
            *item = SelectItem::ExprWithAlias { expr: Expr::Function(f.clone()), alias: ast::Ident::new(name) };
        }
    }
}

/// `ARRAY(SELECT x FROM ... WHERE ... ORDER BY y)` as the scalar subquery
/// `(SELECT array_agg(x ORDER BY y) FROM ... WHERE ...)`, which DataFusion can plan (also
/// when it is correlated). An empty result gives NULL rather than an empty array.
fn array_of_subquery(expr: &Expr) -> Option<Expr> {
    let Expr::Function(f) = expr else { return None };
    let FunctionArguments::Subquery(query) = &f.args else { return None };
    if !f.name.to_string().eq_ignore_ascii_case("array") {
        return None;
    }
    let ast::SetExpr::Select(select) = query.body.as_ref() else { return None };
    let [SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. }] = select.projection.as_slice()
    else {
        return None;
    };
    let order = match &query.order_by {
        Some(order) => format!(" {order}"),
        None => String::new(),
    };
    let aggregate = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("array_agg({item}{order})"))
        .ok()?
        .parse_expr()
        .ok()?;
    let mut select = select.clone();
    select.projection = vec![SelectItem::UnnamedExpr(aggregate)];
    let mut query = query.clone();
    query.order_by = None;
    query.body = Box::new(ast::SetExpr::Select(select));
    Some(Expr::Subquery(query))
}

/// The statements of `sql` as the crate parses them, when the text is a catalog query;
/// None otherwise, or when the crate cannot parse it (our parser's result then stands).
pub fn known_client_queries(sql: &str) -> Option<Vec<ast::Statement>> {
    let lowered = sql.to_ascii_lowercase();
    if !CATALOG_WORDS.iter().any(|w| lowered.contains(w)) {
        return None;
    }
    let statements = COMPAT.parse(&replace_fragments(sql)).ok()?;
    Some(statements.into_iter().map(aggregate_array_subqueries).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses").remove(0);
        rewrite(statement).to_string()
    }

    #[test]
    fn catalog_function_qualifiers_and_operators_are_rewritten() {
        let sql = "SELECT c.relname FROM pg_catalog.pg_class c \
                   WHERE c.relname OPERATOR(pg_catalog.~) '^(bids)$' AND pg_catalog.pg_table_is_visible(c.oid)";
        let out = rewritten(sql);
        assert!(!out.contains("OPERATOR"), "{out}");
        assert!(out.contains("pg_table_is_visible(c.oid)") && !out.contains("pg_catalog.pg_table_is_visible"), "{out}");
    }

    #[test]
    fn plain_queries_keep_their_meaning() {
        assert_eq!(rewritten("SELECT a, count(*) FROM v GROUP BY a"), "SELECT a, count(*) FROM v GROUP BY a");
    }

    #[test]
    fn array_of_a_subquery_becomes_an_aggregate() {
        let out =
            rewritten("SELECT ARRAY(SELECT b.rolname FROM pg_roles b WHERE b.oid = r.oid) AS memberof FROM pg_roles r");
        assert!(out.contains("(SELECT array_agg(b.rolname) FROM pg_catalog.pg_roles b WHERE b.oid = r.oid)"), "{out}");
    }

    #[test]
    fn like_escape_characters_become_backslashes() {
        let out = rewritten("SELECT 1 WHERE n NOT LIKE 'pg/_' || '%' ESCAPE '/'");
        assert!(out.contains("NOT LIKE 'pg\\_' || '%'") && !out.contains("ESCAPE"), "{out}");
    }

    #[test]
    fn session_functions_name_their_columns() {
        let out = rewritten("SELECT current_schema(), current_user");
        assert!(out.contains("AS current_schema") && out.contains("AS current_user"), "{out}");
    }

    #[test]
    fn only_catalog_texts_are_matched_against_known_queries() {
        assert!(known_client_queries("SELECT 1").is_none());
        assert!(known_client_queries("SELECT nspname FROM pg_catalog.pg_namespace").is_some());
    }
}
