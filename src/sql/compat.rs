//! Rewrites the Postgres-specific SQL that clients send (psql's `\d` queries, drivers'
//! and BI tools' catalog queries) into SQL DataFusion can plan, with the rules of the
//! `datafusion-pg-catalog` crate: `pg_catalog.` qualifiers on functions are dropped,
//! unqualified `pg_*` tables get theirs, `OPERATOR(pg_catalog.~)` becomes `~`,
//! `'name'::regclass` becomes a lookup in `pg_class`, `COLLATE` is dropped, `= ANY(array)`
//! is rewritten, `current_user` becomes a function call, and so on. The crate's rule that
//! replaces correlated subqueries in a select list with NULL is left out (it answers
//! wrongly); [`subqueries`] makes such subqueries of catalog queries plannable instead.
//! `'pg_catalog.array_in'::regproc` becomes the name `'array_in'`, since the crate's
//! catalog holds function names in its `regproc` columns (`pg_type.typinput`). A few whole
//! queries DataFusion cannot plan at all are swapped for equivalents by the crate's list
//! of known client queries, which works on the text.
//!
//! A statement that lists materialized views' columns from `pg_attribute` itself
//! (`relkind = 'm'`, as Metabase's field sync does) reads [`POSTGRES_COLUMNS`] for
//! `information_schema.columns`, so it does not get those columns twice.
//!
//! `parser::parse` calls [`rewrite`] on every statement that goes to DataFusion as is
//! (never on Sluice's own DDL), after [`known_client_queries`] for catalog texts.

pub mod names;
mod subqueries;

use std::ops::ControlFlow;
use std::sync::{Arc, LazyLock};

use datafusion::sql::sqlparser::ast::{self, Expr, FunctionArguments, SelectItem};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_pg_catalog::sql::rules::{
    AliasDuplicatedProjectionRewrite, CurrentUserVariableToSessionUserFunctionCall, FixArrayLiteral,
    FixVersionColumnName, PrependUnqualifiedPgTableName, ResolveUnqualifiedIdentifier, RewriteArrayAnyAllOperation,
    RewritePgCatalogOperator, RewriteRegCastToSubquery, SqlStatementRewriteRule, StripCallableQualifier, StripCollate,
};

/// `information_schema.columns` as Postgres has it, without materialized views' columns
/// (the engine's `information_schema` serves it; it is not listed among the schema's
/// tables).
pub const POSTGRES_COLUMNS: &str = "_pg_columns";

/// The `pg_catalog` tables Sluice adds to the crate's, which the crate's rule does not
/// qualify when they are named without schema (Postgres searches `pg_catalog` first).
/// The engine's `pg_catalog` overlay serves them.
pub const SLUICE_PG_CATALOG_TABLES: [&str; 4] =
    ["pg_available_extensions", "pg_locks", "pg_timezone_names", "pg_timezone_abbrevs"];

/// The crate's parser, built once (it tokenizes its list of known queries).
static COMPAT: LazyLock<PostgresCompatibilityParser> = LazyLock::new(PostgresCompatibilityParser::new);

/// The crate's rewrite rules that Sluice applies, in the crate's order.
static RULES: LazyLock<Vec<Arc<dyn SqlStatementRewriteRule>>> = LazyLock::new(|| {
    vec![
        Arc::new(AliasDuplicatedProjectionRewrite),
        Arc::new(ResolveUnqualifiedIdentifier),
        Arc::new(RewriteArrayAnyAllOperation),
        Arc::new(PrependUnqualifiedPgTableName),
        Arc::new(StripCallableQualifier),
        Arc::new(FixArrayLiteral),
        Arc::new(CurrentUserVariableToSessionUserFunctionCall),
        Arc::new(StripCollate),
        Arc::new(RewritePgCatalogOperator),
        Arc::new(RewriteRegCastToSubquery::new()),
        Arc::new(FixVersionColumnName),
    ]
});
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
    names::name_columns(&mut statement);
    modulo_calls(&mut statement);
    regproc_names(&mut statement);
    record_expansions(&mut statement);
    if lists_view_columns(&statement) {
        postgres_columns(&mut statement);
    }
    let mut statement = aggregate_array_subqueries(RULES.iter().fold(statement, |s, rule| rule.rewrite(s)));
    qualify_sluice_tables(&mut statement);
    if reads_catalogs(&statement) {
        subqueries::aggregate_scalar_subqueries(&mut statement);
    }
    statement
}

/// A view's or sink's query rewritten for DataFusion as far as a view needs: Postgres's
/// column names ([`names::name_view_columns`], whose repeated name it returns) and `mod`.
/// The rest of [`rewrite`] serves catalog queries, which views do not read.
pub fn rewrite_view_query(query: &mut ast::Query) -> Option<String> {
    let repeated = names::name_view_columns(query);
    modulo_calls(query);
    repeated
}

