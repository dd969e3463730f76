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
use datafusion::physical_plan::streaming::PartitionStream;

use super::Engine;
use crate::connector::Options;
use crate::dataflow::Millis;
use crate::dataflow::install::{Destination, PipelineSpec, StreamDef};
use crate::dataflow::transient::{TRANSIENT, TransientPipeline};
use crate::error::Result;
use crate::sql::plan::{ViewPlan, plan_transient};
use crate::sql::transient::{Part, cut, positional_schema};

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
            let env = self.inner.pipelines.clone();
            let pipeline = Arc::new(TransientPipeline::new("select", schema, plan.keyed, env));
            planned.push(Planned { part, plan, limited, pipeline: pipeline.clone() });
            Ok(pipeline as Arc<dyn PartitionStream>)
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
        let first = self.transient_spec(&defs, plan, endless)?;
        let (engine, state) = (self.clone(), state.clone());
        pipeline.install(
            first,
            Box::new(move || {
                let plan = plan_transient(&state, part.clone(), emit.on_close, emit.grace)?;
                engine.transient_spec(&defs, plan, endless)
            }),
        )
    }

    /// The pipeline of one run: `defs` read to the end of what they hold now (a generator
    /// only when not `endless`), through the operators of `plan`, to the query.
    fn transient_spec(&self, defs: &[StreamDef], plan: ViewPlan, endless: bool) -> Result<PipelineSpec> {
        let what = "a query".to_string();
        let (grace, flow) = (plan.grace, plan.into_flow()?);
        let spec = self.pipeline_spec(TRANSIENT, "select", what, defs.to_vec(), flow, Destination::Query);
        let inputs = spec.inputs.into_iter().map(|(def, _)| {
            let bounded = !(endless && is_generator(&def.options));
            (def, bounded)
        });
        // Unless the input has truly ended (`sluice run`), the query sees the windows a view
        // over the same input sees now: open ones stay open.
        let end_closes_windows = self.inner.config.bounded;
        Ok(PipelineSpec { inputs: inputs.collect(), grace, end_closes_windows, ..spec })
    }
}

/// Whether a stream with `options` generates its rows (and never ends unless told to).
fn is_generator(options: &Options) -> bool {
    matches!(options.get("connector").map(String::as_str), Some("nexmark" | "datagen"))
}
