//! Conformance cases: intake (idempotency, the balance guard at its edges and under
//! concurrency), the one-commit intake with its first attempt, and `verify` after a
//! realistic day. Every backend runs them (see `conformance_suite!`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;

/// The balance guard at its edges: exactly enough is enough, one rupiah short is refused
/// cleanly (no error, nothing written) and the ref_id stays usable.
pub(crate) async fn intake_balance_edges(store: Arc<dyn Store>) {
    add_reseller(&*store, "r1", None).await;
    let refused = |res: Intake| assert!(matches!(res, Intake::InsufficientBalance), "{res:?}");

    refused(
        store
            .create_order(new_order("r1", "a", "TSEL10", DEST_A, 1, T0))
            .await
            .unwrap(),
    );
    store.deposit("r1", 10_000, "top-up", T0 + 1).await.unwrap();
    refused(
        store
            .create_order(new_order("r1", "a", "TSEL10", DEST_A, 10_001, T0 + 2))
            .await
            .unwrap(),
    );
    assert!(store.order_by_ref("r1", "a").await.unwrap().is_none());
    intake(
        &*store,
        new_order("r1", "a", "TSEL10", DEST_A, 10_000, T0 + 3),
    )
    .await;
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 0,
            held: 10_000
        }
    );

    store.deposit("r1", 4_999, "top-up", T0 + 4).await.unwrap();
    refused(
        store
            .create_order(new_order("r1", "b", "XL5", DEST_B, 5_000, T0 + 5))
            .await
            .unwrap(),
    );
    assert!(store.order_by_ref("r1", "b").await.unwrap().is_none());
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 4_999,
            held: 10_000
        }
    );
    let b = intake(&*store, new_order("r1", "b", "XL5", DEST_B, 4_999, T0 + 6)).await;
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 0,
            held: 14_999
        }
    );

    // A replay is answered even with no balance left; an unknown reseller is named as such.
    match store
        .create_order(new_order("r1", "b", "XL5", DEST_B, 4_999, T0 + 7))
        .await
        .unwrap()
    {
        Intake::Replay(o) => assert_eq!(o.id, b.id),
        other => panic!("expected a replay, got {other:?}"),
    }
    let ghost = store
        .create_order(new_order("ghost", "c", "XL5", DEST_B, 1, T0 + 8))
        .await
        .unwrap();
    assert!(matches!(ghost, Intake::UnknownReseller), "{ghost:?}");
    assert!(store.deposit("ghost", 1, "top-up", T0 + 9).await.is_err());
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 0,
            held: 14_999
        }
    );
    assert_clean(&*store).await;
}

pub(crate) async fn concurrent_replays_create_one_order_and_reserve_once(store: Arc<dyn Store>) {
    add_reseller(&*store, "r1", None).await;
    store.deposit("r1", 100_000, "top-up", T0).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let req = new_order("r1", "same-ref", "TSEL10", DEST_A, 10_000, T0 + i);
                let own_id = req.order_id.clone();
                (own_id, store.create_order(req).await.expect("create_order"))
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut ids = Vec::new();
    for t in tasks {
        let (own_id, res) = t.await.unwrap();
        match res {
            Intake::Created(o) => {
                assert_eq!(o.id, own_id);
                created.push(o.id.clone());
                ids.push(o.id);
            }
            Intake::Replay(o) => ids.push(o.id),
            other => panic!("unexpected intake result {other:?}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one request creates the order");
    assert!(
        ids.iter().all(|id| *id == created[0]),
        "every replay names the same order: {ids:?}"
    );
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 90_000,
            held: 10_000
        }
    );
    assert_eq!(all_orders(&*store, "r1").await.len(), 1);
    let lines = all_lines(&*store, "r1").await;
    assert_eq!(
        lines.iter().filter(|l| l.kind == "reserve").count(),
        1,
        "{lines:?}"
    );
    assert_clean(&*store).await;
}

