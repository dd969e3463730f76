//! System tables (`sluice_catalog.streams`, `.tables`, `.views`, `.sources`,
//! `.source_errors`, `.late_rows`, and `.cluster` from `cluster`), SHOW and DESCRIBE.
//!
//! Each system table is built from the live catalog and pipeline counters when a query
//! scans it; SHOW STREAMS, SHOW TABLES, SHOW MATERIALIZED VIEWS and SHOW SOURCES return
//! the same rows.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use super::{CATALOG_NAME, Output};
use crate::catalog::Catalog;
use crate::connector::SourceStatus;
use crate::dataflow::late;
use crate::error::{Error, Result};
use crate::state::Store;

/// Makes a system table's rows when a query scans it.
pub(super) type Builder = Arc<dyn Fn(&Catalog, &Store) -> Result<RecordBatch> + Send + Sync>;

/// A table computed from the catalog (and the store) at scan time.
struct SystemTable {
    catalog: Arc<RwLock<Catalog>>,
    store: Store,
    schema: SchemaRef,
    build: Builder,
}

impl std::fmt::Debug for SystemTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemTable").field("schema", &self.schema).finish()
    }
}

/// Registers the `sluice_catalog` schema: its tables over the catalog, and `more` (such as
/// `cluster`, which the engine builds from what it knows of its cluster).
pub fn register(
    ctx: &SessionContext,
    catalog: &Arc<RwLock<Catalog>>,
    store: &Store,
    more: Vec<(&str, Builder)>,
) -> Result<()> {
    let schema = Arc::new(MemorySchemaProvider::new());
    let tables: [(&str, Builder); 6] = [
        ("streams", Arc::new(|c, _| streams_batch(c))),
        ("tables", Arc::new(|c, _| tables_batch(c))),
        ("views", Arc::new(|c, _| views_batch(c))),
        ("sources", Arc::new(|c, _| sources_batch(c))),
        ("source_errors", Arc::new(|c, _| errors_batch(c))),
        ("late_rows", Arc::new(late_rows_batch)),
    ];
    for (name, build) in tables.into_iter().chain(more) {
        let empty = Catalog::default();
        let schema_of = build(&empty, store)?.schema();
        let table = SystemTable { catalog: catalog.clone(), store: store.clone(), schema: schema_of, build };
        datafusion::catalog::SchemaProvider::register_table(schema.as_ref(), name.to_string(), Arc::new(table))?;
    }
    let provider = ctx.catalog(CATALOG_NAME).ok_or_else(|| Error::Internal("default catalog missing".into()))?;
    provider.register_schema("sluice_catalog", schema)?;
    Ok(())
}

fn read(catalog: &RwLock<Catalog>) -> Result<std::sync::RwLockReadGuard<'_, Catalog>> {
    catalog.read().map_err(|_| Error::Internal("catalog lock poisoned".into()))
}

/// SHOW STREAMS.
pub fn show_streams(catalog: &RwLock<Catalog>) -> Result<Output> {
    rows(streams_batch(&*read(catalog)?)?)
}

/// SHOW TABLES.
pub fn show_tables(catalog: &RwLock<Catalog>) -> Result<Output> {
    rows(tables_batch(&*read(catalog)?)?)
}

/// SHOW MATERIALIZED VIEWS.
pub fn show_views(catalog: &RwLock<Catalog>) -> Result<Output> {
    rows(views_batch(&*read(catalog)?)?)
}

/// SHOW SOURCES.
pub fn show_sources(catalog: &RwLock<Catalog>) -> Result<Output> {
    rows(sources_batch(&*read(catalog)?)?)
}

