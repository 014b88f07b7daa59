//! The store's error type, and the one place that says which errors mean "the database
//! cannot be reached now" (see [`StoreError::is_unavailable`]).

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The connection was lost while a COMMIT was on its way: the transaction may or may
    /// not have been committed. Never retried blindly; read back what it wrote first.
    #[error("the outcome of the transaction is unknown (the connection was lost during its commit): {0}")]
    OutcomeUnknown(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("the store's writer has stopped")]
    Closed,
    #[error("the transaction could not be committed: {0}")]
    Commit(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("backup: {0}")]
    Backup(String),
    #[error("store URL: {0}")]
    Url(String),
    #[error("secrets: {0}")]
    Secrets(String),
    #[error("database files: {0}")]
    Files(String),
    #[error("store copy: {0}")]
    Copy(String),
}

/// How long a caller is asked to wait (`Retry-After`) when the database is unreachable: a
/// PostgreSQL restart or failover usually takes a few seconds.
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(2);

impl StoreError {
    /// Whether this is trouble with reaching the database rather than with the request or
    /// the data: the connection refused, reset or closed; the pool's wait for a connection
    /// timed out; the server shutting down or ending the session (57P01-57P03, any FATAL);
    /// a connection exception (SQLSTATE class 08); a serialization failure or deadlock
    /// still there after the retries (40001, 40P01); the server out of resources (class
    /// 53: disk full, out of memory, too many connections) or read-only (25006: a standby,
    /// as during a failover); a commit whose outcome is unknown; SQLite busy or locked past
    /// its timeout, or its disk full. The HTTP edge answers these `503` with
    /// `Retry-After`, never `500`: the request may be sent again as it is.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_) => true,
            StoreError::Postgres(e) => {
                pg_connection_lost(e) || pg_retryable_code(e) || pg_server_trouble(e)
            }
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::DiskFull
                )
            ),
            _ => false,
        }
    }
}

/// A serialization failure or deadlock (40001, 40P01): the server rolled the transaction
/// back; it may run again.
pub(crate) fn pg_retryable_code(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// The server cannot take the work now, whatever the statement: out of resources (class
/// 53) or read-only (25006, a standby: reached during a failover).
fn pg_server_trouble(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| c.code().starts_with("53") || c.code() == "25006")
}

/// Whether the error is the connection's, not the statement's: closed, an I/O error, a
/// connection exception (SQLSTATE class 08), or the server ending the session or refusing
/// it (57P01-57P03, any FATAL: a terminated backend, a server shutting down or restarting,
/// a database not accepting connections, too many connections).
pub(crate) fn pg_connection_lost(e: &tokio_postgres::Error) -> bool {
    use std::error::Error as _;
    use tokio_postgres::error::Severity;
    if e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        return true;
    }
    let session_ended = e.as_db_error().is_some_and(|db| {
        matches!(
            db.parsed_severity(),
            Some(Severity::Fatal | Severity::Panic)
        )
    });
    session_ended
        || e.code().is_some_and(|c| {
            let c = c.code();
            c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03")
        })
}

/// `Err` when a database at schema version `at` lacks migrations this build knows
/// (`want`): both stores' [`crate::Store::ping`].
pub(crate) fn schema_behind(at: i64, want: i64) -> Result<(), StoreError> {
    if at < want {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {at}; this siaga needs {want}"
        )));
    }
    Ok(())
}
