//! Parsing: Sluice's statements on top of DataFusion's `sqlparser`.
//!
//! Called by the engine for every SQL string. Statements Sluice does not own (SELECT, SET,
//! BEGIN, ...) are left to sqlparser and wrapped in [`Statement::Query`]. Our statements
//! print back as SQL (`Display`), which is how the catalog persists them.

use std::collections::BTreeMap;
use std::fmt;

use datafusion::sql::sqlparser::ast::{self, ColumnDef, Expr, Ident, ObjectName, Value};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use super::dialect::Dialect;
use crate::catalog::ObjectKind;
use crate::error::{Error, Result, lowercase_first};

/// One parsed statement.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `CREATE STREAM name (columns [, WATERMARK FOR col AS expr]) WITH (options)`.
    CreateStream(Box<CreateStream>),
    /// `CREATE TABLE name (columns, PRIMARY KEY (...)) WITH (options)`: a changelog table.
    CreateTable(Box<CreateStream>),
    /// `CREATE MATERIALIZED VIEW name AS query [EMIT ON WINDOW CLOSE]`.
    CreateView(CreateView),
    /// `CREATE SINK name FROM relation WITH (options)`, or ksqlDB's
    /// `CREATE STREAM name WITH (options) AS query`.
    CreateSink(CreateSink),
    /// `DROP STREAM | TABLE | MATERIALIZED VIEW | SINK [IF EXISTS] name [CASCADE]`.
    Drop(DropObject),
    /// `SHOW SINKS`.
    ShowSinks,
    /// `SHOW STREAMS`.
    ShowStreams,
    /// `SHOW TABLES`.
    ShowTables,
    /// `SHOW MATERIALIZED VIEWS`.
    ShowViews,
    /// `SHOW SOURCES`: where every view's source reader stands.
    ShowSources,
    /// `SHOW CLUSTER`: the nodes of this Sluice.
    ShowCluster,
    /// `DESCRIBE name`.
    Describe(String),
    /// `EXPLAIN CREATE MATERIALIZED VIEW ...`: the dataflow plan.
    Explain(CreateView),
    /// `FLUSH`: wait until every view has processed the input available now.
    Flush,
    /// `SUBSCRIBE [TO] relation`, `COPY (SUBSCRIBE [TO] relation) TO STDOUT`, or ksqlDB's
    /// push query `SELECT ... FROM relation [WHERE ...] EMIT CHANGES`: a view's rows, then
    /// its changes as they commit; a stream's new rows as they arrive.
    Subscribe(Subscribe),
    /// `SELECT ... EMIT ON WINDOW CLOSE | EMIT FINAL [GRACE PERIOD interval]`: a query
    /// whose windows emit as a view's with those clauses do.
    Select(Box<Select>),
    /// A statement that only touches the session: `SET`, `RESET`, `SHOW parameter`,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, savepoints, `DISCARD`, `DEALLOCATE`.
    Session(Box<ast::Statement>),
    /// `COPY ... TO STDOUT` (and any other COPY, which is refused).
    Copy(Box<ast::Statement>),
    /// Anything else, for DataFusion.
    Query(Box<ast::Statement>),
}

/// A SELECT with a view's trailing clauses.
#[derive(Debug, Clone)]
pub struct Select {
    /// The query, as a statement for DataFusion.
    pub query: ast::Statement,
    /// `EMIT ON WINDOW CLOSE` or ksqlDB's `EMIT FINAL`.
    pub emit_on_close: bool,
    /// `GRACE PERIOD interval`.
    pub grace: Option<Expr>,
}

impl Statement {
    /// True for statements that change the catalog (CREATE, DROP). Sluice cannot roll
    /// those back, so neither a cancel request nor `statement_timeout` may stop one
    /// halfway; every other statement only reads and may be dropped at any await.
    pub fn changes_catalog(&self) -> bool {
        match self {
            Statement::CreateStream(_)
            | Statement::CreateTable(_)
            | Statement::CreateView(_)
            | Statement::CreateSink(_)
            | Statement::Drop(_) => true,
            Statement::Query(_)
            | Statement::Select(_)
            | Statement::Session(_)
            | Statement::Copy(_)
            | Statement::Explain(_)
            | Statement::Describe(_)
            | Statement::Flush
            | Statement::Subscribe(_)
            | Statement::ShowSinks
            | Statement::ShowStreams
            | Statement::ShowTables
            | Statement::ShowViews
            | Statement::ShowSources
            | Statement::ShowCluster => false,
        }
    }
}

/// A parsed SUBSCRIBE or push query.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    /// The view or stream (normalized); for a push query the first relation it names.
    pub view: String,
    /// A push query's SELECT (without `EMIT CHANGES`): what to filter and project.
    pub query: Option<Box<ast::Query>>,
    /// `WITH (snapshot = ...)`: start with a view's current rows, or a stream's from its
    /// beginning. `None`: the default, true for a view and false for a stream.
    pub snapshot: Option<bool>,
    /// Wrapped in `COPY (...) TO STDOUT`: rows go out as COPY text.
    pub copy: bool,
}

