//! Which node runs which view: Kafka's group membership decides, with no coordinator of
//! Sluice's own.
//!
//! Every node joins the consumer group `sluice-<name>-views`, subscribed to the changelog
//! topics of every view it knows (see [`super::changelog`]). The partitions the group
//! assigns a node are the views it runs (cooperative-sticky: a rebalance moves only what it
//! must). The consumer reads nothing (its partitions are paused as soon as they are
//! assigned); it is there for its membership: a node that stops leaves the group at once,
//! one that dies is dropped after the session timeout, and either way its views are given
//! to the others. Each change goes to the engine (`engine/cluster.rs`) as an [`Ownership`]
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

/// A change in what this node runs: topics of views given to it, or taken from it.
#[derive(Debug)]
pub(crate) enum Ownership {
    /// Run these views now.
    Gained(Vec<String>),
    /// Stop running these views.
    Lost(Vec<String>),
}

/// Hands rebalances to the engine.
struct Context {
    events: UnboundedSender<Ownership>,
}

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let topics = topics(partitions);
            info!(views = ?topics, "views taken from this node");
            let _ = self.events.send(Ownership::Lost(topics));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            let _ = consumer.pause(partitions);
            let topics = topics(partitions);
            info!(views = ?topics, "views given to this node");
            let _ = self.events.send(Ownership::Gained(topics));
        }
    }
}

fn topics(partitions: &rdkafka::TopicPartitionList) -> Vec<String> {
    let topics: BTreeSet<String> = partitions.elements().iter().map(|e| e.topic().to_string()).collect();
    topics.into_iter().collect()
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

    /// Whether the group has given this node `topic` (and not taken it back).
    pub fn holds(&self, topic: &str) -> bool {
        self.consumer.assignment().is_ok_and(|a| a.elements().iter().any(|e| e.topic() == topic))
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
