//! The [`Store`] trait on [`PgStore`]: each call is one transaction (`write_tx!`) or one
//! read (`read_tx!`; a REPEATABLE READ snapshot where a read takes several statements).

use std::path::Path;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::tx::{read_tx, write_tx};
use super::PgStore;
use super::{
    chat, cluster, desk, health, ledger, notify, operators, orders, outbox, reports, resellers,
    status, transitions, verify, vouchers,
};
use crate::chat::{ChatLink, WrongPin};
use crate::cluster::{Leader, NodeBeat, NodeRow, SharedBreaker, TakenOver};
use crate::error::StoreError;
use crate::operators::OperatorAccount;
use crate::types::*;
use crate::{Store, WriteTimesSnapshot};

#[async_trait]
impl Store for PgStore {
    async fn create_reseller(&self, r: NewReseller) -> Result<(), StoreError> {
        write_tx!(self, |t| resellers::create(&t.c, &r).await)
    }
    async fn reseller(&self, id: &str) -> Result<Option<Reseller>, StoreError> {
        read_tx!(self, |c| resellers::by_id(c, id).await)
    }
    async fn reseller_by_key_hash(&self, key_hash: &str) -> Result<Option<Reseller>, StoreError> {
        read_tx!(self, |c| resellers::by_key_hash(c, key_hash).await)
    }
    async fn list_resellers(&self) -> Result<Vec<Reseller>, StoreError> {
        read_tx!(self, |c| resellers::list(c).await)
    }
    async fn set_reseller_access(
        &self,
        id: &str,
        ip_allowlist: &[String],
        require_signature: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        write_tx!(self, |t| resellers::set_access(
            &t.c,
            id,
            ip_allowlist,
            require_signature,
            now
        )
        .await)
    }
    async fn rotate_keys(
        &self,
        id: &str,
        key_hash: &str,
        secret: &str,
        digiflazz_key: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        write_tx!(self, |t| resellers::rotate(
            &t.c,
            id,
            key_hash,
            secret,
            digiflazz_key,
            now
        )
        .await)
    }
    async fn deposit(
        &self,
        reseller_id: &str,
        amount: i64,
        note: &str,
        now: i64,
    ) -> Result<Balance, StoreError> {
        write_tx!(self, |t| ledger::deposit(
            &t.c,
            reseller_id,
            amount,
            note,
            now
        )
        .await)
    }
    async fn balance(&self, reseller_id: &str) -> Result<Balance, StoreError> {
        read_tx!(self, |c| ledger::balance(c, reseller_id).await)
    }
    async fn statement(&self, q: StatementQuery) -> Result<Vec<StatementLine>, StoreError> {
        read_tx!(self, |c| ledger::statement(c, &q).await)
    }
    async fn create_order(&self, o: NewOrder) -> Result<Intake, StoreError> {
        self.intake(&o, None).await.map(|(i, _)| i)
    }
    async fn create_order_with_attempt(
        &self,
        o: NewOrder,
        first: NewAttempt,
    ) -> Result<(Intake, Option<Attempt>), StoreError> {
        self.intake(&o, Some(&first)).await
    }
    async fn order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        read_tx!(self, |c| orders::by_id(c, order_id).await)
    }
    async fn order_by_ref(
        &self,
        reseller_id: &str,
        ref_id: &str,
    ) -> Result<Option<Order>, StoreError> {
        read_tx!(self, |c| orders::by_ref(c, reseller_id, ref_id).await)
    }
    async fn list_orders(&self, q: OrderQuery) -> Result<Vec<Order>, StoreError> {
        read_tx!(self, |c| orders::list(c, &q).await)
    }
    async fn search_orders(
        &self,
        text: Option<String>,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError> {
        read_tx!(self, |c| desk::search(c, text.as_deref(), limit).await)
    }
    async fn attempts(&self, order_id: &str) -> Result<Vec<Attempt>, StoreError> {
        read_tx!(self, |c| orders::attempts(c, order_id).await)
    }
    async fn attempt_by_supplier_ref(
        &self,
        supplier_id: &str,
        supplier_ref: &str,
    ) -> Result<Option<Attempt>, StoreError> {
        read_tx!(self, |c| orders::attempt_by_ref(
            c,
            supplier_id,
            supplier_ref
        )
        .await)
    }
    async fn due_orders(&self, now: i64, limit: u32) -> Result<Vec<String>, StoreError> {
        let node = self.node.get().map(String::as_str);
        read_tx!(self, |c| orders::due(c, now, limit, node).await)
    }
    async fn pending_by_stage(&self) -> Result<Vec<(String, i64)>, StoreError> {
        read_tx!(self, |c| orders::pending_by_stage(c).await)
    }
    async fn start_attempt(&self, a: NewAttempt) -> Result<Transition<Attempt>, StoreError> {
        let owner = self.node.get().map(String::as_str);
        let res = write_tx!(self, |t| transitions::start_attempt(&t, &a, owner).await);
        self.start_known(res, &a).await
    }
    async fn settle_attempt(&self, s: Settle) -> Result<Transition<Order>, StoreError> {
        self.settle(&s).await
    }
    async fn change_order(&self, ch: ChangeOrder) -> Result<Transition<Order>, StoreError> {
        write_tx!(self, |t| transitions::change(&t, &ch).await)
    }
    async fn due_outbox(
        &self,
        now: i64,
        limit: u32,
        skip: &[String],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        read_tx!(self, |c| outbox::due(c, now, limit, skip).await)
    }
    async fn outbox_done(&self, id: i64, now: i64) -> Result<(), StoreError> {
        write_tx!(self, |t| outbox::done(&t.c, &[id], now).await)
    }
    async fn outbox_done_many(&self, ids: Vec<i64>, now: i64) -> Result<(), StoreError> {
        write_tx!(self, |t| outbox::done(&t.c, &ids, now).await)
    }
    fn subscribe_outbox(&self) -> Option<mpsc::Receiver<OutboxItem>> {
        self.subscribe()
    }
    async fn outbox_retry(
        &self,
        id: i64,
        next_at: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError> {
        write_tx!(self, |t| outbox::retry(&t.c, id, next_at, error, dead)
            .await)
    }
    async fn outbox_pending_count(&self) -> Result<i64, StoreError> {
        read_tx!(self, |c| outbox::pending_count(c).await)
    }
    fn set_node(&self, id: &str) {
        let _ = self.node.set(id.to_owned());
    }
    async fn node_beat(&self, n: NodeBeat) -> Result<(), StoreError> {
        write_tx!(self, |t| cluster::beat(&t.c, &n).await)
    }
    async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        read_tx!(self, |c| cluster::nodes(c).await)
    }
    async fn lead(&self, node: &str, now: i64, until: i64) -> Result<Leader, StoreError> {
        write_tx!(self, |t| cluster::lead(&t.c, node, now, until).await)
    }
    async fn take_over(
        &self,
        node: &str,
        dead_before: i64,
        now: i64,
    ) -> Result<Vec<TakenOver>, StoreError> {
        write_tx!(self, |t| cluster::take_over(&t.c, node, dead_before, now)
            .await)
    }
    async fn share_breaker(
        &self,
        b: SharedBreaker,
        event: SupplierEvent,
    ) -> Result<bool, StoreError> {
        write_tx!(self, |t| cluster::share_breaker(&t.c, &b, &event).await)
    }
    async fn shared_breakers(&self) -> Result<Vec<SharedBreaker>, StoreError> {
        read_tx!(self, |c| cluster::breakers(c).await)
    }
    async fn ping(&self) -> Result<(), StoreError> {
        // No retries: `/readyz` wants to know how it is now.
        let c = self.client().await?;
        let at: i64 = super::tx::one(
            &c,
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
        crate::error::schema_behind(at, PgStore::schema_version())
    }
    async fn verify(&self) -> Result<VerifyReport, StoreError> {
        read_tx!(self, snapshot | c | verify::run(c).await)
    }
    async fn add_operator(&self, a: OperatorAccount) -> Result<bool, StoreError> {
        write_tx!(self, |t| operators::add(&t.c, &a).await)
    }
    async fn operator_account(&self, name: &str) -> Result<Option<OperatorAccount>, StoreError> {
        read_tx!(self, |c| operators::one(c, name).await)
    }
    async fn operator_accounts(&self) -> Result<Vec<OperatorAccount>, StoreError> {
        read_tx!(self, |c| operators::all(c).await)
    }
    async fn remove_operator(&self, name: &str) -> Result<bool, StoreError> {
        write_tx!(self, |t| operators::remove(&t.c, name).await)
    }
    async fn backup_to(&self, _out: &Path) -> Result<crate::BackupInfo, StoreError> {
        Err(StoreError::Backup(super::BACKUP_HINT.into()))
    }
    async fn add_link_code(
        &self,
        reseller_id: &str,
        code_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        write_tx!(self, |t| chat::add_code(
            &t.c,
            reseller_id,
            code_hash,
            expires_at,
            now
        )
        .await)
    }
    async fn use_link_code(
        &self,
        code_hash: &str,
        chat_id: i64,
        now: i64,
    ) -> Result<Option<ChatLink>, StoreError> {
        write_tx!(self, |t| chat::use_code(&t.c, code_hash, chat_id, now)
            .await)
    }
    async fn chat_link(&self, chat_id: i64) -> Result<Option<ChatLink>, StoreError> {
        read_tx!(self, |c| chat::link(c, chat_id).await)
    }
    async fn set_pin_hash(
        &self,
        reseller_id: &str,
        pin_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        write_tx!(self, |t| chat::set_pin(&t.c, reseller_id, pin_hash, now)
            .await)
    }
    async fn pin_hash(&self, reseller_id: &str) -> Result<Option<String>, StoreError> {
        read_tx!(self, |c| chat::pin(c, reseller_id).await)
    }
    async fn wrong_pin(
        &self,
        chat_id: i64,
        max: i64,
        lock_until: i64,
    ) -> Result<WrongPin, StoreError> {
        write_tx!(self, |t| chat::wrong_pin(&t.c, chat_id, max, lock_until)
            .await)
    }
    async fn right_pin(&self, chat_id: i64) -> Result<(), StoreError> {
        write_tx!(self, |t| chat::right_pin(&t.c, chat_id).await)
    }
    async fn same_orders_since(
        &self,
        reseller_id: &str,
        product: &str,
        destination: &str,
        since: i64,
    ) -> Result<u32, StoreError> {
        read_tx!(self, |c| chat::same_orders(
            c,
            reseller_id,
            product,
            destination,
            since
        )
        .await)
    }
    async fn issue_vouchers(&self, vs: Vec<NewVoucher>) -> Result<Vec<Voucher>, StoreError> {
        write_tx!(self, |t| vouchers::issue(&t.c, &vs).await)
    }
    async fn incident_vouchers(&self, incident_id: i64) -> Result<Vec<Voucher>, StoreError> {
        read_tx!(self, |c| vouchers::for_incident(c, incident_id).await)
    }
    async fn redeem_voucher(
        &self,
        reseller_id: &str,
        code: &str,
        now: i64,
    ) -> Result<Redeem, StoreError> {
        write_tx!(self, |t| vouchers::redeem(&t.c, reseller_id, code, now)
            .await)
    }
    async fn affected_resellers(
        &self,
        products: &[String],
        from: i64,
        to: i64,
        slow_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        read_tx!(self, |c| vouchers::affected(c, products, from, to, slow_ms)
            .await)
    }
    async fn add_supplier_event(&self, e: SupplierEvent) -> Result<i64, StoreError> {
        write_tx!(self, |t| health::add_event(&t.c, &e).await)
    }
    async fn supplier_events(
        &self,
        supplier_id: &str,
        limit: u32,
    ) -> Result<Vec<SupplierEvent>, StoreError> {
        read_tx!(self, |c| health::events(c, supplier_id, limit).await)
    }
    async fn add_maintenance(&self, w: MaintenanceWindow) -> Result<i64, StoreError> {
        write_tx!(self, |t| health::add_window(&t.c, &w).await)
    }
    async fn maintenance_windows(
        &self,
        ending_after: i64,
    ) -> Result<Vec<MaintenanceWindow>, StoreError> {
        read_tx!(self, |c| health::windows(c, ending_after).await)
    }
    async fn replace_supplier_products(
        &self,
        supplier_id: &str,
        items: Vec<SupplierProduct>,
    ) -> Result<(), StoreError> {
        write_tx!(self, |t| health::replace_products(
            &t.c,
            supplier_id,
            &items
        )
        .await)
    }
    async fn supplier_products(&self) -> Result<Vec<(String, SupplierProduct)>, StoreError> {
        read_tx!(self, |c| health::products(c).await)
    }
    async fn learn_supplier_price(
        &self,
        supplier_id: &str,
        sku: &str,
        price: i64,
        at: i64,
    ) -> Result<(), StoreError> {
        write_tx!(self, |t| health::learn_price(
            &t.c,
            supplier_id,
            sku,
            price,
            at
        )
        .await)
    }
    async fn record_component_status(&self, ch: ComponentChange) -> Result<(), StoreError> {
        write_tx!(self, |t| status::record_component(&t.c, &ch).await)
    }
    async fn component_log(&self, since: i64) -> Result<Vec<ComponentChange>, StoreError> {
        read_tx!(self, |c| status::component_log(c, since).await)
    }
    async fn create_incident(&self, n: NewIncident) -> Result<i64, StoreError> {
        write_tx!(self, |t| status::create_incident(&t.c, &n).await)
    }
    async fn add_incident_update(
        &self,
        id: i64,
        status: &str,
        body_id: &str,
        body_en: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        write_tx!(self, |t| status::add_update(
            &t.c, id, status, body_id, body_en, at
        )
        .await)
    }
    async fn set_postmortem(
        &self,
        id: i64,
        body_id: &str,
        body_en: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        write_tx!(self, |t| status::set_postmortem(
            &t.c, id, body_id, body_en, at
        )
        .await)
    }
    async fn incidents(&self, since: i64) -> Result<Vec<Incident>, StoreError> {
        read_tx!(self, snapshot | c | status::incidents(c, since).await)
    }
    async fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        read_tx!(self, snapshot | c | status::incident(c, id).await)
    }
    async fn save_subscriber(&self, s: Subscriber) -> Result<(), StoreError> {
        write_tx!(self, |t| notify::save_subscriber(&t.c, &s).await)
    }
    async fn subscriber_by(&self, by: &str, value: &str) -> Result<Option<Subscriber>, StoreError> {
        read_tx!(self, |c| notify::subscriber_by(c, by, value).await)
    }
    async fn confirmed_subscribers(
        &self,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<Subscriber>, StoreError> {
        read_tx!(self, |c| notify::confirmed_subscribers(c, after_id, limit)
            .await)
    }
    async fn subscriber_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        read_tx!(self, |c| notify::subscriber_counts(c).await)
    }
    async fn enqueue_notices(&self, f: Fanout) -> Result<usize, StoreError> {
        write_tx!(self, |t| notify::enqueue(&t.c, &f).await)
    }
    async fn claim_notices(
        &self,
        channel: &str,
        now: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<Notice>, StoreError> {
        write_tx!(self, |t| notify::claim(&t.c, channel, now, limit, lease_ms)
            .await)
    }
    async fn subscribe(&self, s: Subscriber, confirmation: Fanout) -> Result<(), StoreError> {
        write_tx!(self, |t| {
            notify::save_subscriber(&t.c, &s).await?;
            notify::enqueue(&t.c, &confirmation).await.map(|_| ())
        })
    }
    async fn prune_notices(&self, before: i64) -> Result<usize, StoreError> {
        write_tx!(self, |t| notify::prune(&t.c, before).await)
    }
    async fn release_notices(&self, now: i64) -> Result<usize, StoreError> {
        write_tx!(self, |t| notify::release(&t.c, now).await)
    }
    async fn notice_done(&self, id: i64, now: i64) -> Result<(), StoreError> {
        write_tx!(self, |t| notify::done(&t.c, id, now).await)
    }
    async fn notice_retry(
        &self,
        id: i64,
        next_at: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError> {
        write_tx!(self, |t| notify::retry(&t.c, id, next_at, error, dead)
            .await)
    }
    async fn notice_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        read_tx!(self, |c| notify::notice_counts(c).await)
    }
    async fn notify_mark(&self, key: &str) -> Result<Option<String>, StoreError> {
        read_tx!(self, |c| notify::mark(c, key).await)
    }
    async fn set_notify_mark(&self, key: &str, value: &str, now: i64) -> Result<(), StoreError> {
        write_tx!(self, |t| notify::set_mark(&t.c, key, value, now).await)
    }
    async fn notify_heads(&self) -> Result<(i64, i64, i64), StoreError> {
        read_tx!(self, |c| notify::heads(c).await)
    }
    async fn incident_updates_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, IncidentUpdate)>, StoreError> {
        read_tx!(self, |c| notify::updates_after(c, after, limit).await)
    }
    async fn supplier_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, SupplierEvent)>, StoreError> {
        read_tx!(self, |c| notify::events_after(c, after, limit).await)
    }
    async fn manual_review_orders(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        read_tx!(self, |c| notify::manual_review(c, limit).await)
    }
    async fn awaiting_attempts(
        &self,
        supplier_id: &str,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        read_tx!(self, |c| notify::awaiting(c, supplier_id, limit).await)
    }
    async fn desk_orders(
        &self,
        supplier_ids: &[String],
        limit: u32,
    ) -> Result<Vec<crate::DeskItem>, StoreError> {
        read_tx!(self, |c| desk::items(c, supplier_ids, limit).await)
    }
    async fn take_desk_order(
        &self,
        order_id: &str,
        operator: &str,
        now: i64,
    ) -> Result<crate::DeskTake, StoreError> {
        write_tx!(self, |t| desk::take(&t.c, order_id, operator, now).await)
    }
    async fn desk_claim(&self, order_id: &str) -> Result<Option<crate::DeskClaim>, StoreError> {
        read_tx!(self, |c| desk::claim(c, order_id).await)
    }
    async fn add_audit(&self, e: crate::NewAudit) -> Result<i64, StoreError> {
        write_tx!(self, |t| desk::add_audit(&t.c, &e).await)
    }
    async fn audit(&self, f: crate::AuditFilter) -> Result<Vec<crate::AuditEntry>, StoreError> {
        read_tx!(self, |c| desk::audit(c, &f).await)
    }
    async fn orders_with_attempts(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(Order, Vec<Attempt>)>, StoreError> {
        read_tx!(
            self,
            snapshot | c | reports::orders_with_attempts(c, from, to).await
        )
    }
    async fn supplier_history(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, SupplierEvent)>, StoreError> {
        read_tx!(self, |c| reports::supplier_history(c, from, to).await)
    }
    fn write_times(&self) -> Option<WriteTimesSnapshot> {
        Some(self.batcher.times())
    }
}
