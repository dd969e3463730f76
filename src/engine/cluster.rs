//! The engine as a node of a cluster (`sluice serve --cluster`): DDL goes through the
//! cluster's catalog log, so every node applies the same statements in the same order.
//!
//! ```text
//!   client ─ CREATE/DROP ─▶ node A: check (Origin::Check) ─▶ append to _sluice-<name>-catalog
//!                                                                   │ offset o
//!   every node (A too): follow the log ─▶ apply o (Origin::Log(o + 1)) ─┤
//!                                                                   ▼
//!   node A answers the client with the result of applying o on A
//! ```
//!
//! An object's id is its command's offset + 1 on every node, so ids (and the keys of its
//! state) agree across the cluster. At start-up a node replays the whole log before it
//! accepts clients: objects it has state for (from an earlier run) continue from that
//! state; those it never had start fresh; those dropped while it was away are removed here.
//! A statement is checked against the outside world (files, topics) only on the node that
//! appends it; applying it checks only what every node agrees on (the names in the
//! catalog), so every node reaches the same catalog. Called from `Engine::open` and
//! `Engine::execute_inner`.
//!
//! Each shard of a view (the whole view, for most: one per partition of its Kafka stream
//! for a view that can be split, see `docs/cluster.md`) runs on one node at a time, the
//! one the cluster's view group gives its changelog partition to
//! (`crate::cluster::owners`); on the others it stands by while their replica applies
//! what the running node commits to the view's changelog. When the group moves a shard,
//! the node losing it stops it and the node gaining it fences the last writer, catches up
//! and starts the shard from the state it now holds:
//!
//! ```text
//!   group: Gained(view, shard) ─▶ take_over: fence + catch up (ChangelogWriter) ─▶ plan ─▶ Pipeline::run
//!   group: Lost(view, shard)   ─▶ release: Pipeline::stand_by_shard
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMillisecondArray, UInt64Array};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::launch::{Origin, Shard};
use super::{Engine, Output};
use crate::catalog;
use crate::cluster::changelog::{self, ChangelogWriter};
use crate::cluster::log::{Log, Reader, Record};
use crate::cluster::nodes::{FlushRequest, Member, Nodes};
use crate::cluster::owners::{Owners, Ownership};
use crate::cluster::replica::Replica;
use crate::cluster::{self, ClusterConfig};
use crate::dataflow::install::{PipelineSpec, StreamDef};
use crate::dataflow::materialize::CheckpointLog;
use crate::dataflow::pipeline::Pipeline;
use crate::dataflow::published::Published;
use crate::dataflow::stats::{PipelineStats, Status};
use crate::error::{Error, Result};
use crate::sql::{self, Statement};
use crate::state::{Store, state_prefix, view_prefix};

/// How long a node waits for the next catalog command at start-up before it takes the
/// log's end offset as reached (compaction can leave the last offsets empty).
const REPLAY_QUIET: Duration = Duration::from_secs(10);
/// How often FLUSH looks whether this node has applied the catalog far enough.
const CATCH_UP_POLL: Duration = Duration::from_millis(10);
/// Wait before reading the log again after a repeated error.
const RETRY: Duration = Duration::from_millis(20);
/// How often a node starts again the failed views and sinks it holds.
const RESTART_FAILED: Duration = Duration::from_secs(5);
/// Pause before a cluster-wide FLUSH starts over after a shard moved under it.
const MOVED_RETRY: Duration = Duration::from_millis(200);
/// How long a node may take to apply what a cluster-wide FLUSH committed.
const SYNC_WAIT: Duration = Duration::from_secs(60);

/// A view or sink that a node may run: its name, counters and pipeline.
type Runnable = (String, Arc<PipelineStats>, Arc<Pipeline>);

/// One catalog command as stored in the log.
#[derive(Debug, Serialize, Deserialize)]
struct Command {
    /// The node that appended it.
    node: String,
    /// The statement.
    sql: String,
}

/// This node's part in its cluster.
pub(super) struct ClusterNode {
    /// This node's id.
    id: String,
    config: ClusterConfig,
    /// The catalog log.
    log: Log,
    /// Who else is there.
    nodes: Arc<Nodes>,
    /// Commands this node appended, by key, and where their result goes.
    pending: Mutex<HashMap<String, oneshot::Sender<Result<Output>>>>,
    /// Numbers the keys of this node's commands.
    sequence: AtomicU64,
    /// The offset after the last catalog command this node has applied.
    applied: std::sync::atomic::AtomicI64,
    /// The flush requests of every node, until the engine carries them out.
    flushes: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<FlushRequest>>>,
    /// This node's copy of every view.
    replica: Arc<Replica>,
    /// Who runs which view.
    owners: Arc<Owners>,
    /// What the group gives and takes, until the engine follows it.
    ownership: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Ownership>>>,
    /// Numbers this node's takeovers (with its id, the token of a view's writer).
    takeovers: AtomicU64,
    /// How each view and sink of the cluster runs, once this node hosts it.
    hosted: Mutex<HashMap<u64, Hosted>>,
}

