//! What a running pipeline shares with the engine ([`PipelineStats`]): its status,
//! counters, recent bad records and source positions, and whether its stored rows were
//! found damaged. Its committed rows, for queries and subscriptions, are
//! `super::published`'s.
//!
//! The pipeline's threads (`super::pipeline`, `super::source`) and its materialize and
//! sink operators write it; the engine reads it for SHOW, system tables, queries and
//! SUBSCRIBE.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::connector::{BadRecord, SourceStatus};
use crate::error::{Error, Result};

/// How many recent bad records a view remembers for `sluice_catalog.source_errors`.
const RECENT_BAD: usize = 100;

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
    /// Run by another node of the cluster; this node applies what it commits.
    Standby,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Running => write!(f, "running"),
            Status::Finished => write!(f, "finished"),
            Status::Retrying(e) => write!(f, "retrying: {e}"),
            Status::Failed(e) => write!(f, "failed: {e}"),
            Status::Standby => write!(f, "standby"),
        }
    }
}

/// The status and counters of one pipeline; shared with the engine for SHOW and system
/// views.
#[derive(Debug)]
pub struct PipelineStats {
    /// What the source of each shard running here counted, by shard (0 for a pipeline
    /// that reads its input whole); the view's counters on this node are their sums.
    counters: Mutex<BTreeMap<u16, Arc<SourceCounters>>>,
    /// Last durable checkpoint.
    pub committed_epoch: AtomicU64,
    /// Memory the operators' state takes (counted against the `super::budget::StateBudget`).
    pub state_bytes: AtomicU64,
    /// The most recent bad records.
    pub recent_bad: Mutex<VecDeque<BadRecord>>,
    /// Where each input's source reader stands (refreshed by the source thread), by the
    /// shard reading it (0 for a pipeline that reads its input whole).
    pub source: Mutex<BTreeMap<u16, Vec<SourceStatus>>>,
    /// Set when the pipeline is being stopped; operators that wait (a sink retrying) give up.
    pub stopping: AtomicBool,
    /// Where the view's stored data was found damaged, once it was: queries are refused.
    damage: Mutex<Option<String>>,
    status: watch::Sender<Status>,
}

impl Default for PipelineStats {
    fn default() -> Self {
        PipelineStats {
            counters: Mutex::default(),
            committed_epoch: AtomicU64::new(0),
            state_bytes: AtomicU64::new(0),
            recent_bad: Mutex::new(VecDeque::new()),
            source: Mutex::default(),
            stopping: AtomicBool::new(false),
            damage: Mutex::new(None),
            status: watch::channel(Status::Running).0,
        }
    }
}

/// What the source of one shard of a pipeline has counted over its life (restored from
/// the shard's checkpoints), and where its watermark stands.
#[derive(Debug)]
pub struct SourceCounters {
    /// Rows read from the source (good ones).
    pub rows_read: AtomicU64,
    /// Source records that could not be decoded.
    pub bad_rows: AtomicU64,
    /// Rows dropped because their event time was behind the watermark.
    pub late_rows: AtomicU64,
    /// Current watermark (ms since epoch; `i64::MIN` before any row).
    pub watermark: AtomicI64,
}

impl Default for SourceCounters {
    fn default() -> Self {
        SourceCounters {
            rows_read: AtomicU64::new(0),
            bad_rows: AtomicU64::new(0),
            late_rows: AtomicU64::new(0),
            watermark: AtomicI64::new(i64::MIN),
        }
    }
}

impl PipelineStats {
    /// The counters of shard `shard`'s source (0: of a pipeline reading its input whole),
    /// which its source thread restores and advances.
    pub fn counters(&self, shard: u16) -> Arc<SourceCounters> {
        match self.counters.lock() {
            Ok(mut all) => all.entry(shard).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Forgets shard `shard`, which runs on another node now: its counters and where its
    /// source stands.
    pub fn forget_shard(&self, shard: u16) {
        if let Ok(mut counters) = self.counters.lock() {
            counters.remove(&shard);
        }
        if let Ok(mut sources) = self.source.lock() {
            sources.remove(&shard);
        }
    }

    /// `count` summed over the shards running here.
    fn total(&self, count: impl Fn(&SourceCounters) -> &AtomicU64) -> u64 {
        let all = self.counters.lock();
        all.map(|all| all.values().map(|c| count(c).load(Ordering::Relaxed)).sum()).unwrap_or(0)
    }

    /// Rows read from the source (good ones), by the shards running here.
    pub fn rows_read(&self) -> u64 {
        self.total(|c| &c.rows_read)
    }

    /// Source records that could not be decoded, by the shards running here.
    pub fn bad_rows(&self) -> u64 {
        self.total(|c| &c.bad_rows)
    }

    /// Rows dropped as late, by the shards running here.
    pub fn late_rows(&self) -> u64 {
        self.total(|c| &c.late_rows)
    }

    /// The least watermark of the shards running here (ms since epoch; `i64::MIN` while
    /// one of them has none, or none runs).
    pub fn watermark(&self) -> i64 {
        let all = self.counters.lock();
        all.ok().and_then(|all| all.values().map(|c| c.watermark.load(Ordering::Relaxed)).min()).unwrap_or(i64::MIN)
    }

    /// Counts bad records of shard `shard` (0: of a pipeline reading its input whole) and
    /// remembers them.
    pub fn record_bad(&self, shard: u16, bad: Vec<BadRecord>) {
        self.counters(shard).bad_rows.fetch_add(bad.len() as u64, Ordering::Relaxed);
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

    /// Status changes from now on.
    pub(super) fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    pub(crate) fn set_status(&self, status: Status) {
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
