//! Turns what the engine returns into pgwire responses: result sets (Arrow batches encoded
//! to `DataRow`s by arrow-pg through `super::types`, lazily, as the client reads them) and
//! command tags. Errors are `super::errors`'.
//!
//! Used by the simple and extended query handlers. It must not execute anything.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream;
use pgwire::api::portal::Format;
use pgwire::api::results::{CopyResponse, QueryResponse, Response, Tag};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;

use super::copy;
use super::errors::internal;
use super::types::{encode, fields};
use crate::engine::{CopyFormat, Output};

/// Converts one engine output into the response pgwire sends, encoding rows in `format`.
pub(super) fn into_response(output: Output, format: &Format) -> PgWireResult<Response> {
    match output {
        Output::Rows { schema, batches } => Ok(Response::Query(rows(&schema, batches, format)?)),
        Output::Command { tag, rows } => Ok(command(&tag, rows)),
        Output::Copy { schema, batches, format } => copy_out(&schema, &batches, &format),
    }
}

/// The rows of `COPY ... TO STDOUT`, one CopyData message per row (pgwire counts them for
/// the `COPY n` tag).
fn copy_out(schema: &SchemaRef, batches: &[RecordBatch], format: &CopyFormat) -> PgWireResult<Response> {
    let mut lines = Vec::new();
    for batch in batches {
        lines.extend(copy::rows(batch, format).map_err(|e| internal(e.to_string()))?);
    }
    if format.header && format.csv {
        // In the first row's message, so that the header is not counted as a row.
        let header = copy::header(schema, format);
        match lines.first_mut() {
            Some(first) => first.insert_str(0, &header),
            None => lines.push(header),
        }
    }
    let data = stream::iter(lines.into_iter().map(|l| Ok(CopyData::new(Bytes::from(l)))));
    Ok(Response::CopyOut(CopyResponse::new(0, schema.fields().len(), data)))
}

/// A result set whose rows are encoded batch by batch while pgwire writes them out; its
/// command tag is `SELECT n`.
fn rows(schema: &SchemaRef, batches: Vec<RecordBatch>, format: &Format) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(fields(schema, format)?);
    if let Some(bad) = batches.iter().find(|b| b.num_columns() != fields.len()) {
        return Err(internal(format!("batch has {} columns but its schema has {}", bad.num_columns(), fields.len())));
    }
    let encoder_fields = fields.clone();
    let data_rows = stream::iter(batches).flat_map(move |batch| stream::iter(encode(encoder_fields.clone(), batch)));
    Ok(QueryResponse::new(fields, data_rows))
}

/// A command completion. `BEGIN`-like and `COMMIT`-like tags also move the connection's
/// transaction status, so clients see the same status Postgres would report.
pub(super) fn command(tag: &str, rows: Option<usize>) -> Response {
    let mut completion = Tag::new(tag);
    if let Some(n) = rows {
        if tag == "INSERT" {
            // Postgres reports "INSERT oid n", with oid always 0 nowadays.
            completion = completion.with_oid(0);
        }
        completion = completion.with_rows(n);
    }
    match tag {
        "BEGIN" | "START TRANSACTION" => Response::TransactionStart(completion),
        "COMMIT" | "ROLLBACK" => Response::TransactionEnd(completion),
        _ => Response::Execution(completion),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgwire::messages::response::CommandComplete;

    fn tag_text(response: Response) -> String {
        let tag = match response {
            Response::Execution(t) | Response::TransactionStart(t) | Response::TransactionEnd(t) => t,
            _ => panic!("not a command response"),
        };
        CommandComplete::from(tag).tag
    }

    #[test]
    fn command_tags_read_like_postgres() {
        assert_eq!(tag_text(command("CREATE STREAM", None)), "CREATE STREAM");
        assert_eq!(tag_text(command("INSERT", Some(3))), "INSERT 0 3");
        assert_eq!(tag_text(command("DELETE", Some(2))), "DELETE 2");
    }

    #[test]
    fn transaction_tags_move_the_transaction_status() {
        assert!(matches!(command("BEGIN", None), Response::TransactionStart(_)));
        assert!(matches!(command("COMMIT", None), Response::TransactionEnd(_)));
        assert!(matches!(command("ROLLBACK", None), Response::TransactionEnd(_)));
        assert!(matches!(command("SET", None), Response::Execution(_)));
    }
}
