//! SQLite only: the writer's group commit (a failing job does not take its batch down,
//! the jobs before it are redone) and its write-time counters.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::*;

/// One job of the batch by its kind (see the test): `Err` where the kind must fail.
async fn batch_job(store: &dyn Store, i: i64, now: i64) -> Result<(), crate::StoreError> {
    match i % 6 {
        0 => store.deposit("r1", 100 + i, "batch", now).await.map(|_| ()),
        1 => store
            .deposit(&format!("ghost-{i}"), 100, "batch", now)
            .await
            .map(|_| ()),
        2 => store
            .deposit("r2", 1_000 + i, "batch", now)
            .await
            .map(|_| ()),
        3 => store.deposit("r1", -i, "batch", now).await.map(|_| ()),
        4 => store
            .create_order(new_order(
                "r3",
                &format!("neg-{i}"),
                "TSEL10",
                DEST_A,
                -500,
                now,
            ))
            .await
            .map(|_| ()),
        _ => match store
            .create_order(new_order(
                "r4",
                &format!("ok-{i}"),
                "XL5",
                DEST_B,
                1_000,
                now,
            ))
            .await
        {
            Ok(Intake::Created(_)) => Ok(()),
            Ok(other) => panic!("order {i}: {other:?}"),
            Err(e) => Err(e),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_jobs_do_not_roll_back_their_batch() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    for r in ["r1", "r2", "r3", "r4"] {
        add_reseller(&*store, r, None).await;
    }
    store.deposit("r4", 1_000_000, "float", T0).await.unwrap();

    // Hold the write lock from outside: the writer blocks on its first job, and every job
    // sent meanwhile is queued and then committed together in one batch.
    let raw = raw_conn(&path);
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    let first = {
        let store = store.clone();
        tokio::spawn(async move { store.deposit("r1", 1, "first", T0 + 1).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    // kind 0: deposit r1 (ok); 1: deposit to an unknown reseller (error); 2: deposit r2 (ok);
    // 3: non-positive deposit (error); 4: negative-price order, which fails after it has
    // written the order and part of the reservation (error, must be rolled back whole);
    // 5: an order on r4 (ok).
    let tasks: Vec<_> = (0..240i64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let now = T0 + 10 + i;
                let res = batch_job(&*store, i, now).await;
                (i, res)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !first.is_finished(),
        "a write was answered before it could commit"
    );
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "a write was answered before it could commit"
    );
    raw.execute_batch("COMMIT").unwrap();

    first.await.unwrap().expect("first deposit");
    let (mut r1, mut r2) = (1i64, 0i64);
    for t in tasks {
        let (i, res) = t.await.unwrap();
        let should_fail = matches!(i % 6, 1 | 3 | 4);
        assert_eq!(
            res.is_err(),
            should_fail,
            "job {i} (kind {}): {res:?}",
            i % 6
        );
        match i % 6 {
            0 => r1 += 100 + i,
            2 => r2 += 1_000 + i,
            _ => {}
        }
    }
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: r1,
            held: 0
        }
    );
    assert_eq!(
        store.balance("r2").await.unwrap(),
        Balance {
            available: r2,
            held: 0
        }
    );
    assert_eq!(store.balance("r3").await.unwrap(), Balance::default());
    assert_eq!(
        store.balance("r4").await.unwrap(),
        Balance {
            available: 1_000_000 - 40_000,
            held: 40_000
        }
    );
    assert!(
        all_orders(&*store, "r3").await.is_empty(),
        "a failed intake left an order"
    );
    assert_eq!(all_orders(&*store, "r4").await.len(), 40);
    let lines = super::all_lines(&*store, "r1").await;
    assert_eq!(lines.len(), 41, "one statement line per accepted deposit");
    assert!(store.reseller("ghost-1").await.unwrap().is_none());
    assert_clean(&*store).await;
}

/// Jobs run without savepoints; when one fails, its transaction is redone without it: the
/// jobs before it run again (their first run is undone), the ones after run once.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_job_is_left_out_and_the_jobs_before_it_are_redone() {
    use std::sync::atomic::AtomicUsize;
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let raw = raw_conn(&path);
    raw.execute_batch("CREATE TABLE scratch (v TEXT NOT NULL)")
        .unwrap();
    // Hold the write lock: the jobs queue up and then run as one batch, in order.
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
    let mut tasks = Vec::new();
    for (i, v) in ["a", "b", "c"].into_iter().enumerate() {
        let (store, runs) = (store.clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            store
                .write(move |c| {
                    runs[i].fetch_add(1, Ordering::SeqCst);
                    c.execute("INSERT INTO scratch (v) VALUES (?1)", [v])?;
                    if v == "b" {
                        return Err(crate::StoreError::Corrupt("b fails".into()));
                    }
                    Ok(())
                })
                .await
        }));
        // In this order into the writer's queue.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    raw.execute_batch("COMMIT").unwrap();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(&results[1], Err(e) if e.to_string().contains("b fails")),
        "{results:?}"
    );
    let counts: Vec<usize> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    assert_eq!(counts, vec![2, 1, 1], "a redone once, b and c run once");
    let rows: Vec<String> = raw
        .prepare("SELECT v FROM scratch ORDER BY rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec!["a".to_owned(), "c".to_owned()]);
}

