//! Orders that find every supplier at its concurrency limit wait for a slot in memory and
//! are woken as slots free, oldest first: they start in the order they came, and the
//! store is written once for each while it waits (not once per look). Waits poll with a
//! deadline; nothing asserts on timing.

use std::time::{Duration, Instant};

use siaga_suppliers::sim::{ModeRequest, SimMode};

use crate::harness::{Opts, TestApp};

const T: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_at_the_limit_start_in_arrival_order_written_once_while_they_wait() {
    let app = TestApp::start(Opts {
        max_concurrency: 1,
        timeout_ms: 5_000,
        ..Opts::default()
    })
    .await;
    for i in 0..app.sims.len() {
        app.sims[i]
            .set_mode(ModeRequest {
                mode: SimMode::Slow,
                latency_ms: Some(300),
                fail_rate: None,
                callback_delay_ms: None,
            })
            .await
            .unwrap();
    }
    let (store, engine) = (app.app.store.clone(), app.app.engine.clone());
    let mut ids = Vec::new();
    for i in 0..7 {
        let waiting = engine.waiting_for_slots();
        let (s, o) = app
            .order(&format!("FIFO-{i}"), "TSEL10", &format!("08123456780{i}"))
            .await;
        assert_eq!(s, 201, "{o}");
        let id = o["order_id"].as_str().unwrap().to_owned();
        // Arrival is when the order holds a slot or stands in line, before the next comes.
        let end = Instant::now() + T;
        loop {
            let started = !store.attempts(&id).await.unwrap().is_empty();
            if started || engine.waiting_for_slots() > waiting {
                break;
            }
            assert!(Instant::now() < end, "order {i} neither started nor waits");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ids.push(id);
    }
    for i in 0..7 {
        let fin = app.wait_final(&format!("FIFO-{i}"), T).await;
        assert_eq!(fin["status"], "success", "{fin}");
    }
    let mut starts = Vec::new();
    for id in &ids {
        let attempts = store.attempts(id).await.unwrap();
        assert_eq!(attempts.len(), 1, "one attempt each: {attempts:?}");
        starts.push(attempts[0].started_at);
        // Taken (with its attempt, or alone, then held once), started, settled: a write
        // per wait would have moved the version once per look.
        let o = store.order(id).await.unwrap().unwrap();
        assert!(o.version <= 4, "{id} written {} times", o.version);
    }
    // Two suppliers, one slot each: two slots that free at the same moment wake the two
    // oldest orders at once, and those two may start in either order (a millisecond
    // apart); an order never starts before one that came two or more places earlier.
    for j in 0..starts.len() {
        for i in 0..j.saturating_sub(1) {
            assert!(
                starts[i] <= starts[j],
                "order {j} started before order {i}, which came earlier: {starts:?}"
            );
        }
    }
    assert_eq!(engine.waiting_for_slots(), 0);
    app.verify_clean().await;
}
