//! Serving push queries (`SUBSCRIBE`, `SELECT ... EMIT CHANGES`) over the simple query
//! protocol: the connection streams the query's rows to the client until the client
//! cancels (CancelRequest), leaves, or the view goes away; and [`wait`], the wait for the
//! next rows that both protocols share (`super::portal` serves the extended one).
//!
//! The connection loop (`super::connection`) hands a simple `Query` holding one push query
//! here instead of to pgwire's dispatcher, because each batch must be flushed as it comes,
//! not when the statement ends. `SUBSCRIBE TO v` answers with a row description and data
//! rows; `COPY (SUBSCRIBE TO v) TO STDOUT` with CopyOut and text rows, which psql prints as
//! they arrive. A cancel ends it as Postgres ends a cancelled statement: ErrorResponse
//! 57014, then ReadyForQuery; the query is dropped, which frees what it held. Messages the
//! client sends meanwhile wait in the connection's backlog until the statement ends.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use arrow::array::RecordBatch;
use bytes::Bytes;
use futures::channel::oneshot;
use futures::{Sink, SinkExt, Stream, StreamExt};
use pgwire::api::portal::Format;
use pgwire::api::{ClientInfo, ConnectionHandle};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::copy::{CopyData, CopyOutResponse};
use pgwire::messages::data::RowDescription;
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tracing::info;

use super::copy;
use super::errors::error_info;
use super::types::{encode, fields};
use crate::engine::{CopyFormat, Engine, PushQuery};
use crate::error::Error;
use crate::sql::Subscribe;

/// Client messages kept while a push query runs; beyond this the client is not read.
const MAX_BACKLOG: usize = 1024;

/// What came first while waiting for a push query's next rows.
pub(super) enum Waited<T> {
    /// The rows (or the error that ended the query).
    Item(T),
    /// A CancelRequest for this connection.
    Cancelled,
    /// The client terminated or the connection closed.
    Left,
}

/// Waits for `next` while watching for a cancel and for the client leaving; messages the
/// client sends meanwhile go to `backlog`. Rows ready go out before a cancel is noticed.
pub(super) async fn wait<S, F>(
    socket: &mut S,
    next: F,
    cancelled: &mut oneshot::Receiver<()>,
    backlog: &mut VecDeque<PgWireFrontendMessage>,
) -> Waited<F::Output>
where
    S: Stream<Item = Result<PgWireFrontendMessage, PgWireError>> + Unpin,
    F: Future,
{
    tokio::pin!(next);
    loop {
        tokio::select! {
            biased;
            item = &mut next => return Waited::Item(item),
            _ = &mut *cancelled => return Waited::Cancelled,
            message = socket.next(), if backlog.len() < MAX_BACKLOG => match message {
                None | Some(Ok(PgWireFrontendMessage::Terminate(_))) | Some(Err(_)) => return Waited::Left,
                Some(Ok(other)) => backlog.push_back(other),
            },
        }
    }
}

/// Fires when a CancelRequest names this connection. Without a registered connection
/// nothing can cancel: the sender returned then must be kept, and never fires.
pub(super) async fn cancel_signal<S: ClientInfo>(socket: &S) -> (Option<oneshot::Sender<()>>, oneshot::Receiver<()>) {
    match socket.session_extensions().get::<Arc<ConnectionHandle>>() {
        Some(handle) => (None, handle.start_query().await),
        None => {
            let (never, receiver) = oneshot::channel();
            (Some(never), receiver)
        }
    }
}

/// A client's connection as push queries use it: protocol messages both ways.
pub(super) trait ClientSocket:
    Sink<PgWireBackendMessage, Error = std::io::Error>
    + Stream<Item = Result<PgWireFrontendMessage, PgWireError>>
    + ClientInfo
    + Unpin
{
}

impl<T> ClientSocket for T where
    T: Sink<PgWireBackendMessage, Error = std::io::Error>
        + Stream<Item = Result<PgWireFrontendMessage, PgWireError>>
        + ClientInfo
        + Unpin
{
}

/// Streams `stmt` on `socket` until it ends; returns false when the client went away.
pub(super) async fn serve(
    socket: &mut impl ClientSocket,
    engine: &Engine,
    stmt: &Subscribe,
    backlog: &mut VecDeque<PgWireFrontendMessage>,
) -> PgWireResult<bool> {
    let (_never, mut cancelled) = cancel_signal(socket).await;
    match stream(socket, engine, stmt, &mut cancelled, backlog).await? {
        Ended::Error(error) => finish(socket, Some(*error)).await.map(|_| true),
        Ended::Left => Ok(false),
    }
}

