//! Memory for ad-hoc queries: every statement's share of the server's query memory.
//!
//! All queries draw from one DataFusion memory pool of `--query-memory` bytes (made in
//! `Engine::open`). Each query also gets a [`StatementPool`] of its own in front of it,
//! holding at most the session's `statement_mem` (a Greenplum setting; default
//! `--statement-mem`), so one query cannot take the whole pool from everyone else. Going
//! over either fails the query with 53200; the server and the other queries go on.
//!
//! `Session::execute` sets the statement's share with [`with_statement_mem`]; the query
//! executor (`engine::query`) asks [`task_context`] for the context to run the plan in.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;

use crate::pg::settings::format_memory;

tokio::task_local! {
    /// The `statement_mem` of the statement running in this task, in bytes.
    static STATEMENT_MEM: usize;
}

/// Runs `work` with `bytes` as its statement's memory share.
pub(super) async fn with_statement_mem<F: Future>(bytes: usize, work: F) -> F::Output {
    STATEMENT_MEM.scope(bytes, work).await
}

/// The context to execute one query in: the session's, with a memory pool that holds at
/// most the statement's share (`default` outside a session) of the shared pool.
pub(super) fn task_context(ctx: &SessionContext, default: usize) -> Arc<TaskContext> {
    let limit = STATEMENT_MEM.try_with(|bytes| *bytes).unwrap_or(default);
    let state = ctx.state();
    let shared = state.runtime_env().clone();
    let pool = Arc::new(StatementPool { shared: shared.memory_pool.clone(), limit, used: AtomicUsize::new(0) });
    let runtime = RuntimeEnv { memory_pool: pool, ..(*shared).clone() };
    Arc::new(TaskContext::from(&state).with_runtime(Arc::new(runtime)))
}

/// One statement's view of the shared pool: everything goes to the shared pool, and
/// growing beyond `limit` is refused first.
#[derive(Debug)]
struct StatementPool {
    shared: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl fmt::Display for StatementPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "statement pool of {} bytes in {}", self.limit, self.shared)
    }
}

impl MemoryPool for StatementPool {
    fn name(&self) -> &str {
        "statement"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.shared.grow(reservation, additional);
        self.used.fetch_add(additional, Ordering::AcqRel);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.shared.shrink(reservation, shrink);
        self.used.fetch_sub(shrink, Ordering::AcqRel);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> DfResult<()> {
        let taken = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            used.checked_add(additional).filter(|total| *total <= self.limit)
        });
        if let Err(used) = taken {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the statement needs more than its statement_mem of {} ({} held, {} more asked for by {})",
                format_memory(self.limit),
                format_memory(used),
                format_memory(additional),
                reservation.consumer().name()
            )));
        }
        self.shared.try_grow(reservation, additional).inspect_err(|_| {
            self.used.fetch_sub(additional, Ordering::AcqRel);
        })
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    #[test]
    fn a_statement_cannot_take_more_than_its_share() {
        let shared: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1000));
        let pool: Arc<dyn MemoryPool> =
            Arc::new(StatementPool { shared: shared.clone(), limit: 300, used: AtomicUsize::new(0) });
        let a = MemoryConsumer::new("sort").register(&pool);
        a.try_grow(200).unwrap();
        let err = a.try_grow(200).unwrap_err().to_string();
        assert!(err.contains("statement_mem of 300B"), "{err}");
        assert_eq!((pool.reserved(), shared.reserved()), (200, 200));
        // The shared pool refuses too: the statement's count is given back.
        let other = MemoryConsumer::new("other").register(&shared);
        other.try_grow(750).unwrap();
        assert!(a.try_grow(90).is_err());
        assert_eq!((pool.reserved(), shared.reserved()), (200, 950));
        drop(a);
        assert_eq!((pool.reserved(), shared.reserved()), (0, 750));
    }
}
