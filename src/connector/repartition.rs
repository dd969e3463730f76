//! A repartition topic: how rows cross from one stage of a view to the next when the view
//! runs as shards on several nodes (`docs/cluster.md`).
//!
//! The shards of the first stage hash each row's key (the grouping key of the operators
//! after the cut) into one of the topic's partitions, one per shard of the next stage, and
//! write the rows there as Arrow IPC batches; at every checkpoint each also writes its
//! watermark into every partition. Both go into the first stage's checkpoint transaction
//! (see `crate::cluster::changelog`), so they are visible exactly when that checkpoint is.
//! The next stage's shard `k` reads partition `k` with this reader (`read_committed`):
//! rows come out as batches whose split is the shard that sent them, and its watermark is
//! the least over the watermarks of every sending shard (none until each has sent one).
//!
//! A join of two streams sends both sides through the same topic, each on a **lane** of its
//! own (0 for the left side, 1 for the right): the next stage reads the partition once per
//! lane, and each reader takes the records of its lane only, with watermarks per lane.
//!
//! ```text
//!   record key: kind (b'r' rows | b'w' watermark), sending shard (u16, big-endian),
//!               lane (u8; absent = 0)
//!   record value: Arrow IPC batch | watermark (i64 ms, big-endian)
//! ```

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::{Options, Poll, SourceReader, SourceStatus, SplitStatus, required};
use crate::error::{Error, Result};

/// Key kind of a record of rows.
pub const ROWS: u8 = b'r';
/// Key kind of a watermark record.
pub const WATERMARK: u8 = b'w';
/// How long a broker request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The key of a record sent by shard `from` on lane `lane`.
pub fn record_key(kind: u8, from: u16, lane: u8) -> [u8; 4] {
    let [a, b] = from.to_be_bytes();
    [kind, a, b, lane]
}

/// Where the reader stands: the next offset of its partition and the last watermark of
/// each sending shard.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Position {
    offset: i64,
    watermarks: Vec<Option<i64>>,
}

/// Reads one partition of a repartition topic.
pub struct RepartitionReader {
    consumer: BaseConsumer,
    /// What it has read (apart from the consumer, so a record borrowed from the consumer
    /// is taken without a copy).
    read: Read,
    /// Assigned to the consumer.
    assigned: bool,
    /// After `refresh`: the partition's end when it was asked for, until reached.
    target: Option<i64>,
    catch_up: bool,
}

/// What a [`RepartitionReader`] has read of its partition.
struct Read {
    topic: String,
    partition: i32,
    position: Position,
    /// The lane whose records it takes.
    lane: u8,
    /// The watermark last handed out.
    sent: Option<i64>,
    rows: u64,
}

impl RepartitionReader {
    /// A reader of partition `partition` of the topic in `options` (`topic`,
    /// `bootstrap_servers`, `shards`: how many shards send into it, `lane`: whose records
    /// it takes, 0 if absent, `properties.*`), resuming at `saved`. Its rows have the columns they were sent with.
    pub fn open(options: &Options, saved: Option<Vec<u8>>, partition: u16) -> Result<RepartitionReader> {
        let topic = required(options, "topic")?.to_string();
        let shards: usize = required(options, "shards")?
            .parse()
            .map_err(|_| Error::Internal("a repartition topic's shards must be a number".into()))?;
        let lane: u8 = match options.get("lane") {
            Some(lane) => lane.parse().map_err(|_| Error::Internal("a repartition lane must be a number".into()))?,
            None => 0,
        };
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", required(options, "bootstrap_servers")?)
            .set("group.id", "sluice-repartition")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("isolation.level", "read_committed")
            .set("fetch.wait.max.ms", "10");
        for (k, v) in super::kafka::properties(options) {
            config.set(k, v);
        }
        let consumer = config.create().map_err(|e| Error::Config(format!("invalid kafka option: {e}")))?;
        let mut position: Position = match saved {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Internal(format!("cannot decode a repartition position: {e}")))?,
            None => Position::default(),
        };
        position.watermarks.resize(shards, None);
        let sent = least(&position.watermarks);
        let read = Read { topic, partition: i32::from(partition), position, lane, sent, rows: 0 };
        Ok(RepartitionReader { consumer, read, assigned: false, target: None, catch_up: false })
    }

    fn assign(&mut self) -> Result<()> {
        let Read { topic, partition, position, .. } = &self.read;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, *partition, Offset::Offset(position.offset))
            .map_err(|e| Error::Internal(format!("partition list: {e}")))?;
        self.consumer.assign(&tpl).map_err(|e| Error::Unreachable(format!("cannot read \"{topic}\": {e}")))?;
        self.assigned = true;
        Ok(())
    }

    /// The partition's end offset now (what a FLUSH waits for).
    fn end(&self) -> Option<i64> {
        let (topic, partition) = (&self.read.topic, self.read.partition);
        self.consumer.fetch_watermarks(topic, partition, REQUEST_TIMEOUT).ok().map(|(_, high)| high)
    }

    /// How far the partition is read: past the transactions' control records too, which
    /// the consumer steps over without handing them out.
    fn reached(&self) -> i64 {
        let position = self.consumer.position().ok().and_then(|list| {
            list.find_partition(&self.read.topic, self.read.partition).and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            })
        });
        position.unwrap_or(0).max(self.read.position.offset)
    }
}

