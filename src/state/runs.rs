//! How a view's rows are laid out in the store: a short list of runs, each one Arrow IPC
//! value.
//!
//! Every checkpoint adds at most one run holding the rows the view received since the last
//! one, so the store sees one large write per view and checkpoint instead of one write per
//! row. Two layouts:
//! - **append**: a run is a block of view rows; the view is all runs in order.
//! - **keyed** (upserts by group key): a run is sorted by key, one entry per key, with a
//!   `live` flag (false for a delete). Newer runs win; the view is the merge of all runs.
//!
//! Runs are kept few by merging like a binary counter: after adding a run, the two newest
//! merge while the older is at most twice as large as the newer. Each row is therefore
//! rewritten O(log n) times in total, and a view of n rows has O(log n) runs. A merge
//! that produces the oldest run drops deletes, which have nothing left to hide.
//!
//! The run list (ids and sizes) is stored next to the runs ([`super::runs_key`]) and
//! written in the same batch; a reader checks the runs it finds against it, so a run lost
//! or damaged on disk is an [`Error::Corrupted`], never a view with rows missing.
//!
//! Written by `dataflow::materialize` inside its checkpoint commit (the merge's writes and
//! the new run list are part of the same atomic batch); read by `engine::tables` for
//! queries.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, BooleanArray, RecordBatch, new_null_array};
use arrow::compute::{concat_batches, filter_record_batch, interleave};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::{Store, Write, runs_key, view_key, view_prefix};
use crate::error::{Error, Result};
use crate::ipc::{decode_batches, encode_batches};

/// First byte of a run's value.
const APPEND: u8 = b'a';
const KEYED: u8 = b'k';

/// Rows per batch handed to queries.
const READ_BATCH: usize = 8192;

/// The layout of a view's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Rows only ever appended.
    Append,
    /// Rows upserted and deleted by key.
    Keyed,
}

/// A committed run: its id (its key in the store) and number of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    id: u64,
    rows: u64,
}

/// The runs of one view, as known to its writer.
#[derive(Debug)]
pub struct ViewRuns {
    view: u64,
    layout: Layout,
    /// The shard whose runs these are, for a view run as several (each writes its own).
    shard: Option<u16>,
    runs: Vec<Run>,
    next_id: u64,
}

impl ViewRuns {
    /// A view (or shard `shard` of one) without rows.
    pub fn new(view: u64, layout: Layout, shard: Option<u16>) -> ViewRuns {
        ViewRuns { view, layout, shard, runs: Vec::new(), next_id: first_id(shard) }
    }

    /// The runs of `view` (of its shard `shard`) as committed at the last checkpoint (none
    /// for a new view), after checking that every run is there, undamaged.
    pub fn open(store: &Store, view: u64, layout: Layout, shard: Option<u16>) -> Result<ViewRuns> {
        let saved = store.get(&list_key(view, shard))?;
        let runs = ViewRuns::restore(ViewRuns::new(view, layout, shard), saved.as_deref())?;
        let mut listed = runs.runs.iter().map(|r| r.id).collect::<std::collections::BTreeSet<_>>();
        for pair in store.scan_prefix(&view_prefix(view)) {
            let (key, _) = pair?;
            if let Some(id) = run_id(view, &key) {
                listed.remove(&id);
            }
        }
        match listed.first() {
            Some(id) => Err(missing(view, *id)),
            None => Ok(runs),
        }
    }

