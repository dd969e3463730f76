//! Top-N per partition and deduplication: `ROW_NUMBER() OVER (PARTITION BY p ORDER BY o)`
//! filtered on its rank (`rn <= N`, `rn < N`, `rn = 1`).
//!
//! Created by the planner (`crate::sql::plan::topn`) for a filter on the rank of a window
//! function. Rows are kept per partition ordered by the ORDER BY keys (Arrow's row format,
//! whose bytes compare like the sort), ties broken by arrival (earlier first; later first
//! for deduplication that keeps the last row). Over append-only input only the best N rows
//! of a partition are kept; over keyed changes (an updating aggregate) every row is, since a
//! top row may fall back, and each upstream key's row moves or leaves as it changes. With a
//! window bound among the partition keys, a window's partitions are dropped once the
//! watermark passes its end.
//!
//! Output ([`TopNEmit`]):
//! - updates: at every barrier (and at window close), the ranks of changed partitions that
//!   now hold another row are upserted and ranks that emptied are deleted, keyed by the
//!   partition key and the rank (the partition key alone when only rank 1 is kept);
//! - on window close: each window's top rows once, append-only, when it closes;
//! - first row (deduplication keeping the first row by event time): a partition's row once,
//!   append-only, when the watermark reaches its time, after which no earlier row can come.
//!
//! Checkpoints store each changed window's rows as one Arrow IPC blob under its end time
//! (`w` + end), and the arrival counter under `seq`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, Int64Array, RecordBatch, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion::physical_expr::{PhysicalExpr, PhysicalSortExpr};

use super::aggregate::{WindowKey, as_times, evaluate_all};
use super::{Barrier, ChangeBatch, ENTRY_OVERHEAD, Message, Millis, Operator, StateReader};
use crate::error::{Error, Result};
use crate::ipc::{decode_batch, encode_batch};

/// How the operator emits its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopNEmit {
    /// Keyed upserts and deletes at barriers and window close.
    Updates,
    /// Each window's top rows once, append-only, when the window closes.
    OnWindowClose,
    /// Each partition's first row (by event time) once, append-only, when it is final.
    FirstRow,
}

/// What the query asked for, for EXPLAIN and tie-breaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopNKind {
    /// Top-N per partition.
    TopN,
    /// Deduplication keeping the first row by event time.
    KeepFirst,
    /// Deduplication keeping the last row by event time (later arrivals win ties).
    KeepLast,
}

/// What the planner hands to [`TopN::new`].
#[derive(Clone)]
pub struct TopNSpec {
    /// PARTITION BY expressions over the input.
    pub partition: Vec<Arc<dyn PhysicalExpr>>,
    /// Names and types of the partition keys (the output key's columns).
    pub partition_fields: Vec<Field>,
    /// ORDER BY expressions over the input.
    pub order: Vec<PhysicalSortExpr>,
    /// The first and last rank shown (1-based, inclusive).
    pub ranks: (u64, u64),
    /// The window bound among the partition keys, if any (`group_index` into `partition`).
    pub window: Option<WindowKey>,
    /// How to emit.
    pub emit: TopNEmit,
    /// Top-N or which deduplication.
    pub kind: TopNKind,
    /// The input is keyed changes (keep every row) rather than append-only rows.
    pub updating_input: bool,
    /// The input's columns followed by the rank.
    pub output_schema: SchemaRef,
}

impl TopNSpec {
    /// Whether output keys include the rank (more than rank 1 is kept).
    fn ranked_key(&self) -> bool {
        self.ranks.1 > 1
    }

    /// The columns of the output key: the partition keys, then the rank (if kept).
    pub fn key_schema(&self) -> SchemaRef {
        let mut fields = self.partition_fields.clone();
        if self.ranked_key() {
            fields.push(Field::new("rank", DataType::UInt64, true));
        }
        Arc::new(Schema::new(fields))
    }

    fn input_schema(&self) -> Schema {
        let fields = self.output_schema.fields();
        Schema::new(fields[..fields.len() - 1].to_vec())
    }
}

/// A row's place in its partition: ORDER BY keys (row format), then arrival.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RowId {
    order: Vec<u8>,
    tie: u64,
}

/// A kept row.
#[derive(Debug, Clone)]
struct Entry {
    /// The input row (row format).
    row: Vec<u8>,
    /// The upstream key, for keyed input.
    key: Option<Vec<u8>>,
    /// Arrival number (checkpointed; `tie` derives from it).
    seq: u64,
    /// Event time (first-row deduplication).
    time: Option<Millis>,
}

/// The rows of one partition.
#[derive(Debug, Default)]
struct Partition {
    rows: BTreeMap<RowId, Entry>,
    /// The rows last emitted, rank by rank from the first rank shown (updates).
    emitted: Vec<RowId>,
    /// Changed since the last emission (updates).
    dirty: bool,
    /// Its first row was emitted (first-row deduplication); `rows` is then empty.
    done: bool,
}

