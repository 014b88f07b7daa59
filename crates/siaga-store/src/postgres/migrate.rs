//! PostgreSQL schema versions: the files of `migrations-pg/`, each applied at open in a
//! transaction of its own and recorded in `schema_migrations`. Several nodes opening one
//! database at once take turns: the runner holds a session advisory lock (keyed by the
//! schema) while it looks and migrates.

use std::future::Future;

use tokio_postgres::{Client, Config, NoTls};

use crate::error::StoreError;

pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations-pg/0001_core.sql")),
    (
        2,
        include_str!("../../migrations-pg/0002_health_status.sql"),
    ),
    (3, include_str!("../../migrations-pg/0003_notify.sql")),
    (4, include_str!("../../migrations-pg/0004_vouchers.sql")),
    (
        5,
        include_str!("../../migrations-pg/0005_desk_audit_search.sql"),
    ),
    (6, include_str!("../../migrations-pg/0006_dropin.sql")),
    (7, include_str!("../../migrations-pg/0007_chat.sql")),
    (8, include_str!("../../migrations-pg/0008_cluster.sql")),
    (9, include_str!("../../migrations-pg/0009_operators.sql")),
    (
        10,
        include_str!("../../migrations-pg/0010_statement_watermark.sql"),
    ),
];

const LOCK: &str =
    "SELECT pg_advisory_lock(hashtext('siaga.migrate.' || COALESCE(current_schema(), '')))";
const UNLOCK: &str =
    "SELECT pg_advisory_unlock(hashtext('siaga.migrate.' || COALESCE(current_schema(), '')))";

/// Runs `fut` to its end on a thread of its own with its own runtime: for the few
/// blocking steps of opening a store (callable from async code and from plain code alike).
pub(crate) fn blocking<T, F>(fut: F) -> Result<T, StoreError>
where
    T: Send,
    F: Future<Output = Result<T, StoreError>> + Send,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StoreError::Unavailable(format!("cannot start a runtime: {e}")))?
                .block_on(fut)
        })
        .join()
        .map_err(|_| StoreError::Unavailable("the database task panicked".into()))?
    })
}

/// A connection of its own (not pooled), driven on the current runtime.
pub(crate) async fn connect(config: &Config) -> Result<Client, StoreError> {
    let (client, conn) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "database connection ended");
        }
    });
    Ok(client)
}

/// Applies the migrations the database does not have yet. Refuses a database whose
/// schema is newer than this build knows.
pub(crate) async fn run(config: &Config) -> Result<(), StoreError> {
    let mut c = connect(config).await?;
    c.execute(LOCK, &[]).await?;
    let res = apply(&mut c).await;
    // Dropping the connection would let the lock go too; said plainly all the same.
    let _ = c.execute(UNLOCK, &[]).await;
    res
}

async fn apply(c: &mut Client) -> Result<(), StoreError> {
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at BIGINT NOT NULL
         )",
    )
    .await
    .map_err(|e| StoreError::Migration(format!("schema_migrations: {e}")))?;
    let current: i64 = c
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    let known = super::PgStore::schema_version();
    if current > known {
        return Err(StoreError::Migration(format!(
            "the database is at schema version {current}, newer than this siaga knows ({known}); \
             use a newer siaga"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = c.transaction().await?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError::Migration(format!("migration {version}: {}", detail(&e))))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at)
             VALUES ($1, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)",
            &[version],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "database migrated");
    }
    Ok(())
}

/// A database error's own message, where it has one.
pub(crate) fn detail(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}
