//! Session windows: grouped aggregation where each group key's rows fall into sessions
//! separated by at least `gap` of inactivity (`SESSION(stream, time_col, gap)` in FROM,
//! ksqlDB's `WINDOW SESSION (gap)`).
//!
//! Created by the planner instead of [`super::aggregate::Aggregate`] when the window is a
//! session. The window operator gives every row the session `[t, t + gap)`; this operator
//! merges it into the sessions of its key that it overlaps, merging those too (DataFusion
//! accumulators merge through their states). A session `[start, end)` ends `gap` after its
//! last row and closes once the watermark reaches its end: no on-time row can join it then.
//!
//! Output as the window aggregate: in updating mode the changed sessions at every barrier,
//! with deletes of the rows of sessions that grew or merged (their bounds are part of the
//! key); with `EMIT ON WINDOW CLOSE` each session once, when it closes. Checkpoints hold one
//! Arrow IPC blob per group key that changed: its sessions' bounds and accumulator states.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, BinaryBuilder, Int64Array, TimestampMillisecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Accumulator;

use super::aggregate::{AggregateSpec, as_boolean, as_times, evaluate_all as evaluate};
use super::{Barrier, ChangeBatch, ENTRY_OVERHEAD, Message, Millis, Operator, StateReader};
use crate::error::{Error, Result};
use crate::ipc::{decode_batch, encode_batch};

/// What the planner hands to [`SessionAggregate::new`].
#[derive(Clone)]
pub struct SessionSpec {
    /// The aggregation; its window key is unused.
    pub aggregate: AggregateSpec,
    /// Which group expression is `window_start`.
    pub start_index: usize,
    /// Which group expression is `window_end`.
    pub end_index: usize,
    /// The inactivity that ends a session.
    pub gap: Millis,
}

/// One session of one group key.
struct Session {
    end: Millis,
    accumulators: Vec<Box<dyn Accumulator>>,
    /// The bounds of the row last emitted for it (updating mode).
    emitted: Option<(Millis, Millis)>,
    dirty: bool,
    /// Memory it held when last measured (counted in [`SessionAggregate::bytes`]).
    bytes: usize,
}

impl Session {
    /// Measures the session of a `key_len`-byte key again (its accumulators and its entries
    /// in the operator's maps); returns its size before.
    fn remeasure(&mut self, key_len: usize) -> usize {
        let now = 2 * (ENTRY_OVERHEAD + key_len) + self.accumulators.iter().map(|a| a.size()).sum::<usize>();
        std::mem::replace(&mut self.bytes, now)
    }
}

/// A session's row to emit: its group key, bounds and aggregate values.
struct OutRow {
    key: Vec<u8>,
    start: Millis,
    end: Millis,
    values: Vec<ScalarValue>,
}

/// The session aggregate operator.
pub struct SessionAggregate {
    spec: SessionSpec,
    /// Group expressions other than the bounds: the key sessions are kept per.
    key_columns: Vec<usize>,
    key_converter: RowConverter,
    out_converter: RowConverter,
    /// Group key (encoded) to its sessions by start.
    keys: HashMap<Vec<u8>, BTreeMap<Millis, Session>>,
    /// Open sessions by end, for closing.
    by_end: BTreeSet<(Millis, Vec<u8>, Millis)>,
    /// Keys whose sessions changed since the last checkpoint.
    dirty_keys: HashSet<Vec<u8>>,
    /// Emitted rows of sessions that grew, merged or closed unemitted: to delete.
    deletes: Vec<(Vec<u8>, Millis, Millis)>,
    state_prefix: Vec<u8>,
    /// Memory of all open sessions, as last measured.
    bytes: usize,
}

