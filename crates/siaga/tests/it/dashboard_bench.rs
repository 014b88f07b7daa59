//! Page time of the admin dashboard with 100,000 orders in the store (SPEC 13: each page
//! answers from memory or a few indexed queries, ≤ 50 ms). Ignored by default (it fills a
//! store for about a minute); run it with
//! `cargo nextest run -p siaga --run-ignored only -E 'test(dashboard_page_times)' --no-capture`.
//! The orders go in through the store interface (intake with the first attempt, settled
//! successful, created over the last 7 days), then the switch starts on that store and a
//! signed-in client loads every page 7 times; the median and the slowest are printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use siaga::clock::Clock;
use siaga_store::{
    AttemptResult, AttemptState, CallbackFormat, Intake, NewAttempt, NewOrder, NewReseller,
    OrderChange, Settle, Store, Transition,
};

use crate::harness::{Opts, TestApp, ADMIN};

const ORDERS: usize = 100_000;
const TASKS: usize = 32;
const LOADS: usize = 7;

async fn fill(store: Arc<dyn Store>, now: i64) {
    store
        .create_reseller(NewReseller {
            id: "rsl_bench".into(),
            name: "Bench".into(),
            email: None,
            callback_url: None,
            key_hash: "x".repeat(64),
            webhook_secret: "s".into(),
            digiflazz_key: "d".into(),
            callback_format: CallbackFormat::Standard,
            now: now - 8 * 86_400_000,
        })
        .await
        .unwrap();
    store
        .deposit(
            "rsl_bench",
            10_500 * ORDERS as i64,
            "bench",
            now - 8 * 86_400_000,
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in (t..ORDERS).step_by(TASKS) {
                let at = now - 7 * 86_400_000 + (n as i64 * 6_048);
                let id = format!("ord_bench_{n:06}");
                let o = NewOrder {
                    order_id: id.clone(),
                    reseller_id: "rsl_bench".into(),
                    ref_id: format!("B-{n}"),
                    product: "TSEL10".into(),
                    destination: format!("0812{:08}", n),
                    price: 10_500,
                    max_wait_s: 60,
                    now: at,
                };
                let a = NewAttempt {
                    order_id: id.clone(),
                    order_version: 0,
                    attempt_id: format!("att_bench_{n:06}"),
                    supplier_id: "sim0".into(),
                    sku: "TSEL10".into(),
                    cost: 10_150,
                    supplier_ref: format!("sr-{n}"),
                    lease_until: at + 60_000,
                    now: at,
                };
                let (intake, att) = store.create_order_with_attempt(o, a).await.unwrap();
                let (Intake::Created(_), Some(att)) = (intake, att) else {
                    panic!("order {n} not created");
                };
                let version = store.order(&id).await.unwrap().unwrap().version;
                let done = store
                    .settle_attempt(Settle {
                        attempt_id: att.id,
                        order_version: version,
                        state: AttemptState::Success,
                        result: AttemptResult {
                            sn: Some(format!("SN{n}")),
                            ..AttemptResult::default()
                        },
                        inquiry: false,
                        change: OrderChange::Succeed {
                            sn: format!("SN{n}"),
                        },
                        now: at + 900,
                    })
                    .await
                    .unwrap();
                assert!(matches!(done, Transition::Done(_)), "order {n} not settled");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fills a store with 100,000 orders (about a minute); run it on purpose"]
async fn dashboard_page_times_at_100k_orders() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let now = siaga::clock::SystemClock.now_ms();
    let started = Instant::now();
    fill(siaga_store::open(&db).unwrap(), now).await;
    eprintln!(
        "filled {ORDERS} orders in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let app = TestApp::start(Opts {
        store_url: Some(db.to_string_lossy().into_owned()),
        ..Opts::default()
    })
    .await;
    let c = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let r = c
        .post(format!("{}/admin/login", app.base))
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // The reports page's default view is computed in the background from the start; the
    // times below are after that first pass (it took the first-load time of before).
    let warming = Instant::now();
    while !siaga::http::dashboard::reports::warmed(&app.app) {
        assert!(
            warming.elapsed() < Duration::from_secs(120),
            "reports never warmed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "reports page computed in the background within {:.1} s of the start",
        warming.elapsed().as_secs_f64()
    );
    let some = "ord_bench_050000";
    let rid = app.reseller_id.clone();
    let pages = [
        "/admin".to_owned(),
        "/admin/suppliers".into(),
        "/admin/orders".into(),
        "/admin/orders?q=B-77777".into(),
        "/admin/orders?q=081200077777".into(),
        format!("/admin/orders/{some}"),
        "/admin/desk".into(),
        "/admin/resellers".into(),
        "/admin/resellers/rsl_bench".into(),
        "/admin/resellers/rsl_bench/statement".into(),
        format!("/admin/resellers/{rid}/keys"),
        "/admin/incidents".into(),
        "/admin/subscribers".into(),
        "/admin/vouchers".into(),
        "/admin/reports".into(),
        "/admin/audit".into(),
        "/admin/config".into(),
    ];
    println!("| page | median ms | max ms | first load ms |");
    println!("|---|---:|---:|---:|");
    for p in &pages {
        let mut times = Vec::new();
        for _ in 0..LOADS {
            let t = Instant::now();
            let r = c
                .get(format!("{}{p}", app.base))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{p}");
            r.text().await.unwrap();
            times.push(t.elapsed());
        }
        let first = times[0];
        let mut sorted = times.clone();
        sorted.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| `{p}` | {:.1} | {:.1} | {:.1} |",
            ms(sorted[LOADS / 2]),
            ms(sorted[LOADS - 1]),
            ms(first)
        );
    }
}
