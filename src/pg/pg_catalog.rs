//! The `pg_catalog` schema and the Postgres functions clients call (`version()`,
//! `pg_get_viewdef`, `pg_table_is_visible`, `obj_description`, ...), so that psql's `\d`
//! commands, drivers and BI tools can read Sluice's catalog as if it were Postgres's.
//!
//! `Engine::open` calls [`register`]. The tables and most functions come from the
//! `datafusion-pg-catalog` crate, which builds `pg_class`, `pg_namespace`,
//! `pg_attribute`, ... from DataFusion's catalog and ships Postgres 16's static tables
//! (`pg_type`, `pg_proc`, ...). This module only overlays what that crate cannot know:
//!
//! * materialized views are relkind `m` in `pg_class` (the crate says `v` for every
//!   DataFusion view) and are listed in `pg_matviews` with their definitions;
//! * `pg_table_is_visible` is false for relations outside the search path (the
//!   `sluice_catalog` and `information_schema` system views), so `\dt` shows only the
//!   user's streams and tables;
//! * `pg_get_viewdef` returns a view's query; `version()` names Sluice; the comment
//!   functions answer NULL (Sluice has no comments);
//! * `pg_settings` lists the parameters sessions know (the crate's has one row);
//! * views' `json`, `jsonb`, `varchar` and bare `numeric` columns have those types in
//!   `pg_attribute` (Arrow has no such types: the columns carry marks, `sql::types`);
//! * `pg_timezone_names` and `pg_timezone_abbrevs` list the IANA zones ([`time_zones`]);
//! * `pg_aggregate.aggfnoid` is the function's object id, not its name ([`aggregates`]);
//! * the key and index vectors of `pg_index` and `pg_constraint` are lists, not text
//!   ([`vectors`]), so clients can `unnest` them.
//!
//! Object ids are the crate's: assigned when `pg_class` is first read, stable afterwards.
//! The corrected `pg_class` is kept until a relation is created or dropped ([`ClassCache`]):
//! the crate rebuilds it under one lock for every read, which made psql's `\d` queries
//! from many clients wait for each other.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, RecordBatch, StringArray, new_null_array};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::cast::as_string_array;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion_pg_catalog::pg_catalog::context::{PgCatalogContextProvider, Role};
use datafusion_pg_catalog::pg_catalog::{PgCatalogSchemaProvider, PgCatalogStaticTables, setup_pg_catalog};

use super::constraint_tables;
use super::settings::Settings;
use crate::catalog::Catalog;
use crate::catalog::{CATALOG_NAME, SCHEMA_NAME};
use crate::error::{Error, Result};
use crate::sql::types::marked_type;
use vectors::Element;

/// The role that owns every object (Sluice has no per-object owners).
pub const OWNER: &str = "sluice";

/// Schemas whose relations `pg_table_is_visible` reports as visible.
const VISIBLE_SCHEMAS: [&str; 2] = [SCHEMA_NAME, "pg_catalog"];

/// What the overlay learns each time `pg_class` is read, for the functions that take an
/// object id.
#[derive(Debug, Default)]
pub(super) struct Relations {
    /// Relations outside the search path.
    pub(super) invisible: HashSet<i32>,
    /// Materialized views by object id: their names.
    pub(super) views: HashMap<i32, String>,
    /// Object ids by qualified name (`public.bids`) and, for relations on the search
    /// path, by bare name.
    pub(super) by_name: HashMap<String, i32>,
}

/// [`Relations`] as the overlay and the functions share them.
pub(super) type SharedRelations = Arc<RwLock<Relations>>;
/// Object ids of the built-in types by name (`int8`).
pub(super) type TypeOids = HashMap<String, i32>;

/// Installs `pg_catalog` on `ctx`. Returns what the Postgres functions of
/// `super::functions` read: the relations the overlay learns of, and the object ids of
/// the built-in types by name.
pub(super) fn register(ctx: &SessionContext, catalog: &Arc<RwLock<Catalog>>) -> Result<(SharedRelations, TypeOids)> {
    setup_pg_catalog(ctx, CATALOG_NAME, Roles).map_err(|e| Error::DataFusion(*e))?;
    let tables = Arc::new(PgCatalogStaticTables::try_new()?);
    let type_oids = type_oids(&tables)?;
    let catalogs = ctx.state().catalog_list().clone();
    let inner = PgCatalogSchemaProvider::try_new(catalogs.clone(), tables, Roles)?;
    let relations = Arc::new(RwLock::new(Relations::default()));
    let classes = Arc::new(ClassCache { catalogs, last: Mutex::new(None) });
    let overlay = Overlay { inner: Arc::new(inner), catalog: catalog.clone(), relations: relations.clone(), classes };
    let provider = ctx.catalog(CATALOG_NAME).ok_or_else(|| Error::Internal("default catalog missing".into()))?;
    provider.register_schema("pg_catalog", Arc::new(overlay))?;
    Ok((relations, type_oids))
}

