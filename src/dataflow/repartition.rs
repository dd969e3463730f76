//! The first stage's end of a view that runs as shards on several nodes: sends each row to
//! the shard of the next stage its key hashes to, through the view's repartition topic.
//!
//! Rows are split by [`Exchange`] (the same stable hash as the in-process shards) and held
//! until the next barrier, which carries them, one Arrow IPC record per batch and
//! partition, and this shard's watermark for every partition, as [`Outgoing`] records: the
//! checkpoint's transaction writes them (`crate::cluster::changelog`), so the next stage
//! sees them exactly when the checkpoint that produced them is committed, and a shard taken
//! over produces them again from the same input. Nothing goes further down this branch but
//! barriers and the end; the next stage reads the topic as an input of its own
//! (`crate::connector::repartition`).
//!
//! ```text
//!   shard k: source (partitions of k) ─▶ operators before the cut ─▶ RepartitionWrite ─┐ barrier: Outgoing records
//!   shard k: repartition topic, partition k ─▶ keyed operators ─▶ materialize ◀────────┘ (one transaction)
//! ```

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::physical_plan::PhysicalExpr;

use super::exchange::Exchange;
use super::flow::{BinaryOperator, Side};
use super::{Message, Millis, Operator, Outgoing};
use crate::connector::repartition::{ROWS, WATERMARK, record_key};
use crate::error::{Error, Result};

/// Bytes of Arrow IPC one record carries at most (the broker's default limit is 1 MB).
const RECORD_BYTES: usize = 512 * 1024;

/// Sends rows to the next stage's shards.
pub struct RepartitionWrite {
    exchange: Exchange,
    partitions: usize,
    /// This shard: the sender named in every record.
    from: u16,
    /// The lane of the next stage's input it sends on (a join's right side: 1).
    lane: u8,
    /// Rows since the last barrier, by partition.
    pending: Vec<Vec<RecordBatch>>,
    watermark: Option<Millis>,
}

impl RepartitionWrite {
    /// Shard `from`'s writer of rows keyed by `key` into `partitions` partitions.
    pub fn new(key: Vec<Arc<dyn PhysicalExpr>>, partitions: usize, from: u16) -> RepartitionWrite {
        RepartitionWrite {
            exchange: Exchange::new(key, partitions),
            partitions,
            from,
            lane: 0,
            pending: vec![Vec::new(); partitions],
            watermark: None,
        }
    }

    /// Sends on lane `lane` (see `crate::connector::repartition`).
    pub fn on_lane(mut self, lane: u8) -> RepartitionWrite {
        self.lane = lane;
        self
    }

    /// The records of everything held, and of the watermark for every partition.
    fn records(&mut self) -> Result<Vec<Outgoing>> {
        let mut out = Vec::new();
        for (partition, batches) in self.pending.iter_mut().enumerate() {
            for batch in batches.drain(..) {
                encode(batch, partition as i32, record_key(ROWS, self.from, self.lane), &mut out)?;
            }
        }
        if let Some(at) = self.watermark {
            for partition in 0..self.partitions as i32 {
                let (key, value) = (record_key(WATERMARK, self.from, self.lane).to_vec(), at.to_be_bytes().to_vec());
                out.push(Outgoing { partition, key, value });
            }
        }
        Ok(out)
    }
}

/// `batch` as records for `partition`, split until each fits [`RECORD_BYTES`].
fn encode(batch: RecordBatch, partition: i32, key: [u8; 4], out: &mut Vec<Outgoing>) -> Result<()> {
    let value = crate::ipc::encode_batch(&batch)?;
    if value.len() > RECORD_BYTES && batch.num_rows() > 1 {
        let half = batch.num_rows() / 2;
        encode(batch.slice(0, half), partition, key, out)?;
        return encode(batch.slice(half, batch.num_rows() - half), partition, key, out);
    }
    out.push(Outgoing { partition, key: key.to_vec(), value });
    Ok(())
}