/// The partitions of one window (or of everything, without a window).
#[derive(Debug, Default)]
struct Window {
    partitions: HashMap<Vec<u8>, Partition>,
    /// Changed since the last checkpoint.
    dirty: bool,
}

/// Where the row of an upstream key is.
#[derive(Debug, Clone)]
struct Location {
    end: Millis,
    partition: Vec<u8>,
    id: RowId,
}

/// One input row, prepared.
struct Incoming<'a> {
    end: Millis,
    partition: Vec<u8>,
    order: &'a [u8],
    row: &'a [u8],
    key: Option<Vec<u8>>,
    time: Option<Millis>,
}

/// Emitted changes, collected before they become a message.
#[derive(Default)]
struct Collected {
    keys: Vec<Vec<u8>>,
    rows: Vec<Vec<u8>>,
    ranks: Vec<u64>,
    deletes: Vec<Vec<u8>>,
}

const GLOBAL: Millis = Millis::MAX;

/// The top-N operator.
pub struct TopN {
    spec: TopNSpec,
    partition_codec: Option<RowConverter>,
    order_codec: RowConverter,
    row_codec: RowConverter,
    keys: KeyCodec,
    windows: BTreeMap<Millis, Window>,
    /// Keyed input: where each upstream key's row is.
    located: HashMap<Vec<u8>, Location>,
    /// First-row deduplication: partitions with an unemitted row, by its time.
    pending: BTreeSet<(Millis, Millis, Vec<u8>)>,
    next_seq: u64,
    watermark: Millis,
    /// State keys of windows closed since the last checkpoint.
    closed: Vec<Millis>,
    state_prefix: Vec<u8>,
    /// Memory of the kept rows, their locations and the partitions.
    bytes: usize,
}

/// Memory of a kept row and, for keyed input, of its location.
fn entry_bytes(id: &RowId, entry: &Entry, partition: &[u8]) -> usize {
    let location = entry.key.as_ref().map_or(0, |k| ENTRY_OVERHEAD + 2 * k.len() + partition.len() + id.order.len());
    ENTRY_OVERHEAD + id.order.len() + entry.row.len() + location
}

/// Memory of a partition besides its rows.
fn partition_bytes(partition: &[u8]) -> usize {
    ENTRY_OVERHEAD + partition.len()
}

impl TopN {
    /// Builds the operator.
    pub fn new(spec: TopNSpec) -> Result<TopN> {
        let input = spec.input_schema();
        if input.fields().is_empty() {
            return Err(Error::Unsupported("top-N needs at least one input column".into()));
        }
        let partition_codec = if spec.partition.is_empty() {
            None
        } else {
            let fields = spec.partition_fields.iter().map(|f| SortField::new(f.data_type().clone())).collect();
            Some(RowConverter::new(fields)?)
        };
        let order_fields = (spec.order.iter())
            .map(|o| Ok(SortField::new_with_options(o.expr.data_type(&input)?, o.options)))
            .collect::<Result<_>>()?;
        let row_fields = input.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
        Ok(TopN {
            partition_codec,
            order_codec: RowConverter::new(order_fields)?,
            row_codec: RowConverter::new(row_fields)?,
            keys: KeyCodec {
                rank: RowConverter::new(vec![SortField::new(DataType::UInt64)])?,
                ranked: spec.ranked_key(),
            },
            spec,
            windows: BTreeMap::new(),
            located: HashMap::new(),
            pending: BTreeSet::new(),
            next_seq: 0,
            watermark: Millis::MIN,
            closed: Vec::new(),
            state_prefix: Vec::new(),
            bytes: 0,
        })
    }

    fn tie(&self, seq: u64) -> u64 {
        if self.spec.kind == TopNKind::KeepLast { u64::MAX - seq } else { seq }
    }