pub(crate) async fn concurrent_orders_never_overdraw(store: Arc<dyn Store>) {
    // (reseller, deposit, price): 37 and 17 orders fit.
    let plan = [("r1", 375_000i64, 10_000i64), ("r2", 123_456, 7_000)];
    for (r, deposit, _) in plan {
        add_reseller(&*store, r, None).await;
        store.deposit(r, deposit, "top-up", T0).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut looks = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for (r, deposit, _) in plan {
                    let b = store.balance(r).await.unwrap();
                    assert!(b.available >= 0 && b.held >= 0, "{r}: {b:?}");
                    assert_eq!(
                        b.available + b.held,
                        deposit,
                        "{r}: a reservation was seen half done"
                    );
                }
                looks += 1;
                tokio::task::yield_now().await;
            }
            looks
        })
    };
    let tasks: Vec<_> = (0..200usize)
        .map(|i| {
            let store = store.clone();
            let (r, _, price) = plan[i % 2];
            tokio::spawn(async move {
                let req = new_order(
                    r,
                    &format!("bulk-{i}"),
                    "TSEL10",
                    DEST_A,
                    price,
                    T0 + i as i64,
                );
                (r, store.create_order(req).await.expect("create_order"))
            })
        })
        .collect();
    let mut created: HashMap<&str, i64> = HashMap::new();
    for t in tasks {
        let (r, res) = t.await.unwrap();
        match res {
            Intake::Created(_) => *created.entry(r).or_default() += 1,
            Intake::InsufficientBalance => {}
            other => panic!("unexpected intake result {other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(watcher.await.unwrap() > 0);
    for (r, deposit, price) in plan {
        let n = created.get(r).copied().unwrap_or(0);
        assert_eq!(n, deposit / price, "{r}: orders created");
        let b = store.balance(r).await.unwrap();
        assert_eq!(
            b,
            Balance {
                available: deposit - n * price,
                held: n * price
            },
            "{r}"
        );
        assert!(b.available >= 0 && b.available < price);
        assert_eq!(all_orders(&*store, r).await.len() as i64, n);
    }
    assert_clean(&*store).await;
}

pub(crate) async fn an_order_and_its_first_attempt_commit_together(store: Arc<dyn Store>) {
    add_reseller(&*store, "r1", Some("http://r1.test/cb")).await;
    store.deposit("r1", 15_000, "top-up", T0 + 1).await.unwrap();
    let first_of = |n: &NewOrder, supplier: &str| NewAttempt {
        order_id: n.order_id.clone(),
        order_version: 0,
        attempt_id: format!("att_{}", ulid::Ulid::new()),
        supplier_id: supplier.to_owned(),
        sku: format!("TSEL10-{supplier}"),
        cost: 10_150,
        supplier_ref: format!("sr_{}", ulid::Ulid::new()),
        lease_until: n.now + 30_000,
        now: n.now,
    };
    let n = new_order("r1", "ref-1", "TSEL10", "081234567890", 10_500, T0 + 2);
    let first = first_of(&n, "sim0");
    let (intake, attempt) = store
        .create_order_with_attempt(n.clone(), first.clone())
        .await
        .unwrap();
    let Intake::Created(o) = intake else {
        panic!("expected a new order, got {intake:?}")
    };
    let a = attempt.expect("the first attempt");
    assert_eq!((a.seq, a.round, a.state), (1, 0, AttemptState::Sending));
    assert_eq!(a.supplier_ref, first.supplier_ref);
    let now = load(&*store, &o.id).await;
    assert_eq!(now.version, 1, "the attempt moved the order on");
    assert_eq!(now.next_action_at, Some(first.lease_until));
    assert_eq!(store.balance("r1").await.unwrap().held, 10_500);

    // The same request again: a replay of the order, and no second attempt.
    let again = NewOrder {
        order_id: format!("ord_{}", ulid::Ulid::new()),
        ..n.clone()
    };
    let (intake, attempt) = store
        .create_order_with_attempt(again.clone(), first_of(&again, "sim1"))
        .await
        .unwrap();
    assert!(
        matches!(intake, Intake::Replay(ref r) if r.id == o.id),
        "{intake:?}"
    );
    assert!(attempt.is_none());
    assert_eq!(store.attempts(&o.id).await.unwrap().len(), 1);

    // Not enough balance for another: nothing written, no attempt.
    let poor = new_order("r1", "ref-2", "TSEL10", "081234567891", 10_500, T0 + 3);
    let (intake, attempt) = store
        .create_order_with_attempt(poor.clone(), first_of(&poor, "sim0"))
        .await
        .unwrap();
    assert!(matches!(intake, Intake::InsufficientBalance), "{intake:?}");
    assert!(attempt.is_none());

    // An attempt that is not this order's first is refused, and the order is not taken.
    let odd = new_order("r1", "ref-3", "TSEL10", "081234567892", 1_000, T0 + 4);
    let mut wrong = first_of(&odd, "sim0");
    wrong.order_version = 1;
    assert!(store
        .create_order_with_attempt(odd.clone(), wrong)
        .await
        .is_err());
    assert!(store.order(&odd.order_id).await.unwrap().is_none());
    assert_eq!(store.balance("r1").await.unwrap().held, 10_500);
    assert_clean(&*store).await;
}

/// The one-pass intake (order, reservation and first attempt written together) leaves
/// exactly the rows, and answers exactly what, `create_order` then `start_attempt` would.
pub(crate) async fn the_one_pass_intake_writes_what_the_two_steps_would(store: Arc<dyn Store>) {
    add_reseller(&*store, "r1", None).await;
    store.deposit("r1", 50_000, "top-up", T0 + 1).await.unwrap();
    let t = T0 + 10;
    // Two steps.
    let two = new_order("r1", "ref-two", "TSEL10", "081234567890", 10_500, t);
    let created_two = intake(&*store, two.clone()).await;
    let first_two = new_attempt(&created_two, 0, "sim0", t + 1);
    let Transition::Done(att_two) = store.start_attempt(first_two.clone()).await.unwrap() else {
        panic!("stale")
    };
    // One pass, with the same values.
    let one = NewOrder {
        order_id: format!("ord_{}", ulid::Ulid::new()),
        ref_id: "ref-one".into(),
        ..two.clone()
    };
    let first_one = NewAttempt {
        order_id: one.order_id.clone(),
        attempt_id: format!("att_{}", ulid::Ulid::new()),
        supplier_ref: format!("sr_{}", ulid::Ulid::new()),
        ..first_two.clone()
    };
    let (intake_one, att_one) = store
        .create_order_with_attempt(one.clone(), first_one.clone())
        .await
        .unwrap();
    let Intake::Created(created_one) = intake_one else {
        panic!("expected a new order, got {intake_one:?}")
    };
    let att_one = att_one.expect("the first attempt");
    // What each answered, ids aside.
    let same_ids = |o: &Order| Order {
        id: two.order_id.clone(),
        ref_id: two.ref_id.clone(),
        ..o.clone()
    };
    let same_attempt = |a: &Attempt| Attempt {
        id: att_two.id.clone(),
        order_id: att_two.order_id.clone(),
        supplier_ref: att_two.supplier_ref.clone(),
        ..a.clone()
    };
    assert_eq!(
        same_ids(&created_one),
        created_two,
        "the order before its attempt"
    );
    assert_eq!(same_attempt(&att_one), att_two);
    // What each wrote.
    assert_eq!(
        same_ids(&load(&*store, &one.order_id).await),
        load(&*store, &two.order_id).await
    );
    let stored_one = store.attempts(&one.order_id).await.unwrap();
    let stored_two = store.attempts(&two.order_id).await.unwrap();
    assert_eq!(
        stored_one,
        vec![att_one.clone()],
        "the answer is what was written"
    );
    assert_eq!(stored_two, vec![att_two.clone()]);
    assert_eq!(store.balance("r1").await.unwrap().held, 21_000);
    assert_clean(&*store).await;
}

pub(crate) async fn verify_is_clean_after_a_realistic_day(store: Arc<dyn Store>) {
    let fx = realistic(&*store).await;
    assert_clean(&*store).await;
    let report = store.verify().await.expect("verify");
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.orders, 7);
    // 2 deposits + 7 reservations + 1 post + 2 voids.
    assert_eq!(report.transfers, 12);
    // 2 resellers x (available, held) + cash + sales + cost + the one supplier paid.
    assert_eq!(report.accounts, 8);
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 100_000 - 10_250 - 5_150 - 20_000,
            held: 5_150 + 20_000
        }
    );
    assert_eq!(
        store.balance("r2").await.unwrap(),
        Balance {
            available: 50_000 - 12_000 - 7_500,
            held: 12_000 + 7_500
        }
    );
    let status = |id: String| {
        let store = &*store;
        async move { load(store, &id).await }
    };
    let a = status(fx.succeeded.clone()).await;
    assert_eq!(
        (a.status, a.serial_number.as_deref()),
        (OrderStatus::Success, Some("SN-0001"))
    );
    let b = status(fx.failed.clone()).await;
    assert_eq!(
        (b.status, b.failure_code),
        (OrderStatus::Failed, Some(FailureCode::DestinationRejected))
    );
    assert_eq!(store.attempts(&fx.failed).await.unwrap().len(), 2);
    let c = status(fx.awaiting.clone()).await;
    assert_eq!(
        (c.status, c.stage),
        (OrderStatus::Pending, Some(Stage::AwaitingSupplier))
    );
    assert_eq!(
        status(fx.manual.clone()).await.stage,
        Some(Stage::ManualReview)
    );
    assert_eq!(
        status(fx.fresh.clone()).await.stage,
        Some(Stage::Dispatching)
    );
    assert_eq!(
        status(fx.no_route.clone()).await.failure_code,
        Some(FailureCode::ProductUnavailable)
    );
    assert_eq!(status(fx.queued.clone()).await.stage, Some(Stage::Queued));
    // Only r1 has a callback URL: one message per finished order of r1.
    assert_eq!(store.outbox_pending_count().await.unwrap(), 2);
}

