//! Starting the pipeline of a catalog object: a view's, a table's or a sink's.
//!
//! The CREATE handlers (`ddl`, `changelog`, `sinks`) describe their pipeline as a
//! [`PipelineSpec`] (made by [`Engine::pipeline_spec`]) and start it here, in one way: a
//! new object is persisted in the catalog before its pipeline starts and forgotten again
//! if it cannot start, so a failed CREATE leaves nothing behind; an object replayed at
//! start-up whose pipeline cannot start is kept with a failed stand-in
//! ([`super::restore::failed_pipeline`]), so SHOW says why and DROP removes it. The
//! streaming parts of queries are built from the same description (`transient`).

use std::sync::Arc;

use tracing::warn;

use super::Engine;
use crate::catalog;
use crate::dataflow::flow::Flow;
use crate::dataflow::install::{Destination, PipelineSpec, StreamDef};
use crate::dataflow::pipeline::Pipeline;
use crate::error::{Error, Result};
use crate::sql::plan::ViewPlan;

/// Where a CREATE comes from, which decides what is checked and where its id comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A client's statement on a single node: checked against the catalog and the outside
    /// world (files, Kafka topics), given a new id and persisted; if anything fails,
    /// nothing is left behind.
    Client,
    /// The checks of `Client` and nothing else: a cluster node checks a statement before it
    /// appends it to the cluster's catalog log.
    Check,
    /// A command of the cluster's catalog log, applied under the id its offset gives:
    /// checked against the catalog, which is the same on every node at that point of the
    /// log, but not against the outside world (the node that appended it did that);
    /// persisted here if new; an object that cannot start is kept as failed, as at start-up.
    Log(u64),
    /// Replayed from this node's catalog at start-up, under its stored id.
    Restore(u64),
}

impl Origin {
    /// The name must be free (or IF NOT EXISTS makes the statement do nothing).
    pub fn checks_names(self) -> bool {
        !matches!(self, Origin::Restore(_))
    }

    /// Files and brokers the object refers to are checked.
    pub fn checks_outside(self) -> bool {
        matches!(self, Origin::Client | Origin::Check)
    }

    /// The CREATE statement to persist when the pipeline starts (see [`Engine::launch`]).
    pub fn persist(self, sql: &str) -> Option<&str> {
        (self == Origin::Client).then_some(sql)
    }
}

impl Engine {
    /// The id of an object being created from `origin`, with its entry `sql` persisted
    /// when it comes from the cluster's log; None for a check, which creates nothing. A
    /// client's new object is persisted by its caller (or [`Engine::launch`]).
    pub(super) fn object_id(&self, origin: Origin, sql: &str) -> Result<Option<u64>> {
        match origin {
            Origin::Client => self.inner.store.next_id().map(Some),
            Origin::Check => Ok(None),
            Origin::Restore(id) => Ok(Some(id)),
            Origin::Log(id) => {
                if self.inner.store.get(&crate::state::catalog_key(id))?.is_none() {
                    catalog::persist(&self.inner.store, id, sql)?;
                }
                Ok(Some(id))
            }
        }
    }

    /// The pipeline of object `id`, called `what` in errors and `name` in logs, reading
    /// `defs` (to the end of their data in `sluice run`) through `flow` into `destination`.
    pub(super) fn pipeline_spec(
        &self,
        id: u64,
        name: &str,
        what: String,
        defs: Vec<StreamDef>,
        flow: Flow,
        destination: Destination,
    ) -> PipelineSpec {
        let bounded = self.inner.config.bounded;
        PipelineSpec {
            id,
            name: name.to_string(),
            what,
            inputs: defs.into_iter().map(|def| (def, bounded)).collect(),
            grace: 0,
            end_closes_windows: true,
            flow,
            sharding: None,
            destination,
            stats: Arc::default(),
            slice: crate::connector::Slice::WHOLE,
        }
    }

