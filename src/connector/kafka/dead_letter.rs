//! The dead-letter topic of a Kafka source: malformed messages forwarded as they were, with
//! the reason in a header.
//!
//! Used by the Kafka source (`super`) when a stream has `dead_letter_topic = '...'`. Each
//! rejected message is produced to that topic (same cluster, same key and value) with the
//! headers `sluice.error` (why it was rejected), `sluice.topic`, `sluice.partition` and
//! `sluice.offset`. Production is asynchronous; the source waits for the outstanding
//! messages at every checkpoint, so a message whose offset is checkpointed has been
//! delivered (at least once: a crash before the checkpoint forwards it again).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use tracing::{debug, warn};

use crate::error::{Error, Result};

/// How long a checkpoint waits for outstanding dead letters.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Counts failed deliveries.
#[derive(Clone, Default)]
struct Context {
    failed: Arc<AtomicU64>,
}

impl ClientContext for Context {}

impl ProducerContext for Context {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result
            && self.failed.fetch_add(1, Ordering::Relaxed) == 0
        {
            warn!(error = %e, "cannot deliver a message to the dead-letter topic");
        }
    }
}

/// A producer for one dead-letter topic.
pub(super) struct DeadLetters {
    topic: String,
    producer: ThreadedProducer<Context>,
    failed: Arc<AtomicU64>,
}

/// One rejected message.
pub(super) struct DeadLetter<'a> {
    pub(super) topic: &'a str,
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) key: Option<&'a [u8]>,
    pub(super) value: Option<&'a [u8]>,
    pub(super) reason: &'a str,
}

impl DeadLetters {
    /// A producer to `topic` with the source's client configuration.
    pub(super) fn new(topic: &str, config: &ClientConfig) -> Result<DeadLetters> {
        let mut config = config.clone();
        for consumer_only in
            ["group.id", "enable.auto.commit", "enable.auto.offset.store", "enable.partition.eof", "fetch.wait.max.ms"]
        {
            config.remove(consumer_only);
        }
        let context = Context::default();
        let failed = context.failed.clone();
        let producer = config
            .set("statistics.interval.ms", "0")
            .create_with_context(context)
            .map_err(|e| Error::InvalidParameter(format!("invalid kafka option: {e}")))?;
        Ok(DeadLetters { topic: topic.to_string(), producer, failed })
    }

    /// Forwards one message (asynchronously).
    pub(super) fn send(&self, letter: DeadLetter<'_>) {
        let (partition, offset) = (letter.partition.to_string(), letter.offset.to_string());
        let headers = OwnedHeaders::new()
            .insert(Header { key: "sluice.error", value: Some(letter.reason) })
            .insert(Header { key: "sluice.topic", value: Some(letter.topic) })
            .insert(Header { key: "sluice.partition", value: Some(&partition) })
            .insert(Header { key: "sluice.offset", value: Some(&offset) });
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic).headers(headers);
        if let Some(key) = letter.key {
            record = record.key(key);
        }
        if let Some(value) = letter.value {
            record = record.payload(value);
        }
        if let Err((e, _)) = self.producer.send(record) {
            self.failed.fetch_add(1, Ordering::Relaxed);
            warn!(error = %e, topic = %self.topic, "cannot queue a message for the dead-letter topic");
        }
    }

    /// Waits for the outstanding messages (at a checkpoint).
    pub(super) fn flush(&self) {
        if let Err(e) = self.producer.flush(FLUSH_TIMEOUT) {
            debug!(error = %e, "dead-letter flush timed out");
        }
    }
}
