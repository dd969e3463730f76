//! Cancel requests for ordinary statements, and the statements they must not interrupt.
//!
//! A CancelRequest names a connection by its cancel key (given at startup, no password
//! needed, as in Postgres); pgwire's `DefaultCancelHandler` fires the signal that
//! connection registered for its running statement. For a `Query` or an `Execute`, pgwire
//! itself races the handler's `do_query` against that signal, so a cancel drops the
//! statement's future (DataFusion stops its tasks) and answers 57014 `canceling statement
//! due to user request`, leaving the connection usable. Push queries watch for cancels
//! themselves (`super::subscribe`, `super::portal`).
//!
//! What this module adds is the exception: Sluice cannot roll DDL back, so a statement
//! that changes the catalog (CREATE, DROP) must not be dropped halfway. Before
//! `super::connection` dispatches a message holding one, [`Shield::raise`] swaps the
//! connection's cancel handle for a private one that no CancelRequest can reach; such a
//! statement runs to the end, and a cancel meanwhile is ignored, as one arriving after a
//! statement ends is in Postgres. [`Shield::lower`] puts the real handle back.

use std::sync::Arc;

use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionHandle, DEFAULT_NAME};
use pgwire::messages::PgWireFrontendMessage;

use super::extended::Prepared;
use super::simple::ParsedQuery;
use crate::sql::Statement;

/// Whether a cancel may drop `statement` midway: true for those that only read.
pub(super) fn interruptible(statement: &Statement) -> bool {
    !statement.changes_catalog()
}

/// Holds a connection's real cancel handle while a statement runs shielded from cancels.
#[must_use = "lower the shield when the statement ends, or cancels stay ignored"]
pub(super) struct Shield(Option<Arc<ConnectionHandle>>, bool);

impl Shield {
    /// Shields the connection when `message` runs a statement that must not be
    /// interrupted; otherwise does nothing. A `Query`'s text comes `parsed`.
    pub(super) fn raise<S>(socket: &S, parsed: Option<&ParsedQuery>, message: &PgWireFrontendMessage) -> Shield
    where
        S: ClientInfo + ClientPortalStore,
        S::PortalStore: PortalStore<Statement = Prepared>,
    {
        if may_interrupt(socket, parsed, message) {
            return Shield(None, false);
        }
        // pgwire registers the statement's cancel signal with whatever handle it finds.
        let private = Arc::new(ConnectionHandle::new());
        let real = socket.session_extensions().insert::<Arc<ConnectionHandle>>(private);
        Shield(real.map(|handle| (*handle).clone()), true)
    }

    /// True when the statement runs shielded: it changes the catalog and must finish.
    pub(super) fn is_raised(&self) -> bool {
        self.1
    }

    /// Gives the connection its real cancel handle back.
    pub(super) fn lower<S: ClientInfo>(self, socket: &S) {
        if let Some(real) = self.0 {
            socket.session_extensions().insert::<Arc<ConnectionHandle>>(real);
        }
    }
}

/// False when `message` runs a statement that changes things: a Query with one among its
/// statements, or an Execute of a portal holding one.
fn may_interrupt<S>(socket: &S, parsed: Option<&ParsedQuery>, message: &PgWireFrontendMessage) -> bool
where
    S: ClientPortalStore,
    S::PortalStore: PortalStore<Statement = Prepared>,
{
    match message {
        // Text that does not parse fails at once: there is nothing to protect.
        PgWireFrontendMessage::Query(_) => {
            parsed.and_then(|p| p.statements.as_ref()).is_none_or(|all| all.iter().all(interruptible))
        }
        PgWireFrontendMessage::Execute(execute) => {
            let name = execute.name.as_deref().unwrap_or(DEFAULT_NAME);
            match socket.portal_store().get_portal(name) {
                Some(Entry::Value(portal)) => interruptible(portal.statement.statement.statement()),
                _ => true,
            }
        }
        _ => true,
    }
}
