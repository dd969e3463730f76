//! Joins of two streams: a symmetric hash join on equality keys, with state expired by
//! watermarks when the join bounds the two sides' event times (interval and window joins).
//!
//! Each side keeps the rows it has seen, indexed by join key. A new row on one side is
//! looked up in the other side's index; the pairs found, after the join's other conditions,
//! are emitted (append-only). With [`TimeBounds`] (`right.t - left.t` between a lower and
//! an upper bound) a stored row is dropped as soon as the other side's watermark shows that
//! no row still to come can match it, and the output watermark trails both inputs by the
//! bounds; without them (a regular join) rows are kept for ever and the output watermark
//! only moves at the end of both inputs. State is checkpointed incrementally: each stored
//! batch once, and its removal once all its rows are gone; which rows of a batch are still
//! live follows from the watermarks, which are checkpointed too.
//! Built by the planner (`crate::sql::plan`) for a join of two streams.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow::compute::{cast, filter_record_batch, interleave, take};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::row::{RowConverter, Rows, SortField};
use datafusion::physical_expr::PhysicalExpr;

use super::aggregate::{as_boolean, evaluate_all};
use super::flow::{BinaryOperator, Side};
use super::{Barrier, END_OF_TIME, ENTRY_OVERHEAD, Message, Millis, StateReader};
use crate::error::{Error, Result};
use crate::ipc::{decode_batch, encode_batch};

/// How the two sides' event times must relate: `right.t - left.t` in `[lower, upper]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeBounds {
    /// The event-time column of the left input.
    pub left_time: usize,
    /// The event-time column of the right input.
    pub right_time: usize,
    /// Least `right.t - left.t` (ms).
    pub lower: Millis,
    /// Greatest `right.t - left.t` (ms).
    pub upper: Millis,
    /// Rows still to come on the left have `left_time` at least the left watermark minus
    /// this (0 for a stream's watermark column, the window size for a window start).
    pub left_lag: Millis,
    /// The same for the right input.
    pub right_lag: Millis,
}

/// A planned stream–stream join.
pub struct JoinSpec {
    /// Equality keys over the left input.
    pub left_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// Equality keys over the right input, in the same order and types.
    pub right_keys: Vec<Arc<dyn PhysicalExpr>>,
    /// The join's other conditions, over the output columns.
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    /// How the event times relate, if the conditions bound them.
    pub bounds: Option<TimeBounds>,
    /// Output columns: the left input's, then the right input's.
    pub schema: SchemaRef,
}

/// One stored row: its batch and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowRef {
    chunk: u64,
    row: u32,
}

/// A batch of stored rows of one side.
struct Chunk {
    batch: RecordBatch,
    keys: Rows,
    live: usize,
    saved: bool,
    /// Memory it holds: rows, encoded keys and its entries in the index and expiry queue.
    bytes: usize,
}

/// The stored rows of one side.
#[derive(Default)]
struct Store {
    chunks: HashMap<u64, Chunk>,
    next_chunk: u64,
    index: HashMap<Box<[u8]>, Vec<RowRef>>,
    /// Rows by the time after which they can be dropped (with bounds only).
    expiry: BTreeMap<Millis, Vec<RowRef>>,
    /// Stored chunks emptied since the last checkpoint.
    dropped: Vec<u64>,
    /// Memory of all chunks.
    bytes: usize,
}

/// The join operator.
pub struct StreamJoin {
    spec: JoinSpec,
    keys: RowConverter,
    sides: [Store; 2],
    /// Each input's watermark.
    watermarks: [Millis; 2],
    /// The last watermark sent on.
    emitted: Millis,
    state_prefix: Vec<u8>,
}

fn index(side: Side) -> usize {
    match side {
        Side::Left => 0,
        Side::Right => 1,
    }
}

impl StreamJoin {
    /// A join with no state; `key_types` are the equality keys' types.
    pub fn new(spec: JoinSpec, key_types: &[DataType]) -> Result<StreamJoin> {
        let keys = RowConverter::new(key_types.iter().map(|t| SortField::new(t.clone())).collect())?;
        Ok(StreamJoin {
            spec,
            keys,
            sides: Default::default(),
            watermarks: [Millis::MIN; 2],
            emitted: Millis::MIN,
            state_prefix: Vec::new(),
        })
    }