impl SessionAggregate {
    /// Builds the operator.
    pub fn new(spec: SessionSpec) -> Result<SessionAggregate> {
        let n = spec.aggregate.group_exprs.len();
        let schema = &spec.aggregate.output_schema;
        let key_columns: Vec<usize> = (0..n).filter(|&i| i != spec.start_index && i != spec.end_index).collect();
        let sort_field = |i: &usize| SortField::new(schema.field(*i).data_type().clone());
        Ok(SessionAggregate {
            key_converter: RowConverter::new(key_columns.iter().map(sort_field).collect())?,
            out_converter: RowConverter::new((0..n).map(|i| sort_field(&i)).collect())?,
            key_columns,
            spec,
            keys: HashMap::new(),
            by_end: BTreeSet::new(),
            dirty_keys: HashSet::new(),
            deletes: Vec::new(),
            state_prefix: Vec::new(),
            bytes: 0,
        })
    }

    fn on_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let agg = &self.spec.aggregate;
        let groups = evaluate(&agg.group_exprs, batch)?;
        let args = agg.aggregates.iter().map(|a| evaluate(&a.expressions(), batch)).collect::<Result<Vec<_>>>()?;
        let filters = (agg.filters.iter())
            .map(|f| {
                f.as_ref()
                    .map(|f| evaluate(std::slice::from_ref(f), batch).and_then(|a| Ok(as_boolean(&a[0])?.clone())))
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        let starts = as_times(&cast(&groups[self.spec.start_index], &time_type())?)?;
        let key_arrays: Vec<ArrayRef> = self.key_columns.iter().map(|&i| groups[i].clone()).collect();
        let keys = (!key_arrays.is_empty()).then(|| self.key_converter.convert_columns(&key_arrays)).transpose()?;
        for i in 0..batch.num_rows() {
            if starts.is_null(i) {
                continue;
            }
            let key = keys.as_ref().map_or_else(Vec::new, |k| k.row(i).as_ref().to_vec());
            let session = self.session_for(&key, starts.value(i))?;
            for (j, acc) in session.accumulators.iter_mut().enumerate() {
                if filters[j].as_ref().is_none_or(|f| f.is_valid(i) && f.value(i)) {
                    let row: Vec<ArrayRef> = args[j].iter().map(|a| a.slice(i, 1)).collect();
                    acc.update_batch(&row)?;
                }
            }
            session.dirty = true;
            let before = session.remeasure(key.len());
            let now = session.bytes;
            self.bytes = (self.bytes + now).saturating_sub(before);
        }
        Ok(())
    }

    /// The session of `key` that a row at `t` belongs to, merging every session that
    /// `[t, t + gap)` overlaps.
    fn session_for(&mut self, key: &[u8], t: Millis) -> Result<&mut Session> {
        let reach = t.saturating_add(self.spec.gap);
        let sessions = self.keys.entry(key.to_vec()).or_default();
        let overlapping: Vec<Millis> =
            sessions.range(..reach).rev().take_while(|(_, s)| s.end > t).map(|(start, _)| *start).collect();
        let (mut start, mut end) = (t, reach);
        let mut merged: Option<Session> = None;
        for old_start in overlapping.into_iter().rev() {
            let Some(old) = sessions.remove(&old_start) else { continue };
            self.by_end.remove(&(old.end, key.to_vec(), old_start));
            (start, end) = (start.min(old_start), end.max(old.end));
            merged = Some(match merged {
                None => old,
                Some(mut into) => {
                    self.bytes = self.bytes.saturating_sub(old.bytes);
                    absorb(&mut into, old, key, &mut self.deletes)?;
                    into
                }
            });
        }
        let mut session = match merged {
            Some(s) => s,
            None => Session { end, accumulators: self.new_accumulators()?, emitted: None, dirty: true, bytes: 0 },
        };
        session.end = end;
        if let Some((s, e)) = session.emitted.filter(|b| *b != (start, end)) {
            self.deletes.push((key.to_vec(), s, e));
            session.emitted = None;
        }
        self.by_end.insert((end, key.to_vec(), start));
        self.dirty_keys.insert(key.to_vec());
        let sessions = self.keys.entry(key.to_vec()).or_default();
        Ok(sessions.entry(start).or_insert(session))
    }

    fn new_accumulators(&self) -> Result<Vec<Box<dyn Accumulator>>> {
        self.spec.aggregate.aggregates.iter().map(|a| Ok(a.create_accumulator()?)).collect()
    }

    /// Closes the sessions ending at or before `watermark`: emits their final rows.
    fn close(&mut self, watermark: Millis, out: &mut Vec<Message>) -> Result<()> {
        let closing: Vec<_> = self.by_end.iter().take_while(|(end, _, _)| *end <= watermark).cloned().collect();
        let mut rows = Vec::new();
        for entry in closing {
            self.by_end.remove(&entry);
            let (end, key, start) = entry;
            let Some(sessions) = self.keys.get_mut(&key) else { continue };
            let Some(mut session) = sessions.remove(&start) else { continue };
            if sessions.is_empty() {
                self.keys.remove(&key);
            }
            self.bytes = self.bytes.saturating_sub(session.bytes);
            self.dirty_keys.insert(key.clone());
            if session.dirty || self.spec.aggregate.emit_on_close {
                let values = session.accumulators.iter_mut().map(|a| a.evaluate()).collect::<Result<_, _>>()?;
                rows.push(OutRow { key, start, end, values });
            }
        }
        if !rows.is_empty() {
            out.push(self.output(rows)?);
        }
        Ok(())
    }

    /// In updating mode, emits the changed sessions; snapshots changed keys.
    fn on_barrier(&mut self, barrier: &mut Barrier, out: &mut Vec<Message>) -> Result<()> {
        let mut rows = Vec::new();
        for key in std::mem::take(&mut self.dirty_keys) {
            let Some(sessions) = self.keys.get_mut(&key) else {
                barrier.writes.push((self.state_key(&key), None));
                continue;
            };
            let mut states = Vec::new();
            for (start, session) in sessions.iter_mut() {
                let state = snapshot(session, &self.spec.aggregate)?;
                let before = session.remeasure(key.len());
                self.bytes = (self.bytes + session.bytes).saturating_sub(before);
                if session.dirty && !self.spec.aggregate.emit_on_close {
                    let mut probe = restored(&self.spec.aggregate, &state, 0)?;
                    let values = probe.iter_mut().map(|a| a.evaluate()).collect::<Result<_, _>>()?;
                    rows.push(OutRow { key: key.clone(), start: *start, end: session.end, values });
                    session.emitted = Some((*start, session.end));
                }
                session.dirty = false;
                states.push((*start, session.end, session.emitted, state));
            }
            barrier.writes.push((self.state_key(&key), Some(encode_sessions(&states)?)));
        }
        if !rows.is_empty() || !self.deletes.is_empty() {
            out.push(self.output(rows)?);
        }
        Ok(())
    }

    /// Rows as the view wants them: final appends, or upserts plus pending deletes.
    fn output(&mut self, rows: Vec<OutRow>) -> Result<Message> {
        let bounds: Vec<_> = rows.iter().map(|r| (r.key.clone(), r.start, r.end)).collect();
        let mut columns = self.group_columns(&bounds)?;
        for j in 0..self.spec.aggregate.aggregates.len() {
            let field = self.spec.aggregate.output_schema.field(columns.len());
            let array = match rows.is_empty() {
                true => arrow::array::new_empty_array(field.data_type()),
                false => ScalarValue::iter_to_array(rows.iter().map(|r| r.values[j].clone()))?,
            };
            columns.push(cast(&array, field.data_type())?);
        }
        let batch = RecordBatch::try_new(self.spec.aggregate.output_schema.clone(), columns)?;
        if self.spec.aggregate.emit_on_close {
            return Ok(Message::Batch(batch));
        }
        let n = self.spec.aggregate.group_exprs.len();
        let keys = self.encode(&batch.columns()[..n])?;
        let deleted = std::mem::take(&mut self.deletes);
        let deletes = self.encode(&self.group_columns(&deleted)?)?;
        Ok(Message::Changes(Box::new(ChangeBatch { keys, rows: batch, deletes })))
    }

    /// The group columns (key columns and bounds, in GROUP BY order) of `rows`.
    fn group_columns(&self, rows: &[(Vec<u8>, Millis, Millis)]) -> Result<Vec<ArrayRef>> {
        let schema = &self.spec.aggregate.output_schema;
        let parser = self.key_converter.parser();
        let mut key_arrays = if self.key_columns.is_empty() {
            Vec::new()
        } else {
            self.key_converter.convert_rows(rows.iter().map(|(k, _, _)| parser.parse(k)))?
        }
        .into_iter();
        let bound = |i: usize, pick: fn(&(Vec<u8>, Millis, Millis)) -> Millis| -> Result<ArrayRef> {
            let times = TimestampMillisecondArray::from(rows.iter().map(pick).collect::<Vec<_>>());
            Ok(cast(&times, schema.field(i).data_type())?)
        };
        (0..self.spec.aggregate.group_exprs.len())
            .map(|i| match i {
                i if i == self.spec.start_index => bound(i, |r| r.1),
                i if i == self.spec.end_index => bound(i, |r| r.2),
                _ => key_arrays.next().ok_or_else(|| Error::Internal("session key column missing".into())),
            })
            .collect()
    }

    fn encode(&self, columns: &[ArrayRef]) -> Result<BinaryArray> {
        let rows = self.out_converter.convert_columns(columns)?;
        let mut builder = BinaryBuilder::with_capacity(rows.num_rows(), rows.size());
        for row in rows.iter() {
            builder.append_value(row.as_ref());
        }
        Ok(builder.finish())
    }

    fn state_key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = self.state_prefix.clone();
        k.extend_from_slice(key);
        k
    }

