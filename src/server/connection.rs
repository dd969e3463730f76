//! One client connection: negotiates TLS (accepting SSLRequest and direct TLS when the
//! server has a certificate), then reads protocol messages and hands each to pgwire's
//! dispatcher with Sluice's handlers, until the client leaves or the server shuts down.
//!
//! `server::run` spawns [`Connection::serve`] for every accepted socket, inside a span
//! naming the peer. On shutdown a running statement gets [`STATEMENT_GRACE`] to finish and
//! send its results (one that changes the catalog always finishes); then it is dropped, the
//! client gets FATAL 57P01, as from a Postgres fast shutdown, and the socket is closed. It does not interpret messages itself: pgwire's
//! `process_message` routes them to the handlers, except push queries (SUBSCRIBE, EMIT
//! CHANGES), which it serves itself: a simple Query by `super::subscribe`, an Execute by
//! `super::portal`. Messages a client sends while a push query runs wait in a backlog.
//! pgwire lets a CancelRequest interrupt an ordinary Query or Execute; statements that
//! change the catalog are shielded from it (`super::cancel`). A FATAL error (failed
//! authentication, for one) is sent and ends the connection at once.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Sink, SinkExt, Stream, StreamExt};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionManager, NoopHandler, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::server::{MaybeTls, PgWireMessageServerCodec, negotiate_tls, process_error, process_message};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Sleep, sleep};
use tokio_util::codec::{Framed, FramedParts};
use tracing::{debug, info, warn};

use super::cancel::Shield;
use super::extended::{ExtendedQuery, Prepared};
use super::frames::Checked;
use super::simple::{ParsedQuery, SimpleQuery};
use super::slots::{Slot, Slots};
use super::startup::Startup;
use super::subscribe::ClientSocket;
use super::{Limits, Security};
use super::{portal, subscribe};
use crate::engine::Engine;
use crate::sql::{Statement, Subscribe};

/// A client's socket after TLS negotiation.
type Socket = Framed<Checked<MaybeTls>, PgWireMessageServerCodec<Prepared>>;

/// How long a client may take from connecting to finishing startup.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The pgwire handlers, shared by all connections.
pub(super) struct Handlers {
    /// Negotiation and authentication.
    startup: Arc<Startup>,
    /// `Query` messages.
    simple: Arc<SimpleQuery>,
    /// Parse / Bind / Describe / Execute / Close / Sync.
    extended: Arc<ExtendedQuery>,
    /// CancelRequest: interrupts the statement running on another connection.
    cancel: Arc<DefaultCancelHandler>,
    /// COPY is not supported; pgwire's no-op handler rejects it.
    copy: Arc<NoopHandler>,
    /// For SUBSCRIBE, which the connection serves itself.
    engine: Engine,
    /// Accepts TLS handshakes; None when the server has no certificate.
    tls: Option<TlsAcceptor>,
    /// Open sockets against `max_connections`.
    pub(super) slots: Arc<Slots>,
}

impl Handlers {
    /// Handlers that run statements on `engine` for clients admitted by `security`.
    pub(super) fn new(engine: Engine, security: Security, limits: Limits) -> Self {
        let cancels = Arc::new(ConnectionManager::new());
        let tls = security.tls.as_ref().map(|tls| tls.acceptor());
        let slots = Slots::new(limits.max_connections, limits.superuser_reserved);
        Self {
            startup: Arc::new(Startup::new(cancels.clone(), security, slots.clone())),
            simple: Arc::new(SimpleQuery::new(engine.clone())),
            extended: Arc::new(ExtendedQuery::new(engine.clone())),
            cancel: Arc::new(DefaultCancelHandler::new(cancels)),
            copy: Arc::new(NoopHandler),
            engine,
            tls,
            slots,
        }
    }

    /// The statement of a simple query that is exactly one SUBSCRIBE.
    fn subscription(parsed: Option<&ParsedQuery>) -> Option<Subscribe> {
        match parsed?.statements.as_deref()? {
            [Statement::Subscribe(s)] => Some(s.clone()),
            _ => None,
        }
    }
}

/// Serves one client.
pub(super) struct Connection {
    /// The shared handlers.
    handlers: Arc<Handlers>,
    /// Becomes `true` when the server shuts down.
    shutdown: watch::Receiver<bool>,
    /// Messages received while a push query ran, to handle next.
    backlog: VecDeque<PgWireFrontendMessage>,
    /// This socket's place among `max_connections`, held until the connection ends.
    _slot: Slot,
}

