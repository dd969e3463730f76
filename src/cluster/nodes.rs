//! Who is in the cluster: every node appends a heartbeat to the nodes log (keyed by its
//! id, so compaction keeps the latest) every [`HEARTBEAT`], and reads everyone's.
//!
//! A node whose last heartbeat is older than [`DOWN_AFTER`] is `down`; one that stopped
//! gracefully said so in its last heartbeat. Heartbeats also carry FLUSH across the
//! cluster: a node asks by numbering a request in its heartbeat, every node (itself too)
//! flushes its pipelines when it reads it and says so in its own, and the asking node
//! waits until every node that is up has, then until every node has applied what they all
//! committed. `SHOW CLUSTER` and `sluice_catalog.cluster`
//! list [`Nodes::members`]. Started by the engine when it joins a cluster.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::log::Log;
use super::{ClusterConfig, now_ms};
use crate::error::{Error, Result};

/// How often a node says it is alive.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long without a heartbeat until a node counts as down (as long as the view group
/// keeps a silent member, see `super::owners`).
pub(crate) const DOWN_AFTER: Duration = Duration::from_secs(6);
/// Pause after an error reading heartbeats.
const ERROR_PAUSE: Duration = Duration::from_millis(20);
/// How often a node waiting for a cluster-wide FLUSH looks at the heartbeats.
const FLUSH_POLL: Duration = Duration::from_millis(20);

/// What a node says about itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Heartbeat {
    /// Its id.
    pub node: String,
    /// Where clients reach it.
    pub address: String,
    /// When it started (ms since the epoch).
    pub started: i64,
    /// When it sent this (ms since the epoch).
    pub at: i64,
    /// How many catalog commands it has applied.
    pub applied: i64,
    /// Pipelines it runs.
    pub pipelines: usize,
    /// It left the cluster gracefully.
    pub stopped: bool,
    /// Its latest request that every node flush (FLUSH on it), numbered from 1.
    #[serde(default)]
    pub flush: u64,
    /// Per node, the latest of its flush requests this node has carried out.
    #[serde(default)]
    pub flushed: BTreeMap<String, u64>,
    /// Per node, the latest of its flush requests after which this node has applied every
    /// view's changelog as far as the flush committed it.
    #[serde(default)]
    pub synced: BTreeMap<String, u64>,
    /// The views and sinks it runs.
    #[serde(default)]
    pub views: Vec<String>,
    /// Records its running views and sinks have yet to read from their sources (the sum
    /// of their Kafka partitions' lag), as of its last heartbeat.
    #[serde(default)]
    pub lag: i64,
    /// The views and sinks (shards) it ran throughout its latest flush: what that flush
    /// covered.
    #[serde(default)]
    pub flushed_runs: Vec<String>,
    /// When the view group last gave it views or took some away (ms since the epoch; 0:
    /// never).
    #[serde(default)]
    pub rebalanced: i64,
}

/// A node as `SHOW CLUSTER` lists it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// Its last heartbeat.
    pub heartbeat: Heartbeat,
    /// `up`, `down` or `stopped`.
    pub state: &'static str,
    /// This node.
    pub me: bool,
}

/// A node's request that every node flush: its id and the request's number.
pub(crate) type FlushRequest = (String, u64);

/// The membership of one cluster, seen from one node.
pub(crate) struct Nodes {
    log: Log,
    /// Where the flush requests of every node (this one too) go, to be carried out.
    requests: tokio::sync::mpsc::UnboundedSender<FlushRequest>,
    /// This node's heartbeat, as it will next be sent.
    mine: Mutex<Heartbeat>,
    /// The latest heartbeat of every node.
    seen: Mutex<BTreeMap<String, Heartbeat>>,
}

