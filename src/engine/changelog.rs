//! CREATE TABLE and DROP TABLE: changelog tables, Kafka Streams' KTable.
//!
//! A table runs a pipeline of its own: its source (a compacted Kafka topic, or a file of
//! JSON or CSV rows), the upsert operator (latest row per primary key, tombstones delete),
//! and a keyed materialization, so `SELECT` reads it like a view and it survives restarts
//! like one. The upsert operator also keeps the table's in-memory index, which views that
//! join a stream with the table look rows up in.

use std::sync::Arc;

use tracing::info;

use super::launch::Origin;
use super::tables::ViewTable;
use super::{Engine, Output};
use crate::catalog::{ObjectKind, TableEntry};
use crate::connector;
use crate::dataflow::changelog::{ChangelogColumns, Upsert};
use crate::dataflow::flow::Flow;
use crate::dataflow::install::{Destination, PipelineSpec};
use crate::dataflow::lookup::TableIndex;
use crate::dataflow::published::Published;
use crate::dataflow::stats::PipelineStats;
use crate::error::Result;
use crate::sql::CreateStream;
use crate::sql::plan::{TableDef, plan_table};
use crate::sql::relations::TableRelation;
use crate::state::Layout;

impl Engine {
    /// CREATE TABLE, from `origin`.
    pub(super) async fn create_table(&self, stmt: &CreateStream, origin: Origin) -> Result<Output> {
        let done = Output::command("CREATE TABLE");
        if origin.checks_names() && self.exists(&stmt.name, stmt.if_not_exists)? {
            return Ok(done);
        }
        let def = plan_table(&self.inner.ctx.state(), stmt).await?;
        connector::validate(&def.source.options, &def.source.schema)?;
        if origin.checks_outside() {
            self.check_new_file_source(&def.source.options)?;
            self.check_external(&def.source).await?;
        }
        let create = stmt.to_string();
        let Some(id) = self.object_id(origin, &create)? else { return Ok(done) };
        let index = Arc::new(TableIndex::new(def.schema.clone(), def.primary_key.clone())?);
        let what = format!("table \"{}\"", stmt.name);
        let published = Arc::new(Published::default());
        let (schema, layout) = (def.schema.clone(), Layout::Keyed);
        let destination = Destination::Store { schema, layout, published: published.clone(), log: None };
        let spec = self.pipeline_spec(
            id,
            &stmt.name,
            what.clone(),
            vec![def.source.clone()],
            Flow::input(0, &stmt.name),
            destination,
        );
        let stats = spec.stats.clone();
        let upsert = self.upsert(&stmt.name, &def, &index, &stats);
        let spec = PipelineSpec { flow: spec.flow.then(upsert.describe(), Box::new(upsert)), ..spec };
        let pipeline = self.launch(spec, origin.persist(&create))?;
        let (store, schema) = (self.inner.store.clone(), def.schema.clone());
        let rows = Arc::new(ViewTable::new(store, id, what, schema, stats.clone(), published));
        let relation = Arc::new(TableRelation::new(&stmt.name, index.clone(), rows));
        let TableDef { source, schema, primary_key } = def;
        let entry = TableEntry { id, def: source, schema, primary_key, index, relation, stats, pipeline };
        self.write_catalog()?.tables.insert(stmt.name.clone(), entry);
        info!(table = %stmt.name, id, "table created");
        Ok(done)
    }

    /// The upsert operator of table `name`: the latest row per primary key, kept in `index`.
    fn upsert(&self, name: &str, def: &TableDef, index: &Arc<TableIndex>, stats: &Arc<PipelineStats>) -> Upsert {
        let columns = ChangelogColumns {
            message_key: def.source.schema.index_of("_key").ok(),
            deleted: def.source.schema.index_of("_deleted").ok(),
        };
        Upsert::new(name, def.schema.clone(), columns, index.clone(), stats.clone())
    }

    /// DROP TABLE (the views joining with it need CASCADE).
    pub(super) async fn drop_table(&self, name: &str, cascade: bool) -> Result<()> {
        self.drop_dependent_views(ObjectKind::Table, name, cascade).await?;
        let entry = self.write_catalog()?.tables.remove(name);
        let Some(entry) = entry else { return Ok(()) };
        self.discard(entry.id, &entry.pipeline).await?;
        info!(table = %name, "table dropped");
        Ok(())
    }

    /// Waits until `tables` hold what their sources have now (all of it, when bounded), so
    /// a new view joining with them sees them loaded.
    pub(super) async fn load_tables(&self, tables: &[String]) -> Result<()> {
        let pipelines: Vec<_> = {
            let catalog = self.read_catalog()?;
            tables.iter().filter_map(|t| catalog.tables.get(t)).map(|t| t.pipeline.clone()).collect()
        };
        for p in pipelines {
            if self.inner.config.bounded { p.finished().await? } else { p.flush().await? }
        }
        Ok(())
    }
}