/// Object ids of the built-in types by name (`int8`), from the crate's `pg_type`.
fn type_oids(tables: &PgCatalogStaticTables) -> Result<HashMap<String, i32>> {
    let mut oids = HashMap::new();
    for batch in tables.pg_type.data() {
        let names = as_string_array(column(batch, "typname")?)?;
        let ids = arrow::compute::cast(column(batch, "oid")?, &DataType::Int32)?;
        let ids = ids.as_primitive::<Int32Type>();
        for i in 0..batch.num_rows() {
            oids.insert(names.value(i).to_string(), ids.value(i));
        }
    }
    Ok(oids)
}

/// The roles `pg_roles` lists: the one owner role.
#[derive(Debug, Clone)]
struct Roles;

#[async_trait]
impl PgCatalogContextProvider for Roles {
    async fn roles(&self) -> Vec<String> {
        vec![OWNER.to_string()]
    }

    async fn role(&self, name: &str) -> Option<Role> {
        (name == OWNER).then(|| Role {
            name: OWNER.to_string(),
            is_superuser: true,
            can_login: true,
            can_create_db: false,
            can_create_role: false,
            can_create_user: false,
            can_replication: false,
            grants: vec![],
            inherited_roles: vec![],
        })
    }
}

mod aggregates;
mod time_zones;
mod vectors;

type Inner = PgCatalogSchemaProvider<Arc<dyn datafusion::catalog::CatalogProviderList>, Roles>;

/// `pg_catalog` as the crate builds it, with `pg_class` and `pg_matviews` overlaid.
struct Overlay {
    /// The crate's schema provider.
    inner: Arc<Inner>,
    /// Sluice's catalog, for the materialized views.
    catalog: Arc<RwLock<Catalog>>,
    /// Filled by every build of `pg_class`.
    relations: Arc<RwLock<Relations>>,
    /// The last `pg_class` built.
    classes: Arc<ClassCache>,
}

/// The last corrected `pg_class` and what it was built from; a read of `pg_class` uses it
/// while no relation was created or dropped since.
struct ClassCache {
    /// DataFusion's catalogs: the relations `pg_class` lists.
    catalogs: Arc<dyn datafusion::catalog::CatalogProviderList>,
    /// The key of what it was built from, and the rows.
    last: Mutex<Option<(u64, RecordBatch)>>,
}

impl ClassCache {
    /// What `pg_class` is built from, hashed: the name of every relation DataFusion knows,
    /// and every stream, table and view of Sluice's catalog with its id (ids are never
    /// reused, so a view dropped and created again under its name changes it too).
    fn key(&self, catalog: &Catalog) -> u64 {
        let mut hasher = DefaultHasher::new();
        for name in self.catalogs.catalog_names() {
            let Some(provider) = self.catalogs.catalog(&name) else { continue };
            for schema_name in provider.schema_names() {
                let mut tables = provider.schema(&schema_name).map(|s| s.table_names()).unwrap_or_default();
                tables.sort_unstable();
                (&name, &schema_name, tables).hash(&mut hasher);
            }
        }
        let mut ids = |entries: Vec<(&String, u64)>| entries.hash(&mut hasher);
        ids(catalog.streams.iter().map(|(n, e)| (n, e.id)).collect());
        ids(catalog.tables.iter().map(|(n, e)| (n, e.id)).collect());
        ids(catalog.views.iter().map(|(n, e)| (n, e.id)).collect());
        hasher.finish()
    }

    fn get(&self, key: u64) -> Option<RecordBatch> {
        let last = self.last.lock().ok()?;
        last.as_ref().filter(|(k, _)| *k == key).map(|(_, batch)| batch.clone())
    }

    fn put(&self, key: u64, batch: &RecordBatch) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some((key, batch.clone()));
        }
    }
}

