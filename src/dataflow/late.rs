//! Late rows as data: every row a pipeline's source stage drops as late is kept, with the
//! watermark it was behind and why, for `sluice_catalog.late_rows`.
//!
//! The source stage ([`super::source`]) hands the rows it drops to [`LateRows::push`]; at
//! each checkpoint barrier [`LateRows::checkpoint`] writes them, encoded as one Arrow IPC
//! blob per checkpoint, into the same atomic commit as the source position, so after a
//! crash exactly the rows dropped before the last checkpoint are kept (the others are read
//! and dropped again). The oldest blobs are removed once a pipeline keeps more than
//! [`MAX_LATE_ROWS`] rows; the `late_rows` counter still counts all of them.
//! The engine's system tables read the blobs back with [`read`].

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::{Millis, StateReader};
use crate::error::{Error, Result};
use crate::ipc::{decode_batch, encode_batch};
use crate::state::{Store, Write, state_key};

/// How many late rows a pipeline keeps at most (whole checkpoints are removed, oldest first).
pub const MAX_LATE_ROWS: usize = 100_000;

/// Sub key prefix of the blobs, under the source stage's state (operator 0).
const PREFIX: &[u8] = b"late/";

/// Late rows not yet checkpointed, and how many rows each stored checkpoint holds.
pub struct LateRows {
    pending: Vec<RecordBatch>,
    stored: VecDeque<(Vec<u8>, usize)>,
    total: usize,
    prefix: Vec<u8>,
}

/// The stored form: when the row happened, the watermark it was behind, why it was
/// dropped, and the row itself as a JSON object.
pub fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    Arc::new(Schema::new(vec![
        Field::new("event_time", ts.clone(), true),
        Field::new("watermark", ts, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("row", DataType::Utf8, false),
    ]))
}

impl LateRows {
    /// Learns which late rows earlier checkpoints stored for the input whose source state
    /// keys start with `input` (see `super::input_key`).
    pub fn restore(state: &StateReader<'_>, input: &[u8]) -> Result<LateRows> {
        let prefix = state.key(&[input, PREFIX].concat());
        let mut stored = VecDeque::new();
        let mut total = 0;
        for entry in state.store.scan_prefix(&prefix) {
            let (key, blob) = entry?;
            let rows = decode_batch(&blob)?.num_rows();
            total += rows;
            stored.push_back((key.to_vec(), rows));
        }
        Ok(LateRows { pending: Vec::new(), stored, total, prefix })
    }

    /// Keeps `rows` (in the stream's columns), dropped while the watermark was
    /// `watermarks[i]`; `times` is the event-time column of `rows`.
    pub fn push(
        &mut self,
        rows: &RecordBatch,
        times: &TimestampMillisecondArray,
        watermarks: Vec<Millis>,
    ) -> Result<()> {
        let reasons: StringArray = times
            .iter()
            .map(|t| Some(if t.is_some() { "event time is behind the watermark" } else { "event time is null" }))
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(times.clone().with_timezone_opt(None::<Arc<str>>)),
            Arc::new(TimestampMillisecondArray::from(watermarks)),
            Arc::new(reasons),
            Arc::new(json_rows(rows)?),
        ];
        self.pending.push(RecordBatch::try_new(schema(), columns)?);
        Ok(())
    }

    /// Adds the rows dropped since the last checkpoint, and the removal of the oldest
    /// stored ones beyond [`MAX_LATE_ROWS`], to checkpoint `epoch`'s writes.
    pub fn checkpoint(&mut self, epoch: u64, writes: &mut Vec<Write>) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = concat_batches(&schema(), &self.pending)?;
        self.pending.clear();
        let mut key = self.prefix.clone();
        key.extend_from_slice(&epoch.to_be_bytes());
        writes.push((key.clone(), Some(encode_batch(&batch)?)));
        self.stored.push_back((key, batch.num_rows()));
        self.total += batch.num_rows();
        while self.total > MAX_LATE_ROWS && self.stored.len() > 1 {
            let Some((key, rows)) = self.stored.pop_front() else { break };
            self.total -= rows;
            writes.push((key, None));
        }
        Ok(())
    }
}

/// Each row of `batch` as a JSON object.
fn json_rows(batch: &RecordBatch) -> Result<StringArray> {
    let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    let text = String::from_utf8(writer.into_inner()).map_err(|e| Error::Internal(format!("late row json: {e}")))?;
    let lines: StringArray = text.lines().map(Some).collect();
    if lines.len() != batch.num_rows() {
        return Err(Error::Internal("late rows did not encode one line each".into()));
    }
    Ok(lines)
}

/// The late rows pipeline `id` keeps of its input `input`, oldest first.
pub fn read(store: &Store, id: u64, input: usize) -> Result<Vec<RecordBatch>> {
    let prefix = state_key(id, 0, &super::input_key(input, PREFIX));
    store.scan_prefix(&prefix).map(|entry| decode_batch(&entry?.1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> (RecordBatch, TimestampMillisecondArray) {
        let times = TimestampMillisecondArray::from((0..n as i64).map(Some).collect::<Vec<_>>());
        let schema = Schema::new(vec![Field::new("t", times.data_type().clone(), true)]);
        (RecordBatch::try_new(Arc::new(schema), vec![Arc::new(times.clone())]).unwrap(), times)
    }

    #[test]
    fn checkpoints_keep_rows_and_drop_the_oldest_beyond_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let state = StateReader { store: &store, view: 7, operator: 0, shard: None };
        let mut late = LateRows::restore(&state, b"").unwrap();
        for epoch in 1..=3u64 {
            let (batch, times) = rows(MAX_LATE_ROWS / 2);
            late.push(&batch, &times, vec![5; MAX_LATE_ROWS / 2]).unwrap();
            let mut writes = Vec::new();
            late.checkpoint(epoch, &mut writes).unwrap();
            store.commit(writes).unwrap();
        }
        let kept = read(&store, 7, 0).unwrap();
        assert_eq!(kept.iter().map(|b| b.num_rows()).sum::<usize>(), MAX_LATE_ROWS);
        let first = kept[0].column(3).as_any().downcast_ref::<StringArray>().unwrap().value(1).to_string();
        assert!(first.starts_with("{\"t\":\"1970-01-01T00:00:00.001"), "{first}");
        let restored = LateRows::restore(&state, b"").unwrap();
        assert_eq!((restored.total, restored.stored.len()), (MAX_LATE_ROWS, 2));
    }
}