/// How a view or sink runs in the cluster.
#[derive(Debug, Clone, Copy)]
struct Hosted {
    /// How many shards (the partitions of its changelog topic).
    shards: usize,
    /// In two stages, joined by its repartition topic.
    staged: bool,
}

impl ClusterNode {
    /// Joins the cluster of `config` with the node id kept in `store`.
    pub async fn join(config: &ClusterConfig, store: &Store) -> Result<ClusterNode> {
        let id = cluster::node_id(store)?;
        let log = Log::open(config, config.catalog_topic()).await?;
        let (requests, flushes) = tokio::sync::mpsc::unbounded_channel();
        let nodes = Nodes::join(config, &id, requests).await?;
        info!(node = %id, cluster = %config.name, servers = %config.servers, "joined the cluster");
        let sequence = AtomicU64::new(cluster::now_ms() as u64 * 1000);
        let flushes = Mutex::new(Some(flushes));
        let applied = std::sync::atomic::AtomicI64::new(0);
        let replica = Replica::start(config, &id, store.clone())?;
        let (events, ownership) = tokio::sync::mpsc::unbounded_channel();
        let owners = Arc::new(Owners::join(config, events)?);
        Ok(ClusterNode {
            id,
            config: config.clone(),
            log,
            nodes,
            pending: Mutex::default(),
            sequence,
            applied,
            flushes,
            replica,
            owners,
            ownership: Mutex::new(Some(ownership)),
            takeovers: AtomicU64::new(cluster::now_ms() as u64),
            hosted: Mutex::default(),
        })
    }
}

impl Engine {
    fn cluster(&self) -> Result<&ClusterNode> {
        self.inner.cluster.as_ref().ok_or_else(|| Error::Internal("not a node of a cluster".into()))
    }

    /// Replays the cluster's catalog log from its start, then follows it in a task of its
    /// own: start-up of a node.
    pub(super) async fn replay_cluster_catalog(&self) -> Result<()> {
        let node = self.cluster()?;
        let local: BTreeSet<u64> = catalog::load(&self.inner.store)?.into_iter().map(|(id, _)| id).collect();
        let end = node.log.end().await?;
        let reader = node.log.reader(0)?;
        let mut next = 0;
        while next < end {
            let record = match tokio::time::timeout(REPLAY_QUIET, reader.next()).await {
                Ok(record) => record?,
                Err(_) => {
                    warn!(at = next, end, "no catalog command arrived; taking the catalog log as replayed");
                    break;
                }
            };
            next = record.offset + 1;
            self.apply(record).await;
        }
        node.applied.fetch_max(end, Ordering::Relaxed);
        let live = self.read_catalog()?.ids();
        for id in local.difference(&live) {
            // Dropped while this node was away, or a command that failed here.
            catalog::forget(&self.inner.store, *id)?;
            self.inner.store.remove_prefix(&view_prefix(*id))?;
            self.inner.store.remove_prefix(&state_prefix(*id))?;
        }
        info!(commands = end, objects = live.len(), "catalog replayed from the cluster");
        let engine = self.clone();
        tokio::spawn(async move { engine.follow(reader).await });
        if let Some(mut flushes) = node.flushes.lock().ok().and_then(|mut f| f.take()) {
            let engine = self.clone();
            tokio::spawn(async move {
                while let Some((from, number)) = flushes.recv().await {
                    // Each on its own: one waits for the other nodes, which may be
                    // carrying out another first.
                    let engine = engine.clone();
                    tokio::spawn(async move { engine.carry_out_flush(&from, number).await });
                }
            });
        }
        if let Some(mut events) = node.ownership.lock().ok().and_then(|mut o| o.take()) {
            let engine = self.clone();
            tokio::spawn(async move {
                let mut retry = tokio::time::interval(RESTART_FAILED);
                let mut lag = tokio::time::interval(crate::cluster::nodes::HEARTBEAT);
                loop {
                    tokio::select! {
                        event = events.recv() => match event {
                            Some(event) => engine.follow_ownership(event).await,
                            None => return,
                        },
                        _ = retry.tick() => engine.restart_failed().await,
                        _ = lag.tick() => engine.report_lag(),
                    }
                }
            });
        }
        Ok(())
    }

