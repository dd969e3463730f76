//! The extended query protocol (Parse / Bind / Describe / Execute / Sync).
//!
//! At Parse, [`StatementParser`] parses exactly one statement and asks the engine to
//! describe it (so, as in Postgres, unknown names fail at Parse); the statement and its
//! [`Description`] are kept together as a [`Prepared`] in pgwire's per-connection store.
//! Describe answers from that description; Execute ([`ExtendedQuery::do_query`]) decodes
//! the bound parameters and runs the statement, encoding rows in the formats the client
//! bound. pgwire keeps the portals, honours `max_rows` (PortalSuspended, at most
//! [`MAX_EXECUTE_ROWS`] per Execute) and the skip-until-Sync rule after an error.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, send_describe_response};
use pgwire::api::results::{DescribeStatementResponse, FieldInfo, Response};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, DEFAULT_NAME, Type};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::{NoData, ParameterDescription};
use pgwire::messages::extendedquery::{Describe, Execute, TARGET_TYPE_BYTE_STATEMENT};
use tracing::debug;

use super::errors::{SYNTAX_ERROR, pg_error, user_error};
use super::params;
use super::response::into_response;
use super::session::{send_reports, session_of};
use super::types::fields;
use crate::engine::{Description, Engine};
use crate::sql::Statement;

/// The most rows one Execute returns before PortalSuspended. pgwire reserves room for
/// `max_rows` rows up front, so a client asking for two billion would make it allocate
/// tens of gigabytes and abort the process (found by the `pgwire` fuzz target); a larger
/// `max_rows` is served in pieces of this size, which clients resume with another Execute.
pub(super) const MAX_EXECUTE_ROWS: i32 = 1 << 20;

/// A statement prepared by Parse, with what the engine said about it.
#[derive(Clone)]
pub(super) struct Prepared {
    /// The parsed statement.
    statement: Arc<Statement>,
    /// Its parameter and result types, as described at Parse.
    description: Arc<Description>,
}

impl Prepared {
    /// The parsed statement.
    pub(super) fn statement(&self) -> &Statement {
        &self.statement
    }

    /// The push query (SUBSCRIBE, EMIT CHANGES) this statement is, if it is one: the
    /// connection serves its Execute itself (`super::portal`).
    pub(super) fn subscription(&self) -> Option<&crate::sql::Subscribe> {
        match self.statement.as_ref() {
            Statement::Subscribe(s) => Some(s),
            _ => None,
        }
    }
}

/// Parses and describes the text of a Parse message.
pub(super) struct StatementParser {
    /// Where statements are parsed and described.
    engine: Engine,
}

#[async_trait]
impl QueryParser for StatementParser {
    type Statement = Prepared;

    async fn parse_sql<C>(&self, client: &C, sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        debug!(sql, "parse");
        let (engine, session, sql) = (self.engine.clone(), session_of(client, &self.engine), sql.to_string());
        let prepared = self.engine.offload(async move {
            let mut statements = engine.parse(&sql)?;
            if statements.len() > 1 {
                return Ok(Err(user_error(SYNTAX_ERROR, "cannot insert multiple commands into a prepared statement")));
            }
            let Some(statement) = statements.pop() else {
                return Ok(Ok(None)); // only comments: an empty statement
            };
            let description = session.describe(&statement).await?;
            Ok(Ok(Some(Prepared { statement: Arc::new(statement), description: Arc::new(description) })))
        });
        prepared.await.map_err(pg_error)?
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        let params = &stmt.description.params;
        Ok(params.iter().map(|t| parameter_type(t.as_ref())).collect())
    }

    fn get_result_schema(&self, stmt: &Prepared, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.description.schema {
            Some(schema) => fields(schema, format.unwrap_or(&Format::UnifiedText)),
            None => Ok(Vec::new()),
        }
    }
}

/// The Postgres type advertised for a parameter; `unknown` when the engine cannot tell or
/// the type has no Postgres counterpart (the client then sends text).
fn parameter_type(data_type: Option<&arrow::datatypes::DataType>) -> Type {
    data_type.and_then(|t| arrow_pg::datatypes::into_pg_type(t).ok()).unwrap_or(Type::UNKNOWN)
}

/// Answers the extended-protocol messages by running prepared statements on the engine.
pub(super) struct ExtendedQuery {
    /// Where prepared statements are executed.
    engine: Engine,
    /// Parses and describes Parse messages.
    parser: Arc<StatementParser>,
}

impl ExtendedQuery {
    /// A handler that prepares and executes statements on `engine`.
    pub(super) fn new(engine: Engine) -> Self {
        let parser = Arc::new(StatementParser { engine: engine.clone() });
        Self { engine, parser }
    }
}

#[async_trait]
impl ExtendedQueryHandler for ExtendedQuery {
    type Statement = Prepared;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<StatementParser> {
        self.parser.clone()
    }

    /// Like pgwire's, except that a statement with parameters but no result columns is
    /// answered with NoData (pgwire would send an empty RowDescription).
    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let stored = client.portal_store().get_statement(name);
        match stored {
            Some(Entry::Value(stmt)) if message.target_type == TARGET_TYPE_BYTE_STATEMENT => {
                let response = self.do_describe_statement(client, &stmt).await?;
                send_statement_description(client, response).await
            }
            _ => self._on_describe(client, message).await,
        }
    }

    /// pgwire's, with `max_rows` at most [`MAX_EXECUTE_ROWS`] and zero for no limit.
    async fn on_execute<C>(&self, client: &mut C, mut message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // As in Postgres, zero or less is no limit (pgwire would take a negative one as huge).
        message.max_rows = message.max_rows.clamp(0, MAX_EXECUTE_ROWS);
        self._on_execute(client, message).await
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Prepared>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared: &Prepared = &portal.statement.statement;
        let values = params::decode(portal, &prepared.description.params)?;
        debug!(portal = %portal.name, params = values.len(), "execute");
        let session = session_of(client, &self.engine);
        let (statement, running) = (prepared.statement.clone(), session.clone());
        let output = self.engine.offload(async move { running.execute(&statement, values).await }).await;
        send_reports(client, &session).await?;
        into_response(output.map_err(pg_error)?, &portal.result_column_format)
    }
}

/// Sends ParameterDescription, then RowDescription, or NoData for a statement without
/// result columns.
async fn send_statement_description<C>(client: &mut C, response: DescribeStatementResponse) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if !response.fields.is_empty() {
        return send_describe_response(client, &response).await;
    }
    let oids = response.parameters.iter().map(Type::oid).collect();
    client.feed(PgWireBackendMessage::ParameterDescription(ParameterDescription::new(oids))).await?;
    client.send(PgWireBackendMessage::NoData(NoData::new())).await?;
    Ok(())
}
