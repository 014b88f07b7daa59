//! Store tests. The conformance suite (`conformance_suite!`) holds what every backend must
//! do, written against `Arc<dyn Store>` only: the ledger/orders model ([`model`]), intake
//! ([`orders`]), the callback outbox ([`outbox`]), supplier prices ([`health`]), notices
//! and news cursors ([`notify`]), vouchers ([`vouchers`]), the desk and audit log ([`desk`]), chat links and PINs ([`chat`]), the dashboard's order search, what the reports read ([`reports`]) and secrets read back as given
//! ([`secrets`]); it runs on SQLite and on PostgreSQL, each opened as siaga opens it
//! (behind the sealing layer, with a key). PostgreSQL cases run in a schema of their own
//! in the database `SIAGA_TEST_POSTGRES_URL` names (skipped with a line when it is unset,
//! failed when `CI=true`). The `sqlite_*` files test SQLite internals (raw SQL damage for
//! `verify`, the writer's batching, durability, backups, migrations, what the file holds
//! at rest and its modes); `postgres_*` PostgreSQL's (several nodes on one database; which
//! errors mean the database is unreachable, and reading back a commit left unanswered).

mod chat;
mod cluster;
mod copy;
mod desk;
mod health;
mod model;
mod notify;
mod operators;
mod orders;
mod outbox;
mod postgres_batch;
mod postgres_nodes;
mod postgres_readback;
mod reports;
mod secrets;
mod sqlite_backup;
mod sqlite_durable;
mod sqlite_migrations;
mod sqlite_orders;
mod sqlite_secrets;
mod sqlite_verify;
mod sqlite_writer;
mod vouchers;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use siaga_domain::{FailureCode, OrderStatus, Stage};
use tempfile::TempDir;

use crate::sqlite::SqliteStore;
use crate::{
    Attempt, AttemptResult, AttemptState, Balance, ChangeOrder, Intake, NewAttempt, NewOrder,
    NewReseller, Order, OrderChange, OrderQuery, Settle, Store, Transition,
};

/// A new, empty store for one conformance case, with whatever must live as long as it
/// (a temporary folder, a scratch database).
pub(crate) struct Fresh {
    pub store: Arc<dyn Store>,
    _keep: Box<dyn std::any::Any + Send>,
}

/// What a backend's constructor returns.
pub(crate) type MakeFuture = Pin<Box<dyn Future<Output = Fresh> + Send>>;

/// A fresh SQLite store on a temporary file, opened as siaga opens it: behind the sealing
/// layer, with a secret key.
pub(crate) async fn sqlite_store() -> Fresh {
    let (dir, path) = temp_db();
    Fresh {
        store: crate::open_with(path.as_path(), &test_keys()).expect("open store"),
        _keep: Box::new(dir),
    }
}

/// A fresh SQLite store with no secret key (secrets in clear, as the demo keeps them).
pub(crate) async fn sqlite_store_keyless() -> Fresh {
    let (dir, path) = temp_db();
    Fresh {
        store: crate::open(path.as_path()).expect("open store"),
        _keep: Box::new(dir),
    }
}

/// A key ring for tests (a fixed key: never use it for anything else).
pub(crate) fn test_keys() -> crate::Keyring {
    crate::Keyring::new(Some(TEST_KEY), &[]).expect("test key")
}
pub(crate) const TEST_KEY: &str = "c2lhZ2EgdGVzdCBrZXksIGV4YWN0bHkgMzIgYnl0ZXM=";

/// The PostgreSQL database the tests may make schemas in, from `SIAGA_TEST_POSTGRES_URL`.
/// Unset: `None` with a line saying so, or a failure when `CI=true` (CI never skips them).
pub(crate) fn pg_url() -> Option<String> {
    match std::env::var(PG_URL_ENV) {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "{PG_URL_ENV} is not set: CI runs the PostgreSQL conformance suite, never skips it"
            )
        }
        _ => {
            eprintln!(
                "skipped: set {PG_URL_ENV} (e.g. postgres://postgres@127.0.0.1:5432/test) to run the PostgreSQL cases"
            );
            None
        }
    }
}
pub(crate) const PG_URL_ENV: &str = "SIAGA_TEST_POSTGRES_URL";

/// A schema of its own for one test in the test database, dropped with the value.
pub(crate) struct PgSchema {
    base: String,
    pub name: String,
}

impl PgSchema {
    pub(crate) fn new(base: &str) -> PgSchema {
        let name = format!("siaga_t_{}", ulid::Ulid::new().to_string().to_lowercase());
        let (url, sql) = (base.to_owned(), format!("CREATE SCHEMA {name}"));
        crate::postgres::test_sql(&url, &sql).expect("create a test schema");
        PgSchema {
            base: base.to_owned(),
            name,
        }
    }