#[async_trait]
impl SchemaProvider for Overlay {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(constraint_tables::pg_catalog_names().map(String::from));
        names.extend(time_zones::NAMES.map(String::from));
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(empty) = constraint_tables::pg_catalog_table(name)? {
            return Ok(Some(empty));
        }
        if let Some(zones) = time_zones::table(name)? {
            return Ok(Some(zones));
        }
        let lowered = name.to_ascii_lowercase();
        let kind = match lowered.as_str() {
            "pg_class" => Kind::Class,
            "pg_matviews" => Kind::MatViews,
            "pg_settings" => Kind::Settings,
            "pg_aggregate" => Kind::Aggregates,
            "pg_attribute" => Kind::Attributes,
            other => match vectors::list_columns(other) {
                Some(columns) => Kind::Lists(columns),
                None => return self.inner.table(name).await,
            },
        };
        let Some(base) = self.inner.table(name).await? else { return Ok(None) };
        let related: Option<Arc<dyn TableProvider>> = match kind {
            Kind::Aggregates => self.inner.table("pg_proc").await?,
            Kind::Attributes => self.class_table().await?.map(|t| Arc::new(t) as _),
            _ => self.inner.table("pg_namespace").await?,
        };
        Ok(Some(Arc::new(self.overlay(kind, base, related))))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
            || constraint_tables::pg_catalog_names().any(|n| n == name)
            || time_zones::NAMES.contains(&name)
    }
}

impl Overlay {
    fn overlay(
        &self,
        kind: Kind,
        base: Arc<dyn TableProvider>,
        related: Option<Arc<dyn TableProvider>>,
    ) -> OverlayTable {
        OverlayTable {
            kind,
            base,
            related,
            catalog: self.catalog.clone(),
            relations: self.relations.clone(),
            classes: self.classes.clone(),
        }
    }

    /// The corrected `pg_class`, whose scan records the [`Relations`].
    async fn class_table(&self) -> DfResult<Option<OverlayTable>> {
        let Some(base) = self.inner.table("pg_class").await? else { return Ok(None) };
        let namespaces = self.inner.table("pg_namespace").await?;
        Ok(Some(self.overlay(Kind::Class, base, namespaces)))
    }
}

/// Which table an [`OverlayTable`] corrects.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Class,
    MatViews,
    Settings,
    /// `pg_aggregate`, whose functions are object ids ([`aggregates`]).
    Aggregates,
    /// `pg_attribute`, with the types views' columns are marked with (`json`,
    /// `varchar`, ...) rather than the Arrow type's.
    Attributes,
    /// A table with these vector columns as lists.
    Lists(&'static [(&'static str, Element)]),
}

/// A crate table whose rows are corrected from Sluice's catalog when it is scanned.
struct OverlayTable {
    kind: Kind,
    /// The crate's table.
    base: Arc<dyn TableProvider>,
    /// The table the corrections read: `pg_proc` for `pg_aggregate`, to find the
    /// functions' object ids; the corrected `pg_class` for `pg_attribute`, to know
    /// which relations are views; else `pg_namespace`, to tell which schema a relation
    /// is in.
    related: Option<Arc<dyn TableProvider>>,
    catalog: Arc<RwLock<Catalog>>,
    relations: Arc<RwLock<Relations>>,
    classes: Arc<ClassCache>,
}

#[async_trait]
impl TableProvider for OverlayTable {
    fn schema(&self) -> SchemaRef {
        match self.kind {
            Kind::Class => class_schema(&self.base.schema()),
            Kind::MatViews | Kind::Settings | Kind::Attributes => self.base.schema(),
            Kind::Aggregates => aggregates::schema(&self.base.schema()),
            Kind::Lists(columns) => vectors::schema(&self.base.schema(), columns),
        }
    }

    fn table_type(&self) -> TableType {
        self.base.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batch = match self.kind {
            Kind::Class => self.pg_class(state).await?,
            Kind::MatViews => self.pg_matviews()?,
            Kind::Settings => self.pg_settings()?,
            Kind::Aggregates => self.pg_aggregate(state).await?,
            Kind::Attributes => self.pg_attribute(state).await?,
            Kind::Lists(columns) => {
                vectors::convert(&read_all(self.base.as_ref(), state).await?, &self.schema(), columns)?
            }
        };
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema(), projection.cloned())?)
    }
}