/// A parsed CREATE STREAM, or CREATE TABLE (which has a primary key).
#[derive(Debug, Clone)]
pub struct CreateStream {
    /// Stream name (normalized).
    pub name: String,
    /// Column definitions (without PRIMARY KEY options: those are in `primary_key`).
    pub columns: Vec<ColumnDef>,
    /// Primary key columns (normalized), in key order; empty for a stream.
    pub primary_key: Vec<String>,
    /// `WATERMARK FOR column AS expr`.
    pub watermark: Option<(Ident, Expr)>,
    /// `WITH (...)` options, keys lowercased.
    pub options: BTreeMap<String, String>,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
}

/// A parsed CREATE MATERIALIZED VIEW.
#[derive(Debug, Clone)]
pub struct CreateView {
    /// View name (normalized).
    pub name: String,
    /// The defining query.
    pub query: Box<ast::Query>,
    /// `EMIT ON WINDOW CLOSE`.
    pub emit_on_close: bool,
    /// `GRACE PERIOD interval`: how long after the watermark rows still count.
    pub grace: Option<Expr>,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
}

/// A parsed CREATE SINK (or CREATE STREAM ... AS SELECT).
#[derive(Debug, Clone)]
pub struct CreateSink {
    /// Sink name (normalized).
    pub name: String,
    /// The stream or view whose rows it writes (empty when `query` is given).
    pub from: String,
    /// The query whose rows it writes (`CREATE STREAM name WITH (...) AS query`).
    pub query: Option<Box<ast::Query>>,
    /// `EMIT ON WINDOW CLOSE` after the query.
    pub emit_on_close: bool,
    /// `GRACE PERIOD interval` after the query.
    pub grace: Option<Expr>,
    /// `WITH (...)` options, keys lowercased.
    pub options: BTreeMap<String, String>,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
}

/// A parsed DROP.
#[derive(Debug, Clone, PartialEq)]
pub struct DropObject {
    /// What is dropped.
    pub kind: ObjectKind,
    /// Its name (normalized).
    pub name: String,
    /// `IF EXISTS`.
    pub if_exists: bool,
    /// `CASCADE`.
    pub cascade: bool,
}

/// Parses `sql` into statements; empty text gives none.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    let sql: &str = &super::compat::replace_fragments(sql);
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql).tokenize_with_location().map_err(|e| {
        match super::encoding::invalid_bytes(sql) {
            Some(message) => Error::CharacterNotInRepertoire(message),
            None => Error::Parse(lowercase_first(&e.to_string())),
        }
    })?;
    // Only a text naming EMIT or GRACE can hold a push query or a query with a view's
    // trailing clauses: others skip looking for one (finding a query's end takes time).
    let emits = tokens.iter().any(|t| {
        matches!(&t.token, Token::Word(w) if w.value.eq_ignore_ascii_case("EMIT") || w.value.eq_ignore_ascii_case("GRACE"))
    });
    let tokens = super::numbers::rewrite(super::ksql::rewrite(tokens)?);
    let budgeted = Dialect::for_tokens(tokens.len());
    let mut parser = Parser::new(&budgeted).with_tokens_with_locations(tokens);
    let mut statements = Vec::new();
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token().token == Token::EOF {
            return Ok(for_datafusion(sql, statements));
        }
        let mut statement = parse_statement(&mut parser, emits).map_err(|e| too_complex(e, &budgeted))?;
        check_depth(&mut statement)?;
        normalize_table_functions(&mut statement);
        rewrite_view_queries(&mut statement)?;
        statements.push(statement);
        if !parser.consume_token(&Token::SemiColon) && parser.peek_token().token != Token::EOF {
            let e = parser.expected::<()>("end of statement", parser.peek_token()).unwrap_err();
            return Err(too_complex(e.into(), &budgeted));
        }
    }
}

/// `statements` with the plain SQL ones rewritten by `compat` for DataFusion; a text of
/// plain statements only is first matched against the known client catalog queries.
fn for_datafusion(sql: &str, statements: Vec<Statement>) -> Vec<Statement> {
    let all_plain = statements.iter().all(|s| matches!(s, Statement::Query(_)));
    if all_plain
        && let Some(known) = super::compat::known_client_queries(sql)
        && known.len() == statements.len()
    {
        return known.into_iter().map(classify).collect();
    }
    statements
        .into_iter()
        .map(|s| match s {
            Statement::Query(q) => classify(super::compat::rewrite(*q)),
            Statement::Select(mut s) => {
                s.query = super::compat::rewrite(s.query);
                Statement::Select(s)
            }
            other => other,
        })
        .collect()
}

/// What a plain SQL statement is: a session statement, a COPY, or a query for DataFusion.
fn classify(stmt: ast::Statement) -> Statement {
    use ast::Statement as S;
    match stmt {
        S::Set(_)
        | S::Reset(_)
        | S::ShowVariable { .. }
        | S::StartTransaction { .. }
        | S::Commit { .. }
        | S::Rollback { .. }
        | S::Savepoint { .. }
        | S::ReleaseSavepoint { .. }
        | S::Discard { .. }
        | S::Deallocate { .. } => Statement::Session(Box::new(stmt)),
        S::Copy { .. } => Statement::Copy(Box::new(stmt)),
        other => Statement::Query(Box::new(other)),
    }
}

/// A parse that ran out of its budget (`super::dialect`) as 54001; other errors as they are.
fn too_complex(e: Error, dialect: &Dialect) -> Error {
    if !dialect.exhausted() && !matches!(&e, Error::Parse(m) if m.contains(super::dialect::TOO_COMPLEX)) {
        return e;
    }
    Error::TooComplex {
        detail: "Parsing it took more steps than a statement of its length ever needs; \
                 look for a misspelled keyword inside nested expressions."
            .into(),
    }
}

