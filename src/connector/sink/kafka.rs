//! The Kafka sink: one message per record (a tombstone for a delete), exactly once by
//! default.
//!
//! `delivery = 'exactly-once'` (default) uses a transactional producer whose
//! `transactional.id` is stable per sink (per shard of a sink run as several), so a
//! restarted sink fences its predecessor and the broker aborts whatever that one left
//! open. Messages of an epoch are produced inside one transaction. Before the checkpoint commits, the epoch's records also go into the
//! checkpoint ("pending"); once it is durable, the transaction commits together with a
//! marker: the epoch number, committed as the offset of partition 0 in the consumer group
//! named like the transactional id. On restart, a pending epoch whose marker is missing is
//! produced again in a new transaction; one whose marker is there was delivered. A
//! `read_committed` consumer thus sees every record once, across crashes.
//!
//! `delivery = 'at-least-once'` (brokers without transactions) produces with idempotence
//! and waits for every acknowledgement before the checkpoint commits: nothing is lost, and
//! a crash between the two repeats the epoch's messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{Array, BinaryArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::info;

use super::{Entry, Record, SinkState, SinkWriter, WriterName};
use crate::connector::{Options, required};
use crate::error::{Error, Result, lowercase_first};
use crate::ipc::{decode_batch, encode_batch};

/// How long transactional calls may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long waiting for acknowledgements may take before the broker counts as unreachable.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the topic lookup at CREATE SINK may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// State key of the records of the last checkpointed epoch (exactly-once).
const PENDING: &[u8] = b"pending";

/// The `WITH (...)` options of a Kafka sink.
#[derive(Debug, Clone)]
pub struct KafkaSinkOptions {
    topic: String,
    servers: String,
    exactly_once: bool,
    transactional_id: Option<String>,
    properties: Vec<(String, String)>,
}

impl KafkaSinkOptions {
    /// Parses and checks the options.
    pub fn from_options(options: &Options) -> Result<KafkaSinkOptions> {
        let exactly_once = match options.get("delivery").map(|d| d.to_ascii_lowercase()).as_deref() {
            None | Some("exactly-once") | Some("exactly_once") => true,
            Some("at-least-once") | Some("at_least_once") => false,
            Some(other) => {
                return Err(Error::InvalidParameter(format!(
                    "invalid value for option \"delivery\": \"{other}\" (expected 'exactly-once' or 'at-least-once')"
                )));
            }
        };
        Ok(KafkaSinkOptions {
            topic: required(options, "topic")?.to_string(),
            servers: required(options, "bootstrap_servers")?.to_string(),
            exactly_once,
            transactional_id: options.get("transactional_id").cloned(),
            properties: crate::connector::kafka::properties(options),
        })
    }
}

/// Counts failed deliveries, which the next flush turns into an error.
#[derive(Debug, Default, Clone)]
struct DeliveryContext {
    failed: Arc<AtomicU64>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(e.to_string());
            }
        }
    }
}

/// Writes records to a topic; see the module docs.
pub struct KafkaSink {
    opts: KafkaSinkOptions,
    /// Transactional id and marker group.
    txn_id: String,
    /// Connected producer; `None` before the first call and after a reset.
    producer: Option<BaseProducer<DeliveryContext>>,
    context: DeliveryContext,
    marker: Option<BaseConsumer>,
    in_txn: bool,
    /// This epoch's records, kept until they are delivered (at-least-once) or checkpointed.
    epoch: Vec<Record>,
    /// How many of `epoch` the current producer has been given.
    sent: usize,
    /// Exactly-once: a checkpointed epoch whose transaction is not known to have committed.
    unconfirmed: Option<(u64, Vec<Record>)>,
    pending_key: Vec<u8>,
}

