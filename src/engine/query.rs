//! Ad-hoc statements: SELECT over views, system tables and the Postgres catalogs, executed
//! by DataFusion. Statements that write or define plain tables are refused here.
//!
//! Called by the engine for every statement that is not Sluice DDL. In bounded mode
//! (`sluice run`) a query first waits until every pipeline has consumed its input, so a
//! script sees complete results. A session's queries are planned in its TimeZone
//! ([`in_time_zone`]).

use std::ops::ControlFlow;

use datafusion::common::ParamValues;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::scalar::ScalarValue;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast;

use super::transient::Emit;
use super::{Description, Engine, Output};
use crate::error::{Error, Result};
use crate::pg::functions::RELATION_FUNCTIONS;
use crate::sql::Select;
use crate::sql::plan::plan_grace;

tokio::task_local! {
    /// The TimeZone of the session whose query runs in this task.
    static TIME_ZONE: String;
}

/// Runs `work` with `zone` as the time zone its queries are planned in: a `timestamptz`
/// written without an offset is a time in that zone, as in Postgres (`Session` sets it).
pub(super) async fn in_time_zone<F: Future>(zone: String, work: F) -> F::Output {
    TIME_ZONE.scope(zone, work).await
}

/// The most parameters one statement can have: Bind's count is 16 bits.
const MAX_PARAMETERS: usize = u16::MAX as usize;

impl Engine {
    pub(super) async fn query(&self, stmt: &ast::Statement, params: Vec<ScalarValue>) -> Result<Output> {
        self.query_emitting(stmt, params, None).await
    }

    /// `SELECT ... EMIT ON WINDOW CLOSE | GRACE PERIOD ...`.
    pub(super) async fn select(&self, select: &Select, params: Vec<ScalarValue>) -> Result<Output> {
        self.query_emitting(&select.query, params, Some(select)).await
    }

    /// A query whose streaming parts emit as `clauses` say (as a view without them when
    /// `None`).
    async fn query_emitting(
        &self,
        stmt: &ast::Statement,
        params: Vec<ScalarValue>,
        clauses: Option<&Select>,
    ) -> Result<Output> {
        refused(stmt)?;
        if self.inner.config.bounded {
            self.flush().await?;
        }
        if uses_relations(stmt) {
            self.read_pg_class().await?;
        }
        let state = self.session_state();
        let mut plan = Self::plan_in(&state, stmt).await?;
        if !params.is_empty() {
            plan = plan.with_param_values(ParamValues::List(params.into_iter().map(Into::into).collect()))?;
        }
        let emit = match clauses {
            None => Emit::default(),
            Some(s) => Emit { on_close: s.emit_on_close, grace: plan_grace(&state, s.grace.as_ref()).await? },
        };
        let plan = self.with_pipelines(&state, plan, emit).await?;
        let frame = self.inner.ctx.execute_logical_plan(plan).await?;
        // The columns as executed: Sluice's analyzer rules change some types (`avg` of
        // integers is a numeric), which the unanalyzed plan does not know yet.
        let physical = frame.create_physical_plan().await?;
        let schema = physical.schema();
        let task = super::memory::task_context(&self.inner.ctx, self.inner.config.statement_mem);
        let batches = datafusion::physical_plan::collect(physical, task).await?;
        Ok(Output::Rows { schema, batches })
    }

