//! The catalog: the streams, tables, materialized views and sinks that exist, in memory and in the
//! store.
//!
//! Each object is persisted as the SQL text of its CREATE statement under its id, and
//! replayed in id order at startup, so a restarted server plans every object exactly as
//! before. The engine owns the one [`Catalog`]; system tables read it, and DataFusion
//! resolves the names of streams, tables and views in it ([`UserRelations`]), so an object
//! exists for queries exactly when it is in the catalog: there is no second registry.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::ast;
use serde::{Deserialize, Serialize};

use crate::dataflow::install::StreamDef;
use crate::dataflow::lookup::TableIndex;
use crate::dataflow::pipeline::Pipeline;
use crate::dataflow::published::Published;
use crate::dataflow::stats::PipelineStats;
use crate::error::{Error, Result};
use crate::state::{Store, catalog_key, space};

/// The DataFusion catalog user objects live in.
pub const CATALOG_NAME: &str = "sluice";
/// The schema of user objects.
pub const SCHEMA_NAME: &str = "public";

/// Kinds of catalog objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A source stream.
    Stream,
    /// A changelog table: the latest row per primary key of a source.
    Table,
    /// A materialized view.
    View,
    /// A sink.
    Sink,
}

impl ObjectKind {
    /// Lowercase noun for messages.
    pub fn noun(self) -> &'static str {
        match self {
            ObjectKind::Stream => "stream",
            ObjectKind::Table => "table",
            ObjectKind::View => "materialized view",
            ObjectKind::Sink => "sink",
        }
    }
}

/// A stream.
pub struct StreamEntry {
    /// Object id.
    pub id: u64,
    /// Planned definition.
    pub def: StreamDef,
    /// What queries plan against: its columns and watermark, no stored rows.
    pub relation: Arc<dyn TableProvider>,
}

/// A changelog table and its running pipeline.
pub struct TableEntry {
    /// Object id; also the key prefix of its rows and state.
    pub id: u64,
    /// Its source: the table's columns, then the hidden `_key` and `_deleted` it needs.
    pub def: StreamDef,
    /// Its columns.
    pub schema: SchemaRef,
    /// Positions of the primary key columns.
    pub primary_key: Vec<usize>,
    /// Its current rows, shared with the views that join with it.
    pub index: Arc<TableIndex>,
    /// What queries read: its stored rows, or its index in a view's lookup join.
    pub relation: Arc<dyn TableProvider>,
    /// Counters.
    pub stats: Arc<PipelineStats>,
    /// The running pipeline.
    pub pipeline: Arc<Pipeline>,
}

/// A materialized view and its running pipeline.
pub struct ViewEntry {
    /// Object id; also the key prefix of its rows and state.
    pub id: u64,
    /// The streams it reads, one per source input (a stream joined with itself twice).
    pub streams: Vec<String>,
    /// The tables it joins the streams with.
    pub tables: Vec<String>,
    /// The views it reads (their queries are part of its pipeline).
    pub views: Vec<String>,
    /// Its columns.
    pub schema: SchemaRef,
    /// `upsert` (keyed by group) or `append`.
    pub keyed: bool,
    /// `EMIT ON WINDOW CLOSE`.
    pub emit_on_close: bool,
    /// Its defining query, as written (sinks from the view plan it again; `pg_matviews`
    /// shows it).
    pub definition: Box<ast::Query>,
    /// Its `GRACE PERIOD`, as written.
    pub grace: Option<ast::Expr>,
    /// What queries read: its stored rows (none if it failed before it was planned).
    pub relation: Option<Arc<dyn TableProvider>>,
    /// Its committed rows as queries and subscriptions see them.
    pub published: Arc<Published>,
    /// Counters.
    pub stats: Arc<PipelineStats>,
    /// The running pipeline.
    pub pipeline: Arc<Pipeline>,
}

/// A sink and its running pipeline.
pub struct SinkEntry {
    /// Object id; also the key prefix of its state.
    pub id: u64,
    /// The stream or view it writes out.
    pub from: String,
    /// The streams its pipeline reads, one per source input.
    pub streams: Vec<String>,
    /// The tables its query joins the streams with.
    pub tables: Vec<String>,
    /// Made by `CREATE STREAM name WITH (...) AS SELECT` (its own query, not a FROM).
    pub query_defined: bool,
    /// `WITH (...)` options.
    pub options: crate::connector::Options,
    /// Where it writes, for SHOW SINKS.
    pub target: String,
    /// Records written.
    pub written: Arc<AtomicU64>,
    /// Counters.
    pub stats: Arc<PipelineStats>,
    /// The running pipeline.
    pub pipeline: Arc<Pipeline>,
}

/// All objects by name.
#[derive(Default)]
pub struct Catalog {
    /// Streams.
    pub streams: BTreeMap<String, StreamEntry>,
    /// Changelog tables.
    pub tables: BTreeMap<String, TableEntry>,
    /// Materialized views.
    pub views: BTreeMap<String, ViewEntry>,
    /// Sinks (a name space of their own, as in ksqlDB and RisingWave).
    pub sinks: BTreeMap<String, SinkEntry>,
}

impl Catalog {
    /// The ids of every object.
    pub fn ids(&self) -> std::collections::BTreeSet<u64> {
        let streams = self.streams.values().map(|s| s.id);
        let tables = self.tables.values().map(|t| t.id);
        let views = self.views.values().map(|v| v.id);
        streams.chain(tables).chain(views).chain(self.sinks.values().map(|s| s.id)).collect()
    }

