//! The one error type of Sluice and its mapping to Postgres SQLSTATE codes.
//!
//! Every fallible function in the library returns [`Result`]. Messages follow Postgres style:
//! lowercase, no trailing period, names in double quotes. [`Error::sqlstate`] is the only
//! place where errors are mapped to SQLSTATE codes; the server calls it for every error it
//! sends to a client.

use datafusion::error::DataFusionError;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Sluice.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQL text does not parse (42601).
    #[error("{0}")]
    Parse(String),
    /// The statement parses but cannot be planned (42000 family).
    #[error("{0}")]
    Plan(String),
    /// A named relation does not exist (42P01).
    #[error("{kind} \"{name}\" does not exist")]
    UnknownRelation { kind: &'static str, name: String },
    /// A relation with that name exists already (42P07).
    #[error("{kind} \"{name}\" already exists")]
    DuplicateRelation { kind: &'static str, name: String },
    /// The object exists but is of another kind (42809).
    #[error("{0}")]
    WrongObjectType(String),
    /// Other objects depend on the one being dropped (2BP01).
    #[error("{0}")]
    DependentObjects(String),
    /// The feature is valid SQL but Sluice does not support it (0A000).
    #[error("{0}")]
    Unsupported(String),
    /// A value is invalid for its type or option (22023).
    #[error("{0}")]
    InvalidParameter(String),
    /// A run-time parameter that cannot be changed (55P02).
    #[error("{0}")]
    CantChange(String),
    /// Bad data met while executing (22000).
    #[error("{0}")]
    Data(String),
    /// A source or sink failed (58000).
    #[error("connector error: {0}")]
    Connector(String),
    /// An external system (a Kafka broker) cannot be reached (08001).
    #[error("{0}")]
    Unreachable(String),
    /// A named external object (a Kafka topic) does not exist (42704).
    #[error("{0}")]
    UndefinedObject(String),
    /// Error reported by DataFusion.
    #[error("{}", datafusion_message(.0))]
    DataFusion(#[from] DataFusionError),
    /// Error reported by Arrow.
    #[error("{0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The embedded store failed.
    #[error("storage error: {0}")]
    State(#[from] sled::Error),
    /// Operating-system I/O failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The server is shutting down or a pipeline stopped.
    #[error("{0}")]
    Shutdown(String),
    /// The client broke the wire protocol, e.g. a malformed SCRAM message (08P01).
    #[error("{0}")]
    Protocol(String),
    /// Wrong password or unknown user (28P01); the message never says which.
    #[error("password authentication failed for user \"{user}\"")]
    AuthenticationFailed { user: String },
    /// The client may not connect this way, e.g. without TLS or a user name (28000).
    #[error("{0}")]
    InvalidAuthorization(String),
    /// A configuration file or setting is invalid (F0000).
    #[error("{0}")]
    Config(String),
    /// A CancelRequest interrupted the statement (57014).
    #[error("canceling statement due to user request")]
    Canceled,
    /// Stored data failed its checksum or cannot be decoded (XX001): never served as
    /// empty or partial data.
    #[error("could not read {what}: data corrupted")]
    Corrupted {
        /// What could not be read, e.g. `materialized view "v"`.
        what: String,
        /// Where the damage is: key space, object, key.
        detail: String,
    },
    /// A bug: an invariant of Sluice itself was broken (XX000).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The Postgres SQLSTATE code for this error.
    /// Whether retrying later may succeed: the external system was unreachable.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unreachable(_))
    }

    /// The SQLSTATE code of this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Error::Parse(_) => "42601",
            Error::Plan(_) => "42000",
            Error::UnknownRelation { .. } => "42P01",
            Error::DuplicateRelation { .. } => "42P07",
            Error::WrongObjectType(_) => "42809",
            Error::DependentObjects(_) => "2BP01",
            Error::Unsupported(_) => "0A000",
            Error::InvalidParameter(_) => "22023",
            Error::Data(_) => "22000",
            Error::Connector(_) => "58000",
            Error::Unreachable(_) => "08001",
            Error::UndefinedObject(_) => "42704",
            Error::CantChange(_) => "55P02",
            Error::DataFusion(e) => datafusion_sqlstate(e),
            Error::Arrow(e) => arrow_sqlstate(e),
            Error::State(_) | Error::Io(_) => "58030",
            Error::Shutdown(_) => "57P01",
            Error::Protocol(_) => "08P01",
            Error::AuthenticationFailed { .. } => "28P01",
            Error::InvalidAuthorization(_) => "28000",
            Error::Config(_) => "F0000",
            Error::Canceled => "57014",
            Error::Corrupted { .. } => "XX001",
            Error::Internal(_) => "XX000",
        }
    }

    /// Postgres' DETAIL field: more about what went wrong, if there is more to say.
    pub fn detail(&self) -> Option<String> {
        match self {
            Error::Corrupted { detail, .. } => Some(detail.clone()),
            Error::DataFusion(e) => ours(e).and_then(Error::detail),
            _ => None,
        }
    }

    /// Postgres' HINT field: what the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Corrupted { .. } => Some(CORRUPTED_HINT.into()),
            Error::DataFusion(e) => ours(e).and_then(Error::hint),
            _ => None,
        }
    }

    /// A [`Error::Corrupted`] now naming `what` (the object a reader was after), the
    /// store's description of the damage kept in the detail; other errors unchanged.
    pub fn corrupting(self, what: impl Into<String>) -> Error {
        match self {
            Error::Corrupted { what: inner, detail } => {
                Error::Corrupted { what: what.into(), detail: format!("{inner}: {detail}") }
            }
            other => other,
        }
    }

    /// Whether stored data was found damaged.
    pub fn is_corrupted(&self) -> bool {
        match self {
            Error::Corrupted { .. } => true,
            Error::DataFusion(e) => ours(e).is_some_and(Error::is_corrupted),
            _ => false,
        }
    }
}

