//! Planning: stream definitions into source descriptions, view queries into pipelines.
//!
//! A view's query is planned by DataFusion (`SqlToRel` and its analyzer, which resolves
//! names and coerces types; its filter push-down, which moves WHERE conditions into joins
//! and below them), then lowered here, node by node, into the closed set of streaming
//! operators of `crate::dataflow`: window assignment, map (filter, projection), aggregate,
//! top-N, lookup join with a table, join of two streams. The result is a [`Chain`] of
//! operators that starts at a source input or at a join of two chains. What cannot run
//! incrementally is refused with a clear 0A000 error. The engine calls this at CREATE time
//! and again for every view at restart.

mod explain;
mod join;
mod stream_join;
mod topn;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::DFSchema;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::optimizer::optimize_projections::OptimizeProjections;
use datafusion::optimizer::push_down_filter::PushDownFilter;
use datafusion::optimizer::replace_distinct_aggregate::ReplaceDistinctWithAggregate;
use datafusion::optimizer::simplify_expressions::SimplifyExpressions;
use datafusion::optimizer::{OptimizerContext, OptimizerRule};
use datafusion::physical_expr::aggregate::LoweredAggregateBuilder;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{self, BinaryOperator};

use super::parser::{CreateStream, CreateView, normalize};
use super::relations::{StreamTable, TableRelation, ViewRelation, WindowedStream, interval_millis};
use crate::dataflow::Millis;
use crate::dataflow::Operator;
use crate::dataflow::aggregate::{Aggregate, AggregateSpec, WindowKey};
use crate::dataflow::exchange::Sharding;
use crate::dataflow::flow::Flow;
use crate::dataflow::identity::OperatorId;
use crate::dataflow::install::StreamDef;
use crate::dataflow::join::{JoinSpec, StreamJoin};
use crate::dataflow::lookup::{LookupJoin, LookupSpec};
use crate::dataflow::map::Map;
use crate::dataflow::reaggregate::{Reaggregate, ReaggregateSpec, check_retractable};
use crate::dataflow::repartition::{RepartitionWrite, StageJoin};
use crate::dataflow::session::{SessionAggregate, SessionSpec};
use crate::dataflow::source::WatermarkSpec;
use crate::dataflow::topn::{TopN, TopNEmit, TopNSpec};
use crate::dataflow::window::{WindowAssign, WindowKind};
use crate::error::{Error, Result};

/// One streaming operator, before it runs.
#[derive(Clone)]
pub enum Node {
    /// Window assignment.
    Window(WindowKind, usize, SchemaRef),
    /// Filter.
    Filter(Arc<dyn PhysicalExpr>),
    /// Projection to a schema.
    Project(Vec<Arc<dyn PhysicalExpr>>, SchemaRef),
    /// Grouped aggregation.
    Aggregate(AggregateSpec),
    /// Grouped aggregation over an updating input (with retractions).
    Reaggregate(ReaggregateSpec),
    /// Grouped aggregation per session window.
    Session(SessionSpec),
    /// Stream-table join.
    Lookup(LookupSpec),
    /// Top-N per partition or deduplication (a filter on `ROW_NUMBER()`).
    TopN(TopNSpec),
}

/// Operators in order after a source input or a join.
pub struct Chain {
    /// Where the rows come from.
    pub head: Head,
    /// What is done to them, in order.
    pub nodes: Vec<Node>,
}

/// The start of a [`Chain`].
pub enum Head {
    /// Source input number n (an index into [`ViewPlan::streams`]).
    Input(usize),
    /// A join of two streams.
    Join(Box<JoinNode>),
}

/// A join of two streams, before it runs.
pub struct JoinNode {
    /// The left input's operators.
    pub left: Chain,
    /// The right input's operators.
    pub right: Chain,
    /// The join.
    pub spec: JoinSpec,
    /// The types of the equality keys.
    pub key_types: Vec<DataType>,
    /// How many columns the left input has (the right input's follow in the output).
    pub left_width: usize,
}

/// A planned view: its source streams, operators and output.
pub struct ViewPlan {
    /// The streams read, one per source input (a stream joined with itself twice).
    pub streams: Vec<String>,
    /// The tables the streams are joined with.
    pub tables: Vec<String>,
    /// The views whose queries it computes again (it reads them).
    pub views: Vec<String>,
    /// The query as lowered (a view that reads this one lowers it again in its place).
    pub query: LogicalPlan,
    /// Operators after the sources and before materialization.
    pub root: Chain,
    /// The view's columns.
    pub schema: SchemaRef,
    /// Whether rows are keyed by a group key (updating) rather than appended. A windowed
    /// aggregate that emits on window close is append-only: each row is final.
    pub keyed: bool,
    /// `GRACE PERIOD`: how far behind the stream's watermark rows still count (ms).
    pub grace: Millis,
}

