//! The one error type of Sluice and its mapping to Postgres SQLSTATE codes.
//!
//! Every fallible function in the library returns [`Result`]. Messages follow Postgres style:
//! lowercase, no trailing period, names in double quotes. [`Error::sqlstate`] is the only
//! place where errors are mapped to SQLSTATE codes; the server calls it for every error it
//! sends to a client.

use datafusion::common::SchemaError;
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
    /// Other objects depend on the one being dropped (2BP01); the hint names CASCADE.
    #[error("{message}")]
    DependentObjects {
        /// What cannot be dropped, and the first object that depends on it.
        message: String,
        /// Every dependent object, one per line.
        detail: String,
    },
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
    /// The data directory cannot be used: not writable, or locked by another process (58030).
    #[error("{0}")]
    DataDirectory(String),
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
    /// A statement nests too deeply to plan and run safely (54001).
    #[error("statement is too complex")]
    TooComplex {
        /// What nests too deeply.
        detail: String,
    },
    /// A limit of Sluice itself was exceeded: a value, a plan's fan-out (54000).
    #[error("{message}")]
    ProgramLimit {
        /// What was too large.
        message: String,
        /// How to stay within the limit.
        hint: String,
    },
    /// A view's definition cannot be maintained correctly, e.g. it calls `now()` (42P17).
    #[error("{message}")]
    InvalidDefinition {
        /// What is wrong.
        message: String,
        /// What to write instead.
        hint: String,
    },
    /// A statement needed more memory than its budget allows (53200).
    #[error("out of memory")]
    OutOfMemory {
        /// What ran out.
        detail: String,
    },
    /// A pipeline's state would take all pipelines over their memory budget (53200).
    #[error("out of memory for pipeline state")]
    StateMemory {
        /// Who holds how much.
        detail: String,
    },
    /// Every connection slot is taken (53300).
    #[error("sorry, too many clients already")]
    TooManyConnections,
    /// Only the slots reserved for superusers are left (53300).
    #[error("remaining connection slots are reserved for roles with the SUPERUSER attribute")]
    ReservedConnections,
    /// The statement ran longer than `statement_timeout` (57014).
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    /// The user lacks a privilege, or a file lies outside the allowed file roots (42501).
    #[error("{message}")]
    InsufficientPrivilege {
        /// What was refused.
        message: String,
        /// How to get the privilege.
        hint: Option<String>,
    },
    /// A file or directory that must exist does not (58P01).
    #[error("{0}")]
    UndefinedFile(String),
    /// A `$n` beyond what the protocol can bind (42P02).
    #[error("there is no parameter ${0}")]
    UndefinedParameter(usize),
    /// A file that must not exist yet does (58P02).
    #[error("{message}")]
    DuplicateFile {
        /// What was refused.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// The object is in use by another one, e.g. a file another sink writes (55006).
    #[error("{0}")]
    ObjectInUse(String),
    /// Stored data failed its checksum or cannot be decoded (XX001): never served as
    /// empty or partial data.
    #[error("could not read {what}: data corrupted")]
    Corrupted {
        /// What could not be read, e.g. `materialized view "v"`.
        what: String,
        /// Where the damage is: key space, object, key.
        detail: String,
    },
    /// A pipeline's stored state was computed by operators this build no longer plans for
    /// its SQL (55000): refused, its data kept.
    #[error("the stored state of {what} was computed by a different plan")]
    PlanChanged {
        /// The pipeline, e.g. `materialized view "v"`.
        what: String,
        /// The stored and the new plan.
        detail: String,
    },
    /// Text that is not valid in the encoding (22021).
    #[error("{0}")]
    CharacterNotInRepertoire(String),

    /// A column that does not exist (42703).
    #[error("{0}")]
    UndefinedColumn(String),

    /// A view or sink whose query names two columns alike (42701).
    #[error("column \"{0}\" specified more than once")]
    DuplicateColumn(String),

    /// A value out of its type's range (`bigint out of range`, 22003).
    #[error("{0}")]
    OutOfRange(String),

    /// A division by zero (22012).
    #[error("division by zero")]
    DivisionByZero,

    /// Another error with Postgres' HINT field: what the user can do instead
    /// ([`Error::with_hint`]); everything else is the inner error's.
    #[error("{error}")]
    Hinted {
        /// The error.
        error: Box<Error>,
        /// The hint: a sentence, capitalized, ending with a period.
        hint: String,
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
            Error::DependentObjects { .. } => "2BP01",
            Error::Unsupported(_) => "0A000",
            Error::InvalidParameter(_) => "22023",
            Error::Data(_) => "22000",
            Error::Connector(_) => "58000",
            Error::Unreachable(_) => "08001",
            Error::UndefinedObject(_) => "42704",
            Error::CantChange(_) => "55P02",
            Error::DataFusion(e) => datafusion_sqlstate(e),
            Error::Arrow(e) => arrow_sqlstate(e),
            Error::State(_) | Error::Io(_) | Error::DataDirectory(_) => "58030",
            Error::Shutdown(_) => "57P01",
            Error::Protocol(_) => "08P01",
            Error::AuthenticationFailed { .. } => "28P01",
            Error::InvalidAuthorization(_) => "28000",
            Error::Config(_) => "F0000",
            Error::Canceled | Error::StatementTimeout => "57014",
            Error::TooComplex { .. } => "54001",
            Error::ProgramLimit { .. } => "54000",
            Error::InvalidDefinition { .. } => "42P17",
            Error::OutOfMemory { .. } | Error::StateMemory { .. } => "53200",
            Error::TooManyConnections | Error::ReservedConnections => "53300",
            Error::InsufficientPrivilege { .. } => "42501",
            Error::UndefinedFile(_) => "58P01",
            Error::UndefinedParameter(_) => "42P02",
            Error::DuplicateFile { .. } => "58P02",
            Error::ObjectInUse(_) => "55006",
            Error::Corrupted { .. } => "XX001",
            Error::PlanChanged { .. } => "55000",
            Error::UndefinedColumn(_) => "42703",
            Error::DuplicateColumn(_) => "42701",
            Error::CharacterNotInRepertoire(_) => "22021",
            Error::OutOfRange(_) => "22003",
            Error::DivisionByZero => "22012",
            Error::Internal(_) => "XX000",
            Error::Hinted { error, .. } => error.sqlstate(),
        }
    }

    /// Postgres' DETAIL field: more about what went wrong, if there is more to say.
    pub fn detail(&self) -> Option<String> {
        match self {
            Error::TooComplex { detail } | Error::OutOfMemory { detail } | Error::StateMemory { detail } => {
                Some(detail.clone())
            }
            Error::Corrupted { detail, .. }
            | Error::PlanChanged { detail, .. }
            | Error::DependentObjects { detail, .. } => Some(detail.clone()),
            Error::Hinted { error, .. } => error.detail(),
            Error::DataFusion(e) => match e.find_root() {
                DataFusionError::ResourcesExhausted(m) => Some(lowercase_first(m)),
                DataFusionError::External(inner) => inner.downcast_ref::<Error>().and_then(Error::detail),
                _ => None,
            },
            _ => None,
        }
    }

    /// Postgres' HINT field: what the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::TooComplex { .. } => {
                Some("Split the expression or query into smaller parts, e.g. with a view or an IN list.".into())
            }
            Error::ProgramLimit { hint, .. } | Error::InvalidDefinition { hint, .. } => Some(hint.clone()),
            Error::InsufficientPrivilege { hint, .. } | Error::DuplicateFile { hint, .. } => hint.clone(),
            Error::OutOfMemory { .. } => Some(MEMORY_HINT.into()),
            Error::StateMemory { .. } => Some(STATE_MEMORY_HINT.into()),
            Error::Corrupted { .. } => Some(CORRUPTED_HINT.into()),
            Error::DependentObjects { .. } => Some("Use DROP ... CASCADE to drop the dependent objects too.".into()),
            Error::Hinted { hint, .. } => Some(hint.clone()),
            Error::PlanChanged { what, .. } => Some(format!(
                "Its data is kept: run the sluice release that created {what}, or drop it and create it again to compute it anew from its sources."
            )),
            Error::DataFusion(e) => match e.find_root() {
                DataFusionError::ResourcesExhausted(_) => Some(MEMORY_HINT.into()),
                DataFusionError::External(inner) => inner.downcast_ref::<Error>().and_then(Error::hint),
                _ => None,
            },
            _ => None,
        }
    }

    /// This error with `hint` in Postgres' HINT field, for what the user can do instead.
    pub fn with_hint(self, hint: impl Into<String>) -> Error {
        Error::Hinted { error: Box::new(self), hint: hint.into() }
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

/// The hint of every out-of-memory error.
const STATE_MEMORY_HINT: &str = "Bound the view's state (a window, a watermark, a time bound on a join, fewer groups), drop views you do not need, or start the server with a larger --state-memory.";
const MEMORY_HINT: &str = "Reduce the rows the query holds at once (a narrower WHERE, a LIMIT), or start the server with a larger --query-memory.";

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
        DataFusionError::SchemaError(e, _) if matches!(**e, SchemaError::AmbiguousReference { .. }) => "42702",
        DataFusionError::SchemaError(..) => "42703",
        DataFusionError::Plan(m) if m.contains("No function matches") || m.contains("Invalid function") => "42883",
        DataFusionError::Plan(m) => plan_sqlstate(m),
        DataFusionError::Execution(m) if m.contains("scalar subquery returned more than one row") => "21000",
        DataFusionError::Execution(_) => "22000",
        DataFusionError::ResourcesExhausted(_) => "53200",
        _ => "XX000",
    }
}

