//! Ad-hoc SELECT over a stream: a transient, bounded read of the stream's source.
//!
//! `SELECT ... FROM stream [LIMIT n]` (and over `TUMBLE(stream, ...)` and the other window
//! functions) runs as a DataFusion query whose scan opens a fresh reader of the stream,
//! bounded at what the source holds when the query starts (the files' current ends, the
//! Kafka partitions' end offsets). DataFusion does the rest; with LIMIT it stops pulling,
//! which drops the scan's channel and ends the reader thread after at most one more batch.
//! No watermark applies (every row counts) and nothing is stored. Created by
//! [`super::relations`] when DataFusion scans a stream outside a materialized view.

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchReceiverStreamBuilder;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use tokio::sync::mpsc::Sender;

use crate::connector::{self, Options, Poll};
use crate::dataflow::window::{WindowAssign, WindowKind};
use crate::dataflow::{Message, Operator};

/// Rows per batch read.
const BATCH_ROWS: usize = 8192;
/// Wait between polls while a source has nothing yet (a Kafka fetch in flight).
const POLL_WAIT: Duration = Duration::from_millis(5);

/// One bounded read of a stream, optionally with window bounds added.
#[derive(Debug)]
pub struct StreamScan {
    options: Options,
    /// The stream's columns.
    source_schema: SchemaRef,
    /// Window kind and time column, for the window functions.
    window: Option<(WindowKind, usize)>,
    /// What it yields: the stream's columns (plus window bounds).
    schema: SchemaRef,
    /// The query's LIMIT pushed into the scan: lets an endless generator be read.
    limit: Option<usize>,
}

impl StreamScan {
    /// A read of the stream with `options` and `source_schema`; `schema` is what comes
    /// out (with the bounds of `window`, if given).
    pub fn new(
        options: Options,
        source_schema: SchemaRef,
        window: Option<(WindowKind, usize)>,
        schema: SchemaRef,
    ) -> StreamScan {
        StreamScan { options, source_schema, window, schema, limit: None }
    }

    /// The scan as an execution plan with DataFusion's projection and limit.
    pub fn into_plan(
        self,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let schema = self.schema.clone();
        let scan = StreamScan { limit, ..self };
        Ok(Arc::new(StreamingTableExec::try_new(schema, vec![Arc::new(scan)], projection, vec![], false, limit)?))
    }
}

impl PartitionStream for StreamScan {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let mut builder = RecordBatchReceiverStreamBuilder::new(self.schema.clone(), 2);
        let tx = builder.tx();
        let (options, schema, window) = (self.options.clone(), self.source_schema.clone(), self.window.clone());
        // Files and topics are read to their current end; a generator has none, but with a
        // LIMIT it need not end.
        let generator = matches!(options.get("connector").map(String::as_str), Some("nexmark" | "datagen"));
        let bounded = !(generator && self.limit.is_some());
        builder.spawn_blocking(move || read(&options, schema, window, bounded, &tx));
        builder.build()
    }
}

/// Reads the stream to its current end, sending batches until the query stops listening.
fn read(
    options: &Options,
    schema: SchemaRef,
    window: Option<(WindowKind, usize)>,
    bounded: bool,
    tx: &Sender<datafusion::error::Result<RecordBatch>>,
) -> datafusion::error::Result<()> {
    let external = |e: crate::error::Error| DataFusionError::External(Box::new(e));
    let mut reader = connector::open(options, schema.clone(), None, bounded).map_err(external)?;
    let mut assign = window.map(|(kind, time)| WindowAssign::new(kind, time, &schema)).transpose().map_err(external)?;
    let mut out = Vec::new();
    loop {
        match reader.poll(BATCH_ROWS).map_err(external)? {
            Poll::Data { batch, .. } => {
                let batch = match assign.as_mut() {
                    None => batch,
                    Some(op) => {
                        op.process(Message::Batch(batch), &mut out).map_err(external)?;
                        match out.pop() {
                            Some(Message::Batch(b)) => b,
                            _ => continue,
                        }
                    }
                };
                if tx.blocking_send(Ok(batch)).is_err() {
                    return Ok(()); // the query has what it needs
                }
            }
            Poll::Bad(_) => {}
            Poll::Idle | Poll::Pending if !tx.is_closed() => std::thread::sleep(POLL_WAIT),
            Poll::Idle | Poll::Pending => return Ok(()),
            Poll::End => return Ok(()),
        }
    }
}