/// How streaming a push query ended.
pub(super) enum Ended {
    /// An error, a cancel (57014) among them, for the caller to send.
    Error(Box<ErrorInfo>),
    /// The client went away.
    Left,
}

/// Starts `stmt` and sends its header (a row description, or CopyOut for `COPY (...) TO
/// STDOUT`), then its rows as they commit, until an error or a cancel ends it or the
/// client leaves. Both protocols stream a COPY this way (`super::portal`).
pub(super) async fn stream(
    socket: &mut impl ClientSocket,
    engine: &Engine,
    stmt: &Subscribe,
    cancelled: &mut oneshot::Receiver<()>,
    backlog: &mut VecDeque<PgWireFrontendMessage>,
) -> PgWireResult<Ended> {
    let mut query = match wait(socket, engine.push(stmt), cancelled, backlog).await {
        Waited::Item(Ok(query)) => query,
        Waited::Item(Err(e)) => return Ok(Ended::Error(Box::new(error_info(&e)))),
        Waited::Cancelled => return Ok(Ended::Error(Box::new(canceled()))),
        Waited::Left => return Ok(Ended::Left),
    };
    start(socket, &query, stmt.copy).await?;
    loop {
        match wait(socket, query.next(), cancelled, backlog).await {
            Waited::Item(Ok(batch)) => send_batch(socket, &query, batch, stmt.copy).await?,
            Waited::Item(Err(e)) => {
                info!(relation = %query.relation(), "push query ended");
                return Ok(Ended::Error(Box::new(error_info(&e))));
            }
            Waited::Cancelled => {
                info!(relation = %query.relation(), "push query ended");
                return Ok(Ended::Error(Box::new(canceled())));
            }
            Waited::Left => {
                info!(relation = %query.relation(), "subscriber left");
                return Ok(Ended::Left);
            }
        }
    }
}

/// The header: a row description, or a CopyOut response in text format.
async fn start<S>(socket: &mut S, query: &PushQuery, copy: bool) -> PgWireResult<()>
where
    S: Sink<PgWireBackendMessage> + Unpin,
    PgWireError: From<<S as Sink<PgWireBackendMessage>>::Error>,
{
    let schema = query.schema();
    let header = if copy {
        let columns = schema.fields().len();
        PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(0, columns as i16, vec![0; columns]))
    } else {
        let fields = fields(&schema, &Format::UnifiedText)?;
        PgWireBackendMessage::RowDescription(RowDescription::new(fields.iter().map(Into::into).collect()))
    };
    socket.send(header).await?;
    Ok(())
}

/// Sends one batch's rows and flushes them to the client.
async fn send_batch<S>(socket: &mut S, query: &PushQuery, batch: RecordBatch, copy: bool) -> PgWireResult<()>
where
    S: Sink<PgWireBackendMessage> + Unpin,
    PgWireError: From<<S as Sink<PgWireBackendMessage>>::Error>,
{
    if copy {
        let lines = copy::rows(&batch, &CopyFormat::text())
            .map_err(|e| PgWireError::UserError(Box::new(error_info(&Error::from(e)))))?;
        // One row per CopyData message, as Postgres sends them: drivers such as psycopg
        // parse one row from each message.
        for line in lines {
            socket.feed(PgWireBackendMessage::CopyData(CopyData::new(Bytes::from(line)))).await?;
        }
    } else {
        let fields = Arc::new(fields(&query.schema(), &Format::UnifiedText)?);
        for row in encode(fields, batch) {
            socket.feed(PgWireBackendMessage::DataRow(row?)).await?;
        }
    }
    socket.flush().await?;
    Ok(())
}

/// The end: the error that stopped it (a cancel is one), then ReadyForQuery.
async fn finish<S>(socket: &mut S, error: Option<ErrorInfo>) -> PgWireResult<()>
where
    S: Sink<PgWireBackendMessage> + Unpin,
    PgWireError: From<<S as Sink<PgWireBackendMessage>>::Error>,
{
    if let Some(error) = error {
        socket.feed(PgWireBackendMessage::ErrorResponse(error.into())).await?;
    }
    socket.send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(TransactionStatus::Idle))).await?;
    Ok(())
}

/// The error of a cancelled statement (57014).
pub(super) fn canceled() -> ErrorInfo {
    ErrorInfo::new("ERROR".into(), "57014".into(), "canceling statement due to user request".into())
}