#[tokio::test]
async fn write_times_count_each_commit_its_writes_and_each_sync() {
    let (_dir, path) = temp_db();
    // Every sync takes at least 30 ms: the counts must show it.
    let store = SqliteStore::open_with_sync(
        &path,
        Box::new(|| {
            std::thread::sleep(Duration::from_millis(30));
            Ok(())
        }),
    )
    .unwrap();
    add_reseller(&store, "r1", None).await;
    let before = store.write_times().expect("the SQLite store keeps count");
    // One after another: each deposit is its own commit and its own sync.
    for i in 0..3 {
        store.deposit("r1", 1_000, "d", T0 + i).await.unwrap();
    }
    let span = store.write_times().unwrap().since(&before);
    assert_eq!(span.commits(), 3);
    assert_eq!(span.jobs(), 3);
    assert_eq!(span.syncs(), 3);
    let sync_p50 = span.sync_ms(0.5).unwrap();
    assert!(sync_p50 >= 30.0, "sync p50 {sync_p50} ms");
    assert!(span.commit_ms(0.5).is_some());
    // What came before the span (the reseller's own commit) is not in it.
    assert_eq!(store.write_times().unwrap().commits(), before.commits() + 3);
    assert!(before.commits() >= 1);
}

/// The writer never checkpoints inside a commit: passes on the checkpointer's thread copy
/// the WAL as it grows, and once it is long the writer catches it up between two
/// transactions, after which the WAL starts over (its header's sequence number moves).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_checkpointed_off_the_writer_and_starts_over() {
    use crate::sqlite::checkpoint::wal_seq;
    let (_dir, path) = temp_db();
    // Syncs are not what this is about: instant.
    let store = SqliteStore::open_with_sync(&path, Box::new(|| Ok(()))).unwrap();
    add_reseller(&store, "r1", None).await;
    let before = store.write_times().unwrap();
    let first_seq = wal_seq(&path);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut n = 0;
    // One deposit at a time (the writer idle in between), until the writer has caught
    // the WAL up once.
    while store.write_times().unwrap().since(&before).checkpoints().1 == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no catch-up by the writer after {n} deposits"
        );
        store.deposit("r1", 1, "d", T0 + n).await.unwrap();
        n += 1;
    }
    let (passes, _) = store.write_times().unwrap().since(&before).checkpoints();
    assert!(
        passes >= 3,
        "{passes} passes before the catch-up ({n} deposits)"
    );
    // The next transaction starts the WAL over.
    store.deposit("r1", 1, "d", T0 + n).await.unwrap();
    assert_ne!(wal_seq(&path), first_seq, "the WAL did not start over");
    assert_eq!(store.balance("r1").await.unwrap().available, n + 1);
}