/// DESCRIBE name: its columns.
pub fn describe(catalog: &RwLock<Catalog>, name: &str) -> Result<Output> {
    let catalog = read(catalog)?;
    let (schema, time_column, key) = if let Some(s) = catalog.streams.get(name) {
        (s.def.schema.clone(), s.def.watermark.as_ref().map(|w| w.column), vec![])
    } else if let Some(t) = catalog.tables.get(name) {
        (t.schema.clone(), None, t.primary_key.clone())
    } else if let Some(v) = catalog.views.get(name) {
        (v.schema.clone(), None, vec![])
    } else {
        return Err(Error::UnknownRelation { kind: "relation", name: name.to_string() });
    };
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let types: Vec<String> = schema.fields().iter().map(|f| sql_type_name(f.data_type())).collect();
    let note = |i: usize| match (Some(i) == time_column, key.contains(&i)) {
        (true, _) => Some("event time"),
        (_, true) => Some("primary key"),
        _ => None,
    };
    let notes: Vec<Option<&str>> = (0..names.len()).map(note).collect();
    rows(batch(vec![
        ("column_name", Arc::new(StringArray::from(names))),
        ("data_type", Arc::new(StringArray::from(types))),
        ("comment", Arc::new(StringArray::from(notes))),
    ])?)
}

/// The SQL name of an Arrow type, as users wrote it.
pub fn sql_type_name(t: &DataType) -> String {
    match t {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "SMALLINT".into(),
        DataType::Int32 | DataType::UInt16 => "INTEGER".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "BIGINT".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE PRECISION".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "TEXT".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".into(),
        DataType::Decimal128(p, s) => format!("NUMERIC({p}, {s})"),
        other => other.to_string().to_uppercase(),
    }
}

pub(super) fn rows(batch: RecordBatch) -> Result<Output> {
    Ok(Output::Rows { schema: batch.schema(), batches: vec![batch] })
}

pub(super) fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn streams_batch(catalog: &Catalog) -> Result<RecordBatch> {
    let mut names = Vec::new();
    let (mut connectors, mut formats, mut paths, mut watermarks, mut bad) = (vec![], vec![], vec![], vec![], vec![]);
    for (name, s) in &catalog.streams {
        names.push(name.clone());
        connectors.push(s.def.options.get("connector").cloned());
        formats.push(s.def.options.get("format").cloned());
        paths.push(s.def.options.get("path").cloned());
        watermarks.push(
            s.def.watermark.as_ref().map(|w| format!("{} - {} ms", s.def.schema.field(w.column).name(), w.delay)),
        );
        // Every view reads the stream on its own; the stream's bad rows are those its most
        // advanced reader has seen.
        let views = catalog.views.values().filter(|v| v.streams.contains(name));
        bad.push(views.map(|v| v.stats.bad_rows()).max().unwrap_or(0));
    }
    batch(vec![
        ("name", Arc::new(StringArray::from(names))),
        ("connector", Arc::new(StringArray::from(connectors))),
        ("format", Arc::new(StringArray::from(formats))),
        ("path", Arc::new(StringArray::from(paths))),
        ("watermark", Arc::new(StringArray::from(watermarks))),
        ("bad_rows", Arc::new(UInt64Array::from(bad))),
    ])
}

fn tables_batch(catalog: &Catalog) -> Result<RecordBatch> {
    let (mut names, mut connectors, mut keys, mut status) = (vec![], vec![], vec![], vec![]);
    let (mut rows, mut read, mut bad, mut epoch, mut state) = (vec![], vec![], vec![], vec![], vec![]);
    for (name, t) in &catalog.tables {
        state.push(t.stats.state_bytes.load(Ordering::Relaxed));
        names.push(name.clone());
        connectors.push(t.def.options.get("connector").cloned());
        let key: Vec<&str> = t.primary_key.iter().map(|&i| t.schema.field(i).name().as_str()).collect();
        keys.push(key.join(", "));
        status.push(t.stats.status().to_string());
        rows.push(t.index.len() as u64);
        read.push(t.stats.rows_read());
        bad.push(t.stats.bad_rows());
        epoch.push(t.stats.committed_epoch.load(Ordering::Relaxed) as i64);
    }
    batch(vec![
        ("name", Arc::new(StringArray::from(names))),
        ("connector", Arc::new(StringArray::from(connectors))),
        ("primary_key", Arc::new(StringArray::from(keys))),
        ("status", Arc::new(StringArray::from(status))),
        ("rows", Arc::new(UInt64Array::from(rows))),
        ("changes_read", Arc::new(UInt64Array::from(read))),
        ("bad_rows", Arc::new(UInt64Array::from(bad))),
        ("checkpoint", Arc::new(Int64Array::from(epoch))),
        ("state_bytes", Arc::new(UInt64Array::from(state))),
    ])
}