/// Plans `CREATE STREAM`: schema from DataFusion's type mapping, watermark delay.
pub async fn plan_stream(state: &SessionState, stmt: &CreateStream) -> Result<StreamDef> {
    if stmt.columns.is_empty() {
        return Err(Error::Plan(format!("stream \"{}\" needs at least one column", stmt.name)));
    }
    // Names quoted: DataFusion's own parser reads this text, in which `key` is a keyword.
    let quoted =
        |c: &ast::ColumnDef| ast::ColumnDef { name: ast::Ident::with_quote('"', normalize(&c.name)), ..c.clone() };
    let columns: Vec<String> = stmt.columns.iter().map(|c| quoted(c).to_string()).collect();
    let plan = state.create_logical_plan(&format!("CREATE TABLE t ({})", columns.join(", "))).await?;
    let declared = plan
        .inputs()
        .first()
        .map(|i| i.schema().as_arrow().clone())
        .unwrap_or_else(|| plan.schema().as_arrow().clone());
    let fields = declared.fields().iter().map(|f| source_field(f)).collect::<Result<Vec<_>>>()?;
    let schema = Arc::new(Schema::new(fields));
    let watermark = match &stmt.watermark {
        None => None,
        Some((column, expr)) => Some(plan_watermark(state, &schema, &normalize(column), expr).await?),
    };
    Ok(StreamDef { name: stmt.name.clone(), schema, watermark, options: stmt.options.clone() })
}

/// A planned changelog table.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// What its pipeline reads: the table's columns, then `_key` (Kafka) and `_deleted`
    /// when not declared.
    pub source: StreamDef,
    /// The table's columns.
    pub schema: SchemaRef,
    /// Positions of the primary key columns, in key order.
    pub primary_key: Vec<usize>,
}

/// Plans `CREATE TABLE`: the stream of changes it reads, and its key.
pub async fn plan_table(state: &SessionState, stmt: &CreateStream) -> Result<TableDef> {
    let declared = plan_stream(state, stmt).await?;
    let schema = declared.schema.clone();
    let primary_key = (stmt.primary_key.iter())
        .map(|k| schema.index_of(k).map_err(|_| Error::Plan(format!("primary key column \"{k}\" does not exist"))))
        .collect::<Result<Vec<_>>>()?;
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let kafka = stmt.options.get("connector").is_some_and(|c| c == "kafka");
    let json = stmt.options.get("format").is_none_or(|f| f.eq_ignore_ascii_case("json"));
    if kafka && schema.index_of("_key").is_err() {
        fields.push(Field::new("_key", DataType::Utf8, true));
    }
    if (kafka || json) && schema.index_of("_deleted").is_err() {
        fields.push(Field::new("_deleted", DataType::Boolean, true));
    }
    let source = StreamDef { schema: Arc::new(Schema::new(fields)), ..declared };
    Ok(TableDef { source, schema, primary_key })
}

/// The type a column has as decoded from a source.
fn source_field(field: &Field) -> Result<Field> {
    let data_type = match field.data_type() {
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Millisecond, tz.clone()),
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        t @ (DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float32
        | DataType::Float64
        | DataType::Utf8
        | DataType::Date32
        | DataType::Decimal128(_, _)) => t.clone(),
        other => {
            return Err(Error::Unsupported(format!(
                "type {other} of column \"{}\" is not supported in streams",
                field.name()
            )));
        }
    };
    Ok(Field::new(field.name(), data_type, true))
}

async fn plan_watermark(
    state: &SessionState,
    schema: &Schema,
    column: &str,
    expr: &ast::Expr,
) -> Result<WatermarkSpec> {
    let index =
        schema.index_of(column).map_err(|_| Error::Plan(format!("watermark column \"{column}\" does not exist")))?;
    if !matches!(schema.field(index).data_type(), DataType::Timestamp(..)) {
        return Err(Error::Plan(format!("watermark column \"{column}\" must be a timestamp")));
    }
    let bad =
        || Error::Unsupported(format!("watermark must be \"{column}\" or \"{column} - INTERVAL '...'\", found {expr}"));
    let delay = match strip_nested(expr) {
        ast::Expr::Identifier(id) if normalize(id) == column => 0,
        ast::Expr::BinaryOp { left, op: BinaryOperator::Minus, right } => {
            match strip_nested(left) {
                ast::Expr::Identifier(id) if normalize(id) == column => {}
                _ => return Err(bad()),
            }
            interval_literal(state, right).await?.filter(|d| *d >= 0).ok_or_else(bad)?
        }
        _ => return Err(bad()),
    };
    Ok(WatermarkSpec { column: index, delay, grace: 0 })
}

/// The length of a constant interval expression such as `INTERVAL '2' SECOND`, if it is one.
async fn interval_literal(state: &SessionState, expr: &ast::Expr) -> Result<Option<Millis>> {
    let plan = state.create_logical_plan(&format!("SELECT {expr}")).await?;
    let LogicalPlan::Projection(p) = plan else { return Ok(None) };
    Ok(match p.expr.first().map(|e| e.clone().unalias()) {
        Some(Expr::Literal(v, _)) => interval_millis(&v),
        _ => None,
    })
}

/// A view's or query's `GRACE PERIOD`, in milliseconds (0 without one).
pub async fn plan_grace(state: &SessionState, grace: Option<&ast::Expr>) -> Result<Millis> {
    let Some(expr) = grace else { return Ok(0) };
    let bad = || {
        Error::Plan(format!("grace period must be a non-negative interval such as INTERVAL '2' SECOND, found {expr}"))
    };
    interval_literal(state, expr).await?.filter(|d| *d >= 0).ok_or_else(bad)
}

