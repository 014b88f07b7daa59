//! Conformance cases: the notice outbox (coalescing by topic, leased claims) and the news
//! cursors (every item seen once, in order, while several writers add news).

use std::sync::Arc;

use super::*;

fn fan(subject: &str, targets: &[&str], topic: &str, gap: i64, now: i64) -> crate::Fanout {
    crate::Fanout {
        body: crate::NoticeBody {
            kind: "incident.updated".into(),
            subject: subject.into(),
            text: subject.into(),
            html: subject.into(),
            payload: "{}".into(),
        },
        notices: targets
            .iter()
            .map(|t| crate::NewNotice {
                msg_id: format!("msg_{subject}_{t}"),
                channel: "email".into(),
                target: (*t).into(),
                topic: topic.into(),
                unsub: None,
            })
            .collect(),
        marks: vec![("cursor".into(), subject.into())],
        coalesce_ms: gap,
        now,
    }
}

/// A newer notice for a topic still waiting replaces it; one sent recently delays the
/// next by the gap; claims are leased and released; marks are written with the fan-out.
pub(crate) async fn notices_coalesce_by_topic_and_claims_are_leased(store: Arc<dyn Store>) {
    let gap = 600_000;
    store
        .enqueue_notices(fan("one", &["a", "b"], "component:x", gap, T0))
        .await
        .unwrap();
    assert_eq!(
        store.notify_mark("cursor").await.unwrap().as_deref(),
        Some("one")
    );
    // Still waiting: "two" replaces "one" for both targets.
    store
        .enqueue_notices(fan("two", &["a", "b"], "component:x", gap, T0 + 1))
        .await
        .unwrap();
    let claimed = store
        .claim_notices("email", T0 + 2, 10, 1_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed
        .iter()
        .all(|n| n.body.subject == "two" && n.msg_id.starts_with("msg_two")));
    // Leased: not claimed again until the lease ends.
    assert!(store
        .claim_notices("email", T0 + 3, 10, 1_000)
        .await
        .unwrap()
        .is_empty());
    // While "two" is being sent, "three" waits a full gap.
    store
        .enqueue_notices(fan("three", &["a"], "component:x", gap, T0 + 4))
        .await
        .unwrap();
    assert!(store
        .claim_notices("email", T0 + 5, 10, 1_000)
        .await
        .unwrap()
        .is_empty());
    store.notice_done(claimed[0].id, T0 + 10).await.unwrap();
    // Lease over for b: claimed again (at-least-once after a crash).
    let again = store
        .claim_notices("email", T0 + 2_000, 10, 1_000)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].target, claimed[1].target);
    store
        .notice_retry(again[0].id, T0 + 2_000, "HTTP 500", false)
        .await
        .unwrap();
    // "four" replaces the waiting "three" and keeps its place after the gap.
    store
        .enqueue_notices(fan("four", &["a"], "component:x", gap, T0 + 3_000))
        .await
        .unwrap();
    let early = store
        .claim_notices("email", T0 + 5_000, 10, 1_000)
        .await
        .unwrap();
    assert_eq!(early.len(), 1, "only b's retry is due");
    assert_eq!(early[0].body.subject, "two");
    store.notice_done(early[0].id, T0 + 5_001).await.unwrap();
    let later = store
        .claim_notices("email", T0 + 4 + gap, 10, 1_000)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].target.as_str(), later[0].body.subject.as_str()),
        ("a", "four")
    );
    // Another topic is not held back.
    store
        .enqueue_notices(fan("other", &["a"], "incident:9", gap, T0 + 6_000))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_notices("email", T0 + 6_000, 10, 1_000)
            .await
            .unwrap()
            .len(),
        1
    );
    // Start-up releases every claim.
    assert!(store.release_notices(T0 + 7_000).await.unwrap() >= 2);
    let counts = store.notice_counts().await.unwrap();
    assert!(
        counts
            .iter()
            .any(|(c, s, n)| c == "email" && s == "delivered" && *n == 2),
        "{counts:?}"
    );
}