    /// Starts pipeline `spec` as [`Engine::launch`] does; in a cluster, persists `create`
    /// (if given) and leaves the pipeline standing by until the cluster gives this node
    /// the object (`engine/cluster.rs`).
    pub(super) fn launch_here(&self, spec: PipelineSpec, create: Option<&str>) -> Result<Arc<Pipeline>> {
        if self.inner.cluster.is_none() {
            return self.launch(spec, create);
        }
        if let Some(sql) = create {
            catalog::persist(&self.inner.store, spec.id, sql)?;
        }
        Ok(Arc::new(Pipeline::standby(&spec.name, spec.stats.clone())))
    }

    /// Starts pipeline `spec`; `create` is the object's CREATE statement when the object is
    /// new, which is persisted first (and forgotten if the pipeline cannot start), and None
    /// when it is replayed from the catalog (a pipeline that cannot start is then a failed
    /// stand-in).
    pub(super) fn launch(&self, spec: PipelineSpec, create: Option<&str>) -> Result<Arc<Pipeline>> {
        let (id, name, what, stats) = (spec.id, spec.name.clone(), spec.what.clone(), spec.stats.clone());
        if let Some(sql) = create {
            catalog::persist(&self.inner.store, id, sql)?;
        }
        match Pipeline::start(spec, &self.inner.pipelines) {
            Ok(pipeline) => Ok(Arc::new(pipeline)),
            Err(e) if create.is_none() => Ok(super::restore::failed_pipeline(&what, &name, id, &stats, &e)),
            Err(e) => {
                if let Err(forgotten) = catalog::forget(&self.inner.store, id) {
                    warn!(object = %what, id, error = %forgotten, "catalog entry of a failed CREATE not removed");
                }
                Err(e)
            }
        }
    }
}

/// One shard of a view or sink run as several in a cluster: the part of its stream it
/// reads, and for one in two stages, its repartition topic (read as the pipeline's last
/// input).
pub(super) struct Shard {
    /// The stream's partitions it reads, and its number.
    pub slice: crate::connector::Slice,
    /// The repartition topic, as a stream of the `repartition` connector.
    pub repartition: Option<StreamDef>,
}

impl Engine {
    /// The pipeline of `shard` of view or sink `id` (`name`, called `what` in errors),
    /// planned as `plan`, reading `defs` into `destination`: see [`Shard::flow`].
    pub(super) fn shard_spec(
        &self,
        (id, name, what): (u64, &str, String),
        (plan, defs): (ViewPlan, Vec<StreamDef>),
        shard: Shard,
        destination: Destination,
    ) -> Result<PipelineSpec> {
        let (grace, slice) = (plan.grace, shard.slice);
        let (flow, lanes) = shard.flow(plan, &what)?;
        let mut spec = PipelineSpec { grace, slice, ..self.pipeline_spec(id, name, what, defs, flow, destination) };
        spec.inputs.extend(lanes.into_iter().map(|def| (def, false)));
        Ok(spec)
    }
}

impl Shard {
    /// The operators of this shard of `plan` (of `what`), and the extra inputs it reads:
    /// the whole plan for one that keeps no state between rows; for one in stages, the
    /// plan cut into stages, reading each lane of its partition of the repartition topic.
    fn flow(self, plan: ViewPlan, what: &str) -> Result<(Flow, Vec<StreamDef>)> {
        let Shard { slice, repartition } = self;
        match repartition {
            Some(def) if plan.staged() => {
                let lanes = (0..plan.stage_lanes()).map(|lane| {
                    let mut def = def.clone();
                    def.options.insert("lane".into(), lane.to_string());
                    def
                });
                let lanes = lanes.collect();
                Ok((plan.into_stages(slice.index, usize::from(slice.count))?, lanes))
            }
            _ if plan.partition_parallel() => Ok((plan.into_flow()?, Vec::new())),
            _ => Err(Error::Internal(format!("{what} cannot run as shards"))),
        }
    }
}
