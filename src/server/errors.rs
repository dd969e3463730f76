//! Postgres-style errors for the client: an engine [`Error`] as an ErrorResponse with its
//! SQLSTATE ([`Error::sqlstate`]), message, detail and hint, and the few errors the server
//! raises itself (syntax misuse of the protocol, internal errors).
//!
//! Used by every part of the server that answers a client.

use pgwire::error::{ErrorInfo, PgWireError};
use tracing::{debug, error};

use crate::error::Error;

/// SQLSTATE for a statement that is syntactically wrong (also used for protocol-level SQL
/// misuse such as several commands in one prepared statement).
pub(super) const SYNTAX_ERROR: &str = "42601";

/// SQLSTATE for a bug in Sluice itself.
const INTERNAL_ERROR: &str = "XX000";

/// The ErrorResponse fields for an engine error: severity ERROR, its SQLSTATE, its message.
pub(super) fn error_info(err: &Error) -> ErrorInfo {
    let code = err.sqlstate();
    if code == INTERNAL_ERROR {
        error!(code, error = %err, "internal error");
    } else {
        debug!(code, error = %err, "statement failed");
    }
    let mut info = ErrorInfo::new("ERROR".into(), code.into(), err.to_string());
    info.detail = err.detail();
    info.hint = err.hint();
    info
}

/// An engine error as a pgwire error, for handlers that return `PgWireResult`.
pub(super) fn pg_error(err: Error) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(&err)))
}

/// A user-facing error with the given SQLSTATE and message.
pub(super) fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

/// An internal error (XX000): an invariant between engine and server was broken.
pub(super) fn internal(message: String) -> PgWireError {
    error!(error = %message, "internal error");
    user_error(INTERNAL_ERROR, format!("internal error: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_sqlstate_and_message() {
        let info = error_info(&Error::Parse("syntax error at or near \"selec\"".into()));
        assert_eq!(info.severity, "ERROR");
        assert_eq!(info.code, "42601");
        assert_eq!(info.message, "syntax error at or near \"selec\"");
    }
}
