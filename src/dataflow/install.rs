//! One installer for every pipeline: a materialized view, a table, a sink, or the part of
//! a query that reads streams.
//!
//! The engine describes what to run as a [`PipelineSpec`]: the streams it reads (their
//! [`StreamDef`]s), the operators the planner chose (a [`Flow`], each operator with its
//! stable id), and where the rows go ([`Destination`]). [`PipelineSpec::build`] is the one
//! place a pipeline is assembled: it appends the output operator, opens every input at the
//! position checkpointed under the pipeline's id, and returns the source stage and the
//! operators. [`super::pipeline::Pipeline::start`] builds and starts one that runs until
//! dropped (a view's, a table's or a sink's); a [`super::transient::TransientPipeline`]
//! builds one per run and runs it when DataFusion reads the query.
//!
//! ```text
//!   StreamDef ─┐                              ┌─▶ Destination::Store  (view, table)
//!   StreamDef ─┼─▶ SourceTask ───▶ Flow ──────┼─▶ Destination::Sink   (sink)
//!      ...     ┘   (positions     (operators, └─▶ Destination::Query  (transient query:
//!                   from Store)    stable ids)                         nothing stored)
//! ```

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use arrow::datatypes::SchemaRef;

use super::Millis;
use super::budget::StateBudget;
use super::exchange::Sharding;
use super::flow::Flow;
use super::input_key;
use super::materialize::{CheckpointLog, Materialize};
use super::published::Published;
use super::sink::Sink;
use super::source::{IdlePolicy, SourceInput, SourceTask};
use super::stats::PipelineStats;
use super::watermark::WatermarkSpec;
use crate::connector::file_access::{Access, FileRoots};
use crate::connector::sink::{Encoder, SinkWriter};
use crate::connector::{self, Options, Slice};
use crate::error::Result;
use crate::state::{Layout, StateReader, Store};

/// A stream: what a pipeline's source stage needs to read it.
#[derive(Debug, Clone)]
pub struct StreamDef {
    /// Name.
    pub name: String,
    /// Columns as decoded from the source (timestamps in milliseconds).
    pub schema: SchemaRef,
    /// Watermark, if declared.
    pub watermark: Option<WatermarkSpec>,
    /// Connector options.
    pub options: Options,
}

/// Where a pipeline's rows go.
pub enum Destination {
    /// Stored under the pipeline's id, keyed by group or appended: a view's or a table's
    /// rows, which queries read.
    Store {
        /// The rows' columns.
        schema: SchemaRef,
        /// Keyed or appended.
        layout: Layout,
        /// Where queries and subscriptions read them.
        published: Arc<Published>,
        /// Where checkpoints go instead of the store (a view in a cluster).
        log: Option<Box<dyn CheckpointLog>>,
    },
    /// Written out by a sink.
    Sink {
        /// Turns rows and changes into records.
        encoder: Encoder,
        /// Writes the records, exactly once with the checkpoints.
        writer: Box<dyn SinkWriter>,
        /// Records written, shared with SHOW SINKS.
        written: Arc<AtomicU64>,
        /// Where checkpoints go instead of the store (a sink in a cluster).
        log: Option<Box<dyn CheckpointLog>>,
    },
    /// Handed to the query that runs it: nothing is stored.
    Query,
}

/// One pipeline, described.
pub struct PipelineSpec {
    /// Its id: the catalog object's, under which its state is kept.
    pub id: u64,
    /// The object's name, for logs and thread names.
    pub name: String,
    /// The object as errors name it, such as `materialized view "v"`.
    pub what: String,
    /// The streams it reads, one per source input, with whether each ends at the end of
    /// the data it holds now.
    pub inputs: Vec<(StreamDef, bool)>,
    /// How far behind the watermark rows still count.
    pub grace: Millis,
    /// Whether the end of an input closes every window (see [`SourceTask`]).
    pub end_closes_windows: bool,
    /// The operators the planner chose (before the exchange, when sharded).
    pub flow: Flow,
    /// The keyed operators, once per shard, when the view runs as shards.
    pub sharding: Option<Sharding>,
    /// Where the rows go.
    pub destination: Destination,
    /// Counters and status.
    pub stats: Arc<PipelineStats>,
    /// The part of its input it reads: the whole, or in a cluster one shard of a view
    /// over a Kafka stream, whose state and rows are kept under the shard's number.
    pub slice: Slice,
}

