//! The Kafka source: reads every partition of a topic with librdkafka and decodes each
//! message's value with the stream's format.
//!
//! Sluice assigns the partitions itself (no group rebalancing) and keeps the next offset of
//! each in its own checkpoint, atomically with the view's state, which is what makes a
//! restart exactly-once. The offsets are also committed to the consumer group `group_id`
//! at each checkpoint, for monitoring tools only. The broker may be down when a pipeline
//! starts or go away later: the reader then reports `Idle`, retries with backoff, shows
//! the state in `SHOW SOURCES`, and resumes from its offsets when the broker returns.
//!
//! Columns named `_key`, `_partition`, `_offset`, `_timestamp` and `_deleted` are filled
//! from the message's metadata instead of its value (see `records`); `_timestamp` can be
//! the event-time column, and `_deleted` turns tombstones into rows (how tables delete).
//! Malformed messages are counted, and forwarded to `dead_letter_topic` if there is one. Messages of one poll are grouped by partition, and each partition's
//! messages are decoded in one decoder call; the source stage tracks watermarks per
//! partition (the `split` of each batch).
//!
//! Created by `connector::open` for every view over a Kafka stream; polled by the view's
//! source thread. Options are checked, and the topic looked up, by [`check`] at CREATE.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

mod dead_letter;
mod records;
mod worker;

use self::dead_letter::{DeadLetter, DeadLetters};
use self::records::{Chunk, Columns, DecodedChunk, Keep, MetaColumn, ValueDecoder};
use self::worker::{DecodeWorker, MAX_IN_FLIGHT};
use super::avro::{self, AvroDecoder};
use super::format::{Format, LineDecoder};
use super::{BadRecord, Options, Poll, SourceReader, SourceStatus, SplitStatus, required};
use crate::error::{Error, Result, lowercase_first};

/// How long a metadata or offsets request may take before the broker counts as unreachable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// First wait after a failed connection attempt; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the reader looks for partitions added to the topic.
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);
/// Option prefix passed through to librdkafka (`properties.fetch.max.bytes = '...'`).
const PROPERTY_PREFIX: &str = "properties.";

/// The `properties.*` options of a Kafka source or sink, without the prefix.
pub(crate) fn properties(options: &Options) -> Vec<(String, String)> {
    (options.iter()).filter_map(|(k, v)| k.strip_prefix(PROPERTY_PREFIX).map(|k| (k.to_string(), v.clone()))).collect()
}

/// Where a new reader starts in a partition it has no checkpointed offset for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// The oldest retained message.
    Earliest,
    /// Only messages produced from now on.
    Latest,
    /// The offset committed by the consumer group (earliest if there is none).
    Group,
}

/// The `WITH (...)` options of a Kafka stream.
#[derive(Debug, Clone)]
pub struct KafkaOptions {
    /// The topic to read.
    pub topic: String,
    /// `bootstrap_servers`.
    pub servers: String,
    /// `startup`: earliest (default), latest or group.
    pub startup: Startup,
    /// `group_id`: the consumer group offsets are committed to (default `sluice`).
    pub group_id: String,
    /// `properties.*` options, passed to librdkafka as they are.
    pub properties: Vec<(String, String)>,
    /// `dead_letter_topic`: where malformed messages are forwarded.
    pub dead_letter_topic: Option<String>,
}

impl KafkaOptions {
    /// Parses and checks the options.
    pub fn from_options(options: &Options) -> Result<KafkaOptions> {
        let startup = match options.get("startup").map(|s| s.to_ascii_lowercase()).as_deref() {
            None | Some("earliest") => Startup::Earliest,
            Some("latest") => Startup::Latest,
            Some("group") => Startup::Group,
            Some(other) => {
                return Err(Error::InvalidParameter(format!(
                    "invalid value for option \"startup\": \"{other}\" (expected 'earliest', 'latest' or 'group')"
                )));
            }
        };
        Ok(KafkaOptions {
            topic: required(options, "topic")?.to_string(),
            servers: required(options, "bootstrap_servers")?.to_string(),
            startup,
            group_id: options.get("group_id").cloned().unwrap_or_else(|| "sluice".into()),
            properties: properties(options),
            dead_letter_topic: options.get("dead_letter_topic").cloned(),
        })
    }

