//! Serving push queries (`SUBSCRIBE`, `SELECT ... EMIT CHANGES`) over the extended query
//! protocol: Execute on a portal bound to one streams its rows as they are committed.
//!
//! Parse, Bind and Describe go through pgwire as for any statement (the engine describes a
//! push query as `op, commit_ts, <columns>`). The connection loop (`super::connection`)
//! hands Execute on such a portal here, because pgwire's Execute neither flushes rows as
//! they come nor watches for a cancel while it fetches. The first Execute starts the query
//! and keeps its rows in the portal's state (pgwire's `Suspended` state, as a lazily
//! encoded `QueryResponse`), so the query lives exactly as long as the portal: Close, the
//! Sync that ends an unnamed portal, or the connection closing drops it. Each Execute sends
//! rows as they arrive, flushing whenever no row is ready; with a row limit it stops after
//! that many with PortalSuspended and the next Execute goes on from there. A cancel ends
//! it with 57014 (the caller sends the error and waits for Sync) and finishes the portal.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::{FutureExt, Sink, SinkExt, StreamExt, stream};
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::results::{QueryResponse, Tag};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientPortalStore, DEFAULT_NAME};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::extendedquery::{Execute, PortalSuspended};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tracing::info;

use super::errors::pg_error;
use super::extended::Prepared;
use super::subscribe::{ClientSocket, Ended, Waited, cancel_signal, canceled, stream, wait};
use super::types::{encode, fields};
use crate::engine::{Engine, PushQuery};
use crate::sql::Subscribe;

/// The portal `execute` names and its push query, if it holds one.
pub(super) fn push_portal<S>(socket: &S, execute: &Execute) -> Option<(Arc<Portal<Prepared>>, Subscribe)>
where
    S: ClientPortalStore,
    S::PortalStore: PortalStore<Statement = Prepared>,
{
    let name = execute.name.as_deref().unwrap_or(DEFAULT_NAME);
    let Some(Entry::Value(portal)) = socket.portal_store().get_portal(name) else { return None };
    let stmt = portal.statement.statement.subscription()?.clone();
    Some((portal, stmt))
}

/// How one Execute ended.
enum Pumped {
    /// The row limit was reached: the query goes on at the next Execute.
    Suspended,
    /// The query ended (it cannot, unless its rows stopped) after this many rows.
    Ended(usize),
    /// The client left.
    Left,
}

/// Runs Execute (with `max_rows`, 0 for no limit) on `portal`, which holds `stmt`. Returns
/// false when the client went away; an error ends the query and is the caller's to send.
pub(super) async fn execute(
    socket: &mut impl ClientSocket,
    engine: &Engine,
    (portal, stmt): (Arc<Portal<Prepared>>, Subscribe),
    max_rows: usize,
    backlog: &mut VecDeque<PgWireFrontendMessage>,
) -> PgWireResult<bool> {
    let (_never, mut cancelled) = cancel_signal(socket).await;
    if stmt.copy {
        return copy_out(socket, engine, &stmt, &mut cancelled, backlog).await;
    }
    let state = portal.state();
    let mut state = state.lock().await;
    if matches!(*state, PortalExecutionState::Initial) {
        let query = match wait(socket, engine.push(&stmt), &mut cancelled, backlog).await {
            Waited::Item(query) => query.map_err(pg_error)?,
            Waited::Cancelled => return Err(PgWireError::UserError(Box::new(canceled()))),
            Waited::Left => return Ok(false),
        };
        info!(relation = %query.relation(), portal = %portal.name, "push query started on a portal");
        *state = PortalExecutionState::Suspended(rows(query, &portal.result_column_format)?);
    }
    let PortalExecutionState::Suspended(response) = &mut *state else {
        return complete(socket, 0).await.map(|_| true);
    };
    let pumped = pump(socket, response, max_rows, &mut cancelled, backlog).await;
    match pumped {
        Ok(Pumped::Suspended) => {
            socket.send(PgWireBackendMessage::PortalSuspended(PortalSuspended::new())).await?;
            Ok(true)
        }
        Ok(Pumped::Ended(n)) => {
            *state = PortalExecutionState::Finished;
            complete(socket, n).await.map(|_| true)
        }
        Ok(Pumped::Left) => Ok(false),
        Err(e) => {
            *state = PortalExecutionState::Finished;
            Err(e)
        }
    }
}

/// Runs Execute on a portal holding `COPY (SUBSCRIBE ...) TO STDOUT`: as in Postgres, one
/// Execute sends the whole COPY (CopyOutResponse, then CopyData as rows commit), whatever
/// its row limit, until a cancel (57014) or an error ends it.
async fn copy_out(
    socket: &mut impl ClientSocket,
    engine: &Engine,
    stmt: &Subscribe,
    cancelled: &mut futures::channel::oneshot::Receiver<()>,
    backlog: &mut VecDeque<PgWireFrontendMessage>,
) -> PgWireResult<bool> {
    match stream(socket, engine, stmt, cancelled, backlog).await? {
        Ended::Error(error) => Err(PgWireError::UserError(error)),
        Ended::Left => Ok(false),
    }
}

/// Sends the rows of `response` until `max_rows` are sent (0: no limit), flushing
/// whenever the next row is not ready yet.
async fn pump(
    socket: &mut impl ClientSocket,
    response: &mut QueryResponse,
    max_rows: usize,
    cancelled: &mut futures::channel::oneshot::Receiver<()>,
    backlog: &mut VecDeque<PgWireFrontendMessage>,
) -> PgWireResult<Pumped> {
    let rows = response.data_rows();
    let mut sent = 0;
    while max_rows == 0 || sent < max_rows {
        let row = match rows.next().now_or_never() {
            Some(row) => row,
            None => {
                socket.flush().await?;
                match wait(socket, rows.next(), cancelled, backlog).await {
                    Waited::Item(row) => row,
                    Waited::Cancelled => return Err(PgWireError::UserError(Box::new(canceled()))),
                    Waited::Left => return Ok(Pumped::Left),
                }
            }
        };
        let Some(row) = row else { return Ok(Pumped::Ended(sent)) };
        socket.feed(PgWireBackendMessage::DataRow(row?)).await?;
        sent += 1;
    }
    Ok(Pumped::Suspended)
}

/// CommandComplete for a query that ended after `rows` rows.
async fn complete<S>(socket: &mut S, rows: usize) -> PgWireResult<()>
where
    S: Sink<PgWireBackendMessage> + Unpin,
    PgWireError: From<<S as Sink<PgWireBackendMessage>>::Error>,
{
    let tag = Tag::new("SELECT").with_rows(rows);
    socket.send(PgWireBackendMessage::CommandComplete(tag.into())).await?;
    Ok(())
}

/// The rows of `query`, encoded in `format` batch by batch as they are pulled; the error
/// that ends the query is the last item.
fn rows(query: PushQuery, format: &Format) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(fields(&query.schema(), format)?);
    let encoder = fields.clone();
    let batches = stream::unfold(Some(query), |query| async move {
        let mut query = query?;
        match query.next().await {
            Ok(batch) => Some((Ok(batch), Some(query))),
            Err(e) => Some((Err(pg_error(e)), None)),
        }
    });
    let data_rows = batches.flat_map(move |batch| match batch {
        Ok(batch) => stream::iter(encode(encoder.clone(), batch)).left_stream(),
        Err(e) => stream::once(futures::future::ready(Err(e))).right_stream(),
    });
    Ok(QueryResponse::new(fields, data_rows))
}
