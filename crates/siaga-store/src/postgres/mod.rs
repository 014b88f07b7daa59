//! The PostgreSQL store (`store.url = "postgres://..."`, PostgreSQL 14+): the same tables
//! and meanings as the SQLite store, on a connection pool (deadpool-postgres over
//! tokio-postgres, no TLS). Every write is one READ COMMITTED transaction that locks what
//! it decides on (`SELECT ... FOR UPDATE` on the order, the
//! accounts a transfer moves, in id order) and is acknowledged only after PostgreSQL
//! acknowledged its COMMIT (durable with the server's default `synchronous_commit = on`).
//! Order intakes and settles that wait at the same moment share one transaction, each in
//! a savepoint, and one COMMIT ([`batch`]: group commit).
//! A transaction that certainly did not commit is run again; one whose commit went
//! unanswered is reported as unknown ([`tx`]). The money rules come from
//! [`crate::rules`]; this module only executes them.

mod batch;
mod cells;
mod chat;
mod cluster;
mod desk;
mod health;
mod ledger;
mod migrate;
mod notify;
mod operators;
mod orders;
mod outbox;
mod readback;
mod reports;
mod resellers;
mod status;
mod store;
mod transitions;
pub(crate) mod tx;
#[cfg(test)]
pub(crate) use readback::until_known;
mod verify;
mod vouchers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio::sync::mpsc;
use tokio_postgres::{Config, NoTls};

use crate::error::StoreError;
use crate::types::OutboxItem;
pub(crate) use migrate::{blocking, connect};

/// What a backup of a PostgreSQL store is made with: its own tools, not siaga.
pub(crate) const BACKUP_HINT: &str = "siaga does not copy a PostgreSQL store itself: back it up \
     with pg_dump (e.g. `pg_dump -Fc -f siaga.dump DBNAME`) and restore with pg_restore, or use \
     the server's own base backups and WAL archiving";

/// Connections in the pool.
const POOL_SIZE: usize = 16;
/// The outbox listener's queue: a message it cannot take at once is left for polling.
const FEED_CAPACITY: usize = 4096;

/// Where committed callback messages go: the outbox listener's queue, once it subscribed.
pub(crate) type Feed = Arc<Mutex<Option<mpsc::Sender<OutboxItem>>>>;

pub struct PgStore {
    pool: Pool,
    config: Config,
    feed: Feed,
    /// Group commit for intakes and settles ([`batch`]).
    batcher: Arc<batch::Batcher>,
    /// The node this handle acts for (SPEC 12): new and sent orders are owned by it.
    node: std::sync::OnceLock<String>,
}

impl PgStore {
    /// Connects to the database at `url`, applies pending migrations (waiting for another
    /// node that migrates the same schema) and sets up the pool. Blocking.
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError::Url(format!("not a PostgreSQL URL: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("siaga");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let c = config.clone();
        migrate::blocking(async move { migrate::run(&c).await })?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("connection pool: {e}")))?;
        let feed = Feed::default();
        Ok(PgStore {
            batcher: batch::Batcher::new(pool.clone(), feed.clone()),
            pool,
            config,
            feed,
            node: std::sync::OnceLock::new(),
        })
    }

    /// The newest schema version this build knows.
    pub fn schema_version() -> i64 {
        migrate::MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => StoreError::Postgres(e),
            other => StoreError::Unavailable(other.to_string()),
        })
    }

    /// Hands the messages of a committed transaction to the outbox listener, if any.
    pub(crate) fn feed(&self, items: Vec<OutboxItem>) {
        feed(&self.feed, items);
    }

    pub(crate) fn subscribe(&self) -> Option<mpsc::Receiver<OutboxItem>> {
        let (tx, rx) = mpsc::channel(FEED_CAPACITY);
        *self.feed.lock().ok()? = Some(tx);
        Some(rx)
    }
}

/// Hands `items`, committed, to the outbox listener of `slot`, if any; a full queue leaves
/// them for polling.
pub(crate) fn feed(slot: &Feed, items: Vec<OutboxItem>) {
    if items.is_empty() {
        return;
    }
    let Ok(mut slot) = slot.lock() else {
        return;
    };
    if let Some(tx) = slot.as_ref() {
        for item in items {
            match tx.try_send(item) {
                Ok(()) => {}
                // Left for polling.
                Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    *slot = None;
                    return;
                }
            }
        }
    }
}

/// Runs `sql` on its own connection to `url` (tests: making and dropping their schemas).
#[cfg(test)]
pub(crate) fn test_sql(url: &str, sql: &str) -> Result<(), StoreError> {
    let config: Config = url
        .parse()
        .map_err(|e| StoreError::Url(format!("not a PostgreSQL URL: {e}")))?;
    migrate::blocking(async move {
        let c = migrate::connect(&config).await?;
        c.batch_execute(sql).await?;
        Ok(())
    })
}

/// The first column of the first row of `sql` on `url`, as a number (tests).
#[cfg(test)]
pub(crate) fn test_number(url: &str, sql: &str) -> Result<i64, StoreError> {
    let config: Config = url
        .parse()
        .map_err(|e| StoreError::Url(format!("not a PostgreSQL URL: {e}")))?;
    migrate::blocking(async move {
        let c = migrate::connect(&config).await?;
        Ok(c.query_one(sql, &[]).await?.try_get(0)?)
    })
}