    /// The consumer configuration.
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.servers)
            .set("group.id", &self.group_id)
            .set("client.id", "sluice")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("allow.auto.create.topics", "false")
            .set("statistics.interval.ms", "1000")
            .set("fetch.wait.max.ms", "100")
            .set_log_level(RDKafkaLogLevel::Warning);
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }
}

/// Checks a Kafka stream's options and schema, without contacting the broker.
pub fn check_options(options: &Options, schema: &SchemaRef) -> Result<()> {
    KafkaOptions::from_options(options)?;
    value_format(options)?;
    Columns::new(schema.clone()).map(|_| ())
}

/// How message values are encoded.
#[derive(Debug, Clone, PartialEq)]
enum ValueFormat {
    /// One JSON object or CSV row per value.
    Text(Format),
    /// Confluent-framed Avro, with writer schemas from the registry at this URL.
    Avro(String),
}

/// Checks that the topic exists, at CREATE time. Blocks for up to [`REQUEST_TIMEOUT`].
pub fn check(options: &Options, schema: &SchemaRef) -> Result<()> {
    check_options(options, schema)?;
    let opts = KafkaOptions::from_options(options)?;
    let consumer = metadata_consumer(&opts)?;
    partitions(&consumer, &opts.topic, &opts.servers)?;
    if let Some(topic) = &opts.dead_letter_topic {
        partitions(&consumer, topic, &opts.servers)?;
    }
    match value_format(options)? {
        ValueFormat::Avro(registry) => avro::check_registry(&registry),
        ValueFormat::Text(_) => Ok(()),
    }
}

/// How many partitions the stream's topic has now. Blocks for up to [`REQUEST_TIMEOUT`].
pub fn partition_count(options: &Options) -> Result<usize> {
    let opts = KafkaOptions::from_options(options)?;
    Ok(partitions(&metadata_consumer(&opts)?, &opts.topic, &opts.servers)?.len())
}

/// A consumer that only asks the brokers for metadata.
fn metadata_consumer(opts: &KafkaOptions) -> Result<BaseConsumer<Context>> {
    opts.client_config()
        .set("statistics.interval.ms", "0")
        .create_with_context(Context::default())
        .map_err(|e| Error::InvalidParameter(format!("invalid kafka option: {e}")))
}

/// The format of message values: json, csv (without a header line) or avro.
fn value_format(options: &Options) -> Result<ValueFormat> {
    if options.get("format").is_some_and(|f| f.eq_ignore_ascii_case("avro")) {
        let registry = options.get("schema_registry").ok_or_else(|| {
            Error::InvalidParameter("format 'avro' needs option \"schema_registry\" (the registry's URL)".into())
        })?;
        return Ok(ValueFormat::Avro(registry.clone()));
    }
    Ok(ValueFormat::Text(match Format::from_options(options)? {
        Format::Csv { delimiter, .. } => Format::Csv { header: false, delimiter },
        json => json,
    }))
}

/// The partitions of `topic`.
fn partitions(consumer: &BaseConsumer<Context>, topic: &str, servers: &str) -> Result<Vec<i32>> {
    let metadata = consumer.fetch_metadata(Some(topic), REQUEST_TIMEOUT).map_err(|e| {
        Error::Unreachable(format!("cannot reach kafka at \"{servers}\": {}", lowercase_first(&e.to_string())))
    })?;
    let name = topic;
    let topic = metadata.topics().iter().find(|t| t.name() == name);
    match topic {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
            Ok(t.partitions().iter().map(|p| p.id()).collect())
        }
        _ => Err(Error::UndefinedObject(format!("kafka topic \"{name}\" does not exist"))),
    }
}

/// What librdkafka tells us in callbacks, shared with the reader.
#[derive(Debug, Default)]
struct Shared {
    /// The last client-wide error, cleared when a broker is up again.
    error: Option<String>,
    /// High watermark per partition, from the statistics.
    high: BTreeMap<i32, i64>,
}

