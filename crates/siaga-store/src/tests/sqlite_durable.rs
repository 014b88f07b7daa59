//! SQLite only: durability (answers wait for the WAL sync, a failed sync stops the store,
//! the right WAL is synced) and everything surviving a reopen or a crash copy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;

/// Shuts the syncer's gate: commits are written but not synced until it opens.
pub(super) struct SyncGate(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl SyncGate {
    pub(super) fn set(&self, open: bool) {
        *self.0 .0.lock().expect("gate") = open;
        self.0 .1.notify_all();
    }
    pub(super) fn open(&self) {
        self.set(true);
    }
}

/// A store at `path` whose syncs wait at a gate, with reseller r1 holding 1,000; then the
/// gate shut and a deposit of 2,000 committed (another connection sees 3,000) whose caller
/// still waits for its sync.
pub(super) async fn a_deposit_committed_not_synced(
    path: &Path,
) -> (
    Arc<SqliteStore>,
    SyncGate,
    tokio::task::JoinHandle<Result<Balance, crate::StoreError>>,
) {
    let gate = SyncGate(Arc::new((
        std::sync::Mutex::new(true),
        std::sync::Condvar::new(),
    )));
    let g = gate.0.clone();
    let store = SqliteStore::open_with_sync(
        path,
        Box::new(move || {
            let (open, cv) = &*g;
            let mut o = open.lock().expect("gate");
            while !*o {
                o = cv.wait(o).expect("gate");
            }
            Ok(())
        }),
    )
    .unwrap();
    let store = Arc::new(store);
    add_reseller(&*store, "r1", None).await;
    store.deposit("r1", 1_000, "first", T0).await.unwrap();
    gate.set(false);
    let s = store.clone();
    let deposit = tokio::spawn(async move { s.deposit("r1", 2_000, "second", T0 + 1).await });
    let raw = raw_conn(path);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while raw
        .query_row(
            "SELECT balance FROM accounts WHERE id = 'reseller:r1:available'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        != 3_000
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the commit never came"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (store, gate, deposit)
}

/// A commit is written at once but answered only once its sync is done; and a read that
/// could see it waits for that sync too (nothing shown that a power cut could take back).
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_is_answered_and_shown_only_after_its_sync() {
    let (_dir, path) = temp_db();
    let (store, gate, deposit) = a_deposit_committed_not_synced(&path).await;
    // The commit itself is in the database (another connection sees it) ...
    // ... but its caller has not heard, and a store read that could see it waits.
    let s = store.clone();
    let read = tokio::spawn(async move { s.balance("r1").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!deposit.is_finished(), "answered before the sync");
    assert!(!read.is_finished(), "shown before the sync");
    gate.open();
    let after = deposit.await.unwrap().unwrap();
    assert_eq!(after.available, 3_000);
    assert_eq!(read.await.unwrap().unwrap().available, 3_000);
    // Nothing pending: a read answers at once.
    let quick = tokio::time::timeout(Duration::from_secs(5), store.balance("r1")).await;
    assert_eq!(quick.unwrap().unwrap().available, 3_000);
}

/// A failed sync stops the store: the commit it covered is not confirmed, and every write
/// and read after answers with an error (a later sync succeeding would prove nothing).
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sync_stops_the_store() {
    let (_dir, path) = temp_db();
    let broken = Arc::new(AtomicBool::new(false));
    let b = broken.clone();
    let store = SqliteStore::open_with_sync(
        &path,
        Box::new(move || {
            if b.load(Ordering::SeqCst) {
                Err(std::io::Error::other("disk gone"))
            } else {
                Ok(())
            }
        }),
    )
    .unwrap();
    add_reseller(&store, "r1", None).await;
    store.deposit("r1", 1_000, "first", T0).await.unwrap();
    broken.store(true, Ordering::SeqCst);
    let e = store
        .deposit("r1", 2_000, "second", T0 + 1)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("disk gone"), "{e}");
    // The disk is back, but the store stays stopped.
    broken.store(false, Ordering::SeqCst);
    assert!(store.deposit("r1", 3_000, "third", T0 + 2).await.is_err());
    assert!(store.balance("r1").await.is_err());
    assert!(store.outbox_pending_count().await.is_err());
}

/// SQLite keeps the WAL beside the database's real file: opened through a symlink, the
/// store still syncs that WAL (not a missing one beside the link, nor the database).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_wal_synced_is_the_one_sqlite_writes_even_through_a_symlink() {
    let (dir, real) = temp_db();
    let other = dir.path().join("elsewhere");
    std::fs::create_dir(&other).unwrap();
    let link = other.join("link.db");
    // The database file exists before the link points at it.
    drop(raw_conn(&real));
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let store = SqliteStore::open(&link).unwrap();
    add_reseller(&store, "r1", None).await;
    store.deposit("r1", 1_000, "top-up", T0).await.unwrap();
    let real_wal = dir.path().join("siaga.db-wal");
    assert!(
        real_wal.exists(),
        "SQLite writes its WAL beside the real file"
    );
    assert!(!other.join("link.db-wal").exists());
    let chosen = crate::sqlite::durable::file_to_sync(&link).unwrap();
    assert_eq!(chosen, std::fs::canonicalize(&real_wal).unwrap());
}

/// Everything a reader can see, as text.
async fn snapshot(store: &dyn Store) -> String {
    let mut out = String::new();
    for r in store.list_resellers().await.unwrap() {
        out += &format!("{r:?}\n{:?}\n", store.balance(&r.id).await.unwrap());
        out += &format!("{:?}\n", super::all_lines(store, &r.id).await);
        for o in all_orders(store, &r.id).await {
            out += &format!("{o:?}\n{:?}\n", store.attempts(&o.id).await.unwrap());
        }
    }
    out += &format!(
        "{:?}\n",
        store.due_outbox(i64::MAX, 1_000, &[]).await.unwrap()
    );
    out += &format!("{:?}\n", store.due_orders(i64::MAX, 1_000).await.unwrap());
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_survives_reopen() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let fx = realistic(&store).await;
    let before = snapshot(&store).await;
    let counts = store.verify().await.unwrap();
    assert!(
        before.contains(&fx.awaiting) && before.contains("SN-0001"),
        "{before}"
    );

    // As if the process died right now: copy the files as they are on disk (database and
    // WAL, no shared-memory index) while the store is still open.
    let (_crash_dir, crash_path) = temp_db();
    std::fs::copy(&path, &crash_path).unwrap();
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    if wal.exists() {
        std::fs::copy(&wal, format!("{}-wal", crash_path.display())).unwrap();
    }
    drop(store);

    for p in [&path, &crash_path] {
        let store = SqliteStore::open(p).unwrap();
        assert_eq!(
            snapshot(&store).await,
            before,
            "{} differs after reopen",
            p.display()
        );
        let report = store.verify().await.unwrap();
        assert!(report.ok(), "{:#?}", report.problems);
        assert_eq!(
            (report.orders, report.transfers, report.accounts),
            (counts.orders, counts.transfers, counts.accounts)
        );
    }

    // The reopened store carries on where it was: replays, the open attempt, new orders.
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = raw_conn(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());
    match store
        .create_order(new_order("r1", "inv-3", "TSEL5", DEST_A, 5_150, T0 + 500))
        .await
        .unwrap()
    {
        Intake::Replay(o) => assert_eq!(o.id, fx.awaiting),
        other => panic!("expected a replay, got {other:?}"),
    }
    let att = store
        .attempt_by_supplier_ref("sup-b", &fx.awaiting_attempt.supplier_ref)
        .await
        .unwrap()
        .expect("open attempt survives");
    assert_eq!(att.state, AttemptState::Pending);
    let done = settle(
        &store,
        &att,
        AttemptState::Success,
        OrderChange::Succeed {
            sn: "SN-LATE".into(),
        },
        T0 + 501,
    )
    .await;
    assert_eq!(done.status, OrderStatus::Success);
    intake(
        &store,
        new_order("r2", "po-4", "XL10", DEST_B, 1_000, T0 + 502),
    )
    .await;
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 64_600,
            held: 20_000
        }
    );
    assert_clean(&store).await;
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        load(&store, &fx.awaiting).await.serial_number.as_deref(),
        Some("SN-LATE")
    );
    assert_eq!(all_orders(&store, "r2").await.len(), 4);
    assert_clean(&store).await;
}
