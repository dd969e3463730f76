//! SQL: parsing our dialect and planning it.
//!
//! `parser` turns text into [`Statement`]s: Sluice's own DDL (CREATE STREAM, CREATE
//! MATERIALIZED VIEW ... [EMIT ON WINDOW CLOSE], SHOW, DESCRIBE, DROP, FLUSH) on top of the
//! `sqlparser` that DataFusion re-exports, and everything else as plain sqlparser
//! statements for DataFusion. `plan` turns a stream definition into a source description
//! and a view's query, via DataFusion's `LogicalPlan`, into the closed set of streaming
//! operators of `crate::dataflow`. `relations` holds the tables DataFusion sees for streams and `TUMBLE(...)`;
//! `types` plans the Postgres types Arrow lacks (json, jsonb, varchar); `literals` reads
//! `bytea` and `interval` literals as Postgres does, `numbers` number literals (a
//! fraction makes a numeric); `operators` makes overflow and division by zero errors and compares intervals by length,
//! `aggregates` averages integers and numerics as numerics.

pub(crate) mod aggregates;
pub mod compat;
pub(crate) mod dialect;
mod encoding;
pub mod ksql;
pub(crate) mod limits;
pub mod literals;
mod numbers;
pub(crate) mod operators;
pub mod parser;
pub mod plan;
pub mod push;
pub mod relations;
pub(crate) mod semantics;
pub mod transient;
pub mod types;

pub use parser::{CreateSink, CreateStream, CreateView, DropObject, Select, Statement, Subscribe, parse};
