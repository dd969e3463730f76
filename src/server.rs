//! The Postgres front door: accepts TCP connections and speaks the Postgres wire protocol
//! (v3) on each, handing all SQL to the [`Engine`].
//!
//! `main.rs` calls [`run`] (or [`run_with`], with [`Security`] settings) with a bound
//! listener (tests bind port 0). This module owns the accept loop, one task and one
//! tracing span per connection, and graceful shutdown. The protocol bookkeeping (framing,
//! prepared statements, portals, Sync, cancel keys, the TLS handshake) is pgwire's;
//! encoding Arrow batches as rows is arrow-pg's. It never plans or executes SQL itself:
//! statements go through `Engine::parse`, `Engine::describe` and `Engine::execute`.
//!
//! ```text
//!  run ── accept ──► Connection::serve            one task + span per client
//!                      │ tls.rs        SSLRequest / direct TLS with --tls-cert/--tls-key
//!                      │ frames.rs     every incoming message's layout checked (FATAL 08P01)
//!                      │ startup.rs    trust or SCRAM-SHA-256, ParameterStatus, cancel key
//!                      │   auth.rs     the --auth file of users and verifiers
//!                      │   scram.rs    the SCRAM exchange (RFC 5802/7677, channel binding)
//!                      │ session.rs    the connection's engine Session; ParameterStatus
//!                      │ simple.rs     Query: parse → execute each → rows / tag / error
//!                      │ extended.rs   Parse → parse + describe; Execute → execute
//!                      │   params.rs   bound values → ScalarValue
//!                      │ cancel.rs     which statements a CancelRequest may interrupt
//!                      │ subscribe.rs  push queries (SUBSCRIBE, EMIT CHANGES) as a Query
//!                      │ portal.rs     push queries on a prepared portal (Execute)
//!                      └ response.rs   Output / Error → pgwire Response
//!                          types.rs    column types and row encoding (arrow-pg, json/jsonb/varchar)
//!                          copy.rs     COPY ... TO STDOUT rows in text or CSV format
//! ```
//!
//! Security (see docs/security.md): without an auth file every user is trusted; with one,
//! every client must pass SCRAM-SHA-256. TLS is offered when a certificate is configured
//! (and can be required). Not supported: client certificates, per-database or per-host
//! rules, COPY FROM (only `COPY ... TO STDOUT` is served).

mod auth;
mod cancel;
mod connection;
pub(crate) mod copy;
mod errors;
mod extended;
mod frames;
mod numeric;
mod params;
mod portal;
mod response;
mod scram;
mod session;
mod simple;
mod slots;
mod startup;
mod subscribe;
mod text;
mod tls;
mod types;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};
use tracing::{Instrument, error, info, info_span, warn};

use crate::engine::Engine;
use crate::error::Result;
pub use auth::Users;
use connection::{Connection, Handlers};
pub use scram::{DEFAULT_ITERATIONS, Verifier};
pub use tls::Tls;

/// How long open connections get to finish their current statement after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The longest pause between retries of a failing `accept` (out of file descriptors).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// The default of [`Limits::max_connections`], as in Postgres.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;

/// The default of [`Limits::superuser_reserved`], as in Postgres.
pub const DEFAULT_SUPERUSER_RESERVED: usize = 3;

/// Sockets beyond [`Limits::max_connections`] that are still read, to tell each client
/// why it is refused (FATAL 53300); sockets beyond these are closed at once.
const REFUSAL_SLOTS: usize = 32;

/// What the server allows its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Clients connected at once; more are refused with 53300.
    pub max_connections: usize,
    /// How many of those slots only superusers may take (with an auth file; without one,
    /// every user is a superuser).
    pub superuser_reserved: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_connections: DEFAULT_MAX_CONNECTIONS, superuser_reserved: DEFAULT_SUPERUSER_RESERVED }
    }
}

/// How clients must connect. The default trusts every user and refuses TLS.
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// The users of the auth file: when set, every client must pass SCRAM-SHA-256.
    pub users: Option<Arc<Users>>,
    /// The certificate and key offered to clients asking for TLS.
    pub tls: Option<Tls>,
    /// Refuse clients that do not use TLS (FATAL 28000).
    pub tls_required: bool,
}

