//! What DataFusion sees of streams and tables: a [`StreamTable`] per stream, a
//! [`TableRelation`] per changelog table, and the window table functions
//! `TUMBLE(stream, time_column, size)` and `HOP(stream, time_column, slide, size)` yielding
//! a [`WindowedStream`].
//!
//! Held by the catalog's entries, where DataFusion finds them by name
//! (`crate::catalog::UserRelations`), so that a view's query plans like any other;
//! the streaming planner (`super::plan`) then recognises scans of these tables and turns
//! them into a source, optionally followed by window assignment. A stream has no stored
//! contents: an ad-hoc query reads it through a pipeline too (`super::transient`), and
//! DataFusion never scans it.

use std::sync::{Arc, RwLock};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;

use crate::catalog::Catalog;
use crate::dataflow::lookup::TableIndex;
use crate::dataflow::window::{WindowKind, output_schema};

/// What the window functions know of a stream.
#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// Its columns.
    pub schema: SchemaRef,
    /// Its watermark column: the time column when a window function names none.
    pub time_column: Option<usize>,
}

/// Which window table function: `TUMBLE(stream, time_column, size)`,
/// `HOP(stream, time_column, slide, size)` or `CUMULATE(stream, time_column, step, size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowFunctionKind {
    /// Tumbling windows.
    Tumble,
    /// Hopping (sliding) windows.
    Hop,
    /// Cumulating windows.
    Cumulate,
    /// Session windows.
    Session,
}

/// A window table function over the streams of the catalog.
pub struct WindowFunction {
    catalog: Arc<RwLock<Catalog>>,
    kind: WindowFunctionKind,
}

impl std::fmt::Debug for WindowFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowFunction").field("kind", &self.kind).finish()
    }
}

/// How many windows one row may fall into (a HOP's size over its slide, a CUMULATE's size
/// over its step): every row is copied once per window, so this bounds a view's fan-out.
pub const MAX_WINDOWS_PER_ROW: i64 = 10_000;

/// Refuses a window function that would copy each row into more than
/// [`MAX_WINDOWS_PER_ROW`] windows (54000).
fn check_windows_per_row(function: &str, windows: i64, unit: &str) -> datafusion::error::Result<()> {
    if windows <= MAX_WINDOWS_PER_ROW {
        return Ok(());
    }
    Err(datafusion::error::DataFusionError::External(Box::new(crate::error::Error::ProgramLimit {
        message: format!(
            "{function} windows would put each row into {windows} windows, more than the limit of {MAX_WINDOWS_PER_ROW}"
        ),
        hint: format!("Use a larger {unit}, or a smaller window size."),
    })))
}

impl WindowFunction {
    /// The function `kind`, resolving stream names in `catalog`.
    pub fn new(kind: WindowFunctionKind, catalog: Arc<RwLock<Catalog>>) -> WindowFunction {
        WindowFunction { catalog, kind }
    }

    /// What the function knows of stream `name`: its relation's columns and watermark.
    fn stream(&self, name: &str) -> Option<StreamInfo> {
        let relation = self.catalog.read().ok()?.streams.get(name)?.relation.clone();
        relation.downcast_ref::<StreamTable>().map(|s| s.info.clone())
    }

