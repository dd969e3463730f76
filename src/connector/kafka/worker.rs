//! Decoding Kafka chunks on a thread of their own, so that fetching the next messages (on
//! the source thread) and decoding the last ones overlap.
//!
//! Owned by the Kafka source (`super`): it submits each partition's chunk as it is fetched
//! and takes the decoded chunks back in the same order. Dropping the worker stops its
//! thread.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

use super::records::{self, Chunk, Columns, DecodedChunk, ValueDecoder};
use crate::error::{Error, Result};

/// Chunks submitted and not yet taken back, at most.
pub(super) const MAX_IN_FLIGHT: usize = 8;

/// A decoded chunk: partition, the chunk, and its rows.
pub(super) type Done = (i32, Chunk, DecodedChunk);

/// The decoding thread of one Kafka source.
pub(super) struct DecodeWorker {
    input: Option<SyncSender<(i32, Chunk)>>,
    output: Receiver<Result<Done>>,
    in_flight: usize,
    thread: Option<JoinHandle<()>>,
}

impl DecodeWorker {
    /// Starts a thread decoding values with `decoder` into rows of `columns`.
    pub(super) fn start(mut decoder: ValueDecoder, columns: Columns) -> Result<DecodeWorker> {
        let (input, work) = sync_channel::<(i32, Chunk)>(MAX_IN_FLIGHT);
        let (done, output) = sync_channel(MAX_IN_FLIGHT);
        let thread = std::thread::Builder::new().name("kafka-decode".into()).spawn(move || {
            while let Ok((partition, chunk)) = work.recv() {
                let result = records::decode(&mut decoder, &columns, &chunk, partition);
                if done.send(result.map(|decoded| (partition, chunk, decoded))).is_err() {
                    return;
                }
            }
        })?;
        Ok(DecodeWorker { input: Some(input), output, in_flight: 0, thread: Some(thread) })
    }

    /// Chunks being decoded or waiting to be taken.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Hands a chunk to the thread.
    pub(super) fn submit(&mut self, partition: i32, chunk: Chunk) -> Result<()> {
        let input = self.input.as_ref().ok_or_else(|| Error::Internal("kafka decoder stopped".into()))?;
        input.send((partition, chunk)).map_err(|_| Error::Internal("kafka decoder thread ended".into()))?;
        self.in_flight += 1;
        Ok(())
    }

    /// The next decoded chunk: waiting for it if `wait`, else only if it is ready.
    pub(super) fn take(&mut self, wait: bool) -> Result<Option<Done>> {
        if self.in_flight == 0 {
            return Ok(None);
        }
        let next =
            if wait { self.output.recv().map_err(|_| TryRecvError::Disconnected) } else { self.output.try_recv() };
        match next {
            Ok(result) => {
                self.in_flight -= 1;
                result.map(Some)
            }
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(Error::Internal("kafka decoder thread ended".into())),
        }
    }
}

impl Drop for DecodeWorker {
    fn drop(&mut self) {
        self.input = None;
        // Drain results until the thread, out of work, drops its end; then it has ended.
        while self.output.recv().is_ok() {}
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
