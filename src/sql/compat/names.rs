//! Postgres's names for result columns the query does not name: a column reference is
//! named after the column, a function call after the function (`count`, `upper`), a cast
//! after what it casts or else its type (`'1'::int` is `int4`), a `CASE` after its `ELSE`
//! or else `case`, `EXISTS` is `exists`, and anything else `?column?` (Postgres's
//! `FigureColname`). DataFusion would name them after their text (`count(*)`,
//! `Int64(1) + Int64(2)`).
//!
//! Postgres allows two result columns of one name; DataFusion does not. A repeated name
//! gets [`DUPLICATE_MARK`] and a number after it, which the server drops when it describes
//! the columns, so clients see the same name twice, as from Postgres.
//!
//! `compat::rewrite` calls [`name_columns`] on every query that goes to DataFusion as is;
//! `compat::rewrite_view_query` calls [`name_view_columns`] on the query of every view and
//! sink.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, DataType, Expr, ObjectNamePart, Query, SelectItem, SetExpr, TimezoneInfo, TrimWhereField, VisitMut,
    VisitorMut,
};

/// Separates a repeated column name from the number that makes it unique for DataFusion.
pub const DUPLICATE_MARK: char = '\u{1f}';

/// The name Postgres shows for a column whose expression has none of its own.
const NO_NAME: &str = "?column?";

/// Words that look like columns but are functions without parentheses, which later rules
/// turn into calls that DataFusion would name `current_user()`.
const SQL_VALUE_FUNCTIONS: [&str; 6] =
    ["current_user", "session_user", "user", "current_role", "current_catalog", "current_schema"];

/// How sure a name is, as in Postgres: a cast's type name gives way to a name found inside.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strength {
    Weak = 1,
    Strong = 2,
}

/// Names the unnamed result columns of every query in `statement` (see the module doc).
pub fn name_columns(statement: &mut ast::Statement) {
    struct Namer;
    impl VisitorMut for Namer {
        type Break = ();
        fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            name_body(&mut query.body);
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Namer);
}

/// Names the unnamed columns of a view's (or sink's) `query` as [`name_columns`] does, so
/// the view's columns have Postgres's names (`count`, not DataFusion's `count(*)`); the
/// first name its result has twice, which a view cannot have.
pub fn name_view_columns(query: &mut Query) -> Option<String> {
    let mut statement = ast::Statement::Query(Box::new(query.clone()));
    name_columns(&mut statement);
    if let ast::Statement::Query(named) = statement {
        *query = *named;
    }
    let mut body = query.body.as_ref();
    while let SetExpr::SetOperation { left, .. } = body {
        body = left.as_ref();
    }
    let SetExpr::Select(select) = body else { return None };
    select.projection.iter().find_map(|item| match item {
        SelectItem::ExprWithAlias { alias, .. } => alias.value.split_once(DUPLICATE_MARK).map(|(n, _)| n.to_string()),
        _ => None,
    })
}

/// Names the first branch's columns (which name a set operation's result) and each
/// branch's own columns.
fn name_body(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => name_projection(&mut select.projection),
        SetExpr::SetOperation { left, right, .. } => {
            name_body(left);
            name_body(right);
        }
        _ => {}
    }
}

fn name_projection(projection: &mut [SelectItem]) {
    let mut taken = HashSet::new();
    for item in projection.iter_mut() {
        match item {
            SelectItem::UnnamedExpr(expr) => {
                let plain_column = match expr {
                    Expr::Identifier(ident) => !SQL_VALUE_FUNCTIONS.contains(&ident.value.to_lowercase().as_str()),
                    Expr::CompoundIdentifier(_) => true,
                    _ => false,
                };
                let name = column_name(expr).map_or_else(|| NO_NAME.to_string(), |(name, _)| name);
                let unique = unique_name(&name, &mut taken);
                if unique != name || !plain_column {
                    let alias = ast::Ident::with_quote('"', unique);
                    *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias };
                }
            }
            SelectItem::ExprWithAlias { alias, .. } => {
                let name = ident_name(alias);
                let unique = unique_name(&name, &mut taken);
                if unique != name {
                    alias.value = unique;
                }
            }
            _ => {}
        }
    }
}

