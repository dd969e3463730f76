//! Starting, flushing and stopping the pipeline of one materialized view.
//!
//! A pipeline is two threads: the source stage ([`super::source`]) and its operators (a
//! [`Flow`]), joined by a bounded channel. The engine owns a [`Pipeline`] per view; it asks it to flush
//! (`FLUSH`, and before queries in `sluice run`), reads its [`ViewStats`], and stops it on
//! DROP or shutdown. A pipeline that fails keeps the view's last committed contents and
//! reports the error in its stats; it never takes the server down. One whose checkpoint
//! could not be written fails the same way (the `FLUSH` waiting on it gets the error). A
//! view whose stored data is found damaged, by its pipeline or by a query, is marked
//! corrupted in its stats: failed in `SHOW`, and refused to queries (XX001) until dropped.
//! A view whose restore failed at start-up gets a [`Pipeline::failed`] without threads, so
//! it is listed and can be dropped. The operators' state counts against the server's
//! [`StateBudget`]; a pipeline that grows beyond it fails like any other.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arrow::record_batch::RecordBatch;
use tokio::sync::{broadcast, oneshot, watch};
use tracing::{error, info};

use super::budget::{Reservation, StateBudget};
use super::flow::Flow;
use super::source::{Control, Routed, SourceTask};
use super::{Message, StateReader};
use crate::connector::{BadRecord, SourceStatus};
use crate::error::{Error, Result};
use crate::state::Store;

/// How many recent bad records a view remembers for `sluice_catalog.source_errors`.
const RECENT_BAD: usize = 100;
/// How long FLUSH waits for the status of a pipeline that dropped its checkpoint.
const ACK_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// Messages in flight between the source and the operators.
const CHANNEL_DEPTH: usize = 8;

/// Where a pipeline is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Processing (or waiting for) input.
    Running,
    /// A bounded input was fully processed.
    Finished,
    /// Waiting for an external system to come back (a sink's broker), retrying.
    Retrying(String),
    /// Stopped by an error.
    Failed(String),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Running => write!(f, "running"),
            Status::Finished => write!(f, "finished"),
            Status::Retrying(e) => write!(f, "retrying: {e}"),
            Status::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// Counters of one view's pipeline; shared with the engine for SHOW and system views.
#[derive(Debug)]
pub struct ViewStats {
    /// Rows read from the source (good ones).
    pub rows_read: AtomicU64,
    /// Source records that could not be decoded.
    pub bad_rows: AtomicU64,
    /// Rows dropped because their event time was behind the watermark.
    pub late_rows: AtomicU64,
    /// Current watermark (ms since epoch; `i64::MIN` before any row).
    pub watermark: AtomicI64,
    /// Last durable checkpoint.
    pub committed_epoch: AtomicU64,
    /// Memory the operators' state takes (counted against the [`StateBudget`]).
    pub state_bytes: AtomicU64,
    /// The most recent bad records.
    pub recent_bad: Mutex<VecDeque<BadRecord>>,
    /// Where each input's source reader stands (refreshed by the source thread).
    pub source: Mutex<Vec<SourceStatus>>,
    /// Held for writing while a checkpoint commits and for reading while a query scans the
    /// view, so queries see whole checkpoints only.
    pub rows_lock: std::sync::RwLock<()>,
    /// Set when the pipeline is being stopped; operators that wait (a sink retrying) give up.
    pub stopping: AtomicBool,
    /// Every committed checkpoint's block of view rows, for subscriptions (`SUBSCRIBE`).
    /// Sent while the rows lock is held for writing, so a subscriber that subscribes while
    /// holding it for reading sees exactly the commits after the rows it read.
    pub commits: broadcast::Sender<Arc<Commit>>,
    /// Where the view's stored data was found damaged, once it was: queries are refused.
    damage: Mutex<Option<String>>,
    status: watch::Sender<Status>,
}

/// One committed checkpoint of a view, as subscribers see it.
#[derive(Debug)]
pub struct Commit {
    /// When it was committed (ms since the Unix epoch).
    pub at: i64,
    /// The rows: appended rows, or for a keyed view `key`, `live` and the view's columns
    /// (the last change per key; `live` false for deletes).
    pub block: RecordBatch,
}

/// How many commits a subscriber may fall behind before it is cut off.
const SUBSCRIBER_BACKLOG: usize = 1024;

