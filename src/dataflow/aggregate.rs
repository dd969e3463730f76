//! Grouped aggregation over append-only input, optionally per event-time window.
//!
//! Created by the planner for GROUP BY. Group keys are interned with DataFusion's
//! `GroupValues` and the maths is done by DataFusion's `GroupsAccumulator`s (row
//! accumulators through an adapter where no groups accumulator exists, e.g. DISTINCT). Each
//! window has its own group set, so closing a window drops exactly its state.
//!
//! Output:
//! - updating mode (default): at every checkpoint barrier, the current value of every group
//!   of every window that changed since the last one; a window's final value is emitted when
//!   the watermark passes its end, and its state is dropped. An aggregate without GROUP BY
//!   or window has a row before any input (`count` 0, others NULL), as in Postgres;
//! - `EMIT ON WINDOW CLOSE`: only the final value, once, when the window closes, as plain
//!   append-only rows.
//!
//! Checkpoints store each changed window's group keys and accumulator states as one Arrow
//! IPC blob under the window's end time.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, RecordBatch, TimestampMillisecondArray, UInt32Array,
};
use arrow::compute::take;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::{GroupsAccumulatorAdapter, PhysicalExpr};
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use super::{Barrier, ChangeBatch, Message, Millis, Operator, StateReader};
use crate::error::{Error, Result};
use crate::ipc::{decode_batch, encode_batch};

/// Which group column is the window, and how to get the window end from it.
#[derive(Debug, Clone)]
pub struct WindowKey {
    /// Index of the window column among the group expressions.
    pub group_index: usize,
    /// Added to the column's value to get the window end (the size for `window_start`).
    pub end_offset: Millis,
}

/// What the planner hands to [`Aggregate::new`].
#[derive(Clone)]
pub struct AggregateSpec {
    /// Group expressions over the input.
    pub group_exprs: Vec<Arc<dyn PhysicalExpr>>,
    /// Aggregate functions.
    pub aggregates: Vec<Arc<AggregateFunctionExpr>>,
    /// `FILTER (WHERE ...)` of each aggregate.
    pub filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// The window among the group keys, if any.
    pub window: Option<WindowKey>,
    /// Emit only when windows close.
    pub emit_on_close: bool,
    /// Group columns followed by aggregate columns.
    pub output_schema: SchemaRef,
}

/// Interned group keys. DataFusion's `GroupValues` needs at least one key column; an
/// aggregate without GROUP BY has exactly one group, which needs no interning.
enum GroupKeys {
    /// GROUP BY columns.
    Values(Box<dyn GroupValues>),
    /// No GROUP BY: the single group exists once a row arrived.
    Single { present: bool },
}

