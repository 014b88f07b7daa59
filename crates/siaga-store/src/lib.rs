//! siaga-store: the only crate that knows SQL. The [`Store`] trait is the storage
//! interface the rest of siaga uses, opened by URL with [`open`]; `sqlite::SqliteStore` is the
//! embedded implementation (WAL, durable commits, one writer thread with group commit,
//! BEGIN IMMEDIATE). The money rules every backend follows live in `rules` (private:
//! backends execute its plans).

mod chat;
mod cluster;
mod copy;
mod desk;
mod error;
mod open;
mod operators;
mod postgres;
mod rules;
mod scratch;
mod sealed;
mod secrets;
mod sqlite;
mod times;
mod types;

pub use chat::{ChatLink, WrongPin};
pub use cluster::{Leader, NodeBeat, NodeRow, SharedBreaker, TakenOver, SAME_CHANGE_MS};
pub use copy::{copy_store, CopyReport, TableCount};
pub use desk::{AuditEntry, AuditFilter, DeskClaim, DeskItem, DeskTake, NewAudit};
pub use error::{StoreError, UNAVAILABLE_RETRY_AFTER};
pub use open::{
    backup_to, check_backup, keep_as_is, open, open_with, readable_by_others, restore_from,
    BackupInfo, Copied, IntoTarget, Target,
};
pub use operators::OperatorAccount;
pub use scratch::ScratchSchema;
pub use secrets::{Keyring, KEY_ENV, OLD_KEYS_ENV};
pub use times::WriteTimesSnapshot;
pub use types::*;

use async_trait::async_trait;