    /// Starts or stops the pipelines of the shards of views the group gave this node or
    /// took from it.
    async fn follow_ownership(&self, event: Ownership) {
        let Ok(node) = self.cluster() else { return };
        let (gained, shards, released) = match event {
            Ownership::Gained(shards) => (true, shards, None),
            Ownership::Lost(shards, released) => (false, shards, Some(released)),
        };
        let objects = shards.iter().filter_map(|(t, p)| Some((changelog::object_of(&node.config, t)?, *p)));
        for (id, partition) in objects {
            let Ok(shard) = u16::try_from(partition) else { continue };
            if gained {
                let started = std::time::Instant::now();
                match self.take_over(id, shard).await {
                    Ok(Some(name)) => {
                        info!(name = %name, shard, ms = started.elapsed().as_millis() as u64, "taken over")
                    }
                    Ok(None) => {}
                    Err(e) => {
                        warn!(id, shard, error = %e, "cannot take a view or sink over");
                        if let Ok(Some((_, stats, _))) = self.runnable(id) {
                            stats.set_status(Status::Failed(e.to_string()));
                        }
                    }
                }
            } else {
                self.release(id, shard).await;
            }
        }
        if let Some(released) = released {
            let _ = released.send(());
        }
        let (pipelines, views) = self.running_here();
        node.nodes
            .announce(|h| {
                h.pipelines = pipelines;
                h.views = views;
                h.rebalanced = cluster::now_ms();
            })
            .await;
    }

    /// How many pipelines run on this node (not standing by), and the views and sinks
    /// among them: by name, or `name#shard` for each shard of one run as several.
    fn running_here(&self) -> (usize, Vec<String>) {
        let Ok(catalog) = self.read_catalog() else { return (0, Vec::new()) };
        let pipelines = catalog.pipelines().iter().filter(|p| p.stats().status() != Status::Standby).count();
        let views = catalog.views.iter().map(|(name, v)| (name, v.id, &v.pipeline));
        let objects = views.chain(catalog.sinks.iter().map(|(name, s)| (name, s.id, &s.pipeline)));
        let mut running = Vec::new();
        for (name, id, pipeline) in objects {
            let count = self.shard_count(id);
            running.extend(pipeline.shards_here().into_iter().map(|shard| shard_label(name, shard, count)));
        }
        (pipelines, running)
    }

    /// How view or sink `id` runs in the cluster (one shard until hosted).
    fn hosted(&self, id: u64) -> Hosted {
        let node = self.cluster().ok();
        let hosted = node.and_then(|n| n.hosted.lock().ok().and_then(|h| h.get(&id).copied()));
        hosted.unwrap_or(Hosted { shards: 1, staged: false })
    }

    /// Puts the lag of what this node runs into its next heartbeat.
    fn report_lag(&self) {
        let (Ok(node), Ok(catalog)) = (self.cluster(), self.read_catalog()) else { return };
        let running = catalog.pipelines().into_iter().filter(|p| p.stats().status() != Status::Standby);
        let mut lag = 0;
        for pipeline in running {
            if let Ok(sources) = pipeline.stats().source.lock() {
                let splits = sources.values().flatten().flat_map(|s| &s.splits);
                lag += splits.filter_map(|s| s.lag).sum::<i64>();
            }
        }
        node.nodes.update(|h| h.lag = lag);
    }

    /// How many shards view or sink `id` runs as in the cluster (1 until hosted).
    fn shard_count(&self, id: u64) -> usize {
        self.hosted(id).shards
    }

    /// Whether some view runs in stages, whose FLUSH takes two rounds.
    fn has_stages(&self) -> bool {
        let node = self.cluster().ok();
        node.and_then(|n| n.hosted.lock().ok().map(|h| h.values().any(|h| h.staged))).unwrap_or(false)
    }

    /// Waits until every view and sink (every shard of one) runs on exactly one node that
    /// is up, as their heartbeats say (a new view's first node, or the next one after its
    /// node went down, may still be starting it), for FLUSH.
    async fn wait_views_running(&self) -> Result<()> {
        let node = self.cluster()?;
        let deadline = std::time::Instant::now() + SYNC_WAIT;
        loop {
            let Some(idle) = self.not_on_one_node(&node.nodes.view_runners())? else { return Ok(()) };
            if std::time::Instant::now() > deadline {
                return Err(Error::Unreachable(format!("\"{idle}\" does not run on exactly one node of the cluster")));
            }
            tokio::time::sleep(CATCH_UP_POLL).await;
        }
    }

