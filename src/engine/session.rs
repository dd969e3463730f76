//! A client's session: who it is, its run-time parameters (SET, SHOW, RESET,
//! `current_setting()`), its transaction chatter (BEGIN, COMMIT, ROLLBACK) and the
//! statements it runs through the engine.
//!
//! The server keeps one [`Session`] per connection; `sluice run` and
//! [`Engine::execute`] use a throwaway one. Sluice has no transactions: BEGIN and COMMIT
//! (and savepoints) are accepted (every statement sees committed view contents anyway),
//! and BEGIN's
//! isolation level and read-only mode are shown by SHOW until the transaction ends. What a
//! parameter changes is applied here: results are shown in the session's TimeZone, and
//! functions reading the session (`current_setting`, `set_config`, `current_user`) are
//! replaced by their values before the engine plans the statement.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::scalar::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName, TransactionAccessMode,
    TransactionIsolationLevel, TransactionMode, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{Description, Engine, Output};
use crate::error::{Error, Result};
use crate::pg::settings::{self, Settings};
use crate::sql::{Select, Statement};

/// One client's session.
pub struct Session {
    /// Where statements run.
    engine: Engine,
    /// The user the client connected as.
    user: String,
    /// May create file streams and sinks (see `engine::files`).
    superuser: bool,
    /// Its run-time parameters.
    settings: Mutex<Settings>,
    /// Parameter changes the client has not been told about yet (ParameterStatus).
    reports: Mutex<Vec<(String, String)>>,
}

impl Engine {
    /// A new session for `user`, with default settings, as a superuser (the server
    /// narrows it with [`Session::with_superuser`] when clients log in with passwords).
    pub fn session(&self, user: &str) -> Session {
        let mut settings = Settings::default();
        let timeout = self.inner.config.statement_timeout.as_millis();
        if timeout > 0 {
            // A server default is a default: not reported, and RESET goes back to it.
            let _ = settings.set_default("statement_timeout", &timeout.to_string());
        }
        let statement_mem = self.inner.config.statement_mem;
        if statement_mem != super::DEFAULT_STATEMENT_MEM {
            let _ = settings.set_default("statement_mem", &format!("{statement_mem}B"));
        }
        Session {
            engine: self.clone(),
            user: user.to_string(),
            superuser: true,
            settings: Mutex::new(settings),
            reports: Mutex::new(Vec::new()),
        }
    }
}