/// Postgres's SQLSTATE for a planning error DataFusion reports only as text.
fn plan_sqlstate(message: &str) -> &'static str {
    let message = message.to_lowercase();
    const GROUPING: [&str; 3] = [
        "must be in group by or an aggregate function",
        "aggregate functions are not allowed in the where clause",
        "aggregate function calls cannot be nested",
    ];
    if GROUPING.iter().any(|g| message.contains(g)) {
        "42803"
    } else if message.contains("order by column out of bounds") {
        "42P10"
    } else if message.contains("queries have different number of columns")
        || message.contains("the subquery should only return one column")
    {
        "42601"
    } else {
        "42000"
    }
}

fn is_missing_table(m: &str) -> bool {
    missing_table(m).is_some()
}

/// The relation's name in DataFusion's `table 'sluice.public.x' not found`, without the
/// catalog and schema DataFusion adds.
fn missing_table(m: &str) -> Option<&str> {
    let name = m.split_once("table '")?.1.split_once("' not found")?.0;
    name.rsplit('.').next()
}

/// A cast of text to a number or a boolean that could not read it: Postgres's
/// `invalid input syntax for type integer` (22P02).
fn is_bad_number_text(message: &str) -> bool {
    const TYPES: [&str; 9] = [
        "value of Int8 ",
        "value of Int16 ",
        "value of Int32 ",
        "value of Int64 ",
        "value of Float32 ",
        "value of Float64 ",
        "value of Boolean ",
        "value of Decimal128(",
        "value of Decimal256(",
    ];
    (message.starts_with("Cannot cast string") || message.starts_with("Cannot cast value '"))
        && TYPES.iter().any(|t| message.contains(t))
}