    pub(super) async fn describe_query(&self, stmt: &ast::Statement) -> Result<Description> {
        refused(stmt)?;
        let plan = self.plan(stmt).await?;
        let types = plan.get_parameter_types()?;
        // A parameter DataFusion leaves untyped has the type it is cast to, as in Postgres.
        let casts = crate::sql::types::parameter_casts(&plan)?;
        let mut params: Vec<(usize, Option<arrow::datatypes::DataType>)> = types
            .into_iter()
            .filter_map(|(name, t)| {
                let t = t.or_else(|| casts.get(&name).cloned());
                name.trim_start_matches('$').parse::<usize>().ok().map(|i| (i, t))
            })
            .collect();
        params.sort_by_key(|(i, _)| *i);
        let count = params.last().map(|(i, _)| *i).unwrap_or(0);
        // Bind carries at most 65,535 values: a higher `$n` can never be given one (and
        // must not size an allocation).
        if count > MAX_PARAMETERS || params.first().is_some_and(|(i, _)| *i == 0) {
            return Err(Error::UndefinedParameter(if count > MAX_PARAMETERS { count } else { 0 }));
        }
        let mut ordered = vec![None; count];
        for (i, t) in params {
            ordered[i - 1] = t;
        }
        let schema = match plan {
            LogicalPlan::Statement(_) | LogicalPlan::Ddl(_) => None,
            p => Some(std::sync::Arc::new(self.analyzed(p).schema().as_arrow().clone())),
        };
        Ok(Description { params: ordered, schema })
    }

    /// Reads `pg_class`, which records the relations' object ids and names for the
    /// functions that look them up ([`RELATION_FUNCTIONS`]).
    async fn read_pg_class(&self) -> Result<()> {
        self.inner.ctx.sql("SELECT oid FROM pg_catalog.pg_class LIMIT 1").await?.collect().await?;
        Ok(())
    }

    /// `plan` as it will run, after the analyzer's rules (which change some column types);
    /// as it is when they cannot run yet (an untyped parameter).
    fn analyzed(&self, plan: LogicalPlan) -> LogicalPlan {
        let state = self.inner.ctx.state();
        match state.analyzer().execute_and_check(plan.clone(), state.config_options(), |_, _| {}) {
            Ok(analyzed) => analyzed,
            Err(_) => plan,
        }
    }

    async fn plan(&self, stmt: &ast::Statement) -> Result<LogicalPlan> {
        Self::plan_in(&self.session_state(), stmt).await
    }

    async fn plan_in(state: &SessionState, stmt: &ast::Statement) -> Result<LogicalPlan> {
        Ok(state.statement_to_plan(DFStatement::Statement(Box::new(stmt.clone()))).await?)
    }

    /// The state queries are planned in: the session's time zone set.
    fn session_state(&self) -> SessionState {
        let mut state = self.inner.ctx.state();
        if let Ok(zone) = TIME_ZONE.try_with(Clone::clone) {
            state.config_mut().options_mut().execution.time_zone = Some(zone);
        }
        state
    }
}

/// Whether `stmt` calls a function that answers from the relations the last read of
/// `pg_class` recorded.
fn uses_relations(stmt: &ast::Statement) -> bool {
    let found = ast::visit_expressions(stmt, |expr| match expr {
        ast::Expr::Function(f)
            if f.name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| RELATION_FUNCTIONS.contains(&i.value.to_ascii_lowercase().as_str())) =>
        {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    found.is_break()
}

/// Statements refused before planning (session statements are the session's).
fn refused(stmt: &ast::Statement) -> Result<()> {
    use ast::Statement as S;
    match stmt {
        S::Query(q) if matches!(q.body.as_ref(), ast::SetExpr::Select(s) if s.into.is_some()) => {
            Err(Error::Unsupported("SELECT INTO is not supported: Sluice has no temporary or plain tables".into()))
        }
        S::Query(_) | S::Explain { .. } | S::ShowTables { .. } | S::ShowColumns { .. } => Ok(()),
        S::CreateTable(_) => {
            Err(Error::Unsupported("CREATE TABLE is not supported".into()).with_hint("Use CREATE STREAM."))
        }
        S::CreateView(_) => {
            Err(Error::Unsupported("CREATE VIEW is not supported".into()).with_hint("Use CREATE MATERIALIZED VIEW."))
        }
        S::Insert(_) | S::Update(_) | S::Delete(_) | S::Truncate(_) | S::Merge(_) => {
            Err(Error::Unsupported("streams and views are read-only: rows come from sources".into()))
        }
        other => {
            let text = other.to_string();
            let word = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            Err(Error::Unsupported(format!("{word} is not supported")))
        }
    }
}
