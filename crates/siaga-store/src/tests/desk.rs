//! Conformance cases: the manual desk (an order claimed by one operator only, atomically,
//! listed with its open attempt at a manual supplier) and the audit log.

use std::sync::Arc;

use super::*;
use crate::{AuditFilter, DeskTake, NewAudit};

/// A pending order of r1 with its open attempt at `supplier`.
async fn on(store: &dyn Store, ref_id: &str, supplier: &str, now: i64) -> (Order, Attempt) {
    let o = intake(
        store,
        new_order("r1", ref_id, "TSEL10", "081234567890", 10_500, now),
    )
    .await;
    let a = start(store, &o.id, supplier, now).await;
    (load(store, &o.id).await, a)
}

pub(crate) async fn the_desk_lists_open_orders_and_one_operator_takes_each(store: Arc<dyn Store>) {
    add_reseller(&*store, "r1", None).await;
    store.deposit("r1", 100_000, "", T0).await.unwrap();
    let (o1, a1) = on(&*store, "d1", "desk", T0 + 10).await;
    let (o2, _) = on(&*store, "d2", "desk", T0 + 5).await;
    let (o3, _) = on(&*store, "h1", "digi", T0 + 1).await;
    let desk = vec!["desk".to_string()];
    // Only the manual supplier's open orders, oldest attempt first, none taken yet.
    let items = store.desk_orders(&desk, 10).await.unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i.order.id.as_str()).collect();
    assert_eq!(ids, [o2.id.as_str(), o1.id.as_str()]);
    assert_eq!(items[1].attempt.id, a1.id);
    assert!(items.iter().all(|i| i.claim.is_none()));
    assert_eq!(store.desk_orders(&desk, 1).await.unwrap().len(), 1);
    assert!(store.desk_orders(&[], 10).await.unwrap().is_empty());

    // The first take wins; taking again is idempotent; another operator is refused.
    let t = store.take_desk_order(&o1.id, "ani", T0 + 20).await.unwrap();
    let DeskTake::Taken { claim, fresh: true } = t else {
        panic!("first take: {t:?}")
    };
    assert_eq!((claim.operator.as_str(), claim.taken_at), ("ani", T0 + 20));
    let again = store.take_desk_order(&o1.id, "ani", T0 + 30).await.unwrap();
    assert_eq!(
        again,
        DeskTake::Taken {
            claim: claim.clone(),
            fresh: false
        }
    );
    let other = store
        .take_desk_order(&o1.id, "budi", T0 + 31)
        .await
        .unwrap();
    assert_eq!(other, DeskTake::Held(claim.clone()));
    assert_eq!(store.desk_claim(&o1.id).await.unwrap(), Some(claim.clone()));
    assert_eq!(store.desk_claim(&o2.id).await.unwrap(), None);
    let items = store.desk_orders(&desk, 10).await.unwrap();
    assert_eq!(items[1].claim, Some(claim));

    // Unknown and final orders cannot be taken.
    let none = store.take_desk_order("ord_nope", "ani", T0).await.unwrap();
    assert_eq!(none, DeskTake::NotOpen);
    let a3 = store.attempts(&o3.id).await.unwrap().remove(0);
    settle(
        &*store,
        &a3,
        AttemptState::Success,
        OrderChange::Succeed { sn: "S".into() },
        T0 + 40,
    )
    .await;
    let done = store.take_desk_order(&o3.id, "ani", T0 + 41).await.unwrap();
    assert_eq!(done, DeskTake::NotOpen);
    // A settled desk order leaves the desk; its claim stays as history.
    settle(
        &*store,
        &a1,
        AttemptState::Failed,
        OrderChange::Fail {
            code: FailureCode::Manual,
        },
        T0 + 50,
    )
    .await;
    let ids: Vec<String> = store
        .desk_orders(&desk, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.order.id)
        .collect();
    assert_eq!(ids, std::slice::from_ref(&o2.id));
    assert!(store.desk_claim(&o1.id).await.unwrap().is_some());
    assert_clean(&*store).await;
}

pub(crate) async fn concurrent_takes_of_one_order_have_exactly_one_winner(store: Arc<dyn Store>) {
    add_reseller(&*store, "r1", None).await;
    store.deposit("r1", 100_000, "", T0).await.unwrap();
    let (o, _) = on(&*store, "c1", "desk", T0).await;
    let mut takes = Vec::new();
    for i in 0..16 {
        let (s, id) = (store.clone(), o.id.clone());
        takes.push(tokio::spawn(async move {
            s.take_desk_order(&id, &format!("op{i}"), T0 + i)
                .await
                .unwrap()
        }));
    }
    let mut winners = Vec::new();
    let mut held = Vec::new();
    for t in takes {
        match t.await.unwrap() {
            DeskTake::Taken { claim, fresh: true } => winners.push(claim),
            DeskTake::Held(c) => held.push(c),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one operator takes it");
    assert_eq!(held.len(), 15);
    assert!(
        held.iter().all(|c| *c == winners[0]),
        "every loser is told who holds it"
    );
    assert_eq!(
        store.desk_claim(&o.id).await.unwrap(),
        Some(winners[0].clone())
    );
}

pub(crate) async fn audit_lines_read_back_in_order_and_by_filter(store: Arc<dyn Store>) {
    let line = |actor: &str, action: &str, target: &str, at: i64| NewAudit {
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        detail: format!("{{\"n\":{at}}}"),
        at,
    };
    let mut ids = Vec::new();
    for (i, (actor, action, target)) in [
        ("ani", "desk.take", "ord_1"),
        ("budi", "desk.take", "ord_2"),
        ("ani", "order.resolve", "ord_1"),
        ("cli", "order.resolve", "ord_3"),
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(
            store
                .add_audit(line(actor, action, target, T0 + i as i64))
                .await
                .unwrap(),
        );
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids only grow: {ids:?}"
    );
    let all = |f: AuditFilter| {
        let s = store.clone();
        async move { s.audit(AuditFilter { limit: 100, ..f }).await.unwrap() }
    };
    let every = all(AuditFilter::default()).await;
    assert_eq!(every.len(), 4);
    assert_eq!(every.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    assert_eq!(every[2].actor, "ani");
    assert_eq!(every[2].action, "order.resolve");
    assert_eq!(every[2].target, "ord_1");
    assert_eq!(every[2].detail, format!("{{\"n\":{}}}", T0 + 2));
    assert_eq!(every[2].at, T0 + 2);
    let ord1 = all(AuditFilter {
        target: Some("ord_1".into()),
        ..AuditFilter::default()
    })
    .await;
    let actions: Vec<&str> = ord1.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["desk.take", "order.resolve"]);
    let ani = all(AuditFilter {
        actor: Some("ani".into()),
        action: Some("order.resolve".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(ani.len(), 1);
    let after = all(AuditFilter {
        after_id: ids[1],
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(after.iter().map(|e| e.id).collect::<Vec<_>>(), ids[2..]);
    let newest = store
        .audit(AuditFilter {
            limit: 2,
            newest_first: true,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        newest.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[3], ids[2]]
    );
}
