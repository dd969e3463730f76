//! This node's copy of every view: it reads the changelog topic of each view (see
//! [`super::changelog`]) and applies each committed checkpoint to the store in one atomic
//! commit, with the position after it, then hands its rows to the view's subscribers. So
//! every node answers queries and subscriptions about every view, whichever node runs it,
//! as of the last checkpoint it has applied (milliseconds behind the node that runs it).
//!
//! One consumer (isolation `read_committed`: aborted checkpoints are never seen) is
//! assigned every partition (every shard) of every followed topic and polled by a thread of its own. The node running a view
//! waits here until its own checkpoint is applied ([`Replica::wait_applied`]); FLUSH waits
//! until every topic is applied as far as it was written ([`Replica::sync`]). Started by the
//! engine when it joins a cluster; views are followed when created and left when dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, info, warn};

use super::ClusterConfig;
use super::changelog::{Assembler, COMMIT_KEY, Marker, SYNC_PREFIX, records};
use crate::dataflow::published::Published;
use crate::error::{Error, Result};
use crate::state::{Store, Write, space, state_prefix, view_prefix};

/// How long the reader waits for a record before it looks at what it follows again.
const POLL: Duration = Duration::from_millis(50);

/// A view this node keeps a copy of.
struct Followed {
    view: u64,
    published: Arc<Published>,
    /// The offset of the next record to apply (earlier ones are passed over).
    next: i64,
    assembler: Assembler,
    /// The writes of the checkpoint being read, until its marker.
    writes: Vec<Write>,
}

/// A partition of a changelog topic: one shard of a view.
type Part = (String, i32);

/// How far each partition is applied.
#[derive(Default)]
struct Progress {
    /// Per partition, the last marker applied: its writer's token and epoch.
    markers: HashMap<Part, (String, u64)>,
    /// Per partition, the last of this node's sync probes read.
    probes: HashMap<Part, u64>,
    /// Per partition, an error that stops it being applied.
    failed: HashMap<Part, String>,
}

