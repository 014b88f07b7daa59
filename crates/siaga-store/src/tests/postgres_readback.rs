//! PostgreSQL when the database is in trouble (SPEC 12): which errors mean "unreachable"
//! (the HTTP edge answers those 503), `ping` on a database whose schema is behind, and
//! reading back an intake, an attempt start or a settle whose COMMIT went unanswered
//! (`readback.rs`) — both when it landed (found, not done twice) and when it did not
//! (done now, once). An unanswered COMMIT is what the store sees as
//! `StoreError::OutcomeUnknown`; the cases hand that answer in directly. Skipped (with a
//! line) without `SIAGA_TEST_POSTGRES_URL`, failed without it when `CI=true`.

use super::*;
use crate::error::StoreError;
use crate::postgres::{test_sql, PgStore};

fn lost() -> StoreError {
    StoreError::OutcomeUnknown("connection lost during COMMIT (test)".into())
}

/// A PostgreSQL store in a schema of its own with reseller `r1` holding 100,000.
async fn store() -> Option<(PgStore, PgSchema)> {
    let schema = PgSchema::new(&pg_url()?);
    let store = PgStore::open(&schema.url()).expect("open");
    add_reseller(&store, "r1", None).await;
    store
        .deposit("r1", 100_000, "test", T0)
        .await
        .expect("deposit");
    Some((store, schema))
}

fn first_attempt(n: &NewOrder) -> NewAttempt {
    NewAttempt {
        order_id: n.order_id.clone(),
        order_version: 0,
        attempt_id: format!("att_{}", ulid::Ulid::new()),
        supplier_id: "sim0".into(),
        sku: "tsel10-0".into(),
        cost: 10_000,
        supplier_ref: format!("sr_{}", ulid::Ulid::new()),
        lease_until: T0 + 30_000,
        now: T0,
    }
}