    /// Adds the rows of `batch`; `keys` are their upstream keys (keyed input).
    fn on_rows(&mut self, batch: &RecordBatch, keys: Option<&BinaryArray>) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let partition_cols = evaluate_all(&self.spec.partition, batch)?;
        let partitions = match &self.partition_codec {
            Some(codec) => Some(codec.convert_columns(&partition_cols)?),
            None => None,
        };
        let order_exprs: Vec<_> = self.spec.order.iter().map(|o| o.expr.clone()).collect();
        let order_cols = evaluate_all(&order_exprs, batch)?;
        let orders = self.order_codec.convert_columns(&order_cols)?;
        let rows = self.row_codec.convert_columns(batch.columns())?;
        let ends = self.window_ends(&partition_cols, n)?;
        let times = match self.spec.emit {
            TopNEmit::FirstRow => Some(as_times(&order_cols[0])?),
            _ => None,
        };
        for (i, end) in ends.into_iter().enumerate() {
            let key = keys.map(|k| k.value(i).to_vec());
            if let Some(key) = &key {
                self.remove(key);
            }
            let incoming = Incoming {
                end,
                partition: partitions.as_ref().map_or_else(Vec::new, |p| p.row(i).as_ref().to_vec()),
                order: orders.row(i).data(),
                row: rows.row(i).data(),
                key,
                time: times.as_ref().and_then(|t| t.is_valid(i).then(|| t.value(i))),
            };
            self.insert(incoming);
        }
        Ok(())
    }

    /// The window end of every row (`GLOBAL` without a window).
    fn window_ends(&self, partition_cols: &[ArrayRef], n: usize) -> Result<Vec<Millis>> {
        let Some(w) = &self.spec.window else { return Ok(vec![GLOBAL; n]) };
        let times = as_times(&partition_cols[w.group_index])?;
        Ok(times.iter().map(|t| t.map_or(GLOBAL, |t| t.saturating_add(w.end_offset))).collect())
    }

    fn insert(&mut self, row: Incoming<'_>) {
        if row.end != GLOBAL && row.end <= self.watermark {
            return; // its window has closed
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = RowId { order: row.order.to_vec(), tie: self.tie(seq) };
        let (first_row, keep) = (self.spec.emit == TopNEmit::FirstRow, self.kept());
        let window = self.windows.entry(row.end).or_default();
        if !window.partitions.contains_key(&row.partition) {
            self.bytes += partition_bytes(&row.partition);
        }
        let partition = window.partitions.entry(row.partition.clone()).or_default();
        let full = partition.rows.len() >= keep;
        if partition.done || (full && partition.rows.last_key_value().is_some_and(|(last, _)| *last < id)) {
            return; // not among the rows kept: nothing changes
        }
        let old_first = partition.rows.first_key_value().map(|(_, e)| e.time.unwrap_or(GLOBAL));
        if let Some(key) = &row.key {
            let location = Location { end: row.end, partition: row.partition.clone(), id: id.clone() };
            self.located.insert(key.clone(), location);
        }
        let entry = Entry { row: row.row.to_vec(), key: row.key, seq, time: row.time };
        self.bytes += entry_bytes(&id, &entry, &row.partition);
        partition.rows.insert(id, entry);
        while partition.rows.len() > keep {
            if let Some((id, dropped)) = partition.rows.pop_last() {
                self.bytes = self.bytes.saturating_sub(entry_bytes(&id, &dropped, &row.partition));
                if let Some(key) = dropped.key {
                    self.located.remove(&key);
                }
            }
        }
        (partition.dirty, window.dirty) = (true, true);
        if first_row {
            // The partition keeps one row: the earliest so far, which waits for the watermark.
            if let Some(old) = old_first {
                self.pending.remove(&(old, row.end, row.partition.clone()));
            }
            if let Some((_, e)) = partition.rows.first_key_value() {
                self.pending.insert((e.time.unwrap_or(GLOBAL), row.end, row.partition));
            }
        }
    }

    /// How many rows a partition keeps.
    fn kept(&self) -> usize {
        if self.spec.updating_input { usize::MAX } else { usize::try_from(self.spec.ranks.1).unwrap_or(usize::MAX) }
    }

    /// Removes the row of upstream key `key`, if any.
    fn remove(&mut self, key: &[u8]) {
        let Some(at) = self.located.remove(key) else { return };
        if let Some(window) = self.windows.get_mut(&at.end)
            && let Some(partition) = window.partitions.get_mut(&at.partition)
            && let Some(entry) = partition.rows.remove(&at.id)
        {
            self.bytes = self.bytes.saturating_sub(entry_bytes(&at.id, &entry, &at.partition));
            (partition.dirty, window.dirty) = (true, true);
        }
    }

    fn on_changes(&mut self, changes: &ChangeBatch) -> Result<()> {
        for key in changes.deletes.iter().flatten() {
            self.remove(key);
        }
        self.on_rows(&changes.rows, Some(&changes.keys))
    }

    /// Updates: the changed ranks of dirty partitions of windows in `ends`.
    fn flush(&mut self, ends: std::ops::RangeInclusive<Millis>, out: &mut Vec<Message>) -> Result<()> {
        let (first, last) = self.spec.ranks;
        let shown = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
        let skip = usize::try_from(first - 1).unwrap_or(usize::MAX);
        let mut collected = Collected::default();
        for window in self.windows.range_mut(ends).map(|(_, w)| w) {
            for (pkey, partition) in window.partitions.iter_mut().filter(|(_, p)| p.dirty) {
                partition.dirty = false;
                let top: Vec<(&RowId, &Entry)> = partition.rows.iter().skip(skip).take(shown).collect();
                for r in 0..top.len().max(partition.emitted.len()) {
                    let rank = first + r as u64;
                    match (top.get(r), partition.emitted.get(r)) {
                        (Some((id, _)), Some(old)) if *id == old => {}
                        (Some((_, entry)), _) => {
                            collected.keys.push(self.keys.encode(pkey, rank)?);
                            collected.rows.push(entry.row.clone());
                            collected.ranks.push(rank);
                        }
                        (None, _) => collected.deletes.push(self.keys.encode(pkey, rank)?),
                    }
                }
                partition.emitted = top.into_iter().map(|(id, _)| id.clone()).collect();
            }
        }
        if !collected.keys.is_empty() || !collected.deletes.is_empty() {
            out.push(Message::Changes(Box::new(self.changes(collected)?)));
        }
        Ok(())
    }

    fn changes(&self, c: Collected) -> Result<ChangeBatch> {
        let keys = binary(&c.keys);
        let rows = self.output_rows(&c.rows, c.ranks)?;
        Ok(ChangeBatch { keys, rows, deletes: binary(&c.deletes) })
    }

    /// Output rows: the input rows with their ranks.
    fn output_rows(&self, rows: &[Vec<u8>], ranks: Vec<u64>) -> Result<RecordBatch> {
        let parser = self.row_codec.parser();
        let mut columns = self.row_codec.convert_rows(rows.iter().map(|r| parser.parse(r)))?;
        let rank_type = self.spec.output_schema.fields()[columns.len()].data_type();
        columns.push(cast(&(Arc::new(UInt64Array::from(ranks)) as ArrayRef), rank_type)?);
        let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows.len()));
        Ok(RecordBatch::try_new_with_options(self.spec.output_schema.clone(), columns, &options)?)
    }

    /// First-row deduplication: emits the rows whose time the watermark has reached.
    fn emit_first_rows(&mut self, watermark: Millis, out: &mut Vec<Message>) -> Result<()> {
        let later = self.pending.split_off(&(watermark.saturating_add(1), Millis::MIN, Vec::new()));
        let ready = std::mem::replace(&mut self.pending, later);
        let mut rows = Vec::new();
        for (_, end, pkey) in ready {
            if let Some(window) = self.windows.get_mut(&end)
                && let Some(partition) = window.partitions.get_mut(&pkey)
                && let Some((_, entry)) = partition.rows.first_key_value()
            {
                rows.push(entry.row.clone());
                let freed: usize = partition.rows.iter().map(|(id, e)| entry_bytes(id, e, &pkey)).sum();
                self.bytes = self.bytes.saturating_sub(freed);
                partition.rows.clear();
                (partition.done, window.dirty) = (true, true);
            }
        }
        if !rows.is_empty() {
            let ranks = vec![1; rows.len()];
            out.push(Message::Batch(self.output_rows(&rows, ranks)?));
        }
        Ok(())
    }

    /// Closes windows ending at or before `watermark`: final output, then state dropped.
    fn close_windows(&mut self, watermark: Millis, out: &mut Vec<Message>) -> Result<()> {
        self.watermark = self.watermark.max(watermark);
        if self.spec.window.is_none() {
            return Ok(());
        }
        let last = watermark.min(GLOBAL - 1);
        match self.spec.emit {
            TopNEmit::Updates => self.flush(Millis::MIN..=last, out)?,
            TopNEmit::OnWindowClose => self.emit_top_rows(last, out)?,
            TopNEmit::FirstRow => {}
        }
        let open = self.windows.split_off(&last.saturating_add(1));
        for (end, window) in std::mem::replace(&mut self.windows, open) {
            for (pkey, partition) in &window.partitions {
                let rows: usize = partition.rows.iter().map(|(id, e)| entry_bytes(id, e, pkey)).sum();
                self.bytes = self.bytes.saturating_sub(rows + partition_bytes(pkey));
                for entry in partition.rows.values() {
                    if let Some(key) = &entry.key {
                        self.located.remove(key);
                    }
                }
            }
            self.closed.push(end);
        }
        Ok(())
    }

    /// On window close: the shown rows of every partition of windows ending by `last`.
    fn emit_top_rows(&self, last: Millis, out: &mut Vec<Message>) -> Result<()> {
        let (first, last_rank) = self.spec.ranks;
        let (mut rows, mut ranks) = (Vec::new(), Vec::new());
        for window in self.windows.range(..=last).map(|(_, w)| w) {
            for partition in window.partitions.values() {
                let shown = partition.rows.values().zip(1..).skip_while(|(_, rank)| *rank < first);
                for (entry, rank) in shown.take_while(|(_, rank)| *rank <= last_rank) {
                    rows.push(entry.row.clone());
                    ranks.push(rank);
                }
            }
        }
        if !rows.is_empty() {
            out.push(Message::Batch(self.output_rows(&rows, ranks)?));
        }
        Ok(())
    }

    /// Emits what became final (first rows, closed windows), then forwards the watermark.
    fn on_watermark(&mut self, watermark: Millis, out: &mut Vec<Message>) -> Result<()> {
        if self.spec.emit == TopNEmit::FirstRow {
            self.emit_first_rows(watermark, out)?;
        }
        self.close_windows(watermark, out)?;
        out.push(Message::Watermark(watermark));
        Ok(())
    }

    /// Emits updates (updating mode), snapshots changed windows into the barrier and
    /// forwards it.
    fn on_barrier(&mut self, mut barrier: Barrier, out: &mut Vec<Message>) -> Result<()> {
        if self.spec.emit == TopNEmit::Updates {
            self.flush(Millis::MIN..=GLOBAL, out)?;
        }
        for end in self.closed.drain(..) {
            barrier.writes.push((window_key(&self.state_prefix, end), None));
        }
        for (end, window) in self.windows.iter_mut().filter(|(_, w)| w.dirty) {
            window.dirty = false;
            barrier.writes.push((window_key(&self.state_prefix, *end), Some(encode_window(window)?)));
        }
        let mut seq_key = self.state_prefix.clone();
        seq_key.extend_from_slice(SEQ);
        barrier.writes.push((seq_key, Some(self.next_seq.to_be_bytes().to_vec())));
        out.push(Message::Barrier(barrier));
        Ok(())
    }

    /// Restores one window from its checkpoint blob.
    fn restore_window(&mut self, end: Millis, blob: &[u8]) -> Result<()> {
        let batch = decode_batch(blob)?;
        let saved = SavedRows::of(&batch)?;
        let (first, last) = self.spec.ranks;
        let mut window = Window::default();
        for i in 0..batch.num_rows() {
            let pkey = saved.partition.value(i).to_vec();
            if !window.partitions.contains_key(&pkey) {
                self.bytes += partition_bytes(&pkey);
            }
            let partition: &mut Partition = window.partitions.entry(pkey.clone()).or_default();
            if saved.done.value(i) {
                partition.done = true;
                continue;
            }
            let seq = saved.seq.value(i);
            let id = RowId { order: saved.order.value(i).to_vec(), tie: self.tie(seq) };
            let key = saved.key.is_valid(i).then(|| saved.key.value(i).to_vec());
            let time = saved.time.is_valid(i).then(|| saved.time.value(i));
            if let Some(key) = &key {
                self.located.insert(key.clone(), Location { end, partition: pkey.clone(), id: id.clone() });
            }
            let entry = Entry { row: saved.row.value(i).to_vec(), key, seq, time };
            self.bytes += entry_bytes(&id, &entry, &pkey);
            partition.rows.insert(id, entry);
            if self.spec.emit == TopNEmit::FirstRow {
                self.pending.insert((time.unwrap_or(GLOBAL), end, pkey));
            }
        }
        // Every change was emitted at the checkpoint's barrier: what is shown is the top.
        let skip = usize::try_from(first - 1).unwrap_or(usize::MAX);
        let shown = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
        for partition in window.partitions.values_mut() {
            partition.emitted = partition.rows.keys().skip(skip).take(shown).cloned().collect();
        }
        self.windows.insert(end, window);
        Ok(())
    }
}

