//! Conformance case: chat links by one-time code, PIN hashes, wrong-PIN locks and the
//! same-day count of one product to one number.

use std::sync::Arc;

use super::*;
use crate::WrongPin;

pub(crate) async fn a_code_links_one_chat_once_and_wrong_pins_lock_it(store: Arc<dyn Store>) {
    add_reseller(&*store, "r1", None).await;
    add_reseller(&*store, "r2", None).await;
    assert!(!store
        .add_link_code("nobody", "h0", T0 + 60_000, T0)
        .await
        .unwrap());
    assert!(store
        .add_link_code("r1", "h1", T0 + 60_000, T0)
        .await
        .unwrap());
    assert!(store
        .add_link_code("r2", "h2", T0 + 60_000, T0)
        .await
        .unwrap());
    // Unknown code, then the right one: once.
    assert_eq!(store.use_link_code("nope", 42, T0 + 1).await.unwrap(), None);
    let l = store
        .use_link_code("h1", 42, T0 + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (l.chat_id, l.reseller_id.as_str(), l.wrong_pins),
        (42, "r1", 0)
    );
    assert_eq!(store.use_link_code("h1", 43, T0 + 2).await.unwrap(), None);
    assert_eq!(store.chat_link(43).await.unwrap(), None);
    // Too late.
    assert_eq!(
        store.use_link_code("h2", 44, T0 + 60_000).await.unwrap(),
        None
    );
    assert_eq!(store.chat_link(42).await.unwrap(), Some(l));

    // PINs: only a reseller that exists.
    assert!(!store.set_pin_hash("nobody", "x", T0).await.unwrap());
    assert_eq!(store.pin_hash("r1").await.unwrap(), None);
    assert!(store.set_pin_hash("r1", "hash-a", T0).await.unwrap());
    assert!(store.set_pin_hash("r1", "hash-b", T0).await.unwrap());
    assert_eq!(
        store.pin_hash("r1").await.unwrap().as_deref(),
        Some("hash-b")
    );

    // Wrong PINs: counted, a right one starts again, the third in a row locks.
    let until = T0 + 900_000;
    assert_eq!(
        store.wrong_pin(42, 3, until).await.unwrap(),
        WrongPin::Counted(1)
    );
    store.right_pin(42).await.unwrap();
    assert_eq!(
        store.wrong_pin(42, 3, until).await.unwrap(),
        WrongPin::Counted(1)
    );
    assert_eq!(
        store.wrong_pin(42, 3, until).await.unwrap(),
        WrongPin::Counted(2)
    );
    assert_eq!(
        store.wrong_pin(42, 3, until).await.unwrap(),
        WrongPin::Locked(until)
    );
    let locked = store.chat_link(42).await.unwrap().unwrap();
    assert_eq!((locked.wrong_pins, locked.locked_until), (0, Some(until)));
    assert_eq!(
        store.wrong_pin(99, 3, until).await.unwrap(),
        WrongPin::NotLinked
    );
    // A new PIN from the owner lifts the lock.
    store.set_pin_hash("r1", "hash-c", T0 + 5).await.unwrap();
    assert_eq!(
        store.chat_link(42).await.unwrap().unwrap().locked_until,
        None
    );

    same_day_orders_are_counted(&*store).await;
}

/// Same-day orders of one product to one number, per reseller.
async fn same_day_orders_are_counted(store: &dyn Store) {
    // Same-day orders of one product to one number.
    store.deposit("r1", 100_000, "top up", T0).await.unwrap();
    let since = T0 - 1;
    assert_eq!(
        store
            .same_orders_since("r1", "P10", DEST_A, since)
            .await
            .unwrap(),
        0
    );
    for (i, dest) in [DEST_A, DEST_A, DEST_B].iter().enumerate() {
        let o = NewOrder {
            order_id: format!("ord_{i}"),
            reseller_id: "r1".into(),
            ref_id: format!("ref{i}"),
            product: "P10".into(),
            destination: (*dest).into(),
            price: 10_000,
            max_wait_s: 900,
            now: T0 + i as i64,
        };
        assert!(matches!(
            store.create_order(o).await.unwrap(),
            Intake::Created(_)
        ));
    }
    assert_eq!(
        store
            .same_orders_since("r1", "P10", DEST_A, since)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .same_orders_since("r1", "P10", DEST_B, since)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .same_orders_since("r1", "P5", DEST_A, since)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .same_orders_since("r2", "P10", DEST_A, since)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .same_orders_since("r1", "P10", DEST_A, T0 + 1)
            .await
            .unwrap(),
        1
    );
}
