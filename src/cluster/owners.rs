//! Which node runs which view: Kafka's group membership decides, with no coordinator of
//! Sluice's own.
//!
//! Every node joins the consumer group `sluice-<name>-views`, subscribed to the changelog
//! topics of every view it knows (see [`super::changelog`]). The partitions the group
//! assigns a node are the views it runs, one partition per shard of a view that runs as
//! several (cooperative-sticky: a rebalance moves only what it must). The consumer reads
//! nothing (its partitions are paused as soon as they are assigned); it is there for its
//! membership: a node that stops leaves the group at once, one that dies is dropped after
//! the session timeout, and either way its shards are given to the others. Each change goes to the engine (`engine/cluster.rs`) as an [`Ownership`]
//! event, which starts or stops the pipelines.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info};

use super::ClusterConfig;
use crate::error::{Error, Result};

/// How long a node that stopped answering stays in the group (the broker's lowest default).
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// How long leaving the group may take at shutdown.
const LEAVE: Duration = Duration::from_secs(5);
/// How often the group's thread polls (and so serves rebalances).
const POLL: Duration = Duration::from_millis(100);
/// How long a rebalance waits for this node to stop the shards taken from it.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// A changelog partition: one shard of a view or sink (the only one, for most).
pub(crate) type Shard = (String, i32);

/// A change in what this node runs: shards of views given to it, or taken from it.
#[derive(Debug)]
pub(crate) enum Ownership {
    /// Run these shards now.
    Gained(Vec<Shard>),
    /// Stop running these shards, and say so: the group hands them on once this node has
    /// (or after [`RELEASE_WAIT`]), so their next node rarely has to fence this one.
    Lost(Vec<Shard>, std::sync::mpsc::Sender<()>),
}

/// Hands rebalances to the engine.
struct Context {
    events: UnboundedSender<Ownership>,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let shards = shards(partitions);
            info!(shards = ?shards, "shards of views taken from this node");
            let (released, wait) = std::sync::mpsc::channel();
            if self.events.send(Ownership::Lost(shards, released)).is_ok() && wait.recv_timeout(RELEASE_WAIT).is_err() {
                debug!("shards not released in time; the group hands them on anyway");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            let _ = consumer.pause(partitions);
            let shards = shards(partitions);
            info!(shards = ?shards, "shards of views given to this node");
            let _ = self.events.send(Ownership::Gained(shards));
        }
    }
}

fn shards(partitions: &rdkafka::TopicPartitionList) -> Vec<Shard> {
    let shards: BTreeSet<Shard> =
        partitions.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
    shards.into_iter().collect()
}

/// This node's membership in the group that shares the views.
pub(crate) struct Owners {
    consumer: Arc<BaseConsumer<Context>>,
    topics: Mutex<BTreeSet<String>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Owners {
    /// Joins the group of cluster `config`; what it assigns goes to `events`.
    pub fn join(config: &ClusterConfig, events: UnboundedSender<Ownership>) -> Result<Owners> {
        let consumer: BaseConsumer<Context> = config
            .client()
            .set("group.id", format!("sluice-{}-views", config.name))
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", SESSION_TIMEOUT.as_millis().to_string())
            .set("heartbeat.interval.ms", "1000")
            .set("enable.auto.commit", "false")
            .set("topic.metadata.refresh.interval.ms", "1000")
            .create_with_context(Context { events })
            .map_err(|e| Error::Config(format!("invalid kafka option for --cluster: {e}")))?;
        let consumer = Arc::new(consumer);
        let stop = Arc::new(AtomicBool::new(false));
        let (polled, stopping) = (consumer.clone(), stop.clone());
        let thread = crate::runtime::spawn_thread("owners".into(), move || {
            while !stopping.load(Ordering::Relaxed) {
                if let Some(Err(e)) = polled.poll(POLL) {
                    debug!(error = %e, "view group");
                }
            }
        })?;
        Ok(Owners { consumer, topics: Mutex::default(), stop, thread: Mutex::new(Some(thread)) })
    }

    /// Offers view changelog `topic` to the group.
    pub fn add(&self, topic: &str) -> Result<()> {
        self.change(|t| {
            t.insert(topic.to_string());
        })
    }

    /// Whether the group has given this node partition `partition` of `topic` (and not
    /// taken it back).
    pub fn holds(&self, topic: &str, partition: i32) -> bool {
        let held = |a: rdkafka::TopicPartitionList| {
            a.elements().iter().any(|e| e.topic() == topic && e.partition() == partition)
        };
        self.consumer.assignment().is_ok_and(held)
    }

    /// The partitions of `topic` the group has given this node.
    pub fn held(&self, topic: &str) -> Vec<i32> {
        let Ok(assignment) = self.consumer.assignment() else { return Vec::new() };
        assignment.elements().iter().filter(|e| e.topic() == topic).map(|e| e.partition()).collect()
    }

    /// Withdraws `topic` from the group.
    pub fn remove(&self, topic: &str) -> Result<()> {
        self.change(|t| {
            t.remove(topic);
        })
    }

    fn change(&self, change: impl FnOnce(&mut BTreeSet<String>)) -> Result<()> {
        let mut topics = self.topics.lock().map_err(|_| Error::Internal("owners lock poisoned".into()))?;
        change(&mut topics);
        if topics.is_empty() {
            self.consumer.unsubscribe();
            return Ok(());
        }
        let list: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.consumer.subscribe(&list).map_err(|e| Error::Unreachable(format!("cannot join the view group: {e}")))
    }

    /// Leaves the group, so its views go to the other nodes at once.
    /// Blocking, for at most [`LEAVE`].
    pub fn leave(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
        if self.consumer.close_queue().is_ok() {
            let deadline = std::time::Instant::now() + LEAVE;
            while !self.consumer.closed() && std::time::Instant::now() < deadline {
                self.consumer.poll(POLL);
            }
        }
    }
}