fn strip_nested(e: &ast::Expr) -> &ast::Expr {
    match e {
        ast::Expr::Nested(inner) => strip_nested(inner),
        other => other,
    }
}

/// Plans a view's query into a pipeline.
pub async fn plan_view(state: &SessionState, stmt: &CreateView) -> Result<ViewPlan> {
    let statement = DFStatement::Statement(Box::new(ast::Statement::Query(stmt.query.clone())));
    let plan = state.statement_to_plan(statement).await?;
    let plan = state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {})?;
    refuse_volatile_functions(&plan)?;
    let grace = plan_grace(state, stmt.grace.as_ref()).await?;
    let planned = lower_query(state, plan, stmt.emit_on_close, grace)?;
    check_unique_names(&planned.schema)?;
    Ok(planned)
}

/// Plans the part of an ad-hoc query that reads streams (`plan`, as DataFusion planned it,
/// before its analyzer) into a pipeline, exactly as a view with this query would be, except
/// that its functions may be volatile and its columns may share a name: nothing is stored
/// and nothing is recomputed. `grace` is in milliseconds.
pub fn plan_transient(state: &SessionState, plan: LogicalPlan, emit_on_close: bool, grace: Millis) -> Result<ViewPlan> {
    let plan = state.analyzer().execute_and_check(plan, state.config_options(), |_, _| {})?;
    lower_query(state, plan, emit_on_close, grace)
}

/// Lowers an analyzed query plan into a pipeline.
fn lower_query(state: &SessionState, plan: LogicalPlan, emit_on_close: bool, grace: Millis) -> Result<ViewPlan> {
    // Functions DataFusion only rewrites (coalesce, nvl, ... into CASE) and constants folded,
    // as its optimizer would before execution.
    let simplify = SimplifyExpressions::new();
    let plan = plan.transform_up(|p| simplify.rewrite(p, &OptimizerContext::new()))?.data;
    // DISTINCT is a GROUP BY over every column (no aggregates), which the aggregate
    // operators run like any other.
    let distinct = ReplaceDistinctWithAggregate::new();
    // (The session state as config: DISTINCT ON needs its function registry.)
    let plan = plan.transform_up(|p| distinct.rewrite(p, state))?.data;
    // Drop unused columns as early as possible in the pipeline.
    let plan = OptimizeProjections::new().rewrite(plan, &OptimizerContext::new())?.data;
    // WHERE conditions into joins (where they may bound the join's state) and below them
    // (after the projections, so a table's filter sits right on its scan).
    let push_down = PushDownFilter::new();
    let plan = plan.transform_down(|p| push_down.rewrite(p, &OptimizerContext::new()))?.data;
    let mut lowering = Lowering {
        state,
        streams: Vec::new(),
        tables: Vec::new(),
        views: Vec::new(),
        chain: Building::new(emit_on_close),
    };
    lowering.lower(&plan)?;
    let windowed = lowering.chain.windowed;
    let keyed = lowering.chain.keyed;
    let root = lowering.chain.finish()?;
    if emit_on_close && !windowed {
        return Err(Error::Plan(
            "EMIT ON WINDOW CLOSE needs an aggregation grouped by, or a top-N partitioned by, window_start or window_end"
                .into(),
        ));
    }
    let schema = nullable(plan.schema());
    let (streams, tables, views) = (lowering.streams, lowering.tables, lowering.views);
    Ok(ViewPlan { streams, tables, views, query: plan, root, schema, keyed, grace })
}

/// Whether `plan` ranks rows with a window function (what a rank filter over it makes a
/// top-N of).
pub fn topn_over_window(plan: &LogicalPlan) -> bool {
    topn::over_window(plan)
}

/// Refuses functions whose result is not fixed by their arguments (`now()`, `random()`,
/// `uuid()`, ...): a view is recomputed from its input after a crash and must come out the
/// same, so every function in it must be immutable.
fn refuse_volatile_functions(plan: &LogicalPlan) -> Result<()> {
    let mut found = None;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarFunction(f) = e
                    && f.func.signature().volatility != Volatility::Immutable
                {
                    found = Some(f.func.name().to_string());
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    match found {
        None => Ok(()),
        Some(name) => Err(Error::InvalidDefinition {
            message: format!("function {name}() cannot be used in a materialized view"),
            hint: "Its result changes from call to call, so a view recomputed after a restart would differ. \
                   Use a column of the stream instead, such as its event time."
                .into(),
        }),
    }
}

struct Lowering<'a> {
    state: &'a SessionState,
    /// The streams read so far, one per source input.
    streams: Vec<String>,
    tables: Vec<String>,
    views: Vec<String>,
    /// The chain being lowered.
    chain: Building,
}

/// A chain being lowered, and what is known of its output.
struct Building {
    head: Option<Head>,
    nodes: Vec<Node>,
    /// Rows are keyed changes (an updating aggregation) rather than appended.
    keyed: bool,
    /// Windowed aggregations emit each window once, when it closes.
    emit_on_close: bool,
    /// The aggregation is grouped by a window bound.
    windowed: bool,
    /// An aggregation over session windows was planned.
    sessions: bool,
}

