//! The SQLite store: one file in WAL mode. All writes go through one writer thread that
//! takes the write lock up front (`BEGIN IMMEDIATE`) and commits a batch of jobs at once
//! (group commit; a failing job is left out, see [`writer`]). A second thread makes each commit
//! durable (`fdatasync` of the WAL) while the writer already runs the next batch; callers
//! are answered only after that. Reads use a small connection pool and wait, before they
//! return, until what they saw is durable (see [`durable`]). A third thread copies the WAL
//! into the database (see [`checkpoint`]), off the writer's path.

pub mod backup;
mod cells;
mod chat;
pub(crate) mod checkpoint;
mod cluster;
mod desk;
pub(crate) mod durable;
pub(crate) mod files;
mod health;
mod ledger;
mod notify;
mod operators;
mod orders;
mod outbox;
mod reports;
mod resellers;
mod status;
mod verify;
mod vouchers;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::chat::{ChatLink, WrongPin};
use crate::cluster::{Leader, NodeBeat, NodeRow, SharedBreaker, TakenOver};
use crate::error::StoreError;
use crate::operators::OperatorAccount;
use crate::types::*;
use crate::Store;
use durable::{Durability, Synced};
use writer::{writer_loop, Feed, Job, Pending, FEED_CAPACITY};

pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_core.sql")),
    (2, include_str!("../../migrations/0002_health.sql")),
    (3, include_str!("../../migrations/0003_status.sql")),
    (4, include_str!("../../migrations/0004_notify.sql")),
    (5, include_str!("../../migrations/0005_reseller_access.sql")),
    (6, include_str!("../../migrations/0006_vouchers.sql")),
    (7, include_str!("../../migrations/0007_plain_rowids.sql")),
    (
        8,
        include_str!("../../migrations/0008_no_postings_by_transfer.sql"),
    ),
    (9, include_str!("../../migrations/0009_desk_audit.sql")),
    (10, include_str!("../../migrations/0010_dropin.sql")),
    (11, include_str!("../../migrations/0011_order_search.sql")),
    (12, include_str!("../../migrations/0012_chat.sql")),
    (13, include_str!("../../migrations/0013_cluster.sql")),
    (14, include_str!("../../migrations/0014_operators.sql")),
    (
        15,
        include_str!("../../migrations/0015_statement_watermark.sql"),
    ),
];

const READERS: usize = 8;