/// `name`, or `name` marked with a number when an earlier column has it.
fn unique_name(name: &str, taken: &mut HashSet<String>) -> String {
    let key = name.to_lowercase();
    if taken.insert(key.clone()) {
        return name.to_string();
    }
    let mut n = 1;
    loop {
        let candidate = format!("{name}{DUPLICATE_MARK}{n}");
        if taken.insert(format!("{key}{DUPLICATE_MARK}{n}")) {
            return candidate;
        }
        n += 1;
    }
}

/// Postgres's name for `expr` and how sure it is; `None` gives `?column?`.
fn column_name(expr: &Expr) -> Option<(String, Strength)> {
    let strong = |name: &str| Some((name.to_string(), Strength::Strong));
    match expr {
        Expr::Identifier(ident) => Some((ident_name(ident), Strength::Strong)),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| (ident_name(i), Strength::Strong)),
        Expr::Function(f) => match f.name.0.last() {
            Some(ObjectNamePart::Identifier(ident)) => Some((ident_name(ident), Strength::Strong)),
            _ => None,
        },
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => column_name(inner),
        Expr::Cast { expr, data_type, .. } => cast_name(column_name(expr), data_type),
        Expr::TypedString(typed) => Some((type_name(&typed.data_type), Strength::Weak)),
        Expr::Interval(_) => Some(("interval".into(), Strength::Weak)),
        Expr::Case { else_result, .. } => match else_result.as_deref().and_then(column_name) {
            Some((name, Strength::Strong)) => Some((name, Strength::Strong)),
            _ => Some(("case".into(), Strength::Weak)),
        },
        Expr::Exists { .. } => strong("exists"),
        Expr::Subquery(query) => subquery_name(query),
        Expr::Array(_) => strong("array"),
        Expr::Tuple(_) => strong("row"),
        Expr::Extract { .. } => strong("extract"),
        Expr::Substring { shorthand: true, .. } => strong("substr"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Position { .. } => strong("position"),
        Expr::Overlay { .. } => strong("overlay"),
        Expr::Ceil { .. } => strong("ceil"),
        Expr::Floor { .. } => strong("floor"),
        Expr::AtTimeZone { .. } => strong("timezone"),
        Expr::Trim { trim_where, .. } => strong(match trim_where {
            Some(TrimWhereField::Leading) => "ltrim",
            Some(TrimWhereField::Trailing) => "rtrim",
            _ => "btrim",
        }),
        _ => None,
    }
}

/// A scalar subquery is named after its one column, when that has a name.
fn subquery_name(query: &Query) -> Option<(String, Strength)> {
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    match select.projection.first()? {
        SelectItem::ExprWithAlias { alias, .. } => {
            Some((alias.value.split(DUPLICATE_MARK).next()?.to_string(), Strength::Strong))
        }
        SelectItem::UnnamedExpr(expr) => column_name(expr).filter(|(_, s)| *s == Strength::Strong),
        _ => None,
    }
}

fn cast_name(inner: Option<(String, Strength)>, data_type: &DataType) -> Option<(String, Strength)> {
    match inner {
        Some((name, Strength::Strong)) => Some((name, Strength::Strong)),
        _ => Some((type_name(data_type), Strength::Weak)),
    }
}

/// An unquoted identifier as Postgres folds it (lower case); a quoted one as written.
fn ident_name(ident: &ast::Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() }
}

