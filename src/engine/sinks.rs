//! CREATE SINK, DROP SINK and SHOW SINKS.
//!
//! A sink runs its own pipeline: the query of the view it writes out (or `SELECT *` of a
//! stream, or its own query for ksqlDB's `CREATE STREAM name WITH (...) AS SELECT`) planned again, ending in the sink operator instead of the view's materialize
//! operator. Its source positions, operator state and writer state are checkpointed under
//! the sink's id, like a view's, so a sink resumes exactly where it was.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Int64Array, StringArray, UInt64Array};
use tracing::info;

use super::launch::{Origin, Shard};
use super::{Engine, Output};
use crate::catalog::{self, Catalog, SinkEntry};
use crate::connector::sink::{self, Encoder, WriterName};
use crate::dataflow::install::{Destination, PipelineSpec, StreamDef};
use crate::dataflow::materialize::CheckpointLog;
use crate::error::{Error, Result};
use crate::sql::plan::{ViewPlan, plan_view};
use crate::sql::{CreateSink, CreateView};
use crate::state::state_prefix;

impl Engine {
    /// CREATE SINK, from `origin`.
    pub(super) async fn create_sink(&self, stmt: &CreateSink, origin: Origin) -> Result<Output> {
        let done = Output::command("CREATE SINK");
        if origin.checks_names() && self.read_catalog()?.sinks.contains_key(&stmt.name) {
            if stmt.if_not_exists {
                return Ok(done);
            }
            return Err(Error::DuplicateRelation { kind: "sink", name: stmt.name.clone() });
        }
        if origin.checks_names() && stmt.query.is_some() {
            self.read_catalog()?.check_free(&stmt.name)?;
        }
        if self.inner.cluster.is_some() && stmt.options.get("connector").is_some_and(|c| c.eq_ignore_ascii_case("file"))
        {
            return Err(Error::Unsupported("file sinks are not supported in a cluster (--cluster)".into())
                .with_hint("Write to a Kafka topic, or run the file sink on a single node."));
        }
        let (plan, defs) = self.plan_sink(stmt).await?;
        sink::validate(&stmt.options, &plan.schema, plan.keyed)?;
        self.check_file_sink(&*self.read_catalog()?, &stmt.name, &stmt.options, origin.checks_outside())?;
        // Checked here, before the sink exists; built again with its pipeline.
        Encoder::new(&stmt.options, &plan.schema, plan.group_key_schema())?;
        let (streams, tables) = (plan.streams.clone(), plan.tables.clone());
        if origin.checks_outside() {
            let options = stmt.options.clone();
            tokio::task::spawn_blocking(move || sink::check_external(&options))
                .await
                .map_err(|e| Error::Internal(format!("sink check failed: {e}")))??;
            self.load_tables(&tables).await?;
        }
        let create = stmt.to_string();
        let Some(id) = self.object_id(origin, &create)? else { return Ok(done) };
        let written = Arc::new(AtomicU64::new(0));
        let shards = match self.inner.cluster.is_some() {
            true => self.view_shards(&plan, &defs).await,
            false => (1, false),
        };
        let (spec, target) = self.sink_spec(stmt, id, (plan, defs), written.clone(), None, None)?;
        let stats = spec.stats.clone();
        let pipeline = self.launch_here(spec, origin.persist(&create))?;
        let from = if stmt.query.is_some() { streams.join(", ") } else { stmt.from.clone() };
        let (options, query_defined) = (stmt.options.clone(), stmt.query.is_some());
        let entry = SinkEntry { id, from, streams, tables, query_defined, options, target, written, stats, pipeline };
        self.write_catalog()?.sinks.insert(stmt.name.clone(), entry);
        info!(sink = %stmt.name, id, "sink created");
        if self.inner.cluster.is_some() {
            self.host(id, shards.0, shards.1).await;
        }
        Ok(done)
    }

    /// The pipeline of sink `id` planned as `plan`, counting what it writes in `written`
    /// (committing through `log` in a cluster; of one `shard` of it, for a sink run as
    /// several), and where it writes.
    pub(super) fn sink_spec(
        &self,
        stmt: &CreateSink,
        id: u64,
        (plan, defs): (ViewPlan, Vec<StreamDef>),
        written: Arc<AtomicU64>,
        log: Option<Box<dyn CheckpointLog>>,
        shard: Option<Shard>,
    ) -> Result<(PipelineSpec, String)> {
        let shard = shard.filter(|s| s.slice.count > 1);
        let encoder = Encoder::new(&stmt.options, &plan.schema, plan.group_key_schema())?;
        let name = WriterName {
            transactional_id: self.sink_transactional_id(id),
            shard: shard.as_ref().and_then(|s| s.slice.shard()),
        };
        let writer = sink::open(name, &stmt.options)?;
        let target = writer.target();
        let what = format!("sink \"{}\"", stmt.name);
        let destination = Destination::Sink { encoder, writer, written, log };
        let spec = match shard {
            Some(shard) => self.shard_spec((id, &stmt.name, what), (plan, defs), shard, destination)?,
            None => {
                let (grace, flow) = (plan.grace, plan.into_flow()?);
                PipelineSpec { grace, ..self.pipeline_spec(id, &stmt.name, what, defs, flow, destination) }
            }
        };
        Ok((spec, target))
    }