pub(crate) async fn a_statement_pages_by_cursor_without_gaps_or_repeats(store: Arc<dyn Store>) {
    add_reseller(&*store, "r1", None).await;
    add_reseller(&*store, "r2", None).await;
    for i in 0..7 {
        store
            .deposit("r1", 1_000 + i, &format!("d{i}"), T0 + i)
            .await
            .unwrap();
        store.deposit("r2", 5, "other", T0 + i).await.unwrap();
    }
    let everything = all_lines(&*store, "r1").await;
    assert_eq!(everything.len(), 7, "{everything:?}");
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let page = store
            .statement(crate::StatementQuery {
                reseller_id: "r1".into(),
                from: 0,
                to: i64::MAX,
                after,
                limit: 3,
            })
            .await
            .unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.line_id);
        seen.extend(page.iter().map(|l| (l.line_id, l.note.clone())));
    }
    let want: Vec<_> = everything
        .iter()
        .map(|l| (l.line_id, l.note.clone()))
        .collect();
    assert_eq!(
        seen, want,
        "pages put together are the whole statement, oldest first"
    );
    // The window still applies with a cursor: [from, to).
    let windowed = store
        .statement(crate::StatementQuery {
            reseller_id: "r1".into(),
            from: T0 + 2,
            to: T0 + 5,
            after: Some(everything[2].line_id),
            limit: 10,
        })
        .await
        .unwrap();
    let notes: Vec<_> = windowed.iter().filter_map(|l| l.note.clone()).collect();
    assert_eq!(notes, ["d3", "d4"]);
}