    /// The database URL with this schema as the search path: what a store opens. Its
    /// commits do not wait for the disk (`synchronous_commit=off`): what the tests see of
    /// a running server is the same, they only run faster.
    pub(crate) fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}options=-c%20search_path%3D{}%20-c%20synchronous_commit%3Doff",
            self.base, self.name
        )
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(e) = crate::postgres::test_sql(&self.base, &sql) {
            eprintln!("test schema {} left behind: {e}", self.name);
        }
    }
}

/// A fresh PostgreSQL store in a new schema, opened as siaga opens it: behind the sealing
/// layer, with a secret key. Only called when [`pg_url`] gave a URL.
pub(crate) async fn pg_store() -> Fresh {
    let base = pg_url().expect("SIAGA_TEST_POSTGRES_URL");
    let schema = PgSchema::new(&base);
    Fresh {
        store: crate::open_with(schema.url().as_str(), &test_keys()).expect("open store"),
        _keep: Box::new(schema),
    }
}

/// Whether the PostgreSQL cases run (see [`pg_url`]).
pub(crate) fn pg_available() -> bool {
    pg_url().is_some()
}

/// Generates one test per conformance case in a module named `$backend`, each on a fresh
/// store from `$make` (an `async fn() -> Fresh`), when `$run()` says the backend is there.
macro_rules! conformance_suite {
    ($backend:ident, $make:path) => {
        conformance_suite!($backend, $make, || true);
    };
    ($backend:ident, $make:path, $run:expr) => {
        mod $backend {
            conformance_suite!(@cases $make, $run;
                orders::intake_balance_edges,
                orders::concurrent_replays_create_one_order_and_reserve_once,
                orders::concurrent_orders_never_overdraw,
                orders::an_order_and_its_first_attempt_commit_together,
                orders::the_one_pass_intake_writes_what_the_two_steps_would,
                orders::verify_is_clean_after_a_realistic_day,
                orders::a_statement_pages_by_cursor_without_gaps_or_repeats,
                orders::a_statement_window_holds_when_times_go_back,
                orders::orders_are_found_by_id_reference_or_destination,
                outbox::the_outbox_feed_carries_each_committed_message_and_marks_go_in_one_write,
                outbox::due_outbox_leaves_out_the_skipped_targets,
                outbox::a_final_order_owes_one_callback_under_one_id,
                notify::notices_coalesce_by_topic_and_claims_are_leased,
                health::a_learnt_supplier_price_is_kept_until_the_next_price_list,
                health::ping_answers_on_a_migrated_store,
                notify::news_cursors_see_every_item_once_in_order_while_writers_race,
                vouchers::a_voucher_credits_its_owner_once_before_expiry,
                reports::orders_of_a_window_come_with_their_attempts,
                reports::supplier_history_starts_with_the_state_before_the_window,
                secrets::secrets_come_back_as_given_and_tokens_are_found_by_value,
                desk::the_desk_lists_open_orders_and_one_operator_takes_each,
                desk::concurrent_takes_of_one_order_have_exactly_one_winner,
                desk::audit_lines_read_back_in_order_and_by_filter,
                chat::a_code_links_one_chat_once_and_wrong_pins_lock_it,
                cluster::a_dead_nodes_orders_are_taken_over_and_others_leave_them,
                cluster::one_node_leads_until_its_lease_runs_out,
                cluster::a_breaker_change_seen_by_several_nodes_is_recorded_once,
                operators::operator_accounts_are_added_once_listed_and_removed,
            );

            #[test]
            fn ledger_and_orders_follow_the_model() {
                if !($run)() {
                    return;
                }
                $crate::tests::model::ledger_and_orders_follow_the_model(&|| Box::pin($make()));
            }
        }
    };
    (@cases $make:path, $run:expr; $($file:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                if !($run)() {
                    return;
                }
                let fresh = $make().await;
                $crate::tests::$file::$case(fresh.store.clone()).await;
            }
        )*
    };
}

conformance_suite!(conformance_sqlite, crate::tests::sqlite_store);
conformance_suite!(
    conformance_postgres,
    crate::tests::pg_store,
    crate::tests::pg_available
);

/// Without a key the sealing layer only passes values through: the cases about what it
/// touches run keyless too.
mod conformance_sqlite_keyless {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn secrets_come_back_as_given_and_tokens_are_found_by_value() {
        let fresh = crate::tests::sqlite_store_keyless().await;
        crate::tests::secrets::secrets_come_back_as_given_and_tokens_are_found_by_value(
            fresh.store.clone(),
        )
        .await;
    }
}