/// Refuses a statement that nests too deeply for what comes after parsing
/// (`super::limits`).
fn check_depth(statement: &mut Statement) -> Result<()> {
    use super::limits::check;
    match statement {
        Statement::CreateView(v) | Statement::Explain(v) => check(&mut v.query),
        Statement::CreateSink(k) => k.query.as_mut().map_or(Ok(()), check),
        Statement::Subscribe(s) => s.query.as_mut().map_or(Ok(()), check),
        Statement::Query(q) | Statement::Session(q) | Statement::Copy(q) => check(q.as_mut()),
        Statement::Select(s) => check(&mut s.query),
        Statement::CreateStream(s) | Statement::CreateTable(s) => {
            s.watermark.as_mut().map_or(Ok(()), |(_, e)| check(e))
        }
        Statement::Drop(_)
        | Statement::ShowSinks
        | Statement::ShowStreams
        | Statement::ShowTables
        | Statement::ShowViews
        | Statement::ShowSources
        | Statement::ShowCluster
        | Statement::Describe(_)
        | Statement::Flush => Ok(()),
    }
}

/// Gives the unnamed columns of a view's or sink's query Postgres's names, which the view
/// keeps, and Postgres's functions DataFusion lacks (`compat::rewrite_view_query`); a view
/// with two columns of one name is refused, as in Postgres.
fn rewrite_view_queries(statement: &mut Statement) -> Result<()> {
    let query = match statement {
        Statement::CreateView(v) | Statement::Explain(v) => &mut v.query,
        Statement::CreateSink(k) => match k.query.as_mut() {
            Some(query) => query,
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    match super::compat::rewrite_view_query(query) {
        Some(name) => Err(Error::DuplicateColumn(name)),
        None => Ok(()),
    }
}

/// Table functions Sluice defines.
const TABLE_FUNCTIONS: [&str; 4] = ["tumble", "hop", "cumulate", "session"];

/// DataFusion looks table functions up by their exact name; fold ours to lowercase so
/// `TUMBLE(...)` and `tumble(...)` both work.
fn normalize_table_functions(statement: &mut Statement) {
    let fold = |name: &mut ObjectName| {
        if let [part] = name.0.as_mut_slice()
            && let Some(ident) = part.as_ident()
            && ident.quote_style.is_none()
            && TABLE_FUNCTIONS.contains(&ident.value.to_lowercase().as_str())
        {
            *part = ast::ObjectNamePart::Identifier(Ident::new(ident.value.to_lowercase()));
        }
        std::ops::ControlFlow::<()>::Continue(())
    };
    let _ = match statement {
        Statement::CreateView(v) | Statement::Explain(v) => ast::visit_relations_mut(&mut v.query, fold),
        Statement::Query(q) => ast::visit_relations_mut(q.as_mut(), fold),
        Statement::Select(s) => ast::visit_relations_mut(&mut s.query, fold),
        _ => std::ops::ControlFlow::Continue(()),
    };
}

fn parse_statement(p: &mut Parser, emits: bool) -> Result<Statement> {
    if eat_words(p, &["CREATE", "STREAM"]) {
        if let Some(sink) = parse_stream_as_select(p)? {
            return Ok(Statement::CreateSink(sink));
        }
        return Ok(Statement::CreateStream(Box::new(parse_create_stream(p, false)?)));
    }
    if eat_words(p, &["CREATE", "TABLE"]) {
        return Ok(Statement::CreateTable(Box::new(parse_create_stream(p, true)?)));
    }
    if eat_words(p, &["CREATE", "MATERIALIZED", "VIEW"]) {
        return Ok(Statement::CreateView(parse_create_view(p)?));
    }
    if eat_words(p, &["EXPLAIN", "CREATE", "MATERIALIZED", "VIEW"]) {
        return Ok(Statement::Explain(parse_create_view(p)?));
    }
    if eat_words(p, &["SHOW", "STREAMS"]) {
        return Ok(Statement::ShowStreams);
    }
    if eat_words(p, &["SHOW", "TABLES"]) {
        return Ok(Statement::ShowTables);
    }
    if eat_words(p, &["SHOW", "MATERIALIZED", "VIEWS"]) {
        return Ok(Statement::ShowViews);
    }
    if eat_words(p, &["SHOW", "SOURCES"]) {
        return Ok(Statement::ShowSources);
    }
    if eat_words(p, &["SHOW", "SINKS"]) {
        return Ok(Statement::ShowSinks);
    }
    if eat_words(p, &["SHOW", "CLUSTER"]) {
        return Ok(Statement::ShowCluster);
    }
    if eat_words(p, &["CREATE", "SINK"]) {
        return Ok(Statement::CreateSink(parse_create_sink(p)?));
    }
    if eat_words(p, &["DROP", "SINK"]) {
        return parse_drop(p, ObjectKind::Sink);
    }
    if eat_words(p, &["DESCRIBE"]) || eat_words(p, &["DESC"]) {
        return Ok(Statement::Describe(parse_name(p)?));
    }
    if eat_words(p, &["DROP", "STREAM"]) {
        return parse_drop(p, ObjectKind::Stream);
    }
    if eat_words(p, &["DROP", "TABLE"]) {
        return parse_drop(p, ObjectKind::Table);
    }
    if eat_words(p, &["DROP", "MATERIALIZED", "VIEW"]) {
        return parse_drop(p, ObjectKind::View);
    }
    if eat_words(p, &["FLUSH"]) {
        return Ok(Statement::Flush);
    }
    if let Some(subscribe) = parse_subscribe(p, emits)? {
        return Ok(Statement::Subscribe(subscribe));
    }
    if emits && let Some(select) = parse_select_with_tail(p)? {
        return Ok(Statement::Select(Box::new(select)));
    }
    Ok(Statement::Query(Box::new(p.parse_statement()?)))
}

/// A query followed by a view's trailing clauses (see [`parse_tail`]); any other text is
/// left untouched.
fn parse_select_with_tail(p: &mut Parser) -> Result<Option<Select>> {
    let starts_query = match p.peek_token().token {
        Token::Word(w) => matches!(w.keyword, Keyword::SELECT | Keyword::WITH),
        Token::LParen => true,
        _ => false,
    };
    if !starts_query {
        return Ok(None);
    }
    let len = query_len(p);
    let word_at = |i: usize, w: &str| matches!(p.peek_nth_token(i).token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    let emit = word_at(len, "EMIT") && (word_at(len + 1, "FINAL") || word_at(len + 1, "ON"));
    let grace = word_at(len, "GRACE") && word_at(len + 1, "PERIOD");
    if !emit && !grace {
        return Ok(None);
    }
    let query = ast::Statement::Query(parse_view_query(p)?);
    let (emit_on_close, grace) = parse_tail(p)?;
    Ok(Some(Select { query, emit_on_close, grace }))
}

/// `SUBSCRIBE [TO] relation [WITH (snapshot = ...)]`, the same inside `COPY (...) TO
/// STDOUT`, and push queries: `SELECT ... EMIT CHANGES` (looked for when `emits`).
fn parse_subscribe(p: &mut Parser, emits: bool) -> Result<Option<Subscribe>> {
    let copy = matches!(
        (p.peek_nth_token(0).token, p.peek_nth_token(1).token, p.peek_nth_token(2).token),
        (Token::Word(c), Token::LParen, Token::Word(s)) if c.value.eq_ignore_ascii_case("COPY")
            && (s.value.eq_ignore_ascii_case("SUBSCRIBE") || (emits && s.keyword == Keyword::SELECT))
    );
    if copy {
        p.next_token();
        p.next_token();
    }
    if eat_words(p, &["SUBSCRIBE"]) {
        let _ = eat_words(p, &["TO"]);
        let view = parse_name(p)?;
        let options = parse_with_options(p)?;
        let snapshot = match options.get("snapshot").map(|v| v.to_ascii_lowercase()) {
            None => None,
            Some(v) if v == "true" => Some(true),
            Some(v) if v == "false" => Some(false),
            Some(v) => return Err(Error::InvalidParameter(format!("invalid value for option \"snapshot\": \"{v}\""))),
        };
        if copy {
            copy_to_stdout(p)?;
        }
        return Ok(Some(Subscribe { view, query: None, snapshot, copy }));
    }
    match parse_push_query(p, emits)? {
        Some(push) if copy => {
            copy_to_stdout(p)?;
            Ok(Some(Subscribe { copy, ..push }))
        }
        Some(push) => Ok(Some(push)),
        None => {
            if copy {
                // An ordinary `COPY (SELECT ...)`: leave it to the query path.
                p.prev_token();
                p.prev_token();
            }
            Ok(None)
        }
    }
}

/// The end of `COPY (SUBSCRIBE ...) TO STDOUT` or `COPY (SELECT ... EMIT CHANGES) TO STDOUT`.
fn copy_to_stdout(p: &mut Parser) -> Result<()> {
    p.expect_token(&Token::RParen)?;
    if !eat_words(p, &["TO", "STDOUT"]) {
        return Err(Error::Unsupported("COPY of a subscription or push query can only go TO STDOUT".into()));
    }
    Ok(())
}

/// ksqlDB's push query: a SELECT whose query is followed by `EMIT CHANGES` (nothing else
/// after it). Any other text is left untouched.
fn parse_push_query(p: &mut Parser, emits: bool) -> Result<Option<Subscribe>> {
    if !emits {
        return Ok(None);
    }
    let select = matches!(p.peek_token().token, Token::Word(w) if w.keyword == Keyword::SELECT);
    let len = query_len(p);
    let word_at = |i: usize, w: &str| matches!(p.peek_nth_token(i).token, Token::Word(x) if x.quote_style.is_none() && x.value.eq_ignore_ascii_case(w));
    if !select || !word_at(len, "EMIT") || !word_at(len + 1, "CHANGES") {
        return Ok(None);
    }
    let query = parse_view_query(p)?;
    eat_words(p, &["EMIT", "CHANGES"]);
    if eat_words(p, &["LIMIT"]) {
        return Err(Error::Unsupported("LIMIT after EMIT CHANGES is not supported: cancel the query instead".into()));
    }
    let mut view = String::new();
    let _ = ast::visit_relations(query.as_ref(), |name| {
        view = name.to_string();
        std::ops::ControlFlow::Break(())
    });
    Ok(Some(Subscribe { view, query: Some(query), snapshot: None, copy: false }))
}

/// Parses what follows CREATE STREAM (or CREATE TABLE, when `table`: a primary key is
/// required, as a column option or a `PRIMARY KEY (...)` element; tables have no watermark).
fn parse_create_stream(p: &mut Parser, table: bool) -> Result<CreateStream> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parse_name(p)?;
    p.expect_token(&Token::LParen)?;
    let mut columns = Vec::new();
    let mut watermark = None;
    let mut primary_key = Vec::new();
    loop {
        if eat_words(p, &["WATERMARK", "FOR"]) {
            let column = p.parse_identifier()?;
            p.expect_keyword_is(Keyword::AS)?;
            watermark = Some((column, p.parse_expr()?));
        } else if table && eat_words(p, &["PRIMARY", "KEY"]) {
            p.expect_token(&Token::LParen)?;
            let idents = p.parse_comma_separated(|p| p.parse_identifier())?;
            p.expect_token(&Token::RParen)?;
            set_primary_key(&mut primary_key, idents.iter().map(normalize).collect())?;
        } else {
            let mut column = p.parse_column_def()?;
            let before = column.options.len();
            column.options.retain(|o| !matches!(o.option, ast::ColumnOption::PrimaryKey(_)));
            if column.options.len() != before {
                if !table {
                    let error = Error::Parse("a stream has no primary key".into());
                    return Err(error.with_hint("Declare a TABLE to keep the latest row per key."));
                }
                set_primary_key(&mut primary_key, vec![normalize(&column.name)])?;
            }
            columns.push(column);
        }
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    let options = parse_with_options(p)?;
    if table && primary_key.is_empty() {
        return Err(Error::Parse(format!("table \"{name}\" needs a PRIMARY KEY")));
    }
    if table && watermark.is_some() {
        return Err(Error::Parse(format!("table \"{name}\" cannot have a WATERMARK: only streams have event time")));
    }
    Ok(CreateStream { name, columns, primary_key, watermark, options, if_not_exists })
}

fn set_primary_key(primary_key: &mut Vec<String>, columns: Vec<String>) -> Result<()> {
    if !primary_key.is_empty() {
        return Err(Error::Parse("multiple primary keys are not allowed".into()));
    }
    *primary_key = columns;
    Ok(())
}

fn parse_create_sink(p: &mut Parser) -> Result<CreateSink> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parse_name(p)?;
    p.expect_keyword_is(Keyword::FROM)?;
    let from = parse_name(p)?;
    let options = parse_with_options(p)?;
    Ok(CreateSink { name, from, query: None, emit_on_close: false, grace: None, options, if_not_exists })
}

/// ksqlDB's `CREATE STREAM name WITH (options) AS query [EMIT CHANGES | EMIT ON WINDOW
/// CLOSE]`, a sink of the query's rows; `None` (nothing consumed) for a plain CREATE STREAM.
fn parse_stream_as_select(p: &mut Parser) -> Result<Option<CreateSink>> {
    let as_select = (0..).map(|i| p.peek_nth_token(i).token).find(|t| !matches!(t, Token::Period) && !is_plain_word(t));
    let as_select = matches!(as_select, Some(Token::Word(w)) if matches!(w.keyword, Keyword::WITH | Keyword::AS));
    if !as_select {
        return Ok(None);
    }
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parse_name(p)?;
    let options = parse_with_options(p)?;
    if options.is_empty() {
        return Err(Error::Parse(format!(
            "stream \"{name}\" needs columns, or WITH (connector = ...) AS SELECT to write a query's rows out"
        )));
    }
    p.expect_keyword_is(Keyword::AS)?;
    let query = parse_view_query(p)?;
    let (emit_on_close, grace) = parse_tail(p)?;
    let from = String::new();
    Ok(Some(CreateSink { name, from, query: Some(query), emit_on_close, grace, options, if_not_exists }))
}

fn parse_create_view(p: &mut Parser) -> Result<CreateView> {
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parse_name(p)?;
    p.expect_keyword_is(Keyword::AS)?;
    let query = parse_view_query(p)?;
    let (emit_on_close, grace) = parse_tail(p)?;
    Ok(CreateView { name, query, emit_on_close, grace, if_not_exists })
}

/// A view's query: the tokens up to its trailing clauses (see [`parse_tail`]), parsed on
/// their own so that `FROM s GRACE PERIOD ...` does not take `GRACE` for an alias of `s`.
fn parse_view_query(p: &mut Parser) -> Result<Box<ast::Query>> {
    let len = query_len(p);
    let mut tokens: Vec<_> = (0..len).map(|_| p.next_token()).collect();
    tokens.push(TokenWithSpan::wrap(Token::EOF));
    let dialect = Dialect::for_tokens(tokens.len());
    let mut query_parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let query = query_parser.parse_query().map_err(|e| too_complex(e.into(), &dialect))?;
    if query_parser.peek_token().token != Token::EOF {
        return Err(query_parser.expected::<()>("end of query", query_parser.peek_token()).unwrap_err().into());
    }
    Ok(query)
}

/// How many tokens, from the parser's position, a view's query takes: up to the end of the
/// statement or its trailing clauses (see [`parse_tail`]).
fn query_len(p: &mut Parser) -> usize {
    // Walks forward and back rather than peeking far ahead: a peek skips every token
    // before the one it looks at, which would make long statements quadratic.
    let mut depth = 0usize;
    let mut len = 0;
    loop {
        let word = |i: usize| match p.peek_nth_token_ref(i).token.clone() {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            _ => String::new(),
        };
        match p.peek_token_ref().token {
            Token::EOF | Token::SemiColon => break,
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ if depth == 0 => match (word(0).as_str(), word(1).as_str()) {
                ("GRACE", "PERIOD") | ("EMIT", "CHANGES" | "FINAL" | "ON") => break,
                _ => {}
            },
            _ => {}
        }
        p.advance_token();
        len += 1;
    }
    for _ in 0..len {
        p.prev_token();
    }
    len
}

/// What may follow a view's query, in either order: an EMIT clause and
/// `GRACE PERIOD interval`.
fn parse_tail(p: &mut Parser) -> Result<(bool, Option<Expr>)> {
    let mut emit_on_close = parse_emit(p);
    let mut grace = None;
    if eat_words(p, &["GRACE", "PERIOD"]) {
        grace = Some(p.parse_expr()?);
        emit_on_close |= parse_emit(p);
    }
    Ok((emit_on_close, grace))
}

/// `EMIT ON WINDOW CLOSE` or ksqlDB's `EMIT FINAL` (true), `EMIT CHANGES` or nothing.
fn parse_emit(p: &mut Parser) -> bool {
    if eat_words(p, &["EMIT", "ON", "WINDOW", "CLOSE"]) || eat_words(p, &["EMIT", "FINAL"]) {
        return true;
    }
    let _ = eat_words(p, &["EMIT", "CHANGES"]);
    false
}

fn parse_drop(p: &mut Parser, kind: ObjectKind) -> Result<Statement> {
    let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = parse_name(p)?;
    let cascade = p.parse_keyword(Keyword::CASCADE);
    if !cascade {
        let _ = p.parse_keyword(Keyword::RESTRICT);
    }
    Ok(Statement::Drop(DropObject { kind, name, if_exists, cascade }))
}

/// `WITH (key = value, ...)`; keys may be dotted (`properties.fetch.max.bytes`) and are
/// lowercased. No WITH gives no options.
fn parse_with_options(p: &mut Parser) -> Result<BTreeMap<String, String>> {
    let mut options = BTreeMap::new();
    if !p.parse_keyword(Keyword::WITH) {
        return Ok(options);
    }
    p.expect_token(&Token::LParen)?;
    if p.consume_token(&Token::RParen) {
        return Ok(options);
    }
    loop {
        let mut key = p.parse_identifier()?.value;
        while p.consume_token(&Token::Period) {
            key.push('.');
            key.push_str(&p.parse_identifier()?.value);
        }
        p.expect_token(&Token::Eq)?;
        options.insert(key.to_lowercase(), option_value(&p.parse_expr()?)?);
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    Ok(options)
}

fn option_value(value: &Expr) -> Result<String> {
    match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) | Value::Number(s, _) => Ok(s.clone()),
            Value::Boolean(b) => Ok(b.to_string()),
            other => Err(Error::Parse(format!("unsupported option value {other}"))),
        },
        Expr::Identifier(id) => Ok(id.value.clone()),
        other => Err(Error::Parse(format!("unsupported option value {other}"))),
    }
}

