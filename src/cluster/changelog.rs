//! A view's changelog topic: where the node that runs a view commits its checkpoints, and
//! from which every node (that one too) applies them to its own store.
//!
//! ```text
//!   owner: Materialize ─ checkpoint ─▶ ChangelogWriter ─ one Kafka transaction ─▶ _sluice-<name>-changelog-<id>
//!                                                                                   │ read_committed
//!   every node: Replica (super::replica) ─ a checkpoint's writes, one atomic commit ◀─┘ ─▶ store, subscribers
//! ```
//!
//! A checkpoint is one transaction: each of its store writes as a record (keyed by the store
//! key, so compaction keeps each key's latest value and the topic stays the size of the
//! view's state), then a commit marker carrying its epoch, the writer's token and the rows
//! for subscribers. A value larger than [`CHUNK`] is split over several records whose keys
//! number the parts, so no record outgrows the broker's limit; when a value shrinks or is
//! deleted, its parts beyond the new count get tombstones too.
//!
//! A view run as shards (one per partition of its Kafka stream) has one changelog
//! partition per shard, each written by the node running that shard. The transactional id
//! is the view's topic and partition, so a node that takes a shard over fences the one that
//! ran it before (its open transaction is aborted); it then commits a marker of its own and
//! waits until its replica has applied it, which means that it holds everything committed
//! before. Called by the engine when this node is given a view (`engine/cluster.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use tracing::{debug, info, warn};

use super::ClusterConfig;
use super::replica::Replica;
use crate::dataflow::Outgoing;
use crate::dataflow::materialize::CheckpointLog;
use crate::error::{Error, Result, lowercase_first};
use crate::state::{Store, Write};

/// Bytes of a stored value one record carries at most (the broker's default limit is 1 MB).
pub(crate) const CHUNK: usize = 512 * 1024;
/// The store key of a checkpoint's commit marker (no store key space starts with '~').
pub(crate) const COMMIT_KEY: &[u8] = b"~commit";
/// The store key prefix of a node's sync probe (see [`Replica::sync`]).
pub(crate) const SYNC_PREFIX: &[u8] = b"~sync/";
/// How long a transaction may take before the broker aborts it.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a broker request of the writer may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a new owner waits for its replica to catch up with the view's changelog.
const CATCH_UP: Duration = Duration::from_secs(300);
/// Pause before a checkpoint that could not be committed is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// Whether this node still holds a view (the view group has not taken it away).
pub(crate) type StillMine = Arc<dyn Fn() -> bool + Send + Sync>;

/// The changelog topic of view or sink `id` in cluster `config`.
pub(crate) fn topic(config: &ClusterConfig, id: u64) -> String {
    format!("_sluice-{}-changelog-{id}", config.name)
}

/// The repartition topic of view `id` in cluster `config`: where its first stage's shards
/// send rows to its next stage's (see `crate::connector::repartition`).
pub(crate) fn repartition_topic(config: &ClusterConfig, id: u64) -> String {
    format!("_sluice-{}-repartition-{id}", config.name)
}

/// The default Kafka transactional id of sink `id` in cluster `config` (a shard of it
/// adds `.<shard>`).
pub(crate) fn sink_transactional_id(config: &ClusterConfig, id: u64) -> String {
    format!("_sluice-{}-sink-{id}", config.name)
}

/// The view or sink a changelog topic of cluster `config` belongs to.
pub(crate) fn object_of(config: &ClusterConfig, topic: &str) -> Option<u64> {
    topic.strip_prefix(&format!("_sluice-{}-changelog-", config.name))?.parse().ok()
}

/// A record of a changelog: its key, and its value (None: a tombstone).
pub(crate) type KafkaRecord = (Vec<u8>, Option<Vec<u8>>);

/// The Kafka key of part `part` of store key `key`.
fn record_key(key: &[u8], part: u16) -> Vec<u8> {
    let mut bytes = part.to_be_bytes().to_vec();
    bytes.extend_from_slice(key);
    bytes
}

/// How many records a value of `len` bytes takes.
fn parts(len: usize) -> usize {
    len.div_ceil(CHUNK).max(1)
}