    /// The watermark of `side` as a bound on its time column.
    fn effective(&self, side: usize) -> Millis {
        let (wm, lag) = (self.watermarks[side], self.spec.bounds.map_or(0, |b| [b.left_lag, b.right_lag][side]));
        if wm == END_OF_TIME { wm } else { wm.saturating_sub(lag) }
    }

    /// When a row of `side` at event time `t` stops mattering: once the other side's
    /// effective watermark passes this.
    fn expiry(&self, side: usize, t: Millis) -> Option<Millis> {
        let b = self.spec.bounds?;
        Some(if side == 0 { t.saturating_add(b.upper) } else { t.saturating_sub(b.lower) })
    }

    /// The join keys of `batch` (from `side`) and which rows have no null in them.
    fn encode(&self, side: usize, batch: &RecordBatch) -> Result<(Rows, Vec<bool>)> {
        let exprs = if side == 0 { &self.spec.left_keys } else { &self.spec.right_keys };
        let columns = evaluate_all(exprs, batch)?;
        let valid = (0..batch.num_rows()).map(|i| columns.iter().all(|c| c.is_valid(i))).collect();
        Ok((self.keys.convert_columns(&columns)?, valid))
    }

    /// The event times of `side`'s rows, if the join is bounded.
    fn times(&self, side: usize, batch: &RecordBatch) -> Result<Option<TimestampMillisecondArray>> {
        let Some(b) = self.spec.bounds else { return Ok(None) };
        let column = batch.column(if side == 0 { b.left_time } else { b.right_time });
        let millis = cast(column, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
        let times = millis.as_any().downcast_ref::<TimestampMillisecondArray>().cloned();
        times.map(Some).ok_or_else(|| Error::Internal("join time column is not a timestamp".into()))
    }

    fn on_rows(&mut self, side: usize, batch: RecordBatch, out: &mut Vec<Message>) -> Result<()> {
        let (keys, valid) = self.encode(side, &batch)?;
        let (mut probe, mut found) = (Vec::new(), Vec::new());
        for (i, ok) in valid.iter().enumerate() {
            if let Some(refs) = self.sides[1 - side].index.get(keys.row(i).as_ref()).filter(|_| *ok) {
                probe.extend(std::iter::repeat_n(i as u32, refs.len()));
                found.extend_from_slice(refs);
            }
        }
        if !probe.is_empty() {
            let joined = self.joined(side, &batch, probe, &found)?;
            if joined.num_rows() > 0 {
                out.push(Message::Batch(joined));
            }
        }
        self.store(side, batch, keys, valid)
    }

    /// Keeps the rows of `batch` that rows still to come on the other side may match.
    fn store(&mut self, side: usize, batch: RecordBatch, keys: Rows, valid: Vec<bool>) -> Result<()> {
        let times = self.times(side, &batch)?;
        let horizon = self.effective(1 - side);
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|i| {
                let alive = match &times {
                    None => true,
                    Some(t) => t.is_valid(i) && self.expiry(side, t.value(i)).is_some_and(|e| e >= horizon),
                };
                Some(valid[i] && alive)
            })
            .collect();
        if keep.true_count() == 0 {
            return Ok(());
        }
        let id = self.sides[side].next_chunk;
        if keep.true_count() == batch.num_rows() {
            return self.insert(side, id, batch, Some(keys), false);
        }
        self.insert(side, id, filter_record_batch(&batch, &keep)?, None, false)
    }