impl OverlayTable {
    /// `pg_class`: the last one built while no relation was created or dropped since, or a
    /// new one.
    async fn pg_class(&self, state: &dyn Session) -> DfResult<RecordBatch> {
        let key = self.classes.key(&*self.catalog.read().map_err(|_| poisoned())?);
        if let Some(batch) = self.classes.get(key) {
            return Ok(batch);
        }
        let batch = self.build_pg_class(state).await?;
        self.classes.put(key, &batch);
        Ok(batch)
    }

    /// The crate's `pg_class` with relkind `m` for materialized views; records which
    /// relations are visible and which are views.
    async fn build_pg_class(&self, state: &dyn Session) -> DfResult<RecordBatch> {
        let class = read_all(self.base.as_ref(), state).await?;
        let schemas = match &self.related {
            Some(n) => namespace_names(&read_all(n.as_ref(), state).await?)?,
            None => HashMap::new(),
        };
        let oids = column(&class, "oid")?.as_primitive::<Int32Type>().clone();
        let names = as_string_array(column(&class, "relname")?)?.clone();
        let namespace = column(&class, "relnamespace")?.as_primitive::<Int32Type>().clone();
        let views = self.view_names()?;
        let mut relations = Relations::default();
        let mut kinds: Vec<String> =
            as_string_array(column(&class, "relkind")?)?.iter().map(|k| k.unwrap_or("").to_string()).collect();
        for (i, kind) in kinds.iter_mut().enumerate() {
            let schema = schemas.get(&namespace.value(i)).map(String::as_str).unwrap_or("");
            if !VISIBLE_SCHEMAS.contains(&schema) {
                relations.invisible.insert(oids.value(i));
            } else {
                relations.by_name.entry(names.value(i).to_string()).or_insert(oids.value(i));
            }
            relations.by_name.insert(format!("{schema}.{}", names.value(i)), oids.value(i));
            if schema == SCHEMA_NAME && views.contains(names.value(i)) {
                *kind = "m".to_string();
                relations.views.insert(oids.value(i), names.value(i).to_string());
            }
        }
        *self.relations.write().map_err(|_| poisoned())? = relations;
        let class = replace_column(&class, "relkind", Arc::new(StringArray::from(kinds)))?;
        with_missing_columns(&class, &self.schema())
    }

    /// The crate's `pg_aggregate` with the functions' object ids.
    async fn pg_aggregate(&self, state: &dyn Session) -> DfResult<RecordBatch> {
        let aggregates = read_all(self.base.as_ref(), state).await?;
        let Some(procs) = &self.related else { return Err(DataFusionError::Internal("pg_proc missing".into())) };
        aggregates::convert(&aggregates, &read_all(procs.as_ref(), state).await?)
    }

    /// The crate's `pg_attribute` with the marked types of views' columns.
    async fn pg_attribute(&self, state: &dyn Session) -> DfResult<RecordBatch> {
        let attributes = read_all(self.base.as_ref(), state).await?;
        if let Some(class) = &self.related {
            read_all(class.as_ref(), state).await?;
        }
        let relations = self.relations.read().map_err(|_| poisoned())?;
        let catalog = self.catalog.read().map_err(|_| poisoned())?;
        let relids = column(&attributes, "attrelid")?.as_primitive::<Int32Type>();
        let names = as_string_array(column(&attributes, "attname")?)?;
        let types = column(&attributes, "atttypid")?.as_primitive::<Int32Type>();
        let corrected: Int32Array = (0..attributes.num_rows())
            .map(|i| {
                let view = relations.views.get(&relids.value(i)).and_then(|name| catalog.views.get(name));
                let field = view.and_then(|v| v.schema.field_with_name(names.value(i)).ok());
                let marked = field.and_then(marked_type).map(|t| t.oid() as i32);
                marked.or(types.is_valid(i).then(|| types.value(i)))
            })
            .collect();
        replace_column(&attributes, "atttypid", Arc::new(corrected))
    }

