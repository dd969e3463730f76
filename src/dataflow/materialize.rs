//! The last operator of every pipeline: writes view rows and commits checkpoints.
//!
//! Append-only input gets sequence-numbered keys (the next number is part of the checkpoint,
//! so replay after a crash rewrites the same keys); change batches carry their own keys.
//! Rows are encoded in Arrow's row format. Nothing is written until a barrier arrives: then
//! the view's pending rows and every upstream operator's state go to the store in one atomic,
//! durable commit, which is what makes recovery exactly-once.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};

use super::pipeline::ViewStats;
use super::{Barrier, ChangeBatch, Message, Operator, StateReader};
use crate::error::{Error, Result};
use crate::state::{Store, Write, view_key};

/// Writes a view's rows.
pub struct Materialize {
    view: u64,
    store: Store,
    encoder: RowConverter,
    pending: Vec<Write>,
    next_seq: u64,
    seq_key: Vec<u8>,
    stats: Arc<ViewStats>,
}

impl Materialize {
    /// A writer for view `view` whose rows have `schema`.
    pub fn new(view: u64, schema: &SchemaRef, store: Store, stats: Arc<ViewStats>) -> Result<Materialize> {
        Ok(Materialize {
            view,
            store,
            encoder: row_converter(schema)?,
            pending: Vec::new(),
            next_seq: 0,
            seq_key: Vec::new(),
            stats,
        })
    }

    fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let rows = self.encoder.convert_columns(batch.columns())?;
        for row in rows.iter() {
            let key = view_key(self.view, &self.next_seq.to_be_bytes());
            self.pending.push((key, Some(row.as_ref().to_vec())));
            self.next_seq += 1;
        }
        Ok(())
    }

    fn apply(&mut self, changes: &ChangeBatch) -> Result<()> {
        for key in changes.deletes.iter().flatten() {
            self.pending.push((view_key(self.view, key), None));
        }
        let rows = self.encoder.convert_columns(changes.rows.columns())?;
        for (key, row) in changes.keys.iter().zip(rows.iter()) {
            let key = key.ok_or_else(|| Error::Internal("null change key".into()))?;
            self.pending.push((view_key(self.view, key), Some(row.as_ref().to_vec())));
        }
        Ok(())
    }

    fn commit(&mut self, barrier: Barrier) -> Result<()> {
        let Barrier { epoch, mut writes, acks } = barrier;
        writes.append(&mut self.pending);
        writes.push((self.seq_key.clone(), Some(self.next_seq.to_be_bytes().to_vec())));
        {
            let _guard = self.stats.rows_lock.write().map_err(|_| Error::Internal("view lock poisoned".into()))?;
            self.store.commit(writes)?;
        }
        self.stats.committed(epoch);
        for ack in acks {
            let _ = ack.send(());
        }
        Ok(())
    }
}

/// The row codec of a view: how its rows are stored and read back.
pub fn row_converter(schema: &SchemaRef) -> Result<RowConverter> {
    let fields = schema.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect();
    Ok(RowConverter::new(fields)?)
}

impl Operator for Materialize {
    fn name(&self) -> &'static str {
        "materialize"
    }

    fn open(&mut self, state: &StateReader<'_>) -> Result<()> {
        self.seq_key = state.key(b"seq");
        if let Some(bytes) = state.get(b"seq")? {
            let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| Error::Internal("bad sequence state".into()))?;
            self.next_seq = u64::from_be_bytes(arr);
        }
        Ok(())
    }

    fn process(&mut self, msg: Message, _out: &mut Vec<Message>) -> Result<()> {
        match msg {
            Message::Batch(batch) => self.append(&batch),
            Message::Changes(changes) => self.apply(&changes),
            Message::Barrier(barrier) => self.commit(barrier),
            Message::Watermark(_) | Message::End => Ok(()),
        }
    }
}
