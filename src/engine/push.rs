//! Push queries: `SUBSCRIBE [TO] relation` and ksqlDB's `SELECT ... FROM relation [WHERE
//! ...] EMIT CHANGES`, over a materialized view or a stream, until the client cancels.
//!
//! The server calls [`Engine::describe_push`] (extended protocol: Parse) and
//! [`Engine::push`], then pulls batches from the [`PushQuery`] and drops it when the client
//! cancels or leaves, which frees what it holds. Every batch is `op, commit_ts, <columns>`.
//! Over a view the rows come from its subscription (`super::subscribe`): the current rows,
//! then each commit's changes. Over a stream they come from a transient reader of its
//! source that starts at the source's current end (or its beginning with
//! `snapshot = true`) and sends every new row as an `insert` (`push/tail.rs`). A WHERE and
//! a SELECT list, planned by `crate::sql::push`, are applied to every batch (`push/shape.rs`).

mod shape;
mod tail;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use tracing::info;

use super::Engine;
use super::subscribe::{Subscription, change_schema};
use crate::connector::Options;
use crate::error::{Error, Result};
use crate::sql::Subscribe;
use crate::sql::push::plan_push;
use shape::Shape;
use tail::StreamTail;

/// A running push query.
pub struct PushQuery {
    /// The view or stream it reads.
    relation: String,
    /// `op`, `commit_ts`, then the query's columns.
    schema: SchemaRef,
    /// Where rows come from.
    feed: Feed,
    /// The WHERE and SELECT list, unless every row goes out as it is.
    shape: Option<Shape>,
}

/// Where a push query's rows come from.
enum Feed {
    /// A view's subscription.
    View(Box<Subscription>),
    /// A transient read of a stream.
    Stream(StreamTail),
}

/// What a push query reads, once planned.
enum Target {
    /// A materialized view.
    View,
    /// A stream, read with its options and columns.
    Stream(Options, SchemaRef),
}

/// A planned push query, not yet started.
struct Planned {
    relation: String,
    target: Target,
    shape: Option<Shape>,
    schema: SchemaRef,
}

impl Engine {
    /// The columns a push query sends (checking that it can run).
    pub async fn describe_push(&self, stmt: &Subscribe) -> Result<SchemaRef> {
        Ok(self.plan_subscription(stmt).await?.schema)
    }

    /// Starts a push query.
    pub async fn push(&self, stmt: &Subscribe) -> Result<PushQuery> {
        let Planned { relation, target, shape, schema } = self.plan_subscription(stmt).await?;
        let feed = match target {
            Target::View => {
                let view = Subscribe { view: relation.clone(), query: None, ..stmt.clone() };
                Feed::View(Box::new(self.subscribe(&view)?))
            }
            Target::Stream(options, columns) => {
                self.check_file_sources(std::iter::once(&options))?;
                Feed::Stream(StreamTail::start(options, columns, stmt.snapshot.unwrap_or(false)).await?)
            }
        };
        info!(relation = %relation, filtered = shape.is_some(), "push query started");
        Ok(PushQuery { relation, schema, feed, shape })
    }

    /// Plans `stmt`: what it reads and what it does to the rows.
    async fn plan_subscription(&self, stmt: &Subscribe) -> Result<Planned> {
        let plan = match &stmt.query {
            Some(query) => Some(plan_push(&self.inner.ctx.state(), query).await?),
            None => None,
        };
        let relation = plan.as_ref().map_or(&stmt.view, |p| &p.relation).clone();
        let (target, columns) = {
            let catalog = self.read_catalog()?;
            if let Some(view) = catalog.views.get(&relation) {
                (Target::View, view.schema.clone())
            } else if let Some(stream) = catalog.streams.get(&relation) {
                (Target::Stream(stream.def.options.clone(), stream.def.schema.clone()), stream.def.schema.clone())
            } else if catalog.tables.contains_key(&relation) {
                return Err(Error::Unsupported(format!(
                    "cannot subscribe to table \"{relation}\": subscribe to a materialized view over it"
                )));
            } else {
                return Err(Error::UnknownRelation { kind: "relation", name: relation });
            }
        };
        let (shape, schema) = match plan {
            Some(plan) if !plan.identity => {
                let schema = change_schema(&plan.schema);
                (Some(Shape::new(plan.map, schema.clone())), schema)
            }
            _ => (None, change_schema(&columns)),
        };
        Ok(Planned { relation, target, shape, schema })
    }
}

impl PushQuery {
    /// The columns of its batches: `op`, `commit_ts`, then the query's.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The view or stream it reads.
    pub fn relation(&self) -> &str {
        &self.relation
    }

    /// The next rows (never empty). Waits as long as nothing comes; fails when the view is
    /// dropped, the subscriber fell too far behind or the stream's source failed. Safe to
    /// cancel: no rows are lost when the future is dropped.
    pub async fn next(&mut self) -> Result<RecordBatch> {
        loop {
            let batch = match &mut self.feed {
                Feed::View(subscription) => subscription.next().await?,
                Feed::Stream(tail) => tail.next().await?,
            };
            let shaped = match &self.shape {
                Some(shape) => shape.apply(&batch)?,
                None => Some(batch),
            };
            if let Some(rows) = shaped.filter(|b| b.num_rows() > 0) {
                return Ok(rows);
            }
        }
    }
}