impl Connection {
    /// A connection served by `handlers` until `shutdown` turns true.
    pub(super) fn new(handlers: Arc<Handlers>, shutdown: watch::Receiver<bool>, slot: Slot) -> Self {
        Self { handlers, shutdown, backlog: VecDeque::new(), _slot: slot }
    }

    /// Speaks the protocol on `tcp` until the client terminates, the connection breaks,
    /// startup times out or the server shuts down.
    pub(super) async fn serve(mut self, tcp: TcpStream) {
        let startup_deadline = sleep(STARTUP_TIMEOUT);
        tokio::pin!(startup_deadline);
        let Some(mut socket) = self.negotiate(tcp, startup_deadline.as_mut()).await else { return };
        while let Some(message) = self.next_message(&mut socket, startup_deadline.as_mut()).await {
            if !self.handle(&mut socket, message).await {
                break;
            }
        }
        info!("connection closed");
    }

    /// Answers SSLRequest (or a direct TLS handshake) and returns the socket ready for the
    /// startup message, TLS or plain; None when the connection should end.
    async fn negotiate(&mut self, tcp: TcpStream, startup_deadline: Pin<&mut Sleep>) -> Option<Socket> {
        let negotiated = tokio::select! {
            negotiated = negotiate_tls::<Prepared>(tcp, self.handlers.tls.clone()) => negotiated,
            _ = startup_deadline => {
                debug!("startup timed out");
                return None;
            }
            _ = shutdown_signal(&mut self.shutdown) => return None,
        };
        match negotiated {
            Ok(Some(socket)) => Some(checked(socket)),
            Ok(None) => {
                debug!("direct TLS requested, but the server has no certificate");
                None
            }
            Err(e) => {
                debug!(error = %e, "negotiation failed");
                None
            }
        }
    }

    /// Handles one message; false when the connection should end.
    async fn handle(&mut self, socket: &mut Socket, message: PgWireFrontendMessage) -> bool {
        // A Query's text is parsed on the statement threads, once, for all that follows.
        let parsed = match &message {
            PgWireFrontendMessage::Query(query) => Some(ParsedQuery::parse(&self.handlers.engine, &query.query).await),
            _ => None,
        };
        match self.serve_push(socket, &message, parsed.as_deref()).await {
            None => {}
            Some(Ok(open)) => return open,
            // The statement failed (a cancel, for one): report it and wait for Sync.
            Some(Err(e @ PgWireError::UserError(_))) => return report(socket, e, true).await,
            Some(Err(e)) => {
                debug!(error = %e, "push query failed");
                return false;
            }
        }
        let is_cancel = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        let extended = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        let h = self.handlers.clone();
        let shield = Shield::raise(socket, parsed.as_deref(), &message);
        if let Some(parsed) = parsed {
            socket.session_extensions().insert(parsed);
        }
        let interruptible = !shield.is_raised();
        let work = process_message(
            message,
            socket,
            h.startup.clone(),
            h.simple.clone(),
            h.extended.clone(),
            h.copy.clone(),
            h.cancel.clone(),
        );
        // A statement still running STATEMENT_GRACE after shutdown began is dropped (its
        // task aborted), unless it changes the catalog.
        let outcome = tokio::select! {
            handled = work => Some(handled),
            _ = shutdown_grace(&mut self.shutdown), if interruptible => None,
        };
        shield.lower(socket);
        let Some(handled) = outcome else {
            debug!("statement abandoned for shutdown");
            say_goodbye(socket, false).await;
            return false;
        };
        if let Err(e) = handled {
            debug!(error = %e, "request failed");
            if !report(socket, e, extended).await {
                return false;
            }
        }
        !is_cancel
    }

    /// Serves `message` if it runs a push query (None if not): Ok(false) when the client
    /// left, an error when the statement failed.
    async fn serve_push<S>(
        &mut self,
        socket: &mut S,
        message: &PgWireFrontendMessage,
        parsed: Option<&ParsedQuery>,
    ) -> Option<PgWireResult<bool>>
    where
        S: ClientSocket + ClientPortalStore,
        S::PortalStore: PortalStore<Statement = Prepared>,
    {
        if !matches!(socket.state(), PgWireConnectionState::ReadyForQuery) {
            return None;
        }
        let engine = &self.handlers.engine;
        if let Some(stmt) = Handlers::subscription(parsed) {
            return Some(subscribe::serve(socket, engine, &stmt, &mut self.backlog).await);
        }
        let PgWireFrontendMessage::Execute(execute) = message else { return None };
        let portal = portal::push_portal(socket, execute)?;
        let max_rows = usize::try_from(execute.max_rows).unwrap_or(0);
        Some(portal::execute(socket, engine, portal, max_rows, &mut self.backlog).await)
    }

