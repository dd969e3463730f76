//! The threads Sluice runs on, and the stack each gets.
//!
//! ```text
//!  main: I/O runtime (accept loop, protocol messages, SUBSCRIBE fan-out)
//!          │ every statement: parse, plan, execute
//!          ▼
//!  engine: Workers (a runtime of its own: DataFusion's tasks, catalog changes)
//!  dataflow: two threads per pipeline (source, operators), connector decode threads
//! ```
//!
//! Statements never run on the threads that accept connections and move protocol
//! messages: the server hands each to [`Workers::run`], so one client's heavy query cannot
//! starve another's `SELECT 1`, and a cancel or a timeout drops the statement's task.
//! Every thread gets [`STACK_SIZE`] of stack: statements nest up to
//! `sql::limits::MAX_EXPRESSION_DEPTH` levels, and planning, optimizing and evaluating
//! such a tree recurses once per level. The stack is reserved address space; only the
//! pages a deep statement touches use memory.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

use crate::error::{Error, Result, from_panic};

/// The stack of every thread that parses, plans or evaluates SQL.
pub const STACK_SIZE: usize = 64 << 20;

/// The runtime of `sluice serve`'s front door: one worker per core, with [`STACK_SIZE`].
pub fn io_runtime() -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(cores())
        .thread_name("sluice-io")
        .thread_stack_size(STACK_SIZE)
        .enable_all()
        .build()
}

/// The number of cores this process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Tokio workers for statements beyond one per core: DataFusion runs a query's partitions
/// as tasks that can keep a worker busy for a while between yields; the spare ones keep
/// short statements answered meanwhile.
const SPARE_WORKERS: usize = 2;

/// The threads statements run on; owned by the engine.
pub(crate) struct Workers {
    /// Always Some until dropped.
    runtime: Option<Runtime>,
}

impl Workers {
    /// Starts the statement threads.
    pub(crate) fn start() -> Result<Workers> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(cores() + SPARE_WORKERS)
            .thread_name("sluice-worker")
            .thread_stack_size(STACK_SIZE)
            .enable_all()
            .build()?;
        Ok(Workers { runtime: Some(runtime) })
    }

    /// Runs `work` on the statement threads and waits for it. Dropping the returned future
    /// (a cancel request, a closed connection) aborts the work at its next await; a panic
    /// inside becomes an internal error.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let runtime = self.runtime.as_ref().ok_or_else(|| Error::Shutdown("the server is shutting down".into()))?;
        let mut task = AbortOnDrop(runtime.spawn(work));
        match (&mut task.0).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => Err(from_panic(e.into_panic())),
            Err(_) => Err(Error::Canceled),
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which is not allowed inside
        // another runtime; running statements are abandoned instead.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Spawns an OS thread with [`STACK_SIZE`] of stack.
pub(crate) fn spawn_thread<F>(name: String, f: F) -> std::io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new().name(name).stack_size(STACK_SIZE).spawn(f)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn work_runs_on_the_workers_and_panics_become_errors() {
        let io = io_runtime().expect("runtime");
        io.block_on(async {
            let workers = Workers::start().expect("workers");
            let name = workers.run(async { Ok(std::thread::current().name().map(str::to_string)) }).await;
            assert_eq!(name.expect("ran").as_deref(), Some("sluice-worker"));
            let panicked = workers.run(async { if true { panic!("boom") } else { Ok(()) } }).await;
            assert_eq!(panicked.expect_err("panicked").sqlstate(), "XX000");
        });
    }

    #[test]
    fn dropping_the_wait_aborts_the_work() {
        let io = io_runtime().expect("runtime");
        io.block_on(async {
            let workers = Workers::start().expect("workers");
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let waiting = workers.run(async move {
                let _keep = tx;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            });
            assert!(tokio::time::timeout(Duration::from_millis(50), waiting).await.is_err());
            // The task was aborted, so its end of the channel is gone.
            assert!(tokio::time::timeout(Duration::from_secs(5), rx).await.expect("aborted in time").is_err());
        });
    }
}
