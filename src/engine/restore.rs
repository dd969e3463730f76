//! Objects that cannot be restored at start-up: registered as failed, never dropped from
//! sight.
//!
//! When the engine replays the catalog, a view whose plan, source position or operator
//! state cannot be restored (damaged data, a stream that is gone, a source that cannot be
//! opened) is still registered, with a [`Pipeline::failed`] stand-in: `SHOW MATERIALIZED
//! VIEWS` lists it as failed with the error, queries of it get the error (XX001 when its
//! data is damaged; its last committed rows otherwise, if its columns are known), and
//! `DROP` removes its catalog entry, rows and state. A table or sink whose pipeline cannot
//! be restored is registered the same way, with the same stand-in ([`failed_pipeline`]).
//! A catalog entry that cannot be read at all is registered as a view named
//! `damaged_object_<id>`.
//!
//! Called by `Engine::restore` and the CREATE handlers (views, tables, sinks) only.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::logical_expr::LogicalPlan;
use tracing::error;

use super::Engine;
use crate::catalog::ViewEntry;
use crate::dataflow::Millis;
use crate::dataflow::pipeline::Pipeline;
use crate::dataflow::published::Published;
use crate::dataflow::stats::PipelineStats;
use crate::error::{Error, Result};
use crate::sql::plan::ViewPlan;
use crate::sql::{CreateView, Statement};

/// What the catalog keeps of a planned view besides its pipeline.
pub(super) struct ViewShape {
    pub schema: SchemaRef,
    pub keyed: bool,
    pub streams: Vec<String>,
    pub tables: Vec<String>,
    pub views: Vec<String>,
    pub query: LogicalPlan,
    pub grace: Millis,
    pub emit_on_close: bool,
}

impl ViewShape {
    /// The shape of `stmt` planned as `plan`.
    pub fn of(stmt: &CreateView, plan: &ViewPlan) -> ViewShape {
        ViewShape {
            schema: plan.schema.clone(),
            keyed: plan.keyed,
            streams: plan.streams.clone(),
            tables: plan.tables.clone(),
            views: plan.views.clone(),
            query: plan.query.clone(),
            grace: plan.grace,
            emit_on_close: stmt.emit_on_close,
        }
    }

    /// The catalog entry of view `id`.
    pub fn into_entry(
        self,
        stmt: &CreateView,
        id: u64,
        stats: Arc<PipelineStats>,
        pipeline: Arc<Pipeline>,
        relation: Arc<dyn TableProvider>,
        published: Arc<Published>,
    ) -> ViewEntry {
        let ViewShape { schema, keyed, streams, tables, views, emit_on_close, .. } = self;
        let (definition, grace, relation) = (stmt.query.clone(), stmt.grace.clone(), Some(relation));
        ViewEntry {
            id,
            streams,
            tables,
            views,
            schema,
            keyed,
            emit_on_close,
            definition,
            grace,
            relation,
            published,
            stats,
            pipeline,
        }
    }
}

impl Engine {
    /// Registers view `id` whose restore failed with `error`. With its `shape` (it was
    /// planned) its rows stay queryable unless they are damaged.
    pub(super) fn register_failed_view(
        &self,
        stmt: &CreateView,
        id: u64,
        error: &Error,
        shape: Option<ViewShape>,
    ) -> Result<()> {
        let stats = Arc::new(PipelineStats::default());
        let what = format!("materialized view \"{}\"", stmt.name);
        let pipeline = failed_pipeline(&what, &stmt.name, id, &stats, error);
        let entry = match shape {
            Some(shape) => {
                let published = Arc::new(Published::default());
                let relation = self.view_rows(&stmt.name, id, &shape, &stats, &published);
                shape.into_entry(stmt, id, stats, pipeline, relation, published)
            }
            None => ViewEntry {
                id,
                streams: vec![],
                tables: vec![],
                views: vec![],
                schema: Arc::new(Schema::empty()),
                keyed: false,
                emit_on_close: stmt.emit_on_close,
                definition: stmt.query.clone(),
                grace: stmt.grace.clone(),
                relation: None,
                published: Arc::default(),
                stats,
                pipeline,
            },
        };
        self.write_catalog()?.views.insert(stmt.name.clone(), entry);
        Ok(())
    }

    /// Registers catalog entry `id`, which cannot be read (`error`), as a failed view named
    /// `damaged_object_<id>`, so it is seen and `DROP MATERIALIZED VIEW` removes it.
    pub(super) fn register_damaged_entry(&self, id: u64, error: &Error) -> Result<()> {
        let name = format!("damaged_object_{id}");
        let stand_in = format!("CREATE MATERIALIZED VIEW {name} AS SELECT 1");
        let Some(Statement::CreateView(stmt)) = crate::sql::parse(&stand_in)?.into_iter().next() else {
            return Err(Error::Internal("the stand-in of a damaged catalog entry does not parse".into()));
        };
        self.register_failed_view(&stmt, id, error, None)
    }
}

