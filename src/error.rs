//! The library's one error type.
//!
//! Every variant carries the context a user needs to act on it: the object key, the table, the
//! URL (with any password removed) or the setting that was wrong. Binaries print the `Display`
//! form as the one-line cause; nothing here ever holds a password, because connection strings are
//! redacted before they are stored in an error (see `plan::redact_url`).

use std::fmt::{self, Write as _};

/// A boxed error from a lower layer (SDK, driver), kept for `source()` chains.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request, flag, URL or event field is malformed or out of range.
    #[error("invalid {what}: {reason}")]
    InvalidInput { what: String, reason: String },

    /// A store operation on one object failed (after the SDK's own retries).
    #[error("store error on {key}: {message}")]
    Store { key: String, message: String },

    /// The object does not exist in the store.
    #[error("object not found: {key}")]
    NotFound { key: String },

    /// Stored bytes do not match what the manifest recorded.
    #[error("integrity check failed for {key}: {reason}")]
    Integrity { key: String, reason: String },

    /// The manifest cannot be read, parsed or is of an unknown format.
    #[error("manifest {key}: {reason}")]
    Manifest { key: String, reason: String },

    /// The database could not be reached or refused the login.
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },

    /// A database statement failed; `context` says what we were doing (table, object).
    #[error("{context}: {reason}")]
    Database { context: String, reason: String },

    /// The database aborted a statement over a lock conflict (deadlock, lock wait timeout) and
    /// rolled its work back: the same work may be retried as it was.
    #[error("{context}: {reason}")]
    LockConflict { context: String, reason: String },

    /// Restore refused to touch a target that already holds data.
    #[error(
        "target {target} is not empty: {reason} (use --replace to drop and recreate the schemas)"
    )]
    TargetNotEmpty { target: String, reason: String },

    /// The source holds something this version cannot back up faithfully.
    #[error("unsupported: {reason}")]
    Unsupported { reason: String },

    /// Local I/O (files, threads) failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// The operation was cancelled (signal, or a sibling task failed first).
    #[error("cancelled: {reason}")]
    Cancelled { reason: String },

    /// Work stopped before the caller's deadline (a Lambda invocation's end); `progress` says how
    /// far it got and what was left behind.
    #[error("deadline reached {progress}")]
    DeadlineReached { progress: String },

    /// The deployment's configuration (environment variables, a secret's contents) is wrong.
    #[error("configuration: {what}: {reason}")]
    Configuration { what: String, reason: String },
}

impl Error {
    pub fn invalid(what: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::InvalidInput { what: what.into(), reason: reason.to_string() }
    }

    pub fn store(key: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Store { key: key.into(), message: message.to_string() }
    }

    pub fn integrity(key: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::Integrity { key: key.into(), reason: reason.to_string() }
    }

    pub fn manifest(key: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::Manifest { key: key.into(), reason: reason.to_string() }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    pub fn config(what: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::Configuration { what: what.into(), reason: reason.to_string() }
    }

    pub fn database(context: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::Database { context: context.into(), reason: reason.to_string() }
    }

    /// Append a note to the message, keeping the kind (e.g. what cleanup did after the failure).
    pub fn with_note(mut self, note: impl fmt::Display) -> Self {
        match &mut self {
            Error::InvalidInput { reason, .. }
            | Error::Integrity { reason, .. }
            | Error::Manifest { reason, .. }
            | Error::Connect { reason, .. }
            | Error::Database { reason, .. }
            | Error::LockConflict { reason, .. }
            | Error::TargetNotEmpty { reason, .. }
            | Error::Unsupported { reason }
            | Error::Cancelled { reason }
            | Error::Configuration { reason, .. } => {
                let _ = write!(reason, "; {note}");
            }
            Error::Store { message, .. } => {
                let _ = write!(message, "; {note}");
            }
            Error::NotFound { key } => {
                let _ = write!(key, " ({note})");
            }
            Error::Io { context, .. } => {
                let _ = write!(context, " ({note})");
            }
            Error::DeadlineReached { progress } => {
                let _ = write!(progress, "; {note}");
            }
        }
        self
    }

    /// A stable, routable name for the kind of failure (used in JSON reports and as the Lambda
    /// `errorType`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "InvalidRequest",
            Error::Store { .. } | Error::NotFound { .. } => "StoreError",
            Error::Integrity { .. } => "IntegrityError",
            Error::Manifest { .. } => "ManifestError",
            Error::Connect { .. } => "SourceUnavailable",
            Error::Database { .. } | Error::LockConflict { .. } => "DatabaseError",
            Error::TargetNotEmpty { .. } => "TargetNotEmpty",
            Error::Unsupported { .. } => "Unsupported",
            Error::Io { .. } => "IoError",
            Error::Cancelled { .. } => "Cancelled",
            Error::DeadlineReached { .. } => "DeadlineReached",
            Error::Configuration { .. } => "ConfigurationError",
        }
    }
}
