//! Connection startup: protocol negotiation, trust authentication (any user, no
//! password), the server parameters every client is told (server_version, encodings,
//! DateStyle, TimeZone ...) and registration for cancel requests.
//!
//! pgwire calls [`TrustStartup`] for the messages a client sends before its first query.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ConnectionHandle, ConnectionManager, METADATA_APPLICATION_NAME, METADATA_DATABASE, METADATA_USER,
    PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tracing::info;

/// The Postgres version Sluice reports; clients pick SQL dialect features by it.
pub(super) const SERVER_VERSION: &str = "16.6";

/// Accepts every client without a password.
pub(super) struct TrustStartup {
    /// The ParameterStatus values sent after authentication.
    parameters: DefaultServerParameterProvider,
    /// Hands out the process id and secret key a client uses to cancel its queries.
    keys: RandomPidSecretKeyGenerator,
    /// Where connections register so that CancelRequest can find them.
    cancels: Arc<ConnectionManager>,
}

impl TrustStartup {
    /// A startup handler registering connections with `cancels`.
    pub(super) fn new(cancels: Arc<ConnectionManager>) -> Self {
        Self { parameters: server_parameters(), keys: RandomPidSecretKeyGenerator::default(), cancels }
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
    parameters.server_version = SERVER_VERSION.into();
    parameters.server_encoding = "UTF8".into();
    parameters.client_encoding = Some("UTF8".into());
    parameters.date_style = "ISO, MDY".into();
    parameters.interval_style = "postgres".into();
    parameters.time_zone = "UTC".into();
    parameters.integer_datetimes = true;
    parameters.standard_conforming_strings = true;
    parameters
}

#[async_trait]
impl StartupHandler for TrustStartup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, &startup).await?;
        save_startup_parameters_to_metadata(client, &startup);
        self.register(client);
        let meta = client.metadata();
        let field = |key: &str| meta.get(key).map(String::as_str).unwrap_or("");
        info!(
            user = field(METADATA_USER),
            database = field(METADATA_DATABASE),
            application = field(METADATA_APPLICATION_NAME),
            "client connected"
        );
        finish_authentication(client, &self.parameters).await
    }
}