/// Postgres's internal name of a type, as a cast to it names a column (`int4`, `float8`).
fn type_name(data_type: &DataType) -> String {
    let name = match data_type {
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int4",
        DataType::BigInt(_) | DataType::Int8(_) => "int8",
        DataType::SmallInt(_) | DataType::Int2(_) => "int2",
        DataType::Real | DataType::Float4 => "float4",
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 | DataType::Float64 => "float8",
        DataType::Float(info) => return float_name(info),
        DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => "numeric",
        DataType::Varchar(_) | DataType::CharacterVarying(_) => "varchar",
        DataType::Char(_) | DataType::Character(_) => "bpchar",
        DataType::Text | DataType::String(_) => "text",
        DataType::Bool | DataType::Boolean => "bool",
        DataType::Date => "date",
        DataType::Time(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => "timetz",
        DataType::Time(..) => "time",
        DataType::Timestamp(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => "timestamptz",
        DataType::Timestamp(..) | DataType::Datetime(_) | DataType::TimestampNtz(_) => "timestamp",
        DataType::Interval { .. } => "interval",
        DataType::Bytea => "bytea",
        DataType::JSON => "json",
        DataType::JSONB => "jsonb",
        DataType::Uuid => "uuid",
        DataType::Custom(name, _) => {
            return name.0.last().and_then(ObjectNamePart::as_ident).map_or_else(|| NO_NAME.into(), ident_name);
        }
        _ => return NO_NAME.into(),
    };
    name.to_string()
}

/// `float(p)`: `float4` up to 24 bits of precision, `float8` above.
fn float_name(info: &ast::ExactNumberInfo) -> String {
    match info {
        ast::ExactNumberInfo::Precision(p) | ast::ExactNumberInfo::PrecisionAndScale(p, _) if *p <= 24 => {
            "float4".into()
        }
        _ => "float8".into(),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn named(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses").remove(0);
        name_columns(&mut statement);
        statement.to_string()
    }

    #[test]
    fn unnamed_columns_get_postgres_names() {
        assert_eq!(
            named("SELECT count(*), i, n.k, 1 + 2, '1'::int, j::text, CASE WHEN b THEN 1 END, upper(s) FROM n"),
            "SELECT count(*) AS \"count\", i, n.k, 1 + 2 AS \"?column?\", '1'::INT AS \"int4\", j::TEXT AS \"j\", \
             CASE WHEN b THEN 1 END AS \"case\", upper(s) AS \"upper\" FROM n"
        );
        assert_eq!(
            named("SELECT timestamp '2022-01-01', (SELECT max(i) FROM n)"),
            "SELECT TIMESTAMP '2022-01-01' AS \"timestamp\", (SELECT max(i) AS \"max\" FROM n) AS \"max\""
        );
    }

    #[test]
    fn repeated_names_are_marked_apart() {
        let sql = named("SELECT sqrt(1), sqrt(2), 3 AS sqrt, i, i FROM t");
        let mark = DUPLICATE_MARK;
        assert_eq!(
            sql,
            format!(
                "SELECT sqrt(1) AS \"sqrt\", sqrt(2) AS \"sqrt{mark}1\", 3 AS sqrt{mark}2, i, i AS \"i{mark}1\" FROM t"
            )
        );
    }

    #[test]
    fn a_views_columns_are_named_and_may_not_repeat() {
        let parse = |sql: &str| {
            let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses").remove(0);
            let ast::Statement::Query(query) = statement else { panic!("a query") };
            query
        };
        let mut query = parse("SELECT k, count(*), sum(v) AS total FROM s GROUP BY k");
        assert_eq!(name_view_columns(&mut query), None);
        assert_eq!(query.to_string(), "SELECT k, count(*) AS \"count\", sum(v) AS total FROM s GROUP BY k");
        let mut twice = parse("SELECT max(v), min(v) AS max FROM s");
        assert_eq!(name_view_columns(&mut twice), Some("max".to_string()));
    }

    #[test]
    fn subqueries_and_set_operations_are_named_too() {
        assert_eq!(
            named("SELECT * FROM (SELECT count(*) FROM t) s UNION SELECT sum(x) FROM u"),
            "SELECT * FROM (SELECT count(*) AS \"count\" FROM t) s UNION SELECT sum(x) AS \"sum\" FROM u"
        );
    }
}