    /// The window kind from the size arguments.
    fn window(&self, sizes: &[Expr]) -> datafusion::error::Result<WindowKind> {
        let millis = |e: &Expr| match e {
            Expr::Literal(v, _) => interval_millis(v).filter(|ms| *ms > 0),
            _ => None,
        };
        let bad = |what: &str| {
            datafusion::error::DataFusionError::Plan(format!(
                "window {what} must be a positive interval of days or less, such as INTERVAL '10' SECOND"
            ))
        };
        match (self.kind, sizes) {
            (WindowFunctionKind::Tumble, [size]) => {
                Ok(WindowKind::Tumble { size: millis(size).ok_or_else(|| bad("size"))? })
            }
            (WindowFunctionKind::Hop, [slide, size]) => {
                let (slide, size) =
                    (millis(slide).ok_or_else(|| bad("slide"))?, millis(size).ok_or_else(|| bad("size"))?);
                if size % slide != 0 {
                    return plan_err!("hop window size must be a multiple of its slide");
                }
                check_windows_per_row("hop", size / slide, "slide")?;
                Ok(WindowKind::Hop { slide, size })
            }
            (WindowFunctionKind::Cumulate, [step, size]) => {
                let (step, size) = (millis(step).ok_or_else(|| bad("step"))?, millis(size).ok_or_else(|| bad("size"))?);
                if size % step != 0 {
                    return plan_err!("cumulate window size must be a multiple of its step");
                }
                check_windows_per_row("cumulate", size / step, "step")?;
                Ok(WindowKind::Cumulate { step, size })
            }
            (WindowFunctionKind::Session, [gap]) => {
                Ok(WindowKind::Session { gap: millis(gap).ok_or_else(|| bad("gap"))? })
            }
            (WindowFunctionKind::Session, _) => {
                plan_err!("session expects 3 arguments: stream, time column and gap")
            }
            (WindowFunctionKind::Cumulate, _) => {
                plan_err!("cumulate expects 4 arguments: stream, time column, step and window size")
            }
            (WindowFunctionKind::Tumble, _) => {
                plan_err!("tumble expects 3 arguments: stream, time column and window size")
            }
            (WindowFunctionKind::Hop, _) => {
                plan_err!("hop expects 4 arguments: stream, time column, slide and window size")
            }
        }
    }
}

/// A stream with window bounds added: what the window table functions return.
#[derive(Debug)]
pub struct WindowedStream {
    /// The stream read.
    pub stream: String,
    /// How rows are assigned to windows.
    pub window: WindowKind,
    /// Index of the event-time column in the stream.
    pub time_column: usize,
    schema: SchemaRef,
}

impl TableFunctionImpl for WindowFunction {
    /// `(stream, [time_column,] sizes...)`: without a time column, the stream's watermark
    /// column (ksqlDB's window clauses come this way).
    fn call_with_args(&self, args: TableFunctionArgs) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let [stream, rest @ ..] = args.exprs() else {
            return plan_err!("window functions take a stream, a time column and sizes");
        };
        let stream = name_of(stream, "stream")?;
        let info = self
            .stream(&stream)
            .ok_or_else(|| ours(crate::error::Error::UnknownRelation { kind: "stream", name: stream.clone() }))?;
        let (time_column, sizes) = match rest {
            [Expr::Literal(..), ..] => match info.time_column {
                Some(column) => (column, rest),
                None => {
                    return plan_err!(
                        "stream \"{stream}\" has no WATERMARK: name the time column, as in TUMBLE({stream}, ts, INTERVAL '10' SECOND)"
                    );
                }
            },
            [time, sizes @ ..] => {
                let time = name_of(time, "time column")?;
                let Ok(column) = info.schema.index_of(&time) else {
                    let message = format!("column \"{time}\" does not exist in stream \"{stream}\"");
                    return Err(ours(crate::error::Error::UndefinedColumn(message)));
                };
                (column, sizes)
            }
            [] => return plan_err!("window functions take a stream, a time column and sizes"),
        };
        let window = self.window(sizes)?;
        let schema = Arc::new(
            output_schema(&info.schema, time_column)
                .map_err(|e| datafusion::error::DataFusionError::Plan(e.to_string()))?,
        );
        Ok(Arc::new(WindowedStream { stream, window, time_column, schema }))
    }
}

/// Our error, carried through DataFusion with its SQLSTATE.
fn ours(e: crate::error::Error) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(e))
}

fn name_of(expr: &Expr, what: &str) -> datafusion::error::Result<String> {
    match expr {
        Expr::Column(c) => Ok(c.name.clone()),
        Expr::Literal(ScalarValue::Utf8(Some(s)), _) => Ok(s.clone()),
        other => plan_err!("expected a {what} name, found {other}"),
    }
}