/// The librdkafka client context: routes logs to `tracing` and keeps errors and statistics.
#[derive(Debug, Default, Clone)]
struct Context {
    shared: Arc<Mutex<Shared>>,
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical => {
                warn!(facility, "librdkafka: {message}")
            }
            // Errors (connection failures, ...) also reach `error` below, which logs them once.
            _ => debug!(facility, "librdkafka: {message}"),
        }
    }

    fn stats(&self, statistics: Statistics) {
        let Ok(mut shared) = self.shared.lock() else { return };
        if statistics.brokers.values().any(|b| b.nodeid >= 0 && b.state == "UP") {
            shared.error = None;
        }
        for topic in statistics.topics.values() {
            for p in topic.partitions.values().filter(|p| p.partition >= 0 && p.hi_offset >= 0) {
                let high = shared.high.entry(p.partition).or_insert(p.hi_offset);
                *high = (*high).max(p.hi_offset);
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let Ok(mut shared) = self.shared.lock() else { return };
        let reason = lowercase_first(reason);
        if shared.error.is_none() {
            // Logged once per outage; librdkafka repeats itself while it retries.
            warn!(%error, "kafka: {reason}");
        } else {
            debug!(%error, "kafka: {reason}");
        }
        shared.error = Some(reason);
    }
}

impl ConsumerContext for Context {}

/// The checkpointed position: the next offset to read per partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaPosition {
    /// Partition to next offset.
    pub offsets: BTreeMap<i32, i64>,
}

/// Per-partition counters since the reader started.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    rows: u64,
    rejected: u64,
}

/// Reads a Kafka topic; see the module docs.
pub struct KafkaSource {
    opts: KafkaOptions,
    consumer: BaseConsumer<Context>,
    shared: Arc<Mutex<Shared>>,
    worker: DecodeWorker,
    keep: Keep,
    dead_letters: Option<DeadLetters>,
    bounded: bool,
    /// Next offset per assigned partition (of what `poll` has returned).
    offsets: BTreeMap<i32, i64>,
    /// Bounded: the end offset of each partition, taken when it was assigned.
    ends: BTreeMap<i32, i64>,
    assigned: bool,
    next_attempt: Instant,
    backoff: Duration,
    last_discovery: Instant,
    /// Not yet connected: why.
    connect_error: Option<String>,
    pending: VecDeque<Poll>,
    counts: BTreeMap<i32, Counts>,
    /// `FLUSH` asked to catch up with the end offsets as of now.
    catch_up: bool,
    /// The end offsets to catch up with.
    targets: Option<BTreeMap<i32, i64>>,
    /// Partitions assigned but not yet reported by `new_splits`.
    announced: HashSet<i32>,
    /// The partitions read: all, or one shard's.
    slice: super::Slice,
}

impl KafkaSource {
    /// A reader of the stream with `options` and `schema`, resuming at `position`. It
    /// connects at the first poll, so an unreachable broker is not an error here.
    pub fn open(options: &Options, schema: SchemaRef, position: KafkaPosition, bounded: bool) -> Result<KafkaSource> {
        let opts = KafkaOptions::from_options(options)?;
        let format = value_format(options)?;
        let columns = Columns::new(schema)?;
        let decoder = match &format {
            ValueFormat::Text(f) => ValueDecoder::Lines(LineDecoder::new(f, columns.value_schema.clone())?),
            ValueFormat::Avro(registry) => {
                ValueDecoder::Avro(Box::new(AvroDecoder::new(registry, columns.value_schema.clone())))
            }
        };
        let context = Context::default();
        let shared = context.shared.clone();
        let consumer = opts
            .client_config()
            .create_with_context(context)
            .map_err(|e| Error::InvalidParameter(format!("invalid kafka option: {e}")))?;
        let dead_letters = match &opts.dead_letter_topic {
            Some(topic) => Some(DeadLetters::new(topic, &opts.client_config())?),
            None => None,
        };
        let keep = Keep {
            json: format == ValueFormat::Text(Format::Json),
            binary: matches!(format, ValueFormat::Avro(_)),
            keys: columns.has(MetaColumn::Key) || dead_letters.is_some(),
            raw: dead_letters.is_some(),
        };
        let worker = DecodeWorker::start(decoder, columns)?;
        Ok(KafkaSource {
            opts,
            consumer,
            shared,
            worker,
            keep,
            dead_letters,
            bounded,
            offsets: position.offsets,
            ends: BTreeMap::new(),
            assigned: false,
            next_attempt: Instant::now(),
            backoff: FIRST_BACKOFF,
            last_discovery: Instant::now(),
            connect_error: None,
            pending: VecDeque::new(),
            counts: BTreeMap::new(),
            catch_up: false,
            targets: None,
            announced: HashSet::new(),
            slice: super::Slice::WHOLE,
        })
    }