    fn restore_key(&mut self, key: Vec<u8>, blob: &[u8]) -> Result<()> {
        let batch = decode_batch(blob)?;
        let int = |i: usize| batch.column(i).as_any().downcast_ref::<Int64Array>().cloned();
        let (Some(starts), Some(ends), Some(e_starts), Some(e_ends)) = (int(0), int(1), int(2), int(3)) else {
            return Err(Error::Internal("bad session state".into()));
        };
        let states = &batch.columns()[4..];
        let mut sessions = BTreeMap::new();
        for r in 0..batch.num_rows() {
            let state: Vec<ArrayRef> = states.iter().map(|c| c.slice(r, 1)).collect();
            let accumulators = restored(&self.spec.aggregate, &state, 0)?;
            let emitted = e_starts.is_valid(r).then(|| (e_starts.value(r), e_ends.value(r)));
            let (start, end) = (starts.value(r), ends.value(r));
            let mut session = Session { end, accumulators, emitted, dirty: false, bytes: 0 };
            session.remeasure(key.len());
            self.bytes += session.bytes;
            sessions.insert(start, session);
            self.by_end.insert((end, key.clone(), start));
        }
        self.keys.insert(key, sessions);
        Ok(())
    }
}

/// Merges session `from` into `into`, queueing the delete of `from`'s emitted row.
fn absorb(
    into: &mut Session,
    mut from: Session,
    key: &[u8],
    deletes: &mut Vec<(Vec<u8>, Millis, Millis)>,
) -> Result<()> {
    for (a, b) in into.accumulators.iter_mut().zip(from.accumulators.iter_mut()) {
        let state = b.state()?.iter().map(|v| v.to_array()).collect::<datafusion::error::Result<Vec<_>>>()?;
        a.merge_batch(&state)?;
    }
    if let Some((s, e)) = from.emitted {
        deletes.push((key.to_vec(), s, e));
    }
    into.dirty = true;
    Ok(())
}