/// Milliseconds of a fixed-length interval literal (no months).
pub fn interval_millis(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 => {
            Some(i64::from(i.days) * 86_400_000 + i.nanoseconds / 1_000_000)
        }
        ScalarValue::IntervalDayTime(Some(i)) => Some(i64::from(i.days) * 86_400_000 + i64::from(i.milliseconds)),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for WindowedStream {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    /// Never: a query reads the stream through a pipeline (see `super::transient`).
    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Err(not_scanned(&self.stream))
    }
}

/// A stream as a DataFusion table: it has a schema but no stored rows.
#[derive(Debug)]
pub struct StreamTable {
    /// The stream's name.
    pub name: String,
    /// Its columns and watermark column.
    pub info: StreamInfo,
}

impl StreamTable {
    /// A table for stream `name`.
    pub fn new(name: &str, info: StreamInfo) -> StreamTable {
        StreamTable { name: name.to_string(), info }
    }
}

#[async_trait]
impl TableProvider for StreamTable {
    fn schema(&self) -> SchemaRef {
        self.info.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Never: a query reads the stream through a pipeline (see `super::transient`).
    async fn scan(
        &self,
        _state: &dyn Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Err(not_scanned(&self.name))
    }
}

/// The error of a scan of stream `name` that did not become a pipeline (a bug).
fn not_scanned(name: &str) -> datafusion::error::DataFusionError {
    ours(crate::error::Error::Internal(format!("stream \"{name}\" was scanned outside a pipeline")))
}

/// Implements `TableProvider` for a relation whose queries scan its stored `rows`.
macro_rules! scans_stored_rows {
    ($relation:ty, $table_type:expr) => {
        #[async_trait]
        impl TableProvider for $relation {
            fn schema(&self) -> SchemaRef {
                self.rows.schema()
            }

            fn table_type(&self) -> TableType {
                $table_type
            }

            async fn scan(
                &self,
                state: &dyn Session,
                projection: Option<&Vec<usize>>,
                filters: &[Expr],
                limit: Option<usize>,
            ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
                self.rows.scan(state, projection, filters, limit).await
            }
        }
    };
}

/// A materialized view as DataFusion sees it: its stored rows for queries, and its planned
/// query for the streaming planner, which lowers that query in its place when another view
/// reads it (the reading view's pipeline computes it again from the streams, as Flink does
/// with views).
#[derive(Debug)]
pub struct ViewRelation {
    /// The view's name.
    pub name: String,
    /// Its query as the planner lowers it.
    pub plan: LogicalPlan,
    /// Whether it emits windows on close.
    pub emit_on_close: bool,
    /// Its grace period (ms).
    pub grace: i64,
    /// What queries scan: the committed rows.
    rows: Arc<dyn TableProvider>,
}

impl ViewRelation {
    /// View `name` with query `plan`, read through `rows`.
    pub fn new(name: &str, plan: LogicalPlan, emit_on_close: bool, grace: i64, rows: Arc<dyn TableProvider>) -> Self {
        ViewRelation { name: name.to_string(), plan, emit_on_close, grace, rows }
    }
}

scans_stored_rows!(ViewRelation, TableType::View);

/// A changelog table as DataFusion sees it: its stored rows for queries, and its index for
/// the streaming planner, which turns a join of a stream with it into a lookup join.
#[derive(Debug)]
pub struct TableRelation {
    /// The table's name.
    pub name: String,
    /// Its current rows by primary key.
    pub index: Arc<TableIndex>,
    /// What queries scan: the committed rows.
    rows: Arc<dyn TableProvider>,
}

impl TableRelation {
    /// Table `name`, read through `rows`, with `index`.
    pub fn new(name: &str, index: Arc<TableIndex>, rows: Arc<dyn TableProvider>) -> TableRelation {
        TableRelation { name: name.to_string(), index, rows }
    }
}

scans_stored_rows!(TableRelation, TableType::Base);
