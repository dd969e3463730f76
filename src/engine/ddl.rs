//! CREATE, DROP and EXPLAIN of streams and materialized views; DROP of everything.
//!
//! Called by the engine with its DDL lock held (and at startup, replaying the catalog with
//! the stored ids). Everything that can fail is checked before the catalog entry is
//! persisted, so a failed CREATE leaves nothing behind.

use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use tracing::{info, warn};

use super::tables::ViewTable;
use super::{Engine, Output};
use crate::catalog::{self, ObjectKind, StreamEntry};
use crate::connector;
use crate::dataflow::identity;
use crate::dataflow::install::{Destination, PipelineSpec, StreamDef};
use crate::dataflow::materialize::CheckpointLog;
use crate::dataflow::pipeline::Pipeline;
use crate::dataflow::published::Published;
use crate::dataflow::stats::PipelineStats;
use crate::error::{Error, Result};
use crate::sql::plan::{ViewPlan, plan_stream, plan_view};
use crate::sql::relations::{StreamInfo, StreamTable, ViewRelation};
use crate::sql::{CreateStream, CreateView, DropObject};
use crate::state::{Layout, state_prefix, view_prefix};

use super::launch::{Origin, Shard};
use super::restore::ViewShape;

impl Engine {
    /// CREATE STREAM, from `origin`.
    pub(super) async fn create_stream(&self, stmt: &CreateStream, origin: Origin) -> Result<Output> {
        let done = Output::command("CREATE STREAM");
        if origin.checks_names() && self.exists(&stmt.name, stmt.if_not_exists)? {
            return Ok(done);
        }
        let def = plan_stream(&self.inner.ctx.state(), stmt).await?;
        connector::validate(&def.options, &def.schema)?;
        if origin.checks_outside() {
            self.check_new_file_source(&def.options)?;
            self.check_external(&def).await?;
        }
        let create = stmt.to_string();
        let Some(id) = self.object_id(origin, &create)? else { return Ok(done) };
        if let Some(sql) = origin.persist(&create) {
            catalog::persist(&self.inner.store, id, sql)?;
        }
        let time_column = def.watermark.as_ref().map(|w| w.column);
        let info = StreamInfo { schema: def.schema.clone(), time_column };
        let relation = Arc::new(StreamTable::new(&stmt.name, info));
        self.write_catalog()?.streams.insert(stmt.name.clone(), StreamEntry { id, def, relation });
        info!(stream = %stmt.name, id, "stream created");
        Ok(done)
    }

    /// CREATE MATERIALIZED VIEW, from `origin`. A view replayed (from this node's catalog
    /// or the cluster's log) that cannot be planned or started is still registered, as
    /// failed (see `restore`).
    pub(super) async fn create_view(&self, stmt: &CreateView, origin: Origin) -> Result<Output> {
        let done = Output::command("CREATE MATERIALIZED VIEW");
        if origin.checks_names() && self.exists(&stmt.name, stmt.if_not_exists)? {
            return Ok(done);
        }
        let planned = self.plan_checked(stmt).await;
        let create = stmt.to_string();
        if origin.checks_outside() {
            let (plan, defs) = planned?;
            let Some(id) = self.object_id(origin, &create)? else { return Ok(done) };
            self.load_tables(&plan.tables).await?;
            self.start_view(stmt, id, origin, plan, defs)?;
            return Ok(done);
        }
        let Some(id) = self.object_id(origin, &create)? else { return Ok(done) };
        let shards = match &planned {
            Ok((plan, defs)) if self.inner.cluster.is_some() => self.view_shards(plan, defs).await,
            _ => (1, false),
        };
        let started = match planned {
            Ok((plan, defs)) => {
                let shape = ViewShape::of(stmt, &plan);
                self.start_view(stmt, id, origin, plan, defs).map_err(|e| (e, Some(shape)))
            }
            Err(e) => Err((e, None)),
        };
        match started {
            Err((error, shape)) => self.register_failed_view(stmt, id, &error, shape)?,
            Ok(()) if self.inner.cluster.is_some() => self.host(id, shards.0, shards.1).await,
            Ok(()) => {}
        }
        Ok(done)
    }

