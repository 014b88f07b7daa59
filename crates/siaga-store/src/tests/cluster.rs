//! Conformance cases: several nodes on one database (SPEC 12): heartbeats and the orders
//! each node owns, the leader lease, the takeover of a dead node's orders, and breaker
//! changes seen by several nodes recorded once.

use std::sync::Arc;

use super::*;
use crate::{SharedBreaker, SupplierEvent};

fn beat(id: &str, now: i64) -> crate::NodeBeat {
    crate::NodeBeat {
        id: id.to_owned(),
        address: format!("10.0.0.{}:8080", id.len()),
        version: "0.1.0".into(),
        started_at: T0,
        now,
    }
}

/// This handle acts for node `b`; node `a` is another process on the same database.
pub(crate) async fn a_dead_nodes_orders_are_taken_over_and_others_leave_them(
    store: Arc<dyn Store>,
) {
    let s = store.as_ref();
    s.set_node("b");
    s.set_node("ignored: a node is set once");
    add_reseller(s, "r1", None).await;
    s.deposit("r1", 1_000_000, "top up", T0)
        .await
        .expect("deposit");
    s.node_beat(beat("a", T0)).await.expect("beat a");
    s.node_beat(beat("b", T0)).await.expect("beat b");
    let mut ids = Vec::new();
    for i in 0..3 {
        let o = intake(
            s,
            new_order("r1", &format!("ref{i}"), "TSEL10", "0812", 10_500, T0),
        )
        .await;
        ids.push(o.id);
    }
    // One of them is being sent when its node dies.
    let sending = start(s, &ids[0], "sim0", T0).await;
    let nodes = s.nodes().await.expect("nodes");
    let owned: Vec<(String, i64)> = nodes
        .iter()
        .map(|n| (n.id.clone(), n.orders_owned))
        .collect();
    assert_eq!(owned, vec![("a".into(), 0), ("b".into(), 3)]);

    // `a` is alive and takes over nothing from a live `b`...
    let none = s.take_over("a", T0 - 1, T0 + 1).await.expect("take over");
    assert!(none.is_empty(), "{none:?}");
    // ...but once b's heartbeat is old, b's orders become a's, to be looked at now.
    s.node_beat(beat("a", T0 + 20_000)).await.expect("beat a");
    let moved = s
        .take_over("a", T0 + 10_000, T0 + 20_000)
        .await
        .expect("take over");
    assert_eq!(
        moved,
        vec![crate::TakenOver {
            from: "b".into(),
            orders: 3
        }]
    );
    for id in &ids {
        let o = load(s, id).await;
        assert!(o.next_action_at.unwrap_or(i64::MAX) <= T0 + 20_000, "{o:?}");
    }
    // The attempt b never recorded an outcome for is still open at its supplier.
    let atts = s.attempts(&ids[0]).await.expect("attempts");
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].id, sending.id);
    assert!(atts[0].state.is_open());
    // This handle (node b, come back) leaves a's orders to a, however due they are.
    let due = s.due_orders(T0 + 60_000, 100).await.expect("due");
    assert!(due.is_empty(), "node b polled node a's orders: {due:?}");
    let nodes = s.nodes().await.expect("nodes");
    let owned: Vec<(String, i64)> = nodes
        .iter()
        .map(|n| (n.id.clone(), n.orders_owned))
        .collect();
    assert_eq!(owned, vec![("a".into(), 3), ("b".into(), 0)]);

    // b beats again, a goes quiet: b takes them back and now polls them.
    s.node_beat(beat("b", T0 + 40_000)).await.expect("beat b");
    let back = s
        .take_over("b", T0 + 30_000, T0 + 40_000)
        .await
        .expect("take over");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].orders, 3);
    let mut due = s.due_orders(T0 + 40_000, 100).await.expect("due");
    due.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(due, want);
    assert_clean(s).await;
}