impl Building {
    fn new(emit_on_close: bool) -> Building {
        Building { head: None, nodes: Vec::new(), keyed: false, emit_on_close, windowed: false, sessions: false }
    }

    /// Appends `node`; a projection that only picks columns of a projection right before it
    /// is folded into that one.
    fn push(&mut self, node: Node) {
        if let (Node::Project(outer, schema), Some(Node::Project(inner, _))) = (&node, self.nodes.last()) {
            let picked: Option<Vec<_>> =
                outer.iter().map(|e| e.downcast_ref::<Column>().and_then(|c| inner.get(c.index()).cloned())).collect();
            if let Some(exprs) = picked {
                self.nodes.pop();
                self.nodes.push(Node::Project(exprs, schema.clone()));
                return;
            }
        }
        self.nodes.push(node);
    }

    /// The lowered chain, checking what only the whole chain shows.
    fn finish(self) -> Result<Chain> {
        let session_assigned = self.nodes.iter().any(|n| matches!(n, Node::Window(WindowKind::Session { .. }, ..)));
        if session_assigned && !self.sessions {
            return Err(Error::Unsupported(
                "session windows need an aggregation grouped by window_start and window_end".into(),
            ));
        }
        let head = self.head.ok_or_else(|| Error::Plan("a materialized view must read a stream".into()))?;
        Ok(Chain { head, nodes: self.nodes })
    }
}