    /// `runs` as recorded by [`ViewRuns::encode`] (`None`: as they are, new).
    fn restore(mut runs: ViewRuns, saved: Option<&[u8]>) -> Result<ViewRuns> {
        let view = runs.view;
        let Some(bytes) = saved else { return Ok(runs) };
        let bad = || damaged(view, format!("a run list of {} bytes", bytes.len()));
        if bytes.len() < 8 || (bytes.len() - 8) % 16 != 0 {
            return Err(bad());
        }
        let words: Vec<u64> = bytes
            .chunks(8)
            .map(|c| c.try_into().map(u64::from_be_bytes))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| bad())?;
        let (&next, pairs) = words.split_first().ok_or_else(bad)?;
        runs.next_id = next;
        runs.runs = pairs.chunks(2).map(|p| Run { id: p[0], rows: p[1] }).collect();
        Ok(runs)
    }

    /// The run list, to be stored with the checkpoint.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 16 * self.runs.len());
        out.extend_from_slice(&self.next_id.to_be_bytes());
        for run in &self.runs {
            out.extend_from_slice(&run.id.to_be_bytes());
            out.extend_from_slice(&run.rows.to_be_bytes());
        }
        out
    }

    /// Adds `block` (an append block, or a keyed block from [`KeyedBuilder`]) as the newest
    /// run and merges runs as needed. The store writes go into `writes`; `store` is only read.
    pub fn add(&mut self, store: &Store, block: RecordBatch, writes: &mut Vec<Write>) -> Result<()> {
        if block.num_rows() == 0 {
            return Ok(());
        }
        let mut run = Run { id: self.next_id, rows: block.num_rows() as u64 };
        self.next_id += 1;
        let mut block = block;
        while let Some(older) = self.runs.last().copied().filter(|o| o.rows <= 2 * run.rows) {
            self.runs.pop();
            let old = decode_run(store, self.view, older.id)?.1;
            block = merge(self.layout, &old, &block, self.runs.is_empty())?;
            writes.push((view_key(self.view, &older.id.to_be_bytes()), None));
            run.rows = block.num_rows() as u64;
        }
        if self.layout == Layout::Keyed && self.runs.is_empty() {
            block = drop_deletes(&block)?;
            run.rows = block.num_rows() as u64;
        }
        writes.push((view_key(self.view, &run.id.to_be_bytes()), Some(encode_run(self.layout, &block)?)));
        self.runs.push(run);
        writes.push((list_key(self.view, self.shard), Some(self.encode())));
        Ok(())
    }
}

/// Reads every row of a view, in `schema`.
pub fn read_view(store: &Store, view: u64, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
    let (mut batches, keyed) = read_blocks(store, view)?;
    if let Some(live) = keyed {
        batches.push(RecordBatch::try_new(schema.clone(), live.columns()[2..].to_vec())?);
    }
    let mut out = Vec::new();
    for batch in batches {
        let batch = batch.with_schema(schema.clone())?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = READ_BATCH.min(batch.num_rows() - offset);
            out.push(batch.slice(offset, len));
            offset += len;
        }
    }
    Ok(out)
}

/// A keyed view's live rows with their keys: columns `key`, `live` (all true), then the
/// view's columns, sorted by key (as the blocks of a checkpoint are).
pub fn read_keyed_view(store: &Store, view: u64) -> Result<Option<RecordBatch>> {
    Ok(read_blocks(store, view)?.1)
}

/// A view's append blocks, and its keyed blocks merged into the live rows, checked
/// against its run list.
fn read_blocks(store: &Store, view: u64) -> Result<(Vec<RecordBatch>, Option<RecordBatch>)> {
    let mut expected = std::collections::BTreeMap::new();
    for pair in store.scan_prefix(&runs_key(view)) {
        let (key, saved) = pair?;
        let shard = match key[runs_key(view).len()..].try_into() {
            Ok(bytes) => Some(u16::from_be_bytes(bytes)),
            Err(_) if key.len() == runs_key(view).len() => None,
            Err(_) => return Err(damaged(view, format!("a run list under {key:?}"))),
        };
        let list = ViewRuns::restore(ViewRuns::new(view, Layout::Append, shard), Some(&saved))?;
        expected.extend(list.runs.iter().map(|r| (r.id, r.rows)));
    }
    let mut merged: Option<RecordBatch> = None;
    let mut batches = Vec::new();
    for pair in store.scan_prefix(&view_prefix(view)) {
        let (key, value) = pair?;
        let Some(id) = run_id(view, &key) else { continue };
        let (layout, block) = decode_value(view, &value)?;
        match expected.remove(&id) {
            Some(rows) if rows == block.num_rows() as u64 => {}
            Some(rows) => {
                return Err(damaged(view, format!("run {id} holds {} rows, its list says {rows}", block.num_rows())));
            }
            None => return Err(damaged(view, format!("run {id} is not in the run list"))),
        }
        match layout {
            Layout::Append => batches.push(block),
            Layout::Keyed => {
                merged = Some(match merged {
                    None => block,
                    Some(old) => merge(Layout::Keyed, &old, &block, true)?,
                })
            }
        }
    }
    if let Some((id, _)) = expected.first_key_value() {
        return Err(missing(view, *id));
    }
    Ok((batches, merged.map(|keyed| drop_deletes(&keyed)).transpose()?))
}

