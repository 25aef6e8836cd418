//! The one error type of the library and how it maps to HTTP statuses and CLI exit codes.

use http::StatusCode;

/// Everything that can go wrong below the front doors (CLI, HTTP).
///
/// The `Display` text is safe to show a user: it never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller sent something that cannot be accepted (bad URL, empty secret, ...).
    #[error("{0}")]
    Invalid(String),
    /// A named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change clashes with existing state (duplicate name, ...).
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("migrations: {0}")]
    Migration(String),
    /// The secret key is missing, unreadable or does not decrypt this database's secrets.
    #[error("secret key: {0}")]
    Secret(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A failure of the process itself (a panicked task, an unusable database file).
    #[error("internal error: {0}")]
    Internal(String),
    /// An upstream account could not be used (an account test failed, a token exchange...).
    #[error("{0}")]
    Upstream(String),
    /// The database writer thread is gone (only during shutdown or after a fatal error).
    #[error("the database writer has stopped")]
    WriterGone,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::Upstream(_) => StatusCode::BAD_GATEWAY,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Database(_)
            | Error::Migration(_)
            | Error::Internal(_)
            | Error::Secret(_)
            | Error::Io { .. }
            | Error::WriterGone => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The process exit code the CLI uses: 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) | Error::NotFound(_) | Error::Conflict(_) => 2,
            _ => 1,
        }
    }
}

impl Error {
    /// Turns a UNIQUE constraint violation into `Conflict(message)`, leaving other errors alone.
    pub fn on_unique(self, message: impl FnOnce() -> String) -> Error {
        match &self {
            Error::Database(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Error::Conflict(message())
            }
            _ => self,
        }
    }
}
