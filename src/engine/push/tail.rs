//! A push query's read of a stream: a reader thread that follows the stream's source from
//! its current end (ksqlDB's `auto.offset.reset = latest`), or from its beginning, and
//! sends every new row as an `insert` stamped with the time it was read.
//!
//! Started by [`super::Engine::push`]; ends when the [`StreamTail`] is dropped (the thread
//! notices the closed channel at its next poll, at most [`IDLE_WAIT`] later). It is
//! transient: every row as read (a stream's rows have no watermark to be late against
//! until a view or query windows them), nothing stored, bad records skipped. The current end is found by reading the source to it
//! without decoding (files: up to the last whole line; Kafka: up to the end offsets when it
//! starts); a generator has no end and is followed from its first row.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::SchemaRef;
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use super::super::subscribe::{change_schema, with_ops};
use crate::connector::file::FileSource;
use crate::connector::format::Format;
use crate::connector::{self, Options, Poll, SourceReader};
use crate::error::{Error, Result};

/// Rows per batch read.
const BATCH_ROWS: usize = 8192;
/// Wait between polls while the source has nothing new.
const IDLE_WAIT: Duration = Duration::from_millis(20);

/// The receiving end of a stream's transient reader.
pub(super) struct StreamTail {
    /// Batches of `op, commit_ts, <stream's columns>`, or the error that stopped the reader.
    rows: mpsc::Receiver<Result<RecordBatch>>,
}

impl StreamTail {
    /// Starts following the stream read with `options` and `columns`, from its beginning
    /// when `from_start`, else from its current end; returns once the reader stands there.
    pub(super) async fn start(options: Options, columns: SchemaRef, from_start: bool) -> Result<StreamTail> {
        let (tx, rows) = mpsc::channel(2);
        let (ready, started) = oneshot::channel();
        std::thread::Builder::new().name("push-tail".into()).spawn(move || {
            let reader = open(&options, columns.clone(), from_start);
            let reader = match reader {
                Ok(reader) => {
                    let _ = ready.send(Ok(()));
                    reader
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            follow(reader, &change_schema(&columns), &tx);
            debug!("push query stopped reading its stream");
        })?;
        started.await.map_err(|_| Error::Internal("stream reader thread ended before it started".into()))??;
        Ok(StreamTail { rows })
    }

    /// The next rows read. After the source's end (a bounded generator) nothing comes any
    /// more, and this waits for the client to cancel.
    pub(super) async fn next(&mut self) -> Result<RecordBatch> {
        match self.rows.recv().await {
            Some(rows) => rows,
            None => std::future::pending().await,
        }
    }
}

/// A reader of the stream standing at its beginning or its current end.
fn open(options: &Options, columns: SchemaRef, from_start: bool) -> Result<Box<dyn SourceReader>> {
    let position = if from_start { None } else { end_position(options, columns.clone())? };
    connector::open(options, columns, position, false, connector::Slice::WHOLE)
}

/// Where the stream's source ends now, as a position to resume from (None: a generator).
fn end_position(options: &Options, columns: SchemaRef) -> Result<Option<Vec<u8>>> {
    let file = match options.get("connector").map(String::as_str) {
        Some("file") => true,
        Some("kafka") => false,
        _ => return Ok(None),
    };
    let mut reader: Box<dyn SourceReader> = match (file, options.get("path")) {
        // Following, a file source reads up to the last whole line and then says Idle;
        // decoding no column makes that cheap.
        (true, Some(path)) => Box::new(
            FileSource::open(path, Format::from_options(options)?, columns, Default::default(), false)?
                .with_decoders(0)?
                .with_projection(&[])?,
        ),
        _ => connector::open(options, columns, None, true, connector::Slice::WHOLE)?,
    };
    loop {
        match reader.poll(BATCH_ROWS)? {
            Poll::Data { .. } | Poll::Bad(_) | Poll::Watermark(_) => {}
            Poll::End => break,
            Poll::Idle if file => break,
            Poll::Idle | Poll::Pending => std::thread::sleep(IDLE_WAIT),
        }
    }
    Ok(Some(reader.checkpoint()?))
}

/// Sends what `reader` reads until the receiver goes away or the source fails or ends.
fn follow(mut reader: Box<dyn SourceReader>, schema: &SchemaRef, tx: &mpsc::Sender<Result<RecordBatch>>) {
    while !tx.is_closed() {
        let rows = match reader.poll(BATCH_ROWS) {
            Ok(Poll::Data { batch, .. }) => stamped(schema, &batch),
            Ok(Poll::Bad(_) | Poll::Watermark(_)) => continue,
            Ok(Poll::Idle | Poll::Pending) => {
                std::thread::sleep(IDLE_WAIT);
                continue;
            }
            Ok(Poll::End) => return,
            Err(e) => Err(e),
        };
        let failed = rows.is_err();
        if tx.blocking_send(rows).is_err() || failed {
            return;
        }
    }
}

/// `batch` as inserts read now.
fn stamped(schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let at = Arc::new(TimestampMillisecondArray::from(vec![now; batch.num_rows()]).with_timezone("UTC"));
    with_ops(schema, vec!["insert"; batch.num_rows()], at, batch)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn append(path: &std::path::Path, values: &[i64]) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        for v in values {
            writeln!(f, r#"{{"v": {v}}}"#).unwrap();
        }
    }

    async fn values(tail: &mut StreamTail) -> Vec<i64> {
        let batch = tokio::time::timeout(Duration::from_secs(60), tail.next()).await.unwrap().unwrap();
        assert!(batch.column(0).as_string::<i32>().iter().all(|op| op == Some("insert")));
        batch.column(2).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()
    }

    #[tokio::test]
    async fn follows_a_file_from_its_end_or_its_beginning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        append(&path, &[1, 2]);
        let options: Options = [("connector", "file"), ("path", path.to_str().unwrap()), ("format", "json")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let columns = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]));
        let mut latest = StreamTail::start(options.clone(), columns.clone(), false).await.unwrap();
        let mut earliest = StreamTail::start(options, columns, true).await.unwrap();
        assert_eq!(values(&mut earliest).await, vec![1, 2]);
        append(&path, &[3]);
        assert_eq!(values(&mut latest).await, vec![3]);
        assert_eq!(values(&mut earliest).await, vec![3]);
    }
}