/// Our error inside a DataFusion error (raised by a table provider), if it is one.
fn ours(e: &DataFusionError) -> Option<&Error> {
    match e.find_root() {
        DataFusionError::External(inner) => inner.downcast_ref::<Error>(),
        _ => None,
    }
}

/// The hint of every data-corrupted error.
const CORRUPTED_HINT: &str =
    "DROP the damaged object and create it again, or restore the data directory from a backup.";

/// Builds an [`Error::Plan`] from format arguments.
#[macro_export]
macro_rules! plan_err {
    ($($arg:tt)*) => { Err($crate::error::Error::Plan(format!($($arg)*))) };
}

/// Builds an [`Error::Unsupported`] from format arguments.
#[macro_export]
macro_rules! unsupported {
    ($($arg:tt)*) => { Err($crate::error::Error::Unsupported(format!($($arg)*))) };
}

fn datafusion_sqlstate(e: &DataFusionError) -> &'static str {
    match e.find_root() {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ArrowError(a, _) => arrow_sqlstate(a),
        DataFusionError::External(inner) => match inner.downcast_ref::<Error>() {
            Some(ours) => ours.sqlstate(),
            None => "XX000",
        },
        DataFusionError::Plan(m) if is_missing_table(m) => "42P01",
        DataFusionError::SchemaError(..) => "42703",
        DataFusionError::Plan(m) if m.contains("No function matches") || m.contains("Invalid function") => "42883",
        DataFusionError::Plan(_) => "42000",
        DataFusionError::Execution(_) => "22000",
        _ => "XX000",
    }
}

fn is_missing_table(m: &str) -> bool {
    m.contains("table '") && m.contains("not found")
}

fn arrow_sqlstate(e: &arrow::error::ArrowError) -> &'static str {
    use arrow::error::ArrowError as A;
    match e {
        A::DivideByZero => "22012",
        A::CastError(_) | A::ParseError(_) | A::ComputeError(_) => "22000",
        A::ArithmeticOverflow(_) => "22003",
        _ => "XX000",
    }
}

/// DataFusion's messages carry prefixes such as "Error during planning: "; Postgres clients
/// expect the bare, lowercase-first message.
fn datafusion_message(e: &DataFusionError) -> String {
    let root = e.find_root();
    let text = match root {
        DataFusionError::Plan(m) | DataFusionError::Execution(m) | DataFusionError::NotImplemented(m) => m.clone(),
        DataFusionError::SQL(p, _) => p.to_string().trim_start_matches("sql parser error: ").to_string(),
        DataFusionError::SchemaError(s, _) => s.to_string(),
        DataFusionError::ArrowError(a, _) => a.to_string(),
        // Ours, raised inside DataFusion (an ad-hoc read of a stream).
        DataFusionError::External(inner) => inner.to_string(),
        other => other.to_string(),
    };
    lowercase_first(&text)
}

/// An internal error describing a caught panic's payload.
pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Error::Internal(what)
}

/// Lowercases the first character of `s`, Postgres style.
pub fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<datafusion::sql::sqlparser::parser::ParserError> for Error {
    fn from(e: datafusion::sql::sqlparser::parser::ParserError) -> Self {
        let msg = e.to_string();
        Error::Parse(lowercase_first(msg.trim_start_matches("sql parser error: ")))
    }
}