/// The records (Kafka key, value; None a tombstone) that write `value` (None: delete) under
/// store key `key`, whose value so far took `old_len` bytes (None: it has none).
pub(crate) fn records(key: &[u8], value: Option<&[u8]>, old_len: Option<usize>) -> Result<Vec<KafkaRecord>> {
    let new_parts = value.map_or(0, |v| parts(v.len()));
    let old_parts = old_len.map_or(0, parts);
    let count = u16::try_from(new_parts).map_err(|_| {
        Error::Internal(format!("a state value of {} bytes is too large", value.map_or(0, <[u8]>::len)))
    })?;
    let mut out = Vec::with_capacity(new_parts.max(old_parts).max(1));
    match value {
        Some(value) => {
            for (i, chunk) in value.chunks(CHUNK).enumerate() {
                let mut bytes = Vec::with_capacity(chunk.len() + 2);
                if i == 0 {
                    bytes.extend_from_slice(&count.to_be_bytes());
                }
                bytes.extend_from_slice(chunk);
                out.push((record_key(key, i as u16), Some(bytes)));
            }
            if value.is_empty() {
                out.push((record_key(key, 0), Some(count.to_be_bytes().to_vec())));
            }
        }
        None => out.push((record_key(key, 0), None)),
    }
    for part in new_parts.max(1)..old_parts {
        out.push((record_key(key, part as u16), None));
    }
    Ok(out)
}

/// Puts a value's records back together, record by record, in the order of one partition.
/// Parts that do not follow their first one (left by compaction from an older, longer
/// value) are passed over.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    /// A value whose later parts are still to come: key, parts in all, next part, bytes.
    pending: Option<(Vec<u8>, u16, u16, Vec<u8>)>,
}

impl Assembler {
    /// Takes one record; returns the write it completes, if any.
    pub fn push(&mut self, record_key: &[u8], value: Option<&[u8]>) -> Option<Write> {
        let (part, key) = record_key.split_first_chunk::<2>()?;
        let part = u16::from_be_bytes(*part);
        match (part, value) {
            (0, None) => Some((key.to_vec(), None)),
            (0, Some(value)) => {
                let (count, body) = value.split_first_chunk::<2>()?;
                let count = u16::from_be_bytes(*count);
                if count <= 1 {
                    return Some((key.to_vec(), Some(body.to_vec())));
                }
                self.pending = Some((key.to_vec(), count, 1, body.to_vec()));
                None
            }
            (_, None) => None,
            (part, Some(value)) => {
                let (pending_key, count, next, bytes) = self.pending.as_mut()?;
                if pending_key.as_slice() != key || *next != part {
                    return None;
                }
                bytes.extend_from_slice(value);
                *next += 1;
                if *next < *count {
                    return None;
                }
                let (key, _, _, bytes) = self.pending.take()?;
                Some((key, Some(bytes)))
            }
        }
    }
}

/// A checkpoint's commit marker: the writer's token, the epoch, the rows for subscribers.
pub(crate) struct Marker {
    /// Who wrote it (a node and its takeover).
    pub token: String,
    /// The checkpoint's number (0 for a takeover).
    pub epoch: u64,
    /// The rows committed, as Arrow IPC (empty if none).
    pub rows: Vec<u8>,
}

impl Marker {
    /// The value of the marker of checkpoint `epoch` by `token`, with `rows`.
    fn encode(token: &str, epoch: u64, rows: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(10 + token.len() + rows.len());
        bytes.extend_from_slice(&epoch.to_be_bytes());
        bytes.extend_from_slice(&(token.len() as u16).to_be_bytes());
        bytes.extend_from_slice(token.as_bytes());
        bytes.extend_from_slice(rows);
        bytes
    }

    /// Decodes a marker's value (None if damaged).
    pub fn decode(bytes: &[u8]) -> Option<Marker> {
        let (epoch, rest) = bytes.split_first_chunk::<8>()?;
        let (len, rest) = rest.split_first_chunk::<2>()?;
        let len = u16::from_be_bytes(*len) as usize;
        let token = String::from_utf8(rest.get(..len)?.to_vec()).ok()?;
        Some(Marker { token, epoch: u64::from_be_bytes(*epoch), rows: rest.get(len..)?.to_vec() })
    }
}

/// Commits one view's checkpoints to its changelog topic, as the only node that may.
pub(crate) struct ChangelogWriter {
    /// The view or sink.
    id: u64,
    topic: String,
    /// The partition: the shard of the view this writer commits.
    partition: i32,
    view: String,
    config: ClusterConfig,
    producer: ThreadedProducer<DefaultProducerContext>,
    store: Store,
    token: String,
    replica: Arc<Replica>,
    still_mine: StillMine,
}

