//! The engine: owns the catalog, the store, DataFusion's session and the running pipelines,
//! and executes statements.
//!
//! The server (pgwire) and `sluice run` both call [`Engine::parse`], [`Engine::describe`] and
//! [`Engine::execute`]. DDL goes through `ddl` (one statement at a time), queries through
//! DataFusion over the views' stored contents (`query`), SHOW and system tables through
//! `system`. Postgres' system catalogs, settings and functions come from [`crate::pg`].

mod changelog;
mod cluster;
mod ddl;
mod launch;
mod memory;
mod push;
mod query;
mod restore;
mod session;
mod sinks;
mod subscribe;
mod system;
mod tables;
mod transient;

pub use push::PushQuery;
pub use session::Session;

mod copy;
mod files;

pub use crate::catalog::{CATALOG_NAME, SCHEMA_NAME};

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::scalar::ScalarValue;
use futures::FutureExt;
use tracing::{error, info};

use self::launch::Origin;
use crate::catalog::{self, Catalog, UserRelations};
use crate::cluster::ClusterConfig;
use crate::connector::file_access::FileRoots;
use crate::dataflow::budget::StateBudget;
use crate::dataflow::install::Env;
use crate::error::{Error, Result};
use crate::runtime::Workers;
use crate::sql::relations::{WindowFunction, WindowFunctionKind};
use crate::sql::{self, Statement};
use crate::state::Store;

/// What one statement returns.
#[derive(Debug)]
pub enum Output {
    /// A result set. Batches may be empty.
    Rows {
        /// Columns.
        schema: SchemaRef,
        /// Rows.
        batches: Vec<RecordBatch>,
    },
    /// The rows of `COPY (query) TO STDOUT`, to send in COPY's text or CSV format.
    Copy {
        /// Columns.
        schema: SchemaRef,
        /// Rows.
        batches: Vec<RecordBatch>,
        /// How the rows are written.
        format: CopyFormat,
    },
    /// A command completion with its Postgres tag, e.g. "CREATE STREAM".
    Command {
        /// The tag.
        tag: String,
        /// Row count for tags that carry one.
        rows: Option<usize>,
    },
}

impl Output {
    fn command(tag: &str) -> Output {
        Output::Command { tag: tag.to_string(), rows: None }
    }
}

/// The format options of `COPY ... TO STDOUT`.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyFormat {
    /// CSV rather than Postgres's text format.
    pub csv: bool,
    /// A first line of column names (CSV only).
    pub header: bool,
    /// Between columns: tab for text, comma for CSV.
    pub delimiter: char,
    /// How NULL is written: `\N` for text, nothing for CSV.
    pub null: String,
}

/// What the extended protocol needs before execution.
#[derive(Debug)]
pub struct Description {
    /// Type of each `$n` parameter, in order (None when unknown).
    pub params: Vec<Option<DataType>>,
    /// Result columns, or None when the statement returns no rows.
    pub schema: Option<SchemaRef>,
}

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Sources end at the end of their data (`sluice run`).
    pub bounded: bool,
    /// Time between checkpoints.
    pub checkpoint_interval: Duration,
    /// Rows per batch at most.
    pub batch_size: usize,
    /// Memory all running queries may hold together in DataFusion's operators (sorts,
    /// joins, aggregations, ...); a query that needs more fails with 53200.
    pub query_memory: usize,
    /// The `statement_timeout` of new sessions; zero for none.
    pub statement_timeout: Duration,
    /// The `statement_mem` of new sessions: how much of `query_memory` one query may hold.
    pub statement_mem: usize,
    /// Memory the state of all pipelines may hold together; a pipeline whose state grows
    /// beyond it fails with 53200.
    pub state_memory: usize,
    /// The directories file streams and sinks may use (`--file-root`).
    pub file_roots: FileRoots,
    /// The cluster this node joins (`--cluster`), if any.
    pub cluster: Option<ClusterConfig>,
    /// How many shards a new view's keyed operators run as, each on a thread of its own
    /// (`--parallelism`); a view keeps the number it was created with.
    pub parallelism: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            bounded: false,
            checkpoint_interval: Duration::from_secs(1),
            batch_size: 8192,
            query_memory: DEFAULT_QUERY_MEMORY,
            statement_timeout: Duration::ZERO,
            statement_mem: DEFAULT_STATEMENT_MEM,
            state_memory: DEFAULT_STATE_MEMORY,
            file_roots: FileRoots::default(),
            cluster: None,
            parallelism: 1,
        }
    }
}

