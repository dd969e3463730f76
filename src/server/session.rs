//! Finds a connection's [`Session`] and tells the client about parameter changes.
//!
//! The simple and extended query handlers call [`session_of`] for every message: the
//! session is made on first use, for the user the client logged in as and with the
//! parameters it sent at startup, and lives in pgwire's per-connection extensions until
//! the connection closes. [`send_reports`] sends ParameterStatus for the parameters a
//! statement changed (application_name, TimeZone, ...), as Postgres does.

use std::fmt::Debug;
use std::sync::Arc;

use futures::{Sink, SinkExt};
use pgwire::api::{ClientInfo, METADATA_DATABASE, METADATA_USER};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::startup::ParameterStatus;
use tracing::debug;

use super::startup::Superuser;
use crate::engine::{DEFAULT_USER, Engine, Session};

/// Startup parameters that are not run-time parameters.
const NOT_SETTINGS: [&str; 4] = [METADATA_USER, METADATA_DATABASE, "options", "replication"];

/// The session of `client`'s connection, made on first use.
pub(super) fn session_of<C: ClientInfo>(client: &C, engine: &Engine) -> Arc<Session> {
    // Read before `get_or_insert_with`, which holds the extensions' lock while it makes the
    // session. A connection that did not pass our startup handler gets no file access.
    let superuser = client.session_extensions().get::<Superuser>().is_some_and(|s| s.0);
    client.session_extensions().get_or_insert_with(|| {
        let metadata = client.metadata();
        let user = metadata.get(METADATA_USER).map(String::as_str).unwrap_or(DEFAULT_USER);
        let session = engine.session(user).with_superuser(superuser);
        let plain = metadata.iter().filter(|(k, _)| !NOT_SETTINGS.contains(&k.as_str()));
        let mut options: Vec<(&str, &str)> = plain.map(|(k, v)| (k.as_str(), v.as_str())).collect();
        options.extend(metadata.get("options").map(|o| command_line_options(o)).unwrap_or_default());
        for refused in session.apply_startup(options) {
            debug!(error = %refused, "startup parameter ignored");
        }
        // Startup values are reported by the startup handler; only later changes are sent.
        session.take_reports();
        session
    })
}

/// The `-c name=value` and `--name=value` settings of the startup `options` parameter.
fn command_line_options(options: &str) -> Vec<(&str, &str)> {
    let mut settings = Vec::new();
    let mut words = options.split_whitespace();
    while let Some(word) = words.next() {
        let setting = match word {
            "-c" => words.next(),
            w => w.strip_prefix("--").or_else(|| w.strip_prefix("-c")),
        };
        if let Some((name, value)) = setting.and_then(|s| s.split_once('=')) {
            settings.push((name, value));
        }
    }
    settings
}

/// Sends ParameterStatus for every reported parameter `session` changed.
pub(super) async fn send_reports<C>(client: &mut C, session: &Session) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for (name, value) in session.take_reports() {
        client.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_give_settings() {
        assert_eq!(
            command_line_options("-c search_path=s1 --application_name=x -cstatement_timeout=5"),
            vec![("search_path", "s1"), ("application_name", "x"), ("statement_timeout", "5")]
        );
        assert!(command_line_options("-c").is_empty());
    }
}
