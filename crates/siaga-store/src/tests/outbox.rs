//! Conformance cases: the reseller callback outbox (the feed of committed messages,
//! marking delivered in one write, skipping saturated targets).

use std::sync::Arc;

use super::*;

pub(crate) async fn the_outbox_feed_carries_each_committed_message_and_marks_go_in_one_write(
    store: Arc<dyn Store>,
) {
    let mut feed = store.subscribe_outbox().expect("SQLite has a feed");
    add_reseller(&*store, "r1", Some("http://a.test/cb")).await;
    add_reseller(&*store, "r2", None).await;
    for r in ["r1", "r2"] {
        store.deposit(r, 100_000, "top-up", T0 + 1).await.unwrap();
    }
    let mut orders = Vec::new();
    for (r, k) in [("r1", 0), ("r2", 0), ("r1", 1)] {
        let o = intake(
            &*store,
            new_order(
                r,
                &format!("ref-{k}"),
                "TSEL10",
                "081234567890",
                10_500,
                T0 + 2,
            ),
        )
        .await;
        let a = start(&*store, &o.id, "sim0", T0 + 3).await;
        settle(
            &*store,
            &a,
            AttemptState::Success,
            OrderChange::Succeed { sn: "SN1".into() },
            T0 + 4,
        )
        .await;
        orders.push(o);
    }
    // r2 has no callback URL: two messages, in commit order, as the table has them.
    let mut fed = Vec::new();
    while let Ok(item) = feed.try_recv() {
        fed.push(item);
    }
    let due = store.due_outbox(T0 + 10, 100, &[]).await.unwrap();
    let ids = |v: &[crate::OutboxItem]| {
        v.iter()
            .map(|i| (i.id, i.msg_id.clone(), i.order_id.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&fed), ids(&due));
    assert_eq!(
        fed.iter()
            .map(|i| i.order_id.clone().unwrap())
            .collect::<Vec<_>>(),
        vec![orders[0].id.clone(), orders[2].id.clone()]
    );
    assert!(fed
        .iter()
        .all(|i| i.target == "http://a.test/cb" && i.tries == 0));
    // Each fed message carries its order as committed with it (final, with the serial).
    for (item, o) in fed.iter().zip([&orders[0], &orders[2]]) {
        let snap = item
            .order
            .as_ref()
            .expect("a fed message carries its order");
        assert_eq!(snap.id, o.id);
        assert_eq!(snap.status, OrderStatus::Success);
        assert_eq!(snap.serial_number.as_deref(), Some("SN1"));
    }
    assert!(due.iter().all(|i| i.order.is_none()));
    store
        .outbox_done_many(fed.iter().map(|i| i.id).collect(), T0 + 11)
        .await
        .unwrap();
    assert!(store
        .due_outbox(T0 + 20, 100, &[])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.outbox_pending_count().await.unwrap(), 0);
    // A job that enqueues nothing sends nothing.
    store.deposit("r1", 5, "more", T0 + 30).await.unwrap();
    assert!(feed.try_recv().is_err());
}

pub(crate) async fn due_outbox_leaves_out_the_skipped_targets(store: Arc<dyn Store>) {
    let targets = ["http://a.test/cb", "http://b.test/cb", "http://c.test/cb"];
    for (i, t) in targets.iter().enumerate() {
        let r = format!("r{i}");
        add_reseller(&*store, &r, Some(t)).await;
        store.deposit(&r, 100_000, "top-up", T0 + 1).await.unwrap();
        for k in 0..2 {
            let o = intake(
                &*store,
                new_order(
                    &r,
                    &format!("ref-{k}"),
                    "TSEL10",
                    "081234567890",
                    10_500,
                    T0 + 2,
                ),
            )
            .await;
            let a = start(&*store, &o.id, "sim0", T0 + 3).await;
            settle(
                &*store,
                &a,
                AttemptState::Success,
                OrderChange::Succeed { sn: "SN1".into() },
                T0 + 4,
            )
            .await;
        }
    }
    let targets_of = |items: Vec<crate::OutboxItem>| {
        let mut t: Vec<String> = items.into_iter().map(|i| i.target).collect();
        t.dedup();
        t
    };
    let all = store.due_outbox(T0 + 10, 100, &[]).await.unwrap();
    assert_eq!(all.len(), 6);
    let skip = vec![targets[0].to_owned(), targets[2].to_owned()];
    let some = store.due_outbox(T0 + 10, 100, &skip).await.unwrap();
    assert_eq!(targets_of(some), vec![targets[1].to_owned()]);
    // The limit still applies with targets left out.
    let one = store.due_outbox(T0 + 10, 1, &skip[..1]).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_ne!(one[0].target, targets[0]);
    let skip_all: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
    assert!(store
        .due_outbox(T0 + 10, 100, &skip_all)
        .await
        .unwrap()
        .is_empty());
    assert!(
        store.due_outbox(T0, 100, &[]).await.unwrap().is_empty(),
        "not yet due"
    );
}

/// A final order owes one callback, under one id: settling or changing it again (a
/// callback and an inquiry racing, a retry after a crash) writes no second message.
pub(crate) async fn a_final_order_owes_one_callback_under_one_id(store: Arc<dyn Store>) {
    let mut feed = store.subscribe_outbox().expect("SQLite has a feed");
    add_reseller(&*store, "r1", Some("http://a.test/cb")).await;
    store
        .deposit("r1", 100_000, "top-up", T0 + 1)
        .await
        .unwrap();
    let o = intake(
        &*store,
        new_order("r1", "ref-1", "TSEL10", "081234567890", 10_500, T0 + 2),
    )
    .await;
    let a = start(&*store, &o.id, "sim0", T0 + 3).await;
    let stale_version = load(&*store, &o.id).await.version;
    let done = settle(
        &*store,
        &a,
        AttemptState::Success,
        OrderChange::Succeed { sn: "SN1".into() },
        T0 + 4,
    )
    .await;
    assert_eq!(done.status, OrderStatus::Success);
    // The same settle again, on the version it was made for, and on the current one.
    for version in [stale_version, done.version] {
        let again = store
            .settle_attempt(Settle {
                attempt_id: a.id.clone(),
                order_version: version,
                state: AttemptState::Success,
                result: AttemptResult {
                    sn: Some("SN1".into()),
                    ..AttemptResult::default()
                },
                inquiry: true,
                change: OrderChange::Succeed { sn: "SN1".into() },
                now: T0 + 5,
            })
            .await;
        assert!(
            !matches!(again, Ok(Transition::Done(_))),
            "a final order is not settled twice: {again:?}"
        );
    }
    let mut fed = Vec::new();
    while let Ok(item) = feed.try_recv() {
        fed.push(item.msg_id);
    }
    let due: Vec<String> = store
        .due_outbox(T0 + 10, 100, &[])
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.msg_id)
        .collect();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(
        fed, due,
        "the feed and the table carry the one message, one id"
    );
    assert_eq!(load(&*store, &o.id).await.status, OrderStatus::Success);
}