fn arrow_sqlstate(e: &arrow::error::ArrowError) -> &'static str {
    use arrow::error::ArrowError as A;
    match e {
        A::DivideByZero => "22012",
        A::CastError(m) if m.starts_with("Can't cast value") => "22003",
        A::CastError(m) if is_bad_number_text(m) => "22P02",
        A::InvalidArgumentError(m) if m.contains("is too large to store in a Decimal") => "22003",
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
        DataFusionError::Plan(m) if let Some(name) = missing_table(m) => format!("relation \"{name}\" does not exist"),
        DataFusionError::Plan(m) | DataFusionError::Execution(m) | DataFusionError::NotImplemented(m) => m.clone(),
        DataFusionError::SQL(p, _) => p.to_string().trim_start_matches("sql parser error: ").to_string(),
        DataFusionError::SchemaError(s, _) => s.to_string(),
        DataFusionError::ArrowError(a, _) if matches!(**a, arrow::error::ArrowError::DivideByZero) => {
            Error::DivisionByZero.to_string()
        }
        DataFusionError::ArrowError(a, _) => a.to_string(),
        // Ours, raised inside DataFusion (an ad-hoc read of a stream).
        DataFusionError::External(inner) => inner.to_string(),
        DataFusionError::ResourcesExhausted(_) => "out of memory".to_string(),
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