    /// How many shards a new view (or sink) planned as `plan` runs as in a cluster, and
    /// whether in two stages: one shard per partition of the Kafka stream it reads, if it
    /// keeps no state between rows (see `ViewPlan::partition_parallel`) or can be cut into
    /// stages (`ViewPlan::staged`; the two streams of a join must have as many partitions
    /// as each other); otherwise one.
    pub(super) async fn view_shards(&self, plan: &ViewPlan, defs: &[StreamDef]) -> (usize, bool) {
        let staged = plan.staged();
        if !plan.partition_parallel() && !staged {
            return (1, false);
        }
        let mut counts = Vec::new();
        for def in defs {
            let options = def.options.clone();
            let counted = tokio::task::spawn_blocking(move || connector::partition_count(&options))
                .await
                .map_err(|e| Error::Internal(format!("partition count failed: {e}")))
                .and_then(|count| count);
            match counted {
                Ok(count) => counts.push(count.clamp(1, usize::from(u16::MAX))),
                Err(e) => {
                    warn!(stream = %def.name, error = %e, "cannot count the partitions of a stream; its views run whole");
                    return (1, false);
                }
            }
        }
        match counts.as_slice() {
            [count] => (*count, staged && *count > 1),
            [left, right] if left == right => (*left, staged && *left > 1),
            _ => {
                let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
                info!(streams = ?names, ?counts, "the streams of a join differ in partitions; the view runs whole");
                (1, false)
            }
        }
    }

    /// The plan of a view and the definitions of the streams it reads, checked.
    pub(super) async fn plan_checked(&self, stmt: &CreateView) -> Result<(ViewPlan, Vec<StreamDef>)> {
        let plan = plan_view(&self.inner.ctx.state(), stmt).await?;
        let defs = self.stream_defs(&plan.streams)?;
        plan.check_against(&defs)?;
        Ok((plan, defs))
    }

    /// Registers view `id` and starts its pipeline (persisting it first for a client). In a
    /// cluster the pipeline stands by until the cluster gives this node the view.
    fn start_view(
        &self,
        stmt: &CreateView,
        id: u64,
        origin: Origin,
        plan: ViewPlan,
        defs: Vec<StreamDef>,
    ) -> Result<()> {
        let shape = ViewShape::of(stmt, &plan);
        let published = Arc::new(Published::default());
        let spec = self.view_spec(stmt, id, (plan, defs), &published, None, None)?;
        let stats = spec.stats.clone();
        let create = stmt.to_string();
        let pipeline = self.launch_here(spec, origin.persist(&create))?;
        let relation = self.view_rows(&stmt.name, id, &shape, &stats, &published);
        let entry = shape.into_entry(stmt, id, stats, pipeline, relation, published);
        self.write_catalog()?.views.insert(stmt.name.clone(), entry);
        info!(view = %stmt.name, id, "materialized view created");
        Ok(())
    }

    /// The pipeline of view `id` planned as `plan`, its rows committed under `published`
    /// (through `log` in a cluster); in a cluster, of one `shard` of it.
    pub(super) fn view_spec(
        &self,
        stmt: &CreateView,
        id: u64,
        (plan, defs): (ViewPlan, Vec<StreamDef>),
        published: &Arc<Published>,
        log: Option<Box<dyn CheckpointLog>>,
        shard: Option<Shard>,
    ) -> Result<PipelineSpec> {
        let layout = if plan.keyed { Layout::Keyed } else { Layout::Append };
        let output = Destination::Store { schema: plan.schema.clone(), layout, published: published.clone(), log };
        let what = format!("materialized view \"{}\"", stmt.name);
        if let Some(shard) = shard.filter(|s| s.slice.count > 1) {
            return self.shard_spec((id, &stmt.name, what), (plan, defs), shard, output);
        }
        // A view keeps the shards it was created with: its state is stored by shard.
        let shards = identity::stored_shards(&self.inner.store, id)?.unwrap_or(self.inner.config.parallelism);
        let grace = plan.grace;
        let (flow, sharding) = plan.into_flows(shards)?;
        Ok(PipelineSpec { grace, sharding, ..self.pipeline_spec(id, &stmt.name, what, defs, flow, output) })
    }