// ---------------------------------------------------------------------------------------
// helpers shared by the cases

const T0: i64 = 1_750_000_000_000;
const DEST_A: &str = "081234567890";
const DEST_B: &str = "085712345678";
fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("siaga.db");
    (dir, path)
}
fn raw_conn(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).expect("open raw connection");
    c.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    c
}
/// Every line of a reseller's statement, one page.
async fn all_lines(store: &dyn Store, reseller: &str) -> Vec<crate::StatementLine> {
    store
        .statement(crate::StatementQuery {
            reseller_id: reseller.to_owned(),
            from: 0,
            to: i64::MAX,
            after: None,
            limit: 10_000,
        })
        .await
        .expect("statement")
}
async fn add_reseller(store: &dyn Store, id: &str, callback: Option<&str>) {
    store
        .create_reseller(NewReseller {
            id: id.to_owned(),
            name: format!("Reseller {id}"),
            email: None,
            callback_url: callback.map(str::to_owned),
            key_hash: format!("kh-{id}"),
            webhook_secret: format!("ws-{id}"),
            digiflazz_key: format!("dk-{id}"),
            callback_format: crate::CallbackFormat::Standard,
            now: T0,
        })
        .await
        .expect("create reseller");
}
fn new_order(
    reseller: &str,
    ref_id: &str,
    product: &str,
    dest: &str,
    price: i64,
    now: i64,
) -> NewOrder {
    NewOrder {
        order_id: format!("ord_{}", ulid::Ulid::new()),
        reseller_id: reseller.to_owned(),
        ref_id: ref_id.to_owned(),
        product: product.to_owned(),
        destination: dest.to_owned(),
        price,
        max_wait_s: 300,
        now,
    }
}
fn new_attempt(o: &Order, version: i64, supplier: &str, now: i64) -> NewAttempt {
    NewAttempt {
        order_id: o.id.clone(),
        order_version: version,
        attempt_id: format!("att_{}", ulid::Ulid::new()),
        supplier_id: supplier.to_owned(),
        sku: format!("{}-{supplier}", o.product),
        cost: o.price - o.price / 20,
        supplier_ref: format!("sr_{}", ulid::Ulid::new()),
        lease_until: now + 30_000,
        now,
    }
}
async fn load(store: &dyn Store, order_id: &str) -> Order {
    store
        .order(order_id)
        .await
        .expect("read order")
        .expect("order exists")
}
async fn intake(store: &dyn Store, o: NewOrder) -> Order {
    match store.create_order(o).await.expect("create_order") {
        Intake::Created(o) => o,
        other => panic!("expected a new order, got {other:?}"),
    }
}
async fn start(store: &dyn Store, order_id: &str, supplier: &str, now: i64) -> Attempt {
    let o = load(store, order_id).await;
    match store
        .start_attempt(new_attempt(&o, o.version, supplier, now))
        .await
        .expect("start_attempt")
    {
        Transition::Done(a) => a,
        Transition::Stale => panic!("start_attempt on {order_id} was stale"),
    }
}
async fn settle(
    store: &dyn Store,
    att: &Attempt,
    state: AttemptState,
    change: OrderChange,
    now: i64,
) -> Order {
    let o = load(store, &att.order_id).await;
    let sn = match &change {
        OrderChange::Succeed { sn } => Some(sn.clone()),
        _ => None,
    };
    let s = Settle {
        attempt_id: att.id.clone(),
        order_version: o.version,
        state,
        result: AttemptResult {
            rc: Some("00".into()),
            sn,
            ..AttemptResult::default()
        },
        inquiry: false,
        change,
        now,
    };
    match store.settle_attempt(s).await.expect("settle_attempt") {
        Transition::Done(o) => o,
        Transition::Stale => panic!("settle_attempt on {} was stale", att.id),
    }
}
async fn change(store: &dyn Store, order_id: &str, change: OrderChange, now: i64) -> Order {
    let o = load(store, order_id).await;
    let c = ChangeOrder {
        order_id: o.id.clone(),
        order_version: o.version,
        change,
        now,
    };
    match store.change_order(c).await.expect("change_order") {
        Transition::Done(o) => o,
        Transition::Stale => panic!("change_order on {order_id} was stale"),
    }
}
async fn problems(store: &dyn Store) -> Vec<String> {
    store.verify().await.expect("verify").problems
}
async fn assert_clean(store: &dyn Store) {
    let p = problems(store).await;
    assert!(p.is_empty(), "verify found problems: {p:#?}");
}
fn has_problem(problems: &[String], needles: &[&str]) -> bool {
    problems
        .iter()
        .any(|p| needles.iter().all(|n| p.contains(n)))
}
async fn all_orders(store: &dyn Store, reseller: &str) -> Vec<Order> {
    store
        .list_orders(OrderQuery {
            reseller_id: reseller.to_owned(),
            limit: 10_000,
            ..OrderQuery::default()
        })
        .await
        .expect("list orders")
}
/// Orders in every state, for the verify and reopen tests.
struct Fixture {
    succeeded: String,
    failed: String,
    awaiting: String,
    awaiting_attempt: Attempt,
    manual: String,
    fresh: String,
    no_route: String,
    queued: String,
}