async fn orders_of(store: &PgStore) -> Vec<Order> {
    all_orders(store, "r1").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intake_that_landed_is_found_and_one_that_did_not_is_taken_once() {
    let Some((store, _schema)) = store().await else {
        return;
    };
    // Landed: the first run committed, its answer was lost.
    let n = new_order("r1", "LANDED", "TSEL10", DEST_A, 10_500, T0);
    let a = first_attempt(&n);
    store
        .create_order_with_attempt(n.clone(), a.clone())
        .await
        .expect("first run");
    let (intake, att) = store
        .intake_known(Err(lost()), &n, Some(&a))
        .await
        .expect("read back");
    let Intake::Created(o) = intake else {
        panic!("this request created the order: {intake:?}")
    };
    assert_eq!((o.id.as_str(), o.version), (n.order_id.as_str(), 0));
    let att = att.expect("its first attempt, still to send");
    assert_eq!(
        (att.id.as_str(), att.state),
        (a.attempt_id.as_str(), AttemptState::Sending)
    );
    // Not landed: the read-back takes it now.
    let m = new_order("r1", "NOT-LANDED", "TSEL10", DEST_A, 10_500, T0);
    let b = first_attempt(&m);
    let (intake, att) = store
        .intake_known(Err(lost()), &m, Some(&b))
        .await
        .expect("read back");
    assert!(
        matches!(intake, Intake::Created(ref o) if o.id == m.order_id),
        "{intake:?}"
    );
    assert_eq!(att.map(|x| x.id), Some(b.attempt_id.clone()));
    // Without a first attempt too.
    let k = new_order("r1", "PLAIN", "TSEL10", DEST_A, 10_500, T0);
    store.create_order(k.clone()).await.expect("first run");
    let (intake, att) = store
        .intake_known(Err(lost()), &k, None)
        .await
        .expect("read back");
    assert!(
        matches!(intake, Intake::Created(ref o) if o.id == k.order_id),
        "{intake:?}"
    );
    assert!(att.is_none());
    // Three orders, each reserved once, one attempt each for the first two.
    assert_eq!(orders_of(&store).await.len(), 3);
    assert_eq!(
        store.balance("r1").await.expect("balance"),
        Balance {
            available: 100_000 - 3 * 10_500,
            held: 3 * 10_500
        }
    );
    assert_eq!(
        store.attempts(&n.order_id).await.expect("attempts").len(),
        1
    );
    assert_eq!(
        store.attempts(&m.order_id).await.expect("attempts").len(),
        1
    );
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_read_back_is_sent_only_while_it_is_still_sending() {
    let Some((store, _schema)) = store().await else {
        return;
    };
    let o = intake(&store, new_order("r1", "S-1", "TSEL10", DEST_A, 10_500, T0)).await;
    // Landed: found, not started twice.
    let a = new_attempt(&o, o.version, "sim0", T0);
    assert!(matches!(
        store.start_attempt(a.clone()).await.expect("start"),
        Transition::Done(_)
    ));
    match store.start_known(Err(lost()), &a).await.expect("read back") {
        Transition::Done(att) => assert_eq!(
            (att.id, att.state),
            (a.attempt_id.clone(), AttemptState::Sending)
        ),
        Transition::Stale => panic!("a landed start that is still sending may be sent"),
    }
    assert_eq!(store.attempts(&o.id).await.expect("attempts").len(), 1);
    // Landed and already moved on (answered by an inquiry meanwhile): never sent now.
    let att = store.attempts(&o.id).await.expect("attempts").remove(0);
    settle(
        &store,
        &att,
        AttemptState::Pending,
        OrderChange::Await { at: T0 + 5_000 },
        T0 + 1,
    )
    .await;
    assert!(matches!(
        store.start_known(Err(lost()), &a).await.expect("read back"),
        Transition::Stale
    ));
    // Not landed: started now, once.
    let p = intake(&store, new_order("r1", "S-2", "TSEL10", DEST_A, 10_500, T0)).await;
    let b = new_attempt(&p, p.version, "sim0", T0);
    assert!(
        matches!(store.start_known(Err(lost()), &b).await.expect("read back"), Transition::Done(ref x) if x.id == b.attempt_id)
    );
    assert_eq!(store.attempts(&p.id).await.expect("attempts").len(), 1);
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_read_back_moves_money_once() {
    let Some((store, _schema)) = store().await else {
        return;
    };
    let o = intake(&store, new_order("r1", "T-1", "TSEL10", DEST_A, 10_500, T0)).await;
    let att = start(&store, &o.id, "sim0", T0).await;
    let s = Settle {
        attempt_id: att.id.clone(),
        order_version: load(&store, &o.id).await.version,
        state: AttemptState::Success,
        result: AttemptResult {
            rc: Some("00".into()),
            sn: Some("SN1".into()),
            ..AttemptResult::default()
        },
        inquiry: false,
        change: OrderChange::Succeed { sn: "SN1".into() },
        now: T0 + 10,
    };
    // Landed: the order as it stands, not settled (or posted) twice.
    assert!(matches!(
        store.settle_attempt(s.clone()).await.expect("settle"),
        Transition::Done(_)
    ));
    match store
        .settle_known(Err(lost()), &s)
        .await
        .expect("read back")
    {
        Transition::Done(fin) => assert_eq!(
            (fin.version, fin.status),
            (s.order_version + 1, siaga_domain::OrderStatus::Success)
        ),
        Transition::Stale => panic!("our own settle is found"),
    }
    // Not landed: settled now, once.
    let p = intake(&store, new_order("r1", "T-2", "TSEL10", DEST_A, 10_500, T0)).await;
    let b = start(&store, &p.id, "sim0", T0).await;
    let s2 = Settle {
        attempt_id: b.id.clone(),
        order_version: load(&store, &p.id).await.version,
        ..s.clone()
    };
    assert!(matches!(
        store
            .settle_known(Err(lost()), &s2)
            .await
            .expect("read back"),
        Transition::Done(_)
    ));
    assert_eq!(
        load(&store, &p.id).await.status,
        siaga_domain::OrderStatus::Success
    );
    assert_eq!(
        store.balance("r1").await.expect("balance"),
        Balance {
            available: 100_000 - 2 * 10_500,
            held: 0
        }
    );
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_back_that_is_never_answered_stays_unknown() {
    let Some((store, _schema)) = store().await else {
        return;
    };
    let mut looks = 0;
    let res: Result<(), StoreError> = crate::postgres::until_known("test", Err(lost()), || {
        looks += 1;
        async { Err(StoreError::Unavailable("still down".into())) }
    })
    .await;
    assert!(matches!(res, Err(StoreError::OutcomeUnknown(_))), "{res:?}");
    assert!(looks > 1, "looked again: {looks}");
    // An answer that is not an unknown outcome is passed through untouched.
    let res: Result<i32, StoreError> =
        crate::postgres::until_known("test", Ok(7), || async { Ok(8) }).await;
    assert_eq!(res.expect("ok"), 7);
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_session_is_unavailable_and_a_bad_statement_is_not() {
    let Some(url) = pg_url() else { return };
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let driver = tokio::spawn(conn);
    let bad = client
        .batch_execute("SELEC 1")
        .await
        .expect_err("syntax error");
    assert!(!StoreError::from(bad).is_unavailable());
    let killed = client
        .batch_execute("SELECT pg_terminate_backend(pg_backend_pid())")
        .await
        .expect_err("the session ends");
    let e = StoreError::from(killed);
    assert!(e.is_unavailable(), "{e}");
    // The connection is gone now: the next statement fails as closed, also unavailable.
    let _ = driver.await;
    let closed = client.batch_execute("SELECT 1").await.expect_err("closed");
    assert!(StoreError::from(closed).is_unavailable());
    assert!(StoreError::OutcomeUnknown("x".into()).is_unavailable());
    assert!(!StoreError::NotFound("x".into()).is_unavailable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_fails_on_a_schema_behind_this_build() {
    let Some((store, schema)) = store().await else {
        return;
    };
    store.ping().await.expect("migrated");
    test_sql(&schema.url(), "DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)")
        .expect("pretend a migration is missing");
    let e = store.ping().await.expect_err("behind");
    assert!(matches!(e, StoreError::Migration(_)), "{e}");
}
