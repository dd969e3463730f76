//! A view's or table's committed rows as their readers see them: the lock that keeps
//! queries to whole checkpoints, and the broadcast of every commit to subscriptions.
//!
//! The materialize operator (`super::materialize`) commits each checkpoint with the lock
//! held for writing and then sends the checkpoint's rows to subscribers; queries
//! (`crate::engine`'s `ViewTable`) read the stored rows with it held for reading, and
//! `SUBSCRIBE` subscribes while holding it, so a subscriber gets exactly the commits after
//! the rows it read. The catalog entry of the view owns it, next to its pipeline.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use arrow::record_batch::RecordBatch;
use tokio::sync::broadcast;

use crate::error::{Error, Result};

/// How many commits a subscriber may fall behind before it is cut off.
const SUBSCRIBER_BACKLOG: usize = 1024;

/// One committed checkpoint of a view, as subscribers see it.
#[derive(Debug)]
pub struct Commit {
    /// When it was committed (ms since the Unix epoch).
    pub at: i64,
    /// The rows: appended rows, or for a keyed view `key`, `live` and the view's columns
    /// (the last change per key; `live` false for deletes).
    pub block: RecordBatch,
}

/// The committed rows of one view or table, for its readers.
#[derive(Debug)]
pub struct Published {
    lock: RwLock<()>,
    commits: broadcast::Sender<Arc<Commit>>,
}

impl Default for Published {
    fn default() -> Self {
        Published { lock: RwLock::new(()), commits: broadcast::channel(SUBSCRIBER_BACKLOG).0 }
    }
}

impl Published {
    /// Holds the committed rows still: no checkpoint commits while the guard lives.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, ()>> {
        self.lock.read().map_err(|_| Error::Internal("view lock poisoned".into()))
    }

    /// Runs `commit` (which makes a checkpoint durable) with the lock held for writing,
    /// then sends the checkpoint's rows `block` to the subscribers there are.
    pub fn publish(&self, commit: impl FnOnce() -> Result<()>, block: RecordBatch) -> Result<()> {
        let _guard = self.lock.write().map_err(|_| Error::Internal("view lock poisoned".into()))?;
        commit()?;
        // Checked under the lock: a subscriber that arrived before it gets this commit.
        if self.commits.receiver_count() > 0 && block.num_rows() > 0 {
            let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
            let _ = self.commits.send(Arc::new(Commit { at: at as i64, block }));
        }
        Ok(())
    }

    /// Every commit from now on; call it holding [`Published::read`] to get exactly the
    /// commits after the rows read under it.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Commit>> {
        self.commits.subscribe()
    }

    /// How many subscriptions there are.
    pub fn subscribers(&self) -> usize {
        self.commits.receiver_count()
    }
}
