//! The streaming parts of an ad-hoc query, built as transient pipelines.
//!
//! Called by [`Engine::query`] for every SELECT before DataFusion executes it:
//! `crate::sql::transient` cuts out each part that reads streams, `crate::sql::plan` plans
//! it as it would plan a view with that query, and here each part gets its source stage
//! (every input read to the end of what it holds now, so the query ends) and its operators,
//! in a `crate::dataflow::transient::TransientPipeline` that runs when DataFusion reads it.

use std::sync::Arc;

use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;

use super::Engine;
use crate::connector::Options;
use crate::dataflow::Millis;
use crate::dataflow::flow::Flow;
use crate::dataflow::source::SourceTask;
use crate::dataflow::stats::PipelineStats;
use crate::dataflow::transient::{TRANSIENT, TransientPipeline};
use crate::error::Result;
use crate::sql::plan::{StreamDef, ViewPlan, plan_transient};
use crate::sql::transient::{Part, TransientTable, cut, positional_schema};

/// How a SELECT's streaming parts emit: `EMIT ON WINDOW CLOSE` (ksqlDB's `EMIT FINAL`) and
/// the grace period in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Emit {
    pub on_close: bool,
    pub grace: Millis,
}

/// A cut-out part, planned, and the pipeline that will run it.
struct Planned {
    /// The part as DataFusion planned it, which every run plans again.
    part: LogicalPlan,
    plan: ViewPlan,
    /// Only the first rows are read: generators need no end.
    limited: bool,
    pipeline: Arc<TransientPipeline>,
}

impl Engine {
    /// `plan` (planned in `state`) with every part that reads streams replaced by a
    /// transient pipeline, ready for DataFusion to execute.
    pub(super) async fn with_pipelines(
        &self,
        state: &SessionState,
        plan: LogicalPlan,
        emit: Emit,
    ) -> Result<LogicalPlan> {
        let mut planned = Vec::new();
        let plan = cut(plan, !emit.on_close, &mut |Part { plan: part, limited }| {
            let plan = plan_transient(state, part.clone(), emit.on_close, emit.grace)?;
            let schema = positional_schema(&plan.schema);
            let (store, budget) = (self.inner.store.clone(), self.inner.state_budget.clone());
            let pipeline = Arc::new(TransientPipeline::new("select", schema, plan.keyed, store, budget));
            planned.push(Planned { part, plan, limited, pipeline: pipeline.clone() });
            Ok(TransientTable::new(pipeline))
        })?;
        for part in planned {
            self.install(state, part, emit).await?;
        }
        Ok(plan)
    }

    /// Gives the pipeline of `part` its first run's source stage and operators, built from
    /// the plan at hand, and what builds them again for a later run.
    async fn install(&self, state: &SessionState, part: Planned, emit: Emit) -> Result<()> {
        let Planned { part, plan, limited, pipeline } = part;
        let defs = self.stream_defs(&plan.streams)?;
        plan.check_ad_hoc(&defs, emit.on_close)?;
        self.load_tables(&plan.tables).await?;
        // Files and topics are read to their current end; a generator has none, but when
        // only the first rows of an append-only result are read it need not end.
        let endless = limited && !plan.keyed;
        let first = self.transient_parts(&defs, plan, endless)?;
        let (engine, state) = (self.clone(), state.clone());
        pipeline.install(
            first,
            Box::new(move || {
                let plan = plan_transient(&state, part.clone(), emit.on_close, emit.grace)?;
                engine.transient_parts(&defs, plan, endless)
            }),
        )
    }

    /// The source stage reading `defs` and the operators of `plan`, for one run.
    fn transient_parts(&self, defs: &[StreamDef], plan: ViewPlan, endless: bool) -> Result<(SourceTask, Flow)> {
        let bounded = |def: &StreamDef| !(endless && is_generator(&def.options));
        let stats = Arc::new(PipelineStats::default());
        let mut source = self.source_task(defs, TRANSIENT, &stats, plan.grace, bounded)?;
        // Unless the input has truly ended (`sluice run`), the query sees the windows a view
        // over the same input sees now: open ones stay open.
        source.end_closes_windows = self.inner.config.bounded;
        Ok((source, plan.into_flow()?))
    }
}

/// Whether a stream with `options` generates its rows (and never ends unless told to).
fn is_generator(options: &Options) -> bool {
    matches!(options.get("connector").map(String::as_str), Some("nexmark" | "datagen"))
}