    /// Adds a chunk of rows to `side`'s index (and expiry queue); `keys` are its encoded
    /// join keys when already known.
    fn insert(&mut self, side: usize, id: u64, batch: RecordBatch, keys: Option<Rows>, saved: bool) -> Result<()> {
        let keys = match keys {
            Some(keys) => keys,
            None => self.encode(side, &batch)?.0,
        };
        let times = self.times(side, &batch)?;
        let expiries: Option<Vec<Millis>> =
            times.map(|t| t.values().iter().map(|&v| self.expiry(side, v).unwrap_or(END_OF_TIME)).collect());
        let store = &mut self.sides[side];
        for row in 0..batch.num_rows() {
            let r = RowRef { chunk: id, row: row as u32 };
            store.index.entry(keys.row(row).as_ref().into()).or_default().push(r);
            if let Some(e) = &expiries {
                store.expiry.entry(e[row]).or_default().push(r);
            }
        }
        store.next_chunk = store.next_chunk.max(id + 1);
        let refs = if expiries.is_some() { 2 } else { 1 };
        let entries = batch.num_rows() * (ENTRY_OVERHEAD + refs * size_of::<RowRef>());
        let bytes = batch.get_array_memory_size() + 2 * keys.size() + entries;
        store.bytes += bytes;
        store.chunks.insert(id, Chunk { live: batch.num_rows(), batch, keys, saved, bytes });
        Ok(())
    }