    /// A view or sink (a shard of one) that `runners` do not list on exactly one node, if
    /// any.
    fn not_on_one_node(&self, runners: &BTreeMap<String, Vec<String>>) -> Result<Option<String>> {
        let catalog = self.read_catalog()?;
        let views = catalog.views.iter().map(|(name, v)| (name, v.id));
        let objects = views.chain(catalog.sinks.iter().map(|(name, s)| (name, s.id)));
        let mut labels = objects.flat_map(|(name, id)| {
            let count = self.shard_count(id);
            (0..count as u16).map(move |shard| shard_label(name, shard, count))
        });
        Ok(labels.find(|v| runners.get(v).is_none_or(|r| r.len() != 1)))
    }

    /// Starts again the views and sinks the group still gives this node whose pipelines
    /// failed here (fenced by a node that had them for a moment, or a broker error).
    async fn restart_failed(&self) {
        let Ok(node) = self.cluster() else { return };
        let failed: Vec<u64> = match self.read_catalog() {
            Ok(catalog) => {
                let views = catalog.views.values().map(|v| (v.id, &v.stats));
                let all = views.chain(catalog.sinks.values().map(|s| (s.id, &s.stats)));
                let failed = all.filter(|(_, stats)| matches!(stats.status(), Status::Failed(_)));
                failed.map(|(id, _)| id).collect()
            }
            Err(_) => return,
        };
        for id in failed {
            // Every shard of it this node holds starts again, from its last checkpoint.
            let Some(&first) = node.owners.held(&changelog::topic(&node.config, id)).first() else { continue };
            let Ok(shard) = u16::try_from(first) else { continue };
            match self.take_over(id, shard).await {
                Ok(Some(name)) => info!(name = %name, "started again after a failure"),
                Ok(None) => {}
                Err(e) => warn!(id, error = %e, "cannot start a failed view or sink again"),
            }
        }
    }

    /// Runs shard `shard` of view or sink `id` on this node from now on: fences the node
    /// that ran it, catches up with what it committed and starts its pipeline. Returns its
    /// name (None if it is gone or the shard runs here already). If its pipeline failed
    /// here, every shard of it this node holds starts again.
    async fn take_over(&self, id: u64, shard: u16) -> Result<Option<String>> {
        let node = self.cluster()?;
        let _ddl = self.inner.ddl.lock().await;
        let Some((name, stats, pipeline)) = self.runnable(id)? else { return Ok(None) };
        let here = pipeline.shards_here();
        let healthy = matches!(stats.status(), Status::Running | Status::Retrying(_) | Status::Standby);
        let shards = if healthy {
            if here.contains(&shard) {
                return Ok(None);
            }
            vec![shard]
        } else {
            // Whatever is left of the failed run here (a source thread).
            pipeline.stop().await;
            let held = node.owners.held(&changelog::topic(&node.config, id));
            let mut shards: BTreeSet<u16> = held.into_iter().filter_map(|p| u16::try_from(p).ok()).collect();
            shards.insert(shard);
            shards.into_iter().collect()
        };
        for shard in shards {
            self.start_shard(id, shard, &name, &stats, &pipeline).await?;
        }
        Ok(Some(name))
    }

    /// Fences whoever wrote shard `shard` of view or sink `id` (`name`) last, catches up
    /// with it and starts it in `pipeline`.
    async fn start_shard(
        &self,
        id: u64,
        shard: u16,
        name: &str,
        stats: &Arc<PipelineStats>,
        pipeline: &Pipeline,
    ) -> Result<()> {
        let node = self.cluster()?;
        let token = format!("{}/{}", node.id, node.takeovers.fetch_add(1, Ordering::Relaxed));
        let (config, store, replica, writer_name) =
            (node.config.clone(), self.inner.store.clone(), node.replica.clone(), name.to_string());
        let (owners, topic) = (node.owners.clone(), changelog::topic(&node.config, id));
        let partition = i32::from(shard);
        let still_mine: changelog::StillMine = Arc::new(move || owners.holds(&topic, partition));
        let writer = tokio::task::spawn_blocking(move || {
            ChangelogWriter::take_over(&config, (id, partition, &writer_name), token, (store, replica), still_mine)
        })
        .await
        .map_err(|e| Error::Internal(format!("takeover failed: {e}")))??;
        let mut spec = self.spec_to_run(id, name, Box::new(writer), self.shard_of(id, shard)?).await?;
        spec.stats = stats.clone();
        pipeline.run(spec, &self.inner.pipelines)
    }