pub(crate) async fn one_node_leads_until_its_lease_runs_out(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let l = s.lead("a", T0, T0 + 10_000).await.expect("lead");
    assert_eq!((l.node.as_str(), l.until, l.since), ("a", T0 + 10_000, T0));
    // b asks while a's lease runs: a still leads.
    let l = s.lead("b", T0 + 5_000, T0 + 15_000).await.expect("lead");
    assert_eq!((l.node.as_str(), l.until), ("a", T0 + 10_000));
    // a renews: same leader, same since.
    let l = s.lead("a", T0 + 6_000, T0 + 16_000).await.expect("lead");
    assert_eq!((l.node.as_str(), l.until, l.since), ("a", T0 + 16_000, T0));
    // a falls silent; once its lease ran out, b leads from then.
    let l = s.lead("b", T0 + 16_001, T0 + 26_001).await.expect("lead");
    assert_eq!((l.node.as_str(), l.since), ("b", T0 + 16_001));
    // a comes back too late: b leads.
    let l = s.lead("a", T0 + 17_000, T0 + 27_000).await.expect("lead");
    assert_eq!(l.node, "b");
    // Many nodes asking at once after b's lease ran out: exactly one leads.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let st = store.clone();
        tasks.push(tokio::spawn(async move {
            let me = format!("n{i}");
            let l = st.lead(&me, T0 + 30_000, T0 + 40_000).await.expect("lead");
            (me, l.node)
        }));
    }
    let mut leaders = std::collections::HashSet::new();
    for t in tasks {
        let (_, leader) = t.await.expect("task");
        leaders.insert(leader);
    }
    assert_eq!(leaders.len(), 1, "{leaders:?}");
}

fn change(node: &str, state: &str, at: i64) -> (SharedBreaker, SupplierEvent) {
    (
        SharedBreaker {
            supplier_id: "sim0".into(),
            state: state.into(),
            node: node.into(),
            at,
        },
        SupplierEvent {
            supplier_id: "sim0".into(),
            kind: "circuit".into(),
            from_state: None,
            to_state: Some(state.into()),
            detail: format!("{{\"node\":\"{node}\"}}"),
            at,
        },
    )
}

pub(crate) async fn a_breaker_change_seen_by_several_nodes_is_recorded_once(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let (b, e) = change("a", "open", T0);
    assert!(s.share_breaker(b, e).await.expect("share"));
    let (b, e) = change("b", "open", T0 + 10);
    assert!(
        !s.share_breaker(b, e).await.expect("share"),
        "the same change twice"
    );
    let (b, e) = change("b", "half_open", T0 + 20);
    assert!(s.share_breaker(b, e).await.expect("share"));
    let shared = s.shared_breakers().await.expect("shared");
    assert_eq!(shared.len(), 1);
    assert_eq!(
        (shared[0].state.as_str(), shared[0].node.as_str()),
        ("half_open", "b")
    );
    // Three nodes close it at once: one records it.
    let mut tasks = Vec::new();
    for n in ["a", "b", "c"] {
        let st = store.clone();
        tasks.push(tokio::spawn(async move {
            let (b, e) = change(n, "closed", T0 + 30);
            st.share_breaker(b, e).await.expect("share")
        }));
    }
    let mut firsts = 0;
    for t in tasks {
        firsts += usize::from(t.await.expect("task"));
    }
    assert_eq!(firsts, 1);
    // A node's own records never hide each other (after a restart the same state is news
    // again); another node's hides the same state only while it is recent.
    let t1 = T0 + 200_000;
    for (node, at, news) in [
        ("z", t1, true),
        ("z", t1 + 100, true),
        ("y", t1 + 200, false),
        ("y", t1 + 200 + crate::SAME_CHANGE_MS, true),
    ] {
        let (b, e) = change(node, "open", at);
        assert_eq!(
            s.share_breaker(b, e).await.expect("share"),
            news,
            "{node} at {at}"
        );
    }
    let events = s.supplier_events("sim0", 10).await.expect("events");
    let states: Vec<Option<String>> = events.into_iter().map(|e| e.to_state).collect();
    let open = Some("open".to_string());
    assert_eq!(
        states,
        vec![
            open.clone(),
            open.clone(),
            open.clone(),
            Some("closed".into()),
            Some("half_open".into()),
            open
        ]
    );
}
