//! The store's error type.

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