    /// The next message worth dispatching, or None when the connection should end: the
    /// client terminated or vanished, startup timed out, or the server is shutting down.
    async fn next_message<S>(
        &mut self,
        socket: &mut S,
        startup_deadline: Pin<&mut Sleep>,
    ) -> Option<PgWireFrontendMessage>
    where
        S: Stream<Item = Result<PgWireFrontendMessage, PgWireError>> + Sink<PgWireBackendMessage> + ClientInfo + Unpin,
    {
        if let Some(message) = self.backlog.pop_front() {
            return Some(message);
        }
        let starting = is_starting(socket.state());
        let message = tokio::select! {
            message = socket.next() => message,
            _ = startup_deadline, if starting => {
                debug!("startup timed out");
                return None;
            }
            _ = shutdown_signal(&mut self.shutdown) => {
                say_goodbye(socket, starting).await;
                return None;
            }
        };
        match message {
            Some(Ok(PgWireFrontendMessage::Terminate(_))) | None => None,
            Some(Ok(message)) => Some(message),
            Some(Err(PgWireError::IoError(e))) if e.kind() == std::io::ErrorKind::InvalidData => {
                // A malformed message (see `frames`): FATAL 08P01, as Postgres says it.
                warn!(error = %e, "malformed message: connection closed");
                let mut info = ErrorInfo::new("FATAL".into(), "08P01".into(), "invalid message format".into());
                info.detail = e.to_string().strip_prefix("invalid message format: ").map(crate::error::lowercase_first);
                let _ = socket.send(PgWireBackendMessage::ErrorResponse(info.into())).await;
                let _ = socket.close().await;
                None
            }
            Some(Err(e)) => {
                debug!(error = %e, "unreadable message");
                None
            }
        }
    }
}

/// The negotiated socket with every incoming message checked (see `frames`), including
/// the bytes negotiation has read already.
fn checked(socket: Framed<MaybeTls, PgWireMessageServerCodec<Prepared>>) -> Socket {
    let parts = socket.into_parts();
    let mut read_buf = parts.read_buf;
    let io = Checked::wrap(parts.io, &mut read_buf);
    let mut checked = FramedParts::new(io, parts.codec);
    checked.read_buf = read_buf;
    checked.write_buf = parts.write_buf;
    Framed::from_parts(checked)
}

/// Sends `error` to the client; false when the connection must end: the error is FATAL
/// or could not be sent.
async fn report(socket: &mut Socket, error: PgWireError, extended: bool) -> bool {
    let info = ErrorInfo::from(error);
    if info.is_fatal() {
        // The session is over: no ReadyForQuery (pgwire's process_error would send one),
        // and no further message from this client is read.
        let _ = socket.send(PgWireBackendMessage::ErrorResponse(info.into())).await;
        let _ = socket.close().await;
        return false;
    }
    match process_error(socket, PgWireError::UserError(Box::new(info)), extended).await {
        Ok(()) => true,
        Err(e) => {
            debug!(error = %e, "could not report an error");
            false
        }
    }
}

/// True before the client has finished startup.
fn is_starting(state: PgWireConnectionState) -> bool {
    matches!(
        state,
        PgWireConnectionState::AwaitingSslRequest
            | PgWireConnectionState::AwaitingStartup
            | PgWireConnectionState::AuthenticationInProgress
    )
}

/// Completes when the server starts shutting down (or can no longer say so).
async fn shutdown_signal(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which happens only once the server stops.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Completes [`STATEMENT_GRACE`] after the server starts shutting down.
async fn shutdown_grace(shutdown: &mut watch::Receiver<bool>) {
    shutdown_signal(shutdown).await;
    sleep(STATEMENT_GRACE).await;
}

/// How long a running statement may go on once the server shuts down.
const STATEMENT_GRACE: Duration = Duration::from_secs(2);

/// Tells a started client that the server is going away, then closes the socket.
async fn say_goodbye<S>(socket: &mut S, starting: bool)
where
    S: Sink<PgWireBackendMessage> + Unpin,
{
    if !starting {
        let info = ErrorInfo::new(
            "FATAL".into(),
            "57P01".into(),
            "terminating connection due to administrator command".into(),
        );
        let _ = socket.send(PgWireBackendMessage::ErrorResponse(info.into())).await;
    }
    let _ = socket.close().await;
    debug!("closed for shutdown");
}
