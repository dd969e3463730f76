//! Grouped aggregation over an updating input: keyed upserts and deletes, with retractions.
//!
//! Created by the planner for a GROUP BY (or a global aggregate) whose input is an updating
//! result, such as an aggregation over an aggregation (Nexmark q4: the average of each
//! category's per-auction maxima). The operator keeps the current input row of every
//! upstream key. A change first retracts the key's previous row from its group, then adds
//! the new row (an upsert) or nothing (a delete). The maths is done by DataFusion's sliding
//! accumulators (`retract_batch`); the planner refuses aggregates without one.
//!
//! Output, at every checkpoint barrier: the current value of every group that changed, as
//! upserts keyed by the group key (the same encoding as [`super::aggregate`]); a group whose
//! input rows are all gone is deleted (an aggregate without GROUP BY shows its empty value).
//!
//! Checkpoints store the input rows (Arrow row format) by upstream key, incrementally: only
//! the keys changed since the last barrier are written. `open` rebuilds the accumulators from
//! them (a sliding min/max cannot be restored from its `state()`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, BinaryBuilder, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::Accumulator;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use tracing::debug;

use super::aggregate::{as_boolean, evaluate_all, take_all};
use super::{Barrier, ChangeBatch, ENTRY_OVERHEAD, Message, Operator, StateReader};
use crate::error::{Error, Result};

/// What the planner hands to [`Reaggregate::new`].
#[derive(Clone)]
pub struct ReaggregateSpec {
    /// Group expressions over the input rows.
    pub group_exprs: Vec<Arc<dyn PhysicalExpr>>,
    /// Aggregate functions (each must have a sliding accumulator).
    pub aggregates: Vec<Arc<AggregateFunctionExpr>>,
    /// `FILTER (WHERE ...)` of each aggregate.
    pub filters: Vec<Option<Arc<dyn PhysicalExpr>>>,
    /// The input rows' columns.
    pub input_schema: SchemaRef,
    /// Group columns followed by aggregate columns.
    pub output_schema: SchemaRef,
}

impl ReaggregateSpec {
    /// The group key columns (what the output's change keys encode).
    pub fn group_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.output_schema.fields()[..self.group_exprs.len()].to_vec()))
    }
}