/// Parses an object name; `public.x` is `x`.
fn parse_name(p: &mut Parser) -> Result<String> {
    let name: ObjectName = p.parse_object_name(false)?;
    let parts: Vec<String> = name.0.iter().filter_map(|part| part.as_ident()).map(normalize).collect();
    match parts.as_slice() {
        [n] => Ok(n.clone()),
        [schema, n] if schema == "public" => Ok(n.clone()),
        _ => Err(Error::Unsupported(format!("qualified name {name} is not supported"))),
    }
}

/// Unquoted identifiers fold to lowercase, as in Postgres.
pub fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() }
}

/// A word that can be part of `[IF NOT EXISTS] name`: any but WITH and AS unquoted.
fn is_plain_word(token: &Token) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_some() || !matches!(w.keyword, Keyword::WITH | Keyword::AS))
}

/// Consumes the words if the next tokens are exactly these (case-insensitive).
fn eat_words(p: &mut Parser, words: &[&str]) -> bool {
    let matches = words.iter().enumerate().all(|(i, w)| match &p.peek_nth_token(i).token {
        Token::Word(word) => word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w),
        _ => false,
    });
    if matches {
        for _ in words {
            p.next_token();
        }
    }
    matches
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl fmt::Display for CreateStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.primary_key.is_empty() { "STREAM" } else { "TABLE" };
        write!(f, "CREATE {kind} {} (", quoted(&self.name))?;
        let mut parts: Vec<String> = self.columns.iter().map(|c| c.to_string()).collect();
        if !self.primary_key.is_empty() {
            let key: Vec<String> = self.primary_key.iter().map(|k| quoted(k)).collect();
            parts.push(format!("PRIMARY KEY ({})", key.join(", ")));
        }
        if let Some((col, expr)) = &self.watermark {
            parts.push(format!("WATERMARK FOR {col} AS {expr}"));
        }
        write!(f, "{})", parts.join(", "))?;
        if !self.options.is_empty() {
            let opts: Vec<String> =
                self.options.iter().map(|(k, v)| format!("{k} = '{}'", v.replace('\'', "''"))).collect();
            write!(f, " WITH ({})", opts.join(", "))?;
        }
        Ok(())
    }
}