    /// Shard `shard` of view or sink `id`, if it runs as several.
    fn shard_of(&self, id: u64, shard: u16) -> Result<Option<Shard>> {
        let node = self.cluster()?;
        let hosted = self.hosted(id);
        if hosted.shards <= 1 {
            return Ok(None);
        }
        let count = u16::try_from(hosted.shards).map_err(|_| Error::Internal(format!("{} shards", hosted.shards)))?;
        let slice = crate::connector::Slice { index: shard, count };
        let repartition = hosted.staged.then(|| {
            let mut options = crate::connector::Options::new();
            options.insert("connector".into(), "repartition".into());
            options.insert("topic".into(), changelog::repartition_topic(&node.config, id));
            options.insert("bootstrap_servers".into(), node.config.servers.clone());
            options.insert("shards".into(), hosted.shards.to_string());
            for (k, v) in &node.config.properties {
                options.insert(format!("properties.{k}"), v.clone());
            }
            let schema = Arc::new(arrow::datatypes::Schema::empty());
            StreamDef { name: "repartition".into(), schema, watermark: None, options }
        });
        Ok(Some(Shard { slice, repartition }))
    }

    /// The default Kafka transactional id of sink `id`: `sluice-sink-<id>` on a single
    /// node; in a cluster it names the cluster, so that two clusters on one broker differ.
    pub(super) fn sink_transactional_id(&self, id: u64) -> String {
        match &self.inner.cluster {
            Some(node) => changelog::sink_transactional_id(&node.config, id),
            None => format!("sluice-sink-{id}"),
        }
    }

    /// The name, counters and pipeline of view or sink `id`.
    fn runnable(&self, id: u64) -> Result<Option<Runnable>> {
        let catalog = self.read_catalog()?;
        let views = catalog.views.iter().map(|(n, v)| (n, v.id, &v.stats, &v.pipeline));
        let sinks = catalog.sinks.iter().map(|(n, s)| (n, s.id, &s.stats, &s.pipeline));
        let found = views.chain(sinks).find(|(_, i, _, _)| *i == id);
        Ok(found.map(|(name, _, stats, pipeline)| (name.clone(), stats.clone(), pipeline.clone())))
    }

    /// The pipeline of view or sink `id` (`name`), planned again, committing through `log`
    /// (of one `shard` of it, for a view run as several).
    async fn spec_to_run(
        &self,
        id: u64,
        name: &str,
        log: Box<dyn CheckpointLog>,
        shard: Option<Shard>,
    ) -> Result<PipelineSpec> {
        let view = self.read_catalog()?.views.get(name).filter(|v| v.id == id).map(|v| {
            let (query, emit_on_close, grace) = (v.definition.clone(), v.emit_on_close, v.grace.clone());
            (
                sql::CreateView { name: name.to_string(), query, emit_on_close, grace, if_not_exists: false },
                v.published.clone(),
            )
        });
        if let Some((stmt, published)) = view {
            let (plan, defs) = self.plan_checked(&stmt).await?;
            self.load_tables(&plan.tables).await?;
            return self.view_spec(&stmt, id, (plan, defs), &published, Some(log), shard);
        }
        let written = self.read_catalog()?.sinks.get(name).map(|s| s.written.clone());
        let created = self.inner.store.get(&crate::state::catalog_key(id))?;
        let stmt = created.as_deref().and_then(|bytes| serde_json::from_slice::<catalog::Persisted>(bytes).ok());
        let stmt = match stmt.map(|p| sql::parse(&p.sql)) {
            Some(Ok(statements)) => statements.into_iter().next(),
            _ => None,
        };
        let (Some(Statement::CreateSink(stmt)), Some(written)) = (stmt, written) else {
            return Err(Error::Internal(format!("no view or sink {id} (\"{name}\") to run")));
        };
        let (plan, defs) = self.plan_sink(&stmt).await?;
        self.load_tables(&plan.tables).await?;
        self.sink_spec(&stmt, id, (plan, defs), written, Some(log), shard).map(|(spec, _)| spec)
    }

    /// Stops running shard `shard` of view or sink `id` here: another node runs it now.
    async fn release(&self, id: u64, shard: u16) {
        if let Ok(Some((name, _, pipeline))) = self.runnable(id) {
            pipeline.stand_by_shard(shard).await;
            info!(name = %name, shard, "handed to another node");
        }
    }