impl KafkaSink {
    /// The sink writer `name`; connects at its first write. A shard's transactional id is
    /// the sink's followed by `.<shard>`.
    pub fn new(name: WriterName, opts: KafkaSinkOptions) -> KafkaSink {
        let base = opts.transactional_id.clone().unwrap_or(name.transactional_id);
        let txn_id = match name.shard {
            Some(shard) => format!("{base}.{shard}"),
            None => base,
        };
        KafkaSink {
            opts,
            txn_id,
            producer: None,
            context: DeliveryContext::default(),
            marker: None,
            in_txn: false,
            epoch: Vec::new(),
            sent: 0,
            unconfirmed: None,
            pending_key: Vec::new(),
        }
    }

    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.opts.servers).set("client.id", "sluice");
        for (k, v) in &self.opts.properties {
            config.set(k, v);
        }
        config
    }

    fn producer(&self) -> Result<&BaseProducer<DeliveryContext>> {
        self.producer.as_ref().ok_or_else(|| Error::Internal("kafka sink used before it connected".into()))
    }

    /// A failure talking to the broker: transient, so the sink retries, unless librdkafka
    /// calls it fatal (a fenced producer) or the broker has no transactions.
    fn kafka(&self, what: &str, e: KafkaError) -> Error {
        let message = format!("kafka sink \"{}\": {what}: {e}", self.opts.topic);
        match &e {
            KafkaError::Transaction(t)
                if t.is_fatal()
                    || matches!(
                        t.code(),
                        RDKafkaErrorCode::UnsupportedFeature | RDKafkaErrorCode::UnsupportedVersion
                    ) =>
            {
                Error::Connector(format!("{message} (use delivery = 'at-least-once' for brokers without transactions)"))
            }
            _ => Error::Unreachable(message),
        }
    }

    /// Connects if needed: a producer (with transactions, fencing any predecessor), then
    /// the unconfirmed epoch finished. Afterwards nothing of `epoch` has been sent.
    fn ready(&mut self) -> Result<()> {
        if self.producer.is_some() {
            return Ok(());
        }
        self.connect()?;
        if let Some((epoch, records)) = self.unconfirmed.take()
            && let Err(e) = self.recover(epoch, &records)
        {
            self.unconfirmed = Some((epoch, records));
            return Err(e);
        }
        Ok(())
    }

    fn connect(&mut self) -> Result<()> {
        let mut config = self.config();
        config.set("enable.idempotence", "true").set("acks", "all").set("linger.ms", "5");
        if self.opts.exactly_once {
            config.set("transactional.id", &self.txn_id).set("transaction.timeout.ms", "60000");
        }
        let producer: BaseProducer<DeliveryContext> = config
            .create_with_context(self.context.clone())
            .map_err(|e| Error::InvalidParameter(format!("invalid kafka option: {e}")))?;
        if self.opts.exactly_once {
            producer.init_transactions(TIMEOUT).map_err(|e| self.kafka("cannot start transactions", e))?;
            let marker: BaseConsumer = self
                .config()
                .set("group.id", &self.txn_id)
                .set("enable.auto.commit", "false")
                .set("isolation.level", "read_committed")
                .create()
                .map_err(|e| Error::InvalidParameter(format!("invalid kafka option: {e}")))?;
            self.marker = Some(marker);
        }
        self.context.failed.store(0, Ordering::Relaxed);
        self.producer = Some(producer);
        self.sent = 0;
        Ok(())
    }

    /// Gives the producer the records of `epoch` it does not have yet (in a transaction).
    fn send_unsent(&mut self) -> Result<()> {
        if self.sent == self.epoch.len() {
            return Ok(());
        }
        if self.opts.exactly_once && !self.in_txn {
            self.producer()?.begin_transaction().map_err(|e| self.kafka("cannot begin transaction", e))?;
            self.in_txn = true;
        }
        for r in &self.epoch[self.sent..] {
            self.send(r)?;
        }
        self.sent = self.epoch.len();
        Ok(())
    }

    /// Sends one record, waiting for room in the local queue.
    fn send(&self, record: &Record) -> Result<()> {
        let producer = self.producer()?;
        loop {
            let mut msg: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.opts.topic);
            if let Some(key) = &record.key {
                msg = msg.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                msg = msg.payload(value.as_slice());
            }
            match producer.send(msg) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    producer.poll(Duration::from_millis(10))
                }
                Err((e, _)) => return Err(self.kafka("cannot produce", e)),
            }
        }
    }

    /// Waits for every acknowledgement; fails if any message could not be delivered.
    fn flush(&self) -> Result<()> {
        self.producer()?.flush(FLUSH_TIMEOUT).map_err(|e| self.kafka("cannot flush", e))?;
        let failed = self.context.failed.swap(0, Ordering::Relaxed);
        if failed > 0 {
            let last = self.context.last_error.lock().ok().and_then(|l| l.clone()).unwrap_or_default();
            return Err(Error::Unreachable(format!(
                "kafka sink \"{}\": {failed} messages could not be delivered: {last}",
                self.opts.topic
            )));
        }
        Ok(())
    }

    /// Commits the open transaction with the marker of `epoch`.
    fn commit(&mut self, epoch: u64) -> Result<()> {
        let marker = self.marker.as_ref().ok_or_else(|| Error::Internal("marker consumer missing".into()))?;
        let metadata = marker.group_metadata().ok_or_else(|| Error::Internal("marker group missing".into()))?;
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&self.opts.topic, 0, Offset::Offset(epoch as i64))
            .map_err(|e| self.kafka("marker", e))?;
        let producer = self.producer()?;
        producer.send_offsets_to_transaction(&offsets, &metadata, TIMEOUT).map_err(|e| self.kafka("marker", e))?;
        producer.commit_transaction(TIMEOUT).map_err(|e| self.kafka("cannot commit transaction", e))?;
        self.in_txn = false;
        Ok(())
    }

    /// The last epoch whose transaction committed.
    fn delivered_epoch(&self) -> Result<Option<u64>> {
        let marker = self.marker.as_ref().ok_or_else(|| Error::Internal("marker consumer missing".into()))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.opts.topic, 0);
        let committed = marker.committed_offsets(tpl, TIMEOUT).map_err(|e| self.kafka("cannot read marker", e))?;
        Ok(committed.elements().first().and_then(|e| match e.offset() {
            Offset::Offset(o) if o >= 0 => Some(o as u64),
            _ => None,
        }))
    }

    /// Produces a checkpointed epoch again unless its transaction committed.
    fn recover(&mut self, epoch: u64, records: &[Record]) -> Result<()> {
        if self.delivered_epoch()?.is_some_and(|done| done >= epoch) {
            return Ok(());
        }
        info!(topic = %self.opts.topic, epoch, records = records.len(), "re-delivering a checkpointed epoch");
        self.producer()?.begin_transaction().map_err(|e| self.kafka("cannot begin transaction", e))?;
        self.in_txn = true;
        for r in records {
            self.send(r)?;
        }
        self.flush()?;
        self.commit(epoch)
    }
}