/// A session's accumulator states (one single-row array per state field, all aggregates
/// concatenated); the session's accumulators are rebuilt from them, since taking a state
/// may drain an accumulator.
fn snapshot(session: &mut Session, spec: &AggregateSpec) -> Result<Vec<ArrayRef>> {
    let mut state = Vec::new();
    for acc in session.accumulators.iter_mut() {
        for value in acc.state()? {
            state.push(value.to_array()?);
        }
    }
    session.accumulators = restored(spec, &state, 0)?;
    Ok(state)
}

/// Fresh accumulators merged from the states in `state` (row `row` of each array).
fn restored(spec: &AggregateSpec, state: &[ArrayRef], row: usize) -> Result<Vec<Box<dyn Accumulator>>> {
    let mut col = 0;
    let mut out = Vec::new();
    for agg in &spec.aggregates {
        let width = agg.state_fields()?.len();
        let mut acc = agg.create_accumulator()?;
        let part: Vec<ArrayRef> = state[col..col + width].iter().map(|a| a.slice(row, 1)).collect();
        acc.merge_batch(&part)?;
        out.push(acc);
        col += width;
    }
    Ok(out)
}

/// A session as checkpointed: start, end, emitted bounds and accumulator states.
type SavedSession = (Millis, Millis, Option<(Millis, Millis)>, Vec<ArrayRef>);