pub struct SqliteStore {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    feed: Feed,
    durability: Arc<Durability>,
    /// The node this handle acts for (SPEC 12): new and sent orders are owned by it.
    node: std::sync::OnceLock<String>,
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Every statement siaga runs stays prepared (the default cache of 16 is smaller than
    // the order path's set, so statements were parsed again and again).
    conn.set_prepared_statement_cache_capacity(256);
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // SQLite's procedure for rebuilding a table: foreign keys off (it cannot change inside
    // a transaction) so that dropping the old table deletes nothing, every reference
    // checked before the commit, and on again after.
    conn.execute_batch("PRAGMA foreign_keys=OFF;")?;
    let res = migrate_in_transaction(conn);
    conn.execute_batch("PRAGMA foreign_keys=ON;")?;
    res
}

fn migrate_in_transaction(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if MIGRATIONS.iter().all(|m| m.0 <= current) {
        return Ok(());
    }
    // Only references the migrations break count: a database may carry an old one (a
    // hand edit with foreign keys off), which is not this upgrade's to refuse.
    let broken_before = broken_references(&tx)?;
    for (version, sql) in MIGRATIONS {
        if *version > current {
            tx.execute_batch(sql)
                .map_err(|e| StoreError::Migration(format!("migration {version}: {e}")))?;
            tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
        }
    }
    let broken = broken_references(&tx)?;
    if broken > broken_before {
        return Err(StoreError::Migration(format!(
            "{} rows would lose what they refer to; nothing was changed",
            broken - broken_before
        )));
    }
    tx.commit()?;
    Ok(())
}

/// Rows whose foreign key points at nothing.
fn broken_references(c: &Connection) -> Result<i64, StoreError> {
    Ok(
        c.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })?,
    )
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let db = path.to_owned();
        Self::open_with_sync(path, Box::new(move || durable::sync_wal(&db)))
    }

    /// As [`Self::open`], with `sync` making the WAL durable (tests put a gate in it).
    pub(crate) fn open_with_sync(
        path: &Path,
        sync: durable::SyncFn,
    ) -> Result<SqliteStore, StoreError> {
        // Owner-only from the start; SQLite gives the WAL and shared-memory files the
        // database file's mode.
        files::create_private(path)?;
        let mut conn = connect(path)?;
        migrate(&mut conn)?;
        // The writer's savepoint journals stay in memory. Set after the migrations, whose
        // index builds would otherwise sort whole tables in memory too. Its commits write
        // the WAL without syncing it: the syncer thread does that before anyone hears of
        // them (the migrations above were synced by SQLite itself). It never checkpoints:
        // the checkpointer thread copies the WAL into the database on a connection of its
        // own.
        conn.execute_batch(
            "PRAGMA temp_store=MEMORY; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;",
        )?;
        let durability = Arc::new(Durability::default());
        let checkpoints = checkpoint::start(connect(path)?, path, durability.clone())
            .map_err(|e| StoreError::Commit(format!("cannot start checkpointer thread: {e}")))?;
        let (synced_tx, synced_rx) = std::sync::mpsc::channel::<Synced>();
        let d = durability.clone();
        std::thread::Builder::new()
            .name("siaga-store-sync".into())
            .spawn(move || durable::syncer_loop(synced_rx, &d, sync))
            .map_err(|e| StoreError::Commit(format!("cannot start syncer thread: {e}")))?;
        let (tx, rx) = mpsc::channel::<Job>(4096);
        let d = durability.clone();
        std::thread::Builder::new()
            .name("siaga-store-writer".into())
            .spawn(move || writer_loop(conn, rx, &d, synced_tx, &checkpoints))
            .map_err(|e| StoreError::Commit(format!("cannot start writer thread: {e}")))?;
        Ok(SqliteStore {
            path: path.to_owned(),
            writer: tx,
            readers: Arc::new(Mutex::new(Vec::new())),
            feed: Arc::default(),
            durability,
            node: std::sync::OnceLock::new(),
        })
    }

    /// The newest schema version this build knows.
    pub fn schema_version() -> i64 {
        MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
    }

    /// Runs `f` inside the shared write transaction; answers after the commit is durable.
    /// (A later read on any connection then sees it at once: see [`durable`].)
    /// `f` may run more than once (see [`WriteJob`]); only its last run counts.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(Pending {
            f,
            result: None,
            enqueued: Vec::new(),
            tx,
            feed: self.feed.clone(),
            queued_at: std::time::Instant::now(),
            ran_at: None,
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// As [`Self::read`], but on the calling thread: for the order path's point lookups by
    /// key (tens of microseconds), where handing the work to a blocking thread and back
    /// costs more than the read. WAL readers never wait for the writer.
    async fn read_now<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        let out = self.read_inline(true, f)?;
        self.durability.settled().await?;
        Ok(out)
    }

    /// As [`Self::read_now`], for `f` that runs one statement: that is its own read
    /// transaction already, so no `BEGIN`/`COMMIT` around it.
    async fn read_one<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        let out = self.read_inline(false, f)?;
        self.durability.settled().await?;
        Ok(out)
    }

    /// As [`Self::read_one`], without waiting for durability: only for what siaga reads for
    /// itself and never shows or acts on outside (an API key's reseller on the order path).
    fn read_one_unsettled<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        self.read_inline(false, f)
    }

    fn read_inline<T, F>(&self, snapshot: bool, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError>,
    {
        // The pool's lock is let go before a new connection is opened.
        let pooled = self.readers.lock().map_err(|_| StoreError::Closed)?.pop();
        let conn = match pooled {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        if snapshot {
            exec(&conn, "BEGIN DEFERRED")?;
        }
        let res = f(&conn);
        let end = if snapshot {
            exec(&conn, "COMMIT")
        } else {
            Ok(())
        };
        // A connection is pooled again only outside any transaction.
        if end.is_ok() && conn.is_autocommit() {
            if let Ok(mut p) = self.readers.lock() {
                if p.len() < READERS {
                    p.push(conn);
                }
            }
        }
        let out = res?;
        end?;
        Ok(out)
    }

    /// Runs `f` on a pooled read connection, in a read transaction (one snapshot).
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        let path = self.path.clone();
        let out = tokio::task::spawn_blocking(move || {
            let pooled = pool.lock().map_err(|_| StoreError::Closed)?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => connect(&path)?,
            };
            exec(&conn, "BEGIN DEFERRED")?;
            let res = f(&conn);
            let end = exec(&conn, "COMMIT");
            if end.is_ok() {
                if let Ok(mut p) = pool.lock() {
                    if p.len() < READERS {
                        p.push(conn);
                    }
                }
            }
            let out = res?;
            end?;
            Ok::<T, StoreError>(out)
        })
        .await
        .map_err(|_| StoreError::Closed)??;
        self.durability.settled().await?;
        Ok(out)
    }
}