/// The key of the run list of `view`, or of its shard `shard`.
fn list_key(view: u64, shard: Option<u16>) -> Vec<u8> {
    let mut key = runs_key(view);
    if let Some(shard) = shard {
        key.extend_from_slice(&shard.to_be_bytes());
    }
    key
}

/// The id of the first run of a view (of shard `shard` of it): each shard numbers its
/// runs from a range of its own, so their keys never meet.
fn first_id(shard: Option<u16>) -> u64 {
    shard.map_or(0, |s| (u64::from(s) + 1) << 48)
}

/// The id of the run stored under `key`, or None for a run list.
fn run_id(view: u64, key: &[u8]) -> Option<u64> {
    let id = key.strip_prefix(view_prefix(view).as_slice())?;
    id.try_into().ok().map(u64::from_be_bytes)
}

/// The error for damaged rows of `view`.
fn damaged(view: u64, why: String) -> Error {
    Error::Corrupted { what: format!("the stored rows of object {view}"), detail: why }
}

fn missing(view: u64, id: u64) -> Error {
    damaged(view, format!("run {id} of the run list is missing from the store"))
}

/// Collects one checkpoint's upserts and deletes of a keyed view, in arrival order.
#[derive(Debug)]
pub struct KeyedBuilder {
    schema: SchemaRef,
    /// Keys, and the rows they take (`None`: deleted).
    parts: Vec<(BinaryArray, Option<RecordBatch>)>,
}

impl KeyedBuilder {
    /// A builder for a view with rows of `schema`.
    pub fn new(schema: SchemaRef) -> KeyedBuilder {
        KeyedBuilder { schema, parts: Vec::new() }
    }

    /// `rows[i]` becomes the value of `keys[i]`.
    pub fn upsert(&mut self, keys: BinaryArray, rows: RecordBatch) {
        if !keys.is_empty() {
            self.parts.push((keys, Some(rows)));
        }
    }

    /// `keys` are removed.
    pub fn delete(&mut self, keys: BinaryArray) {
        if !keys.is_empty() {
            self.parts.push((keys, None));
        }
    }

    /// Bytes of memory the collected changes hold.
    pub fn bytes(&self) -> usize {
        let rows = |r: &Option<RecordBatch>| r.as_ref().map_or(0, RecordBatch::get_array_memory_size);
        self.parts.iter().map(|(keys, r)| keys.get_array_memory_size() + rows(r)).sum()
    }

    /// The current rows of every key not deleted (the view's columns), emptying the builder.
    pub fn live_rows(&mut self) -> Result<RecordBatch> {
        let block = drop_deletes(&self.finish()?)?;
        Ok(block.project(&(2..block.num_columns()).collect::<Vec<_>>())?)
    }

    /// Reduces the changes collected to one upsert per live key, so the builder's memory
    /// follows the number of keys rather than the number of changes.
    pub fn compact(&mut self) -> Result<()> {
        let block = drop_deletes(&self.finish()?)?;
        let keys = block.column(0).as_binary::<i32>().clone();
        let rows = RecordBatch::try_new(self.schema.clone(), block.columns()[2..].to_vec())?;
        self.upsert(keys, rows);
        Ok(())
    }