impl GroupKeys {
    /// Group ids of `rows` rows whose keys are `keys`.
    fn intern(&mut self, keys: &[ArrayRef], rows: usize, ids: &mut Vec<usize>) -> Result<()> {
        match self {
            GroupKeys::Values(v) => v.intern(keys, ids)?,
            GroupKeys::Single { present } => {
                ids.clear();
                ids.resize(rows, 0);
                *present |= rows > 0;
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        match self {
            GroupKeys::Values(v) => v.len(),
            GroupKeys::Single { present } => usize::from(*present),
        }
    }

    /// Takes all keys out (no columns for the single group).
    fn emit(&mut self) -> Result<Vec<ArrayRef>> {
        match self {
            GroupKeys::Values(v) => Ok(v.emit(EmitTo::All)?),
            GroupKeys::Single { present } => {
                *present = false;
                Ok(Vec::new())
            }
        }
    }
}

/// The grouped state of one window (or of everything, without a window).
struct GroupSet {
    values: GroupKeys,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
    /// Changed since the last emission or checkpoint.
    dirty: bool,
    /// Memory it held when last measured (counted in [`Aggregate::bytes`]).
    bytes: usize,
}

impl GroupSet {
    /// Measures the set again; returns its size before.
    fn remeasure(&mut self) -> usize {
        let keys = match &self.values {
            GroupKeys::Values(v) => v.size(),
            GroupKeys::Single { .. } => 0,
        };
        let now = keys + self.accumulators.iter().map(|a| a.size()).sum::<usize>();
        std::mem::replace(&mut self.bytes, now)
    }
}

/// The aggregate operator.
pub struct Aggregate {
    spec: AggregateSpec,
    group_schema: SchemaRef,
    key_encoder: RowConverter,
    /// Window end (or `Millis::MAX` without a window) to its groups.
    sets: BTreeMap<Millis, GroupSet>,
    /// State keys of windows closed since the last checkpoint.
    closed: Vec<Millis>,
    state_prefix: Vec<u8>,
    group_ids: Vec<usize>,
    /// Memory held by all sets, as last measured.
    bytes: usize,
    /// An aggregate without GROUP BY or window that has seen no row yet: its row for no
    /// input goes out at the next checkpoint ([`Aggregate::empty_row`]).
    empty_row_pending: bool,
}

const GLOBAL: Millis = Millis::MAX;

impl Aggregate {
    /// Builds the operator.
    pub fn new(spec: AggregateSpec) -> Result<Aggregate> {
        let n = spec.group_exprs.len();
        let group_schema = Arc::new(Schema::new(spec.output_schema.fields()[..n].to_vec()));
        let sort_fields = group_schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
        Ok(Aggregate {
            key_encoder: RowConverter::new(sort_fields)?,
            group_schema,
            spec,
            sets: BTreeMap::new(),
            closed: Vec::new(),
            state_prefix: Vec::new(),
            group_ids: Vec::new(),
            bytes: 0,
            empty_row_pending: false,
        })
    }

    fn new_set(&self) -> Result<GroupSet> {
        let values = if self.group_schema.fields().is_empty() {
            GroupKeys::Single { present: false }
        } else {
            GroupKeys::Values(new_group_values(self.group_schema.clone(), &GroupOrdering::None)?)
        };
        let accumulators = self.spec.aggregates.iter().map(|a| new_accumulator(a)).collect::<Result<_>>()?;
        Ok(GroupSet { values, accumulators, dirty: false, bytes: 0 })
    }

    fn on_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        let keys = evaluate_all(&self.spec.group_exprs, batch)?;
        let args =
            self.spec.aggregates.iter().map(|a| evaluate_all(&a.expressions(), batch)).collect::<Result<Vec<_>>>()?;
        let filters = self
            .spec
            .filters
            .iter()
            .map(|f| f.as_ref().map(|f| evaluate_all(std::slice::from_ref(f), batch)).transpose())
            .collect::<Result<Vec<_>>>()?;
        match &self.spec.window {
            None => self.update(GLOBAL, &keys, &args, &filters),
            Some(w) => {
                for (end, rows) in partition_by_window(&keys[w.group_index], w.end_offset, n)? {
                    match rows {
                        None => self.update(end, &keys, &args, &filters)?,
                        Some(idx) => {
                            let keys = take_all(&keys, &idx)?;
                            let args = args.iter().map(|a| take_all(a, &idx)).collect::<Result<Vec<_>>>()?;
                            let filters = filters
                                .iter()
                                .map(|f| f.as_ref().map(|f| take_all(f, &idx)).transpose())
                                .collect::<Result<Vec<_>>>()?;
                            self.update(end, &keys, &args, &filters)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn update(
        &mut self,
        end: Millis,
        keys: &[ArrayRef],
        args: &[Vec<ArrayRef>],
        filters: &[Option<Vec<ArrayRef>>],
    ) -> Result<()> {
        if !self.sets.contains_key(&end) {
            let set = self.new_set()?;
            self.sets.insert(end, set);
        }
        let set = self.sets.get_mut(&end).ok_or_else(|| Error::Internal("group set vanished".into()))?;
        let rows = args.iter().flatten().chain(keys).next().map_or(0, |a| a.len());
        set.values.intern(keys, rows, &mut self.group_ids)?;
        let total = set.values.len();
        for ((acc, args), filter) in set.accumulators.iter_mut().zip(args).zip(filters) {
            let filter = filter.as_ref().map(|f| as_boolean(&f[0])).transpose()?;
            acc.update_batch(args, &self.group_ids, filter, total)?;
        }
        set.dirty = true;
        let before = set.remeasure();
        self.bytes = (self.bytes + set.bytes).saturating_sub(before);
        Ok(())
    }

    /// Emits final values of windows ending at or before `watermark` and drops their state.
    fn close_windows(&mut self, watermark: Millis, out: &mut Vec<Message>) -> Result<()> {
        if self.spec.window.is_none() {
            return Ok(());
        }
        let open = self.sets.split_off(&watermark.saturating_add(1));
        let closing = std::mem::replace(&mut self.sets, open);
        for (end, mut set) in closing {
            self.bytes = self.bytes.saturating_sub(set.bytes);
            if set.dirty || self.spec.emit_on_close {
                let keys = set.values.emit()?;
                let values = set
                    .accumulators
                    .iter_mut()
                    .map(|a| a.evaluate(EmitTo::All))
                    .collect::<datafusion::error::Result<Vec<_>>>()?;
                out.push(self.final_rows(keys, values)?);
            }
            self.closed.push(end);
        }
        Ok(())
    }

    /// Emits changed groups (updating mode) and snapshots changed windows into the barrier.
    fn on_barrier(&mut self, barrier: &mut Barrier, out: &mut Vec<Message>) -> Result<()> {
        if std::mem::take(&mut self.empty_row_pending) && !self.sets.contains_key(&GLOBAL) && !self.spec.emit_on_close {
            out.push(Message::Changes(Box::new(self.empty_row()?)));
        }
        for end in self.closed.drain(..) {
            barrier.writes.push((state_key(&self.state_prefix, end), None));
        }
        let mut snapshots = Vec::new();
        for (end, set) in self.sets.iter_mut().filter(|(_, s)| s.dirty) {
            snapshots.push((*end, take_state(set)?));
        }
        for (end, (keys, states)) in snapshots {
            let set = self.build_set(&keys, &states)?;
            self.put(end, set);
            let blob = encode_state(&keys, &states)?;
            barrier.writes.push((state_key(&self.state_prefix, end), Some(blob)));
            if !self.spec.emit_on_close {
                let values = self.current_values(&states)?;
                out.push(Message::Changes(Box::new(self.changes(keys, values)?)));
            }
        }
        Ok(())
    }

    /// Final values computed from states without touching the live accumulators.
    fn current_values(&self, states: &[Vec<ArrayRef>]) -> Result<Vec<ArrayRef>> {
        let rows = states.first().and_then(|s| s.first()).map(|a| a.len()).unwrap_or(0);
        let ids: Vec<usize> = (0..rows).collect();
        self.spec
            .aggregates
            .iter()
            .zip(states)
            .map(|(agg, state)| {
                let mut acc = new_accumulator(agg)?;
                acc.merge_batch(state, &ids, rows)?;
                Ok(acc.evaluate(EmitTo::All)?)
            })
            .collect()
    }

    /// A closed window's rows: plain rows when emitting on close (each row is final),
    /// upserts otherwise.
    fn final_rows(&self, keys: Vec<ArrayRef>, values: Vec<ArrayRef>) -> Result<Message> {
        if self.spec.emit_on_close {
            let mut columns = keys;
            columns.extend(values);
            return Ok(Message::Batch(RecordBatch::try_new(self.spec.output_schema.clone(), columns)?));
        }
        Ok(Message::Changes(Box::new(self.changes(keys, values)?)))
    }

    fn changes(&self, keys: Vec<ArrayRef>, values: Vec<ArrayRef>) -> Result<ChangeBatch> {
        if keys.is_empty() {
            // The single group of an aggregate without GROUP BY: an empty key.
            let rows = values.first().map_or(0, |v| v.len());
            let key_array = BinaryArray::from(vec![&b""[..]; rows]);
            let rows = RecordBatch::try_new(self.spec.output_schema.clone(), values)?;
            return Ok(ChangeBatch { keys: key_array, rows, deletes: BinaryArray::from(Vec::<&[u8]>::new()) });
        }
        let encoded = self.key_encoder.convert_columns(&keys)?;
        let mut builder = BinaryBuilder::with_capacity(encoded.num_rows(), encoded.size());
        for row in encoded.iter() {
            builder.append_value(row.as_ref());
        }
        let key_array = builder.finish();
        let mut columns = keys;
        columns.extend(values);
        let rows = RecordBatch::try_new(self.spec.output_schema.clone(), columns)?;
        Ok(ChangeBatch { keys: key_array, rows, deletes: BinaryArray::from(Vec::<&[u8]>::new()) })
    }

    fn restore_set(&mut self, end: Millis, blob: &[u8]) -> Result<()> {
        let batch = decode_batch(blob)?;
        let n_keys = self.spec.group_exprs.len();
        let keys = batch.columns()[..n_keys].to_vec();
        let mut states = Vec::new();
        let mut col = n_keys;
        for agg in &self.spec.aggregates {
            let width = agg.state_fields()?.len();
            states.push(batch.columns()[col..col + width].to_vec());
            col += width;
        }
        let set = self.build_set(&keys, &states)?;
        self.put(end, set);
        Ok(())
    }

    /// The row of an aggregate without GROUP BY over no input, as Postgres has it (`count`
    /// 0, other aggregates NULL): each aggregate's value with no rows.
    fn empty_row(&self) -> Result<ChangeBatch> {
        let values = self
            .spec
            .aggregates
            .iter()
            .map(|agg| Ok(agg.create_accumulator()?.evaluate()?.to_array_of_size(1)?))
            .collect::<Result<Vec<_>>>()?;
        self.changes(Vec::new(), values)
    }

    /// Makes `set` the groups of the window ending at `end`, counting its memory.
    fn put(&mut self, end: Millis, mut set: GroupSet) {
        set.remeasure();
        self.bytes += set.bytes;
        if let Some(old) = self.sets.insert(end, set) {
            self.bytes = self.bytes.saturating_sub(old.bytes);
        }
    }

    /// A fresh group set holding `keys` with accumulator `states` (as taken by
    /// [`take_state`] or read from a checkpoint). Not dirty: it was just persisted.
    fn build_set(&mut self, keys: &[ArrayRef], states: &[Vec<ArrayRef>]) -> Result<GroupSet> {
        let mut set = self.new_set()?;
        let rows = states.iter().flatten().next().map_or(0, |a| a.len());
        set.values.intern(keys, rows, &mut self.group_ids)?;
        let total = set.values.len();
        for (acc, state) in set.accumulators.iter_mut().zip(states) {
            acc.merge_batch(state, &self.group_ids, total)?;
        }
        Ok(set)
    }
}

/// Takes every group's keys and states out of `set`, leaving it empty. (DataFusion's group
/// values must not be reused after emitting everything, so callers rebuild the set.)
fn take_state(set: &mut GroupSet) -> Result<(Vec<ArrayRef>, Vec<Vec<ArrayRef>>)> {
    let keys = set.values.emit()?;
    let states =
        set.accumulators.iter_mut().map(|a| a.state(EmitTo::All)).collect::<datafusion::error::Result<Vec<_>>>()?;
    Ok((keys, states))
}

fn encode_state(keys: &[ArrayRef], states: &[Vec<ArrayRef>]) -> Result<Vec<u8>> {
    let columns: Vec<ArrayRef> = keys.iter().chain(states.iter().flatten()).cloned().collect();
    let fields: Vec<Field> =
        columns.iter().enumerate().map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true)).collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    encode_batch(&batch)
}

fn state_key(prefix: &[u8], end: Millis) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&end.to_be_bytes());
    k
}

fn new_accumulator(agg: &Arc<AggregateFunctionExpr>) -> Result<Box<dyn GroupsAccumulator>> {
    if agg.groups_accumulator_supported() {
        return Ok(agg.create_groups_accumulator()?);
    }
    let agg = agg.clone();
    Ok(Box::new(GroupsAccumulatorAdapter::new(move || agg.create_accumulator())))
}

/// Evaluates `exprs` over `batch` into arrays (also used by the session aggregate and the
/// re-aggregation).
pub(super) fn evaluate_all(exprs: &[Arc<dyn PhysicalExpr>], batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    exprs.iter().map(|e| Ok(e.evaluate(batch)?.into_array(batch.num_rows())?)).collect()
}

/// The rows `idx` of each array (also used by the re-aggregation).
pub(super) fn take_all(arrays: &[ArrayRef], idx: &UInt32Array) -> Result<Vec<ArrayRef>> {
    arrays.iter().map(|a| Ok(take(a.as_ref(), idx, None)?)).collect()
}

/// An aggregate's evaluated FILTER as booleans.
pub(super) fn as_boolean(array: &ArrayRef) -> Result<&BooleanArray> {
    array
        .as_any()
        .downcast_ref::<BooleanArray>()
        .ok_or_else(|| Error::Internal("aggregate filter is not boolean".into()))
}

/// A window bound or event-time column as timestamps (also used by the session aggregate
/// and top-N).
pub(super) fn as_times(array: &ArrayRef) -> Result<TimestampMillisecondArray> {
    array
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .cloned()
        .ok_or_else(|| Error::Internal("window bound or event time is not a timestamp(ms)".into()))
}

/// Splits row indices by window end. `None` indices mean "all rows" (the common case).
fn partition_by_window(column: &ArrayRef, offset: Millis, n: usize) -> Result<Vec<(Millis, Option<UInt32Array>)>> {
    let times = column
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or_else(|| Error::Internal("window column is not timestamp(ms)".into()))?;
    if n == 0 {
        return Ok(vec![]);
    }
    let first = times.value(0);
    if times.null_count() == 0 && times.values().iter().all(|t| *t == first) {
        return Ok(vec![(first.saturating_add(offset), None)]);
    }
    let mut parts: BTreeMap<Millis, Vec<u32>> = BTreeMap::new();
    for (i, t) in times.iter().enumerate() {
        if let Some(t) = t {
            parts.entry(t.saturating_add(offset)).or_default().push(i as u32);
        }
    }
    Ok(parts.into_iter().map(|(end, idx)| (end, Some(UInt32Array::from(idx)))).collect())
}

impl Operator for Aggregate {
    fn open(&mut self, state: &StateReader<'_>) -> Result<()> {
        self.state_prefix = state.key(&[]);
        for (sub, blob) in state.scan()? {
            let end = Millis::from_be_bytes(
                sub.as_slice().try_into().map_err(|_| Error::Internal("bad aggregate state key".into()))?,
            );
            self.restore_set(end, &blob)?;
        }
        self.empty_row_pending =
            self.spec.window.is_none() && self.group_schema.fields().is_empty() && !self.sets.contains_key(&GLOBAL);
        Ok(())
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => self.on_batch(&batch)?,
            Message::Changes(_) => {
                return Err(Error::Internal("aggregate over a change stream is not supported".into()));
            }
            Message::Watermark(wm) => {
                self.close_windows(wm, out)?;
                out.push(Message::Watermark(wm));
            }
            Message::Barrier(mut barrier) => {
                self.on_barrier(&mut barrier, out)?;
                out.push(Message::Barrier(barrier));
            }
            Message::End => out.push(Message::End),
        }
        Ok(())
    }

    fn state_bytes(&self) -> usize {
        self.bytes
    }
}
