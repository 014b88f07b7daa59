//! `siaga store copy` (SPEC 12, #18 item 4): a realistic SQLite store (orders success,
//! failed and pending, attempts, callbacks, an incident, a subscriber, a voucher, a desk
//! claim, audit lines, supplier events) copied to PostgreSQL and back to SQLite by the
//! real binary: the same rows and balances on all three, `verify` clean, and the switch
//! takes a new order on the copied PostgreSQL store (its id sequences continue). A
//! non-empty target is refused with nothing written. Runs in a schema of its own of the
//! database `SIAGA_TEST_POSTGRES_URL` names (see `postgres.rs`).

use std::time::Duration;

use siaga_store::{NewAudit, NewIncident, NewVoucher, Store, Subscriber, SupplierEvent};
use siaga_suppliers::sim::SimMode;

use crate::harness::{Opts, TestApp};
use crate::postgres::{siaga, text, Schema};

const T: Duration = Duration::from_secs(20);

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Orders in every state and a row in each of the other areas.
async fn fill(app: &TestApp) {
    let (s, o) = app.order("CP-OK", "TSEL10", "081234567890").await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(app.wait_final("CP-OK", T).await["status"], "success");
    for i in 0..app.sims.len() {
        app.set_mode(i, SimMode::NoBalance).await;
    }
    let (s, o) = app.order("CP-FAIL", "TSEL10", "081234567891").await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(app.wait_final("CP-FAIL", T).await["status"], "failed");
    for i in 0..app.sims.len() {
        app.set_mode(i, SimMode::BlackHole).await;
    }
    let (s, pending) = app.order("CP-PEND", "TSEL10", "081234567892").await;
    assert_eq!(s, 201, "{pending}");
    let store = &app.app.store;
    let at = now_ms();
    let pending_id = pending["order_id"].as_str().expect("order id");
    let took = store
        .take_desk_order(pending_id, "ayu", at)
        .await
        .expect("take");
    assert!(
        matches!(took, siaga_store::DeskTake::Taken { .. }),
        "{took:?}"
    );
    store
        .add_audit(NewAudit {
            actor: "ayu".into(),
            action: "desk.take".into(),
            target: pending_id.into(),
            detail: "{}".into(),
            at,
        })
        .await
        .expect("audit");
    let incident = store
        .create_incident(NewIncident {
            title_id: "Gangguan".into(),
            title_en: "Outage".into(),
            status: "investigating".into(),
            impact: "major".into(),
            components: vec!["Telkomsel".into()],
            auto_component: None,
            security: false,
            body_id: "Kami menyelidiki".into(),
            body_en: "We are looking".into(),
            at,
        })
        .await
        .expect("incident");
    store
        .issue_vouchers(vec![NewVoucher {
            code: "SIAGA-CP-1".into(),
            reseller_id: app.reseller_id.clone(),
            incident_id: incident,
            amount: 2_000,
            issued_at: at,
            expires_at: at + 86_400_000,
        }])
        .await
        .expect("voucher");
    store
        .save_subscriber(Subscriber {
            id: "sub1".into(),
            email: "owner@example.com".into(),
            components: vec![],
            status: "confirmed".into(),
            confirm_hash: None,
            unsub_token: "tok".into(),
            created_at: at,
            confirm_sent_at: at,
            confirmed_at: Some(at),
            unsubscribed_at: None,
        })
        .await
        .expect("subscriber");
    store
        .add_supplier_event(SupplierEvent {
            supplier_id: "sim0".into(),
            kind: "breaker".into(),
            from_state: Some("closed".into()),
            to_state: Some("open".into()),
            detail: "{}".into(),
            at,
        })
        .await
        .expect("supplier event");
}

/// What the test compares between copies: the reseller's balance, orders, audit lines.
async fn summary(store: &dyn Store, reseller: &str) -> (i64, i64, usize, i64) {
    let b = store.balance(reseller).await.expect("balance");
    let v = store.verify().await.expect("verify");
    assert!(v.ok(), "{:?}", v.problems);
    (b.available, b.held, v.orders as usize, v.transfers)
}