const SEQ: &[u8] = b"seq";

/// Encodes output keys: the partition key, then the rank (as a `UInt64` column would be).
struct KeyCodec {
    rank: RowConverter,
    ranked: bool,
}

impl KeyCodec {
    /// The output key of `rank` in partition `pkey`.
    fn encode(&self, pkey: &[u8], rank: u64) -> Result<Vec<u8>> {
        let mut key = pkey.to_vec();
        if self.ranked {
            let ranks: ArrayRef = Arc::new(UInt64Array::from(vec![rank]));
            key.extend_from_slice(self.rank.convert_columns(&[ranks])?.row(0).as_ref());
        }
        Ok(key)
    }
}

fn window_key(prefix: &[u8], end: Millis) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.push(b'w');
    k.extend_from_slice(&end.to_be_bytes());
    k
}

/// The columns of a window's checkpoint blob.
struct SavedRows<'a> {
    partition: &'a BinaryArray,
    order: &'a BinaryArray,
    seq: &'a UInt64Array,
    key: &'a BinaryArray,
    row: &'a BinaryArray,
    time: &'a Int64Array,
    done: &'a BooleanArray,
}

impl SavedRows<'_> {
    fn of(batch: &RecordBatch) -> Result<SavedRows<'_>> {
        let bad = || Error::Internal("bad top-N checkpoint".into());
        let col = |i: usize| batch.columns().get(i).ok_or_else(bad);
        let bin = |i: usize| col(i)?.as_any().downcast_ref::<BinaryArray>().ok_or_else(bad);
        Ok(SavedRows {
            partition: bin(0)?,
            order: bin(1)?,
            seq: col(2)?.as_any().downcast_ref().ok_or_else(bad)?,
            key: bin(3)?,
            row: bin(4)?,
            time: col(5)?.as_any().downcast_ref().ok_or_else(bad)?,
            done: col(6)?.as_any().downcast_ref().ok_or_else(bad)?,
        })
    }
}