    /// Reads only the partitions of `slice`.
    pub fn sliced(mut self, slice: super::Slice) -> KafkaSource {
        self.offsets.retain(|p, _| slice.holds(*p));
        self.slice = slice;
        self
    }

    /// The partitions of the topic this reader reads.
    fn partitions(&self) -> Result<Vec<i32>> {
        let parts = partitions(&self.consumer, &self.opts.topic, &self.opts.servers)?;
        Ok(parts.into_iter().filter(|p| self.slice.holds(*p)).collect())
    }

    /// Assigns the partitions once the broker answers; false while it does not.
    fn connect(&mut self) -> bool {
        if self.assigned {
            return true;
        }
        if Instant::now() < self.next_attempt {
            return false;
        }
        match self.assign_all() {
            Ok(()) => {
                info!(topic = %self.opts.topic, partitions = self.offsets.len(), "kafka source assigned");
                self.assigned = true;
                self.connect_error = None;
                self.backoff = FIRST_BACKOFF;
                self.last_discovery = Instant::now();
                true
            }
            Err(e) => {
                warn!(topic = %self.opts.topic, error = %e, retry_in = ?self.backoff, "kafka source cannot start");
                self.connect_error = Some(e.to_string());
                self.next_attempt = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                false
            }
        }
    }

    fn assign_all(&mut self) -> Result<()> {
        let parts = self.partitions()?;
        let tpl = self.resolve(&parts, self.opts.startup)?;
        self.consumer.assign(&tpl).map_err(|e| Error::Connector(format!("cannot assign partitions: {e}")))
    }

    /// Starting offsets of `parts` (checkpointed, else per `startup`), recorded in
    /// `offsets` (and `ends` when bounded).
    fn resolve(&mut self, parts: &[i32], startup: Startup) -> Result<TopicPartitionList> {
        let topic = self.opts.topic.clone();
        let committed = match startup {
            Startup::Group => self.committed(parts)?,
            _ => BTreeMap::new(),
        };
        let mut tpl = TopicPartitionList::new();
        for &p in parts {
            let (low, high) = self
                .consumer
                .fetch_watermarks(&topic, p, REQUEST_TIMEOUT)
                .map_err(|e| Error::Unreachable(format!("cannot read offsets of \"{topic}\": {e}")))?;
            let start = match (self.offsets.get(&p), startup) {
                (Some(&saved), _) => saved,
                (None, Startup::Latest) => high,
                (None, Startup::Group) => committed.get(&p).copied().unwrap_or(low),
                (None, Startup::Earliest) => low,
            };
            self.offsets.insert(p, start);
            if self.bounded {
                self.ends.insert(p, high);
            }
            tpl.add_partition_offset(&topic, p, Offset::Offset(start))
                .map_err(|e| Error::Internal(format!("partition list: {e}")))?;
        }
        Ok(tpl)
    }