impl SinkWriter for KafkaSink {
    fn open(&mut self, state: &dyn SinkState) -> Result<()> {
        self.pending_key = state.key(PENDING);
        if let (true, Some(saved)) = (self.opts.exactly_once, state.get(PENDING)?) {
            self.unconfirmed = Some(decode_pending(&saved)?);
        }
        Ok(())
    }

    fn write(&mut self, records: Vec<Record>) -> Result<()> {
        self.epoch.extend(records);
        self.ready()?;
        self.send_unsent()
    }

    fn reset(&mut self) {
        self.producer = None;
        self.marker = None;
        self.in_txn = false;
        self.sent = 0;
    }

    fn prepare(&mut self, epoch: u64, writes: &mut Vec<Entry>) -> Result<()> {
        if self.epoch.is_empty() && self.unconfirmed.is_none() {
            if self.opts.exactly_once {
                writes.push((self.pending_key.clone(), None));
            }
            return Ok(());
        }
        self.ready()?;
        self.send_unsent()?;
        self.flush()?;
        if self.opts.exactly_once {
            let pending = if self.epoch.is_empty() { None } else { Some(encode_pending(epoch, &self.epoch)?) };
            writes.push((self.pending_key.clone(), pending));
        } else {
            // Acknowledged: at least once is done.
            self.epoch.clear();
            self.sent = 0;
        }
        Ok(())
    }