impl ChangelogWriter {
    /// Takes shard `partition` of view `view` (`id`) over on this node: fences whoever
    /// wrote that partition of its changelog before and returns once `replica` holds all
    /// they committed. Blocking.
    pub fn take_over(
        config: &ClusterConfig,
        (id, partition, view): (u64, i32, &str),
        token: String,
        (store, replica): (Store, Arc<Replica>),
        still_mine: StillMine,
    ) -> Result<ChangelogWriter> {
        let topic = topic(config, id);
        let producer = transactional(config, &topic, partition)?;
        let view = view.to_string();
        let config = config.clone();
        let mut writer =
            ChangelogWriter { id, topic, partition, view, config, producer, store, token, replica, still_mine };
        writer.producer.init_transactions(REQUEST_TIMEOUT).map_err(|e| writer.failed(e))?;
        writer.transaction(0, (&[], &[]), &[], CATCH_UP)?;
        Ok(writer)
    }

    /// A new producer in place of one that failed (the brokers were away), provided the
    /// view is still this node's: it fences the old one, whatever it left open.
    fn reopen(&mut self) -> Result<()> {
        if !(self.still_mine)() {
            return Err(moved(&self.view));
        }
        self.producer = transactional(&self.config, &self.topic, self.partition)?;
        self.producer.init_transactions(REQUEST_TIMEOUT).map_err(|e| self.failed(e))
    }

    /// Commits `writes` and a marker for `epoch` with `rows`, and the `outgoing` records to
    /// the view's repartition topic, in one transaction, then waits up to `wait` until this
    /// node's replica has applied it.
    fn transaction(
        &mut self,
        epoch: u64,
        (writes, outgoing): (&[Write], &[Outgoing]),
        rows: &[u8],
        wait: Duration,
    ) -> Result<()> {
        self.producer.begin_transaction().map_err(|e| self.failed(e))?;
        let sent = self.send_out(outgoing).and_then(|()| self.send_all(epoch, writes, rows));
        if let Err(e) = sent {
            let _ = self.producer.abort_transaction(REQUEST_TIMEOUT);
            return Err(e);
        }
        if let Err(e) = self.producer.commit_transaction(REQUEST_TIMEOUT) {
            let _ = self.producer.abort_transaction(REQUEST_TIMEOUT);
            return Err(self.failed(e));
        }
        self.replica.wait_applied((&self.topic, self.partition), &self.token, epoch, wait)
    }

    fn send_all(&self, epoch: u64, writes: &[Write], rows: &[u8]) -> Result<()> {
        for (key, value) in writes {
            let old = self.store.value_len(key)?;
            for (k, v) in records(key, value.as_deref(), old)? {
                self.send(&k, v.as_deref())?;
            }
        }
        let marker = Marker::encode(&self.token, epoch, rows);
        for (k, v) in records(COMMIT_KEY, Some(&marker), None)? {
            self.send(&k, v.as_deref())?;
        }
        Ok(())
    }

    /// Queues the records for the view's next stage.
    fn send_out(&self, outgoing: &[Outgoing]) -> Result<()> {
        if outgoing.is_empty() {
            return Ok(());
        }
        let topic = repartition_topic(&self.config, self.id);
        for record in outgoing {
            let to = BaseRecord::<[u8], [u8]>::to(&topic).key(&record.key).payload(&record.value);
            self.queue(to.partition(record.partition))?;
        }
        Ok(())
    }

    /// Queues one record, waiting while librdkafka's queue is full.
    fn send(&self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let mut record = BaseRecord::<[u8], [u8]>::to(&self.topic).key(key).partition(self.partition);
        if let Some(value) = value {
            record = record.payload(value);
        }
        self.queue(record)
    }

    /// Queues `record`, waiting while librdkafka's queue is full.
    fn queue(&self, mut record: BaseRecord<'_, [u8], [u8]>) -> Result<()> {
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(self.failed(e)),
            }
        }
    }

    /// The error for `e`: another node runs the view now (fenced), or the brokers failed.
    fn failed(&self, e: KafkaError) -> Error {
        let fenced = matches!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch)
        );
        if fenced {
            return moved(&self.view);
        }
        Error::Unreachable(format!(
            "cannot commit a checkpoint of materialized view \"{}\" to \"{}\": {}",
            self.view,
            self.topic,
            lowercase_first(&e.to_string())
        ))
    }
}

/// The error of a pipeline whose changelog another node writes now: it fails here, and
/// stands by once the group takes the view or sink away (or starts again, if the group
/// still gives it to this node: see `engine/cluster.rs`).
fn moved(name: &str) -> Error {
    Error::Connector(format!("\"{name}\" is run by another node now"))
}

