//! An ordered log on Kafka: one topic of one partition, compacted, which every node reads
//! from its start. The cluster's catalog and its heartbeats are such logs.
//!
//! Appends wait for the broker's acknowledgement (all in-sync replicas, idempotent
//! producer), so the offset an append returns is the record's place in the order every
//! reader sees. Called by the engine's cluster node (`engine/cluster.rs`) and by
//! [`super::nodes`].

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

use super::ClusterConfig;
use crate::error::{Error, Result, lowercase_first};

/// How long an append or a broker request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A log topic and a producer appending to it.
pub(crate) struct Log {
    topic: String,
    config: ClusterConfig,
    producer: FutureProducer,
    /// Asks the broker for the log's end (kept: FLUSH asks on every node each time).
    offsets: Arc<BaseConsumer>,
}

/// One record read back.
pub(crate) struct Record {
    /// Its place in the log.
    pub offset: i64,
    /// Its key.
    pub key: String,
    /// Its value; None for a tombstone.
    pub value: Option<Vec<u8>>,
}

impl Log {
    /// Opens log `topic`, creating it (one partition, compacted) if it does not exist.
    pub async fn open(config: &ClusterConfig, topic: String) -> Result<Log> {
        create_topic(config, &topic, 1, true).await?;
        let producer = config
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("message.timeout.ms", REQUEST_TIMEOUT.as_millis().to_string())
            .create()
            .map_err(|e| Error::Config(format!("invalid kafka option for --cluster: {e}")))?;
        let offsets =
            config.client().create().map_err(|e| Error::Config(format!("invalid kafka option for --cluster: {e}")))?;
        Ok(Log { topic, config: config.clone(), producer, offsets: Arc::new(offsets) })
    }

    /// Appends a record and returns its offset once the broker has it; `value` None writes
    /// a tombstone.
    pub async fn append(&self, key: &str, value: Option<&[u8]>) -> Result<i64> {
        let mut record = FutureRecord::<str, [u8]>::to(&self.topic).key(key).partition(0);
        if let Some(value) = value {
            record = record.payload(value);
        }
        match self.producer.send(record, Timeout::After(REQUEST_TIMEOUT)).await {
            Ok(delivery) => Ok(delivery.offset),
            Err((e, _)) => Err(self.unreachable("append to", &e.to_string())),
        }
    }

    /// A reader of the log from `offset` on.
    pub fn reader(&self, offset: i64) -> Result<Reader> {
        let consumer: StreamConsumer = self
            .config
            .client()
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            // Partitions are assigned, never subscribed, so the group only names the reader
            // to the broker: no membership, no committed offsets.
            .set("group.id", format!("sluice-{}-reader", self.config.name))
            .create()
            .map_err(|e| Error::Config(format!("invalid kafka option for --cluster: {e}")))?;
        let mut partitions = TopicPartitionList::new();
        partitions
            .add_partition_offset(&self.topic, 0, Offset::Offset(offset))
            .map_err(|e| Error::Internal(format!("cannot assign the log topic: {e}")))?;
        consumer.assign(&partitions).map_err(|e| self.unreachable("read", &e.to_string()))?;
        Ok(Reader { consumer, topic: self.topic.clone() })
    }

    /// The offset the next record will have: where a reader from the start has read all.
    pub async fn end(&self) -> Result<i64> {
        let (offsets, topic) = (self.offsets.clone(), self.topic.clone());
        let fetched = tokio::task::spawn_blocking(move || {
            offsets.fetch_watermarks(&topic, 0, REQUEST_TIMEOUT).map(|(_, high)| high)
        })
        .await
        .map_err(|e| Error::Internal(format!("cannot read the log's end: {e}")))?;
        fetched.map_err(|e| self.unreachable("read the end of", &e.to_string()))
    }

    fn unreachable(&self, what: &str, error: &str) -> Error {
        Error::Unreachable(format!(
            "cannot {what} the cluster topic \"{}\" at \"{}\": {}",
            self.topic,
            self.config.servers,
            lowercase_first(error)
        ))
    }
}

