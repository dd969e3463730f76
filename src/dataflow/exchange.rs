//! Splitting rows among shards by a key, and joining the shards' output again.
//!
//! A view whose first keyed operator (an aggregate, a session window, a top-N) can run
//! once per shard is cut there: the operators before the cut run once, the
//! [`Exchange`] sends each row to the shard its key hashes to, every shard runs its own
//! copy of the keyed operators on its keys only, and the [`Gather`] merges what the
//! shards send into one stream for the view's output. Rows of one key always meet in one
//! shard, so each shard's result is exactly the part of the view it owns.
//!
//! ```text
//!   source ─▶ operators before the cut ─▶ Exchange ─┬─▶ shard 0: keyed operators ─┐
//!                                                   └─▶ shard 1: keyed operators ─┴─▶ Gather ─▶ materialize
//! ```
//!
//! The hash is Sluice's own over canonically encoded values ([`stable_hashes`]), not a
//! seeded or library hash: a key must reach the same shard after a restart or upgrade,
//! since each shard's state is stored under its number. Barriers go to every shard (the
//! source's writes and acknowledgements with shard 0); the gather passes a barrier on once
//! every shard has sent it, holding back what a shard sends after its barrier until then,
//! so a checkpoint holds the same input in every shard's state (aligned). Its watermark
//! is the least of the shards'. Used by [`super::pipeline`] for views planned with more
//! than one shard.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, UInt64Type};
use arrow::record_batch::RecordBatch;
use datafusion::physical_plan::PhysicalExpr;

use super::flow::Flow;
use super::{Barrier, Message, Millis};
use crate::error::{Error, Result};

/// The keyed part of a pipeline, run once per shard.
pub struct Sharding {
    /// The exchange's stable id (the shards' operators derive theirs from it).
    pub id: super::identity::OperatorId,
    /// One flow per shard: the operators from the first keyed one on, each built anew.
    pub flows: Vec<Flow>,
    /// What the exchange hashes: expressions over the rows entering the keyed part.
    pub key: Vec<Arc<dyn PhysicalExpr>>,
    /// The exchange's line of EXPLAIN.
    pub what: String,
}

/// Sends each row to the shard its key hashes to.
pub struct Exchange {
    key: Vec<Arc<dyn PhysicalExpr>>,
    shards: usize,
}

impl Exchange {
    /// An exchange hashing `key` into `shards` shards.
    pub fn new(key: Vec<Arc<dyn PhysicalExpr>>, shards: usize) -> Exchange {
        Exchange { key, shards }
    }

    /// What each shard gets of `msg`, in shard order (None: nothing for that shard).
    pub fn split(&self, msg: Message) -> Result<Vec<Option<Message>>> {
        match msg {
            Message::Batch(batch) => Ok(self.partition(&batch)?.into_iter().map(|b| b.map(Message::Batch)).collect()),
            Message::Watermark(w) => Ok((0..self.shards).map(|_| Some(Message::Watermark(w))).collect()),
            Message::End => Ok((0..self.shards).map(|_| Some(Message::End)).collect()),
            Message::Barrier(barrier) => {
                let epoch = barrier.epoch;
                let copy = |_| Some(Message::Barrier(Barrier::new(epoch, Vec::new())));
                let mut out = vec![Some(Message::Barrier(barrier))];
                out.extend((1..self.shards).map(copy));
                Ok(out)
            }
            Message::Changes(_) => Err(Error::Internal("an exchange got keyed changes".into())),
        }
    }

    /// `batch`'s rows by shard.
    fn partition(&self, batch: &RecordBatch) -> Result<Vec<Option<RecordBatch>>> {
        let columns = self
            .key
            .iter()
            .map(|e| e.evaluate(batch).and_then(|v| v.into_array(batch.num_rows())))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let hashes = stable_hashes(&columns, batch.num_rows())?;
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); self.shards];
        for (i, h) in hashes.iter().enumerate() {
            rows[(h % self.shards as u64) as usize].push(i as u32);
        }
        rows.into_iter()
            .map(|indices| match indices.len() {
                0 => Ok(None),
                n if n == batch.num_rows() => Ok(Some(batch.clone())),
                _ => Ok(Some(take_record_batch(batch, &UInt32Array::from(indices))?)),
            })
            .collect()
    }
}

const PRIME: u64 = 0x0000_0100_0000_01b3;
const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fold(h: u64, v: u64) -> u64 {
    let h = (h ^ v).wrapping_mul(PRIME);
    h ^ (h >> 29)
}

fn fold_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    h = fold(h, bytes.len() as u64);
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = fold(h, u64::from_le_bytes(word));
    }
    h
}