/// One key's sessions as one IPC blob.
fn encode_sessions(sessions: &[SavedSession]) -> Result<Vec<u8>> {
    let ints = |f: &dyn Fn(&SavedSession) -> Option<Millis>| {
        Arc::new(sessions.iter().map(f).collect::<Int64Array>()) as ArrayRef
    };
    let mut columns =
        vec![ints(&|s| Some(s.0)), ints(&|s| Some(s.1)), ints(&|s| s.2.map(|b| b.0)), ints(&|s| s.2.map(|b| b.1))];
    let width = sessions.first().map_or(0, |s| s.3.len());
    for c in 0..width {
        let parts: Vec<&dyn Array> = sessions.iter().map(|s| s.3[c].as_ref()).collect();
        columns.push(arrow::compute::concat(&parts)?);
    }
    let fields: Vec<Field> =
        columns.iter().enumerate().map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true)).collect();
    encode_batch(&RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

fn time_type() -> DataType {
    DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None)
}

impl Operator for SessionAggregate {
    fn open(&mut self, state: &StateReader<'_>) -> Result<()> {
        self.state_prefix = state.key(&[]);
        for (key, blob) in state.scan()? {
            self.restore_key(key, &blob)?;
        }
        Ok(())
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => self.on_batch(&batch)?,
            Message::Changes(_) => {
                return Err(Error::Internal("session aggregate over a change stream is not supported".into()));
            }
            Message::Watermark(wm) => {
                self.close(wm, out)?;
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

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::TimeUnit;
    use datafusion::functions_aggregate::sum::sum_udaf;
    use datafusion::physical_expr::aggregate::AggregateExprBuilder;
    use datafusion::physical_expr::expressions::col;

    use super::*;
    use crate::state::Store;

    fn input_schema() -> Arc<Schema> {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
            Field::new("window_start", ts.clone(), true),
            Field::new("window_end", ts, true),
        ]))
    }

    fn operator() -> SessionAggregate {
        let input = input_schema();
        let sum = AggregateExprBuilder::new(sum_udaf(), vec![col("v", &input).unwrap()])
            .schema(input.clone())
            .alias("total")
            .build()
            .unwrap();
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let output_schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("window_start", ts.clone(), true),
            Field::new("window_end", ts, true),
            Field::new("total", DataType::Int64, true),
        ]));
        let group_exprs = ["k", "window_start", "window_end"].iter().map(|c| col(c, &input).unwrap()).collect();
        let aggregate = AggregateSpec {
            group_exprs,
            aggregates: vec![Arc::new(sum)],
            filters: vec![None],
            window: None,
            emit_on_close: false,
            output_schema,
        };
        SessionAggregate::new(SessionSpec { aggregate, start_index: 1, end_index: 2, gap: 5 }).unwrap()
    }

    /// A click of `k` at `t` worth `v`, with its own session `[t, t + 5)`.
    fn click(k: &str, t: i64, v: i64) -> Message {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![k])),
            Arc::new(Int64Array::from(vec![v])),
            Arc::new(TimestampMillisecondArray::from(vec![t])),
            Arc::new(TimestampMillisecondArray::from(vec![t + 5])),
        ];
        Message::Batch(RecordBatch::try_new(input_schema(), columns).unwrap())
    }

    /// Runs `msgs` then a barrier; returns the upserted (start, end, total) and the number
    /// of deletes, and commits the barrier's writes.
    fn step(op: &mut SessionAggregate, store: &Store, msgs: Vec<Message>) -> (Vec<(i64, i64, i64)>, usize) {
        let mut out = Vec::new();
        for m in msgs {
            op.process(m, &mut out).unwrap();
        }
        op.process(Message::Barrier(Barrier::new(1, vec![])), &mut out).unwrap();
        let (mut upserts, mut deletes) = (Vec::new(), 0);
        for m in out {
            match m {
                Message::Changes(c) => {
                    let col = |i: usize| c.rows.column(i).clone();
                    let (s, e) = (as_times(&col(1)).unwrap(), as_times(&col(2)).unwrap());
                    let t = col(3).as_any().downcast_ref::<Int64Array>().unwrap().clone();
                    upserts.extend((0..t.len()).map(|i| (s.value(i), e.value(i), t.value(i))));
                    deletes += c.deletes.len();
                }
                Message::Barrier(b) => store.commit(b.writes).unwrap(),
                _ => {}
            }
        }
        (upserts, deletes)
    }

    /// The open sessions' memory by a walk over all of them.
    fn walked(op: &SessionAggregate) -> usize {
        let session = |key: &Vec<u8>, s: &Session| {
            2 * (ENTRY_OVERHEAD + key.len()) + s.accumulators.iter().map(|a| a.size()).sum::<usize>()
        };
        op.keys.iter().flat_map(|(k, sessions)| sessions.values().map(move |s| session(k, s))).sum()
    }

    #[test]
    fn sessions_grow_merge_retract_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = StateReader { store: &store, view: 3, operator: 1, shard: None };
        let mut op = operator();
        op.open(&state).unwrap();
        assert_eq!(step(&mut op, &store, vec![click("a", 0, 1)]), (vec![(0, 5, 1)], 0));
        assert_eq!(step(&mut op, &store, vec![click("a", 3, 2)]), (vec![(0, 8, 3)], 1), "grew: old row deleted");
        assert_eq!(step(&mut op, &store, vec![click("a", 10, 4), click("b", 1, 9)]).1, 0);
        let (upserts, deletes) = step(&mut op, &store, vec![click("a", 6, 8)]);
        assert_eq!((upserts, deletes), (vec![(0, 15, 15)], 2), "[0,8) and [10,15) merged");
        assert_eq!(op.state_bytes(), walked(&op), "two sessions: a's merged one and b's");

        let mut restored = operator();
        restored.open(&state).unwrap();
        let (upserts, deletes) = step(&mut restored, &store, vec![click("a", 14, 16)]);
        assert_eq!((upserts, deletes), (vec![(0, 19, 31)], 1), "state and emitted bounds restored");
        assert_eq!(restored.state_bytes(), walked(&restored));
        let mut out = Vec::new();
        restored.process(Message::Watermark(19), &mut out).unwrap();
        assert!(matches!(out.as_slice(), [Message::Watermark(19)]), "already emitted: nothing new at close");
        assert_eq!(restored.keys.len(), 0, "both sessions closed");
        assert_eq!(restored.state_bytes(), 0, "and their memory freed");
    }
}
