//! The streaming runtime: messages, the operator contract, and the operators themselves.
//!
//! A materialized view runs as one pipeline: a source thread (read, decode, watermark; one
//! input per stream the view reads) feeding a [`flow::Flow`] of operators on a second
//! thread: a chain per input, two chains meeting in a join of two streams, ending in the
//! view's materialization.
//! A changelog table runs the same way (upserts by primary key into its materialization and
//! its in-memory index); views that join a stream with the table look rows up in that index.
//! Between them flow [`Message`]s: Arrow batches (append-only rows), change batches (keyed
//! upserts and deletes, produced by aggregation), watermarks, checkpoint barriers and the end
//! of a bounded input. The planner (`crate::sql::plan`) decides which operators a view needs;
//! the engine describes each pipeline (inputs, operators, where its rows go) as an
//! [`install::PipelineSpec`], and this module builds and runs it and never looks at SQL.

pub mod aggregate;
pub mod budget;
pub mod changelog;
pub mod exchange;
pub mod flow;
pub mod identity;
pub mod install;
pub mod join;
pub mod late;
pub mod lookup;
pub mod map;
pub mod materialize;
pub mod pipeline;
pub mod published;
pub mod reaggregate;
pub mod repartition;
pub mod session;
pub mod sink;
pub mod source;
pub mod stats;
pub mod topn;
pub mod transient;
pub mod watermark;
pub mod window;

pub use crate::state::StateReader;

use arrow::array::BinaryArray;
use arrow::record_batch::RecordBatch;
use tokio::sync::oneshot;

use crate::error::Result;
use crate::state::Write;

/// Event time in milliseconds since the Unix epoch.
pub type Millis = i64;

/// The watermark that closes every window: the end of a bounded input.
pub const END_OF_TIME: Millis = i64::MAX;

/// What one entry of an in-memory map costs besides its keys' and values' bytes: its slot,
/// pointers and allocation headers (an estimate, for [`Operator::state_bytes`]).
pub(crate) const ENTRY_OVERHEAD: usize = 64;

/// What flows between operators.
#[derive(Debug)]
pub enum Message {
    /// Append-only rows.
    Batch(RecordBatch),
    /// Keyed upserts and deletes.
    Changes(Box<ChangeBatch>),
    /// No row with an event time below this will follow (late rows are dropped upstream).
    Watermark(Millis),
    /// Snapshot your state into the barrier and pass it on.
    Barrier(Barrier),
    /// The input is exhausted (bounded sources only).
    End,
}

/// Keyed changes to a view: `rows[i]` is the new value of `keys[i]`; `deletes` are removed.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    /// Encoded keys of the upserted rows (one per row of `rows`).
    pub keys: BinaryArray,
    /// New values.
    pub rows: RecordBatch,
    /// Encoded keys of deleted rows.
    pub deletes: BinaryArray,
}

/// A checkpoint barrier. Each operator appends its state to `writes`; the last one commits
/// them together with the view rows, atomically.
#[derive(Debug)]
pub struct Barrier {
    /// Checkpoint number, increasing per pipeline.
    pub epoch: u64,
    /// State writes collected so far.
    pub writes: Vec<Write>,
    /// Completed once the checkpoint is durable (used by `FLUSH`).
    pub acks: Vec<oneshot::Sender<()>>,
    /// Records for the next stage of a view run as shards on several nodes, committed in
    /// the same transaction as the checkpoint (see [`repartition`]).
    pub outgoing: Vec<Outgoing>,
}

impl Barrier {
    /// Barrier `epoch` with no writes yet, completing `acks` once durable.
    pub fn new(epoch: u64, acks: Vec<oneshot::Sender<()>>) -> Barrier {
        Barrier { epoch, writes: Vec::new(), acks, outgoing: Vec::new() }
    }
}

/// A record for partition `partition` of a view's repartition topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The partition: the next stage's shard.
    pub partition: i32,
    /// Its key.
    pub key: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
}

/// One step of a pipeline after the source.
///
/// Operators push their output into `out`; they must forward watermarks, barriers and the
/// end marker (possibly after emitting rows of their own).
pub trait Operator: Send {
    /// Called once before the first message: restores state written by earlier checkpoints
    /// (nothing for a new view) and learns where to write state (`state.key`).
    fn open(&mut self, _state: &StateReader<'_>) -> Result<()> {
        Ok(())
    }

    /// Handles one message.
    fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()>;

    /// Bytes of memory the operator's state holds, counted against the pipelines' state
    /// budget. Asked after every message, so it is a running count kept as the state
    /// changes, never a walk over the state.
    fn state_bytes(&self) -> usize {
        0
    }
}

/// The sub key of input `input`'s state `sub` under the source stage (operator 0). The
/// first input's keys are unprefixed; the others' start with `in<n>/`.
pub fn input_key(input: usize, sub: &[u8]) -> Vec<u8> {
    if input == 0 {
        return sub.to_vec();
    }
    let mut key = format!("in{input}/").into_bytes();
    key.extend_from_slice(sub);
    key
}