/// How long a pipeline may take for its last checkpoint at shutdown.
const LAST_CHECKPOINT: Duration = Duration::from_secs(3);

/// The default of [`EngineConfig::query_memory`]: 2 GiB.
pub const DEFAULT_QUERY_MEMORY: usize = 2 << 30;

/// The default of [`EngineConfig::statement_mem`]: 512 MiB, a quarter of the default
/// query memory.
pub const DEFAULT_STATEMENT_MEM: usize = 512 << 20;

/// The default of [`EngineConfig::state_memory`]: 8 GiB.
pub const DEFAULT_STATE_MEMORY: usize = 8 << 30;

/// The engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    ctx: SessionContext,
    catalog: Arc<RwLock<Catalog>>,
    /// Serializes DDL.
    ddl: tokio::sync::Mutex<()>,
    config: EngineConfig,
    /// The threads statements run on.
    workers: Workers,
    /// What every pipeline shares: the store, the memory budget of their state, batch size
    /// and checkpoint interval, the directories files may be read from.
    pipelines: Env,
    /// This node's part in its cluster (`--cluster`); None for a single node.
    cluster: Option<cluster::ClusterNode>,
}

/// The user of sessions nobody logged into (`sluice run`, [`Engine::execute`]).
pub const DEFAULT_USER: &str = "sluice";

/// Postgres evaluates WHERE before the select list, so `SELECT 1 / x FROM t WHERE x <> 0`
/// never divides by zero. DataFusion's `ProjectionPushdown` moves a projection below a
/// filter that does not need its results, which evaluates the select list on rows the
/// filter drops (and fails on them): the session runs without that rule. Columns are still
/// pruned by the logical optimizer.
fn filters_before_select_lists(ctx: &SessionContext) {
    let state = ctx.state_ref();
    let existing = state.read().clone();
    let rules = existing.physical_optimizers().iter().filter(|r| r.name() != "ProjectionPushdown").cloned().collect();
    *state.write() = SessionStateBuilder::new_from_existing(existing).with_physical_optimizer_rules(rules).build();
}