    /// Makes view or sink `id`, just created, part of the cluster: its changelog topic
    /// exists (with one partition per shard: `shards` for a new one), this node keeps a
    /// copy of it, and offers to run its shards. A failure fails it here.
    pub(super) async fn host(&self, id: u64, shards: usize, staged: bool) {
        let Ok(node) = self.cluster() else { return };
        let topic = changelog::topic(&node.config, id);
        // A sink's checkpoints carry no rows for subscribers.
        let published = self.read_catalog().ok().map(|c| {
            let view = c.views.values().find(|v| v.id == id);
            view.map_or_else(|| Arc::new(Published::default()), |v| v.published.clone())
        });
        let Some(published) = published else { return };
        let hosted = async {
            cluster::log::create_topic(&node.config, &topic, shards, true).await?;
            // The topic's partitions decide: a node that created it first counted them.
            let count = self.changelog_partitions(&topic).await?;
            let staged = staged && count > 1;
            if staged {
                let repartition = changelog::repartition_topic(&node.config, id);
                cluster::log::create_topic(&node.config, &repartition, count, false).await?;
            }
            if let Ok(mut known) = node.hosted.lock() {
                known.insert(id, Hosted { shards: count, staged });
            }
            node.replica.follow(&topic, id, count, published)?;
            node.owners.add(&topic)
        };
        if let Err(e) = hosted.await {
            warn!(id, error = %e, "cannot share a view or sink with the cluster");
            if let Ok(Some((_, stats, _))) = self.runnable(id) {
                stats.set_status(Status::Failed(e.to_string()));
            }
        }
    }