    /// The block of a run: sorted by key, the last change of each key. Empties the builder.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let parts = std::mem::take(&mut self.parts);
        let block_schema = keyed_schema(&self.schema);
        // Source 0 is a single all-null row that deletes point at.
        let nulls: Vec<ArrayRef> = self.schema.fields().iter().map(|f| new_null_array(f.data_type(), 1)).collect();
        let mut entries: Vec<(&[u8], usize, usize)> = Vec::new();
        for (p, (keys, rows)) in parts.iter().enumerate() {
            for (i, key) in keys.iter().enumerate() {
                let key = key.ok_or_else(|| Error::Internal("null change key".into()))?;
                entries.push((key, if rows.is_some() { p + 1 } else { 0 }, if rows.is_some() { i } else { 0 }));
            }
        }
        // Stable: among equal keys the last arrival stays last.
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut picks: Vec<(&[u8], usize, usize)> = Vec::with_capacity(entries.len());
        for e in entries {
            match picks.last_mut() {
                Some(last) if last.0 == e.0 => *last = e,
                _ => picks.push(e),
            }
        }
        let keys: ArrayRef = Arc::new(BinaryArray::from_iter_values(picks.iter().map(|p| p.0)));
        let live: ArrayRef = Arc::new(BooleanArray::from_iter(picks.iter().map(|p| Some(p.1 != 0))));
        let index: Vec<(usize, usize)> = picks.iter().map(|p| (p.1, p.2)).collect();
        let mut columns = vec![keys, live];
        for (c, null) in nulls.iter().enumerate() {
            let mut sources: Vec<&dyn Array> = vec![null.as_ref()];
            for (_, rows) in &parts {
                // Deletes never point here; any array keeps the indices aligned.
                sources.push(rows.as_ref().map_or(null.as_ref(), |r| r.column(c).as_ref()));
            }
            columns.push(interleave(&sources, &index)?);
        }
        Ok(RecordBatch::try_new(block_schema, columns)?)
    }
}

/// The schema of keyed blocks: the key, the live flag, then the view's columns (nullable,
/// since deletes carry no values).
fn keyed_schema(schema: &SchemaRef) -> SchemaRef {
    let mut fields = vec![Field::new("key", DataType::Binary, false), Field::new("live", DataType::Boolean, false)];
    fields.extend(schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)));
    Arc::new(Schema::new(fields))
}

/// Merges `old` and `new` (newer wins). `base`: the result becomes the oldest run.
fn merge(layout: Layout, old: &RecordBatch, new: &RecordBatch, base: bool) -> Result<RecordBatch> {
    if layout == Layout::Append {
        return Ok(concat_batches(&old.schema(), [old, new])?);
    }
    let (a, b) = (old.column(0).as_binary::<i32>(), new.column(0).as_binary::<i32>());
    let mut index = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let take_old = j == b.len() || (i < a.len() && a.value(i) < b.value(j));
        if take_old {
            index.push((0, i));
            i += 1;
        } else {
            if i < a.len() && a.value(i) == b.value(j) {
                i += 1;
            }
            index.push((1, j));
            j += 1;
        }
    }
    let columns = (0..old.num_columns())
        .map(|c| interleave(&[old.column(c).as_ref(), new.column(c).as_ref()], &index))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let merged = RecordBatch::try_new(old.schema(), columns)?;
    if base { drop_deletes(&merged) } else { Ok(merged) }
}

/// A keyed block without its deletes.
fn drop_deletes(block: &RecordBatch) -> Result<RecordBatch> {
    let live = block.column(1).as_boolean().clone();
    if live.true_count() == block.num_rows() {
        return Ok(block.clone());
    }
    Ok(filter_record_batch(block, &live)?)
}