impl Operator for RepartitionWrite {
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(_) => {
                for (partition, part) in self.exchange.split(msg)?.into_iter().enumerate() {
                    if let Some(Message::Batch(batch)) = part {
                        self.pending[partition].push(batch);
                    }
                }
                Ok(())
            }
            Message::Watermark(at) => {
                self.watermark = Some(at);
                Ok(())
            }
            Message::Barrier(mut barrier) => {
                barrier.outgoing.extend(self.records()?);
                out.push(Message::Barrier(barrier));
                Ok(())
            }
            Message::End => {
                out.push(Message::End);
                Ok(())
            }
            Message::Changes(_) => Err(Error::Internal("keyed changes reached a repartition".into())),
        }
    }

    fn state_bytes(&self) -> usize {
        self.pending.iter().flatten().map(RecordBatch::get_array_memory_size).sum()
    }
}

/// Where the two stages of a shard meet in its flow: the first stage's branch (ending in a
/// [`RepartitionWrite`]) brings only barriers, which carry its records; the second
/// stage's branch (the repartition topic's rows and watermarks) goes on to the keyed
/// operators.
pub struct StageJoin;

impl BinaryOperator for StageJoin {
    fn process(&mut self, side: Side, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match (side, msg) {
            (Side::Left, Message::Watermark(_)) => Ok(()),
            (Side::Left, Message::Batch(_) | Message::Changes(_)) => {
                Err(Error::Internal("rows reached the next stage without their repartition".into()))
            }
            (_, msg) => {
                out.push(msg);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::Column;

    use super::*;
    use crate::dataflow::Barrier;

    fn rows(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    #[test]
    fn rows_wait_for_the_barrier_which_carries_them_and_the_watermark_to_every_partition() {
        let mut write = RepartitionWrite::new(vec![Arc::new(Column::new("k", 0))], 3, 2);
        let mut out = Vec::new();
        write.process(Message::Batch(rows(&(0..30).collect::<Vec<_>>())), &mut out).unwrap();
        write.process(Message::Watermark(77), &mut out).unwrap();
        assert!(out.is_empty(), "nothing goes down the branch but barriers");
        write.process(Message::Barrier(Barrier::new(1, Vec::new())), &mut out).unwrap();
        let [Message::Barrier(barrier)] = out.as_slice() else { panic!("{out:?}") };
        let (mut sent, mut watermarks) = (Vec::new(), Vec::new());
        for record in &barrier.outgoing {
            assert_eq!(record.key[1..3], 2u16.to_be_bytes(), "the sender is named");
            assert_eq!(record.key[3], 0, "on the first lane");
            match record.key[0] {
                ROWS => {
                    let batch = crate::ipc::decode_batch(&record.value).unwrap();
                    let values = batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                    sent.extend(values.values().iter().map(|v| (record.partition, *v)));
                }
                WATERMARK => {
                    watermarks.push((record.partition, i64::from_be_bytes(record.value[..].try_into().unwrap())))
                }
                other => panic!("kind {other}"),
            }
        }
        watermarks.sort();
        assert_eq!(watermarks, vec![(0, 77), (1, 77), (2, 77)]);
        sent.sort_by_key(|(_, v)| *v);
        assert_eq!(sent.iter().map(|(_, v)| *v).collect::<Vec<_>>(), (0..30).collect::<Vec<_>>());
        // Each key always goes to the same partition, and the keys spread over all three.
        let exchange = Exchange::new(vec![Arc::new(Column::new("k", 0))], 3);
        for (partition, value) in &sent {
            let parts = exchange.split(Message::Batch(rows(&[*value]))).unwrap();
            assert!(parts[*partition as usize].is_some(), "{value} went to {partition}");
        }
        assert_eq!(sent.iter().map(|(p, _)| *p).collect::<std::collections::BTreeSet<_>>().len(), 3);
        out.clear();
        write.process(Message::Barrier(Barrier::new(2, Vec::new())), &mut out).unwrap();
        let [Message::Barrier(barrier)] = out.as_slice() else { panic!("{out:?}") };
        assert_eq!(barrier.outgoing.len(), 3, "only the watermark again: {:?}", barrier.outgoing);
    }
}