impl Lowering<'_> {
    fn lower(&mut self, plan: &LogicalPlan) -> Result<()> {
        match plan {
            LogicalPlan::TableScan(scan) => self.scan(scan),
            LogicalPlan::SubqueryAlias(alias) => self.lower(&alias.input),
            LogicalPlan::Filter(filter) if topn::over_window(&filter.input) => self.top_n(filter),
            LogicalPlan::Filter(filter) => {
                self.lower(&filter.input)?;
                let predicate = self.physical(&filter.predicate, filter.input.schema())?;
                self.chain.push(Node::Filter(predicate));
                Ok(())
            }
            LogicalPlan::Projection(p) => {
                self.lower(&p.input)?;
                self.project(p)
            }
            LogicalPlan::Aggregate(a) => self.aggregate(a),
            LogicalPlan::Join(j) => self.join(j),
            other => Err(unsupported_node(other)),
        }
    }

    fn scan(&mut self, scan: &datafusion::logical_expr::TableScan) -> Result<()> {
        let provider = source_as_provider(&scan.source)?;
        let stream = if let Some(w) = provider.downcast_ref::<WindowedStream>() {
            let input = provider.schema();
            let stream_schema = Schema::new(input.fields()[..input.fields().len() - 2].to_vec());
            self.chain.push(Node::Window(w.window.clone(), w.time_column, Arc::new(stream_schema)));
            w.stream.clone()
        } else if let Some(s) = provider.downcast_ref::<StreamTable>() {
            s.name.clone()
        } else if let Some(v) = provider.downcast_ref::<ViewRelation>() {
            self.inline_view(v)?;
            return self.scan_columns(scan, &provider.schema());
        } else if let Some(t) = provider.downcast_ref::<TableRelation>() {
            return Err(Error::Unsupported(format!(
                "materialized views can read table \"{}\" only by joining a stream with it on its primary key; query the table itself with SELECT",
                t.name
            )));
        } else {
            return Err(Error::Unsupported(format!(
                "materialized views can read only streams, not \"{}\"",
                scan.table_name
            )));
        };
        if self.chain.head.is_some() {
            return Err(Error::Internal("a chain read two sources".into()));
        }
        self.chain.head = Some(Head::Input(self.streams.len()));
        self.streams.push(stream);
        self.scan_columns(scan, &provider.schema())
    }

    /// The scan's projection and filters, over the relation's columns `schema`.
    fn scan_columns(&mut self, scan: &datafusion::logical_expr::TableScan, schema: &Schema) -> Result<()> {
        if let Some(projection) = &scan.projection {
            let exprs = projection
                .iter()
                .map(|&i| Arc::new(Column::new(schema.field(i).name(), i)) as Arc<dyn PhysicalExpr>)
                .collect();
            self.chain.push(Node::Project(exprs, nullable(&scan.projected_schema)));
        }
        for filter in &scan.filters {
            let predicate = self.physical(filter, &scan.projected_schema)?;
            self.chain.push(Node::Filter(predicate));
        }
        Ok(())
    }

    /// Lowers the query of view `v` in place of a scan of it. Inside a join, or under
    /// `EMIT ON WINDOW CLOSE`, its windowed aggregations emit on close too.
    fn inline_view(&mut self, v: &ViewRelation) -> Result<()> {
        if v.grace > 0 {
            return Err(Error::Unsupported(format!(
                "materialized views cannot read view \"{}\" yet: it has a GRACE PERIOD",
                v.name
            )));
        }
        let outer = self.chain.emit_on_close;
        self.chain.emit_on_close = outer || v.emit_on_close;
        let lowered = self.lower(&v.plan);
        self.chain.emit_on_close = outer;
        lowered?;
        self.views.push(v.name.clone());
        Ok(())
    }

    fn aggregate(&mut self, a: &datafusion::logical_expr::Aggregate) -> Result<()> {
        self.lower(&a.input)?;
        if a.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
            return Err(Error::Unsupported(
                "GROUPING SETS, CUBE and ROLLUP are not supported in materialized views".into(),
            ));
        }
        let input_schema = a.input.schema();
        let physical_input = Arc::new(input_schema.as_arrow().clone());
        let group_exprs = a.group_expr.iter().map(|e| self.physical(e, input_schema)).collect::<Result<Vec<_>>>()?;
        let mut aggregates = Vec::new();
        let mut filters = Vec::new();
        for e in &a.aggr_expr {
            let context = PhysicalPlanningContext::default();
            let lowered =
                LoweredAggregateBuilder::new(e, input_schema, &physical_input, self.state.execution_props(), &context)
                    .build()?;
            let (agg, filter) = (lowered.aggregate, lowered.filter);
            if !lowered.order_bys.is_empty() {
                return Err(Error::Unsupported(format!(
                    "ordered aggregate {e} is not supported in materialized views"
                )));
            }
            aggregates.push(agg);
            filters.push(filter);
        }
        let aggregate = AggregateSpec {
            group_exprs,
            aggregates,
            filters,
            window: None,
            emit_on_close: self.chain.emit_on_close,
            output_schema: nullable(&a.schema),
        };
        if self.chain.keyed {
            return self.reaggregate(a, aggregate);
        }
        if let Some(session) = session_window(a)? {
            let (gap, start_index, end_index) = session;
            self.chain.push(Node::Session(SessionSpec { aggregate, start_index, end_index, gap }));
            let chain = &mut self.chain;
            (chain.windowed, chain.sessions) = (true, true);
            chain.keyed = !chain.emit_on_close;
            return Ok(());
        }
        // Grouped by both bounds, the end tells when a window closes (exact for cumulating
        // windows, whose ends differ for one start).
        let window = (a.group_expr.iter().enumerate())
            .filter_map(|(i, e)| window_key(e, &a.input).map(|off| WindowKey { group_index: i, end_offset: off }))
            .min_by_key(|k| k.end_offset);
        let chain = &mut self.chain;
        chain.windowed = window.is_some();
        chain.push(Node::Aggregate(AggregateSpec { window, ..aggregate }));
        chain.keyed = !(chain.windowed && chain.emit_on_close);
        Ok(())
    }

    /// An aggregation over an updating input (its rows change and disappear): retractions.
    fn reaggregate(&mut self, a: &datafusion::logical_expr::Aggregate, aggregate: AggregateSpec) -> Result<()> {
        if self.chain.emit_on_close {
            return Err(Error::Unsupported(
                "EMIT ON WINDOW CLOSE is not supported for an aggregation over an updating aggregation or top-N".into(),
            ));
        }
        check_retractable(&aggregate.aggregates)?;
        let AggregateSpec { group_exprs, aggregates, filters, output_schema, .. } = aggregate;
        let input_schema = nullable(a.input.schema());
        let spec = ReaggregateSpec { group_exprs, aggregates, filters, input_schema, output_schema };
        self.chain.push(Node::Reaggregate(spec));
        Ok(())
    }

    /// Adds the projection `p` (its input already lowered).
    fn project(&mut self, p: &datafusion::logical_expr::Projection) -> Result<()> {
        let mut exprs = p.expr.iter().map(|e| self.physical(e, p.input.schema())).collect::<Result<Vec<_>>>()?;
        if let Some(rank) = topn::rank_column(&p.input) {
            exprs = exprs.into_iter().map(|e| topn::rename_rank(e, rank)).collect::<Result<_>>()?;
        }
        self.chain.push(Node::Project(exprs, nullable(&p.schema)));
        Ok(())
    }

    fn physical(&self, e: &Expr, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>> {
        Ok(create_physical_expr(e, schema, self.state.execution_props(), &PhysicalPlanningContext::default())?)
    }
}

/// If `expr` is a window bound column produced by a window function: the window kind, and
/// whether it is `window_end` (else `window_start`).
fn window_bound(expr: &Expr, input: &LogicalPlan) -> Option<(WindowKind, bool)> {
    let Expr::Column(column) = expr.clone().unalias() else { return None };
    let index = input.schema().index_of_column(&column).ok()?;
    trace_window_column(index, input)
}

/// The offset from a window bound's value to the window end (the size for
/// `window_start`, zero for `window_end`).
fn window_key(expr: &Expr, input: &LogicalPlan) -> Option<i64> {
    window_bound(expr, input).map(|(kind, is_end)| if is_end { 0 } else { kind.size() })
}

