//! Connection startup: protocol negotiation, authentication, the server parameters every
//! client is told (server_version, encodings, DateStyle, TimeZone ...) and registration
//! for cancel requests.
//!
//! pgwire calls [`Startup`] for the messages a client sends before its first query. Without
//! an auth file every user is trusted; with one (`super::Security::users`) the client must
//! pass SCRAM-SHA-256 (`super::scram`), with channel binding (SCRAM-SHA-256-PLUS) offered
//! on TLS connections. The exchange's state lives in the connection's session extensions,
//! since one handler serves all connections. Every failure here is FATAL and ends the
//! connection (`super::connection` closes it without ReadyForQuery): a wrong password and
//! an unknown user both get 28P01 `password authentication failed for user "x"`.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ConnectionHandle, ConnectionManager, METADATA_APPLICATION_NAME, METADATA_DATABASE, METADATA_USER,
    PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tracing::{info, warn};

use super::Security;
use super::scram::{self, Channel, Exchange, Outcome};
use super::slots::Slots;
use crate::error::Error;

/// Negotiates, authenticates and registers every client.
pub(super) struct Startup {
    /// The ParameterStatus values sent after authentication.
    parameters: DefaultServerParameterProvider,
    /// Hands out the process id and secret key a client uses to cancel its queries.
    keys: RandomPidSecretKeyGenerator,
    /// Where connections register so that CancelRequest can find them.
    cancels: Arc<ConnectionManager>,
    /// Who may connect, and how.
    security: Security,
    /// Open sockets against `max_connections`.
    slots: Arc<Slots>,
}

/// Whether the client logged in as a superuser (every user is one without an auth file);
/// kept in its session extensions, which the client cannot set.
pub(super) struct Superuser(pub(super) bool);

/// Where one connection's SCRAM exchange stands; kept in its session extensions.
#[derive(Default)]
struct Sasl(Mutex<Option<Exchange>>);

impl Startup {
    /// A startup handler enforcing `security` and registering connections with `cancels`.
    pub(super) fn new(cancels: Arc<ConnectionManager>, security: Security, slots: Arc<Slots>) -> Self {
        Self { parameters: server_parameters(), keys: RandomPidSecretKeyGenerator::default(), cancels, security, slots }
    }

    /// The startup message: checks TLS and the user name, then either asks for SCRAM or,
    /// without an auth file, lets the client in.
    async fn on_startup_message<C>(
        &self,
        client: &mut C,
        startup: &pgwire::messages::startup::Startup,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        protocol_negotiation(client, startup).await?;
        if self.slots.over_limit() {
            warn!("too many connections: client refused");
            return Err(fatal(Error::TooManyConnections));
        }
        save_startup_parameters_to_metadata(client, startup);
        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        if user.is_empty() {
            return Err(fatal(Error::InvalidAuthorization("no user name specified in startup packet".into())));
        }
        let superuser = self.security.users.as_ref().is_none_or(|users| users.is_superuser(&user));
        if !superuser && self.slots.only_reserved_left() {
            warn!(user, "only superuser connection slots left: client refused");
            return Err(fatal(Error::ReservedConnections));
        }
        if self.security.tls_required && !client.is_secure() {
            warn!(user, "connection without TLS refused");
            let ip = client.socket_addr().ip();
            return Err(fatal(Error::InvalidAuthorization(format!(
                "connection without TLS refused for host \"{ip}\", user \"{user}\": the server requires TLS"
            ))));
        }
        if self.security.users.is_none() {
            return self.admit(client, "trust").await;
        }
        client.set_state(PgWireConnectionState::AuthenticationInProgress);
        let mechanisms = self.channel(client).mechanisms();
        client.send(PgWireBackendMessage::Authentication(Authentication::SASL(mechanisms))).await?;
        Ok(())
    }