    /// Offsets committed by the consumer group.
    fn committed(&self, parts: &[i32]) -> Result<BTreeMap<i32, i64>> {
        let mut tpl = TopicPartitionList::new();
        for &p in parts {
            tpl.add_partition(&self.opts.topic, p);
        }
        let committed = self
            .consumer
            .committed_offsets(tpl, REQUEST_TIMEOUT)
            .map_err(|e| Error::Unreachable(format!("cannot read group offsets: {e}")))?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect())
    }

    /// Picks up partitions added to the topic since the last look; they start at the
    /// earliest offset.
    fn discover(&mut self) {
        if self.bounded || self.last_discovery.elapsed() < DISCOVERY_INTERVAL {
            return;
        }
        self.last_discovery = Instant::now();
        let Ok(parts) = self.partitions() else { return };
        let new: Vec<i32> = parts.into_iter().filter(|p| !self.offsets.contains_key(p)).collect();
        if new.is_empty() {
            return;
        }
        match self.resolve(&new, Startup::Earliest).and_then(|tpl| {
            self.consumer.incremental_assign(&tpl).map_err(|e| Error::Connector(format!("cannot assign: {e}")))
        }) {
            Ok(()) => info!(topic = %self.opts.topic, ?new, "new kafka partitions assigned"),
            Err(e) => warn!(topic = %self.opts.topic, error = %e, "cannot assign new partitions"),
        }
    }

    /// Whether input known to exist is not yet read: after `FLUSH`, until every partition
    /// reaches the end offset it had then. An unreachable broker ends the wait; a broker
    /// that answers but did not give the end offsets this time (a fresh consumer, a leader
    /// moving) is asked again at the next poll, so the flush does not end before the input.
    fn behind(&mut self) -> bool {
        if std::mem::take(&mut self.catch_up) {
            self.targets = match self.end_offsets() {
                Ok(targets) => Some(targets),
                Err(e) if self.broker_error().is_none() => {
                    debug!(error = %e, "cannot read end offsets yet; asking again");
                    self.catch_up = true;
                    return true;
                }
                Err(e) => {
                    debug!(error = %e, "cannot read end offsets: the broker is unreachable");
                    None
                }
            };
            if let (Some(targets), Ok(mut shared)) = (&self.targets, self.shared.lock()) {
                shared.high.extend(targets.iter().map(|(&p, &o)| (p, o)));
            }
        }
        let caught_up = match &self.targets {
            None => true,
            Some(t) => t.iter().all(|(p, end)| self.offsets.get(p).is_some_and(|o| o >= end)),
        };
        if caught_up {
            self.targets = None;
        }
        !caught_up
    }

    /// What librdkafka last reported wrong with the broker connection, while it lasts.
    fn broker_error(&self) -> Option<String> {
        self.shared.lock().ok().and_then(|s| s.error.clone())
    }

    fn end_offsets(&self) -> Result<BTreeMap<i32, i64>> {
        let mut ends = BTreeMap::new();
        for &p in self.offsets.keys() {
            let (_, high) = self
                .consumer
                .fetch_watermarks(&self.opts.topic, p, REQUEST_TIMEOUT)
                .map_err(|e| Error::Unreachable(format!("cannot read offsets of \"{}\": {e}", self.opts.topic)))?;
            ends.insert(p, high);
        }
        Ok(ends)
    }

    fn at_end(&self) -> bool {
        self.bounded && self.assigned && self.ends.iter().all(|(p, end)| self.offsets.get(p).is_some_and(|o| o >= end))
    }

    /// Takes up to `max_rows` messages that are ready, grouped by partition.
    fn fetch(&mut self, max_rows: usize) -> BTreeMap<i32, Chunk> {
        let mut chunks: BTreeMap<i32, Chunk> = BTreeMap::new();
        for _ in 0..max_rows {
            match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Err(e)) => {
                    debug!(error = %e, "kafka poll error");
                    if let Ok(mut shared) = self.shared.lock() {
                        shared.error = Some(lowercase_first(&e.to_string()));
                    }
                    break;
                }
                Some(Ok(m)) => {
                    let chunk = chunks.entry(m.partition()).or_default();
                    chunk.push(&m, self.keep);
                }
            }
        }
        chunks
    }

    /// Turns one partition's decoded messages into a [`Poll`], and moves past them.
    fn decoded(&mut self, partition: i32, chunk: Chunk, decoded: DecodedChunk) -> Poll {
        let source = format!("{}/{partition}", self.opts.topic);
        let bad: Vec<BadRecord> = (decoded.rejected.iter())
            .map(|(i, reason)| BadRecord {
                source: source.clone(),
                position: chunk.messages[*i].offset as u64,
                reason: reason.clone(),
            })
            .collect();
        if let Some(dead_letters) = &self.dead_letters {
            for (i, reason) in &decoded.rejected {
                let m = &chunk.messages[*i];
                let topic = &self.opts.topic;
                let (key, value) = (m.key.as_deref(), m.value.as_deref());
                dead_letters.send(DeadLetter { topic, partition, offset: m.offset, key, value, reason });
            }
        }
        self.offsets.insert(partition, chunk.next_offset);
        let counts = self.counts.entry(partition).or_default();
        counts.rejected += bad.len() as u64;
        let Some(batch) = decoded.batch else { return Poll::Bad(bad) };
        counts.rows += batch.num_rows() as u64;
        Poll::Data { batch, bad, split: partition as u32 }
    }

    /// Fetches what is ready into the decoder (unless enough is in flight) and collects
    /// what it has decoded; waits for a decoded chunk rather than report nothing while
    /// chunks are in flight, since `Idle` means caught up.
    fn pump(&mut self, max_rows: usize) -> Result<()> {
        if self.worker.in_flight() < MAX_IN_FLIGHT {
            for (partition, chunk) in self.fetch(max_rows) {
                self.worker.submit(partition, chunk)?;
            }
        }
        while let Some((partition, chunk, decoded)) = self.worker.take(false)? {
            let poll = self.decoded(partition, chunk, decoded);
            self.pending.push_back(poll);
        }
        if self.pending.is_empty()
            && let Some((partition, chunk, decoded)) = self.worker.take(true)?
        {
            let poll = self.decoded(partition, chunk, decoded);
            self.pending.push_back(poll);
        }
        Ok(())
    }
}

