//! The simple query protocol (`Query` message): parse the text into statements, execute
//! them in order, answer each with rows or a command tag; the first error is answered with
//! an ErrorResponse and the remaining statements are skipped, as Postgres does.
//!
//! pgwire calls [`SimpleQuery`] for every `Query` message; pgwire itself handles the empty
//! query string and sends ReadyForQuery. Results are always in text format here. Statements
//! run in the connection's session (`super::session`). The text is parsed once, on the
//! engine's statement threads, before the connection dispatches it ([`ParsedQuery`]): the
//! connection needs the statements to tell a push query or a statement that must not be
//! cancelled, and the execution here takes them from the session's extensions.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::portal::Format;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::Response;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use tracing::debug;

use super::errors::{error_info, pg_error};
use super::response::into_response;
use super::session::{send_reports, session_of};
use crate::engine::{Engine, Output, Session};
use crate::error::Result;
use crate::sql::Statement;

/// A `Query` message's text parsed on the statement threads, never on the threads that
/// move protocol messages.
pub(super) struct ParsedQuery {
    sql: String,
    /// None when the text does not parse (the execution parses it again for the error).
    pub(super) statements: Option<Vec<Statement>>,
}

impl ParsedQuery {
    /// Parses `sql` on `engine`'s statement threads.
    pub(super) async fn parse(engine: &Engine, sql: &str) -> Arc<ParsedQuery> {
        let (parser, text) = (engine.clone(), sql.to_string());
        let statements = engine.offload(async move { parser.parse(&text) }).await.ok();
        Arc::new(ParsedQuery { sql: sql.to_string(), statements })
    }
}

/// Answers `Query` messages by running each statement through the engine.
pub(super) struct SimpleQuery {
    /// Where statements are parsed and executed.
    engine: Engine,
}

impl SimpleQuery {
    /// A handler that sends statements to `engine`.
    pub(super) fn new(engine: Engine) -> Self {
        Self { engine }
    }

    /// Executes the statements of `sql` in order in `session` on the engine's statement
    /// threads, stopping after the first failure, whose error becomes the last response.
    /// `parsed` is the text parsed before, if it is this text.
    async fn execute_all(
        &self,
        session: &Arc<Session>,
        sql: &str,
        parsed: Option<Arc<ParsedQuery>>,
    ) -> PgWireResult<Vec<Response>> {
        let (engine, session, sql) = (self.engine.clone(), session.clone(), sql.to_string());
        let parsed = parsed.filter(|p| p.sql == sql);
        let outcomes = self.engine.offload(async move { run_all(&engine, &session, &sql, parsed).await }).await;
        let outcomes = outcomes.map_err(pg_error)?;
        if outcomes.is_empty() {
            // Only comments: Postgres answers EmptyQueryResponse.
            return Ok(vec![Response::EmptyQuery]);
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Ok(output) => into_response(output, &Format::UnifiedText)
                    .unwrap_or_else(|e| Response::Error(Box::new(ErrorInfo::from(e)))),
                Err(e) => Response::Error(Box::new(error_info(&e))),
            })
            .collect())
    }
}

/// Executes the statements of `sql` (`parsed`, or parsed now) in order in `session`, up to
/// and including the first that fails.
async fn run_all(
    engine: &Engine,
    session: &Session,
    sql: &str,
    parsed: Option<Arc<ParsedQuery>>,
) -> Result<Vec<Result<Output>>> {
    let statements = match parsed.as_ref().and_then(|p| p.statements.as_ref()) {
        Some(statements) => statements.clone(),
        None => engine.parse(sql)?,
    };
    let mut outcomes = Vec::new();
    for statement in &statements {
        let outcome = session.execute(statement, Vec::new()).await;
        let failed = outcome.is_err();
        outcomes.push(outcome);
        if failed {
            break;
        }
    }
    Ok(outcomes)
}

#[async_trait]
impl SimpleQueryHandler for SimpleQuery {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        debug!(sql = query, "simple query");
        let session = session_of(client, &self.engine);
        let parsed = client.session_extensions().get::<Arc<ParsedQuery>>().map(|p| (*p).clone());
        let responses = self.execute_all(&session, query, parsed).await;
        send_reports(client, &session).await?;
        responses
    }
}