/// Reads a log in order.
pub(crate) struct Reader {
    consumer: StreamConsumer,
    topic: String,
}

impl Reader {
    /// The next record; waits for one. An error is transient (the broker is away): the
    /// caller retries.
    pub async fn next(&self) -> Result<Record> {
        let message = self.consumer.recv().await.map_err(|e| {
            Error::Unreachable(format!(
                "cannot read the cluster topic \"{}\": {}",
                self.topic,
                lowercase_first(&e.to_string())
            ))
        })?;
        let key = message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
        Ok(Record { offset: message.offset(), key, value: message.payload().map(<[u8]>::to_vec) })
    }
}

/// Creates `topic` with `partitions` partitions, compacted (else deleting old records),
/// unless it exists.
pub(crate) async fn create_topic(
    config: &ClusterConfig,
    topic: &str,
    partitions: usize,
    compacted: bool,
) -> Result<()> {
    let count = i32::try_from(partitions.max(1)).unwrap_or(i32::MAX);
    let policy = if compacted { "compact" } else { "delete" };
    let new =
        NewTopic::new(topic, count, TopicReplication::Fixed(config.replication_factor)).set("cleanup.policy", policy);
    let (admin, options) = admin(config)?;
    let results = admin.create_topics([&new], &options).await;
    checked(config, "create", topic, results, &[RDKafkaErrorCode::TopicAlreadyExists])
}

/// How many partitions `topic` has (it exists). Blocking.
pub(crate) fn partition_count(config: &ClusterConfig, topic: &str) -> Result<usize> {
    let consumer: BaseConsumer =
        config.client().create().map_err(|e| Error::Config(format!("invalid kafka option for --cluster: {e}")))?;
    let metadata = consumer.fetch_metadata(Some(topic), REQUEST_TIMEOUT).map_err(|e| {
        Error::Unreachable(format!("cannot read the cluster topic \"{topic}\": {}", lowercase_first(&e.to_string())))
    })?;
    match metadata.topics().first() {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => Ok(t.partitions().len()),
        _ => Err(Error::Unreachable(format!("the cluster topic \"{topic}\" has no partitions yet"))),
    }
}

/// Deletes `topic`; one that does not exist (another node deleted it) is no error.
pub(crate) async fn delete_topic(config: &ClusterConfig, topic: &str) -> Result<()> {
    let (admin, options) = admin(config)?;
    let results = admin.delete_topics(&[topic], &options).await;
    let gone = [RDKafkaErrorCode::UnknownTopicOrPartition, RDKafkaErrorCode::UnknownTopic];
    checked(config, "delete", topic, results, &gone)
}

/// An admin client for the cluster's brokers, and the options of its requests.
fn admin(config: &ClusterConfig) -> Result<(AdminClient<DefaultClientContext>, AdminOptions)> {
    let admin =
        config.client().create().map_err(|e| Error::Config(format!("invalid kafka option for --cluster: {e}")))?;
    let options = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT)).operation_timeout(Some(REQUEST_TIMEOUT));
    Ok((admin, options))
}

/// The outcome of an admin request to `verb` `topic`: the codes in `fine` are no error.
fn checked(
    config: &ClusterConfig,
    verb: &str,
    topic: &str,
    results: rdkafka::error::KafkaResult<Vec<rdkafka::admin::TopicResult>>,
    fine: &[RDKafkaErrorCode],
) -> Result<()> {
    let unreachable = |e: String| {
        Error::Unreachable(format!(
            "cannot {verb} the cluster topic \"{topic}\" at \"{}\": {}",
            config.servers,
            lowercase_first(&e)
        ))
    };
    for result in results.map_err(|e| unreachable(e.to_string()))? {
        match result {
            Ok(_) => {}
            Err((_, code)) if fine.contains(&code) => {}
            Err((_, code)) => return Err(unreachable(code.to_string())),
        }
    }
    Ok(())
}
