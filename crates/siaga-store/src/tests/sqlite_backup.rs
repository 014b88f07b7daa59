//! SQLite only: online backups (one consistent moment while writes go on, synced, checked)
//! and restores.

use std::sync::Arc;
use std::time::Duration;

use super::sqlite_durable::a_deposit_committed_not_synced;
use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_online_backup_is_one_consistent_moment_while_writes_go_on() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    add_reseller(&*store, "r1", None).await;
    store
        .deposit("r1", 1_000_000_000, "top-up", T0)
        .await
        .unwrap();
    for i in 0..300 {
        intake(
            &*store,
            new_order(
                "r1",
                &format!("pre-{i}"),
                "TSEL10",
                "081234567890",
                10_500,
                T0 + 1,
            ),
        )
        .await;
    }
    // Orders keep coming while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, written) = (store.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let o = new_order(
                    "r1",
                    &format!("during-{i}"),
                    "TSEL10",
                    "081234567890",
                    10_500,
                    T0 + 2,
                );
                store.create_order(o).await.unwrap();
                written.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        })
    };
    let out = dir.path().join("copy.db");
    let src = path.clone();
    let (out2, steps) = (out.clone(), Arc::new(AtomicU64::new(0)));
    let steps2 = steps.clone();
    let (copied, report) = tokio::task::spawn_blocking(move || {
        // Two pages a step: many steps, with orders committed between them.
        crate::sqlite::backup::backup_in_steps(&src, &out2, 2, &mut |done, total| {
            assert!(done <= total);
            steps2.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
        })
    })
    .await
    .unwrap()
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(
        written.load(Ordering::SeqCst) > 0,
        "nothing was written during the backup"
    );
    assert!(copied.pages > 10 && copied.bytes > 0, "{copied:?}");
    assert!(steps.load(Ordering::SeqCst) > 5);
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.orders >= 300);
    assert!(!dir.path().join("copy.db.partial").exists());
    // The copy is a working database of its own, and it balances.
    let copy = SqliteStore::open(&out).unwrap();
    assert_clean(&copy).await;
    assert!(copy.order_by_ref("r1", "pre-299").await.unwrap().is_some());
    // A backup never overwrites.
    assert!(crate::sqlite::backup::backup(&path, &out, &mut |_, _| {}).is_err());
    // Restoring the copy somewhere else gives the same orders.
    let restored = dir.path().join("restored.db");
    let (_, r) = crate::sqlite::backup::restore(&out, &restored, &mut |_, _| {}).unwrap();
    assert_eq!(r.orders, report.orders);
    let back = SqliteStore::open(&restored).unwrap();
    assert_clean(&back).await;
    // A file that is not a database is refused before anything is written.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text that goes on").unwrap();
    assert!(crate::sqlite::backup::check_file(&junk).is_err());
    assert!(
        crate::sqlite::backup::restore(&junk, &dir.path().join("x.db"), &mut |_, _| {}).is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_ledger_is_still_copied_but_named_unverified_and_old_schemas_check() {
    let (dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    add_reseller(&store, "r1", None).await;
    store.deposit("r1", 10_000, "top-up", T0).await.unwrap();
    drop(store);
    // Someone edits a balance by hand.
    raw_conn(&path)
        .execute_batch(
            "UPDATE accounts SET balance = balance + 1 WHERE id = 'reseller:r1:available'",
        )
        .unwrap();
    let out = dir.path().join("copy.db");
    let e = crate::sqlite::backup::backup(&path, &out, &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("unverified"), "{e}");
    assert!(!out.exists());
    let kept = dir.path().join("copy.db.unverified");
    assert!(kept.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "copies hold secrets");
    }
    // What a restore keeps of the database it replaces: a plain copy, damage and all.
    let keep = dir.path().join("before.db");
    crate::sqlite::backup::keep_as_is(&path, &keep).unwrap();
    assert!(!crate::sqlite::backup::check_file(&keep).unwrap().ok());
    // A backup from before the vouchers migration still checks (that check is skipped).
    let (_d2, old) = temp_db();
    drop(SqliteStore::open(&old).unwrap());
    raw_conn(&old)
        .execute_batch("DROP TABLE vouchers; PRAGMA user_version = 5;")
        .unwrap();
    assert!(crate::sqlite::backup::check_file(&old).unwrap().ok());
}

/// A commit the server has written but not yet synced (its caller still waits) may be in a
/// backup's snapshot: the backup syncs the WAL itself before copying, so the copy never
/// holds what a power cut could take from the database. Without that sync, no backup.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_syncs_the_commits_it_copies_and_fails_without_the_sync() {
    use std::sync::Mutex;
    let (dir, path) = temp_db();
    let (_store, gate, deposit) = a_deposit_committed_not_synced(&path).await;
    assert!(!deposit.is_finished());
    // The sync fails: no backup, and nothing left behind.
    let failed = dir.path().join("failed.db");
    let (src, out) = (path.clone(), failed.clone());
    let e = tokio::task::spawn_blocking(move || {
        crate::sqlite::backup::backup_with_sync(&src, &out, 64, &mut |_, _| {}, &|_| {
            Err(std::io::Error::other("disk gone"))
        })
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(e.to_string().contains("durable"), "{e}");
    assert!(!failed.exists());
    assert!(!dir.path().join("failed.db.partial").exists());
    // The sync works: it ran once, on this database, and the copy holds the commit.
    let synced = Arc::new(Mutex::new(Vec::<PathBuf>::new()));
    let (src, out, seen) = (path.clone(), dir.path().join("copy.db"), synced.clone());
    tokio::task::spawn_blocking(move || {
        crate::sqlite::backup::backup_with_sync(&src, &out, 64, &mut |_, _| {}, &|p| {
            seen.lock().expect("seen").push(p.to_owned());
            crate::sqlite::durable::sync_wal(p)
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(*synced.lock().unwrap(), vec![path.clone()]);
    let copy = raw_conn(&dir.path().join("copy.db"));
    let copied: i64 = copy
        .query_row(
            "SELECT balance FROM accounts WHERE id = 'reseller:r1:available'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(copied, 3_000);
    gate.open();
    assert_eq!(deposit.await.unwrap().unwrap().available, 3_000);
}