impl Nodes {
    /// Joins the membership of `config`'s cluster as node `node`: sends a first heartbeat,
    /// then one every [`HEARTBEAT`], and follows everyone's, handing each new flush request
    /// to `requests`.
    pub async fn join(
        config: &ClusterConfig,
        node: &str,
        requests: tokio::sync::mpsc::UnboundedSender<FlushRequest>,
    ) -> Result<Arc<Nodes>> {
        let log = Log::open(config, config.nodes_topic()).await?;
        let now = now_ms();
        let mine = Heartbeat {
            node: node.to_string(),
            address: config.address.clone(),
            started: now,
            at: now,
            ..Default::default()
        };
        let nodes = Arc::new(Nodes { log, requests, mine: Mutex::new(mine), seen: Mutex::new(BTreeMap::new()) });
        nodes.beat().await?;
        let reader = nodes.log.reader(0)?;
        let follower = Arc::downgrade(&nodes);
        tokio::spawn(async move {
            loop {
                let record = reader.next().await;
                let Some(nodes) = follower.upgrade() else { return };
                match record {
                    Ok(r) => nodes.saw(r.key, r.value.as_deref()),
                    // Each failed attempt while the brokers are away is an error; the next
                    // record comes when they are back.
                    Err(e) => {
                        debug!(error = %e, "cannot read heartbeats");
                        tokio::time::sleep(ERROR_PAUSE).await;
                    }
                }
            }
        });
        let beater = Arc::downgrade(&nodes);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                let Some(nodes) = beater.upgrade() else { return };
                if nodes.stopped() {
                    return;
                }
                if let Err(e) = nodes.beat().await {
                    warn!(error = %e, "cannot send a heartbeat");
                }
            }
        });
        Ok(nodes)
    }

    /// Changes what the next heartbeat says.
    pub fn update(&self, change: impl FnOnce(&mut Heartbeat)) {
        if let Ok(mut mine) = self.mine.lock() {
            change(&mut mine);
        }
    }

    /// Changes what this node's heartbeat says and sends it now.
    pub async fn announce(&self, change: impl FnOnce(&mut Heartbeat)) {
        self.update(change);
        if let Err(e) = self.beat().await {
            warn!(error = %e, "cannot send a heartbeat");
        }
    }

    /// The nodes up that run each view, as their heartbeats say.
    pub fn view_runners(&self) -> BTreeMap<String, Vec<String>> {
        self.runners(|h| &h.views)
    }

    /// Which nodes that are up covered each view and sink in their latest flush.
    pub fn flushed_runners(&self) -> BTreeMap<String, Vec<String>> {
        self.runners(|h| &h.flushed_runs)
    }

    fn runners(&self, runs: impl Fn(&Heartbeat) -> &Vec<String>) -> BTreeMap<String, Vec<String>> {
        let mut runners: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for member in self.members().into_iter().filter(|m| m.state == "up") {
            for view in runs(&member.heartbeat) {
                runners.entry(view.clone()).or_default().push(member.heartbeat.node.clone());
            }
        }
        runners
    }

    /// Says that this node leaves the cluster.
    pub async fn leave(&self) {
        self.update(|h| h.stopped = true);
        if let Err(e) = self.beat().await {
            warn!(error = %e, "cannot say goodbye to the cluster");
        }
    }

    /// Asks every node to flush (this one too) and returns the request's number: the
    /// clock in milliseconds (or one more than the last), so that numbers keep rising
    /// across this node's restarts and an answer to an earlier run's request never counts.
    pub async fn request_flush(&self) -> Result<u64> {
        let mut number = 0;
        self.update(|h| {
            h.flush = (h.flush + 1).max(now_ms() as u64);
            number = h.flush;
        });
        self.beat().await?;
        Ok(number)
    }

    /// Says that this node has carried out flush request `number` of `node`: flushed its
    /// pipelines, or (`synced`) also applied every view as far as all nodes flushed them.
    /// With `ran` (not `synced`): the views and sinks the flush covered.
    pub async fn flushed(&self, node: &str, number: u64, synced: bool, ran: Option<Vec<String>>) {
        self.update(|h| {
            let done = if synced { &mut h.synced } else { &mut h.flushed };
            let done = done.entry(node.to_string()).or_default();
            *done = (*done).max(number);
            if let Some(ran) = ran {
                h.flushed_runs = ran;
            }
        });
        if let Err(e) = self.beat().await {
            warn!(error = %e, "cannot say that a flush is done");
        }
    }

    /// Waits until every node that is up has carried out flush request `number` of node
    /// `from` (`synced`: to the end, see [`Nodes::flushed`]); a node that goes down
    /// meanwhile is not waited for.
    pub async fn wait_flushed(&self, from: &str, number: u64, synced: bool) {
        loop {
            let done = self.members().iter().filter(|m| m.state == "up").all(|m| {
                let done = if synced { &m.heartbeat.synced } else { &m.heartbeat.flushed };
                done.get(from).is_some_and(|n| *n >= number)
            });
            if done {
                return;
            }
            tokio::time::sleep(FLUSH_POLL).await;
        }
    }

    /// Every node that ever sent a heartbeat, by id, with its state now.
    pub fn members(&self) -> Vec<Member> {
        let me = self.mine.lock().map(|h| h.clone()).unwrap_or_default();
        let mut seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        seen.insert(me.node.clone(), me.clone());
        let now = now_ms();
        seen.into_values()
            .map(|heartbeat| {
                let state = if heartbeat.stopped {
                    "stopped"
                } else if heartbeat.node != me.node && now - heartbeat.at > DOWN_AFTER.as_millis() as i64 {
                    "down"
                } else {
                    "up"
                };
                Member { me: heartbeat.node == me.node, heartbeat, state }
            })
            .collect()
    }

    fn stopped(&self) -> bool {
        self.mine.lock().map(|h| h.stopped).unwrap_or(true)
    }

    async fn beat(&self) -> Result<()> {
        let heartbeat = {
            let mut mine = self.mine.lock().map_err(|_| Error::Internal("heartbeat lock poisoned".into()))?;
            mine.at = now_ms();
            mine.clone()
        };
        let value = serde_json::to_vec(&heartbeat).map_err(|e| Error::Internal(format!("heartbeat: {e}")))?;
        self.log.append(&heartbeat.node, Some(&value)).await.map(|_| ())
    }

    fn saw(&self, node: String, value: Option<&[u8]>) {
        let Ok(mut seen) = self.seen.lock() else { return };
        match value.map(serde_json::from_slice::<Heartbeat>) {
            Some(Ok(heartbeat)) => {
                let before = seen.get(&node).map_or(0, |h| h.flush);
                if heartbeat.flush > before && !heartbeat.stopped {
                    let _ = self.requests.send((node.clone(), heartbeat.flush));
                }
                seen.insert(node, heartbeat);
            }
            Some(Err(e)) => warn!(node, error = %e, "a heartbeat that does not decode"),
            None => {
                seen.remove(&node);
            }
        }
    }
}