/// The stand-in pipeline of object `name` (`what`, as users call it, such as `table "t"`)
/// whose restore failed with `error`: failed in SHOW, its queries refused if its data is
/// damaged, removed by DROP.
pub(super) fn failed_pipeline(
    what: &str,
    name: &str,
    id: u64,
    stats: &Arc<PipelineStats>,
    error: &Error,
) -> Arc<Pipeline> {
    let renamed = corrupted_naming(error, what);
    let error = renamed.as_ref().unwrap_or(error);
    let detail = error.detail().unwrap_or_default();
    error!(object = %what, id, %error, %detail, "not restored; registered as failed");
    Arc::new(Pipeline::failed(name, stats.clone(), error))
}

/// `error` naming `what`, if it is about damaged data.
fn corrupted_naming(error: &Error, what: &str) -> Option<Error> {
    let what = what.to_string();
    match error {
        Error::Corrupted { what: inner, detail } => {
            Some(Error::Corrupted { what, detail: format!("{inner}: {detail}") })
        }
        other if other.is_corrupted() => {
            Some(Error::Corrupted { what, detail: other.detail().unwrap_or_else(|| other.to_string()) })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::engine::{EngineConfig, Output};
    use crate::state::{Store, runs_key, state_key, state_prefix};

    /// The engine's defaults, with file streams allowed under the temporary directory
    /// where the tests keep their inputs.
    fn config() -> EngineConfig {
        let roots = crate::connector::file_access::FileRoots::new(&[std::env::temp_dir()]).unwrap();
        EngineConfig { file_roots: roots, ..EngineConfig::default() }
    }

    fn setup(dir: &std::path::Path) -> String {
        let path = dir.join("bids.json");
        std::fs::write(&path, "").unwrap();
        format!(
            "CREATE STREAM bids (auction BIGINT, price BIGINT) WITH (connector = 'file', path = '{}', format = 'json');
             CREATE MATERIALIZED VIEW rich AS SELECT auction, price FROM bids WHERE price > 10;
             CREATE MATERIALIZED VIEW totals AS SELECT auction, sum(price) AS total FROM bids GROUP BY auction;",
            path.display()
        )
    }

    fn append(dir: &std::path::Path, from: i64, to: i64) {
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.join("bids.json")).unwrap();
        for i in from..to {
            writeln!(f, "{{\"auction\": {}, \"price\": {i}}}", i % 3).unwrap();
        }
    }

    async fn rows(engine: &Engine, sql: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for output in engine.execute_sql(sql).await? {
            if let Output::Rows { batches, .. } = output {
                for b in batches {
                    let text = arrow::util::pretty::pretty_format_batches(&[b]).unwrap().to_string();
                    out.extend(text.lines().filter(|l| l.starts_with('|')).skip(1).map(String::from));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// An engine over a temporary store with the stream and views of [`setup`], whose input
    /// file lives in the returned directory.
    async fn started() -> (tempfile::TempDir, Store, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::temporary().unwrap();
        let engine = Engine::open(store.clone(), config()).await.unwrap();
        engine.execute_sql(&setup(dir.path())).await.unwrap();
        (dir, store, engine)
    }

    async fn status(engine: &Engine, view: &str) -> String {
        let all = rows(engine, "SHOW MATERIALIZED VIEWS").await.unwrap();
        all.into_iter().find(|r| r.contains(&format!("| {view} "))).unwrap_or_default()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_checkpoint_fails_the_pipeline_flush_and_ddl() {
        let (dir, store, engine) = started().await;
        append(dir.path(), 0, 50);
        engine.execute_sql("FLUSH").await.unwrap();
        let before = rows(&engine, "SELECT * FROM totals").await.unwrap();

        store.fail_writes(true);
        append(dir.path(), 50, 100);
        let e = engine.execute_sql("FLUSH").await.unwrap_err();
        assert!(e.to_string().contains("injected write failure"), "{e}");
        // FLUSH waited on `rich` (first by name) and got its error.
        assert!(status(&engine, "rich").await.contains("failed: "), "{}", status(&engine, "rich").await);
        assert_eq!(rows(&engine, "SELECT * FROM totals").await.unwrap(), before, "the last good checkpoint stays");
        assert!(engine.execute_sql("FLUSH").await.is_err(), "a later FLUSH is no OK either");
        let create = engine.execute_sql("CREATE MATERIALIZED VIEW more AS SELECT * FROM bids").await;
        assert!(create.is_err());
        assert!(engine.execute_sql("DROP MATERIALIZED VIEW rich").await.is_err());
        store.fail_writes(false);
        assert!(rows(&engine, "SELECT * FROM rich").await.is_ok(), "rich is still there");
        engine.execute_sql("DROP MATERIALIZED VIEW rich").await.unwrap();
        engine.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn damage_found_at_restore_fails_only_that_view_which_drop_removes() {
        let (dir, store, engine) = started().await;
        append(dir.path(), 0, 50);
        engine.execute_sql("FLUSH").await.unwrap();
        let rich = rows(&engine, "SELECT * FROM rich").await.unwrap();
        let totals_id = engine.read_catalog().unwrap().views["totals"].id;
        engine.shutdown().await;
        drop(engine);

        // The source position in the view's checkpoint is damaged.
        let position = state_key(totals_id, 0, &crate::dataflow::input_key(0, b"pos"));
        assert!(store.get(&position).unwrap().is_some());
        store.write_unsealed(&position, b"garbage that fails its checksum");
        let engine = Engine::open(store.clone(), config()).await.unwrap();
        let e = rows(&engine, "SELECT * FROM totals").await.unwrap_err();
        assert_eq!(e.sqlstate(), "XX001", "{e}");
        assert!(e.to_string().contains("could not read materialized view \"totals\": data corrupted"), "{e}");
        assert!(e.detail().unwrap().contains("checkpointed state of object"), "{:?}", e.detail());
        assert!(
            status(&engine, "totals").await.contains("failed: could not read"),
            "{}",
            status(&engine, "totals").await
        );
        assert_eq!(rows(&engine, "SELECT * FROM rich").await.unwrap(), rich, "the other view is intact");
        engine.execute_sql("DROP MATERIALIZED VIEW totals").await.unwrap();
        assert!(store.keys(&state_prefix(totals_id)).next().is_none(), "its state is gone");
        engine.shutdown().await;
        drop(engine);

        // A damaged run list: the view's rows are refused, not served short.
        let rich_id = {
            let engine = Engine::open(store.clone(), config()).await.unwrap();
            let id = engine.read_catalog().unwrap().views["rich"].id;
            engine.shutdown().await;
            id
        };
        store.write_unsealed(&runs_key(rich_id), b"\0");
        let engine = Engine::open(store.clone(), config()).await.unwrap();
        let e = rows(&engine, "SELECT * FROM rich").await.unwrap_err();
        assert_eq!(e.sqlstate(), "XX001", "{e}");
        engine.execute_sql("DROP MATERIALIZED VIEW rich").await.unwrap();
        engine.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_table_damaged_at_restore_is_listed_failed_and_can_be_dropped() {
        let (dir, store, engine) = started().await;
        let users = dir.path().join("users.json");
        std::fs::write(&users, "{\"id\": 1, \"name\": \"ann\"}\n{\"id\": 2, \"name\": \"bob\"}\n").unwrap();
        let create = format!(
            "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT) WITH (connector = 'file', path = '{}', format = 'json');
             FLUSH",
            users.display()
        );
        engine.execute_sql(&create).await.unwrap();
        assert_eq!(rows(&engine, "SELECT count(*) FROM users").await.unwrap(), ["| 2     |"]);
        let id = engine.read_catalog().unwrap().tables["users"].id;
        engine.shutdown().await;
        drop(engine);

        store.write_unsealed(&runs_key(id), b"\0");
        let engine = Engine::open(store.clone(), config()).await.unwrap();
        let shown = rows(&engine, "SHOW TABLES").await.unwrap();
        assert!(
            shown.iter().any(|r| r.contains("| users ") && r.contains("failed: could not read table")),
            "{shown:?}"
        );
        let e = rows(&engine, "SELECT * FROM users").await.unwrap_err();
        assert_eq!(e.sqlstate(), "XX001", "{e}");
        assert!(rows(&engine, "SELECT * FROM rich").await.is_ok(), "the views are intact");
        engine.execute_sql("DROP TABLE users").await.unwrap();
        assert!(store.get(&crate::state::catalog_key(id)).unwrap().is_none(), "its catalog entry is gone");
        engine.shutdown().await;
        drop(engine);
        let engine = Engine::open(store.clone(), config()).await.unwrap();
        assert!(rows(&engine, "SHOW TABLES").await.unwrap().is_empty());
        engine.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_damaged_catalog_entry_is_listed_and_can_be_dropped() {
        let (_dir, store, engine) = started().await;
        let id = engine.read_catalog().unwrap().views["totals"].id;
        engine.shutdown().await;
        drop(engine);
        store.write_unsealed(&crate::state::catalog_key(id), b"{\"sql\": \"CREATE");
        let engine = Engine::open(store.clone(), config()).await.unwrap();
        let name = format!("damaged_object_{id}");
        assert!(status(&engine, &name).await.contains("could not read"), "{:?}", status(&engine, &name).await);
        assert!(rows(&engine, "SELECT * FROM rich").await.is_ok());
        engine.execute_sql(&format!("DROP MATERIALIZED VIEW {name}")).await.unwrap();
        assert!(store.get(&crate::state::catalog_key(id)).unwrap().is_none());
        engine.shutdown().await;
    }
}