    /// The output rows for `probe[i]` of `batch` (from `side`) paired with stored row
    /// `found[i]` of the other side, after the join's other conditions.
    fn joined(&self, side: usize, batch: &RecordBatch, probe: Vec<u32>, found: &[RowRef]) -> Result<RecordBatch> {
        let probe = UInt32Array::from(probe);
        let mine = batch.columns().iter().map(|c| Ok(take(c, &probe, None)?)).collect::<Result<Vec<ArrayRef>>>()?;
        let other = &self.sides[1 - side];
        let mut slots: HashMap<u64, usize> = HashMap::new();
        let mut chunks: Vec<&RecordBatch> = Vec::new();
        let mut indices = Vec::with_capacity(found.len());
        for r in found {
            let slot = *slots.entry(r.chunk).or_insert_with(|| {
                chunks.push(&other.chunks[&r.chunk].batch);
                chunks.len() - 1
            });
            indices.push((slot, r.row as usize));
        }
        let width = chunks.first().map_or(0, |c| c.num_columns());
        let theirs = (0..width)
            .map(|j| {
                let arrays: Vec<&dyn Array> = chunks.iter().map(|c| c.column(j).as_ref()).collect();
                Ok(interleave(&arrays, &indices)?)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let columns = if side == 0 { [mine, theirs].concat() } else { [theirs, mine].concat() };
        let joined = RecordBatch::try_new(self.spec.schema.clone(), columns)?;
        match &self.spec.filter {
            None => Ok(joined),
            Some(f) => {
                let keep = f.evaluate(&joined)?.into_array(joined.num_rows())?;
                Ok(filter_record_batch(&joined, as_boolean(&keep)?)?)
            }
        }
    }

    fn on_watermark(&mut self, side: usize, wm: Millis, out: &mut Vec<Message>) {
        if wm <= self.watermarks[side] {
            return;
        }
        self.watermarks[side] = wm;
        let horizon = self.effective(side);
        self.expire(1 - side, horizon);
        let next = match self.spec.bounds {
            None if self.watermarks.iter().all(|w| *w == END_OF_TIME) => END_OF_TIME,
            None => Millis::MIN,
            Some(b) => {
                let (left, right) = (self.effective(0), self.effective(1));
                left.saturating_add(b.lower.min(0)).min(right.saturating_sub(b.upper.max(0)))
            }
        };
        if next > self.emitted {
            self.emitted = next;
            out.push(Message::Watermark(next));
        }
    }

    /// Drops `side`'s rows that expire before `horizon`.
    fn expire(&mut self, side: usize, horizon: Millis) {
        let store = &mut self.sides[side];
        while let Some(entry) = store.expiry.first_entry() {
            if *entry.key() >= horizon {
                break;
            }
            for r in entry.remove() {
                let Some(chunk) = store.chunks.get_mut(&r.chunk) else { continue };
                let key = chunk.keys.row(r.row as usize).data();
                if let Some(refs) = store.index.get_mut(key) {
                    refs.retain(|x| *x != r);
                    if refs.is_empty() {
                        store.index.remove(key);
                    }
                }
                chunk.live -= 1;
                if chunk.live == 0 {
                    if chunk.saved {
                        store.dropped.push(r.chunk);
                    }
                    store.bytes = store.bytes.saturating_sub(chunk.bytes);
                    store.chunks.remove(&r.chunk);
                }
            }
        }
    }

    fn checkpoint(&mut self, barrier: &mut Barrier) -> Result<()> {
        for (side, store) in self.sides.iter_mut().enumerate() {
            for id in store.dropped.drain(..) {
                barrier.writes.push((chunk_key(&self.state_prefix, side, id), None));
            }
            for (id, chunk) in store.chunks.iter_mut().filter(|(_, c)| !c.saved) {
                barrier.writes.push((chunk_key(&self.state_prefix, side, *id), Some(encode_batch(&chunk.batch)?)));
                chunk.saved = true;
            }
        }
        let mut marks = Vec::with_capacity(24);
        for w in [self.watermarks[0], self.watermarks[1], self.emitted] {
            marks.extend_from_slice(&w.to_be_bytes());
        }
        let mut key = self.state_prefix.clone();
        key.push(b'w');
        barrier.writes.push((key, Some(marks)));
        Ok(())
    }
}

/// Where a stored chunk lives: `c`, side, chunk id.
fn chunk_key(prefix: &[u8], side: usize, id: u64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&[b'c', side as u8]);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

impl BinaryOperator for StreamJoin {
    fn open(&mut self, state: &StateReader<'_>) -> Result<()> {
        self.state_prefix = state.key(&[]);
        let bad = || Error::Internal("bad join state".into());
        for (sub, value) in state.scan()? {
            match sub.as_slice() {
                [b'w'] if value.len() == 24 => {
                    let word = |i: usize| value[i * 8..i * 8 + 8].try_into().map(i64::from_be_bytes).map_err(|_| bad());
                    (self.watermarks, self.emitted) = ([word(0)?, word(1)?], word(2)?);
                }
                [b'c', side @ (0 | 1), id @ ..] => {
                    let id = u64::from_be_bytes(id.try_into().map_err(|_| bad())?);
                    self.insert(*side as usize, id, decode_batch(&value)?, None, true)?;
                }
                _ => return Err(bad()),
            }
        }
        let horizons = [self.effective(0), self.effective(1)];
        self.expire(0, horizons[1]);
        self.expire(1, horizons[0]);
        Ok(())
    }

    fn process(&mut self, side: Side, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => self.on_rows(index(side), batch, out)?,
            Message::Watermark(wm) => self.on_watermark(index(side), wm, out),
            Message::Barrier(mut barrier) => {
                self.checkpoint(&mut barrier)?;
                out.push(Message::Barrier(barrier));
            }
            Message::End => out.push(Message::End),
            Message::Changes(_) => {
                return Err(Error::Unsupported("joining an updating result with a stream is not supported yet".into()));
            }
        }
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        self.sides.iter().map(|s| s.bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{Field, Schema};
    use datafusion::physical_expr::expressions::Column;

    use crate::state::Store as StateStore;

    fn schema() -> SchemaRef {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true), Field::new("t", ts, true)]))
    }

    fn rows(rows: &[(i64, i64)]) -> Message {
        let keys = Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>());
        let times = TimestampMillisecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
        Message::Batch(RecordBatch::try_new(schema(), vec![Arc::new(keys), Arc::new(times)]).unwrap())
    }

    /// `right.t - left.t` within [0, 10 s], keyed by `k`, no other condition.
    fn join() -> StreamJoin {
        let key = || vec![Arc::new(Column::new("k", 0)) as Arc<dyn PhysicalExpr>];
        let fields = [schema().fields().to_vec(), schema().fields().to_vec()].concat();
        let bounds = TimeBounds { left_time: 1, right_time: 1, lower: 0, upper: 10_000, left_lag: 0, right_lag: 0 };
        let spec = JoinSpec {
            left_keys: key(),
            right_keys: key(),
            filter: None,
            bounds: Some(bounds),
            schema: Arc::new(Schema::new(fields)),
        };
        StreamJoin::new(spec, &[DataType::Int64]).unwrap()
    }

    /// A joined row: left key, left time, right key, right time.
    type Joined = (i64, i64, i64, i64);

    /// The joined rows and the watermarks that `msg` makes the join send.
    fn run(join: &mut StreamJoin, side: Side, msg: Message) -> (Vec<Joined>, Vec<Millis>) {
        let mut out = Vec::new();
        join.process(side, msg, &mut out).unwrap();
        let (mut joined, mut marks) = (Vec::new(), Vec::new());
        for m in out {
            match m {
                Message::Batch(b) => {
                    let int = |i: usize| b.column(i).as_any().downcast_ref::<Int64Array>().unwrap().clone();
                    let ts =
                        |i: usize| b.column(i).as_any().downcast_ref::<TimestampMillisecondArray>().unwrap().clone();
                    for r in 0..b.num_rows() {
                        joined.push((int(0).value(r), ts(1).value(r), int(2).value(r), ts(3).value(r)));
                    }
                }
                Message::Watermark(w) => marks.push(w),
                _ => {}
            }
        }
        (joined, marks)
    }

    fn live(join: &StreamJoin, side: usize) -> usize {
        join.sides[side].chunks.values().map(|c| c.live).sum()
    }

    #[test]
    fn rows_match_by_key_and_expire_with_the_other_sides_watermark() {
        let mut j = join();
        assert_eq!(run(&mut j, Side::Left, rows(&[(1, 0), (2, 1_000)])).0, vec![]);
        assert_eq!(run(&mut j, Side::Right, rows(&[(1, 5_000), (3, 5_000)])).0, vec![(1, 0, 1, 5_000)]);
        assert_eq!((live(&j, 0), live(&j, 1)), (2, 2));
        assert!(j.state_bytes() > 4 * 16, "four rows of two 8-byte values are counted: {}", j.state_bytes());
        // No right row still to come is within 10 s after either left row.
        let (_, marks) = run(&mut j, Side::Right, Message::Watermark(12_000));
        assert_eq!((live(&j, 0), marks), (0, vec![]), "the left watermark holds the output back");
        let (_, marks) = run(&mut j, Side::Left, Message::Watermark(20_000));
        assert_eq!((live(&j, 1), marks), (0, vec![2_000]), "right watermark minus the upper bound");
        // Too old to meet any left row still to come: neither joined nor kept.
        assert_eq!(run(&mut j, Side::Right, rows(&[(2, 12_500)])).0, vec![]);
        assert_eq!(live(&j, 1), 0);
        assert_eq!(j.state_bytes(), 0, "no rows kept, no memory counted");
    }

    #[test]
    fn state_survives_a_restart_and_expired_chunks_are_deleted() {
        let store = StateStore::temporary().unwrap();
        let checkpoint = |j: &mut StreamJoin| {
            let mut out = Vec::new();
            let barrier = Barrier::new(1, Vec::new());
            j.process(Side::Left, Message::Barrier(barrier), &mut out).unwrap();
            let Some(Message::Barrier(b)) = out.pop() else { panic!("no barrier") };
            store.commit(b.writes).unwrap();
        };
        let state = StateReader { store: &store, view: 1, operator: 3, shard: None };
        let mut first = join();
        first.open(&state).unwrap();
        run(&mut first, Side::Left, rows(&[(1, 0)]));
        run(&mut first, Side::Left, rows(&[(2, 30_000)]));
        run(&mut first, Side::Right, Message::Watermark(5_000));
        checkpoint(&mut first);
        let mut second = join();
        second.open(&state).unwrap();
        assert_eq!(run(&mut second, Side::Right, rows(&[(1, 6_000), (2, 31_000)])).0.len(), 2);
        run(&mut second, Side::Right, Message::Watermark(11_000));
        assert_eq!(live(&second, 0), 1, "the row at 0 expired, the one at 30 s not");
        checkpoint(&mut second);
        let mut third = join();
        third.open(&state).unwrap();
        assert_eq!((third.sides[0].chunks.len(), third.watermarks), (1, [Millis::MIN, 11_000]));
    }
}