/// What a cursor reader saw: (id, text) in the order it saw them.
type Seen = Vec<(i64, String)>;

/// One pass of a cursor reader over both news tables, in small pages; true if it found any.
async fn follow(store: &dyn Store, events: &mut Seen, updates: &mut Seen) -> bool {
    let after = events.last().map_or(0, |e| e.0);
    let page = store
        .supplier_events_after(after, 7)
        .await
        .expect("events after");
    let mut found = !page.is_empty();
    events.extend(page.into_iter().map(|(id, e)| (id, e.detail)));
    let after = updates.last().map_or(0, |u| u.0);
    let page = store
        .incident_updates_after(after, 7)
        .await
        .expect("updates after");
    found |= !page.is_empty();
    updates.extend(page.into_iter().map(|(_, u)| (u.id, u.body_id)));
    found
}

/// The news-cursor contract (see `Store`): several writers add supplier events and
/// incident updates at once while a reader follows both cursors in small pages. At the
/// end the reader has seen every item exactly once, in id order, each writer's items in
/// the order it wrote them, and the heads are the last ids seen.
pub(crate) async fn news_cursors_see_every_item_once_in_order_while_writers_race(
    store: Arc<dyn Store>,
) {
    const WRITERS: usize = 4;
    const EACH: usize = 25;
    let incident = store
        .create_incident(crate::NewIncident {
            title_id: "Gangguan".into(),
            title_en: "Outage".into(),
            status: "investigating".into(),
            impact: "minor".into(),
            components: vec!["api".into()],
            auto_component: None,
            security: false,
            body_id: "start".into(),
            body_en: "start".into(),
            at: T0,
        })
        .await
        .expect("incident");
    // The reader starts at the heads, as a fresh notifier does: the first update is old news.
    let (u0, e0, _) = store.notify_heads().await.expect("heads");
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for k in 0..EACH {
                    let text = format!("w{w}-{k:02}");
                    let event = crate::SupplierEvent {
                        supplier_id: format!("sup-{w}"),
                        kind: "breaker".into(),
                        from_state: None,
                        to_state: None,
                        detail: text.clone(),
                        at: T0 + k as i64,
                    };
                    store.add_supplier_event(event).await.expect("event");
                    let added = store
                        .add_incident_update(incident, "monitoring", &text, &text, T0 + k as i64)
                        .await
                        .expect("update");
                    assert!(added);
                }
            })
        })
        .collect();
    let (mut events, mut updates): (Seen, Seen) =
        (vec![(e0, String::new())], vec![(u0, String::new())]);
    while !writers.iter().all(|w| w.is_finished()) {
        follow(&*store, &mut events, &mut updates).await;
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.expect("writer");
    }
    while follow(&*store, &mut events, &mut updates).await {}
    let (u_head, e_head, _) = store.notify_heads().await.expect("heads");
    assert_eq!(
        (events.last().map(|e| e.0), updates.last().map(|u| u.0)),
        (Some(e_head), Some(u_head))
    );
    for (what, seen) in [("events", &events[1..]), ("updates", &updates[1..])] {
        assert!(
            seen.windows(2).all(|p| p[0].0 < p[1].0),
            "{what} out of id order"
        );
        let mut texts: Vec<&str> = seen.iter().map(|s| s.1.as_str()).collect();
        for w in 0..WRITERS {
            let mine: Vec<&str> = texts
                .iter()
                .copied()
                .filter(|t| t.starts_with(&format!("w{w}-")))
                .collect();
            assert!(
                mine.windows(2).all(|p| p[0] < p[1]),
                "{what}: writer {w} out of order: {mine:?}"
            );
        }
        texts.sort_unstable();
        let expected: Vec<String> = (0..WRITERS)
            .flat_map(|w| (0..EACH).map(move |k| format!("w{w}-{k:02}")))
            .collect();
        assert_eq!(texts, expected, "{what}: each item exactly once");
    }
}