/// One window's rows (and the partitions done with, for first-row deduplication).
fn encode_window(window: &Window) -> Result<Vec<u8>> {
    let (mut partition, mut order, mut row, mut key) =
        (BinaryBuilder::new(), BinaryBuilder::new(), BinaryBuilder::new(), BinaryBuilder::new());
    let (mut seq, mut time, mut done) = (Vec::new(), Vec::new(), Vec::new());
    for (pkey, p) in &window.partitions {
        if p.done {
            partition.append_value(pkey);
            order.append_value(b"");
            row.append_value(b"");
            key.append_null();
            seq.push(0);
            time.push(None);
            done.push(true);
        }
        for (id, entry) in &p.rows {
            partition.append_value(pkey);
            order.append_value(&id.order);
            row.append_value(&entry.row);
            key.append_option(entry.key.as_ref());
            seq.push(entry.seq);
            time.push(entry.time);
            done.push(false);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(partition.finish()),
        Arc::new(order.finish()),
        Arc::new(UInt64Array::from(seq)),
        Arc::new(key.finish()),
        Arc::new(row.finish()),
        Arc::new(Int64Array::from(time)),
        Arc::new(BooleanArray::from(done)),
    ];
    let fields: Vec<Field> =
        columns.iter().enumerate().map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true)).collect();
    encode_batch(&RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

fn binary(values: &[Vec<u8>]) -> BinaryArray {
    BinaryArray::from_iter_values(values.iter())
}

impl Operator for TopN {
    fn open(&mut self, state: &StateReader<'_>) -> Result<()> {
        self.state_prefix = state.key(&[]);
        for (sub, blob) in state.scan()? {
            match sub.split_first() {
                Some((b'w', end)) => {
                    let end = end.try_into().map_err(|_| Error::Internal("bad top-N state key".into()))?;
                    self.restore_window(Millis::from_be_bytes(end), &blob)?;
                }
                _ if sub == SEQ => {
                    let seq = blob.as_slice().try_into().map_err(|_| Error::Internal("bad top-N counter".into()))?;
                    self.next_seq = u64::from_be_bytes(seq);
                }
                _ => return Err(Error::Internal("unknown top-N state key".into())),
            }
        }
        Ok(())
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => self.on_rows(&batch, None)?,
            Message::Changes(changes) => self.on_changes(&changes)?,
            Message::Watermark(wm) => self.on_watermark(wm, out)?,
            Message::Barrier(barrier) => self.on_barrier(barrier, out)?,
            Message::End => out.push(Message::End),
        }
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{StringArray, TimestampMillisecondArray};
    use arrow::compute::SortOptions;
    use arrow::datatypes::TimeUnit;
    use arrow::util::display::array_value_to_string;
    use datafusion::physical_expr::expressions::col;

    use super::*;
    use crate::state::Store;

    fn input_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]))
    }

    /// Top `last` per `k` by `v` descending (or per window of 10 ms on `ts` with `window`).
    fn spec(last: u64, emit: TopNEmit, updating_input: bool, window: bool) -> TopNSpec {
        let input = input_schema();
        let mut fields = input.fields().to_vec();
        fields.push(Arc::new(Field::new("rn", DataType::UInt64, true)));
        let mut partition = vec![col("k", &input).unwrap()];
        if window {
            partition.push(col("ts", &input).unwrap());
        }
        let partition_fields =
            partition.iter().map(|e| Field::new(e.to_string(), e.data_type(&input).unwrap(), true)).collect();
        let descending = SortOptions { descending: true, nulls_first: false };
        TopNSpec {
            partition,
            partition_fields,
            order: vec![PhysicalSortExpr::new(col("v", &input).unwrap(), descending)],
            ranks: (1, last),
            window: window.then_some(WindowKey { group_index: 1, end_offset: 10 }),
            emit,
            kind: TopNKind::TopN,
            updating_input,
            output_schema: Arc::new(Schema::new(fields)),
        }
    }

    fn rows(items: &[(&str, i64, i64)]) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(items.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(items.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(TimestampMillisecondArray::from(items.iter().map(|r| r.2).collect::<Vec<_>>())),
        ];
        RecordBatch::try_new(input_schema(), columns).unwrap()
    }

    fn batch(items: &[(&str, i64, i64)]) -> Message {
        Message::Batch(rows(items))
    }

    /// Keyed changes: upserts of (key, row) and deletes of keys.
    fn changes(upserts: &[(&str, (&str, i64, i64))], deletes: &[&str]) -> Message {
        let keys = BinaryArray::from_iter_values(upserts.iter().map(|u| u.0.as_bytes()));
        let items: Vec<_> = upserts.iter().map(|u| u.1).collect();
        let deletes = BinaryArray::from_iter_values(deletes.iter().map(|d| d.as_bytes()));
        Message::Changes(Box::new(ChangeBatch { keys, rows: rows(&items), deletes }))
    }

    fn barrier() -> Message {
        Message::Barrier(Barrier::new(1, vec![]))
    }

    fn text(batch: &RecordBatch, i: usize) -> String {
        let cells: Vec<String> =
            batch.columns().iter().map(|c| array_value_to_string(c.as_ref(), i).unwrap()).collect();
        cells.join(" ")
    }

    /// A view fed by the operator: keyed rows, or appended rows in order.
    #[derive(Debug, Default, PartialEq)]
    struct View {
        keyed: BTreeMap<Vec<u8>, String>,
        appended: Vec<String>,
    }

    impl View {
        fn sorted(&self) -> Vec<String> {
            let mut rows: Vec<String> = self.keyed.values().cloned().collect();
            rows.sort();
            rows
        }
    }

    /// Feeds `msgs` to `op`, applying its output to `view` and committing barriers to `store`.
    fn run(op: &mut TopN, store: &Store, view: &mut View, msgs: Vec<Message>) {
        let mut out = Vec::new();
        for m in msgs {
            op.process(m, &mut out).unwrap();
        }
        for m in out {
            match m {
                Message::Batch(b) => view.appended.extend((0..b.num_rows()).map(|i| text(&b, i))),
                Message::Changes(c) => {
                    for key in c.deletes.iter().flatten() {
                        view.keyed.remove(key);
                    }
                    for (i, key) in c.keys.iter().enumerate() {
                        view.keyed.insert(key.unwrap().to_vec(), text(&c.rows, i));
                    }
                }
                Message::Barrier(b) => store.commit(b.writes).unwrap(),
                _ => {}
            }
        }
    }

    /// The state's memory by a walk over all of it: the running count must equal it.
    fn walked(op: &TopN) -> usize {
        let mut bytes = 0;
        for window in op.windows.values() {
            for (pkey, p) in &window.partitions {
                bytes += partition_bytes(pkey) + p.rows.iter().map(|(id, e)| entry_bytes(id, e, pkey)).sum::<usize>();
            }
        }
        bytes
    }

    fn opened(spec: TopNSpec, store: &Store) -> TopN {
        let mut op = TopN::new(spec).unwrap();
        op.open(&StateReader { store, view: 7, operator: 2, shard: None }).unwrap();
        op
    }

    fn first_part() -> Vec<Message> {
        vec![batch(&[("a", 5, 1), ("a", 7, 2), ("b", 1, 3), ("a", 7, 4)]), barrier()]
    }

    fn second_part() -> Vec<Message> {
        vec![batch(&[("a", 9, 5), ("b", 2, 6), ("a", 6, 7)]), barrier()]
    }

    #[test]
    fn top_two_per_partition_with_ties_by_arrival() {
        let store = Store::temporary().unwrap();
        let mut op = opened(spec(2, TopNEmit::Updates, false, false), &store);
        let mut view = View::default();
        run(&mut op, &store, &mut view, first_part());
        let expected =
            ["a 7 1970-01-01T00:00:00.002 1", "a 7 1970-01-01T00:00:00.004 2", "b 1 1970-01-01T00:00:00.003 1"];
        assert_eq!(view.sorted(), expected, "the tie at 7: the earlier row ranks first");
        run(&mut op, &store, &mut view, second_part());
        let expected = [
            "a 7 1970-01-01T00:00:00.002 2",
            "a 9 1970-01-01T00:00:00.005 1",
            "b 1 1970-01-01T00:00:00.003 2",
            "b 2 1970-01-01T00:00:00.006 1",
        ];
        assert_eq!(view.sorted(), expected, "the second 7 fell out of the top 2");
        assert_eq!(
            op.windows[&GLOBAL].partitions.values().map(|p| p.rows.len()).sum::<usize>(),
            4,
            "only the top 2 kept"
        );
        // Keys decode with the key schema (as sinks do): partition key, then rank.
        let key_schema = spec(2, TopNEmit::Updates, false, false).key_schema();
        let fields = key_schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
        let converter = RowConverter::new(fields).unwrap();
        let parser = converter.parser();
        let columns = converter.convert_rows(view.keyed.keys().map(|k| parser.parse(k))).unwrap();
        let keys = RecordBatch::try_new(key_schema, columns).unwrap();
        let decoded: Vec<String> = (0..keys.num_rows()).map(|i| text(&keys, i)).collect();
        assert_eq!(decoded, ["a 1", "a 2", "b 1", "b 2"]);
    }

    #[test]
    fn a_restored_operator_continues_like_an_uninterrupted_one() {
        for (emit, window) in [(TopNEmit::Updates, false), (TopNEmit::OnWindowClose, true), (TopNEmit::Updates, true)] {
            let (store, restored_store) = (Store::temporary().unwrap(), Store::temporary().unwrap());
            let (mut whole, mut restored) = (View::default(), View::default());
            let mut op = opened(spec(2, emit, false, window), &store);
            run(&mut op, &store, &mut whole, first_part());
            run(&mut op, &store, &mut whole, second_part());
            run(&mut op, &store, &mut whole, vec![Message::Watermark(20), barrier()]);

            let mut before = opened(spec(2, emit, false, window), &restored_store);
            run(&mut before, &restored_store, &mut restored, first_part());
            drop(before);
            let mut after = opened(spec(2, emit, false, window), &restored_store);
            run(&mut after, &restored_store, &mut restored, second_part());
            run(&mut after, &restored_store, &mut restored, vec![Message::Watermark(20), barrier()]);
            assert_eq!(whole, restored, "{emit:?} window={window}");
            assert!(whole.keyed.len() + whole.appended.len() >= 3);
        }
    }

    #[test]
    fn keyed_input_moves_rows_and_deletes_fall_back() {
        let store = Store::temporary().unwrap();
        let mut op = opened(spec(2, TopNEmit::Updates, true, false), &store);
        let mut view = View::default();
        let first = changes(&[("u1", ("a", 3, 0)), ("u2", ("a", 2, 0)), ("u3", ("a", 1, 0))], &[]);
        run(&mut op, &store, &mut view, vec![first, barrier()]);
        assert_eq!(view.sorted(), ["a 2 1970-01-01T00:00:00 2", "a 3 1970-01-01T00:00:00 1"]);
        // u3 overtakes everyone, u1 leaves: u2 and u3 remain.
        run(&mut op, &store, &mut view, vec![changes(&[("u3", ("a", 5, 0))], &["u1"]), barrier()]);
        assert_eq!(view.sorted(), ["a 2 1970-01-01T00:00:00 2", "a 5 1970-01-01T00:00:00 1"]);
        assert_eq!((op.state_bytes(), op.located.len()), (walked(&op), 2));
        let mut restored = opened(spec(2, TopNEmit::Updates, true, false), &store);
        assert_eq!(restored.state_bytes(), op.state_bytes(), "a restore counts the same rows");
        run(&mut restored, &store, &mut view, vec![changes(&[], &["u3"]), barrier()]);
        assert_eq!(view.sorted(), ["a 2 1970-01-01T00:00:00 1"], "rank 2 emptied: deleted");
        assert_eq!(restored.state_bytes(), walked(&restored));
    }

    #[test]
    fn windows_emit_on_close_once_and_drop_their_state() {
        let store = Store::temporary().unwrap();
        let mut op = opened(spec(1, TopNEmit::OnWindowClose, false, true), &store);
        let mut view = View::default();
        run(&mut op, &store, &mut view, vec![batch(&[("a", 1, 0), ("a", 4, 0), ("a", 2, 10)]), barrier()]);
        assert!(view.appended.is_empty(), "nothing before the window closes");
        let two_windows = op.state_bytes();
        assert_eq!(two_windows, walked(&op));
        run(&mut op, &store, &mut view, vec![Message::Watermark(10), barrier()]);
        assert_eq!(op.state_bytes(), walked(&op));
        assert!(op.state_bytes() > 0 && op.state_bytes() < two_windows, "the closed window's memory is freed");
        assert_eq!(view.appended, ["a 4 1970-01-01T00:00:00 1"]);
        assert_eq!(op.windows.len(), 1, "the closed window is dropped");
        assert!(store.scan_prefix(&op.state_prefix).count() == 2, "one window and the counter remain");
    }

    #[test]
    fn first_row_is_emitted_once_the_watermark_passes_it() {
        let store = Store::temporary().unwrap();
        let input = input_schema();
        let ascending = SortOptions { descending: false, nulls_first: false };
        let dedup = TopNSpec {
            order: vec![PhysicalSortExpr::new(col("ts", &input).unwrap(), ascending)],
            kind: TopNKind::KeepFirst,
            ..spec(1, TopNEmit::FirstRow, false, false)
        };
        let mut op = opened(dedup, &store);
        let mut view = View::default();
        run(&mut op, &store, &mut view, vec![batch(&[("a", 1, 5), ("b", 2, 6), ("a", 3, 4)]), Message::Watermark(4)]);
        assert_eq!(view.appended, ["a 3 1970-01-01T00:00:00.004 1"], "the earlier row of a, out of order");
        run(&mut op, &store, &mut view, vec![batch(&[("a", 9, 7), ("b", 8, 7)]), Message::Watermark(9)]);
        assert_eq!(view.appended.len(), 2, "a is done; b's first row at 6");
        assert_eq!(op.state_bytes(), walked(&op), "done partitions keep only their key");
        assert_eq!(view.appended[1], "b 2 1970-01-01T00:00:00.006 1");
    }
}