    /// What `name` is, if it exists.
    pub fn kind_of(&self, name: &str) -> Option<ObjectKind> {
        if self.streams.contains_key(name) {
            Some(ObjectKind::Stream)
        } else if self.tables.contains_key(name) {
            Some(ObjectKind::Table)
        } else if self.views.contains_key(name) {
            Some(ObjectKind::View)
        } else {
            None
        }
    }

    /// Views reading `relation` (a stream, a table they join with, or a view).
    pub fn dependents(&self, relation: &str) -> Vec<String> {
        let reads = |v: &ViewEntry| v.streams.iter().chain(&v.tables).chain(&v.views).any(|r| r == relation);
        self.views.iter().filter(|(_, v)| reads(v)).map(|(n, _)| n.clone()).collect()
    }

    /// Sinks writing out `relation` (a stream or a view) or joining with it (a table).
    pub fn sinks_of(&self, relation: &str) -> Vec<String> {
        let reads = |s: &SinkEntry| s.from == relation || s.streams.iter().chain(&s.tables).any(|r| r == relation);
        self.sinks.iter().filter(|(_, s)| reads(s)).map(|(n, _)| n.clone()).collect()
    }

    /// Every running pipeline: tables', views' and sinks'.
    pub fn pipelines(&self) -> Vec<Arc<Pipeline>> {
        let tables = self.tables.values().map(|t| t.pipeline.clone());
        let views = self.views.values().map(|v| v.pipeline.clone());
        tables.chain(views).chain(self.sinks.values().map(|s| s.pipeline.clone())).collect()
    }

    /// Every pipeline that reads a source, for SHOW SOURCES: (reader name, what each of its
    /// inputs reads, its counters), tables first, then views.
    pub fn readers(&self) -> Vec<(&str, Vec<&str>, &Arc<PipelineStats>)> {
        let tables = self.tables.iter().map(|(n, t)| (n.as_str(), vec![n.as_str()], &t.stats));
        let views =
            self.views.iter().map(|(n, v)| (n.as_str(), v.streams.iter().map(String::as_str).collect(), &v.stats));
        tables.chain(views).collect()
    }

    /// What queries read as `name`: a stream, a table or a view.
    pub fn relation(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        let stream = || self.streams.get(name).map(|s| s.relation.clone());
        let table = || self.tables.get(name).map(|t| t.relation.clone());
        stream().or_else(table).or_else(|| self.views.get(name).and_then(|v| v.relation.clone()))
    }

    /// Fails with 42P07 when `name` is taken.
    pub fn check_free(&self, name: &str) -> Result<()> {
        match self.kind_of(name) {
            Some(kind) => Err(Error::DuplicateRelation { kind: kind.noun(), name: name.to_string() }),
            None => Ok(()),
        }
    }
}

/// The schema DataFusion resolves user relations in (`sluice.public`): the catalog's
/// streams, tables and views, read at every lookup.
pub struct UserRelations {
    catalog: Arc<RwLock<Catalog>>,
}

impl UserRelations {
    /// The relations of `catalog`.
    pub fn new(catalog: Arc<RwLock<Catalog>>) -> UserRelations {
        UserRelations { catalog }
    }
}

impl std::fmt::Debug for UserRelations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserRelations")
    }
}

#[async_trait]
impl SchemaProvider for UserRelations {
    fn table_names(&self) -> Vec<String> {
        let Ok(catalog) = self.catalog.read() else { return Vec::new() };
        let views = catalog.views.iter().filter(|(_, v)| v.relation.is_some()).map(|(n, _)| n);
        catalog.streams.keys().chain(catalog.tables.keys()).chain(views).cloned().collect()
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        let poisoned = || DataFusionError::External(Box::new(Error::Internal("catalog lock poisoned".into())));
        let catalog = self.catalog.read().map_err(|_| poisoned())?;
        Ok(catalog.relation(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.catalog.read().is_ok_and(|c| c.relation(name).is_some())
    }
}

/// A catalog entry as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct Persisted {
    /// The CREATE statement.
    pub sql: String,
}

/// Stores the entry of object `id`.
pub fn persist(store: &Store, id: u64, sql: &str) -> Result<()> {
    let bytes = serde_json::to_vec(&Persisted { sql: sql.to_string() })
        .map_err(|e| Error::Internal(format!("cannot encode catalog entry: {e}")))?;
    store.commit(vec![(catalog_key(id), Some(bytes))])
}

/// Removes the entry of object `id`.
pub fn forget(store: &Store, id: u64) -> Result<()> {
    store.commit(vec![(catalog_key(id), None)])
}

/// All stored entries in creation order; an entry that cannot be read is an error of its
/// own ([`Error::Corrupted`]), so the others are still restored.
pub fn load(store: &Store) -> Result<Vec<(u64, Result<Persisted>)>> {
    let mut entries = Vec::new();
    for key in store.keys(&[space::CATALOG]) {
        let key = key?;
        let id = key[1..].try_into().map(u64::from_be_bytes).map_err(|_| Error::Corrupted {
            what: "the catalog".into(),
            detail: format!("a catalog key of {} bytes", key.len()),
        })?;
        let entry = store.get(&key).and_then(|value| {
            let value = value.ok_or_else(|| Error::Internal(format!("catalog entry {id} vanished")))?;
            serde_json::from_slice(&value).map_err(|e| Error::Corrupted {
                what: format!("catalog entry {id}"),
                detail: format!("it does not decode: {e}"),
            })
        });
        entries.push((id, entry));
    }
    Ok(entries)
}