    /// What queries of view `name` (`id`) read: its stored rows, committed under `published`.
    pub(super) fn view_rows(
        &self,
        name: &str,
        id: u64,
        shape: &ViewShape,
        stats: &Arc<PipelineStats>,
        published: &Arc<Published>,
    ) -> Arc<dyn TableProvider> {
        let what = format!("materialized view \"{name}\"");
        let (store, schema) = (self.inner.store.clone(), shape.schema.clone());
        let rows = Arc::new(ViewTable::new(store, id, what, schema, stats.clone(), published.clone()));
        Arc::new(ViewRelation::new(name, shape.query.clone(), shape.emit_on_close, shape.grace, rows))
    }

    /// Checks what a new stream or table refers to outside Sluice (the Kafka topic exists).
    pub(super) async fn check_external(&self, def: &StreamDef) -> Result<()> {
        let (options, schema) = (def.options.clone(), def.schema.clone());
        tokio::task::spawn_blocking(move || connector::check_external(&options, &schema))
            .await
            .map_err(|e| Error::Internal(format!("connector check failed: {e}")))?
    }

    /// EXPLAIN CREATE MATERIALIZED VIEW: the dataflow plan, one line per row.
    pub(super) async fn explain_view(&self, stmt: &CreateView) -> Result<Output> {
        let plan = plan_view(&self.inner.ctx.state(), stmt).await?;
        let defs = self.stream_defs(&plan.streams)?;
        let text = match self.inner.cluster.is_some() {
            true => plan.explain(&stmt.name, &defs, self.view_shards(&plan, &defs).await.0, true),
            false => plan.explain(&stmt.name, &defs, self.inner.config.parallelism, false),
        };
        let schema = Arc::new(Schema::new(vec![Field::new("QUERY PLAN", DataType::Utf8, false)]));
        let lines = StringArray::from(text.lines().collect::<Vec<_>>());
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(lines)])?;
        Ok(Output::Rows { schema, batches: vec![batch] })
    }

    /// DROP STREAM | MATERIALIZED VIEW.
    pub(super) async fn drop_object(&self, stmt: &DropObject) -> Result<Output> {
        let tag = match stmt.kind {
            ObjectKind::Stream if self.is_stream_sink(&stmt.name)? => {
                let _ = self.drop_sink(&stmt.name, stmt.if_exists).await?;
                return Ok(Output::command("DROP STREAM"));
            }
            ObjectKind::Stream => "DROP STREAM",
            ObjectKind::Table => "DROP TABLE",
            ObjectKind::View => "DROP MATERIALIZED VIEW",
            ObjectKind::Sink => return self.drop_sink(&stmt.name, stmt.if_exists).await,
        };
        let kind = self.read_catalog()?.kind_of(&stmt.name);
        match kind {
            None if stmt.if_exists => return Ok(Output::command(tag)),
            None => return Err(Error::UnknownRelation { kind: stmt.kind.noun(), name: stmt.name.clone() }),
            Some(k) if k != stmt.kind => {
                return Err(Error::WrongObjectType(format!("\"{}\" is not a {}", stmt.name, stmt.kind.noun())));
            }
            Some(_) => {}
        }
        self.drop_sinks_of(&stmt.name, stmt.cascade).await?;
        match stmt.kind {
            ObjectKind::View => {
                self.drop_dependent_views(ObjectKind::View, &stmt.name, stmt.cascade).await?;
                self.drop_view(&stmt.name).await?
            }
            ObjectKind::Stream => self.drop_stream(&stmt.name, stmt.cascade).await?,
            ObjectKind::Table => self.drop_table(&stmt.name, stmt.cascade).await?,
            ObjectKind::Sink => {}
        }
        Ok(Output::command(tag))
    }

    async fn drop_stream(&self, name: &str, cascade: bool) -> Result<()> {
        self.drop_dependent_views(ObjectKind::Stream, name, cascade).await?;
        let entry = self.write_catalog()?.streams.remove(name);
        if let Some(entry) = entry {
            catalog::forget(&self.inner.store, entry.id)?;
        }
        info!(stream = %name, "stream dropped");
        Ok(())
    }

    pub(super) async fn drop_view(&self, name: &str) -> Result<()> {
        let Some(id) = self.read_catalog()?.views.get(name).map(|v| v.id) else { return Ok(()) };
        // First the stored entry: if the disk refuses, the view stays as it was.
        catalog::forget(&self.inner.store, id)?;
        if self.inner.cluster.is_some() {
            self.unhost(id)?;
        }
        let entry = self.write_catalog()?.views.remove(name);
        let Some(entry) = entry else { return Ok(()) };
        self.discard(entry.id, &entry.pipeline).await?;
        if self.inner.cluster.is_some() {
            self.delete_changelog(id).await;
        }
        info!(view = %name, "materialized view dropped");
        Ok(())
    }

    /// Refuses (2BP01) to drop stream, table or view `name` while views read it, unless
    /// `cascade`, which drops them (and their sinks, and the views reading them).
    pub(super) async fn drop_dependent_views(&self, kind: ObjectKind, name: &str, cascade: bool) -> Result<()> {
        let dependents = self.read_catalog()?.dependents(name);
        if let (Some(first), false) = (dependents.first(), cascade) {
            let what = format!("{} \"{name}\"", kind.noun());
            let detail: Vec<String> =
                dependents.iter().map(|v| format!("materialized view \"{v}\" depends on {what}")).collect();
            return Err(Error::DependentObjects {
                message: format!("cannot drop {what} because materialized view \"{first}\" depends on it"),
                detail: detail.join("\n"),
            });
        }
        for view in dependents {
            Box::pin(self.drop_dependent_views(ObjectKind::View, &view, true)).await?;
            self.drop_sinks_of(&view, true).await?;
            self.drop_view(&view).await?;
        }
        Ok(())
    }

    /// Removes a table's or view's pipeline, catalog entry, rows and state (its entry is
    /// out of the catalog already, so queries no longer find it).
    pub(super) async fn discard(&self, id: u64, pipeline: &Pipeline) -> Result<()> {
        pipeline.stop().await;
        catalog::forget(&self.inner.store, id)?;
        self.inner.store.remove_prefix(&view_prefix(id))?;
        self.inner.store.remove_prefix(&state_prefix(id))?;
        Ok(())
    }

    /// True when `name` is not a stream but a sink made by `CREATE STREAM name WITH (...)
    /// AS SELECT`, which DROP STREAM drops.
    fn is_stream_sink(&self, name: &str) -> Result<bool> {
        let catalog = self.read_catalog()?;
        Ok(catalog.kind_of(name).is_none() && catalog.sinks.get(name).is_some_and(|s| s.query_defined))
    }

    /// True when `name` exists and IF NOT EXISTS was given; an error when it exists without.
    pub(super) fn exists(&self, name: &str, if_not_exists: bool) -> Result<bool> {
        match self.read_catalog()?.check_free(name) {
            Ok(()) => Ok(false),
            Err(_) if if_not_exists => Ok(true),
            Err(e) => Err(e),
        }
    }

    pub(super) fn stream_def(&self, name: &str) -> Result<StreamDef> {
        self.read_catalog()?
            .streams
            .get(name)
            .map(|s| s.def.clone())
            .ok_or_else(|| Error::UnknownRelation { kind: "stream", name: name.to_string() })
    }

    /// The definitions of `names`, in order.
    pub(super) fn stream_defs(&self, names: &[String]) -> Result<Vec<StreamDef>> {
        names.iter().map(|n| self.stream_def(n)).collect()
    }
}