/// Transfer times need not rise with the lines (callers' clocks race the writer): a
/// window finds exactly the lines whose transfer is in it, also those after a later one
/// and those of a window that opens after the account's newest transfer time.
pub(crate) async fn a_statement_window_holds_when_times_go_back(store: Arc<dyn Store>) {
    add_reseller(&*store, "r1", None).await;
    // Line notes name their times (offsets from T0); the ledger order is this one.
    let times = [10, 50, 30, 20, 60, 40, 55];
    for t in times {
        store
            .deposit("r1", 1_000, &format!("t{t}"), T0 + t)
            .await
            .unwrap();
    }
    let window = |from: i64, to: i64, after: Option<i64>, limit: u32| {
        let store = store.clone();
        async move {
            let lines = store
                .statement(crate::StatementQuery {
                    reseller_id: "r1".into(),
                    from: T0 + from,
                    to: T0 + to,
                    after,
                    limit,
                })
                .await
                .unwrap();
            lines
                .into_iter()
                .map(|l| (l.line_id, l.note.unwrap_or_default()))
                .collect::<Vec<_>>()
        }
    };
    let all = window(0, 100, None, 100).await;
    assert_eq!(all.len(), times.len());
    for (from, to) in [
        (0, 100),
        (25, 45),
        (35, 56),
        (50, 51),
        (55, 100),
        (41, 50),
        (61, 100),
    ] {
        let want: Vec<_> = all
            .iter()
            .zip(times)
            .filter(|(_, t)| (from..to).contains(t))
            .map(|(l, _)| l.clone())
            .collect();
        assert_eq!(window(from, to, None, 100).await, want, "[{from}, {to})");
        // Two lines a page, by cursor, put together: the same lines.
        let (mut seen, mut after) = (Vec::new(), None);
        loop {
            let page = window(from, to, after, 2).await;
            let Some(last) = page.last() else { break };
            after = Some(last.0);
            seen.extend(page);
        }
        assert_eq!(seen, want, "[{from}, {to}) by pages of two");
    }
}

