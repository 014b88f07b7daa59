//! The store's error type.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
}