    /// `pg_matviews`: one row per materialized view.
    fn pg_matviews(&self) -> DfResult<RecordBatch> {
        let catalog = self.catalog.read().map_err(|_| poisoned())?;
        let names: Vec<&str> = catalog.views.keys().map(String::as_str).collect();
        let definitions: Vec<String> = catalog.views.values().map(|v| view_definition(&v.definition)).collect();
        let n = names.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![SCHEMA_NAME; n])),
            Arc::new(StringArray::from(names)),
            Arc::new(StringArray::from(vec![OWNER; n])),
            Arc::new(StringArray::from(vec![None::<&str>; n])),
            Arc::new(BooleanArray::from(vec![false; n])),
            Arc::new(BooleanArray::from(vec![true; n])),
            Arc::new(StringArray::from(definitions)),
        ];
        Ok(RecordBatch::try_new(self.schema(), columns)?)
    }

    /// `pg_settings`: the parameters sessions know, with their defaults (a session's own
    /// values are what SHOW and `current_setting` give). psql completes `SET` from it.
    fn pg_settings(&self) -> DfResult<RecordBatch> {
        let rows = Settings::defaults();
        type Row = (&'static str, &'static str, &'static str, bool);
        let text = |f: fn(&Row) -> &'static str| -> ArrayRef {
            Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
        };
        let schema = self.schema();
        let columns = schema
            .fields()
            .iter()
            .map(|field| match field.name().as_str() {
                "name" => text(|r| r.0),
                "setting" | "reset_val" | "boot_val" | "bool_val" => text(|r| r.1),
                "short_desc" => text(|r| r.2),
                "context" => text(|r| if r.3 { "user" } else { "internal" }),
                "vartype" => text(|_| "string"),
                "source" => text(|_| "default"),
                "pending_restart" => Arc::new(BooleanArray::from(vec![false; rows.len()])),
                _ => new_null_array(field.data_type(), rows.len()),
            })
            .collect();
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    fn view_names(&self) -> DfResult<HashSet<String>> {
        Ok(self.catalog.read().map_err(|_| poisoned())?.views.keys().cloned().collect())
    }
}

/// Columns of Postgres's `pg_class` that the crate's lacks and clients read (psql's `\d+`
/// reads `reloptions`, DBeaver `relacl`); they are always NULL in Sluice.
const MISSING_CLASS_COLUMNS: [&str; 2] = ["reloptions", "relacl"];

/// The crate's `pg_class` schema with the missing columns added.
fn class_schema(base: &SchemaRef) -> SchemaRef {
    let text_list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(MISSING_CLASS_COLUMNS.iter().map(|name| Field::new(*name, text_list.clone(), true)));
    Arc::new(Schema::new_with_metadata(fields, base.metadata().clone()))
}

/// `batch` with NULL columns appended up to `schema`.
fn with_missing_columns(batch: &RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    for field in &schema.fields()[columns.len()..] {
        columns.push(new_null_array(field.data_type(), batch.num_rows()));
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// A view's query as `pg_get_viewdef` prints it: a leading space, a trailing semicolon.
pub(super) fn view_definition(query: &impl std::fmt::Display) -> String {
    format!(" {query};")
}

/// Every row of `table`.
pub(super) async fn read_all(table: &dyn TableProvider, state: &dyn Session) -> DfResult<RecordBatch> {
    let plan = table.scan(state, None, &[], None).await?;
    let batches = collect(plan, state.task_ctx()).await?;
    Ok(arrow::compute::concat_batches(&table.schema(), &batches)?)
}

/// Schema names of `pg_namespace` rows by object id.
fn namespace_names(namespaces: &RecordBatch) -> DfResult<HashMap<i32, String>> {
    let oids = column(namespaces, "oid")?.as_primitive::<Int32Type>();
    let names = as_string_array(column(namespaces, "nspname")?)?;
    Ok((0..namespaces.num_rows()).map(|i| (oids.value(i), names.value(i).to_string())).collect())
}

pub(super) fn column<'a>(batch: &'a RecordBatch, name: &str) -> DfResult<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| DataFusionError::Internal(format!("pg_catalog table has no column {name}")))
}

pub(super) fn replace_column(batch: &RecordBatch, name: &str, values: ArrayRef) -> DfResult<RecordBatch> {
    let index = batch.schema().index_of(name)?;
    let mut columns = batch.columns().to_vec();
    columns[index] = values;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

pub(super) fn poisoned() -> DataFusionError {
    DataFusionError::Internal("pg_catalog lock poisoned".into())
}

impl std::fmt::Debug for Overlay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overlay").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OverlayTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverlayTable").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compat_qualifies_every_table_sluice_adds() {
        let added: Vec<&str> = constraint_tables::pg_catalog_names().chain(time_zones::NAMES).collect();
        let mut qualified = crate::sql::compat::SLUICE_PG_CATALOG_TABLES.to_vec();
        qualified.sort_unstable();
        let mut added = added;
        added.sort_unstable();
        assert_eq!(added, qualified);
    }
}