/// A realistic day: deposits, a success, a failover that ends failed, a failover that
/// waits at the second supplier, manual review, a fresh order, no route, queued.
async fn realistic(store: &dyn Store) -> Fixture {
    add_reseller(store, "r1", Some("https://r1.example/callback")).await;
    add_reseller(store, "r2", None).await;
    store
        .deposit("r1", 100_000, "bank transfer", T0 + 1)
        .await
        .expect("deposit");
    store
        .deposit("r2", 50_000, "bank transfer", T0 + 2)
        .await
        .expect("deposit");

    let (succeeded, failed, awaiting, awaiting_attempt, manual) = r1_day(store).await;
    let d = intake(
        store,
        new_order("r2", "po-1", "XL10", DEST_A, 12_000, T0 + 50),
    )
    .await;
    let e = intake(
        store,
        new_order("r2", "po-2", "XL3", DEST_B, 3_000, T0 + 51),
    )
    .await;
    change(
        store,
        &e.id,
        OrderChange::Fail {
            code: FailureCode::ProductUnavailable,
        },
        T0 + 52,
    )
    .await;
    let f = intake(
        store,
        new_order("r2", "po-3", "XL7", DEST_A, 7_500, T0 + 53),
    )
    .await;
    change(
        store,
        &f.id,
        OrderChange::Queue { at: T0 + 120_000 },
        T0 + 54,
    )
    .await;

    Fixture {
        succeeded,
        failed,
        awaiting,
        awaiting_attempt,
        manual,
        fresh: d.id,
        no_route: e.id,
        queued: f.id,
    }
}

/// Reseller r1's orders of the realistic day: a success, a failover that ends failed, a
/// failover waiting at the second supplier, one in manual review.
async fn r1_day(store: &dyn Store) -> (String, String, String, Attempt, String) {
    let a = intake(
        store,
        new_order("r1", "inv-1", "TSEL10", DEST_A, 10_250, T0 + 10),
    )
    .await;
    let att = start(store, &a.id, "sup-a", T0 + 11).await;
    settle(
        store,
        &att,
        AttemptState::Success,
        OrderChange::Succeed {
            sn: "SN-0001".into(),
        },
        T0 + 12,
    )
    .await;

    let b = intake(
        store,
        new_order("r1", "inv-2", "XL25", DEST_B, 25_500, T0 + 20),
    )
    .await;
    let att = start(store, &b.id, "sup-a", T0 + 21).await;
    settle(
        store,
        &att,
        AttemptState::Failed,
        OrderChange::Dispatch { at: T0 + 22 },
        T0 + 22,
    )
    .await;
    let att = start(store, &b.id, "sup-b", T0 + 23).await;
    let fail = OrderChange::Fail {
        code: FailureCode::DestinationRejected,
    };
    settle(store, &att, AttemptState::Failed, fail, T0 + 24).await;

    let c = intake(
        store,
        new_order("r1", "inv-3", "TSEL5", DEST_A, 5_150, T0 + 30),
    )
    .await;
    let att = start(store, &c.id, "sup-a", T0 + 31).await;
    settle(
        store,
        &att,
        AttemptState::Failed,
        OrderChange::Dispatch { at: T0 + 32 },
        T0 + 32,
    )
    .await;
    let awaiting_attempt = start(store, &c.id, "sup-b", T0 + 33).await;
    settle(
        store,
        &awaiting_attempt,
        AttemptState::Pending,
        OrderChange::Await { at: T0 + 60_000 },
        T0 + 34,
    )
    .await;

    let g = intake(
        store,
        new_order("r1", "inv-4", "TSEL20", DEST_B, 20_000, T0 + 40),
    )
    .await;
    change(store, &g.id, OrderChange::ManualReview, T0 + 41).await;

    (a.id, b.id, c.id, awaiting_attempt, g.id)
}