/// This node's copy of every view's changelog.
pub(crate) struct Replica {
    node: String,
    store: Store,
    consumer: BaseConsumer,
    /// Writes this node's sync probes.
    probes: ThreadedProducer<DefaultProducerContext>,
    probe_number: AtomicU64,
    followed: Mutex<HashMap<Part, Followed>>,
    /// The followed topics changed: the consumer's assignment must follow.
    reassign: AtomicBool,
    progress: Mutex<Progress>,
    applied: Condvar,
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Replica {
    /// Starts this node's (`node`) copy of the views of cluster `config` in `store`.
    pub fn start(config: &ClusterConfig, node: &str, store: Store) -> Result<Arc<Replica>> {
        let invalid = |e: rdkafka::error::KafkaError| Error::Config(format!("invalid kafka option for --cluster: {e}"));
        let consumer: BaseConsumer = config
            .client()
            .set("group.id", format!("sluice-{}-replica", config.name))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "10")
            .create()
            .map_err(invalid)?;
        let probes =
            config.client().set("enable.idempotence", "true").set("linger.ms", "0").create().map_err(invalid)?;
        let replica = Arc::new(Replica {
            node: node.to_string(),
            store,
            consumer,
            probes,
            probe_number: AtomicU64::new(super::now_ms() as u64 * 1000),
            followed: Mutex::default(),
            reassign: AtomicBool::new(false),
            progress: Mutex::default(),
            applied: Condvar::new(),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        let reader = replica.clone();
        let thread = crate::runtime::spawn_thread("replica".into(), move || reader.run())?;
        *replica.thread.lock().map_err(|_| poisoned())? = Some(thread);
        Ok(replica)
    }

    /// Keeps a copy of view `view` from the `partitions` partitions of its changelog
    /// `topic`, continuing where this node left it (a view it never followed starts from
    /// nothing and reads the topic from its start), its rows committed under `published`.
    pub fn follow(&self, topic: &str, view: u64, partitions: usize, published: Arc<Published>) -> Result<()> {
        let mut positions = Vec::new();
        for partition in 0..partitions as i32 {
            positions.push(match self.store.get(&position_key(topic, partition))? {
                Some(bytes) => {
                    i64::from_be_bytes(bytes.try_into().map_err(|_| Error::Internal("bad position".into()))?)
                }
                None => -1,
            });
        }
        if positions.iter().all(|p| *p < 0) {
            self.store.remove_prefix(&view_prefix(view))?;
            self.store.remove_prefix(&state_prefix(view))?;
        }
        let mut followed = self.followed.lock().map_err(|_| poisoned())?;
        for (partition, next) in positions.into_iter().enumerate() {
            let (published, assembler, writes) = (published.clone(), Assembler::default(), Vec::new());
            let part = Followed { view, published, next: next.max(0), assembler, writes };
            followed.insert((topic.to_string(), partition as i32), part);
        }
        self.reassign.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Stops applying `topic` and forgets how far it was applied; once this returns
    /// nothing more is written for it.
    pub fn leave(&self, topic: &str) -> Result<()> {
        let parts: Vec<Part> = {
            let mut followed = self.followed.lock().map_err(|_| poisoned())?;
            let parts: Vec<Part> = followed.keys().filter(|(t, _)| t == topic).cloned().collect();
            for part in &parts {
                followed.remove(part);
            }
            parts
        };
        self.reassign.store(true, Ordering::Relaxed);
        self.store.commit(parts.iter().map(|(t, p)| (position_key(t, *p), None)).collect())?;
        self.note(|p| {
            for part in parts {
                p.markers.remove(&part);
                p.probes.insert(part, u64::MAX);
            }
        });
        Ok(())
    }

    /// Waits until the marker of `token`'s checkpoint `epoch` on partition `part` of a
    /// topic (or a later one of it) has been applied here.
    pub fn wait_applied(&self, (topic, partition): (&str, i32), token: &str, epoch: u64, wait: Duration) -> Result<()> {
        let part = (topic.to_string(), partition);
        self.wait(wait, |p| match (p.failed.get(&part), p.markers.get(&part)) {
            (Some(e), _) => Some(Err(Error::Internal(e.clone()))),
            (None, Some((t, e))) if t == token && *e >= epoch => Some(Ok(())),
            _ => None,
        })
        .map_err(|_| {
            Error::Unreachable(format!(
                "checkpoint {epoch} of \"{topic}\" (partition {partition}) was committed but not read back in time"
            ))
        })?
    }

    /// Waits until every followed topic is applied as far as it was written when this was
    /// called: writes a probe into each and waits until each has been read back.
    pub fn sync(&self, wait: Duration) -> Result<()> {
        let number = self.probe_number.fetch_add(1, Ordering::Relaxed);
        let parts: Vec<Part> = self.followed.lock().map_err(|_| poisoned())?.keys().cloned().collect();
        let key = [SYNC_PREFIX, self.node.as_bytes()].concat();
        for (topic, partition) in &parts {
            for (k, v) in records(&key, Some(&number.to_be_bytes()), None)? {
                let mut record = BaseRecord::<[u8], [u8]>::to(topic).key(&k).partition(*partition);
                if let Some(v) = &v {
                    record = record.payload(v);
                }
                self.probes.send(record).map_err(|(e, _)| unreachable_topic(topic, &e.to_string()))?;
            }
        }
        self.probes.flush(wait).map_err(|e| Error::Unreachable(format!("cannot write sync probes: {e}")))?;
        let deadline = Instant::now() + wait;
        for part in &parts {
            let left = deadline.saturating_duration_since(Instant::now());
            // A topic left or failed meanwhile counts as read.
            let done = self.wait(left, |p| {
                (p.failed.contains_key(part) || p.probes.get(part).is_some_and(|n| *n >= number)).then_some(())
            });
            let topic = &part.0;
            done.map_err(|_| Error::Unreachable(format!("the changelog \"{topic}\" was not read to its end in time")))?;
        }
        Ok(())
    }

    /// Stops reading.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }

    /// Waits up to `wait` until `done` says something about the progress.
    fn wait<T>(&self, wait: Duration, done: impl Fn(&Progress) -> Option<T>) -> std::result::Result<T, ()> {
        let deadline = Instant::now() + wait;
        let mut progress = self.progress.lock().map_err(|_| ())?;
        loop {
            if let Some(result) = done(&progress) {
                return Ok(result);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(());
            }
            progress = self.applied.wait_timeout(progress, left.min(POLL)).map_err(|_| ())?.0;
        }
    }

    fn run(&self) {
        while !self.stop.load(Ordering::Relaxed) {
            if self.reassign.swap(false, Ordering::Relaxed)
                && let Err(e) = self.assign()
            {
                warn!(error = %e, "cannot assign the views' changelogs");
                self.reassign.store(true, Ordering::Relaxed);
            }
            match self.consumer.poll(POLL) {
                Some(Ok(message)) => self.take(&message),
                Some(Err(e)) => debug!(error = %e, "cannot read the views' changelogs"),
                None => {}
            }
        }
    }

    /// Assigns the consumer every followed topic, each from the next offset to apply.
    fn assign(&self) -> Result<()> {
        let followed = self.followed.lock().map_err(|_| poisoned())?;
        let mut partitions = TopicPartitionList::new();
        for ((topic, partition), f) in followed.iter() {
            partitions
                .add_partition_offset(topic, *partition, Offset::Offset(f.next))
                .map_err(|e| Error::Internal(format!("cannot assign \"{topic}\": {e}")))?;
        }
        self.consumer.assign(&partitions).map_err(|e| Error::Unreachable(e.to_string()))
    }

    /// Takes one record of a changelog.
    fn take(&self, message: &BorrowedMessage<'_>) {
        let Ok(mut followed) = self.followed.lock() else { return };
        let (topic, part) = (message.topic(), (message.topic().to_string(), message.partition()));
        let Some(f) = followed.get_mut(&part) else { return };
        if message.offset() < f.next {
            return;
        }
        f.next = message.offset() + 1;
        let Some((key, value)) = f.assembler.push(message.key().unwrap_or_default(), message.payload()) else {
            return;
        };
        if key == COMMIT_KEY {
            let result = value.as_deref().and_then(Marker::decode).ok_or_else(|| {
                Error::Internal(format!("a damaged commit marker at offset {} of \"{topic}\"", message.offset()))
            });
            let result = result.and_then(|marker| self.apply(&part, f, marker));
            if let Err(e) = result {
                warn!(topic, partition = part.1, error = %e, "cannot apply a view's checkpoint; the view's copy stops here");
                followed.remove(&part);
                self.note(|p| {
                    p.failed.insert(part, e.to_string());
                });
            }
        } else if let Some(node) = key.strip_prefix(SYNC_PREFIX) {
            let number = value.as_deref().and_then(|v| v.try_into().ok()).map(u64::from_be_bytes);
            if node == self.node.as_bytes()
                && let Some(number) = number
            {
                self.note(|p| {
                    p.probes.insert(part, number);
                });
            }
        } else if key.first().is_some_and(|b| [space::VIEW, space::STATE].contains(b)) {
            f.writes.push((key, value));
        }
    }

    /// Applies the checkpoint `marker` ends: its writes and the position after it, in one
    /// commit under the view's lock, then its rows to the subscribers.
    fn apply(&self, part: &Part, f: &mut Followed, marker: Marker) -> Result<()> {
        let mut writes = std::mem::take(&mut f.writes);
        writes.push((position_key(&part.0, part.1), Some(f.next.to_be_bytes().to_vec())));
        let rows = if marker.rows.is_empty() {
            arrow::record_batch::RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()))
        } else {
            crate::ipc::decode_batch(&marker.rows)?
        };
        f.published.publish(|| self.store.commit(writes), rows)?;
        if marker.epoch == 0 {
            info!(view = f.view, shard = part.1, token = %marker.token, "a node took the view over");
        }
        self.note(|p| {
            p.markers.insert(part.clone(), (marker.token, marker.epoch));
        });
        Ok(())
    }

    fn note(&self, change: impl FnOnce(&mut MutexGuard<'_, Progress>)) {
        if let Ok(mut progress) = self.progress.lock() {
            change(&mut progress);
        }
        self.applied.notify_all();
    }
}

/// Where the offset after the last applied checkpoint of partition `partition` of `topic`
/// is kept (store metadata).
fn position_key(topic: &str, partition: i32) -> Vec<u8> {
    let mut key = vec![space::META];
    key.extend_from_slice(b"changelog/");
    key.extend_from_slice(topic.as_bytes());
    key.extend_from_slice(format!("/{partition}").as_bytes());
    key
}

fn unreachable_topic(topic: &str, error: &str) -> Error {
    Error::Unreachable(format!(
        "cannot write to the cluster topic \"{topic}\": {}",
        crate::error::lowercase_first(error)
    ))
}

fn poisoned() -> Error {
    Error::Internal("replica lock poisoned".into())
}