impl SourceReader for KafkaSource {
    fn poll(&mut self, max_rows: usize) -> Result<Poll> {
        if let Some(p) = self.pending.pop_front() {
            return Ok(p);
        }
        if !self.connect() {
            return Ok(Poll::Idle);
        }
        if self.at_end() {
            return Ok(Poll::End);
        }
        self.discover();
        self.pump(max_rows)?;
        match self.pending.pop_front() {
            Some(poll) => Ok(poll),
            None if self.behind() => Ok(Poll::Pending),
            None => Ok(Poll::Idle),
        }
    }

    fn refresh(&mut self) {
        self.catch_up = true;
    }

    fn new_splits(&mut self) -> Vec<u32> {
        let new: Vec<i32> = self.offsets.keys().filter(|p| !self.announced.contains(p)).copied().collect();
        self.announced.extend(&new);
        new.into_iter().map(|p| p as u32).collect()
    }

    fn checkpoint(&self) -> Result<Vec<u8>> {
        if let Some(dead_letters) = &self.dead_letters {
            dead_letters.flush();
        }
        if self.assigned && !self.offsets.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for (&p, &o) in &self.offsets {
                let _ = tpl.add_partition_offset(&self.opts.topic, p, Offset::Offset(o));
            }
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
                debug!(error = %e, "cannot commit offsets to the consumer group");
            }
        }
        let position = KafkaPosition { offsets: self.offsets.clone() };
        serde_json::to_vec(&position).map_err(|e| Error::Internal(format!("cannot encode kafka position: {e}")))
    }

    fn status(&self) -> SourceStatus {
        let (error, high) = match self.shared.lock() {
            Ok(s) => (s.error.clone(), s.high.clone()),
            Err(_) => (None, BTreeMap::new()),
        };
        let state = match (&self.connect_error, error) {
            (Some(e), _) if !self.assigned => format!("connecting: {e}"),
            _ if !self.assigned => "connecting".into(),
            (_, Some(e)) => format!("error: {e}"),
            _ if self.at_end() => "finished".into(),
            _ => "reading".into(),
        };
        let splits = (self.offsets.iter())
            .map(|(&p, &offset)| {
                let counts = self.counts.get(&p).copied().unwrap_or_default();
                let end = high.get(&p).or(self.ends.get(&p));
                SplitStatus {
                    split: p.to_string(),
                    position: offset,
                    lag: end.map(|e| (e - offset).max(0)),
                    rows: Some(counts.rows),
                    rejected: Some(counts.rejected),
                    restarts: None,
                }
            })
            .collect();
        SourceStatus { state, splits }
    }
}