/// What every pipeline of a server shares.
#[derive(Clone)]
pub struct Env {
    /// Where state, positions and stored rows live.
    pub store: Store,
    /// The memory all pipelines' state may hold.
    pub budget: Arc<StateBudget>,
    /// Rows per batch at most.
    pub batch_size: usize,
    /// Time between checkpoints.
    pub checkpoint_interval: Duration,
    /// The directories file streams may read.
    pub file_roots: FileRoots,
}

/// A pipeline built: the source stage, the operators, and for a sharded pipeline its
/// shards and the flow after them, which ends in the output.
pub struct Built {
    /// The source stage.
    pub source: SourceTask,
    /// The operators after the source; with the output at the end unless sharded.
    pub flow: Flow,
    /// The shards, and what follows them (the output).
    pub shards: Option<(Sharding, Flow)>,
}

impl Built {
    /// The source stage and the operators of a pipeline that is not sharded.
    pub fn unsharded(self) -> Result<(SourceTask, Flow)> {
        match self.shards {
            None => Ok((self.source, self.flow)),
            Some(_) => Err(crate::error::Error::Internal("a sharded pipeline run unsharded".into())),
        }
    }
}

impl PipelineSpec {
    /// The source stage and the operators, with the output at the end, each input opened
    /// at its checkpointed position.
    pub fn build(self, env: &Env) -> Result<Built> {
        let PipelineSpec { id, inputs, grace, end_closes_windows, flow, sharding, destination, stats, slice, .. } =
            self;
        if slice != Slice::WHOLE && (sharding.is_some() || matches!(destination, Destination::Query)) {
            let what = "only a view or sink without shards of its own runs sliced";
            return Err(crate::error::Error::Internal(what.into()));
        }
        let (flow, shards) = match sharding {
            Some(sharding) => {
                let last = sharding.flows.first().map_or(sharding.id, Flow::last_id);
                (flow, Some((sharding, Flow::after(last))))
            }
            None => (flow, None),
        };
        let output = |flow: Flow| match destination {
            Destination::Store { schema, layout, published, log } => {
                let materialize = Materialize::new(id, &schema, layout, env.store.clone(), stats.clone(), published)
                    .sliced(slice.shard())
                    .logged(log);
                flow.then(materialize.describe(), Box::new(materialize))
            }
            Destination::Sink { encoder, writer, written, log } => {
                let sink = Sink::new(encoder, writer, env.store.clone(), stats.clone(), written).logged(log);
                flow.then(sink.describe(), Box::new(sink))
            }
            Destination::Query => flow,
        };
        let (flow, shards) = match shards {
            Some((sharding, tail)) => (flow, Some((sharding, output(tail)))),
            None => (output(flow), None),
        };
        let mut opened = Vec::new();
        for (i, (def, bounded)) in inputs.iter().enumerate() {
            if let Some(path) = connector::file_path(&def.options) {
                env.file_roots.check(path, Access::Read)?;
            }
            let positions = StateReader { store: &env.store, view: id, operator: 0, shard: slice.shard() };
            let saved = positions.get(&input_key(i, b"pos"))?;
            opened.push(SourceInput {
                reader: connector::open(&def.options, def.schema.clone(), saved, *bounded, slice)?,
                watermark: def.watermark.clone().map(|w| WatermarkSpec { grace, ..w }),
                idle: IdlePolicy {
                    timeout: connector::idle_timeout(&def.options)?,
                    advance: connector::idle_advance(&def.options)?,
                },
            });
        }
        let source = SourceTask {
            inputs: opened,
            batch_size: env.batch_size,
            checkpoint_interval: env.checkpoint_interval,
            stats,
            end_closes_windows,
            shard: slice.index,
        };
        Ok(Built { source, flow, shards })
    }
}