/// A hash per row of `columns`, the same on every run, machine and version: integers,
/// timestamps, dates and times by their 64-bit value, floats by their bits (-0 as 0),
/// strings and binaries by their bytes, anything else by its text; null by a tag.
pub fn stable_hashes(columns: &[ArrayRef], rows: usize) -> Result<Vec<u64>> {
    let mut hashes = vec![OFFSET; rows];
    for column in columns {
        let canonical = canonical(column)?;
        let nulls = canonical.logical_nulls();
        let is_null = |i: usize| nulls.as_ref().is_some_and(|n| n.is_null(i));
        match canonical.data_type() {
            DataType::Int64 => {
                let values = canonical.as_primitive::<Int64Type>();
                for (i, h) in hashes.iter_mut().enumerate() {
                    *h = if is_null(i) { fold(*h, 1) } else { fold(fold(*h, 0), values.value(i) as u64) };
                }
            }
            DataType::UInt64 => {
                let values = canonical.as_primitive::<UInt64Type>();
                for (i, h) in hashes.iter_mut().enumerate() {
                    *h = if is_null(i) { fold(*h, 1) } else { fold(fold(*h, 0), values.value(i)) };
                }
            }
            DataType::Float64 => {
                let values = canonical.as_primitive::<Float64Type>();
                for (i, h) in hashes.iter_mut().enumerate() {
                    let v = values.value(i);
                    let bits = if v == 0.0 {
                        0
                    } else if v.is_nan() {
                        f64::NAN.to_bits()
                    } else {
                        v.to_bits()
                    };
                    *h = if is_null(i) { fold(*h, 1) } else { fold(fold(*h, 0), bits) };
                }
            }
            DataType::Boolean => {
                let values = canonical.as_boolean();
                for (i, h) in hashes.iter_mut().enumerate() {
                    *h = if is_null(i) { fold(*h, 1) } else { fold(fold(*h, 0), u64::from(values.value(i))) };
                }
            }
            DataType::Binary => {
                let values = canonical.as_binary::<i32>();
                for (i, h) in hashes.iter_mut().enumerate() {
                    *h = if is_null(i) { fold(*h, 1) } else { fold_bytes(fold(*h, 0), values.value(i)) };
                }
            }
            _ => {
                let values = canonical.as_string::<i32>();
                for (i, h) in hashes.iter_mut().enumerate() {
                    *h = if is_null(i) { fold(*h, 1) } else { fold_bytes(fold(*h, 0), values.value(i).as_bytes()) };
                }
            }
        }
    }
    Ok(hashes.into_iter().map(|h| fold(h, 0)).collect())
}

/// `column` as one of the types [`stable_hashes`] reads.
fn canonical(column: &ArrayRef) -> Result<ArrayRef> {
    use DataType::*;
    let target = match column.data_type() {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => Int64,
        Timestamp(_, _) | Date32 | Date64 | Time32(_) | Time64(_) | Duration(_) => Int64,
        UInt64 => UInt64,
        Float16 | Float32 | Float64 => Float64,
        Boolean => Boolean,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Binary,
        _ => Utf8,
    };
    if column.data_type() == &target {
        return Ok(column.clone());
    }
    // Timestamps and times carry a unit; their integer is what is hashed.
    let column = match column.data_type() {
        Timestamp(unit, _) => cast(column, &Timestamp(*unit, None))?,
        _ => column.clone(),
    };
    Ok(cast(&column, &target)?)
}

/// Merges the shards' output into one stream: barriers aligned, the least watermark.
pub struct Gather {
    /// A shard that sent the current barrier (or ended) waits for the others.
    waiting: Vec<bool>,
    /// What waiting shards sent after their barrier.
    held: Vec<VecDeque<Message>>,
    /// The barrier being assembled from every shard's.
    barrier: Option<Barrier>,
    arrived: usize,
    ended: usize,
    watermarks: Vec<Option<Millis>>,
    watermark: Option<Millis>,
}

impl Gather {
    /// A gather of `shards` shards.
    pub fn new(shards: usize) -> Gather {
        Gather {
            waiting: vec![false; shards],
            held: (0..shards).map(|_| VecDeque::new()).collect(),
            barrier: None,
            arrived: 0,
            ended: 0,
            watermarks: vec![None; shards],
            watermark: None,
        }
    }