/// Every `mod(a, b)` in `node` as `(a) % (b)`: Postgres's function for the remainder,
/// which DataFusion has only as the operator. Run after the columns are named, so the
/// column keeps the name `mod`.
fn modulo_calls<V: ast::VisitMut>(node: &mut V) {
    let _ = ast::visit_expressions_mut(node, |expr| {
        if let Expr::Function(f) = expr
            && f.name.0.len() == 1
            && f.name.0[0].as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case("mod"))
            && let FunctionArguments::List(list) = &f.args
            && list.duplicate_treatment.is_none()
            && list.clauses.is_empty()
            && let [
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a)),
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(b)),
            ] = list.args.as_slice()
        {
            let (left, right) =
                (Box::new(Expr::Nested(Box::new(a.clone()))), Box::new(Expr::Nested(Box::new(b.clone()))));
            *expr = Expr::BinaryOp { left, op: ast::BinaryOperator::Modulo, right };
        }
        ControlFlow::<()>::Continue(())
    });
}

/// True when `statement` names a catalog schema (after the crate's rules qualified the
/// `pg_*` tables).
fn reads_catalogs(statement: &ast::Statement) -> bool {
    let mut found = false;
    let _ = ast::visit_relations(statement, |name| {
        let schema = name.0.first().and_then(|p| p.as_ident()).map(|i| i.value.to_lowercase());
        found |= schema.is_some_and(|s| CATALOG_WORDS.contains(&s.as_str()));
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Every `'pg_catalog.f'::regproc` (or `regprocedure`) literal of `statement` as the
/// function's bare name, which is what the catalog's `regproc` columns hold, and every
/// cast of a computed name to `regclass` (`format('%I.%I', s, t)::regclass`) as
/// `to_regclass(...)` (the crate resolves literals itself).
fn regproc_names(statement: &mut ast::Statement) {
    let _ = ast::visit_expressions_mut(statement, |expr| {
        if let Expr::Cast { expr: operand, data_type, .. } = expr
            && !matches!(operand.as_ref(), Expr::Value(_))
            && data_type.to_string().to_lowercase().trim_start_matches("pg_catalog.") == "regclass"
            && let Ok(call) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&format!("to_regclass({operand})"))
                .and_then(|mut p| p.parse_expr())
        {
            *expr = call;
            return ControlFlow::Continue(());
        }
        if let Expr::Cast { expr: operand, data_type, .. } = expr
            && let Expr::Value(v) = operand.as_ref()
            && let ast::Value::SingleQuotedString(name) = &v.value
        {
            let type_name = data_type.to_string().to_lowercase();
            if matches!(type_name.trim_start_matches("pg_catalog."), "regproc" | "regprocedure") {
                let bare = name.trim_start_matches("pg_catalog.");
                let bare = bare.split('(').next().unwrap_or(bare).to_string();
                *expr = Expr::value(ast::Value::SingleQuotedString(bare));
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Every `ARRAY(subquery)` of `statement` as an aggregating subquery, and every `LIKE`
/// with an escape character other than backslash rewritten to backslash.
fn aggregate_array_subqueries(mut statement: ast::Statement) -> ast::Statement {
    let _ = ast::visit_expressions_mut(&mut statement, |expr| {
        if let Some(aggregated) = array_of_subquery(expr) {
            *expr = aggregated;
        }
        if let Some(unnested) = subscripts_unnested(expr) {
            *expr = unnested;
        }
        backslash_escape(expr);
        ControlFlow::<()>::Continue(())
    });
    statement
}

/// `x LIKE 'pg/_' || '%' ESCAPE '/'` as `x LIKE 'pg\_' || '%'`: DataFusion knows only
/// backslash as the escape character. Another pattern (a parameter, as SQLAlchemy over
/// psycopg sends it) is translated when the query runs, with `replace`; there a doubled
/// escape character is not told apart from an escaped one.
fn backslash_escape(expr: &mut Expr) {
    let (Expr::Like { pattern, escape_char, .. } | Expr::ILike { pattern, escape_char, .. }) = expr else { return };
    let Some(ast::Value::SingleQuotedString(escape)) = escape_char.as_ref().map(|e| &e.value) else { return };
    let mut chars = escape.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else { return };
    if c == '\\' || c == '\'' {
        return;
    }
    if !only_literals(pattern) {
        let translated = format!("replace(replace({pattern}, '\\', '\\\\'), '{c}', '\\')");
        if let Ok(e) = Parser::new(&PostgreSqlDialect {}).try_with_sql(&translated).and_then(|mut p| p.parse_expr()) {
            **pattern = e;
            *escape_char = None;
        }
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

/// Every call of `information_schema._pg_expandarray(a)` as
/// `unnest(_pg_expandarray(a))` (the function gives a list of records, which the unnest
/// turns into rows), and every field of a parenthesized record (`(r).n`) as
/// `get_field(r, 'n')`, which DataFusion plans.
fn record_expansions(statement: &mut ast::Statement) {
    let _ = ast::visit_expressions_mut(statement, |expr| {
        let replacement = match expr {
            Expr::Function(f)
                if f.name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("_pg_expandarray")) =>
            {
                format!("unnest(_pg_expandarray{})", f.args)
            }
            Expr::CompoundFieldAccess { root, access_chain } if matches!(root.as_ref(), Expr::Nested(_)) => {
                let mut text = root.to_string();
                for access in access_chain.iter() {
                    match access {
                        ast::AccessExpr::Dot(Expr::Identifier(field)) => {
                            text = format!("get_field({text}, '{}')", field.value.replace('\'', "''"));
                        }
                        _ => return ControlFlow::<()>::Continue(()),
                    }
                }
                text
            }
            _ => return ControlFlow::Continue(()),
        };
        if let Ok(parsed) =
            Parser::new(&PostgreSqlDialect {}).try_with_sql(&replacement).and_then(|mut p| p.parse_expr())
        {
            *expr = parsed;
        }
        ControlFlow::Continue(())
    });
}

/// True when `statement` compares a `relkind` with `'m'`: it finds materialized views
/// in `pg_class` itself.
fn lists_view_columns(statement: &ast::Statement) -> bool {
    let relkind = |e: &Expr| match e {
        Expr::Identifier(i) => i.value.eq_ignore_ascii_case("relkind"),
        Expr::CompoundIdentifier(parts) => parts.last().is_some_and(|i| i.value.eq_ignore_ascii_case("relkind")),
        _ => false,
    };
    let m = |e: &Expr| matches!(e, Expr::Value(v) if v.value == ast::Value::SingleQuotedString("m".into()));
    let found = ast::visit_expressions(statement, |expr| match expr {
        Expr::BinaryOp { left, op: ast::BinaryOperator::Eq, right }
            if (relkind(left) && m(right)) || (m(left) && relkind(right)) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found.is_break()
}

/// Every unqualified [`SLUICE_PG_CATALOG_TABLES`] name of `statement` qualified with
/// `pg_catalog`.
fn qualify_sluice_tables(statement: &mut ast::Statement) {
    let _ = ast::visit_relations_mut(statement, |name| {
        if let [ast::ObjectNamePart::Identifier(table)] = name.0.as_slice()
            && SLUICE_PG_CATALOG_TABLES.contains(&table.value.to_ascii_lowercase().as_str())
        {
            name.0.insert(0, ast::ObjectNamePart::Identifier(ast::Ident::new("pg_catalog")));
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Every `information_schema.columns` of `statement` as [`POSTGRES_COLUMNS`].
fn postgres_columns(statement: &mut ast::Statement) {
    let _ = ast::visit_relations_mut(statement, |name| {
        let parts: Vec<String> =
            name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()).collect();
        if parts.len() == 2 && parts[0] == "information_schema" && parts[1] == "columns" {
            name.0[1] = ast::ObjectNamePart::Identifier(ast::Ident::new(POSTGRES_COLUMNS));
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `generate_subscripts(a, d)` as `unnest(range(1, array_length(a, d) + 1))` (a bigint), which
/// DataFusion zips with an `unnest(a)` beside it as Postgres does (SQLAlchemy's key and
/// index queries number a key's columns so).
fn subscripts_unnested(expr: &Expr) -> Option<Expr> {
    let Expr::Function(f) = expr else { return None };
    let FunctionArguments::List(list) = &f.args else { return None };
    if !f.name.to_string().to_lowercase().trim_start_matches("pg_catalog.").eq("generate_subscripts") {
        return None;
    }
    let [array, dimension] = list.args.as_slice() else { return None };
    let sql = format!("unnest(range(1, CAST(array_length({array}, {dimension}) AS BIGINT) + 1))");
    Parser::new(&PostgreSqlDialect {}).try_with_sql(&sql).ok()?.parse_expr().ok()
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

/// The statements of `sql` as the crate parses them, when the text is a catalog query
/// that the crate's list of known client queries replaced; None otherwise, or when the
/// crate cannot parse it (our parser's result and [`rewrite`] then stand).
pub fn known_client_queries(sql: &str) -> Option<Vec<ast::Statement>> {
    let lowered = sql.to_ascii_lowercase();
    if !CATALOG_WORDS.iter().any(|w| lowered.contains(w)) {
        return None;
    }
    let text = replace_fragments(sql);
    let known = COMPAT.parse(&text).ok()?;
    let plain = Parser::parse_sql(&PostgreSqlDialect {}, &text).ok()?;
    if plain.into_iter().map(|s| COMPAT.rewrite(s)).eq(known.iter().cloned()) {
        return None;
    }
    Some(known.into_iter().map(aggregate_array_subqueries).collect())
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
    fn mod_is_the_remainder_operator() {
        let out = rewritten("SELECT mod(17, 5), mod(a + 1, b) FROM t");
        assert!(out.contains("(17) % (5) AS \"mod\""), "{out}");
        assert!(out.contains("(a + 1) % (b)"), "{out}");
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
        assert_eq!(
            rewritten("SELECT a, count(*) FROM v GROUP BY a"),
            "SELECT a, count(*) AS \"count\" FROM v GROUP BY a"
        );
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
        let out = rewritten("SELECT 1 WHERE n NOT LIKE $1::VARCHAR ESCAPE '/'");
        assert!(out.contains("NOT LIKE replace(replace($1::VARCHAR, '\\', '\\\\'), '/', '\\')"), "{out}");
    }

    #[test]
    fn session_functions_name_their_columns() {
        let out = rewritten("SELECT current_schema(), current_user");
        assert!(out.contains("AS \"current_schema\"") && out.contains("AS \"current_user\""), "{out}");
    }

    #[test]
    fn only_replaced_catalog_texts_are_known_queries() {
        assert!(known_client_queries("SELECT 1").is_none());
        assert!(known_client_queries("SELECT nspname FROM pg_catalog.pg_namespace").is_none());
    }

    #[test]
    fn correlated_select_list_subqueries_are_kept() {
        let out = rewritten(
            "SELECT a.attname, (SELECT t.typname FROM pg_type t WHERE t.oid = a.atttypid) FROM pg_attribute a",
        );
        assert!(out.contains("first_value(t.typname)"), "{out}");
        let out = rewritten("SELECT s.k, (SELECT max(t.x) FROM t WHERE t.k = s.k) FROM s");
        assert!(out.contains("(SELECT max(t.x) AS \"max\" FROM t WHERE t.k = s.k)"), "{out}");
    }

    #[test]
    fn generate_subscripts_becomes_an_unnest() {
        let out =
            rewritten("SELECT unnest(i.indkey) AS attnum, generate_subscripts(i.indkey, 1) AS ord FROM pg_index i");
        assert!(out.contains("unnest(range(1, CAST(array_length(i.indkey, 1) AS BIGINT) + 1)) AS ord"), "{out}");
    }

    #[test]
    fn casts_of_computed_names_to_regclass_look_the_name_up() {
        let out = rewritten(
            "SELECT CAST(CAST(format('%I.%I', c.s, c.t) AS REGCLASS) AS OID) FROM information_schema.columns c",
        );
        assert!(out.contains("CAST(to_regclass(format('%I.%I', c.s, c.t)) AS OID)"), "{out}");
    }

    #[test]
    fn sluice_catalog_tables_are_found_without_schema() {
        let out = rewritten("SELECT * FROM pg_locks AS l JOIN pg_timezone_names ON true");
        assert!(out.contains("FROM pg_catalog.pg_locks AS l JOIN pg_catalog.pg_timezone_names"), "{out}");
    }

    #[test]
    fn expanded_arrays_are_unnested_lists_of_records() {
        let out = rewritten(
            "SELECT (information_schema._pg_expandarray(i.indkey)).n AS seq, \
             information_schema._pg_expandarray(i.indkey) AS keys FROM pg_catalog.pg_index i",
        );
        assert!(out.contains("get_field((unnest(_pg_expandarray(i.indkey))), 'n') AS seq"), "{out}");
        assert!(out.contains("unnest(_pg_expandarray(i.indkey)) AS keys"), "{out}");
        let out = rewritten("SELECT 1 FROM t AS result WHERE result.a = (result.keys).x");
        assert!(out.contains("result.a = get_field((result.keys), 'x')"), "{out}");
    }

    #[test]
    fn statements_listing_view_columns_read_postgres_columns() {
        let out = rewritten(
            "SELECT c.column_name FROM \"information_schema\".\"columns\" AS c UNION ALL \
             SELECT a.attname FROM pg_class pc JOIN pg_attribute a ON a.attrelid = pc.oid WHERE pc.relkind = 'm'",
        );
        assert!(out.contains(&format!("{POSTGRES_COLUMNS} AS c")), "{out}");
        let out = rewritten("SELECT column_name FROM information_schema.columns");
        assert!(out.contains("information_schema.columns"), "{out}");
    }

    #[test]
    fn regproc_literals_become_bare_names() {
        let out = rewritten("SELECT typinput = 'pg_catalog.array_in'::regproc AS is_array FROM pg_catalog.pg_type");
        assert!(out.contains("typinput = 'array_in' AS is_array"), "{out}");
    }
}