/// Everything siaga persists. The store is the only truth for orders and money: every
/// money movement happens inside one of these calls as one transaction, and moves as the
/// backend-neutral rules (`rules.rs`) plan it.
///
/// One trait, object safe (siaga holds an `Arc<dyn Store>`), in sections: resellers;
/// ledger; orders and their transitions; the reseller callback outbox; vouchers; supplier
/// health; the status page; telling people (subscribers, notices, marks, news cursors);
/// the manual desk and the audit log; chat links and PINs; the whole store (verify, backup, write times). It is not split into sub-traits:
/// `Arc<dyn Store>` callers would keep compiling, but calls on a concrete store type
/// would then need every sub-trait in scope.
///
/// # News cursors
///
/// Incident updates, supplier events and maintenance windows are followed by cursor
/// ([`Store::notify_heads`], [`Store::incident_updates_after`],
/// [`Store::supplier_events_after`]): a reader keeps the last id it handled and asks for
/// those after it. The contract every backend keeps: **a news row's id becomes visible
/// only after every smaller id of its table**, so a reader that has seen id N will never
/// later find a new row below N, and ids are never reused. A backend makes this hold by
/// assigning the id under a lock held until its commit: SQLite's single writer
/// (`BEGIN IMMEDIATE`, one writer thread) is that lock; PostgreSQL takes a
/// transaction-scoped advisory lock per news table before the insert (a plain sequence is
/// not enough there: a later id can commit first). The status change log
/// ([`Store::component_log`]) is read by time window, not by cursor.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- resellers
    async fn create_reseller(&self, r: NewReseller) -> Result<(), StoreError>;
    async fn reseller(&self, id: &str) -> Result<Option<Reseller>, StoreError>;
    async fn reseller_by_key_hash(&self, key_hash: &str) -> Result<Option<Reseller>, StoreError>;
    async fn list_resellers(&self) -> Result<Vec<Reseller>, StoreError>;
    /// Replaces the reseller's API access rules; false if the reseller does not exist.
    async fn set_reseller_access(
        &self,
        id: &str,
        ip_allowlist: &[String],
        require_signature: bool,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Replaces key hash, webhook secret and Digiflazz drop-in key at once; false if the
    /// reseller does not exist.
    async fn rotate_keys(
        &self,
        id: &str,
        key_hash: &str,
        webhook_secret: &str,
        digiflazz_key: &str,
        now: i64,
    ) -> Result<bool, StoreError>;

    // ---- ledger (postings as `rules.rs` plans them)
    async fn deposit(
        &self,
        reseller_id: &str,
        amount: i64,
        note: &str,
        now: i64,
    ) -> Result<Balance, StoreError>;
    async fn balance(&self, reseller_id: &str) -> Result<Balance, StoreError>;
    async fn statement(&self, q: StatementQuery) -> Result<Vec<StatementLine>, StoreError>;

    // ---- orders
    /// Idempotent intake: finds (reseller, ref_id) or reserves the price and inserts the order.
    async fn create_order(&self, o: NewOrder) -> Result<Intake, StoreError>;
    /// As [`Store::create_order`], and when the order is new, also its first attempt
    /// (`first.order_version` must be 0), in the same commit: the order path saves one
    /// durable commit and the request can leave as soon as the reseller is answered. The
    /// attempt comes back only with `Intake::Created`.
    async fn create_order_with_attempt(
        &self,
        o: NewOrder,
        first: NewAttempt,
    ) -> Result<(Intake, Option<Attempt>), StoreError>;
    async fn order(&self, order_id: &str) -> Result<Option<Order>, StoreError>;
    async fn order_by_ref(
        &self,
        reseller_id: &str,
        ref_id: &str,
    ) -> Result<Option<Order>, StoreError>;
    async fn list_orders(&self, q: OrderQuery) -> Result<Vec<Order>, StoreError>;
    /// Orders of every reseller, newest first: with `text`, those whose id, reference or
    /// destination is exactly `text` (the dashboard's search); without, the newest.
    async fn search_orders(
        &self,
        text: Option<String>,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError>;
    async fn attempts(&self, order_id: &str) -> Result<Vec<Attempt>, StoreError>;
    async fn attempt_by_supplier_ref(
        &self,
        supplier_id: &str,
        supplier_ref: &str,
    ) -> Result<Option<Attempt>, StoreError>;
    /// Pending orders whose `next_action_at` has come, oldest first.
    async fn due_orders(&self, now: i64, limit: u32) -> Result<Vec<String>, StoreError>;
    /// Number of pending orders per stage.
    async fn pending_by_stage(&self) -> Result<Vec<(String, i64)>, StoreError>;

    // ---- order transitions (each conditional on the order's version: `Stale` if it moved)
    /// Records a new attempt in state `sending` before the request leaves.
    async fn start_attempt(&self, a: NewAttempt) -> Result<Transition<Attempt>, StoreError>;
    /// Settles an open attempt and applies the order change, with the ledger and outbox.
    async fn settle_attempt(&self, s: Settle) -> Result<Transition<Order>, StoreError>;
    /// Changes an order without an attempt result (fail with no route, reschedule, ...).
    async fn change_order(&self, c: ChangeOrder) -> Result<Transition<Order>, StoreError>;

    // ---- the reseller callback outbox (a final order enqueues one message, see rules.rs)
    /// Up to `limit` pending messages due at `now`, oldest first, leaving out those for
    /// the targets in `skip` (a deliverer's saturated endpoints).
    async fn due_outbox(
        &self,
        now: i64,
        limit: u32,
        skip: &[String],
    ) -> Result<Vec<OutboxItem>, StoreError>;
    async fn outbox_done(&self, id: i64, now: i64) -> Result<(), StoreError>;
    /// Marks several messages delivered in one write.
    async fn outbox_done_many(&self, ids: Vec<i64>, now: i64) -> Result<(), StoreError>;
    /// From now on, every new outbox message is also sent here once its transaction is
    /// durable, so a deliverer need not poll for fresh ones. Best effort: a message the
    /// listener cannot take at once is left for polling. One listener: a second call
    /// replaces the first. `None` where the store cannot do it.
    fn subscribe_outbox(&self) -> Option<tokio::sync::mpsc::Receiver<OutboxItem>> {
        None
    }
    async fn outbox_retry(
        &self,
        id: i64,
        next_at: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError>;
    async fn outbox_pending_count(&self) -> Result<i64, StoreError>;

    // ---- vouchers
    /// Inserts the vouchers not issued yet (one per reseller per incident); returns the new.
    async fn issue_vouchers(&self, vs: Vec<NewVoucher>) -> Result<Vec<Voucher>, StoreError>;
    async fn incident_vouchers(&self, incident_id: i64) -> Result<Vec<Voucher>, StoreError>;
    /// Credits `code` to its owner `reseller_id` once, before expiry.
    async fn redeem_voucher(
        &self,
        reseller_id: &str,
        code: &str,
        now: i64,
    ) -> Result<Redeem, StoreError>;
    /// Resellers with an order for one of `products` placed in `[from, to]` that failed or
    /// took longer than `slow_ms`.
    async fn affected_resellers(
        &self,
        products: &[String],
        from: i64,
        to: i64,
        slow_ms: i64,
    ) -> Result<Vec<String>, StoreError>;

    // ---- supplier health and news
    async fn add_supplier_event(&self, e: SupplierEvent) -> Result<i64, StoreError>;
    /// Newest first.
    async fn supplier_events(
        &self,
        supplier_id: &str,
        limit: u32,
    ) -> Result<Vec<SupplierEvent>, StoreError>;
    async fn add_maintenance(&self, w: MaintenanceWindow) -> Result<i64, StoreError>;
    /// Windows that end after the given time, by start.
    async fn maintenance_windows(
        &self,
        ending_after: i64,
    ) -> Result<Vec<MaintenanceWindow>, StoreError>;
    /// Replaces the synced price list of one supplier.
    async fn replace_supplier_products(
        &self,
        supplier_id: &str,
        items: Vec<SupplierProduct>,
    ) -> Result<(), StoreError>;
    async fn supplier_products(&self) -> Result<Vec<(String, SupplierProduct)>, StoreError>;
    /// Records `price` as what `supplier_id` now charges for `sku` (learnt from a charge,
    /// so it outlives a restart): the item's price changes, or a new item is added, active
    /// and without a cut-off. The next [`Store::replace_supplier_products`] replaces it.
    async fn learn_supplier_price(
        &self,
        supplier_id: &str,
        sku: &str,
        price: i64,
        at: i64,
    ) -> Result<(), StoreError>;
    // ---- status page
    async fn record_component_status(&self, ch: ComponentChange) -> Result<(), StoreError>;
    /// Changes since `since` plus each component's last change before it, oldest first.
    async fn component_log(&self, since: i64) -> Result<Vec<ComponentChange>, StoreError>;
    /// Creates an incident with its first update; returns its id.
    async fn create_incident(&self, n: NewIncident) -> Result<i64, StoreError>;
    /// False if the incident does not exist or is already resolved.
    async fn add_incident_update(
        &self,
        id: i64,
        status: &str,
        body_id: &str,
        body_en: &str,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Adds the postmortem to a resolved incident; false otherwise.
    async fn set_postmortem(
        &self,
        id: i64,
        body_id: &str,
        body_en: &str,
        at: i64,
    ) -> Result<bool, StoreError>;
    /// Incidents created since `since` or still unresolved, newest first.
    async fn incidents(&self, since: i64) -> Result<Vec<Incident>, StoreError>;
    async fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError>;

    // ---- telling people (SPEC 9): subscribers, notices, marks, news cursors
    /// Inserts or updates a subscriber (by id).
    async fn save_subscriber(&self, s: Subscriber) -> Result<(), StoreError>;
    /// `by` is `email`, `confirm_hash` or `unsub_token`.
    async fn subscriber_by(&self, by: &str, value: &str) -> Result<Option<Subscriber>, StoreError>;
    /// Confirmed subscribers with ids after `after_id`, in id order.
    async fn confirmed_subscribers(
        &self,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<Subscriber>, StoreError>;
    async fn subscriber_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Enqueues a fan-out (one body, many recipients) with coalescing, and its marks, atomically.
    async fn enqueue_notices(&self, f: Fanout) -> Result<usize, StoreError>;
    /// Claims a channel's due notices for `lease_ms` (single messages before fan-outs); an
    /// unfinished claim is retried after the lease.
    async fn claim_notices(
        &self,
        channel: &str,
        now: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<Notice>, StoreError>;
    /// Saves a subscriber and enqueues its confirmation email in one transaction.
    async fn subscribe(&self, s: Subscriber, confirmation: Fanout) -> Result<(), StoreError>;
    /// Deletes finished notices older than `before`; returns how many.
    async fn prune_notices(&self, before: i64) -> Result<usize, StoreError>;
    /// Returns claimed notices to `pending` (start-up of the one node that sends them).
    async fn release_notices(&self, now: i64) -> Result<usize, StoreError>;
    async fn notice_done(&self, id: i64, now: i64) -> Result<(), StoreError>;
    async fn notice_retry(
        &self,
        id: i64,
        next_at: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError>;
    /// (channel, status, count) over the notice outbox.
    async fn notice_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError>;
    async fn notify_mark(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_notify_mark(&self, key: &str, value: &str, now: i64) -> Result<(), StoreError>;
    /// The newest (incident update, supplier event, maintenance window) ids: where a
    /// fresh cursor starts. See "News cursors" above.
    async fn notify_heads(&self) -> Result<(i64, i64, i64), StoreError>;
    /// Incident updates with ids after `after`, in id order, as (incident id, update);
    /// ids follow the cursor contract ("News cursors" above).
    async fn incident_updates_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, IncidentUpdate)>, StoreError>;
    /// Supplier events with ids after `after`, in id order, with their ids; ids follow
    /// the cursor contract ("News cursors" above).
    async fn supplier_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, SupplierEvent)>, StoreError>;
    /// Orders in manual review: (order id, ref id, since), oldest first.
    async fn manual_review_orders(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, String, i64)>, StoreError>;
    /// A supplier's attempts still waiting for an answer, oldest first.
    async fn awaiting_attempts(
        &self,
        supplier_id: &str,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError>;

    // ---- the manual desk (SPEC 6.1.2) and the audit log (SPEC 13)
    /// The desk: pending orders whose open attempt (sending, pending or unknown) is at one
    /// of `supplier_ids` (the manual suppliers; the store does not know which those are),
    /// each with that attempt and its claim, oldest attempt first, at most `limit`. One
    /// moment's view.
    async fn desk_orders(
        &self,
        supplier_ids: &[String],
        limit: u32,
    ) -> Result<Vec<DeskItem>, StoreError>;
    /// Claims the pending order `order_id` for `operator`, atomically: of any number of
    /// concurrent takes by different operators exactly one gets `Taken { fresh: true }`,
    /// the others `Held` (who has it). The holder taking again gets `Taken { fresh: false
    /// }`; a final or unknown order is `NotOpen`. A claim is never released: it stays as
    /// history once the order settles. (Whether the order is on the desk is the caller's
    /// check: it knows the manual suppliers.)
    async fn take_desk_order(
        &self,
        order_id: &str,
        operator: &str,
        now: i64,
    ) -> Result<DeskTake, StoreError>;
    /// The claim on an order, if anyone took it.
    async fn desk_claim(&self, order_id: &str) -> Result<Option<DeskClaim>, StoreError>;
    /// Appends an audit line; returns its id (ids only grow).
    async fn add_audit(&self, e: NewAudit) -> Result<i64, StoreError>;
    /// Audit lines matching `f` (see [`AuditFilter`]).
    async fn audit(&self, f: AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;
    // ---- reports (SPEC 11: SLA, cost of downtime, scorecard)
    /// Orders created in `[from, to)`, oldest first (by `created_at`, then id), each with
    /// all its attempts by `seq`, read as one snapshot without a query per order.
    async fn orders_with_attempts(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(Order, Vec<Attempt>)>, StoreError>;
    /// Supplier events with `at` in `[from, to)`, with their ids, by `at` then id; and,
    /// before those, each supplier's last `breaker` event before `from` (the breaker state
    /// the window opens in), so an outage begun earlier is seen.
    async fn supplier_history(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, SupplierEvent)>, StoreError>;

    // ---- text commands over chat (SPEC 5.2): links, one-time codes, PINs, locks
    /// Keeps a one-time link code's hash for a reseller; `false` when there is none.
    async fn add_link_code(
        &self,
        reseller_id: &str,
        code_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Uses a link code once, before expiry: links `chat_id` to its reseller.
    async fn use_link_code(
        &self,
        code_hash: &str,
        chat_id: i64,
        now: i64,
    ) -> Result<Option<ChatLink>, StoreError>;
    async fn chat_link(&self, chat_id: i64) -> Result<Option<ChatLink>, StoreError>;
    /// Sets a reseller's transaction PIN hash and lifts its chats' locks; `false` when
    /// there is no such reseller.
    async fn set_pin_hash(
        &self,
        reseller_id: &str,
        pin_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    async fn pin_hash(&self, reseller_id: &str) -> Result<Option<String>, StoreError>;
    /// Counts a wrong PIN in a chat; the `max`-th in a row locks it until `lock_until`
    /// (and starts the count again).
    async fn wrong_pin(
        &self,
        chat_id: i64,
        max: i64,
        lock_until: i64,
    ) -> Result<WrongPin, StoreError>;
    /// A right PIN: the chat's wrong-PIN count starts again.
    async fn right_pin(&self, chat_id: i64) -> Result<(), StoreError>;
    /// How many orders a reseller placed for one product to one number since `since`.
    async fn same_orders_since(
        &self,
        reseller_id: &str,
        product: &str,
        destination: &str,
        since: i64,
    ) -> Result<u32, StoreError>;
    // ---- several nodes on one database (SPEC 12)
    /// This handle acts for node `id` from now on (set once; later calls change nothing):
    /// orders it takes or sends are owned by it, and [`Store::due_orders`] leaves other
    /// nodes' orders alone.
    fn set_node(&self, id: &str);
    /// Node `n` is alive at `n.now`: its heartbeat, and the lease of every order it owns.
    async fn node_beat(&self, n: NodeBeat) -> Result<(), StoreError>;
    /// Every node that has beaten, with the pending orders each owns.
    async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError>;
    /// Takes or renews the cluster's leader lease for `node` until `until` (it succeeds
    /// when `node` holds it or it ran out before `now`); returns who leads after the call.
    async fn lead(&self, node: &str, now: i64, until: i64) -> Result<Leader, StoreError>;
    /// Moves the pending orders of every other node not seen since `dead_before` to
    /// `node`, to be looked at now; says how many came from which node.
    async fn take_over(
        &self,
        node: &str,
        dead_before: i64,
        now: i64,
    ) -> Result<Vec<TakenOver>, StoreError>;
    /// A supplier's circuit changed on some node: the shared state becomes `b.state` and
    /// `event` is recorded, unless the shared state already was `b.state` (another node saw
    /// the same change first): then nothing is written and the answer is false.
    async fn share_breaker(
        &self,
        b: SharedBreaker,
        event: SupplierEvent,
    ) -> Result<bool, StoreError>;
    /// Every supplier's circuit as the cluster last saw it change.
    async fn shared_breakers(&self) -> Result<Vec<SharedBreaker>, StoreError>;

    // ---- dashboard accounts (SPEC 13)
    /// Adds a dashboard account; `false` when its name is taken (nothing changes).
    async fn add_operator(&self, a: OperatorAccount) -> Result<bool, StoreError>;
    async fn operator_account(&self, name: &str) -> Result<Option<OperatorAccount>, StoreError>;
    /// Every account, by name.
    async fn operator_accounts(&self) -> Result<Vec<OperatorAccount>, StoreError>;
    /// `false` when there is no such account.
    async fn remove_operator(&self, name: &str) -> Result<bool, StoreError>;
    // ---- the whole store
    /// One cheap round trip to the database, which also checks that this build's
    /// migrations are applied (`/readyz`): `Err` when the database cannot be reached or
    /// its schema is behind. The caller bounds how long it waits.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Checks every ledger invariant (SPEC 3.4); problems are listed, not raised.
    async fn verify(&self) -> Result<VerifyReport, StoreError>;

    /// A checked copy of the whole store, as of one moment, in the new file `out` (never
    /// overwritten), while the store keeps serving.
    async fn backup_to(&self, out: &std::path::Path) -> Result<BackupInfo, StoreError>;
    /// How long durable writes have taken so far (commits, syncs), where the store keeps
    /// count; `siaga bench` and `/metrics` report them.
    fn write_times(&self) -> Option<WriteTimesSnapshot> {
        None
    }
}

#[cfg(test)]
mod tests;