    /// How many partitions changelog `topic` has, once the brokers' metadata shows it
    /// (a topic just created may take a moment).
    async fn changelog_partitions(&self, topic: &str) -> Result<usize> {
        let node = self.cluster()?;
        let mut tries = 0;
        loop {
            let (config, name) = (node.config.clone(), topic.to_string());
            let count = tokio::task::spawn_blocking(move || cluster::log::partition_count(&config, &name))
                .await
                .map_err(|e| Error::Internal(format!("metadata request failed: {e}")))?;
            match count {
                Ok(count) => return Ok(count),
                Err(e) if tries >= 50 => return Err(e),
                Err(_) => tries += 1,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Takes view or sink `id`, being dropped, out of the cluster: nobody runs it or
    /// applies its changelog here any more.
    pub(super) fn unhost(&self, id: u64) -> Result<()> {
        let node = self.cluster()?;
        let topic = changelog::topic(&node.config, id);
        node.owners.remove(&topic)?;
        node.replica.leave(&topic)
    }

    /// Deletes the changelog topic of dropped view or sink `id` (every node tries; one
    /// succeeds).
    pub(super) async fn delete_changelog(&self, id: u64) {
        let Ok(node) = self.cluster() else { return };
        for topic in [changelog::topic(&node.config, id), changelog::repartition_topic(&node.config, id)] {
            if let Err(e) = cluster::log::delete_topic(&node.config, &topic).await {
                warn!(id, error = %e, "cannot delete the changelog of a dropped view or sink");
            }
        }
        if let Ok(mut hosted) = node.hosted.lock() {
            hosted.remove(&id);
        }
    }

    /// FLUSH in a cluster: asks every node to flush its pipelines and waits until every
    /// node that is up has (a node that goes down meanwhile is not waited for). This
    /// node's own pipelines are flushed here too, so that one failing makes FLUSH fail as
    /// on a single node; other nodes log theirs.
    pub(super) async fn flush_cluster(&self) -> Result<()> {
        let node = self.cluster()?;
        self.catch_up().await?;
        // A view in stages needs a second round: its second stage reads what the first
        // committed in the first.
        let rounds = if self.has_stages() { 2 } else { 1 };
        let mut done = 0;
        let deadline = std::time::Instant::now() + SYNC_WAIT;
        loop {
            self.wait_views_running().await?;
            let number = node.nodes.request_flush().await?;
            let local = self.flush().await;
            node.nodes.wait_flushed(&node.id, number, false).await;
            if local.as_ref().is_err_and(changelog::is_moved) {
                // A shard of this node was fenced by the node the group gave it to: that
                // node flushes it now, and this one starts again what the group still
                // gives it (within RESTART_FAILED).
                info!("a shard moved during a cluster-wide FLUSH; flushing again");
                tokio::time::sleep(MOVED_RETRY).await;
                continue;
            }
            // A view that moved meanwhile (its node went down, or a rebalance) may have
            // been flushed by nobody: once more, with the nodes that run it now.
            if let Some(moved) = self.not_on_one_node(&node.nodes.flushed_runners())? {
                if std::time::Instant::now() > deadline {
                    return Err(Error::Unreachable(format!("\"{moved}\" kept moving between nodes during FLUSH")));
                }
                info!(view = %moved, "views moved during a cluster-wide FLUSH; flushing again");
                continue;
            }
            node.nodes.wait_flushed(&node.id, number, true).await;
            done += 1;
            if done == rounds {
                return local;
            }
        }
    }

    /// Waits until this node has applied every catalog command appended so far, so that a
    /// FLUSH covers the objects another node created before it.
    async fn catch_up(&self) -> Result<()> {
        let node = self.cluster()?;
        let end = node.log.end().await?;
        while node.applied.load(Ordering::Relaxed) < end {
            tokio::time::sleep(CATCH_UP_POLL).await;
        }
        Ok(())
    }

    /// Flushes this node's pipelines for flush request `number` of node `from` (after
    /// applying the catalog as far as it goes now), and says so.
    async fn carry_out_flush(&self, from: &str, number: u64) {
        if let Err(e) = self.catch_up().await {
            warn!(from, number, error = %e, "cannot read the catalog's end for a cluster-wide FLUSH");
        }
        let engine = self.clone();
        let before = self.running_here().1;
        if let Err(e) = self.offload(async move { engine.flush().await }).await {
            warn!(from, number, error = %e, "a pipeline failed during a cluster-wide FLUSH");
        }
        // What ran throughout the flush is what it covered.
        let after = self.running_here().1;
        let ran: Vec<String> = before.into_iter().filter(|v| after.contains(v)).collect();
        let Ok(node) = self.cluster() else { return };
        node.nodes.flushed(from, number, false, Some(ran)).await;
        // Every node has committed what it runs: apply all of it here.
        node.nodes.wait_flushed(from, number, false).await;
        let replica = node.replica.clone();
        match tokio::task::spawn_blocking(move || replica.sync(SYNC_WAIT)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(from, number, error = %e, "views not applied to the end for a cluster-wide FLUSH"),
            Err(e) => warn!(from, number, error = %e, "views not applied to the end for a cluster-wide FLUSH"),
        }
        node.nodes.flushed(from, number, true, None).await;
    }

    /// Applies every command appended to the catalog log from now on. While the brokers
    /// are away librdkafka reports each failed attempt as an error, which is logged once
    /// per outage and otherwise passed over: waiting after each would leave the reader
    /// behind by one wait per error when the brokers return.
    async fn follow(&self, reader: Reader) {
        let mut outage = false;
        loop {
            match reader.next().await {
                Ok(record) => {
                    if std::mem::take(&mut outage) {
                        info!("reading the cluster's catalog again");
                    }
                    self.apply(record).await
                }
                Err(e) if !outage => {
                    outage = true;
                    warn!(error = %e, "cannot read the cluster's catalog; retrying");
                }
                Err(_) => tokio::time::sleep(RETRY).await,
            }
        }
    }

    /// Applies one catalog command, on the statement threads under the DDL lock, and hands
    /// its result to the client waiting for it on this node.
    async fn apply(&self, record: Record) {
        let Some(value) = record.value else { return };
        let command: Command = match serde_json::from_slice(&value) {
            Ok(command) => command,
            Err(e) => {
                warn!(offset = record.offset, error = %e, "a catalog command that does not decode; skipped");
                return;
            }
        };
        let id = record.offset as u64 + 1;
        let engine = self.clone();
        let sql = command.sql.clone();
        let result = self
            .offload(async move {
                let _ddl = engine.inner.ddl.lock().await;
                engine.apply_command(id, &sql).await
            })
            .await;
        let Ok(node) = self.cluster() else { return };
        node.applied.fetch_max(record.offset + 1, Ordering::Relaxed);
        let (pipelines, views) = self.running_here();
        node.nodes.update(|h| {
            h.applied = record.offset + 1;
            h.pipelines = pipelines;
            h.views = views;
        });
        let waiting = node.pending.lock().ok().and_then(|mut p| p.remove(&record.key));
        match (waiting, result) {
            (Some(client), result) => {
                let _ = client.send(result);
            }
            (None, Err(e)) => {
                info!(offset = record.offset, from = %command.node, error = %e, sql = %command.sql, "catalog command failed");
            }
            (None, Ok(_)) => {}
        }
    }

    /// Applies the command at catalog id `id`.
    async fn apply_command(&self, id: u64, sql: &str) -> Result<Output> {
        let statement = sql::parse(sql)?.into_iter().next();
        match statement {
            Some(Statement::CreateStream(s)) => self.create_stream(&s, Origin::Log(id)).await,
            Some(Statement::CreateTable(t)) => self.create_table(&t, Origin::Log(id)).await,
            Some(Statement::CreateView(v)) => self.create_view(&v, Origin::Log(id)).await,
            Some(Statement::Drop(d)) => self.drop_object(&d).await,
            Some(Statement::CreateSink(s)) => self.create_sink(&s, Origin::Log(id)).await,
            _ => Err(Error::Internal(format!("catalog command {id} is not CREATE or DROP: {sql}"))),
        }
    }

    /// Runs a CREATE or DROP in the cluster: checks it here, appends it to the catalog log
    /// and returns once this node has applied it, with the result of applying it.
    pub(super) async fn submit(&self, statement: &Statement) -> Result<Output> {
        let sql = {
            let _ddl = self.inner.ddl.lock().await;
            match statement {
                Statement::CreateStream(s) => self.create_stream(s, Origin::Check).await.map(|_| s.to_string()),
                Statement::CreateTable(t) => self.create_table(t, Origin::Check).await.map(|_| t.to_string()),
                Statement::CreateView(v) => self.create_view(v, Origin::Check).await.map(|_| v.to_string()),
                Statement::Drop(d) => Ok(d.to_string()),
                Statement::CreateSink(s) => self.create_sink(s, Origin::Check).await.map(|_| s.to_string()),
                _ => Err(Error::Internal("only CREATE and DROP go through the catalog log".into())),
            }?
        };
        let node = self.cluster()?;
        let key = format!("{}-{}", node.id, node.sequence.fetch_add(1, Ordering::Relaxed));
        let value = serde_json::to_vec(&Command { node: node.id.clone(), sql })
            .map_err(|e| Error::Internal(format!("cannot encode a catalog command: {e}")))?;
        let (sender, applied) = oneshot::channel();
        node.pending.lock().map_err(|_| Error::Internal("pending lock poisoned".into()))?.insert(key.clone(), sender);
        if let Err(e) = node.log.append(&key, Some(&value)).await {
            node.pending.lock().map_err(|_| Error::Internal("pending lock poisoned".into()))?.remove(&key);
            return Err(e);
        }
        applied.await.map_err(|_| Error::Shutdown("the node stopped before it applied the statement".into()))?
    }

    /// Says goodbye to the cluster at shutdown.
    pub(super) async fn leave_cluster(&self) {
        let Some(engine) = self.inner.cluster.as_ref().map(|_| self.clone()) else { return };
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(node) = engine.cluster() {
                node.owners.leave();
                node.replica.stop();
            }
        })
        .await;
        if let Ok(node) = self.cluster() {
            node.nodes.leave().await;
        }
    }

    /// SHOW CLUSTER: the nodes, as their heartbeats describe them (none on a single node).
    pub(super) fn show_cluster(&self) -> Result<Output> {
        let batch = cluster_rows(self.inner.cluster.as_ref().map(ClusterNode::membership))?;
        Ok(Output::Rows { schema: batch.schema(), batches: vec![batch] })
    }
}

impl ClusterNode {
    /// The cluster's name and who is in it, for `SHOW CLUSTER` and `sluice_catalog.cluster`.
    pub fn membership(&self) -> (String, Arc<Nodes>) {
        (self.config.name.clone(), self.nodes.clone())
    }
}

/// How SHOW CLUSTER names shard `shard` of `name`, which runs as `count` shards.
fn shard_label(name: &str, shard: u16, count: usize) -> String {
    if count > 1 { format!("{name}#{shard}") } else { name.to_string() }
}

/// The rows of SHOW CLUSTER and `sluice_catalog.cluster` for cluster `name` with `nodes`.
pub(super) fn cluster_rows(membership: Option<(String, Arc<Nodes>)>) -> Result<RecordBatch> {
    let (name, members) = match membership {
        Some((name, nodes)) => (Some(name), nodes.members()),
        None => (None, vec![]),
    };
    let column = |f: &dyn Fn(&Member) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(members.iter().map(f).collect::<Vec<_>>()))
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("cluster", column(&|_| name.clone())),
        ("node", column(&|m| Some(m.heartbeat.node.clone()))),
        ("address", column(&|m| Some(m.heartbeat.address.clone()))),
        ("state", column(&|m| Some(m.state.to_string()))),
        ("this_node", Arc::new(members.iter().map(|m| Some(m.me)).collect::<BooleanArray>())),
        ("pipelines", Arc::new(members.iter().map(|m| m.heartbeat.pipelines as u64).collect::<UInt64Array>())),
        ("catalog_applied", Arc::new(members.iter().map(|m| m.heartbeat.applied).collect::<Int64Array>())),
        ("runs", column(&|m| Some(m.heartbeat.views.join(", ")))),
        ("lag", Arc::new(members.iter().map(|m| m.heartbeat.lag).collect::<Int64Array>())),
        ("started", timestamps(members.iter().map(|m| m.heartbeat.started))),
        ("last_rebalance", {
            let at = members.iter().map(|m| (m.heartbeat.rebalanced > 0).then_some(m.heartbeat.rebalanced));
            Arc::new(TimestampMillisecondArray::from(at.collect::<Vec<_>>()))
        }),
        ("last_heartbeat", timestamps(members.iter().map(|m| m.heartbeat.at))),
    ];
    Ok(RecordBatch::try_from_iter(columns)?)
}

fn timestamps(values: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from(values.collect::<Vec<_>>()))
}
