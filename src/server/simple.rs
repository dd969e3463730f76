//! The simple query protocol (`Query` message): parse the text into statements, execute
//! them in order, answer each with rows or a command tag; the first error is answered with
//! an ErrorResponse and the remaining statements are skipped, as Postgres does.
//!
//! pgwire calls [`SimpleQuery`] for every `Query` message; pgwire itself handles the empty
//! query string and sends ReadyForQuery. Results are always in text format here. Statements
//! run in the connection's session (`super::session`).

use std::fmt::Debug;

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

use super::response::{error_info, into_response, pg_error};
use super::session::{send_reports, session_of};
use crate::engine::{Engine, Session};

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

    /// Executes the statements of `sql` in order in `session`, stopping after the first
    /// failure, whose error becomes the last response.
    async fn execute_all(&self, session: &Session, sql: &str) -> PgWireResult<Vec<Response>> {
        let statements = self.engine.parse(sql).map_err(pg_error)?;
        if statements.is_empty() {
            // Only comments: Postgres answers EmptyQueryResponse.
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in &statements {
            let response = match session.execute(statement, Vec::new()).await {
                Ok(output) => into_response(output, &Format::UnifiedText)
                    .unwrap_or_else(|e| Response::Error(Box::new(ErrorInfo::from(e)))),
                Err(e) => Response::Error(Box::new(error_info(&e))),
            };
            let failed = matches!(response, Response::Error(_));
            responses.push(response);
            if failed {
                break;
            }
        }
        Ok(responses)
    }
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
        let responses = self.execute_all(&session, query).await;
        send_reports(client, &session).await?;
        responses
    }
}