fn views_batch(catalog: &Catalog) -> Result<RecordBatch> {
    type Texts<'a> = (Vec<String>, Vec<String>, Vec<&'a str>, Vec<&'a str>, Vec<String>);
    let mut cols: Texts = Default::default();
    let (mut read, mut late, mut bad, mut wm, mut epoch) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut subscribers, mut state) = (vec![], vec![]);
    for (name, v) in &catalog.views {
        subscribers.push(v.published.subscribers() as u64);
        state.push(v.stats.state_bytes.load(Ordering::Relaxed));
        cols.0.push(name.clone());
        cols.1.push(distinct(&v.streams).join(", "));
        cols.2.push(if v.keyed { "upsert" } else { "append" });
        cols.3.push(if v.emit_on_close { "on window close" } else { "on update" });
        cols.4.push(v.stats.status().to_string());
        read.push(v.stats.rows_read());
        late.push(v.stats.late_rows());
        bad.push(v.stats.bad_rows());
        let w = v.stats.watermark();
        wm.push((w != i64::MIN && w != i64::MAX).then_some(w));
        epoch.push(v.stats.committed_epoch.load(Ordering::Relaxed) as i64);
    }
    batch(vec![
        ("name", Arc::new(StringArray::from(cols.0))),
        ("stream", Arc::new(StringArray::from(cols.1))),
        ("mode", Arc::new(StringArray::from(cols.2))),
        ("emit", Arc::new(StringArray::from(cols.3))),
        ("status", Arc::new(StringArray::from(cols.4))),
        ("rows_read", Arc::new(UInt64Array::from(read))),
        ("late_rows", Arc::new(UInt64Array::from(late))),
        ("bad_rows", Arc::new(UInt64Array::from(bad))),
        ("watermark", Arc::new(TimestampMillisecondArray::from(wm))),
        ("checkpoint", Arc::new(Int64Array::from(epoch))),
        ("subscribers", Arc::new(UInt64Array::from(subscribers))),
        ("state_bytes", Arc::new(UInt64Array::from(state))),
    ])
}

/// One row per split (file or partition) of every table's and view's source reader.
fn sources_batch(catalog: &Catalog) -> Result<RecordBatch> {
    let mut c = SourceColumns::default();
    for (name, streams, stats) in catalog.readers() {
        let shards = stats.source.lock().map_err(|_| Error::Internal("stats lock poisoned".into()))?.clone();
        for (i, stream) in streams.into_iter().enumerate() {
            // The shards this node runs read different splits of the input.
            let mut status = SourceStatus::default();
            for shard in shards.values().filter_map(|inputs| inputs.get(i)) {
                status.state = shard.state.clone();
                status.splits.extend(shard.splits.iter().cloned());
            }
            c.push_input(catalog, name, stream, status);
        }
    }
    batch(vec![
        ("view", Arc::new(StringArray::from(c.views))),
        ("stream", Arc::new(StringArray::from(c.streams))),
        ("connector", Arc::new(StringArray::from(c.connectors))),
        ("split", Arc::new(StringArray::from(c.splits))),
        ("position", Arc::new(Int64Array::from(c.positions))),
        ("lag", Arc::new(Int64Array::from(c.lags))),
        ("rows", Arc::new(UInt64Array::from(c.rows))),
        ("rejected", Arc::new(UInt64Array::from(c.rejected))),
        ("state", Arc::new(StringArray::from(c.states))),
        ("restarts", Arc::new(UInt64Array::from(c.restarts))),
    ])
}