/// Serves the Postgres protocol on `listener`, trusting every client and refusing TLS,
/// until `shutdown` completes; see [`run_with`].
pub async fn run(listener: TcpListener, engine: Engine, shutdown: impl Future) -> Result<()> {
    run_with(listener, engine, Security::default(), shutdown).await
}

/// Serves the Postgres protocol on `listener`, admitting clients by `security`, until
/// `shutdown` completes.
///
/// On shutdown it stops accepting, lets every connection finish the message it is
/// processing, sends each client FATAL 57P01 and waits up to [`SHUTDOWN_GRACE`] for the
/// connections to close before dropping the rest. Returns an error only if the listener
/// keeps failing.
pub async fn run_with(listener: TcpListener, engine: Engine, security: Security, shutdown: impl Future) -> Result<()> {
    serve(listener, engine, security, Limits::default(), shutdown).await
}

/// Serves the Postgres protocol on `listener` as [`run_with`] does, within `limits`.
pub async fn serve(
    listener: TcpListener,
    engine: Engine,
    security: Security,
    limits: Limits,
    shutdown: impl Future,
) -> Result<()> {
    let (stop, stopping) = watch::channel(false);
    let handlers = Arc::new(Handlers::new(engine, security, limits));
    let mut server = Listener { listener, handlers, stopping, connections: JoinSet::new() };
    let result = tokio::select! {
        result = server.accept_loop() => result,
        _ = shutdown => {
            info!("shutting down");
            Ok(())
        }
    };
    // Receivers live as long as their connections; sending fails only when none is left.
    let _ = stop.send(true);
    server.drain().await;
    result
}

/// The accept loop's state.
struct Listener {
    /// The socket clients connect to.
    listener: TcpListener,
    /// Shared by every connection.
    handlers: Arc<Handlers>,
    /// Handed to each connection; turns true on shutdown.
    stopping: watch::Receiver<bool>,
    /// The running connection tasks.
    connections: JoinSet<()>,
}

impl Listener {
    /// Accepts clients and spawns a task for each, until the server shuts down.
    async fn accept_loop(&mut self) -> Result<()> {
        loop {
            let (tcp, peer) = self.accept().await;
            reap_finished(&mut self.connections);
            let Some(slot) = self.handlers.slots.take(REFUSAL_SLOTS) else {
                warn!(%peer, open = self.connections.len(), "too many connections: closed without reading");
                continue;
            };
            let connection = Connection::new(self.handlers.clone(), self.stopping.clone(), slot);
            let span = info_span!("connection", %peer);
            self.connections.spawn(connection.serve(tcp).instrument(span));
        }
    }

    /// The next client. Failures (such as running out of file descriptors) are retried
    /// with a growing pause: the clients already connected are still served meanwhile.
    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.listener.accept().await {
                Ok(accepted) => return accepted,
                Err(e) => warn!(error = %e, retry_in = ?backoff, "accept failed"),
            }
            sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
        }
    }

    /// Stops accepting, then waits for the connections to close, dropping those still
    /// open after [`SHUTDOWN_GRACE`].
    async fn drain(self) {
        let Listener { listener, mut connections, .. } = self;
        drop(listener);
        reap_finished(&mut connections);
        if !connections.is_empty() {
            info!(open = connections.len(), "waiting for connections to close");
        }
        let all_closed = async {
            while let Some(ended) = connections.join_next().await {
                report_panic(ended);
            }
        };
        if timeout(SHUTDOWN_GRACE, all_closed).await.is_err() {
            warn!(open = connections.len(), "dropping connections still open");
            connections.shutdown().await;
        }
    }
}

/// Collects the connection tasks that have ended, so the set holds only open ones.
fn reap_finished(connections: &mut JoinSet<()>) {
    while let Some(ended) = connections.try_join_next() {
        report_panic(ended);
    }
}

/// Logs a connection task that panicked; the others go on.
fn report_panic(ended: std::result::Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended
        && e.is_panic()
    {
        error!(error = %e, "connection task panicked");
    }
}