    /// Takes `msg` from `shard`; what may go on now is appended to `out`.
    pub fn push(&mut self, shard: usize, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        if self.waiting[shard] {
            self.held[shard].push_back(msg);
            return Ok(());
        }
        match msg {
            Message::Batch(_) | Message::Changes(_) => out.push(msg),
            Message::Watermark(w) => {
                let mine = &mut self.watermarks[shard];
                *mine = Some(mine.map_or(w, |m| m.max(w)));
                let least =
                    self.watermarks.iter().copied().collect::<Option<Vec<_>>>().and_then(|w| w.into_iter().min());
                if let Some(least) = least
                    && self.watermark.is_none_or(|w| least > w)
                {
                    self.watermark = Some(least);
                    out.push(Message::Watermark(least));
                }
            }
            Message::Barrier(b) => {
                self.waiting[shard] = true;
                self.arrived += 1;
                match &mut self.barrier {
                    Some(merged) => {
                        merged.writes.extend(b.writes);
                        merged.acks.extend(b.acks);
                        merged.outgoing.extend(b.outgoing);
                    }
                    None => self.barrier = Some(b),
                }
                if self.arrived == self.waiting.len() {
                    self.release(out)?;
                }
            }
            Message::End => {
                self.waiting[shard] = true;
                self.ended += 1;
                if self.ended == self.waiting.len() {
                    out.push(Message::End);
                }
            }
        }
        Ok(())
    }

    /// Every shard sent the barrier: it goes on, and what was held back is taken again.
    fn release(&mut self, out: &mut Vec<Message>) -> Result<()> {
        let barrier = self.barrier.take().ok_or_else(|| Error::Internal("a barrier vanished".into()))?;
        out.push(Message::Barrier(barrier));
        self.arrived = 0;
        self.waiting.iter_mut().for_each(|w| *w = false);
        for shard in 0..self.waiting.len() {
            while !self.waiting[shard] {
                let Some(msg) = self.held[shard].pop_front() else { break };
                self.push(shard, msg, out)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion::physical_expr::expressions::col;

    use super::*;

    fn batch(keys: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(keys.to_vec()))]).unwrap()
    }

    #[test]
    fn hashes_are_stable_and_type_independent() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(42)]));
        let small: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![Some(1), None, Some(42)]));
        let a = stable_hashes(std::slice::from_ref(&ints), 3).unwrap();
        assert_eq!(a, stable_hashes(&[small], 3).unwrap());
        assert_ne!(a[0], a[2]);
        // Fixed values: a change here would move keys between the shards of stored views.
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("auction-7"), None]));
        assert_eq!(stable_hashes(&[ints, text], 2).unwrap(), vec![95_006_478_948_024_960, 7_901_716_906_759_311_112]);
    }

    #[test]
    fn an_exchange_sends_each_key_to_one_shard() {
        let schema = batch(&[]).schema();
        let exchange = Exchange::new(vec![col("k", &schema).unwrap()], 3);
        let keys: Vec<i64> = (0..300).map(|i| i % 17).collect();
        let parts = exchange.split(Message::Batch(batch(&keys))).unwrap();
        let mut owner = std::collections::HashMap::new();
        let mut rows = 0;
        for (shard, part) in parts.into_iter().enumerate() {
            let Some(Message::Batch(b)) = part else { continue };
            rows += b.num_rows();
            for k in b.column(0).as_primitive::<Int64Type>().values() {
                assert_eq!(*owner.entry(*k).or_insert(shard), shard, "key {k} in two shards");
            }
        }
        assert_eq!(rows, 300);
        assert!(owner.values().collect::<std::collections::HashSet<_>>().len() > 1);
    }

    #[test]
    fn a_gather_aligns_barriers_and_takes_the_least_watermark() {
        let mut gather = Gather::new(2);
        let mut out = Vec::new();
        let barrier = |epoch| {
            Message::Barrier(Barrier { writes: vec![(vec![epoch as u8], None)], ..Barrier::new(epoch, vec![]) })
        };
        gather.push(0, Message::Watermark(10), &mut out).unwrap();
        assert!(out.is_empty(), "shard 1 has no watermark yet");
        gather.push(1, Message::Watermark(5), &mut out).unwrap();
        assert!(matches!(out.pop(), Some(Message::Watermark(5))));
        gather.push(0, barrier(1), &mut out).unwrap();
        gather.push(0, Message::Batch(batch(&[1])), &mut out).unwrap();
        assert!(out.is_empty(), "held until shard 1's barrier");
        gather.push(1, Message::Batch(batch(&[2])), &mut out).unwrap();
        gather.push(1, barrier(1), &mut out).unwrap();
        assert!(matches!(&out[0], Message::Batch(b) if b.column(0).as_primitive::<Int64Type>().value(0) == 2));
        assert!(matches!(&out[1], Message::Barrier(b) if b.epoch == 1 && b.writes.len() == 2));
        assert!(matches!(&out[2], Message::Batch(b) if b.column(0).as_primitive::<Int64Type>().value(0) == 1));
        out.clear();
        gather.push(1, Message::Watermark(20), &mut out).unwrap();
        assert!(matches!(out.pop(), Some(Message::Watermark(10))));
        gather.push(0, Message::End, &mut out).unwrap();
        assert!(out.is_empty());
        gather.push(1, Message::End, &mut out).unwrap();
        assert!(matches!(out.pop(), Some(Message::End)));
    }
}