fn write_tail(f: &mut fmt::Formatter<'_>, emit_on_close: bool, grace: Option<&Expr>) -> fmt::Result {
    if emit_on_close {
        write!(f, " EMIT ON WINDOW CLOSE")?;
    }
    if let Some(grace) = grace {
        write!(f, " GRACE PERIOD {grace}")?;
    }
    Ok(())
}

impl fmt::Display for DropObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let if_exists = if self.if_exists { "IF EXISTS " } else { "" };
        let cascade = if self.cascade { " CASCADE" } else { "" };
        write!(f, "DROP {} {if_exists}{}{cascade}", self.kind.noun().to_uppercase(), quoted(&self.name))
    }
}

impl fmt::Display for CreateView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE MATERIALIZED VIEW {} AS {}", quoted(&self.name), self.query)?;
        write_tail(f, self.emit_on_close, self.grace.as_ref())
    }
}

impl fmt::Display for CreateSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opts: Vec<String> =
            self.options.iter().map(|(k, v)| format!("{k} = '{}'", v.replace('\'', "''"))).collect();
        let Some(query) = &self.query else {
            return write!(
                f,
                "CREATE SINK {} FROM {} WITH ({})",
                quoted(&self.name),
                quoted(&self.from),
                opts.join(", ")
            );
        };
        write!(f, "CREATE STREAM {} WITH ({}) AS {query}", quoted(&self.name), opts.join(", "))?;
        write_tail(f, self.emit_on_close, self.grace.as_ref())
    }
}

