//! Postgres's semantics installed into a DataFusion session: the type planner of
//! `super::types` and the analyzer rules of `super::numbers`, `super::aggregates`,
//! `super::literals` and `super::operators`.
//!
//! Called by the engine once, when it builds its session context.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;

use super::types::PgTypePlanner;

/// Installs `sql::types`' [`PgTypePlanner`] in `ctx`, in front of the type planner it has, and the
/// analyzer rules of Postgres's semantics: `sql::numbers` and `sql::aggregates` before
/// DataFusion's own (their rewrites are then type-coerced like the user's SQL),
/// `sql::literals` and `sql::operators` after them (they need coerced types).
pub fn register(ctx: &SessionContext) -> Result<()> {
    let state = ctx.state_ref();
    let existing = state.read().clone();
    let analyzer = existing.analyzer().clone();
    let mut rules: Vec<Arc<dyn AnalyzerRule + Send + Sync>> =
        vec![Arc::new(super::numbers::IntegerLiterals), Arc::new(super::aggregates::PostgresAggregates)];
    rules.extend(analyzer.rules);
    rules.push(Arc::new(super::literals::PostgresLiterals));
    rules.push(Arc::new(super::operators::PostgresOperators));
    let mut builder = SessionStateBuilder::new_from_existing(existing).with_analyzer_rules(rules);
    let inner = builder.type_planner().take();
    let mut built = builder.with_type_planner(Arc::new(PgTypePlanner { inner })).build();
    // A new list of rules drops the function rewrites that run before them: put them back.
    for rewrite in analyzer.function_rewrites {
        built.register_function_rewrite(rewrite)?;
    }
    *state.write() = built;
    Ok(())
}