    fn committed(&mut self, epoch: u64) -> Result<()> {
        if !self.opts.exactly_once {
            return Ok(());
        }
        if !self.epoch.is_empty() {
            // Checkpointed: from now on a retry re-delivers it unless its transaction committed.
            self.unconfirmed = Some((epoch, std::mem::take(&mut self.epoch)));
            self.sent = 0;
        }
        let Some((unconfirmed, _)) = &self.unconfirmed else { return Ok(()) };
        let unconfirmed = *unconfirmed;
        // After a reset this reconnects and finishes the epoch itself.
        self.ready()?;
        if self.in_txn && self.unconfirmed.is_some() {
            self.commit(unconfirmed)?;
        }
        self.unconfirmed = None;
        Ok(())
    }

    fn target(&self) -> String {
        format!("{}/{}", self.opts.servers, self.opts.topic)
    }
}

/// Checks at CREATE SINK that the topic exists. Blocks for up to a few seconds.
pub fn check(options: &Options) -> Result<()> {
    let opts = KafkaSinkOptions::from_options(options)?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &opts.servers)
        .create()
        .map_err(|e| Error::InvalidParameter(format!("invalid kafka option: {e}")))?;
    let metadata = consumer.fetch_metadata(Some(&opts.topic), CHECK_TIMEOUT).map_err(|e| {
        Error::Unreachable(format!("cannot reach kafka at \"{}\": {}", opts.servers, lowercase_first(&e.to_string())))
    })?;
    match metadata.topics().iter().find(|t| t.name() == opts.topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(()),
        _ => Err(Error::UndefinedObject(format!("kafka topic \"{}\" does not exist", opts.topic))),
    }
}

fn pending_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new("key", DataType::Binary, true), Field::new("value", DataType::Binary, true)]))
}

/// The checkpoint form of an epoch's records: the epoch, then an IPC batch.
fn encode_pending(epoch: u64, records: &[Record]) -> Result<Vec<u8>> {
    let keys: BinaryArray = records.iter().map(|r| r.key.as_deref()).collect();
    let values: BinaryArray = records.iter().map(|r| r.value.as_deref()).collect();
    let batch = RecordBatch::try_new(pending_schema(), vec![Arc::new(keys), Arc::new(values)])?;
    let mut out = epoch.to_be_bytes().to_vec();
    out.extend(encode_batch(&batch)?);
    Ok(out)
}

fn decode_pending(bytes: &[u8]) -> Result<(u64, Vec<Record>)> {
    let bad = || Error::Internal("bad kafka sink state".into());
    let (head, rest) = bytes.split_at_checked(8).ok_or_else(bad)?;
    let epoch = u64::from_be_bytes(head.try_into().map_err(|_| bad())?);
    let batch = decode_batch(rest)?;
    let (keys, values) = (batch.column(0), batch.column(1));
    let (keys, values) = (
        keys.as_any().downcast_ref::<BinaryArray>().ok_or_else(bad)?,
        values.as_any().downcast_ref::<BinaryArray>().ok_or_else(bad)?,
    );
    let records = (0..batch.num_rows())
        .map(|i| Record {
            key: keys.is_valid(i).then(|| keys.value(i).to_vec()),
            value: values.is_valid(i).then(|| values.value(i).to_vec()),
        })
        .collect();
    Ok((epoch, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_records_round_trip() {
        let records = vec![
            Record { key: Some(b"k".to_vec()), value: Some(b"{}".to_vec()) },
            Record { key: Some(b"gone".to_vec()), value: None },
            Record { key: None, value: Some(b"x".to_vec()) },
        ];
        assert_eq!(decode_pending(&encode_pending(7, &records).unwrap()).unwrap(), (7, records));
    }
}
