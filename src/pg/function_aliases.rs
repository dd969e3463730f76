//! Postgres's names for functions DataFusion has under another name: `sign` (DataFusion's
//! `signum`), `ceiling` (`ceil`) and the aggregate `variance` (`var_samp`).
//!
//! Registered by `Engine::open`.

use datafusion::execution::context::SessionContext;
use datafusion::functions::math;
use datafusion::functions_aggregate::variance::var_samp_udaf;

/// Registers the functions again with their Postgres names as aliases.
pub(super) fn register(ctx: &SessionContext) {
    ctx.register_udf(math::signum().as_ref().clone().with_aliases(["sign"]));
    ctx.register_udf(math::ceil().as_ref().clone().with_aliases(["ceiling"]));
    ctx.register_udaf(var_samp_udaf().as_ref().clone().with_aliases(["variance"]));
}
