//! SQLite only: an order change answers with the order as its statements left the row
//! (built in memory, not read back), for every kind of change.

use super::*;

#[tokio::test]
async fn every_change_answers_with_the_row_as_written() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    add_reseller(&store, "r1", Some("http://127.0.0.1:9/cb")).await;
    store.deposit("r1", 1_000_000, "float", T0).await.unwrap();
    let same = |got: Order, read: Order, what: &str| assert_eq!(got, read, "{what}");

    // Held, queued, dispatched, then an attempt that waits and succeeds.
    let a = intake(&store, new_order("r1", "a", "TSEL10", DEST_A, 10_000, T0)).await;
    let got = change(&store, &a.id, OrderChange::Hold { at: T0 + 5 }, T0 + 1).await;
    same(got, load(&store, &a.id).await, "hold");
    let got = change(&store, &a.id, OrderChange::Queue { at: T0 + 6 }, T0 + 2).await;
    same(got, load(&store, &a.id).await, "queue");
    let got = change(&store, &a.id, OrderChange::Dispatch { at: T0 + 7 }, T0 + 3).await;
    same(got, load(&store, &a.id).await, "dispatch");
    let att = start(&store, &a.id, "s1", T0 + 4).await;
    let wait = OrderChange::Await { at: T0 + 9 };
    let got = settle(&store, &att, AttemptState::Pending, wait, T0 + 5).await;
    same(got, load(&store, &a.id).await, "await");
    let sn = OrderChange::Succeed { sn: "SN1".into() };
    let got = settle(&store, &att, AttemptState::Success, sn, T0 + 6).await;
    assert_eq!(got.status, OrderStatus::Success);
    same(got, load(&store, &a.id).await, "succeed");

    // An attempt that fails the order.
    let b = intake(&store, new_order("r1", "b", "TSEL10", DEST_B, 10_000, T0)).await;
    let att = start(&store, &b.id, "s1", T0 + 1).await;
    let fail = OrderChange::Fail {
        code: siaga_domain::FailureCode::SupplierRejected,
    };
    let got = settle(&store, &att, AttemptState::Failed, fail, T0 + 2).await;
    assert_eq!(got.status, OrderStatus::Failed);
    same(got, load(&store, &b.id).await, "fail");

    // Manual review, and a failure without an attempt.
    let c = intake(&store, new_order("r1", "c", "TSEL10", DEST_A, 10_000, T0)).await;
    let got = change(&store, &c.id, OrderChange::ManualReview, T0 + 1).await;
    same(got, load(&store, &c.id).await, "manual review");
    let d = intake(&store, new_order("r1", "d", "TSEL10", DEST_B, 10_000, T0)).await;
    let fail = OrderChange::Fail {
        code: siaga_domain::FailureCode::ProductUnavailable,
    };
    let got = change(&store, &d.id, fail, T0 + 1).await;
    same(got, load(&store, &d.id).await, "fail without an attempt");

    // The callbacks carry the orders as final.
    let due = store.due_outbox(T0 + 10, 10, &[]).await.unwrap();
    assert_eq!(due.len(), 3, "{due:?}");
    assert_clean(&store).await;
}
