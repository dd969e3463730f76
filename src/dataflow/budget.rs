//! The memory budget of pipeline state: what the operators of every view, table and sink
//! keep in memory (groups and their accumulators, the rows a join or top-N keeps, open
//! sessions, table indexes), counted against one limit for the whole server
//! (`--state-memory`), apart from the query memory of ad-hoc statements.
//!
//! The engine makes one [`StateBudget`] and hands it to every pipeline it starts. The
//! pipeline's operator thread holds a [`Reservation`] and sets it to its flow's
//! [`super::flow::Flow::state_bytes`] after every message. A pipeline whose state grows
//! while all pipelines together hold more than the limit fails with 53200; the others keep
//! running, and its memory is returned when its thread ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

/// The state memory all pipelines may hold together.
#[derive(Debug)]
pub struct StateBudget {
    limit: usize,
    used: AtomicUsize,
}

impl StateBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<StateBudget> {
        Arc::new(StateBudget { limit, used: AtomicUsize::new(0) })
    }

    /// What all pipelines hold now.
    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// A reservation of nothing yet, for the pipeline of `view`.
    pub fn reserve(self: &Arc<Self>, view: &str) -> Reservation {
        Reservation { budget: self.clone(), view: view.to_string(), held: 0 }
    }
}

/// One pipeline's share of the [`StateBudget`]; returned when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<StateBudget>,
    view: String,
    held: usize,
}

impl Reservation {
    /// Notes that the pipeline's state now takes `bytes`. Fails when it grew and all
    /// pipelines together now hold more than the limit.
    pub fn set(&mut self, bytes: usize) -> Result<()> {
        let used = &self.budget.used;
        if bytes <= self.held {
            used.fetch_sub(self.held - bytes, Ordering::Relaxed);
            self.held = bytes;
            return Ok(());
        }
        let total = used.fetch_add(bytes - self.held, Ordering::Relaxed) + (bytes - self.held);
        self.held = bytes;
        if total <= self.budget.limit {
            return Ok(());
        }
        Err(Error::StateMemory {
            detail: format!(
                "\"{}\" holds {} of state; all pipelines together hold {} and may hold {} (--state-memory).",
                self.view,
                mib(bytes),
                mib(total),
                mib(self.budget.limit)
            ),
        })
    }

    /// What the pipeline holds.
    pub fn held(&self) -> usize {
        self.held
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.held, Ordering::Relaxed);
    }
}

/// `bytes` in MiB, for messages.
fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_that_grows_past_the_limit_fails_and_returns_its_memory() {
        let budget = StateBudget::new(1000);
        let (mut a, mut b) = (budget.reserve("a"), budget.reserve("b"));
        a.set(600).unwrap();
        b.set(300).unwrap();
        a.set(500).unwrap();
        assert_eq!(budget.used(), 800);
        let err = b.set(600).unwrap_err();
        assert_eq!(err.sqlstate(), "53200");
        assert!(err.detail().unwrap().starts_with("\"b\" holds 0.0 MiB of state"), "{:?}", err.detail());
        a.set(400).unwrap();
        assert_eq!(budget.used(), 1000, "shrinking is always allowed");
        drop(b);
        assert_eq!((budget.used(), a.held()), (400, 400), "a dropped reservation is returned");
    }
}
