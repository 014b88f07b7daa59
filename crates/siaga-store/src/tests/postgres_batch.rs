//! Group commit on PostgreSQL (`postgres/batch.rs`): intakes and settles waiting together
//! share one transaction and one COMMIT, a write that fails is answered with its own error
//! while the rest of its batch commits, and the money comes out exact. Skipped (with a line)
//! without `SIAGA_TEST_POSTGRES_URL`, failed without it when `CI=true`.

use super::*;
use crate::StoreError;

/// Waves of concurrent intakes (each with settles of attempts that do not exist) until one
/// COMMIT carried more than one write; at most this many waves.
const WAVES: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_waiting_together_share_a_commit_and_fail_alone() {
    let Some(schema) = pg_url().map(|u| PgSchema::new(&u)) else {
        return;
    };
    let store = crate::open_with(schema.url().as_str(), &test_keys()).expect("open");
    add_reseller(&*store, "r1", None).await;
    store
        .deposit("r1", 10_000_000, "top-up", T0)
        .await
        .expect("deposit");
    let before = store.write_times().expect("PostgreSQL counts its commits");
    let mut created = 0i64;
    let mut waves = 0;
    loop {
        waves += 1;
        let tasks: Vec<_> = (0..24usize)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    if i % 4 == 3 {
                        // A settle of no attempt: an error of its own, rolled back alone.
                        let s = Settle {
                            attempt_id: format!("att_missing_{waves}_{i}"),
                            order_version: 0,
                            state: AttemptState::Success,
                            result: AttemptResult::default(),
                            inquiry: false,
                            change: OrderChange::Succeed { sn: "x".into() },
                            now: T0 + 1,
                        };
                        let e = store.settle_attempt(s).await.expect_err("no such attempt");
                        assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
                        false
                    } else {
                        let o = new_order(
                            "r1",
                            &format!("w{waves}-{i}"),
                            "TSEL10",
                            DEST_A,
                            1_000,
                            T0 + 1,
                        );
                        matches!(
                            store.create_order(o).await.expect("intake"),
                            Intake::Created(_)
                        )
                    }
                })
            })
            .collect();
        for t in tasks {
            if t.await.expect("task") {
                created += 1;
            }
        }
        let t = store.write_times().expect("times").since(&before);
        if t.jobs() > t.commits() || waves >= WAVES {
            assert!(
                t.jobs() > t.commits(),
                "no COMMIT carried two writes in {waves} waves: {} writes, {} commits",
                t.jobs(),
                t.commits()
            );
            break;
        }
    }
    assert_eq!(created, 18 * waves as i64, "every intake of every wave");
    let bal = store.balance("r1").await.expect("balance");
    assert_eq!(
        (bal.available, bal.held),
        (10_000_000 - created * 1_000, created * 1_000)
    );
    assert_clean(&*store).await;
}
