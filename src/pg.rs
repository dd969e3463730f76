//! Postgres emulation: what clients, drivers and BI tools read to learn about a Postgres
//! server, and the Postgres functions DataFusion lacks.
//!
//! - `pg_catalog` and `information_schema` (with `constraint_tables` and the helpers of
//!   `functions`: `pg_get_viewdef`, `to_regclass`, `version()`, ...) describe the objects of
//!   Sluice's [`crate::catalog::Catalog`] as Postgres' system catalogs would, read live on
//!   every query;
//! - `settings` holds a session's settings (`SET`, `SHOW`, `pg_settings`) with Postgres'
//!   names, defaults and units;
//! - `to_char`, `string_functions`, `json_functions`, `array_functions`, `type_of`,
//!   `function_aliases` and `value_limits` add Postgres' scalar functions and its limits on
//!   values.
//!
//! The engine calls [`register`] once, on its DataFusion context, and asks `settings` about
//! each session's values. This module reads the catalog and Sluice's type marks
//! (`crate::sql::types`); it knows nothing of pipelines, the store or the wire protocol.

mod array_functions;
mod constraint_tables;
mod function_aliases;
pub(crate) mod functions;
mod information_schema;
mod json_functions;
mod pg_catalog;
pub(crate) mod settings;
mod string_functions;
mod to_char;
mod type_of;
mod value_limits;

use std::sync::{Arc, RwLock};

use datafusion::execution::context::SessionContext;

use crate::catalog::Catalog;
use crate::error::Result;

/// The Postgres version Sluice reports; clients pick SQL dialect features by it.
pub(crate) const SERVER_VERSION: &str = "16.6";
/// [`SERVER_VERSION`] as `server_version_num` gives it.
pub(crate) const SERVER_VERSION_NUM: &str = "160006";

/// Adds the system catalogs and Postgres' functions to `ctx`, describing `catalog`.
pub(crate) fn register(ctx: &SessionContext, catalog: &Arc<RwLock<Catalog>>) -> Result<()> {
    let (relations, type_oids) = pg_catalog::register(ctx, catalog)?;
    functions::register(ctx, relations, catalog.clone(), type_oids);
    information_schema::register(ctx, catalog)?;
    json_functions::register(ctx);
    string_functions::register(ctx);
    to_char::register(ctx);
    function_aliases::register(ctx);
    array_functions::register(ctx);
    value_limits::register(ctx);
    Ok(())
}