fn trace_window_column(index: usize, plan: &LogicalPlan) -> Option<(WindowKind, bool)> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let provider = source_as_provider(&scan.source).ok()?;
            let index = scan.projection.as_ref().map_or(Some(index), |p| p.get(index).copied())?;
            if let Some(v) = provider.downcast_ref::<ViewRelation>() {
                return trace_window_column(index, &v.plan);
            }
            let w = provider.downcast_ref::<WindowedStream>()?;
            let n = provider.schema().fields().len();
            match n - index {
                2 => Some((w.window.clone(), false)),
                1 => Some((w.window.clone(), true)),
                _ => None,
            }
        }
        LogicalPlan::SubqueryAlias(a) => trace_window_column(index, &a.input),
        // A window bound an aggregation groups by (its rows are final per window when
        // something reads them: reading an updating one is refused).
        LogicalPlan::Aggregate(a) => window_bound(a.group_expr.get(index)?, &a.input),
        LogicalPlan::Filter(f) => trace_window_column(index, &f.input),
        LogicalPlan::Join(j) => {
            let left = j.left.schema().fields().len();
            if index < left { trace_window_column(index, &j.left) } else { trace_window_column(index - left, &j.right) }
        }
        LogicalPlan::Projection(p) => {
            let Expr::Column(c) = p.expr.get(index)?.clone().unalias() else { return None };
            let inner = p.input.schema().index_of_column(&c).ok()?;
            trace_window_column(inner, &p.input)
        }
        _ => None,
    }
}

/// For an aggregation over `SESSION(...)`: the gap and which group expressions are
/// `window_start` and `window_end` (both are needed: they are the session).
fn session_window(a: &datafusion::logical_expr::Aggregate) -> Result<Option<(Millis, usize, usize)>> {
    let (mut gap, mut start, mut end) = (None, None, None);
    for (i, e) in a.group_expr.iter().enumerate() {
        if let Some((WindowKind::Session { gap: g }, is_end)) = window_bound(e, &a.input) {
            gap = Some(g);
            *(if is_end { &mut end } else { &mut start }) = Some(i);
        }
    }
    match (gap, start, end) {
        (None, ..) => Ok(None),
        (Some(gap), Some(start), Some(end)) => Ok(Some((gap, start, end))),
        _ => Err(Error::Unsupported("session windows need GROUP BY window_start, window_end".into())),
    }
}

fn unsupported_node(plan: &LogicalPlan) -> Error {
    let what = match plan {
        LogicalPlan::Join(_) => "joins are",
        LogicalPlan::Sort(_) => "ORDER BY is",
        LogicalPlan::Limit(_) => "LIMIT is",
        LogicalPlan::Distinct(_) => "DISTINCT is",
        LogicalPlan::Union(_) => "UNION is",
        LogicalPlan::Window(_) => return topn::needs_rank_filter(),
        LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => {
            return Error::Plan("a materialized view must read a stream".into());
        }
        _ => "this query is",
    };
    Error::Unsupported(format!("{what} not supported in materialized views yet"))
}

fn nullable(schema: &DFSchema) -> SchemaRef {
    let fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
    Arc::new(Schema::new(fields))
}

fn check_unique_names(schema: &Schema) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for f in schema.fields() {
        if !seen.insert(f.name().as_str()) {
            let error = Error::Plan(format!("column \"{}\" specified more than once", f.name()));
            return Err(error.with_hint("Give it an alias."));
        }
    }
    Ok(())
}