impl Read {
    /// One record: its rows, or a watermark that may move this reader's.
    fn take(&mut self, offset: i64, key: &[u8], value: Option<&[u8]>) -> Result<Option<Poll>> {
        self.position.offset = offset + 1;
        let bad = || Error::Corrupted {
            what: format!("the repartition topic \"{}\"", self.topic),
            detail: format!("a damaged record at offset {offset} of partition {}", self.partition),
        };
        let (&kind, rest) = key.split_first().ok_or_else(bad)?;
        let (from, lane) = match rest {
            [a, b] => (u16::from_be_bytes([*a, *b]), 0),
            [a, b, lane] => (u16::from_be_bytes([*a, *b]), *lane),
            _ => return Err(bad()),
        };
        if lane != self.lane {
            return Ok(None);
        }
        let value = value.ok_or_else(bad)?;
        match kind {
            ROWS => {
                let batch = crate::ipc::decode_batch(value)?;
                self.rows += batch.num_rows() as u64;
                Ok((batch.num_rows() > 0).then_some(Poll::Data { batch, bad: Vec::new(), split: u32::from(from) }))
            }
            WATERMARK => {
                let at = i64::from_be_bytes(value.try_into().map_err(|_| bad())?);
                let slot = self.position.watermarks.get_mut(usize::from(from)).ok_or_else(bad)?;
                *slot = Some(slot.map_or(at, |w| w.max(at)));
                let least = least(&self.position.watermarks);
                if least > self.sent {
                    self.sent = least;
                    return Ok(least.map(Poll::Watermark));
                }
                Ok(None)
            }
            _ => Err(bad()),
        }
    }
}

/// The least of the watermarks, once every sender has sent one.
fn least(watermarks: &[Option<i64>]) -> Option<i64> {
    watermarks.iter().copied().collect::<Option<Vec<_>>>()?.into_iter().min()
}

impl SourceReader for RepartitionReader {
    fn poll(&mut self, _max_rows: usize) -> Result<Poll> {
        if !self.assigned {
            self.assign()?;
        }
        if std::mem::take(&mut self.catch_up) {
            self.target = self.end();
        }
        for _ in 0..64 {
            match self.consumer.poll(Duration::ZERO) {
                Some(Ok(message)) => {
                    let key = message.key().unwrap_or_default();
                    if let Some(poll) = self.read.take(message.offset(), key, message.payload())? {
                        return Ok(poll);
                    }
                }
                Some(Err(e)) => {
                    // librdkafka retries by itself (a broker away, a leader moving).
                    tracing::debug!(topic = %self.read.topic, error = %e, "cannot read the repartition topic yet");
                    break;
                }
                None => break,
            }
        }
        match self.target {
            Some(end) if self.reached() < end => Ok(Poll::Pending),
            _ => {
                self.target = None;
                Ok(Poll::Idle)
            }
        }
    }

    fn checkpoint(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.read.position).map_err(|e| Error::Internal(format!("cannot encode a position: {e}")))
    }

    fn refresh(&mut self) {
        self.catch_up = true;
    }

    fn status(&self) -> SourceStatus {
        let split = SplitStatus {
            split: format!("{}/{}", self.read.topic, self.read.partition),
            position: self.read.position.offset,
            rows: Some(self.read.rows),
            ..SplitStatus::default()
        };
        SourceStatus { state: "reading".into(), splits: vec![split] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lane: u8, senders: usize) -> Read {
        let position = Position { offset: 0, watermarks: vec![None; senders] };
        Read { topic: "t".into(), partition: 0, position, lane, sent: None, rows: 0 }
    }

    fn rows(n: i64) -> Vec<u8> {
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "k",
            arrow::datatypes::DataType::Int64,
            false,
        )]));
        let values = arrow::array::Int64Array::from((0..n).collect::<Vec<_>>());
        let batch = arrow::array::RecordBatch::try_new(schema, vec![std::sync::Arc::new(values)]).unwrap();
        crate::ipc::encode_batch(&batch).unwrap()
    }

    #[test]
    fn a_reader_takes_its_own_lane_and_the_least_watermark_of_its_senders() {
        let mut right = read(1, 2);
        let take = |r: &mut Read, offset, key: &[u8], value: Vec<u8>| r.take(offset, key, Some(&value)).unwrap();
        // The left side's rows and watermarks pass by; the position moves on all the same.
        assert!(take(&mut right, 0, &record_key(ROWS, 0, 0), rows(3)).is_none());
        assert!(take(&mut right, 1, &record_key(WATERMARK, 0, 0), 50i64.to_be_bytes().to_vec()).is_none());
        assert_eq!(right.position.offset, 2);
        match take(&mut right, 2, &record_key(ROWS, 1, 1), rows(2)) {
            Some(Poll::Data { batch, split, .. }) => assert_eq!((batch.num_rows(), split), (2, 1)),
            other => panic!("{other:?}"),
        }
        // A watermark once every sender of the lane has sent one: the least of them.
        assert!(take(&mut right, 3, &record_key(WATERMARK, 0, 1), 40i64.to_be_bytes().to_vec()).is_none());
        let least = take(&mut right, 4, &record_key(WATERMARK, 1, 1), 30i64.to_be_bytes().to_vec());
        assert!(matches!(least, Some(Poll::Watermark(30))), "{least:?}");
        assert_eq!(right.rows, 2);
    }

    #[test]
    fn keys_without_a_lane_are_the_first_lanes() {
        let mut left = read(0, 1);
        let old_key = [ROWS, 0, 0];
        assert!(matches!(left.take(0, &old_key, Some(&rows(1))), Ok(Some(Poll::Data { .. }))));
        let mut right = read(1, 1);
        assert!(matches!(right.take(0, &old_key, Some(&rows(1))), Ok(None)));
        assert!(left.take(1, &[ROWS, 0], Some(&rows(1))).is_err(), "a damaged key");
    }
}