/// The dashboard's search: an order found by its id, its reference or its destination,
/// across resellers, newest first; nothing for a text that is none of them.
pub(crate) async fn orders_are_found_by_id_reference_or_destination(store: Arc<dyn Store>) {
    for r in ["r1", "r2"] {
        add_reseller(&*store, r, None).await;
        store.deposit(r, 100_000, "top-up", T0).await.unwrap();
    }
    let a = intake(
        &*store,
        new_order("r1", "INV-1", "TSEL10", DEST_A, 10_500, T0 + 1),
    )
    .await;
    let b = intake(
        &*store,
        new_order("r2", "INV-1", "TSEL10", DEST_B, 10_500, T0 + 2),
    )
    .await;
    let c = intake(
        &*store,
        new_order("r2", "INV-2", "TSEL10", DEST_A, 10_500, T0 + 3),
    )
    .await;
    // Ids sort by creation time at the millisecond; within one, in any order: compare sets.
    let ids = |v: Vec<Order>| {
        let mut ids = v.into_iter().map(|o| o.id).collect::<Vec<_>>();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let found = |t: &str| {
        let store = store.clone();
        let t = t.to_owned();
        async move { ids(store.search_orders(Some(t), 50).await.unwrap()) }
    };
    assert_eq!(
        found("INV-1").await,
        sorted(vec![b.id.clone(), a.id.clone()])
    );
    assert_eq!(
        found(DEST_A).await,
        sorted(vec![c.id.clone(), a.id.clone()])
    );
    assert_eq!(found(&b.id).await, std::slice::from_ref(&b.id));
    assert!(found("nothing-like-it").await.is_empty());
    assert_eq!(ids(store.search_orders(None, 5).await.unwrap()).len(), 3);
    assert_eq!(ids(store.search_orders(None, 2).await.unwrap()).len(), 2);
}