/// Checks that every aggregate can retract rows; names the first that cannot.
pub fn check_retractable(aggregates: &[Arc<AggregateFunctionExpr>]) -> Result<()> {
    for agg in aggregates {
        match agg.create_sliding_accumulator() {
            Ok(_) => {}
            Err(DataFusionError::NotImplemented(_)) => {
                return Err(Error::Unsupported(format!(
                    "aggregate function \"{}\" over an updating aggregation or top-N is not supported: it cannot retract rows",
                    agg.fun().name()
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// One group: its accumulators and how many input rows it holds.
struct Group {
    accumulators: Vec<Box<dyn Accumulator>>,
    rows: usize,
    /// Memory it held when last measured (counted in [`Reaggregate::bytes`]).
    bytes: usize,
}

impl Group {
    /// Measures the group of a `key_len`-byte key again; returns its size before.
    fn remeasure(&mut self, key_len: usize) -> usize {
        let now = ENTRY_OVERHEAD + key_len + self.accumulators.iter().map(|a| a.size()).sum::<usize>();
        std::mem::replace(&mut self.bytes, now)
    }
}

/// Memory of one kept input row.
fn row_bytes(key: &[u8], row: &OwnedRow) -> usize {
    ENTRY_OVERHEAD + key.len() + row.row().as_ref().len()
}

/// Whether rows are added to or retracted from their groups.
#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Add,
    Retract,
}

/// The re-aggregation operator.
pub struct Reaggregate {
    spec: ReaggregateSpec,
    /// Input rows to and from Arrow's row format.
    row_encoder: RowConverter,
    /// Group keys to and from Arrow's row format (None without GROUP BY).
    key_encoder: Option<RowConverter>,
    /// Upstream key to its current input row.
    rows: HashMap<Vec<u8>, OwnedRow>,
    /// Encoded group key to its state.
    groups: HashMap<Vec<u8>, Group>,
    /// Groups changed since the last barrier.
    dirty: BTreeSet<Vec<u8>>,
    /// Upstream keys changed since the last checkpoint.
    changed: BTreeSet<Vec<u8>>,
    state_prefix: Vec<u8>,
    /// Memory of the kept rows and the groups.
    bytes: usize,
}

/// Sub key prefix of the stored input rows.
const ROW: u8 = b'r';

impl Reaggregate {
    /// Builds the operator.
    pub fn new(spec: ReaggregateSpec) -> Result<Reaggregate> {
        check_retractable(&spec.aggregates)?;
        let row_encoder = RowConverter::new(sort_fields(&spec.input_schema))?;
        let group_schema = spec.group_schema();
        let key_encoder =
            if group_schema.fields().is_empty() { None } else { Some(RowConverter::new(sort_fields(&group_schema))?) };
        Ok(Reaggregate {
            spec,
            row_encoder,
            key_encoder,
            rows: HashMap::new(),
            groups: HashMap::new(),
            dirty: BTreeSet::new(),
            changed: BTreeSet::new(),
            state_prefix: Vec::new(),
            bytes: 0,
        })
    }

    fn on_changes(&mut self, changes: &ChangeBatch) -> Result<()> {
        // The last upsert of a key in the batch wins.
        let mut last: HashMap<&[u8], usize> = HashMap::new();
        for (i, key) in changes.keys.iter().enumerate() {
            last.insert(key.unwrap_or_default(), i);
        }
        let mut upserts: Vec<u32> = last.values().map(|&i| i as u32).collect();
        upserts.sort_unstable();
        let mut old = Vec::new();
        let touched = changes.deletes.iter().chain(upserts.iter().map(|&i| Some(changes.keys.value(i as usize))));
        for key in touched {
            let key = key.unwrap_or_default();
            // A delete of a key never seen (a row the inner HAVING keeps out) changes nothing.
            if let Some(row) = self.rows.remove(key) {
                self.bytes = self.bytes.saturating_sub(row_bytes(key, &row));
                old.push(row);
                self.changed.insert(key.to_vec());
            }
        }
        if !old.is_empty() {
            let batch = self.decode_rows(old.iter().map(|r| r.row()))?;
            self.apply(&batch, Direction::Retract)?;
        }
        let new = take_record_batch(&changes.rows, &UInt32Array::from(upserts.clone()))?;
        let encoded = self.row_encoder.convert_columns(new.columns())?;
        for (row, &i) in encoded.iter().zip(&upserts) {
            let key = changes.keys.value(i as usize);
            let row = row.owned();
            self.bytes += row_bytes(key, &row);
            self.rows.insert(key.to_vec(), row);
            self.changed.insert(key.to_vec());
        }
        self.apply(&new, Direction::Add)
    }

    /// Input rows in Arrow's row format back into a batch of the input schema.
    fn decode_rows<'a>(&self, rows: impl IntoIterator<Item = arrow::row::Row<'a>>) -> Result<RecordBatch> {
        let columns = self.row_encoder.convert_rows(rows)?;
        Ok(RecordBatch::try_new(self.spec.input_schema.clone(), columns)?)
    }

    /// Adds `batch`'s rows to (or retracts them from) their groups.
    fn apply(&mut self, batch: &RecordBatch, direction: Direction) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let args =
            self.spec.aggregates.iter().map(|a| evaluate_all(&a.expressions(), batch)).collect::<Result<Vec<_>>>()?;
        let filters = (self.spec.filters.iter())
            .map(|f| f.as_ref().map(|f| evaluate_all(std::slice::from_ref(f), batch)).transpose())
            .collect::<Result<Vec<_>>>()?;
        for (group_key, idx) in self.partition(batch)? {
            let group = self.group(&group_key, direction)?;
            for ((acc, args), filter) in group.accumulators.iter_mut().zip(&args).zip(&filters) {
                let idx = match filter {
                    Some(f) => {
                        let f = as_boolean(&f[0])?;
                        UInt32Array::from_iter_values(
                            idx.iter().copied().filter(|&i| f.is_valid(i as usize) && f.value(i as usize)),
                        )
                    }
                    None => UInt32Array::from(idx.clone()),
                };
                let values = take_all(args, &idx)?;
                match direction {
                    Direction::Add => acc.update_batch(&values)?,
                    Direction::Retract => acc.retract_batch(&values)?,
                }
            }
            group.rows = match direction {
                Direction::Add => group.rows + idx.len(),
                Direction::Retract => group.rows.saturating_sub(idx.len()),
            };
            let before = group.remeasure(group_key.len());
            let now = group.bytes;
            self.bytes = (self.bytes + now).saturating_sub(before);
            self.dirty.insert(group_key);
        }
        Ok(())
    }

    /// Row indices of `batch` by encoded group key.
    fn partition(&self, batch: &RecordBatch) -> Result<BTreeMap<Vec<u8>, Vec<u32>>> {
        let n = batch.num_rows() as u32;
        let Some(encoder) = &self.key_encoder else { return Ok(BTreeMap::from([(Vec::new(), (0..n).collect())])) };
        let keys = encoder.convert_columns(&evaluate_all(&self.spec.group_exprs, batch)?)?;
        let mut parts: BTreeMap<Vec<u8>, Vec<u32>> = BTreeMap::new();
        for (i, key) in keys.iter().enumerate() {
            parts.entry(key.as_ref().to_vec()).or_default().push(i as u32);
        }
        Ok(parts)
    }

    /// The group of `key`, created when rows are added to a new one.
    fn group(&mut self, key: &[u8], direction: Direction) -> Result<&mut Group> {
        if !self.groups.contains_key(key) {
            if direction == Direction::Retract {
                return Err(Error::Internal("retracting a row from a group that does not exist".into()));
            }
            let accumulators =
                self.spec.aggregates.iter().map(|a| a.create_sliding_accumulator()).collect::<Result<_, _>>()?;
            self.groups.insert(key.to_vec(), Group { accumulators, rows: 0, bytes: 0 });
        }
        self.groups.get_mut(key).ok_or_else(|| Error::Internal("group vanished".into()))
    }

    /// Stores the changed input rows into the barrier and emits the changed groups.
    fn on_barrier(&mut self, barrier: &mut Barrier, out: &mut Vec<Message>) -> Result<()> {
        for key in std::mem::take(&mut self.changed) {
            let mut sub = self.state_prefix.clone();
            sub.push(ROW);
            sub.extend_from_slice(&key);
            barrier.writes.push((sub, self.rows.get(&key).map(|r| r.row().as_ref().to_vec())));
        }
        if self.dirty.is_empty() {
            return Ok(());
        }
        let (mut upserts, mut deletes) = (Vec::new(), BinaryBuilder::new());
        for key in std::mem::take(&mut self.dirty) {
            // A grouped result loses a group without rows; the global one keeps its empty value.
            if self.key_encoder.is_some() && self.groups.get(&key).is_none_or(|g| g.rows == 0) {
                if let Some(group) = self.groups.remove(&key) {
                    self.bytes = self.bytes.saturating_sub(group.bytes);
                }
                deletes.append_value(&key);
            } else {
                upserts.push(key);
            }
        }
        let rows = self.current_rows(&upserts)?;
        let keys = BinaryArray::from_iter_values(upserts.iter());
        out.push(Message::Changes(Box::new(ChangeBatch { keys, rows, deletes: deletes.finish() })));
        Ok(())
    }

    /// The output rows of the groups `keys` (group columns, then aggregate values).
    fn current_rows(&mut self, keys: &[Vec<u8>]) -> Result<RecordBatch> {
        if keys.is_empty() {
            return Ok(RecordBatch::new_empty(self.spec.output_schema.clone()));
        }
        let mut columns = match &self.key_encoder {
            Some(encoder) => {
                let parser = encoder.parser();
                encoder.convert_rows(keys.iter().map(|k| parser.parse(k)))?
            }
            None => Vec::new(),
        };
        for i in 0..self.spec.aggregates.len() {
            let values = keys
                .iter()
                .map(|k| {
                    let group = self.groups.get_mut(k).ok_or_else(|| Error::Internal("dirty group vanished".into()))?;
                    Ok(group.accumulators[i].evaluate()?)
                })
                .collect::<Result<Vec<ScalarValue>>>()?;
            columns.push(ScalarValue::iter_to_array(values)?);
        }
        let columns = columns
            .into_iter()
            .zip(self.spec.output_schema.fields())
            .map(|(c, f)| Ok(arrow::compute::cast(&c, f.data_type())?))
            .collect::<Result<Vec<ArrayRef>>>()?;
        Ok(RecordBatch::try_new(self.spec.output_schema.clone(), columns)?)
    }

    /// Rebuilds the input rows and the groups from a checkpoint.
    fn restore(&mut self, state: &StateReader<'_>) -> Result<()> {
        let parser = self.row_encoder.parser();
        for (sub, value) in state.scan()? {
            let Some((&ROW, key)) = sub.split_first() else {
                return Err(Error::Internal("bad re-aggregation state key".into()));
            };
            let row = parser.parse(&value).owned();
            self.bytes += row_bytes(key, &row);
            self.rows.insert(key.to_vec(), row);
        }
        let batch = self.decode_rows(self.rows.values().map(|r| r.row()))?;
        self.apply(&batch, Direction::Add)?;
        self.dirty.clear();
        debug!(rows = self.rows.len(), groups = self.groups.len(), "re-aggregation state restored");
        Ok(())
    }
}

fn sort_fields(schema: &Schema) -> Vec<SortField> {
    schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect()
}

impl Operator for Reaggregate {
    fn open(&mut self, state: &StateReader<'_>) -> Result<()> {
        self.state_prefix = state.key(&[]);
        self.restore(state)
    }

    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Changes(changes) => self.on_changes(&changes)?,
            Message::Batch(_) => {
                return Err(Error::Internal("re-aggregation over append-only rows".into()));
            }
            Message::Barrier(mut barrier) => {
                self.on_barrier(&mut barrier, out)?;
                out.push(Message::Barrier(barrier));
            }
            other => out.push(other),
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

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field};
    use arrow::util::display::array_value_to_string;
    use datafusion::functions_aggregate::average::avg_udaf;
    use datafusion::functions_aggregate::min_max::{max_udaf, min_udaf};
    use datafusion::functions_aggregate::sum::sum_udaf;
    use datafusion::logical_expr::AggregateUDF;
    use datafusion::physical_expr::aggregate::AggregateExprBuilder;
    use datafusion::physical_expr::expressions::{cast, col};

    use super::*;
    use crate::state::Store;

    fn input_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("category", DataType::Int64, true),
            Field::new("m", DataType::Int64, true),
        ]))
    }

    /// sum, min, max and avg of `m`, per `category` (or of everything with `global`).
    fn spec(global: bool) -> ReaggregateSpec {
        let input = input_schema();
        let agg = |f: Arc<AggregateUDF>, name: &str| {
            let mut arg = col("m", &input).unwrap();
            if name == "a" {
                // As the analyzer coerces avg's argument.
                arg = cast(arg, &input, DataType::Float64).unwrap();
            }
            let expr = AggregateExprBuilder::new(f, vec![arg]).schema(input.clone());
            Arc::new(expr.alias(name).build().unwrap())
        };
        let aggregates = vec![agg(sum_udaf(), "s"), agg(min_udaf(), "lo"), agg(max_udaf(), "hi"), agg(avg_udaf(), "a")];
        let mut fields = if global { vec![] } else { vec![Field::new("category", DataType::Int64, true)] };
        fields.extend(["s", "lo", "hi"].map(|n| Field::new(n, DataType::Int64, true)));
        fields.push(Field::new("a", DataType::Float64, true));
        ReaggregateSpec {
            group_exprs: if global { vec![] } else { vec![col("category", &input).unwrap()] },
            aggregates,
            filters: vec![None; 4],
            input_schema: input,
            output_schema: Arc::new(Schema::new(fields)),
        }
    }

    /// Keyed changes: upserts of (upstream key, (category, m)) and deletes of keys.
    fn changes(upserts: &[(&str, (i64, i64))], deletes: &[&str]) -> Message {
        let keys = BinaryArray::from_iter_values(upserts.iter().map(|u| u.0.as_bytes()));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(upserts.iter().map(|u| u.1.0))),
            Arc::new(Int64Array::from_iter_values(upserts.iter().map(|u| u.1.1))),
        ];
        let rows = RecordBatch::try_new(input_schema(), columns).unwrap();
        let deletes = BinaryArray::from_iter_values(deletes.iter().map(|d| d.as_bytes()));
        Message::Changes(Box::new(ChangeBatch { keys, rows, deletes }))
    }

    fn barrier() -> Message {
        Message::Barrier(Barrier::new(1, vec![]))
    }

    fn parts() -> Vec<Vec<Message>> {
        vec![
            vec![changes(&[("a1", (1, 30)), ("a2", (1, 20)), ("a3", (2, 5))], &[]), barrier()],
            // a3 rises, a2 moves to category 2, a1 goes: category 1 empties.
            vec![changes(&[("a3", (2, 50)), ("a2", (2, 7))], &["a1", "nobody"]), barrier()],
            vec![changes(&[("a1", (1, 1)), ("a4", (3, 4)), ("a4", (3, 9))], &[]), barrier()],
            vec![changes(&[], &["a1", "a2", "a3", "a4"]), barrier()],
        ]
    }

    /// Feeds `msgs` to `op`, applying its output to `view` and committing barriers to `store`.
    fn run(op: &mut Reaggregate, store: &Store, view: &mut BTreeMap<Vec<u8>, String>, msgs: Vec<Message>) {
        let mut out = Vec::new();
        for m in msgs {
            op.process(m, &mut out).unwrap();
        }
        for m in out {
            match m {
                Message::Changes(c) => {
                    for key in c.deletes.iter().flatten() {
                        view.remove(key);
                    }
                    for (i, key) in c.keys.iter().enumerate() {
                        let cells: Vec<String> =
                            c.rows.columns().iter().map(|a| array_value_to_string(a, i).unwrap()).collect();
                        view.insert(key.unwrap().to_vec(), cells.join(" "));
                    }
                }
                Message::Barrier(b) => store.commit(b.writes).unwrap(),
                _ => {}
            }
        }
    }

    fn opened(global: bool, store: &Store) -> Reaggregate {
        let mut op = Reaggregate::new(spec(global)).unwrap();
        op.open(&StateReader { store, view: 3, operator: 1, shard: None }).unwrap();
        op
    }

    fn rows(view: &BTreeMap<Vec<u8>, String>) -> Vec<&str> {
        view.values().map(String::as_str).collect()
    }

    #[test]
    fn groups_follow_upserts_and_deletes() {
        let store = Store::temporary().unwrap();
        let (mut op, mut view) = (opened(false, &store), BTreeMap::new());
        let mut parts = parts().into_iter();
        run(&mut op, &store, &mut view, parts.next().unwrap());
        assert_eq!(rows(&view), ["1 50 20 30 25.0", "2 5 5 5 5.0"]);
        run(&mut op, &store, &mut view, parts.next().unwrap());
        assert_eq!(rows(&view), ["2 57 7 50 28.5"], "category 1 emptied; min 5 retracted");
        run(&mut op, &store, &mut view, parts.next().unwrap());
        assert_eq!(rows(&view), ["1 1 1 1 1.0", "2 57 7 50 28.5", "3 9 9 9 9.0"], "the last upsert wins");
        let walked = op.rows.iter().map(|(k, r)| row_bytes(k, r)).sum::<usize>()
            + op.groups
                .iter()
                .map(|(k, g)| ENTRY_OVERHEAD + k.len() + g.accumulators.iter().map(|a| a.size()).sum::<usize>())
                .sum::<usize>();
        assert_eq!(op.state_bytes(), walked, "the running count is what a walk over the state finds");
        run(&mut op, &store, &mut view, parts.next().unwrap());
        assert!(view.is_empty());
        assert!(store.scan_prefix(&op.state_prefix).next().is_none(), "no rows left in the state");
        assert_eq!(op.state_bytes(), 0, "no rows, no groups, no memory");
    }

    #[test]
    fn a_global_aggregate_goes_back_to_its_empty_value() {
        let store = Store::temporary().unwrap();
        let (mut op, mut view) = (opened(true, &store), BTreeMap::new());
        let mut parts = parts().into_iter();
        run(&mut op, &store, &mut view, parts.next().unwrap());
        assert_eq!(rows(&view), ["55 5 30 18.333333333333332"]);
        for part in parts {
            run(&mut op, &store, &mut view, part);
        }
        assert_eq!(rows(&view), ["   "], "sum, min, max and avg of nothing are NULL");
    }

    #[test]
    fn a_restored_operator_continues_like_an_uninterrupted_one() {
        for global in [false, true] {
            for split in 1..4 {
                let (store, restored_store) = (Store::temporary().unwrap(), Store::temporary().unwrap());
                let (mut whole, mut restored) = (BTreeMap::new(), BTreeMap::new());
                let (mut op, mut before) = (opened(global, &store), opened(global, &restored_store));
                for (i, (part, copy)) in parts().into_iter().zip(parts()).enumerate() {
                    if i == split {
                        before = opened(global, &restored_store);
                    }
                    run(&mut op, &store, &mut whole, part);
                    run(&mut before, &restored_store, &mut restored, copy);
                    assert_eq!(whole, restored, "global={global} split={split} part={i}");
                }
            }
        }
    }
}