impl From<ParserError> for Box<Error> {
    fn from(e: ParserError) -> Self {
        Box::new(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_stream_round_trips() {
        let sql = "CREATE STREAM Bids (auction BIGINT, date_time TIMESTAMP, \
                   WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND) \
                   WITH (connector = 'file', path = '/data/bids', format = 'json')";
        let stmts = parse(sql).unwrap();
        let Statement::CreateStream(s) = &stmts[0] else { panic!() };
        assert_eq!(s.name, "bids");
        assert_eq!(s.columns.len(), 2);
        assert_eq!(s.options["path"], "/data/bids");
        let again = parse(&s.to_string()).unwrap();
        let Statement::CreateStream(t) = &again[0] else { panic!() };
        assert_eq!(t.to_string(), s.to_string());
    }

    #[test]
    fn session_statements_and_copy_are_told_apart_when_parsed() {
        let statements =
            parse("SET TimeZone = 'UTC'; SHOW TimeZone; BEGIN; COMMIT; COPY v TO STDOUT; SELECT 1").unwrap();
        let kinds: Vec<&str> = statements
            .iter()
            .map(|s| match s {
                Statement::Session(_) => "session",
                Statement::Copy(_) => "copy",
                Statement::Query(_) => "query",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["session", "session", "session", "session", "copy", "query"]);
    }

    #[test]
    fn a_select_with_a_views_trailing_clauses() {
        let sql = "SELECT k, count(*) FROM s WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY k EMIT FINAL; \
                   SELECT a FROM TUMBLE(s, ts, INTERVAL '1' SECOND) GROUP BY a GRACE PERIOD INTERVAL '2' SECOND EMIT ON WINDOW CLOSE; \
                   SELECT (SELECT 1) AS emit FROM s";
        let statements = parse(sql).unwrap();
        let Statement::Select(first) = &statements[0] else { panic!("{:?}", statements[0]) };
        assert!(first.emit_on_close && first.grace.is_none());
        let Statement::Select(second) = &statements[1] else { panic!("{:?}", statements[1]) };
        assert!(second.emit_on_close);
        assert_eq!(second.grace.as_ref().map(ToString::to_string).as_deref(), Some("INTERVAL '2' SECOND"));
        assert!(matches!(&statements[2], Statement::Query(_)));
    }

    #[test]
    fn create_view_with_emit_and_more_statements() {
        let stmts = parse(
            "create materialized view v as select count(*) from tumble(s, t, interval '1' second) \
             group by window_end emit on window close; select 1;",
        )
        .unwrap();
        assert_eq!(stmts.len(), 2);
        let Statement::CreateView(v) = &stmts[0] else { panic!() };
        assert!(v.emit_on_close);
        assert!(matches!(stmts[1], Statement::Query(_)));
    }

    #[test]
    fn drop_show_describe_flush() {
        let stmts = parse("DROP MATERIALIZED VIEW IF EXISTS v CASCADE; SHOW STREAMS; DESCRIBE x; FLUSH").unwrap();
        let Statement::Drop(d) = &stmts[0] else { panic!() };
        assert!(d.if_exists && d.cascade && d.kind == ObjectKind::View);
        assert!(matches!(stmts[1], Statement::ShowStreams));
        assert!(matches!(&stmts[2], Statement::Describe(n) if n == "x"));
        assert!(matches!(stmts[3], Statement::Flush));
        assert_eq!(d.to_string(), "DROP MATERIALIZED VIEW IF EXISTS \"v\" CASCADE");
        let Statement::Drop(again) = &parse(&d.to_string()).unwrap()[0] else { panic!() };
        assert_eq!(again, d);
    }

    #[test]
    fn create_sink_round_trips() {
        let sql = "CREATE SINK IF NOT EXISTS Out FROM public.totals WITH (connector = 'kafka', topic = 'it''s', \
                   properties.linger.MS = 5, \"properties.acks\" = 'all', key = k)";
        let Statement::CreateSink(s) = &parse(sql).unwrap()[0] else { panic!() };
        assert_eq!((s.name.as_str(), s.from.as_str(), s.if_not_exists), ("out", "totals", true));
        assert_eq!(s.options["topic"], "it's");
        assert_eq!((s.options["properties.linger.ms"].as_str(), s.options["properties.acks"].as_str()), ("5", "all"));
        assert_eq!(s.options["key"], "k");
        let Statement::CreateSink(t) = &parse(&s.to_string()).unwrap()[0] else { panic!() };
        assert_eq!(t.to_string(), s.to_string());
        assert!(matches!(
            parse("DROP SINK IF EXISTS out").unwrap()[0],
            Statement::Drop(DropObject { kind: ObjectKind::Sink, .. })
        ));
        assert!(matches!(parse("SHOW SINKS").unwrap()[0], Statement::ShowSinks));
        assert!(matches!(parse("show cluster").unwrap()[0], Statement::ShowCluster));
    }

    #[test]
    fn create_table_round_trips_with_either_key_form() {
        for sql in [
            "CREATE TABLE Users (id BIGINT PRIMARY KEY, name TEXT) WITH (connector = 'file', path = 'u')",
            "CREATE TABLE users (id BIGINT, name TEXT, PRIMARY KEY (ID)) WITH (connector = 'file', path = 'u')",
        ] {
            let Statement::CreateTable(t) = &parse(sql).unwrap()[0] else { panic!("{sql}") };
            assert_eq!((t.name.as_str(), t.primary_key.clone()), ("users", vec!["id".to_string()]));
            assert!(t.columns.iter().all(|c| c.options.is_empty()), "{sql}");
            let Statement::CreateTable(again) = &parse(&t.to_string()).unwrap()[0] else { panic!() };
            assert_eq!(again.to_string(), t.to_string());
        }
        for bad in [
            "CREATE TABLE t (id BIGINT) WITH (connector = 'file')",
            "CREATE TABLE t (id BIGINT PRIMARY KEY, PRIMARY KEY (id))",
            "CREATE STREAM s (id BIGINT PRIMARY KEY)",
        ] {
            assert_eq!(parse(bad).unwrap_err().sqlstate(), "42601", "{bad}");
        }
        assert!(matches!(parse("SHOW TABLES").unwrap()[0], Statement::ShowTables));
        assert!(matches!(
            parse("DROP TABLE IF EXISTS t").unwrap()[0],
            Statement::Drop(DropObject { kind: ObjectKind::Table, .. })
        ));
    }

    #[test]
    fn create_stream_as_select_is_a_sink() {
        let sql = "CREATE STREAM big WITH (connector = 'kafka', topic = 'big') AS SELECT * FROM bids WHERE price > 10 EMIT CHANGES";
        let Statement::CreateSink(s) = &parse(sql).unwrap()[0] else { panic!() };
        assert_eq!((s.name.as_str(), s.from.as_str(), s.query.is_some()), ("big", "", true));
        let Statement::CreateSink(t) = &parse(&s.to_string()).unwrap()[0] else { panic!() };
        assert_eq!(t.to_string(), s.to_string());
        assert!(matches!(
            parse("CREATE STREAM s (a INT) WITH (connector = 'file')").unwrap()[0],
            Statement::CreateStream(_)
        ));
        assert_eq!(parse("CREATE STREAM s AS SELECT 1").unwrap_err().sqlstate(), "42601");
    }

    #[test]
    fn subscribe_and_push_queries() {
        let Statement::Subscribe(s) = &parse("COPY (SUBSCRIBE TO v WITH (snapshot = false)) TO STDOUT").unwrap()[0]
        else {
            panic!()
        };
        assert_eq!((s.view.as_str(), s.snapshot, s.copy, s.query.is_none()), ("v", Some(false), true, true));
        let Statement::Subscribe(s) = &parse("COPY (SELECT a FROM s WHERE b > 1 EMIT CHANGES) TO STDOUT").unwrap()[0]
        else {
            panic!()
        };
        assert_eq!((s.view.as_str(), s.copy, s.query.is_some()), ("s", true, true));
        // A column named emit is not a push query: a plain COPY.
        assert!(matches!(&parse("COPY (SELECT emit FROM s) TO STDOUT").unwrap()[0], Statement::Copy(_)));
        let Statement::Subscribe(s) = &parse("SELECT a, b FROM v WHERE c > 10 EMIT CHANGES;").unwrap()[0] else {
            panic!()
        };
        assert_eq!((s.view.as_str(), s.snapshot), ("v", None));
        assert_eq!(s.query.as_ref().unwrap().to_string(), "SELECT a, b FROM v WHERE c > 10");
        assert!(matches!(parse("SELECT emit FROM v").unwrap()[0], Statement::Query(_)));
        assert_eq!(parse("SELECT * FROM v EMIT CHANGES LIMIT 1").unwrap_err().sqlstate(), "0A000");
        assert_eq!(parse("SELECT * FROM v EMIT CHANGES x").unwrap_err().sqlstate(), "42601");
    }

    #[test]
    fn garbage_is_a_parse_error() {
        let err = parse("CREATE STREAM (").unwrap_err();
        assert_eq!(err.sqlstate(), "42601");
    }
}