/// Runs one parameterless statement through the statement cache (no parse per call).
pub(super) fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_reseller(&self, r: NewReseller) -> Result<(), StoreError> {
        self.write(move |c| resellers::create(c, &r)).await
    }
    async fn reseller(&self, id: &str) -> Result<Option<Reseller>, StoreError> {
        let id = id.to_owned();
        self.read_one_unsettled(|c| resellers::by_id(c, &id))
    }
    async fn reseller_by_key_hash(&self, key_hash: &str) -> Result<Option<Reseller>, StoreError> {
        let h = key_hash.to_owned();
        self.read_one_unsettled(|c| resellers::by_key_hash(c, &h))
    }
    async fn list_resellers(&self) -> Result<Vec<Reseller>, StoreError> {
        self.read(resellers::list).await
    }
    async fn set_reseller_access(
        &self,
        id: &str,
        ip_allowlist: &[String],
        require_signature: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (id, list) = (id.to_owned(), ip_allowlist.to_vec());
        self.write(move |c| resellers::set_access(c, &id, &list, require_signature, now))
            .await
    }
    async fn rotate_keys(
        &self,
        id: &str,
        key_hash: &str,
        secret: &str,
        digiflazz_key: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (id, h, s) = (id.to_owned(), key_hash.to_owned(), secret.to_owned());
        let dk = digiflazz_key.to_owned();
        self.write(move |c| resellers::rotate(c, &id, &h, &s, &dk, now))
            .await
    }
    async fn deposit(
        &self,
        reseller_id: &str,
        amount: i64,
        note: &str,
        now: i64,
    ) -> Result<Balance, StoreError> {
        let (id, note) = (reseller_id.to_owned(), note.to_owned());
        self.write(move |c| ledger::deposit(c, &id, amount, &note, now))
            .await
    }
    async fn balance(&self, reseller_id: &str) -> Result<Balance, StoreError> {
        let id = reseller_id.to_owned();
        self.read_now(|c| ledger::balance(c, &id)).await
    }
    async fn statement(&self, q: StatementQuery) -> Result<Vec<StatementLine>, StoreError> {
        self.read(move |c| ledger::statement(c, &q)).await
    }
    async fn create_order(&self, o: NewOrder) -> Result<Intake, StoreError> {
        let owner = self.node.get().cloned();
        self.write(move |c| orders::create(c, &o, owner.as_deref()))
            .await
    }
    async fn create_order_with_attempt(
        &self,
        o: NewOrder,
        first: NewAttempt,
    ) -> Result<(Intake, Option<Attempt>), StoreError> {
        let owner = self.node.get().cloned();
        self.write(move |c| orders::create_with_attempt(c, &o, &first, owner.as_deref()))
            .await
    }
    async fn order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        let id = order_id.to_owned();
        self.read_one(|c| orders::by_id(c, &id)).await
    }
    async fn order_by_ref(
        &self,
        reseller_id: &str,
        ref_id: &str,
    ) -> Result<Option<Order>, StoreError> {
        let (r, f) = (reseller_id.to_owned(), ref_id.to_owned());
        self.read_one(|c| orders::by_ref(c, &r, &f)).await
    }
    async fn list_orders(&self, q: OrderQuery) -> Result<Vec<Order>, StoreError> {
        self.read(move |c| orders::list(c, &q)).await
    }
    async fn search_orders(
        &self,
        text: Option<String>,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError> {
        self.read(move |c| orders::search(c, text.as_deref(), limit))
            .await
    }
    async fn attempts(&self, order_id: &str) -> Result<Vec<Attempt>, StoreError> {
        let id = order_id.to_owned();
        self.read_one(|c| orders::attempts(c, &id)).await
    }
    async fn attempt_by_supplier_ref(
        &self,
        supplier_id: &str,
        supplier_ref: &str,
    ) -> Result<Option<Attempt>, StoreError> {
        let (s, r) = (supplier_id.to_owned(), supplier_ref.to_owned());
        self.read(move |c| orders::attempt_by_ref(c, &s, &r)).await
    }
    async fn due_orders(&self, now: i64, limit: u32) -> Result<Vec<String>, StoreError> {
        let node = self.node.get().cloned();
        self.read(move |c| orders::due(c, now, limit, node.as_deref()))
            .await
    }
    async fn start_attempt(&self, a: NewAttempt) -> Result<Transition<Attempt>, StoreError> {
        let owner = self.node.get().cloned();
        self.write(move |c| orders::start_attempt(c, &a, owner.as_deref()))
            .await
    }
    async fn settle_attempt(&self, s: Settle) -> Result<Transition<Order>, StoreError> {
        self.write(move |c| orders::settle(c, &s)).await
    }
    async fn change_order(&self, ch: ChangeOrder) -> Result<Transition<Order>, StoreError> {
        self.write(move |c| orders::change(c, &ch)).await
    }
    async fn due_outbox(
        &self,
        now: i64,
        limit: u32,
        skip: &[String],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let skip = skip.to_vec();
        self.read(move |c| outbox::due(c, now, limit, &skip)).await
    }
    async fn outbox_done(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.write(move |c| outbox::done(c, &[id], now)).await
    }
    async fn outbox_done_many(&self, ids: Vec<i64>, now: i64) -> Result<(), StoreError> {
        self.write(move |c| outbox::done(c, &ids, now)).await
    }
    fn subscribe_outbox(&self) -> Option<mpsc::Receiver<OutboxItem>> {
        let (tx, rx) = mpsc::channel(FEED_CAPACITY);
        *self.feed.lock().ok()? = Some(tx);
        Some(rx)
    }
    fn write_times(&self) -> Option<crate::WriteTimesSnapshot> {
        Some(self.durability.times.snapshot())
    }
    async fn outbox_retry(
        &self,
        id: i64,
        next_at: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError> {
        let e = error.to_owned();
        self.write(move |c| outbox::retry(c, id, next_at, &e, dead))
            .await
    }
    async fn outbox_pending_count(&self) -> Result<i64, StoreError> {
        self.read(outbox::pending_count).await
    }
    fn set_node(&self, id: &str) {
        let _ = self.node.set(id.to_owned());
    }
    async fn node_beat(&self, n: NodeBeat) -> Result<(), StoreError> {
        self.write(move |c| cluster::beat(c, &n)).await
    }
    async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        self.read(cluster::nodes).await
    }
    async fn lead(&self, node: &str, now: i64, until: i64) -> Result<Leader, StoreError> {
        let node = node.to_owned();
        self.write(move |c| cluster::lead(c, &node, now, until))
            .await
    }
    async fn take_over(
        &self,
        node: &str,
        dead_before: i64,
        now: i64,
    ) -> Result<Vec<TakenOver>, StoreError> {
        let node = node.to_owned();
        self.write(move |c| cluster::take_over(c, &node, dead_before, now))
            .await
    }
    async fn share_breaker(
        &self,
        b: SharedBreaker,
        event: SupplierEvent,
    ) -> Result<bool, StoreError> {
        self.write(move |c| cluster::share_breaker(c, &b, &event))
            .await
    }
    async fn shared_breakers(&self) -> Result<Vec<SharedBreaker>, StoreError> {
        self.read(cluster::breakers).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        let at: i64 = self
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .await?;
        crate::error::schema_behind(at, SqliteStore::schema_version())
    }
    async fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.read(verify::run).await
    }
    async fn add_operator(&self, a: OperatorAccount) -> Result<bool, StoreError> {
        self.write(move |c| operators::add(c, &a)).await
    }
    async fn operator_account(&self, name: &str) -> Result<Option<OperatorAccount>, StoreError> {
        let n = name.to_owned();
        self.read(move |c| operators::one(c, &n)).await
    }
    async fn operator_accounts(&self) -> Result<Vec<OperatorAccount>, StoreError> {
        self.read(operators::all).await
    }
    async fn remove_operator(&self, name: &str) -> Result<bool, StoreError> {
        let n = name.to_owned();
        self.write(move |c| operators::remove(c, &n)).await
    }
    async fn backup_to(&self, out: &Path) -> Result<crate::BackupInfo, StoreError> {
        // The copy reads the file through its own connection (one read transaction) and
        // syncs the WAL it copies: the same as `siaga backup` on a running server.
        let (src, out) = (self.path.clone(), out.to_owned());
        tokio::task::spawn_blocking(move || crate::backup_to(src.as_path(), &out, &mut |_, _| {}))
            .await
            .map_err(|e| StoreError::Backup(format!("backup task: {e}")))?
    }
    async fn add_link_code(
        &self,
        reseller_id: &str,
        code_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (r, h) = (reseller_id.to_owned(), code_hash.to_owned());
        self.write(move |c| chat::add_code(c, &r, &h, expires_at, now))
            .await
    }
    async fn use_link_code(
        &self,
        code_hash: &str,
        chat_id: i64,
        now: i64,
    ) -> Result<Option<ChatLink>, StoreError> {
        let h = code_hash.to_owned();
        self.write(move |c| chat::use_code(c, &h, chat_id, now))
            .await
    }
    async fn chat_link(&self, chat_id: i64) -> Result<Option<ChatLink>, StoreError> {
        self.read(move |c| chat::link(c, chat_id)).await
    }
    async fn set_pin_hash(
        &self,
        reseller_id: &str,
        pin_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (r, h) = (reseller_id.to_owned(), pin_hash.to_owned());
        self.write(move |c| chat::set_pin(c, &r, &h, now)).await
    }
    async fn pin_hash(&self, reseller_id: &str) -> Result<Option<String>, StoreError> {
        let r = reseller_id.to_owned();
        self.read(move |c| chat::pin(c, &r)).await
    }
    async fn wrong_pin(
        &self,
        chat_id: i64,
        max: i64,
        lock_until: i64,
    ) -> Result<WrongPin, StoreError> {
        self.write(move |c| chat::wrong_pin(c, chat_id, max, lock_until))
            .await
    }
    async fn right_pin(&self, chat_id: i64) -> Result<(), StoreError> {
        self.write(move |c| chat::right_pin(c, chat_id)).await
    }
    async fn same_orders_since(
        &self,
        reseller_id: &str,
        product: &str,
        destination: &str,
        since: i64,
    ) -> Result<u32, StoreError> {
        let (r, p, d) = (
            reseller_id.to_owned(),
            product.to_owned(),
            destination.to_owned(),
        );
        self.read(move |c| chat::same_orders(c, &r, &p, &d, since))
            .await
    }
    async fn issue_vouchers(&self, vs: Vec<NewVoucher>) -> Result<Vec<Voucher>, StoreError> {
        self.write(move |c| vouchers::issue(c, &vs)).await
    }
    async fn incident_vouchers(&self, incident_id: i64) -> Result<Vec<Voucher>, StoreError> {
        self.read(move |c| vouchers::for_incident(c, incident_id))
            .await
    }
    async fn redeem_voucher(
        &self,
        reseller_id: &str,
        code: &str,
        now: i64,
    ) -> Result<Redeem, StoreError> {
        let (r, code) = (reseller_id.to_owned(), code.to_owned());
        self.write(move |c| vouchers::redeem(c, &r, &code, now))
            .await
    }
    async fn affected_resellers(
        &self,
        products: &[String],
        from: i64,
        to: i64,
        slow_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let products = products.to_vec();
        self.read(move |c| vouchers::affected(c, &products, from, to, slow_ms))
            .await
    }
    async fn add_supplier_event(&self, e: SupplierEvent) -> Result<i64, StoreError> {
        self.write(move |c| health::add_event(c, &e)).await
    }
    async fn supplier_events(
        &self,
        supplier_id: &str,
        limit: u32,
    ) -> Result<Vec<SupplierEvent>, StoreError> {
        let id = supplier_id.to_owned();
        self.read(move |c| health::events(c, &id, limit)).await
    }
    async fn add_maintenance(&self, w: MaintenanceWindow) -> Result<i64, StoreError> {
        self.write(move |c| health::add_window(c, &w)).await
    }
    async fn maintenance_windows(
        &self,
        ending_after: i64,
    ) -> Result<Vec<MaintenanceWindow>, StoreError> {
        self.read(move |c| health::windows(c, ending_after)).await
    }
    async fn replace_supplier_products(
        &self,
        supplier_id: &str,
        items: Vec<SupplierProduct>,
    ) -> Result<(), StoreError> {
        let id = supplier_id.to_owned();
        self.write(move |c| health::replace_products(c, &id, &items))
            .await
    }
    async fn supplier_products(&self) -> Result<Vec<(String, SupplierProduct)>, StoreError> {
        self.read(health::products).await
    }
    async fn learn_supplier_price(
        &self,
        supplier_id: &str,
        sku: &str,
        price: i64,
        at: i64,
    ) -> Result<(), StoreError> {
        let (id, sku) = (supplier_id.to_owned(), sku.to_owned());
        self.write(move |c| health::learn_price(c, &id, &sku, price, at))
            .await
    }
    async fn pending_by_stage(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT COALESCE(stage, ''), COUNT(*) FROM orders WHERE status = 'pending' GROUP BY stage")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
    async fn record_component_status(&self, ch: ComponentChange) -> Result<(), StoreError> {
        self.write(move |c| status::record_component(c, &ch)).await
    }
    async fn component_log(&self, since: i64) -> Result<Vec<ComponentChange>, StoreError> {
        self.read(move |c| status::component_log(c, since)).await
    }
    async fn create_incident(&self, n: NewIncident) -> Result<i64, StoreError> {
        self.write(move |c| status::create_incident(c, &n)).await
    }
    async fn add_incident_update(
        &self,
        id: i64,
        status: &str,
        body_id: &str,
        body_en: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let (s, bi, be) = (status.to_owned(), body_id.to_owned(), body_en.to_owned());
        self.write(move |c| status::add_update(c, id, &s, &bi, &be, at))
            .await
    }
    async fn set_postmortem(
        &self,
        id: i64,
        body_id: &str,
        body_en: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let (bi, be) = (body_id.to_owned(), body_en.to_owned());
        self.write(move |c| status::set_postmortem(c, id, &bi, &be, at))
            .await
    }
    async fn incidents(&self, since: i64) -> Result<Vec<Incident>, StoreError> {
        self.read(move |c| status::incidents(c, since)).await
    }
    async fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        self.read(move |c| status::incident(c, id)).await
    }
    async fn save_subscriber(&self, s: Subscriber) -> Result<(), StoreError> {
        self.write(move |c| notify::save_subscriber(c, &s)).await
    }
    async fn subscriber_by(&self, by: &str, value: &str) -> Result<Option<Subscriber>, StoreError> {
        let (by, value) = (by.to_owned(), value.to_owned());
        self.read(move |c| notify::subscriber_by(c, &by, &value))
            .await
    }
    async fn confirmed_subscribers(
        &self,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<Subscriber>, StoreError> {
        let after = after_id.to_owned();
        self.read(move |c| notify::confirmed_subscribers(c, &after, limit))
            .await
    }
    async fn subscriber_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.read(notify::subscriber_counts).await
    }
    async fn enqueue_notices(&self, f: Fanout) -> Result<usize, StoreError> {
        self.write(move |c| notify::enqueue(c, &f)).await
    }
    async fn claim_notices(
        &self,
        channel: &str,
        now: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<Notice>, StoreError> {
        let channel = channel.to_owned();
        self.write(move |c| notify::claim(c, &channel, now, limit, lease_ms))
            .await
    }
    async fn subscribe(&self, s: Subscriber, confirmation: Fanout) -> Result<(), StoreError> {
        self.write(move |c| {
            notify::save_subscriber(c, &s)?;
            notify::enqueue(c, &confirmation).map(|_| ())
        })
        .await
    }
    async fn prune_notices(&self, before: i64) -> Result<usize, StoreError> {
        self.write(move |c| notify::prune(c, before)).await
    }
    async fn release_notices(&self, now: i64) -> Result<usize, StoreError> {
        self.write(move |c| notify::release(c, now)).await
    }
    async fn notice_done(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.write(move |c| notify::done(c, id, now)).await
    }
    async fn notice_retry(
        &self,
        id: i64,
        next_at: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.write(move |c| notify::retry(c, id, next_at, &error, dead))
            .await
    }
    async fn notice_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.read(notify::notice_counts).await
    }
    async fn notify_mark(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.read(move |c| notify::mark(c, &key)).await
    }
    async fn set_notify_mark(&self, key: &str, value: &str, now: i64) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |c| notify::set_mark(c, &key, &value, now))
            .await
    }
    async fn notify_heads(&self) -> Result<(i64, i64, i64), StoreError> {
        self.read(notify::heads).await
    }
    async fn incident_updates_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, IncidentUpdate)>, StoreError> {
        self.read(move |c| notify::updates_after(c, after, limit))
            .await
    }
    async fn supplier_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, SupplierEvent)>, StoreError> {
        self.read(move |c| notify::events_after(c, after, limit))
            .await
    }
    async fn manual_review_orders(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.read(move |c| notify::manual_review(c, limit)).await
    }
    async fn awaiting_attempts(
        &self,
        supplier_id: &str,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        let id = supplier_id.to_owned();
        self.read(move |c| notify::awaiting(c, &id, limit)).await
    }
    async fn desk_orders(
        &self,
        supplier_ids: &[String],
        limit: u32,
    ) -> Result<Vec<crate::DeskItem>, StoreError> {
        let ids = supplier_ids.to_vec();
        self.read(move |c| desk::items(c, &ids, limit)).await
    }
    async fn take_desk_order(
        &self,
        order_id: &str,
        operator: &str,
        now: i64,
    ) -> Result<crate::DeskTake, StoreError> {
        let (id, op) = (order_id.to_owned(), operator.to_owned());
        self.write(move |c| desk::take(c, &id, &op, now)).await
    }
    async fn desk_claim(&self, order_id: &str) -> Result<Option<crate::DeskClaim>, StoreError> {
        let id = order_id.to_owned();
        self.read_one(|c| desk::claim(c, &id)).await
    }
    async fn add_audit(&self, e: crate::NewAudit) -> Result<i64, StoreError> {
        self.write(move |c| desk::add_audit(c, &e)).await
    }
    async fn audit(&self, f: crate::AuditFilter) -> Result<Vec<crate::AuditEntry>, StoreError> {
        self.read(move |c| desk::audit(c, &f)).await
    }
    async fn orders_with_attempts(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(Order, Vec<Attempt>)>, StoreError> {
        self.read(move |c| reports::orders_with_attempts(c, from, to))
            .await
    }
    async fn supplier_history(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, SupplierEvent)>, StoreError> {
        self.read(move |c| reports::supplier_history(c, from, to))
            .await
    }
}