impl Default for ViewStats {
    fn default() -> Self {
        ViewStats {
            rows_read: AtomicU64::new(0),
            bad_rows: AtomicU64::new(0),
            late_rows: AtomicU64::new(0),
            watermark: AtomicI64::new(i64::MIN),
            committed_epoch: AtomicU64::new(0),
            state_bytes: AtomicU64::new(0),
            recent_bad: Mutex::new(VecDeque::new()),
            source: Mutex::new(Vec::new()),
            rows_lock: std::sync::RwLock::new(()),
            stopping: AtomicBool::new(false),
            commits: broadcast::channel(SUBSCRIBER_BACKLOG).0,
            damage: Mutex::new(None),
            status: watch::channel(Status::Running).0,
        }
    }
}

impl ViewStats {
    /// Counts and remembers bad records.
    pub fn record_bad(&self, bad: Vec<BadRecord>) {
        self.bad_rows.fetch_add(bad.len() as u64, Ordering::Relaxed);
        if let Ok(mut recent) = self.recent_bad.lock() {
            for record in bad {
                if recent.len() == RECENT_BAD {
                    recent.pop_front();
                }
                recent.push_back(record);
            }
        }
    }

    /// Notes a durable checkpoint.
    pub fn committed(&self, epoch: u64) {
        self.committed_epoch.store(epoch, Ordering::Relaxed);
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    fn set_status(&self, status: Status) {
        self.status.send_replace(status);
    }

    /// Notes that the view's stored data is damaged (`error` is an [`Error::Corrupted`]):
    /// its status becomes failed, and queries of it are refused from now on.
    pub fn mark_corrupted(&self, error: &Error) {
        let detail = error.detail().unwrap_or_default();
        if let Ok(mut damage) = self.damage.lock() {
            damage.get_or_insert_with(|| detail.clone());
        }
        self.set_status(Status::Failed(format!("{error} ({detail})")));
    }

    /// Fails with XX001 naming `what` (the view, as users call it) once its stored data
    /// was found damaged.
    pub fn check_readable(&self, what: &str) -> Result<()> {
        match self.damage.lock().ok().and_then(|d| d.clone()) {
            Some(detail) => Err(Error::Corrupted { what: what.to_string(), detail }),
            None => Ok(()),
        }
    }

    /// `error`, from reading the view's stored rows; damage found there is reported naming
    /// `what` and marks the view corrupted.
    pub fn read_failed(&self, what: &str, error: Error) -> Error {
        if !error.is_corrupted() {
            return error;
        }
        let error = error.corrupting(what);
        self.mark_corrupted(&error);
        error
    }

    /// Notes that an operator is waiting for an external system (`Some(why)`), or no longer.
    pub fn set_retrying(&self, why: Option<String>) {
        self.status.send_if_modified(|s| match (&*s, why) {
            (Status::Running | Status::Retrying(_), Some(why)) => {
                *s = Status::Retrying(why);
                true
            }
            (Status::Retrying(_), None) => {
                *s = Status::Running;
                true
            }
            _ => false,
        });
    }
}

/// A running view pipeline.
pub struct Pipeline {
    name: String,
    control: Sender<Control>,
    stats: Arc<ViewStats>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Pipeline {
    /// Restores state from `store` and starts the threads of view `view`, its state counted
    /// against `budget`.
    pub fn start(
        name: &str,
        view: u64,
        source: SourceTask,
        flow: Flow,
        store: Store,
        budget: &Arc<StateBudget>,
    ) -> Result<Pipeline> {
        let stats = source.stats.clone();
        let (control_tx, control_rx) = mpsc::channel();
        let (data_tx, data_rx) = mpsc::sync_channel(CHANNEL_DEPTH);
        let mut flow = flow;
        flow.open(&store, view, &mut 1)?;
        let source_thread = {
            let (stats, store, name) = (stats.clone(), store.clone(), name.to_string());
            crate::runtime::spawn_thread(format!("src-{name}"), move || {
                let state = StateReader { store: &store, view, operator: 0 };
                let result = catch_panic(|| source.run(&state, control_rx, data_tx));
                if let Err(e) = result {
                    fail(&name, &stats, e);
                }
            })?
        };
        let operator_thread = {
            let (stats, name) = (stats.clone(), name.to_string());
            let memory = budget.reserve(name.as_str());
            crate::runtime::spawn_thread(format!("ops-{name}"), move || {
                let result = catch_panic(|| run_operators(data_rx, flow, memory, &stats));
                stats.state_bytes.store(0, Ordering::Relaxed);
                match result {
                    Ok(true) => stats.set_status(Status::Finished),
                    Ok(false) => {}
                    Err(e) => fail(&name, &stats, e),
                }
            })?
        };
        info!(view = %name, "pipeline started");
        Ok(Pipeline {
            name: name.to_string(),
            control: control_tx,
            stats,
            threads: Mutex::new(vec![source_thread, operator_thread]),
        })
    }

    /// The stand-in pipeline of a view whose restore at start-up failed with `error`: no
    /// threads, status failed, so the view is listed in SHOW and DROP removes it.
    pub fn failed(name: &str, stats: Arc<ViewStats>, error: &Error) -> Pipeline {
        if error.is_corrupted() {
            stats.mark_corrupted(error);
        } else {
            stats.set_status(Status::Failed(error.to_string()));
        }
        Pipeline { name: name.to_string(), control: mpsc::channel().0, stats, threads: Mutex::new(Vec::new()) }
    }

    /// Counters and status.
    pub fn stats(&self) -> &Arc<ViewStats> {
        &self.stats
    }

    /// Waits until everything the source can read now is processed and durably committed.
    /// Returns at once for a finished pipeline, and as soon as it waits for an external
    /// system (SHOW SINKS tells); fails for a failed one.
    pub async fn flush(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        let mut status = self.stats.status.subscribe();
        let mut acked = true;
        if self.stats.status() == Status::Running {
            if self.control.send(Control::Flush(tx)).is_ok() {
                acked = tokio::select! {
                    ack = rx => ack.is_ok(),
                    _ = status.wait_for(|s| *s != Status::Running) => true,
                };
                if !acked {
                    // The checkpoint was dropped, not committed: the pipeline failed or
                    // stopped; its status says which once its thread has set it.
                    let _ = tokio::time::timeout(ACK_GRACE, status.wait_for(|s| *s != Status::Running)).await;
                }
            } else if !self.stats.stopping.load(Ordering::Relaxed) {
                // The source has read a bounded input to its end and left; its last
                // checkpoint may still be on its way through the operators.
                let _ = status.wait_for(|s| *s != Status::Running).await;
            }
        }
        match self.stats.status() {
            Status::Failed(reason) => Err(Error::Connector(format!("view \"{}\" failed: {reason}", self.name))),
            // The input ended while the flush was on its way, and the operators committed
            // all of it before they finished: what the flush waited for is durable.
            Status::Finished => Ok(()),
            _ if !acked => {
                Err(Error::Shutdown(format!("view \"{}\" stopped before its checkpoint was durable", self.name)))
            }
            _ => Ok(()),
        }
    }

    /// Waits until a bounded input has been processed completely.
    pub async fn finished(&self) -> Result<()> {
        let mut status = self.stats.status.subscribe();
        let _ = status.wait_for(|s| *s != Status::Running).await;
        self.flush().await
    }

    /// Stops both threads and waits for them, so nothing is written for this view afterwards.
    pub async fn stop(&self) {
        self.stats.stopping.store(true, Ordering::Relaxed);
        let _ = self.control.send(Control::Stop);
        let threads: Vec<_> = self.threads.lock().map(|mut t| t.drain(..).collect()).unwrap_or_default();
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

/// Runs `f`, turning a panic into an internal error so a bug fails one view, not the server.
fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(panic) => Err(crate::error::from_panic(panic)),
    }
}

fn fail(name: &str, stats: &ViewStats, e: Error) {
    if matches!(e, Error::Shutdown(_)) {
        return;
    }
    if e.is_corrupted() {
        let e = e.corrupting(format!("the checkpoint of \"{name}\""));
        error!(view = %name, error = %e, detail = e.detail().unwrap_or_default(), "pipeline failed: data corrupted");
        stats.mark_corrupted(&e);
        return;
    }
    let reason = match e.detail() {
        Some(detail) => format!("{e} ({detail})"),
        None => e.to_string(),
    };
    error!(view = %name, error = %reason, "pipeline failed");
    stats.set_status(Status::Failed(reason));
}

/// Runs messages through the operators, keeping `memory` and the stats at the size of
/// their state. Returns true when the input ended.
fn run_operators(input: Receiver<Routed>, mut flow: Flow, mut memory: Reservation, stats: &ViewStats) -> Result<bool> {
    let mut out = Vec::new();
    let mut account = |flow: &Flow| {
        let bytes = flow.state_bytes();
        if bytes != memory.held() {
            stats.state_bytes.store(bytes as u64, Ordering::Relaxed);
            memory.set(bytes)?;
        }
        Ok::<_, Error>(())
    };
    account(&flow)?;
    while let Ok((from, msg)) = input.recv() {
        let end = matches!(msg, Message::End);
        flow.push(from, msg, &mut out)?;
        out.clear();
        account(&flow)?;
        if end {
            return Ok(true);
        }
    }
    Ok(false)
}