fn encode_run(layout: Layout, block: &RecordBatch) -> Result<Vec<u8>> {
    let mut value = vec![if layout == Layout::Append { APPEND } else { KEYED }];
    value.extend(encode_batches(std::slice::from_ref(block))?);
    Ok(value)
}

fn decode_value(view: u64, value: &[u8]) -> Result<(Layout, RecordBatch)> {
    let layout = match value.first() {
        Some(&APPEND) => Layout::Append,
        Some(&KEYED) => Layout::Keyed,
        _ => return Err(damaged(view, "a run of unknown format".into())),
    };
    let undecodable = |e: Error| damaged(view, format!("a run does not decode: {e}"));
    let batches = decode_batches(&value[1..]).map_err(undecodable)?;
    let schema = batches.first().map(|b| b.schema()).ok_or_else(|| damaged(view, "an empty run".into()))?;
    Ok((layout, concat_batches(&schema, &batches)?))
}

fn decode_run(store: &Store, view: u64, id: u64) -> Result<(Layout, RecordBatch)> {
    let value = store.get(&view_key(view, &id.to_be_bytes()))?.ok_or_else(|| missing(view, id))?;
    decode_value(view, &value)
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, false), Field::new("n", DataType::Int64, false)]))
    }

    fn rows(keys: &[&str], values: &[i64]) -> (BinaryArray, RecordBatch) {
        let k = BinaryArray::from_iter_values(keys.iter().map(|k| k.as_bytes()));
        let batch = RecordBatch::try_new(
            schema(),
            vec![Arc::new(StringArray::from(keys.to_vec())), Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap();
        (k, batch)
    }

    fn commit(store: &Store, runs: &mut ViewRuns, block: RecordBatch) {
        let mut writes = Vec::new();
        runs.add(store, block, &mut writes).unwrap();
        store.commit(writes).unwrap();
    }

    fn contents(store: &Store) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for b in read_view(store, 7, &schema()).unwrap() {
            let k = b.column(0).as_string::<i32>();
            let n = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
            out.extend((0..b.num_rows()).map(|i| (k.value(i).to_string(), n.value(i))));
        }
        out.sort();
        out
    }

    #[test]
    fn last_change_per_key_wins_within_a_checkpoint() {
        let mut b = KeyedBuilder::new(schema());
        let (k, r) = rows(&["x", "y"], &[1, 2]);
        b.upsert(k, r);
        b.delete(BinaryArray::from_iter_values([b"x".as_slice()]));
        let (k, r) = rows(&["y"], &[3]);
        b.upsert(k, r);
        let block = b.finish().unwrap();
        assert_eq!(block.num_rows(), 2);
        assert_eq!(block.column(1).as_boolean().values().iter().collect::<Vec<_>>(), vec![false, true]);
    }

    #[test]
    fn keyed_runs_merge_and_stay_few() {
        let store = Store::temporary().unwrap();
        let mut runs = ViewRuns::open(&store, 7, Layout::Keyed, None).unwrap();
        let mut expected = std::collections::BTreeMap::new();
        for epoch in 0..200i64 {
            let mut b = KeyedBuilder::new(schema());
            let keys: Vec<String> = (0..(epoch % 7 + 1)).map(|i| format!("k{}", (epoch * 13 + i) % 50)).collect();
            let refs: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
            let (k, r) = rows(&refs, &vec![epoch; refs.len()]);
            b.upsert(k, r);
            for key in &keys {
                expected.insert(key.clone(), epoch);
            }
            if epoch % 5 == 0 {
                let gone = format!("k{}", epoch % 50);
                b.delete(BinaryArray::from_iter_values([gone.as_bytes()]));
                expected.remove(&gone);
            }
            commit(&store, &mut runs, b.finish().unwrap());
            assert!(runs.runs.len() <= 12, "{} runs", runs.runs.len());
        }
        assert_eq!(contents(&store), expected.into_iter().collect::<Vec<_>>());
        let reopened = ViewRuns::open(&store, 7, Layout::Keyed, None).unwrap();
        assert_eq!(reopened.runs, runs.runs);
        assert_eq!(reopened.next_id, runs.next_id);
    }

    #[test]
    fn a_lost_or_unlisted_run_is_corruption_not_fewer_rows() {
        let store = Store::temporary().unwrap();
        let mut runs = ViewRuns::open(&store, 7, Layout::Append, None).unwrap();
        for i in 0..3i64 {
            let (_, r) = rows(&["a"; 4], &[i; 4]);
            commit(&store, &mut runs, r);
        }
        let first = runs.runs[0].id;
        let saved = store.get(&view_key(7, &first.to_be_bytes())).unwrap().unwrap();
        store.commit(vec![(view_key(7, &first.to_be_bytes()), None)]).unwrap();
        let e = read_view(&store, 7, &schema()).unwrap_err();
        assert!(matches!(e, Error::Corrupted { .. }), "{e}");
        assert!(matches!(ViewRuns::open(&store, 7, Layout::Append, None), Err(Error::Corrupted { .. })));
        store.commit(vec![(view_key(7, &first.to_be_bytes()), Some(saved))]).unwrap();
        assert_eq!(contents(&store).len(), runs.runs.iter().map(|r| r.rows as usize).sum::<usize>());
        store
            .commit(vec![(
                view_key(7, &99u64.to_be_bytes()),
                Some(encode_run(Layout::Append, &rows(&["z"], &[1]).1).unwrap()),
            )])
            .unwrap();
        assert!(matches!(read_view(&store, 7, &schema()), Err(Error::Corrupted { .. })), "an unlisted run");
    }

    #[test]
    fn append_runs_keep_order() {
        let store = Store::temporary().unwrap();
        let mut runs = ViewRuns::open(&store, 7, Layout::Append, None).unwrap();
        for i in 0..20i64 {
            let (_, r) = rows(&["a", "b"], &[i, i + 100]);
            commit(&store, &mut runs, r);
        }
        assert_eq!(contents(&store).len(), 40);
        let order: Vec<i64> = read_view(&store, 7, &schema())
            .unwrap()
            .iter()
            .flat_map(|b| b.column(1).as_primitive::<arrow::datatypes::Int64Type>().values().to_vec())
            .collect();
        assert_eq!(order, (0..20).flat_map(|i| [i, i + 100]).collect::<Vec<_>>());
        assert!(runs.runs.len() <= 6);
    }

    #[test]
    fn shards_keep_runs_of_their_own_and_queries_read_them_all() {
        let store = Store::temporary().unwrap();
        let mut shards: Vec<ViewRuns> =
            (0..3).map(|s| ViewRuns::open(&store, 7, Layout::Keyed, Some(s)).unwrap()).collect();
        let mut expected = std::collections::BTreeMap::new();
        for epoch in 0..40i64 {
            let shard = (epoch % 3) as usize;
            // Each shard owns the keys ending in its number.
            let keys: Vec<String> = (0..4).map(|i| format!("k{}{shard}", (epoch + i) % 5)).collect();
            let refs: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
            let mut b = KeyedBuilder::new(schema());
            let (k, r) = rows(&refs, &[epoch; 4]);
            b.upsert(k, r);
            for key in keys {
                expected.insert(key, epoch);
            }
            commit(&store, &mut shards[shard], b.finish().unwrap());
        }
        assert_eq!(contents(&store), expected.into_iter().collect::<Vec<_>>());
        for (s, runs) in shards.iter().enumerate() {
            let reopened = ViewRuns::open(&store, 7, Layout::Keyed, Some(s as u16)).unwrap();
            assert_eq!(reopened.runs, runs.runs);
            assert!(runs.runs.iter().all(|r| r.id >> 48 == s as u64 + 1), "shard {s}: {:?}", runs.runs);
        }
    }
}
