//! Conformance cases: what the reports (SPEC 11) read — the orders of a window with
//! their attempts, and the supplier events of a window with the breaker state before it.

use std::sync::Arc;

use super::*;
use crate::SupplierEvent;

fn breaker(supplier: &str, from: &str, to: &str, at: i64) -> SupplierEvent {
    SupplierEvent {
        supplier_id: supplier.into(),
        kind: "breaker".into(),
        from_state: Some(from.into()),
        to_state: Some(to.into()),
        detail: format!("{{\"at\":{at}}}"),
        at,
    }
}

/// Orders created in `[from, to)` come back oldest first with their attempts by seq (an
/// order without attempts too); orders outside the window do not.
pub(crate) async fn orders_of_a_window_come_with_their_attempts(store: Arc<dyn Store>) {
    let s = store.as_ref();
    add_reseller(s, "r1", None).await;
    s.deposit("r1", 100_000, "t", T0).await.expect("deposit");
    let before = intake(s, new_order("r1", "a", "TSEL10", DEST_A, 10_500, T0 + 9)).await;
    let first = intake(s, new_order("r1", "b", "TSEL10", DEST_A, 10_500, T0 + 10)).await;
    let att1 = start(s, &first.id, "sim0", T0 + 11).await;
    let o = settle(
        s,
        &att1,
        AttemptState::Failed,
        OrderChange::Dispatch { at: T0 + 12 },
        T0 + 12,
    )
    .await;
    let att2 = start(s, &o.id, "sim1", T0 + 13).await;
    settle(
        s,
        &att2,
        AttemptState::Success,
        OrderChange::Succeed { sn: "SN1".into() },
        T0 + 14,
    )
    .await;
    let bare = intake(s, new_order("r1", "c", "XL10", DEST_B, 12_000, T0 + 15)).await;
    let _after = intake(s, new_order("r1", "d", "XL10", DEST_B, 12_000, T0 + 20)).await;
    let got = store
        .orders_with_attempts(T0 + 10, T0 + 20)
        .await
        .expect("read");
    let ids: Vec<&str> = got.iter().map(|(o, _)| o.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![first.id.as_str(), bare.id.as_str()],
        "not {}",
        before.id
    );
    let (o, attempts) = &got[0];
    assert_eq!(o.status, OrderStatus::Success);
    let sup: Vec<(&str, i64, AttemptState)> = attempts
        .iter()
        .map(|a| (a.supplier_id.as_str(), a.seq, a.state))
        .collect();
    assert_eq!(sup.len(), 2);
    assert_eq!((sup[0].0, sup[0].2), ("sim0", AttemptState::Failed));
    assert_eq!((sup[1].0, sup[1].2), ("sim1", AttemptState::Success));
    assert!(sup[0].1 < sup[1].1);
    assert_eq!(attempts[1].finished_at, Some(T0 + 14));
    assert!(got[1].1.is_empty());
    assert!(store
        .orders_with_attempts(T0 + 30, T0 + 40)
        .await
        .expect("read")
        .is_empty());
}

/// Events in the window by time with their ids, led by each supplier's last breaker event
/// before the window (not its other events, not older breaker events).
pub(crate) async fn supplier_history_starts_with_the_state_before_the_window(
    store: Arc<dyn Store>,
) {
    let old = store
        .add_supplier_event(breaker("a", "closed", "open", T0))
        .await
        .expect("add");
    let last_a = store
        .add_supplier_event(breaker("a", "open", "half_open", T0 + 5))
        .await
        .expect("add");
    let mut low = breaker("a", "x", "y", T0 + 6);
    low.kind = "low_balance".into();
    store.add_supplier_event(low).await.expect("add");
    let in_a = store
        .add_supplier_event(breaker("a", "half_open", "closed", T0 + 12))
        .await
        .expect("add");
    let in_b = store
        .add_supplier_event(breaker("b", "closed", "open", T0 + 11))
        .await
        .expect("add");
    store
        .add_supplier_event(breaker("b", "open", "half_open", T0 + 30))
        .await
        .expect("add");
    let got = store
        .supplier_history(T0 + 10, T0 + 20)
        .await
        .expect("read");
    let ids: Vec<i64> = got.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![last_a, in_b, in_a], "not {old}");
    assert_eq!(got[0].1, breaker("a", "open", "half_open", T0 + 5));
    assert_eq!(got[2].1.to_state.as_deref(), Some("closed"));
}