impl Engine {
    /// Opens the engine over `store`, restoring every stream and view found there; as a
    /// node of a cluster, joins it and replays its catalog first.
    pub async fn open(store: Store, config: EngineConfig) -> Result<Engine> {
        let has_objects = !catalog::load(&store)?.is_empty();
        crate::cluster::claim(&store, config.cluster.as_ref().map(|c| c.name.as_str()), has_objects)?;
        let cluster = match &config.cluster {
            Some(c) => Some(cluster::ClusterNode::join(c, &store).await?),
            None => None,
        };
        let session = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG_NAME, SCHEMA_NAME)
            .with_information_schema(false)
            .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
            // A literal with a fraction is a numeric, as in Postgres (see `sql::numbers`).
            .set_bool("datafusion.sql_parser.parse_float_as_decimal", true)
            // TIMESTAMPTZ is a timestamp in UTC, the TimeZone the server reports to clients.
            .set_str("datafusion.execution.time_zone", "UTC");
        let memory = RuntimeEnvBuilder::new().with_memory_limit(config.query_memory, 1.0).build_arc()?;
        let ctx = SessionContext::new_with_config_rt(session, memory);
        let catalog = Arc::new(RwLock::new(Catalog::default()));
        let user = ctx.catalog(CATALOG_NAME).ok_or_else(|| Error::Internal("default catalog missing".into()))?;
        user.register_schema(SCHEMA_NAME, Arc::new(UserRelations::new(catalog.clone())))?;
        let windows = [
            ("tumble", WindowFunctionKind::Tumble),
            ("hop", WindowFunctionKind::Hop),
            ("cumulate", WindowFunctionKind::Cumulate),
            ("session", WindowFunctionKind::Session),
        ];
        for (name, kind) in windows {
            ctx.register_udtf(name, Arc::new(WindowFunction::new(kind, catalog.clone())));
        }
        let membership = cluster.as_ref().map(cluster::ClusterNode::membership);
        let cluster_table: system::Builder = Arc::new(move |_, _| cluster::cluster_rows(membership.clone()));
        system::register(&ctx, &catalog, &store, vec![("cluster", cluster_table)])?;
        crate::pg::register(&ctx, &catalog)?;
        // After pg_catalog: its type planner is wrapped.
        sql::semantics::register(&ctx)?;
        filters_before_select_lists(&ctx);
        let engine = Engine {
            inner: Arc::new(Inner {
                store: store.clone(),
                ctx,
                catalog,
                ddl: tokio::sync::Mutex::new(()),
                pipelines: Env {
                    store,
                    budget: StateBudget::new(config.state_memory),
                    batch_size: config.batch_size,
                    checkpoint_interval: config.checkpoint_interval,
                    file_roots: config.file_roots.clone(),
                },
                config,
                workers: Workers::start()?,
                cluster,
            }),
        };
        if engine.inner.cluster.is_some() {
            engine.replay_cluster_catalog().await?;
        } else {
            engine.restore().await?;
        }
        Ok(engine)
    }

    async fn restore(&self) -> Result<()> {
        let entries = catalog::load(&self.inner.store)?;
        let count = entries.len();
        for (id, entry) in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    self.register_damaged_entry(id, &e)?;
                    continue;
                }
            };
            let restored = AssertUnwindSafe(self.restore_entry(id, &entry.sql)).catch_unwind().await;
            if let Err(e) = restored.unwrap_or_else(|panic| Err(crate::error::from_panic(panic))) {
                error!(id, sql = %entry.sql, error = %e, "cannot restore catalog entry");
            }
        }
        if count > 0 {
            info!(objects = count, "catalog restored");
        }
        Ok(())
    }

    /// Runs `work` on the statement threads, off the caller's (see [`crate::runtime`]):
    /// dropping the returned future aborts it.
    pub async fn offload<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        self.inner.workers.run(work).await
    }

    async fn restore_entry(&self, id: u64, sql: &str) -> Result<Output> {
        match sql::parse(sql)?.into_iter().next() {
            Some(Statement::CreateStream(s)) => self.create_stream(&s, Origin::Restore(id)).await,
            Some(Statement::CreateTable(t)) => self.create_table(&t, Origin::Restore(id)).await,
            Some(Statement::CreateView(v)) => self.create_view(&v, Origin::Restore(id)).await,
            Some(Statement::CreateSink(k)) => self.create_sink(&k, Origin::Restore(id)).await,
            _ => Err(Error::Internal(format!("catalog entry {id} is not a CREATE statement"))),
        }
    }

    /// Splits and parses SQL text into statements.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        sql::parse(sql)
    }

    /// Parameter and result types of one statement.
    pub async fn describe(&self, stmt: &Statement) -> Result<Description> {
        match stmt {
            Statement::Query(ast) => self.describe_query(ast).await,
            Statement::Select(s) => self.describe_query(&s.query).await,
            Statement::ShowStreams
            | Statement::ShowTables
            | Statement::ShowViews
            | Statement::ShowSources
            | Statement::ShowSinks
            | Statement::ShowCluster
            | Statement::Describe(_)
            | Statement::Explain(_) => {
                let schema = match self.run(stmt, vec![]).await? {
                    Output::Rows { schema, .. } => Some(schema),
                    Output::Copy { .. } | Output::Command { .. } => None,
                };
                Ok(Description { params: vec![], schema })
            }
            Statement::Subscribe(s) => {
                // Checked either way; a COPY has no row description (NoData), as in Postgres.
                let schema = self.describe_push(s).await?;
                Ok(Description { params: vec![], schema: (!s.copy).then_some(schema) })
            }
            _ => Ok(Description { params: vec![], schema: None }),
        }
    }

    /// Executes one statement with values for `$1..$n` in a session of its own, so
    /// settings it makes are forgotten.
    pub async fn execute(&self, stmt: &Statement, params: Vec<ScalarValue>) -> Result<Output> {
        self.session(DEFAULT_USER).execute(stmt, params).await
    }

    /// Executes one statement (not a session statement: those are the session's). A panic
    /// inside is caught and reported as an internal error, so a bug never takes a
    /// connection down.
    async fn run(&self, stmt: &Statement, params: Vec<ScalarValue>) -> Result<Output> {
        match AssertUnwindSafe(self.execute_inner(stmt, params)).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => {
                let error = crate::error::from_panic(panic);
                error!(%error, "statement panicked");
                Err(error)
            }
        }
    }

    async fn execute_inner(&self, stmt: &Statement, params: Vec<ScalarValue>) -> Result<Output> {
        if self.inner.cluster.is_some() && stmt.changes_catalog() {
            return self.submit(stmt).await;
        }
        match stmt {
            Statement::CreateStream(s) => {
                let _ddl = self.inner.ddl.lock().await;
                self.create_stream(s, Origin::Client).await
            }
            Statement::CreateTable(t) => {
                let _ddl = self.inner.ddl.lock().await;
                self.create_table(t, Origin::Client).await
            }
            Statement::CreateView(v) => {
                let _ddl = self.inner.ddl.lock().await;
                self.create_view(v, Origin::Client).await
            }
            Statement::CreateSink(k) => {
                let _ddl = self.inner.ddl.lock().await;
                self.create_sink(k, Origin::Client).await
            }
            Statement::Drop(d) => {
                let _ddl = self.inner.ddl.lock().await;
                self.drop_object(d).await
            }
            Statement::Explain(v) => self.explain_view(v).await,
            Statement::ShowStreams => system::show_streams(&self.inner.catalog),
            Statement::ShowTables => system::show_tables(&self.inner.catalog),
            Statement::ShowViews => system::show_views(&self.inner.catalog),
            Statement::ShowSources => system::show_sources(&self.inner.catalog),
            Statement::ShowSinks => sinks::show_sinks(&*self.read_catalog()?),
            Statement::ShowCluster => self.show_cluster(),
            Statement::Describe(name) => system::describe(&self.inner.catalog, name),
            Statement::Flush if self.inner.cluster.is_some() => {
                self.flush_cluster().await.map(|_| Output::command("FLUSH"))
            }
            Statement::Flush => self.flush().await.map(|_| Output::command("FLUSH")),
            Statement::Subscribe(_) => Err(Error::Unsupported(
                "SUBSCRIBE and push queries (EMIT CHANGES) run only as the one statement of a client's query".into(),
            )),
            Statement::Query(ast) => self.query(ast, params).await,
            Statement::Select(s) => self.select(s, params).await,
            Statement::Session(_) | Statement::Copy(_) => {
                Err(Error::Internal("session statements and COPY run in a session".into()))
            }
        }
    }

    /// Parses and executes every statement of `sql` in order in one session, stopping at
    /// the first error.
    pub async fn execute_sql(&self, sql: &str) -> Result<Vec<Output>> {
        let session = self.session(DEFAULT_USER);
        let mut outputs = Vec::new();
        for stmt in self.parse(sql)? {
            outputs.push(session.execute(&stmt, vec![]).await?);
        }
        Ok(outputs)
    }

    /// Waits until every view has processed what its source holds now (serve mode) or all
    /// of it (bounded mode), durably.
    /// A pipeline that had already failed is skipped: it holds its last good contents, SHOW
    /// tells why, and it must not make FLUSH fail for every other view.
    pub async fn flush(&self) -> Result<()> {
        let pipelines = self.read_catalog()?.pipelines();
        for p in pipelines {
            if matches!(p.stats().status(), crate::dataflow::stats::Status::Failed(_)) {
                continue;
            }
            if self.inner.config.bounded { p.finished().await? } else { p.flush().await? }
        }
        Ok(())
    }

    /// Stops every pipeline, after a last checkpoint of what its source holds now if that
    /// takes at most [`LAST_CHECKPOINT`]; what was committed is what recovery sees.
    pub async fn shutdown(&self) {
        let pipelines: Vec<_> = match self.read_catalog() {
            Ok(c) => c.pipelines(),
            Err(_) => return,
        };
        let last = pipelines.iter().map(|p| tokio::time::timeout(LAST_CHECKPOINT, p.flush()));
        let _ = futures::future::join_all(last).await;
        for p in pipelines {
            p.stop().await;
        }
        self.leave_cluster().await;
    }

    fn read_catalog(&self) -> Result<std::sync::RwLockReadGuard<'_, Catalog>> {
        self.inner.catalog.read().map_err(|_| Error::Internal("catalog lock poisoned".into()))
    }

    fn write_catalog(&self) -> Result<std::sync::RwLockWriteGuard<'_, Catalog>> {
        self.inner.catalog.write().map_err(|_| Error::Internal("catalog lock poisoned".into()))
    }
}
