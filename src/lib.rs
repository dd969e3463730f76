//! Sluice: a streaming SQL database behind a Postgres front door.
//!
//! One SQL string, from the socket to a continuously maintained result:
//!
//! ```text
//!  psql / driver ──pgwire──▶ server ──▶ engine ──▶ sql::parser ──▶ sql::plan ──▶ catalog
//!                                         │            (DataFusion LogicalPlan → streaming operators)
//!                                         │
//!            ┌────────────────────────────┘ CREATE TABLE / MATERIALIZED VIEW / SINK (and a SELECT
//!            │                              over a stream) describes a pipeline, which
//!            ▼                              dataflow::install builds and starts:
//!   connector (file, kafka: read, decode json/csv;   ──▶ RecordBatch (per file / partition)
//!              nexmark, datagen: generate)
//!   dataflow::source (per input: watermark, late rows; barriers) ──▶ Message::{Batch, Watermark, Barrier, End}
//!   dataflow::changelog (tables: upsert by key) ──▶ keyed changes + the table's lookup index
//!   dataflow::flow: per input {window, lookup join, map, aggregate, topn},
//!                   two inputs meet in a stream join ──▶ batches / keyed changes
//!   dataflow::materialize ──▶ state::Store (sled): view rows + operator state + source
//!                             positions, committed atomically at every checkpoint barrier
//!   (or dataflow::sink ──▶ connector::sink: Kafka / file, around the same checkpoints)
//!
//!   SELECT ... FROM view ──▶ engine ──▶ DataFusion over the view's stored rows ──▶ client
//!   SELECT ... FROM pg_catalog.pg_class ──▶ engine ──▶ DataFusion over pg's tables ──▶ client
//! ```
//!
//! Modules follow the data: [`server`] speaks the Postgres protocol, [`engine`] executes
//! statements (as a node of a cluster, DDL through the Kafka topics of [`cluster`]), [`pg`]
//! emulates Postgres' catalogs, settings and functions for it, [`sql`] parses and plans,
//! [`catalog`] remembers objects, [`dataflow`] runs pipelines, [`state`] stores everything,
//! [`connector`] reads sources and writes sinks, [`run`] executes scripts for `sluice run`;
//! [`runtime`] owns the threads that statements and pipelines run on, and their stacks.
//! See `docs/architecture.md` for checkpoints and recovery, `docs/cluster.md` for
//! clusters, and `docs/reliability.md` for the limits every statement runs within.
//!
//! Only what the binary, the integration tests and the fuzz targets use is public: the
//! re-exports below, [`server`], [`run`], [`runtime`], [`error`] and the hidden `fuzz`.
//! Everything else is crate-private, so the compiler reports code nobody calls.

pub(crate) mod catalog;
pub(crate) mod cluster;
pub(crate) mod connector;
pub(crate) mod dataflow;
pub(crate) mod engine;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub(crate) mod ipc;
pub(crate) mod pg;
pub mod run;
pub mod runtime;
pub mod server;
pub(crate) mod sql;
pub(crate) mod state;

pub use cluster::ClusterConfig;
pub use connector::file_access::FileRoots;
pub use connector::nexmark;
pub use dataflow::identity;
pub use engine::{DEFAULT_QUERY_MEMORY, DEFAULT_STATE_MEMORY, DEFAULT_STATEMENT_MEM, Engine, EngineConfig, Output};
pub use error::{Error, Result};
pub use state::Store;
