//! Connection slots: how many client sockets are open, against `max_connections`.
//!
//! `server::Listener` takes a [`Slot`] for every accepted socket and closes the socket at
//! once when even the few refusal slots beyond the limit are taken (a flood must not use
//! up the process's file descriptors). The startup handler refuses a client with FATAL
//! 53300 when more sockets than `max_connections` are open, as Postgres does, so that a
//! client learns why; the slot is given back when the connection's task ends. The last
//! `superuser_reserved_connections` slots are for superusers (53300 for anyone else), so
//! an operator can still get in when clients have taken every other slot.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The count of open client sockets.
#[derive(Debug)]
pub(super) struct Slots {
    /// Sockets accepted and not yet closed.
    in_use: AtomicUsize,
    /// Clients allowed at once.
    max: usize,
    /// Of those, how many only superusers may take (`superuser_reserved_connections`).
    reserved: usize,
}

/// One open socket's place; given back on drop.
#[derive(Debug)]
pub(super) struct Slot(Arc<Slots>);

impl Slots {
    /// Room for `max` clients, the last `reserved` of them for superusers.
    pub(super) fn new(max: usize, reserved: usize) -> Arc<Slots> {
        Arc::new(Slots { in_use: AtomicUsize::new(0), max, reserved: reserved.min(max) })
    }

    /// A slot for a new socket; None when `max` plus `refusals` sockets are open already.
    pub(super) fn take(self: &Arc<Self>, refusals: usize) -> Option<Slot> {
        let limit = self.max.saturating_add(refusals);
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .ok()
            .map(|_| Slot(self.clone()))
    }

    /// True while more sockets are open than clients are allowed.
    pub(super) fn over_limit(&self) -> bool {
        self.in_use.load(Ordering::Acquire) > self.max
    }

    /// True while a client that is not a superuser would take a reserved slot: as in
    /// Postgres, fewer than `reserved` slots are free besides the one it holds.
    pub(super) fn only_reserved_left(&self) -> bool {
        self.in_use.load(Ordering::Acquire) > self.max - self.reserved
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_sockets_and_come_back() {
        let slots = Slots::new(2, 0);
        let a = slots.take(1).expect("first");
        let _b = slots.take(1).expect("second");
        assert!(!slots.over_limit());
        let c = slots.take(1).expect("a refusal slot");
        assert!(slots.over_limit());
        assert!(slots.take(1).is_none(), "no slot left at all");
        drop(c);
        drop(a);
        assert!(!slots.over_limit());
        assert!(slots.take(1).is_some());
    }

    #[test]
    fn the_last_slots_are_for_superusers() {
        let slots = Slots::new(3, 1);
        let _a = slots.take(0).expect("first");
        let _b = slots.take(0).expect("second");
        assert!(!slots.only_reserved_left(), "two of three taken: the unreserved are not all gone");
        let _c = slots.take(0).expect("third");
        assert!(slots.only_reserved_left(), "the third is the reserved one");
        assert!(!slots.over_limit(), "a superuser may have it");
    }
}