/// Whether `e` is [`moved`]'s error, maybe as a pipeline's failure.
pub(crate) fn is_moved(e: &Error) -> bool {
    matches!(e, Error::Connector(m) if m.ends_with("is run by another node now"))
}

/// A transactional producer for partition `partition` of changelog `topic`, whose
/// transactional id names both, so that one writer per shard is fenced on takeover.
fn transactional(
    config: &ClusterConfig,
    topic: &str,
    partition: i32,
) -> Result<ThreadedProducer<DefaultProducerContext>> {
    config
        .client()
        .set("transactional.id", format!("{topic}.{partition}"))
        .set("transaction.timeout.ms", TRANSACTION_TIMEOUT.as_millis().to_string())
        .set("linger.ms", "1")
        .set("compression.type", "lz4")
        .create()
        .map_err(|e| Error::Config(format!("invalid kafka option for --cluster: {e}")))
}

impl CheckpointLog for ChangelogWriter {
    /// While the brokers are away the pipeline waits here, trying again every [`RETRY`]
    /// with a new producer, as long as the view is still this node's.
    fn commit(
        &mut self,
        epoch: u64,
        (writes, outgoing): (Vec<Write>, Vec<Outgoing>),
        rows: RecordBatch,
        stopping: &AtomicBool,
    ) -> Result<()> {
        let rows = if rows.num_rows() > 0 { crate::ipc::encode_batch(&rows)? } else { Vec::new() };
        let mut outage = false;
        loop {
            match self.transaction(epoch, (&writes, &outgoing), &rows, REQUEST_TIMEOUT) {
                Ok(()) if outage => {
                    info!(view = %self.view, epoch, "checkpoint committed to the cluster again");
                    return Ok(());
                }
                Ok(()) => return Ok(()),
                Err(e) if is_moved(&e) => return Err(e),
                Err(e) if !std::mem::replace(&mut outage, true) => {
                    warn!(view = %self.view, epoch, error = %e, "cannot commit a checkpoint to the cluster; retrying");
                }
                Err(_) => {}
            }
            std::thread::sleep(RETRY);
            if stopping.load(Ordering::Relaxed) {
                return Err(Error::Shutdown(format!("materialized view \"{}\" stopped", self.view)));
            }
            if let Err(e) = self.reopen() {
                if is_moved(&e) {
                    return Err(e);
                }
                debug!(view = %self.view, error = %e, "cannot reopen the changelog's producer");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(records: Vec<KafkaRecord>) -> Vec<Write> {
        let mut assembler = Assembler::default();
        records.iter().filter_map(|(k, v)| assembler.push(k, v.as_deref())).collect()
    }

    #[test]
    fn values_of_any_size_are_split_and_put_back_together() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7] {
            let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let split = records(b"vkey", Some(&value), None).unwrap();
            assert_eq!(split.len(), parts(len));
            assert_eq!(assemble(split), vec![(b"vkey".to_vec(), Some(value))]);
        }
    }

    #[test]
    fn a_shorter_value_or_a_delete_tombstones_the_old_parts() {
        let shorter = records(b"k", Some(b"ab"), Some(3 * CHUNK)).unwrap();
        let tombstones: Vec<u16> =
            shorter.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| u16::from_be_bytes([k[0], k[1]])).collect();
        assert_eq!(tombstones, vec![1, 2]);
        let deleted = records(b"k", None, Some(2 * CHUNK + 1)).unwrap();
        assert_eq!(deleted.iter().filter(|(_, v)| v.is_none()).count(), 3);
        assert_eq!(assemble(deleted), vec![(b"k".to_vec(), None)]);
    }

    #[test]
    fn parts_left_by_compaction_and_interleaved_probes_are_passed_over() {
        let long: Vec<u8> = vec![7; 2 * CHUNK + 1];
        let mut stream = vec![(record_key(b"k", 2), Some(vec![1, 2, 3]))]; // a stale part
        let mut fresh = records(b"k", Some(&long), None).unwrap();
        let probe = records(b"~sync/n", Some(b"1"), None).unwrap();
        fresh.insert(1, probe[0].clone());
        stream.extend(fresh);
        assert_eq!(assemble(stream), vec![(b"~sync/n".to_vec(), Some(b"1".to_vec())), (b"k".to_vec(), Some(long))]);
    }

    #[test]
    fn markers_round_trip() {
        let marker = Marker::encode("node/3", 42, &[1, 2]);
        let back = Marker::decode(&marker).unwrap();
        assert_eq!((back.token.as_str(), back.epoch, back.rows), ("node/3", 42, vec![1, 2]));
    }
}