    /// The plan of sink `stmt` and the definitions of the streams it reads, checked.
    pub(super) async fn plan_sink(&self, stmt: &CreateSink) -> Result<(ViewPlan, Vec<StreamDef>)> {
        let query = self.sink_query(stmt)?;
        let plan = plan_view(&self.inner.ctx.state(), &query).await?;
        let defs = self.stream_defs(&plan.streams)?;
        plan.check_against(&defs)?;
        Ok((plan, defs))
    }

    /// The query a sink runs: its own, its view's, or all columns of its stream.
    fn sink_query(&self, stmt: &CreateSink) -> Result<CreateView> {
        if let Some(query) = &stmt.query {
            let (name, emit_on_close, grace) = (stmt.name.clone(), stmt.emit_on_close, stmt.grace.clone());
            return Ok(CreateView { name, query: query.clone(), emit_on_close, grace, if_not_exists: false });
        }
        let catalog = self.read_catalog()?;
        if let Some(view) = catalog.views.get(&stmt.from) {
            let (query, grace) = (view.definition.clone(), view.grace.clone());
            let (name, emit_on_close) = (stmt.name.clone(), view.emit_on_close);
            return Ok(CreateView { name, query, emit_on_close, grace, if_not_exists: false });
        }
        if catalog.streams.contains_key(&stmt.from) {
            let sql = format!("CREATE MATERIALIZED VIEW x AS SELECT * FROM \"{}\"", stmt.from.replace('"', "\"\""));
            if let Some(crate::sql::Statement::CreateView(v)) = crate::sql::parse(&sql)?.into_iter().next() {
                return Ok(CreateView { name: stmt.name.clone(), ..v });
            }
        }
        if catalog.tables.contains_key(&stmt.from) {
            let error = Error::Unsupported("sinks from tables are not supported yet".into());
            let hint = format!("Write out a stream or a materialized view instead of table \"{}\".", stmt.from);
            return Err(error.with_hint(hint));
        }
        Err(Error::UnknownRelation { kind: "stream or materialized view", name: stmt.from.clone() })
    }

    /// DROP SINK.
    pub(super) async fn drop_sink(&self, name: &str, if_exists: bool) -> Result<Output> {
        let entry = self.write_catalog()?.sinks.remove(name);
        let Some(entry) = entry else {
            if if_exists {
                return Ok(Output::command("DROP SINK"));
            }
            return Err(Error::UnknownRelation { kind: "sink", name: name.to_string() });
        };
        if self.inner.cluster.is_some() {
            self.unhost(entry.id)?;
        }
        entry.pipeline.stop().await;
        catalog::forget(&self.inner.store, entry.id)?;
        self.inner.store.remove_prefix(&state_prefix(entry.id))?;
        if self.inner.cluster.is_some() {
            self.delete_changelog(entry.id).await;
        }
        info!(sink = %name, "sink dropped");
        Ok(Output::command("DROP SINK"))
    }

    /// Drops the sinks of `relation` (with CASCADE), or refuses (2BP01) if it has any.
    pub(super) async fn drop_sinks_of(&self, relation: &str, cascade: bool) -> Result<()> {
        let sinks = self.read_catalog()?.sinks_of(relation);
        if let (Some(first), false) = (sinks.first(), cascade) {
            let detail: Vec<String> = sinks.iter().map(|s| format!("sink \"{s}\" depends on \"{relation}\"")).collect();
            return Err(Error::DependentObjects {
                message: format!("cannot drop \"{relation}\" because sink \"{first}\" depends on it"),
                detail: detail.join("\n"),
            });
        }
        for sink in sinks {
            self.drop_sink(&sink, true).await?;
        }
        Ok(())
    }
}

/// SHOW SINKS.
pub fn show_sinks(catalog: &Catalog) -> Result<Output> {
    let mut rows = ShowSinks::default();
    for (name, s) in &catalog.sinks {
        let connector = s.options.get("connector").cloned().unwrap_or_default();
        let delivery = match connector.as_str() {
            "kafka" => s.options.get("delivery").cloned().unwrap_or_else(|| "exactly-once".into()),
            _ => "exactly-once".into(),
        };
        rows.names.push(name.clone());
        rows.from.push(s.from.clone());
        rows.connectors.push(connector);
        rows.targets.push(s.target.clone());
        rows.delivery.push(delivery);
        rows.status.push(s.stats.status().to_string());
        rows.written.push(s.written.load(Ordering::Relaxed));
        rows.epochs.push(s.stats.committed_epoch.load(Ordering::Relaxed) as i64);
        rows.state.push(s.stats.state_bytes.load(Ordering::Relaxed));
    }
    super::system::rows(super::system::batch(vec![
        ("name", Arc::new(StringArray::from(rows.names))),
        ("from", Arc::new(StringArray::from(rows.from))),
        ("connector", Arc::new(StringArray::from(rows.connectors))),
        ("target", Arc::new(StringArray::from(rows.targets))),
        ("delivery", Arc::new(StringArray::from(rows.delivery))),
        ("status", Arc::new(StringArray::from(rows.status))),
        ("records_written", Arc::new(UInt64Array::from(rows.written))),
        ("checkpoint", Arc::new(Int64Array::from(rows.epochs))),
        ("state_bytes", Arc::new(UInt64Array::from(rows.state))),
    ])?)
}

/// Columns of SHOW SINKS.
#[derive(Default)]
struct ShowSinks {
    names: Vec<String>,
    from: Vec<String>,
    connectors: Vec<String>,
    targets: Vec<String>,
    delivery: Vec<String>,
    status: Vec<String>,
    written: Vec<u64>,
    epochs: Vec<i64>,
    state: Vec<u64>,
}