impl SourceColumns {
    /// The rows of one input of pipeline `name`, reading `stream`.
    fn push_input(&mut self, catalog: &Catalog, name: &str, stream: &str, status: SourceStatus) {
        let c = self;
        let def = catalog.streams.get(stream).map(|s| &s.def).or_else(|| catalog.tables.get(stream).map(|t| &t.def));
        let connector = def.and_then(|d| d.options.get("connector").cloned());
        let splits = if status.splits.is_empty() { vec![Default::default()] } else { status.splits };
        for split in splits {
            c.views.push(name.to_string());
            c.streams.push(stream.to_string());
            c.connectors.push(connector.clone());
            c.splits.push((!split.split.is_empty()).then_some(split.split));
            c.positions.push((!status.state.is_empty()).then_some(split.position));
            c.lags.push(split.lag);
            c.rows.push(split.rows);
            c.rejected.push(split.rejected);
            c.restarts.push(split.restarts);
            c.states.push(if status.state.is_empty() { "starting".to_string() } else { status.state.clone() });
        }
    }
}

/// Columns of `sluice_catalog.sources`.
#[derive(Default)]
struct SourceColumns {
    views: Vec<String>,
    streams: Vec<String>,
    connectors: Vec<Option<String>>,
    splits: Vec<Option<String>>,
    positions: Vec<Option<i64>>,
    lags: Vec<Option<i64>>,
    rows: Vec<Option<u64>>,
    rejected: Vec<Option<u64>>,
    states: Vec<String>,
    restarts: Vec<Option<u64>>,
}

fn errors_batch(catalog: &Catalog) -> Result<RecordBatch> {
    let (mut views, mut streams, mut files, mut lines, mut reasons) = (vec![], vec![], vec![], vec![], vec![]);
    for (name, inputs, stats) in catalog.readers() {
        let stream = distinct(&inputs).join(", ");
        let recent = stats.recent_bad.lock().map_err(|_| Error::Internal("stats lock poisoned".into()))?;
        for bad in recent.iter() {
            views.push(name.to_string());
            streams.push(stream.to_string());
            files.push(bad.source.clone());
            lines.push(bad.position as i64);
            reasons.push(bad.reason.clone());
        }
    }
    batch(vec![
        ("view", Arc::new(StringArray::from(views))),
        ("stream", Arc::new(StringArray::from(streams))),
        ("source", Arc::new(StringArray::from(files))),
        ("position", Arc::new(Int64Array::from(lines))),
        ("reason", Arc::new(StringArray::from(reasons))),
    ])
}

/// Every row a view, table or sink dropped as late (see `crate::dataflow::late`).
fn late_rows_batch(catalog: &Catalog, store: &Store) -> Result<RecordBatch> {
    let tables = catalog.tables.iter().map(|(n, t)| (n, std::slice::from_ref(n), t.id));
    let views = catalog.views.iter().map(|(n, v)| (n, v.streams.as_slice(), v.id));
    let sinks = catalog.sinks.iter().map(|(n, s)| (n, s.streams.as_slice(), s.id));
    let (mut names, mut streams, mut batches) = (vec![], vec![], vec![]);
    for (name, inputs, id) in tables.chain(views).chain(sinks) {
        for (input, stream) in inputs.iter().enumerate() {
            for b in late::read(store, id, input)? {
                names.extend(std::iter::repeat_n(name.as_str(), b.num_rows()));
                streams.extend(std::iter::repeat_n(stream.as_str(), b.num_rows()));
                batches.push(b);
            }
        }
    }
    let rows = arrow::compute::concat_batches(&late::schema(), &batches)?;
    let mut columns: Vec<(&str, ArrayRef)> =
        vec![("view", Arc::new(StringArray::from(names))), ("stream", Arc::new(StringArray::from(streams)))];
    let schema = rows.schema();
    columns.extend(schema.fields().iter().map(|f| f.name().as_str()).zip(rows.columns().iter().cloned()));
    batch(columns)
}

#[async_trait]
impl TableProvider for SystemTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let catalog = read(&self.catalog).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let batch = (self.build)(&catalog, &self.store).map_err(|e| DataFusionError::External(Box::new(e)))?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema.clone(), projection.cloned())?)
    }
}

/// `names` without repeats, in first-seen order (a stream joined with itself reads twice).
fn distinct<S: AsRef<str>>(names: &[S]) -> Vec<&str> {
    let mut seen = Vec::new();
    for n in names {
        if !seen.contains(&n.as_ref()) {
            seen.push(n.as_ref());
        }
    }
    seen
}