impl ViewPlan {
    /// Checks the plan against its streams (`streams[i]` is input i's): windows need the
    /// stream's watermark column as their time column, or they would never close.
    pub fn check_against(&self, streams: &[StreamDef]) -> Result<()> {
        if self.grace > 0 && streams.iter().all(|s| s.watermark.is_none()) {
            let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Plan(format!(
                "GRACE PERIOD needs a watermark: stream \"{}\" has no WATERMARK FOR",
                names.join("\", \"")
            )));
        }
        self.root.check_windows(streams, false)
    }

    /// [`ViewPlan::check_against`] for an ad-hoc query, which ends with its input: without
    /// EMIT ON WINDOW CLOSE, windows over a stream with no watermark at all are fine (its
    /// windows are never closed, and the query's state ends with it).
    pub fn check_ad_hoc(&self, streams: &[StreamDef], emit_on_close: bool) -> Result<()> {
        match emit_on_close {
            true => self.check_against(streams),
            false => self.root.check_windows(streams, true),
        }
    }

    /// Turns the plan into operators (consuming it): those after the source inputs and
    /// before the materialization or sink, each with its line of EXPLAIN, from which its
    /// stable id is derived.
    pub fn into_flow(self) -> Result<Flow> {
        self.root.into_flow(&self.streams)
    }

    /// The operators, as [`ViewPlan::into_flow`], run as `shards` shards where the plan can
    /// be cut (see [`Chain::shard_cut`]): the flow before the cut, and the shards' flows.
    /// With one shard, or no cut, the whole flow and no sharding.
    pub fn into_flows(self, shards: usize) -> Result<(Flow, Option<Sharding>)> {
        let cut = if shards > 1 { self.root.shard_cut() } else { None };
        let Some(cut) = cut else { return Ok((self.into_flow()?, None)) };
        let Chain { head, mut nodes } = self.root;
        let keyed = nodes.split_off(cut);
        let prefix = Chain { head, nodes }.into_flow(&self.streams)?;
        let key = keyed.first().and_then(Node::partition_key).unwrap_or_default();
        let what = explain::explain_exchange(&key, shards);
        let id = OperatorId::derive(&[prefix.last_id()], &what);
        let flows = (0..shards)
            .map(|_| {
                let mut flow = Flow::after(id);
                for node in keyed.iter().cloned() {
                    let what = explain::explain_node(&node);
                    flow = flow.then(what, node.into_operator()?);
                }
                Ok(flow)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((prefix, Some(Sharding { id, flows, key, what })))
    }

    /// Whether the view can run as one shard per partition of its input without an
    /// exchange: it reads one stream and keeps no state between rows (filters,
    /// projections, window assignment, lookups into tables).
    pub fn partition_parallel(&self) -> bool {
        self.streams.len() == 1 && self.root.reads_only(0)
    }

    /// Whether the view runs in two stages when it runs as shards across nodes: it reads one
    /// stream and can be cut at its first keyed operator (see [`Chain::shard_cut`]), or it
    /// joins two streams (see [`ViewPlan::joins_in_stages`]).
    pub fn staged(&self) -> bool {
        let cut =
            matches!(self.root.head, Head::Input(_)) && self.streams.len() == 1 && self.root.shard_cut().is_some();
        cut || self.joins_in_stages()
    }

    /// Whether the view is a join of two streams that runs in two stages across nodes: each
    /// side keeps no state between rows before the join (filters, projections, windows,
    /// lookups), nor does anything after it. Both sides are hashed by the join key into the
    /// repartition topic, each on a lane of its own, and every shard joins its keys.
    fn joins_in_stages(&self) -> bool {
        let Head::Join(join) = &self.root.head else { return false };
        self.streams.len() == 2
            && join.left.reads_only(0)
            && join.right.reads_only(1)
            && self.root.nodes.iter().all(Node::is_stateless)
    }

    /// How many inputs the second stage reads from the repartition topic, when the view
    /// runs in stages: one lane, or two for a join.
    pub fn stage_lanes(&self) -> u8 {
        if self.joins_in_stages() { 2 } else { 1 }
    }

    /// The operators of shard `shard` of `shards` of a view run in two stages across nodes
    /// (see [`ViewPlan::staged`] and `crate::dataflow::repartition`): input 0 (the stream,
    /// this shard's partitions) through the operators before the cut into the repartition
    /// topic; input 1 (partition `shard` of that topic) through the keyed operators. The
    /// operators' ids are the same in every shard.
    pub fn into_stages(self, shard: u16, shards: usize) -> Result<Flow> {
        if self.joins_in_stages() {
            return self.join_in_stages(shard, shards);
        }
        let cut = self.root.shard_cut().filter(|_| self.staged());
        let Some(cut) = cut else { return Err(Error::Internal("a view without stages run in stages".into())) };
        let Chain { head, mut nodes } = self.root;
        let keyed = nodes.split_off(cut);
        let key = keyed.first().and_then(Node::partition_key).unwrap_or_default();
        let what = explain::explain_repartition(&key, shards);
        let send = Box::new(RepartitionWrite::new(key, shards, shard));
        let first = Chain { head, nodes }.into_flow(&self.streams)?.then(what, send);
        let mut flow = Flow::join(Box::new(StageJoin), "Stages".into(), first, Flow::input(1, "repartition"));
        for node in keyed {
            let what = explain::explain_node(&node);
            flow = flow.then(what, node.into_operator()?);
        }
        Ok(flow)
    }

    /// [`ViewPlan::into_stages`] of a join of two streams: each side (input 0, input 1)
    /// through its operators into the repartition topic by its join key, on lanes 0 and 1;
    /// the join over the two lanes of partition `shard` (inputs 2 and 3), then the rest.
    fn join_in_stages(self, shard: u16, shards: usize) -> Result<Flow> {
        let Chain { head: Head::Join(join), nodes } = self.root else {
            return Err(Error::Internal("a view without a join run as one in stages".into()));
        };
        let what = explain::explain_join(&join);
        let JoinNode { left, right, spec, key_types, .. } = *join;
        let streams = &self.streams;
        let send = |side: Chain, key: Vec<Arc<dyn PhysicalExpr>>, lane: u8| -> Result<Flow> {
            let what = explain::explain_repartition(&key, shards);
            let write = RepartitionWrite::new(key, shards, shard).on_lane(lane);
            Ok(side.into_flow(streams)?.then(what, Box::new(write)))
        };
        let left = send(left, spec.left_keys.clone(), 0)?;
        let right = send(right, spec.right_keys.clone(), 1)?;
        let sent = Flow::join(Box::new(StageJoin), "Send".into(), left, right);
        let lanes = (Flow::input(2, "repartition"), Flow::input(3, "repartition"));
        let joined = Flow::join(Box::new(StreamJoin::new(spec, &key_types)?), what, lanes.0, lanes.1);
        let mut flow = Flow::join(Box::new(StageJoin), "Stages".into(), sent, joined);
        for node in nodes {
            let what = explain::explain_node(&node);
            flow = flow.then(what, node.into_operator()?);
        }
        Ok(flow)
    }

    /// The group key columns of an updating result (what its change keys encode).
    pub fn group_key_schema(&self) -> Option<SchemaRef> {
        if !self.keyed {
            return None;
        }
        // The last keyed operator: a top-N over an aggregate re-keys its rows.
        self.root.nodes.iter().rev().find_map(|n| match n {
            Node::TopN(spec) if spec.emit == TopNEmit::Updates => Some(spec.key_schema()),
            Node::Reaggregate(spec) => Some(spec.group_schema()),
            Node::Aggregate(spec) | Node::Session(SessionSpec { aggregate: spec, .. }) => {
                let fields = spec.output_schema.fields()[..spec.group_exprs.len()].to_vec();
                Some(Arc::new(Schema::new(fields)))
            }
            _ => None,
        })
    }
}

impl Chain {
    /// Whether the chain reads source input `input` and keeps no state between rows.
    fn reads_only(&self, input: usize) -> bool {
        matches!(self.head, Head::Input(i) if i == input) && self.nodes.iter().all(Node::is_stateless)
    }

    /// Where the plan can be cut into shards: before its only keyed operator (an
    /// aggregate with GROUP BY, or a top-N with PARTITION BY) over one input, when every
    /// operator before it is stateless (windows, filters, projections, lookups), so rows
    /// can be split among the shards by that operator's key. None when there is no such
    /// place (a join of two streams, a second keyed operator, a global aggregate).
    fn shard_cut(&self) -> Option<usize> {
        if !matches!(self.head, Head::Input(_)) {
            return None;
        }
        let keyed =
            |n: &Node| matches!(n, Node::Aggregate(_) | Node::Reaggregate(_) | Node::Session(_) | Node::TopN(_));
        let first = self.nodes.iter().position(keyed)?;
        let later = self.nodes[first + 1..].iter().any(keyed);
        (!later && self.nodes[first].partition_key().is_some()).then_some(first)
    }

    /// Windows use the watermark column as their time column (`unwatermarked`: or their
    /// stream has no watermark at all).
    fn check_windows(&self, streams: &[StreamDef], unwatermarked: bool) -> Result<()> {
        let stream = match &self.head {
            Head::Join(join) => {
                join.left.check_windows(streams, unwatermarked)?;
                return join.right.check_windows(streams, unwatermarked);
            }
            Head::Input(i) => streams.get(*i).ok_or_else(|| Error::Internal("input without a stream".into()))?,
        };
        if unwatermarked && stream.watermark.is_none() {
            return Ok(());
        }
        for node in &self.nodes {
            if let Node::Window(_, time, input) = node
                && stream.watermark.as_ref().map(|w| w.column) != Some(*time)
            {
                return Err(Error::Plan(format!(
                    "window time column \"{}\" must be the watermark column of stream \"{}\" (declare WATERMARK FOR {} AS ...)",
                    input.field(*time).name(),
                    stream.name,
                    input.field(*time).name()
                )));
            }
        }
        Ok(())
    }

    fn into_flow(self, streams: &[String]) -> Result<Flow> {
        let mut flow = match self.head {
            Head::Input(i) => Flow::input(i, streams.get(i).map_or("", String::as_str)),
            Head::Join(join) => {
                let what = explain::explain_join(&join);
                let JoinNode { left, right, spec, key_types, .. } = *join;
                let op = Box::new(StreamJoin::new(spec, &key_types)?);
                Flow::join(op, what, left.into_flow(streams)?, right.into_flow(streams)?)
            }
        };
        for node in self.nodes {
            let what = explain::explain_node(&node);
            flow = flow.then(what, node.into_operator()?);
        }
        Ok(flow)
    }
}

impl Node {
    /// Whether it keeps no state between rows (windows, filters, projections, lookups).
    fn is_stateless(&self) -> bool {
        matches!(self, Node::Window(..) | Node::Filter(_) | Node::Project(..) | Node::Lookup(_))
    }

    /// What a keyed operator's rows can be split among shards by: its group or
    /// partition key over its input. None for other operators, and for keyed ones that
    /// need every row in one place (no GROUP BY or PARTITION BY).
    fn partition_key(&self) -> Option<Vec<Arc<dyn PhysicalExpr>>> {
        let key = match self {
            Node::Aggregate(spec) => spec.group_exprs.clone(),
            Node::TopN(spec) if !spec.updating_input => spec.partition.clone(),
            _ => return None,
        };
        (!key.is_empty()).then_some(key)
    }

    fn into_operator(self) -> Result<Box<dyn Operator>> {
        Ok(match self {
            Node::Window(kind, time, input) => Box::new(WindowAssign::new(kind, time, &input)?),
            Node::Filter(p) => Box::new(Map::filter(p)),
            Node::Project(exprs, schema) => Box::new(Map::project(exprs, schema)),
            Node::Aggregate(spec) => Box::new(Aggregate::new(spec)?),
            Node::Session(spec) => Box::new(SessionAggregate::new(spec)?),
            Node::Reaggregate(spec) => Box::new(Reaggregate::new(spec)?),
            Node::Lookup(spec) => Box::new(LookupJoin::new(spec)),
            Node::TopN(spec) => Box::new(TopN::new(spec)?),
        })
    }
}