impl Session {
    /// Applies the parameters a client sent at startup (`application_name`, `TimeZone`,
    /// `DateStyle`, `-c name=value` options ...). Unknown or refused ones are returned, so
    /// the caller can log them; Postgres would refuse the connection, which helps nobody.
    pub fn apply_startup<'a>(&self, options: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<Error> {
        let mut refused = Vec::new();
        for (name, value) in options {
            if let Err(e) = self.set(name, value) {
                refused.push(e);
            }
        }
        refused
    }

    /// Whether the session may create file streams and sinks.
    pub fn with_superuser(mut self, superuser: bool) -> Session {
        self.superuser = superuser;
        self
    }

    /// The user the client connected as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The value of parameter `name`.
    pub fn setting(&self, name: &str) -> Result<String> {
        self.settings()?.get(name)
    }

    /// Every parameter the session should report now: those changed since the last call.
    pub fn take_reports(&self) -> Vec<(String, String)> {
        self.reports.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default()
    }

    /// Parameter and result types of `stmt`.
    pub async fn describe(&self, stmt: &Statement) -> Result<Description> {
        match stmt {
            Statement::Session(ast) => Ok(Description { params: vec![], schema: self.session_schema(ast)? }),
            Statement::Copy(_) => Ok(Description { params: vec![], schema: None }),
            Statement::Select(_) | Statement::Query(_) => self.engine.describe(&self.substituted(stmt)?).await,
            other => self.engine.describe(other).await,
        }
    }

    /// Executes `stmt` with values for `$1..$n`, within the session's `statement_timeout`
    /// and `statement_mem`.
    pub async fn execute(&self, stmt: &Statement, params: Vec<ScalarValue>) -> Result<Output> {
        let limit = settings::timeout_ms(&self.setting("statement_timeout")?)?;
        let memory = settings::statement_mem_bytes(&self.setting("statement_mem")?)?;
        let work = super::memory::with_statement_mem(memory, self.execute_unbounded(stmt, params));
        if limit == 0 || stmt.changes_catalog() {
            return work.await;
        }
        match tokio::time::timeout(Duration::from_millis(limit), work).await {
            Ok(result) => result,
            Err(_) => Err(Error::StatementTimeout),
        }
    }

    async fn execute_unbounded(&self, stmt: &Statement, params: Vec<ScalarValue>) -> Result<Output> {
        match stmt {
            Statement::Session(ast) => self.session_statement(ast),
            Statement::Copy(ast) => self.copy(ast, params).await,
            Statement::Select(_) | Statement::Query(_) => {
                let stmt = self.substituted(stmt)?;
                let zone = self.setting("TimeZone")?;
                let output = super::query::in_time_zone(zone, self.engine.run(&stmt, params)).await?;
                self.localize(output)
            }
            other => {
                if !self.superuser {
                    super::files::file_privilege(other, &self.user)?;
                }
                self.engine.run(other, params).await
            }
        }
    }

    /// `COPY (query) TO STDOUT`: the query's rows as COPY data.
    async fn copy(&self, stmt: &ast::Statement, params: Vec<ScalarValue>) -> Result<Output> {
        let (query, format) = super::copy::copy_to_stdout(stmt)?;
        let output = self.engine.run(&Statement::Query(Box::new(self.substitute(&query)?)), params).await?;
        match self.localize(output)? {
            Output::Rows { schema, batches } => Ok(Output::Copy { schema, batches, format }),
            other => Ok(other),
        }
    }

    /// Query `stmt` with the session's values in place of the functions that read them.
    fn substituted(&self, stmt: &Statement) -> Result<Statement> {
        Ok(match stmt {
            Statement::Select(select) => {
                Statement::Select(Box::new(Select { query: self.substitute(&select.query)?, ..*select.clone() }))
            }
            Statement::Query(ast) => Statement::Query(Box::new(self.substitute(ast)?)),
            other => other.clone(),
        })
    }

    fn settings(&self) -> Result<MutexGuard<'_, Settings>> {
        self.settings.lock().map_err(|_| Error::Internal("session settings lock poisoned".into()))
    }

    /// Sets a parameter and queues its report.
    fn set(&self, name: &str, value: &str) -> Result<()> {
        let report = self.settings()?.set(name, value)?;
        self.report(report);
        Ok(())
    }

    fn report(&self, report: Option<(String, String)>) {
        if let (Some(report), Ok(mut reports)) = (report, self.reports.lock()) {
            reports.push(report);
        }
    }

    /// Answers a statement that only touches the session.
    fn session_statement(&self, stmt: &ast::Statement) -> Result<Output> {
        use ast::Statement as S;
        let tag = match stmt {
            S::Set(set) => self.set_statement(set)?,
            S::Reset(reset) => self.reset(&reset.reset)?,
            S::ShowVariable { variable } => return self.show(variable),
            S::StartTransaction { modes, begin, .. } => {
                self.transaction_modes(modes, "transaction")?;
                if *begin { "BEGIN" } else { "START TRANSACTION" }
            }
            S::Commit { .. } => self.end_transaction("COMMIT")?,
            S::Rollback { savepoint: Some(_), .. } => "ROLLBACK",
            S::Rollback { .. } => self.end_transaction("ROLLBACK")?,
            S::Savepoint { .. } => "SAVEPOINT",
            S::ReleaseSavepoint { .. } => "RELEASE",
            S::Discard { .. } => {
                let reports = self.settings()?.reset_all();
                reports.into_iter().for_each(|r| self.report(Some(r)));
                "DISCARD ALL"
            }
            S::Deallocate { .. } => "DEALLOCATE",
            other => return Err(Error::Internal(format!("not a session statement: {other}"))),
        };
        Ok(Output::command(tag))
    }

    /// The result columns of a session statement: SHOW's; the others have none.
    fn session_schema(&self, stmt: &ast::Statement) -> Result<Option<arrow::datatypes::SchemaRef>> {
        match stmt {
            ast::Statement::ShowVariable { variable } => match self.show(variable)? {
                Output::Rows { schema, .. } => Ok(Some(schema)),
                Output::Copy { .. } | Output::Command { .. } => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// SET in its Postgres forms.
    fn set_statement(&self, set: &ast::Set) -> Result<&'static str> {
        match set {
            ast::Set::SingleAssignment { variable, values, .. } => {
                let name = object_name(variable);
                match values.as_slice() {
                    [Expr::Identifier(i)] if i.value.eq_ignore_ascii_case("default") && i.quote_style.is_none() => {
                        let report = self.settings()?.reset(&name)?;
                        self.report(report);
                    }
                    _ => self.set(&name, &setting_text(values)?)?,
                }
            }
            ast::Set::SetTimeZone { value, .. } => self.set("TimeZone", &setting_text(std::slice::from_ref(value))?)?,
            ast::Set::SetNames { charset_name, .. } => self.set("client_encoding", &charset_name.value)?,
            ast::Set::SetTransaction { modes, session, .. } => {
                let scope = if *session { "default_transaction" } else { "transaction" };
                self.transaction_modes(modes, scope)?;
            }
            ast::Set::MultipleAssignments { assignments } => {
                for a in assignments {
                    self.set(&object_name(&a.name), &setting_text(std::slice::from_ref(&a.value))?)?;
                }
            }
            other => return Err(Error::Unsupported(format!("{other} is not supported"))),
        }
        Ok("SET")
    }

    /// RESET name / RESET ALL.
    fn reset(&self, reset: &ast::Reset) -> Result<&'static str> {
        let reports = match reset {
            ast::Reset::ALL => self.settings()?.reset_all(),
            ast::Reset::ConfigurationParameter(name) => {
                self.settings()?.reset(&object_name(name))?.into_iter().collect()
            }
        };
        reports.into_iter().for_each(|r| self.report(Some(r)));
        Ok("RESET")
    }

    /// Records BEGIN's or SET TRANSACTION's modes in `<scope>_isolation` and
    /// `<scope>_read_only`.
    fn transaction_modes(&self, modes: &[TransactionMode], scope: &str) -> Result<()> {
        for mode in modes {
            match mode {
                TransactionMode::IsolationLevel(level) => {
                    let level = match level {
                        TransactionIsolationLevel::ReadUncommitted => "read uncommitted",
                        TransactionIsolationLevel::ReadCommitted => "read committed",
                        TransactionIsolationLevel::RepeatableRead => "repeatable read",
                        _ => "serializable",
                    };
                    self.set(&format!("{scope}_isolation"), level)?;
                }
                TransactionMode::AccessMode(mode) => {
                    let read_only = matches!(mode, TransactionAccessMode::ReadOnly);
                    self.set(&format!("{scope}_read_only"), if read_only { "on" } else { "off" })?;
                }
            }
        }
        Ok(())
    }

    /// COMMIT or ROLLBACK: the transaction's modes go back to the session defaults.
    fn end_transaction(&self, tag: &'static str) -> Result<&'static str> {
        let mut settings = self.settings()?;
        let isolation = settings.get("default_transaction_isolation")?;
        let read_only = settings.get("default_transaction_read_only")?;
        settings.set("transaction_isolation", &isolation)?;
        settings.set("transaction_read_only", &read_only)?;
        Ok(tag)
    }

    /// SHOW name, SHOW ALL, SHOW TRANSACTION ISOLATION LEVEL, SHOW TIME ZONE.
    fn show(&self, variable: &[ast::Ident]) -> Result<Output> {
        let name = variable.iter().map(|i| i.value.as_str()).collect::<Vec<_>>().join(" ");
        let settings = self.settings()?;
        if name.eq_ignore_ascii_case("all") {
            let all = settings.all();
            let column = |f: fn(&(String, String, String)) -> &str| -> ArrayRef {
                Arc::new(StringArray::from(all.iter().map(f).collect::<Vec<_>>()))
            };
            return rows(vec![
                ("name", column(|r| r.0.as_str())),
                ("setting", column(|r| r.1.as_str())),
                ("description", column(|r| r.2.as_str())),
            ]);
        }
        let value = settings.get(&name)?;
        let column = settings.name_of(&name)?;
        rows(vec![(column.as_str(), Arc::new(StringArray::from(vec![value])))])
    }

    /// `stmt` with the functions that read the session replaced by their values.
    fn substitute(&self, stmt: &ast::Statement) -> Result<ast::Statement> {
        let mut stmt = stmt.clone();
        let mut failure = None;
        let _ = ast::visit_expressions_mut(&mut stmt, |expr| {
            match self.session_value(expr) {
                Ok(Some(value)) => *expr = value,
                Ok(None) => {}
                Err(e) => {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(stmt),
        }
    }

    /// The value of `expr` if it is a call of a function that reads the session.
    fn session_value(&self, expr: &Expr) -> Result<Option<Expr>> {
        let Expr::Function(f) = expr else { return Ok(None) };
        let name = function_name(&f.name);
        let args = match &f.args {
            FunctionArguments::List(list) => list.args.iter().map(literal_arg).collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        let text = |s: String| Some(Expr::Value(Value::SingleQuotedString(s).into()));
        match (name.as_str(), args.as_slice()) {
            ("session_user" | "current_user" | "user" | "current_role", []) => Ok(text(self.user.clone())),
            ("current_setting", [Some(name)]) => Ok(text(self.setting(name)?)),
            ("current_setting", [Some(name), Some(missing_ok)]) => match self.setting(name) {
                Ok(value) => Ok(text(value)),
                Err(_) if missing_ok.eq_ignore_ascii_case("true") => Ok(Some(Expr::Value(Value::Null.into()))),
                Err(e) => Err(e),
            },
            ("set_config", [Some(name), Some(value), Some(_local)]) => {
                self.set(name, value)?;
                Ok(text(self.setting(name)?))
            }
            ("current_setting", [None] | [None, _]) => Ok(self.settings_by_name(f).map(Some)?),
            ("current_setting" | "set_config", _) => {
                Err(Error::Unsupported(format!("{name}() takes constant arguments in Sluice")))
            }
            _ => Ok(None),
        }
    }

    /// `current_setting(expr)` of a name that is not a constant (a parameter, as SQLAlchemy
    /// over psycopg sends it) as a CASE over every parameter's current value; an unknown
    /// name gives NULL.
    fn settings_by_name(&self, call: &ast::Function) -> Result<Expr> {
        let FunctionArguments::List(list) = &call.args else {
            return Err(Error::Internal("current_setting without arguments".into()));
        };
        let name = list.args.first().map(ToString::to_string).unwrap_or_default();
        let quote = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let cases: String = self
            .settings()?
            .all()
            .iter()
            .map(|(n, value, _)| format!(" WHEN {} THEN {}", quote(&n.to_lowercase()), quote(value)))
            .collect();
        let sql = format!("CASE lower(CAST({name} AS TEXT)){cases} END");
        let mut parser = Parser::new(&PostgreSqlDialect {}).try_with_sql(&sql)?;
        Ok(parser.parse_expr()?)
    }

    /// Shows timestamps with time zone in the session's TimeZone.
    fn localize(&self, output: Output) -> Result<Output> {
        let Output::Rows { schema, batches } = output else { return Ok(output) };
        let zone = self.setting("TimeZone")?;
        let retype = |t: &DataType| match t {
            DataType::Timestamp(unit, Some(tz)) if tz.as_ref() != zone => {
                Some(DataType::Timestamp(*unit, Some(zone.as_str().into())))
            }
            _ => None,
        };
        if !schema.fields().iter().any(|f| retype(f.data_type()).is_some()) {
            return Ok(Output::Rows { schema, batches });
        }
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| retype(f.data_type()).map_or_else(|| f.as_ref().clone(), |t| f.as_ref().clone().with_data_type(t)))
            .collect();
        let localized = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        let batches = batches
            .iter()
            .map(|b| {
                let columns = b
                    .columns()
                    .iter()
                    .zip(localized.fields())
                    .map(|(c, f)| Ok(arrow::compute::cast(c, f.data_type())?))
                    .collect::<Result<Vec<_>>>()?;
                Ok(RecordBatch::try_new(localized.clone(), columns)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Output::Rows { schema: localized, batches })
    }
}

/// The last part of a function's name, lowercased (`pg_catalog.current_setting`).
fn function_name(name: &ObjectName) -> String {
    name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_lowercase()).unwrap_or_default()
}

/// A function argument that is a constant (string, number, boolean), as text.
fn literal_arg(arg: &FunctionArg) -> Option<String> {
    let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else { return None };
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::Number(s, _) => Some(s.clone()),
            Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        Expr::Cast { expr, .. } => literal_arg(&FunctionArg::Unnamed(FunctionArgExpr::Expr(*expr.clone()))),
        _ => None,
    }
}

/// A parameter's name as the client wrote it (dotted for custom parameters).
fn object_name(name: &ObjectName) -> String {
    name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.clone()).collect::<Vec<_>>().join(".")
}

/// SET's values as the stored text: identifiers and strings as written, numbers as
/// digits, several values joined with ", " (`SET search_path TO a, b`).
fn setting_text(values: &[Expr]) -> Result<String> {
    let parts = values
        .iter()
        .map(|v| match v {
            Expr::Identifier(i) => Ok(i.value.clone()),
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) | Value::Number(s, _) => Ok(s.clone()),
                Value::Boolean(b) => Ok(if *b { "on" } else { "off" }.to_string()),
                other => Ok(other.to_string()),
            },
            Expr::UnaryOp { op: ast::UnaryOperator::Minus, expr } => {
                Ok(format!("-{}", setting_text(std::slice::from_ref(expr))?))
            }
            other => Err(Error::Unsupported(format!("SET to {other} is not supported")).with_hint("Use a constant.")),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(parts.join(", "))
}

/// A result set of text columns.
fn rows(columns: Vec<(&str, ArrayRef)>) -> Result<Output> {
    let fields: Vec<Field> = columns.iter().map(|(n, _)| Field::new(*n, DataType::Utf8, false)).collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, c)| c).collect())?;
    Ok(Output::Rows { schema, batches: vec![batch] })
}