    /// A SASLInitialResponse or SASLResponse message.
    async fn on_sasl<C>(&self, client: &mut C, message: PasswordMessageFamily) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sasl = client.session_extensions().get_or_insert_with(Sasl::default);
        let pending = sasl.0.lock().map_err(|_| fatal(Error::Internal("SASL state poisoned".into())))?.take();
        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        let Some(exchange) = pending else {
            let initial = message.into_sasl_initial_response().map_err(|_| fatal(expected_sasl()))?;
            let data = initial.data.as_deref().unwrap_or_default();
            let credential = self.security.users.as_ref().map(|users| users.credential(&user));
            let credential = credential.ok_or_else(|| fatal(Error::Internal("no auth file".into())))?;
            let (server_first, exchange) =
                scram::start(&initial.auth_method, data, credential, &self.channel(client)).map_err(fatal)?;
            *sasl.0.lock().map_err(|_| fatal(Error::Internal("SASL state poisoned".into())))? = Some(exchange);
            let reply = Authentication::SASLContinue(server_first.into_bytes().into());
            client.send(PgWireBackendMessage::Authentication(reply)).await?;
            return Ok(());
        };
        let response = message.into_sasl_response().map_err(|_| fatal(expected_sasl()))?;
        match exchange.finish(&response.data).map_err(fatal)? {
            Outcome::Accepted(server_final) => {
                let reply = Authentication::SASLFinal(server_final.into_bytes().into());
                client.feed(PgWireBackendMessage::Authentication(reply)).await?;
                self.admit(client, "scram-sha-256").await
            }
            Outcome::Rejected => {
                warn!(user, "password authentication failed");
                Err(fatal(Error::AuthenticationFailed { user }))
            }
        }
    }

    /// What this connection offers for channel binding: the certificate hash on TLS.
    fn channel<C: ClientInfo>(&self, client: &C) -> Channel {
        let end_point = match &self.security.tls {
            Some(tls) if client.is_secure() => tls.end_point().map(<[u8]>::to_vec),
            _ => None,
        };
        Channel { end_point }
    }

    /// Lets an authenticated client in: cancel key, AuthenticationOk, parameters,
    /// ReadyForQuery.
    async fn admit<C>(&self, client: &mut C, method: &str) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.register(client);
        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        let superuser = self.security.users.as_ref().is_none_or(|users| users.is_superuser(&user));
        client.session_extensions().insert(Superuser(superuser));
        let meta = client.metadata();
        let field = |key: &str| meta.get(key).map(String::as_str).unwrap_or("");
        info!(
            user = field(METADATA_USER),
            database = field(METADATA_DATABASE),
            application = field(METADATA_APPLICATION_NAME),
            tls = client.is_secure(),
            auth = method,
            "client connected"
        );
        finish_authentication(client, &self.parameters).await
    }

    /// Gives the client its cancel key and registers it; the registration lasts as long as
    /// the connection's session state.
    fn register<C: ClientInfo>(&self, client: &mut C) {
        let (pid, key) = self.keys.generate(&*client);
        client.set_pid_and_secret_key(pid, key.clone());
        let (handle, guard) = self.cancels.register(pid, key);
        client.session_extensions().insert::<Arc<ConnectionHandle>>(handle);
        client.session_extensions().insert(guard);
    }
}

/// What a client sees in ParameterStatus: Postgres 16 defaults, UTF8 and UTC.
fn server_parameters() -> DefaultServerParameterProvider {
    let mut parameters = DefaultServerParameterProvider::default();
    parameters.server_version = crate::pg::SERVER_VERSION.into();
    parameters.server_encoding = "UTF8".into();
    parameters.client_encoding = Some("UTF8".into());
    parameters.date_style = "ISO, MDY".into();
    parameters.interval_style = "postgres".into();
    parameters.time_zone = "UTC".into();
    parameters.integer_datetimes = true;
    parameters.standard_conforming_strings = true;
    parameters
}

/// A message other than the SASL one the exchange expects.
fn expected_sasl() -> Error {
    Error::Protocol("expected SASL response".into())
}

/// `error` as a FATAL error response, which ends the connection.
fn fatal(error: Error) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), error.sqlstate().into(), error.to_string())))
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match (client.state(), message) {
            (PgWireConnectionState::AwaitingStartup, PgWireFrontendMessage::Startup(startup)) => {
                self.on_startup_message(client, &startup).await
            }
            (PgWireConnectionState::AuthenticationInProgress, PgWireFrontendMessage::PasswordMessageFamily(m)) => {
                self.on_sasl(client, m).await
            }
            (PgWireConnectionState::AuthenticationInProgress, _) => Err(fatal(expected_sasl())),
            _ => Err(fatal(Error::Protocol("expected startup message".into()))),
        }
    }
}