fn copy(dir: &std::path::Path, from: &str, to: &str) -> (Option<i32>, String, String) {
    let out = siaga(dir, &["store", "copy", "--from", from, "--to", to]);
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_goes_to_postgres_and_back_with_every_row_and_balance() {
    let Some(schema) = Schema::new() else { return };
    let mut app = TestApp::start(Opts {
        deposit: 100_000,
        ..Opts::default()
    })
    .await;
    fill(&app).await;
    app.stop_and_wait().await;
    let db = app.settings.store_path.clone();
    let before = summary(app.app.store.as_ref(), &app.reseller_id).await;
    assert_eq!(before.2, 3, "three orders");
    let dir = tempfile::tempdir().expect("temp dir");
    let src = format!("sqlite://{}", db.display());

    let (code, out, err) = copy(dir.path(), &src, &schema.url);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("ok: copied"), "{out}");
    for table in [
        "desk_claims",
        "audit",
        "vouchers",
        "subscribers",
        "incidents",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(table))
            .unwrap_or_else(|| panic!("{table} in {out}"));
        assert!(line.contains("1 -> 1"), "{line}");
    }
    let back = dir.path().join("back.db");
    let (code, out2, err) = copy(
        dir.path(),
        &schema.url,
        &format!("sqlite://{}", back.display()),
    );
    assert_eq!(code, Some(0), "{out2}{err}");
    assert_eq!(out, out2, "the same rows each way");

    let pg = siaga_store::open(&schema.url).expect("open the copy");
    assert_eq!(summary(pg.as_ref(), &app.reseller_id).await, before);
    let sq = siaga_store::open(&back).expect("open the copy back");
    assert_eq!(summary(sq.as_ref(), &app.reseller_id).await, before);
    let claim = sq
        .desk_claim(
            app.app
                .store
                .order_by_ref(&app.reseller_id, "CP-PEND")
                .await
                .expect("read")
                .expect("order")
                .id
                .as_str(),
        )
        .await
        .expect("claim");
    assert_eq!(claim.map(|c| c.operator), Some("ayu".to_owned()));
    drop((pg, sq));

    // The switch serves on the copy: new rows take new ids after the copied ones.
    let on_pg = TestApp::start(Opts {
        store_url: Some(schema.url.clone()),
        deposit: 50_000,
        ..Opts::default()
    })
    .await;
    let (s, o) = on_pg.order("CP-NEW", "TSEL10", "081234567893").await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(on_pg.wait_final("CP-NEW", T).await["status"], "success");
    on_pg.verify_clean().await;
    let v = on_pg.app.store.verify().await.expect("verify");
    assert_eq!(v.orders, 4, "the three copied and the new one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_into_a_store_with_rows_is_refused_and_writes_nothing() {
    let Some(schema) = Schema::new() else { return };
    let app = TestApp::start(Opts {
        deposit: 100_000,
        store_url: Some(schema.url.clone()),
        ..Opts::default()
    })
    .await;
    app.stop();
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src.db");
    let other = siaga_store::open(&src).expect("a second store");
    other
        .add_audit(NewAudit {
            actor: "cli".into(),
            action: "test".into(),
            target: "x".into(),
            detail: String::new(),
            at: 1,
        })
        .await
        .expect("audit");
    drop(other);
    let before = summary(app.app.store.as_ref(), &app.reseller_id).await;
    let (code, out, err) = copy(
        dir.path(),
        &format!("sqlite://{}", src.display()),
        &schema.url,
    );
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("not empty"), "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(
        summary(app.app.store.as_ref(), &app.reseller_id).await,
        before
    );
    let audit = app
        .app
        .store
        .audit(siaga_store::AuditFilter {
            action: Some("test".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert!(audit.is_empty(), "nothing copied: {audit:?}");
}
