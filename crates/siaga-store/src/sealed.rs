//! The sealing layer above every backend: [`SealedStore`] wraps a backend's [`Store`] and
//! seals the secrets siaga reads back (`secrets.rs`) on their way in and opens them on
//! their way out, so a backend only ever stores sealed text and the rest of siaga only
//! ever sees plain values. Every other call passes through unchanged. When it is made it
//! re-seals every stored secret not in the current form (a database from before
//! encryption, a key being rotated out, a key being taken away), and refuses a store that
//! holds a secret no key of the ring opens.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::chat::{ChatLink, WrongPin};
use crate::cluster::{Leader, NodeBeat, NodeRow, SharedBreaker, TakenOver};
use crate::error::StoreError;
use crate::secrets::{Column, Keyring};
use crate::types::*;
use crate::{BackupInfo, Store, WriteTimesSnapshot};

/// One stored secret as a backend holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cell {
    pub col: Column,
    /// The row's key (`resellers.id`, `subscribers.id`, `notices.id`).
    pub row: String,
    pub stored: String,
}

/// What a backend gives the sealing layer so it can re-seal. Blocking: called only while
/// the store is being opened, before it serves.
pub(crate) trait SecretCells {
    /// Every stored secret for which `is_current` is false.
    fn stale_secret_cells(
        &self,
        is_current: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Cell>, StoreError>;
    /// Writes each cell's new text where the row still holds the old one, in one
    /// transaction; returns how many rows changed.
    fn replace_secret_cells(&self, changes: &[(Cell, String)]) -> Result<usize, StoreError>;
}

/// A backend behind the sealing layer.
pub(crate) struct SealedStore {
    inner: Arc<dyn Store>,
    keys: Keyring,
}

impl SealedStore {
    /// Wraps `backend`, first re-sealing its secrets into the ring's current form. Fails,
    /// changing nothing, when a stored secret opens with no key of the ring.
    pub(crate) fn new<B>(backend: B, keys: Keyring) -> Result<SealedStore, StoreError>
    where
        B: Store + SecretCells,
    {
        let stale = backend.stale_secret_cells(&|s| keys.is_current(s))?;
        if !stale.is_empty() {
            let mut changes = Vec::with_capacity(stale.len());
            for cell in stale {
                let plain = keys.open(cell.col, &cell.stored)?;
                let new = match cell.col {
                    Column::UnsubToken => keys.seal_fixed(cell.col, &plain)?,
                    Column::WebhookSecret | Column::NoticeUnsub | Column::DigiflazzKey => {
                        keys.seal(cell.col, &plain)?
                    }
                };
                changes.push((cell, new));
            }
            let n = backend.replace_secret_cells(&changes)?;
            match keys.current_id() {
                Some(id) => tracing::info!(
                    secrets = n,
                    key = id,
                    "stored secrets sealed with the current key"
                ),
                None => tracing::warn!(
                    secrets = n,
                    "stored secrets written back in clear: no current key"
                ),
            }
        }
        Ok(SealedStore {
            inner: Arc::new(backend),
            keys,
        })
    }

    fn reseller_out(&self, mut r: Reseller) -> Result<Reseller, StoreError> {
        r.webhook_secret = self.keys.open(Column::WebhookSecret, &r.webhook_secret)?;
        r.digiflazz_key = self
            .keys
            .open_opt(Column::DigiflazzKey, r.digiflazz_key.take())?;
        Ok(r)
    }

    fn subscriber_in(&self, mut s: Subscriber) -> Result<Subscriber, StoreError> {
        s.unsub_token = self.keys.seal_fixed(Column::UnsubToken, &s.unsub_token)?;
        Ok(s)
    }

    fn subscriber_out(&self, mut s: Subscriber) -> Result<Subscriber, StoreError> {
        s.unsub_token = self.keys.open(Column::UnsubToken, &s.unsub_token)?;
        Ok(s)
    }

    fn fanout_in(&self, mut f: Fanout) -> Result<Fanout, StoreError> {
        for n in &mut f.notices {
            if let Some(u) = n.unsub.take() {
                n.unsub = Some(self.keys.seal(Column::NoticeUnsub, &u)?);
            }
        }
        Ok(f)
    }
}

#[async_trait]
impl Store for SealedStore {
    async fn create_reseller(&self, mut r: NewReseller) -> Result<(), StoreError> {
        r.webhook_secret = self.keys.seal(Column::WebhookSecret, &r.webhook_secret)?;
        r.digiflazz_key = self.keys.seal(Column::DigiflazzKey, &r.digiflazz_key)?;
        self.inner.create_reseller(r).await
    }

    async fn reseller(&self, id: &str) -> Result<Option<Reseller>, StoreError> {
        self.inner
            .reseller(id)
            .await?
            .map(|r| self.reseller_out(r))
            .transpose()
    }

    async fn reseller_by_key_hash(&self, key_hash: &str) -> Result<Option<Reseller>, StoreError> {
        self.inner
            .reseller_by_key_hash(key_hash)
            .await?
            .map(|r| self.reseller_out(r))
            .transpose()
    }

    async fn list_resellers(&self) -> Result<Vec<Reseller>, StoreError> {
        self.inner
            .list_resellers()
            .await?
            .into_iter()
            .map(|r| self.reseller_out(r))
            .collect()
    }

    async fn set_reseller_access(
        &self,
        id: &str,
        ip_allowlist: &[String],
        require_signature: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .set_reseller_access(id, ip_allowlist, require_signature, now)
            .await
    }

    async fn rotate_keys(
        &self,
        id: &str,
        key_hash: &str,
        webhook_secret: &str,
        digiflazz_key: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let sealed = self.keys.seal(Column::WebhookSecret, webhook_secret)?;
        let dk = self.keys.seal(Column::DigiflazzKey, digiflazz_key)?;
        self.inner
            .rotate_keys(id, key_hash, &sealed, &dk, now)
            .await
    }

    async fn deposit(
        &self,
        reseller_id: &str,
        amount: i64,
        note: &str,
        now: i64,
    ) -> Result<Balance, StoreError> {
        self.inner.deposit(reseller_id, amount, note, now).await
    }

    async fn balance(&self, reseller_id: &str) -> Result<Balance, StoreError> {
        self.inner.balance(reseller_id).await
    }

    async fn statement(&self, q: StatementQuery) -> Result<Vec<StatementLine>, StoreError> {
        self.inner.statement(q).await
    }

    async fn create_order(&self, o: NewOrder) -> Result<Intake, StoreError> {
        self.inner.create_order(o).await
    }

    async fn create_order_with_attempt(
        &self,
        o: NewOrder,
        first: NewAttempt,
    ) -> Result<(Intake, Option<Attempt>), StoreError> {
        self.inner.create_order_with_attempt(o, first).await
    }

    async fn order(&self, order_id: &str) -> Result<Option<Order>, StoreError> {
        self.inner.order(order_id).await
    }

    async fn order_by_ref(
        &self,
        reseller_id: &str,
        ref_id: &str,
    ) -> Result<Option<Order>, StoreError> {
        self.inner.order_by_ref(reseller_id, ref_id).await
    }

    async fn list_orders(&self, q: OrderQuery) -> Result<Vec<Order>, StoreError> {
        self.inner.list_orders(q).await
    }
    async fn search_orders(
        &self,
        text: Option<String>,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError> {
        self.inner.search_orders(text, limit).await
    }

    async fn attempts(&self, order_id: &str) -> Result<Vec<Attempt>, StoreError> {
        self.inner.attempts(order_id).await
    }

    async fn attempt_by_supplier_ref(
        &self,
        supplier_id: &str,
        supplier_ref: &str,
    ) -> Result<Option<Attempt>, StoreError> {
        self.inner
            .attempt_by_supplier_ref(supplier_id, supplier_ref)
            .await
    }

    async fn due_orders(&self, now: i64, limit: u32) -> Result<Vec<String>, StoreError> {
        self.inner.due_orders(now, limit).await
    }

    async fn pending_by_stage(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.inner.pending_by_stage().await
    }

    async fn start_attempt(&self, a: NewAttempt) -> Result<Transition<Attempt>, StoreError> {
        self.inner.start_attempt(a).await
    }

    async fn settle_attempt(&self, s: Settle) -> Result<Transition<Order>, StoreError> {
        self.inner.settle_attempt(s).await
    }

    async fn change_order(&self, c: ChangeOrder) -> Result<Transition<Order>, StoreError> {
        self.inner.change_order(c).await
    }

    async fn due_outbox(
        &self,
        now: i64,
        limit: u32,
        skip: &[String],
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.inner.due_outbox(now, limit, skip).await
    }

    async fn outbox_done(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.inner.outbox_done(id, now).await
    }

    async fn outbox_done_many(&self, ids: Vec<i64>, now: i64) -> Result<(), StoreError> {
        self.inner.outbox_done_many(ids, now).await
    }

    fn subscribe_outbox(&self) -> Option<mpsc::Receiver<OutboxItem>> {
        self.inner.subscribe_outbox()
    }

    async fn outbox_retry(
        &self,
        id: i64,
        next_at: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError> {
        self.inner.outbox_retry(id, next_at, error, dead).await
    }

    async fn outbox_pending_count(&self) -> Result<i64, StoreError> {
        self.inner.outbox_pending_count().await
    }

    async fn add_link_code(
        &self,
        reseller_id: &str,
        code_hash: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .add_link_code(reseller_id, code_hash, expires_at, now)
            .await
    }
    async fn use_link_code(
        &self,
        code_hash: &str,
        chat_id: i64,
        now: i64,
    ) -> Result<Option<ChatLink>, StoreError> {
        self.inner.use_link_code(code_hash, chat_id, now).await
    }
    async fn chat_link(&self, chat_id: i64) -> Result<Option<ChatLink>, StoreError> {
        self.inner.chat_link(chat_id).await
    }
    async fn set_pin_hash(
        &self,
        reseller_id: &str,
        pin_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.inner.set_pin_hash(reseller_id, pin_hash, now).await
    }
    async fn pin_hash(&self, reseller_id: &str) -> Result<Option<String>, StoreError> {
        self.inner.pin_hash(reseller_id).await
    }
    async fn add_operator(&self, a: crate::OperatorAccount) -> Result<bool, StoreError> {
        self.inner.add_operator(a).await
    }
    async fn operator_account(
        &self,
        name: &str,
    ) -> Result<Option<crate::OperatorAccount>, StoreError> {
        self.inner.operator_account(name).await
    }
    async fn operator_accounts(&self) -> Result<Vec<crate::OperatorAccount>, StoreError> {
        self.inner.operator_accounts().await
    }
    async fn remove_operator(&self, name: &str) -> Result<bool, StoreError> {
        self.inner.remove_operator(name).await
    }
    async fn wrong_pin(
        &self,
        chat_id: i64,
        max: i64,
        lock_until: i64,
    ) -> Result<WrongPin, StoreError> {
        self.inner.wrong_pin(chat_id, max, lock_until).await
    }
    async fn right_pin(&self, chat_id: i64) -> Result<(), StoreError> {
        self.inner.right_pin(chat_id).await
    }
    async fn same_orders_since(
        &self,
        reseller_id: &str,
        product: &str,
        destination: &str,
        since: i64,
    ) -> Result<u32, StoreError> {
        self.inner
            .same_orders_since(reseller_id, product, destination, since)
            .await
    }
    async fn issue_vouchers(&self, vs: Vec<NewVoucher>) -> Result<Vec<Voucher>, StoreError> {
        self.inner.issue_vouchers(vs).await
    }

    async fn incident_vouchers(&self, incident_id: i64) -> Result<Vec<Voucher>, StoreError> {
        self.inner.incident_vouchers(incident_id).await
    }

    async fn redeem_voucher(
        &self,
        reseller_id: &str,
        code: &str,
        now: i64,
    ) -> Result<Redeem, StoreError> {
        self.inner.redeem_voucher(reseller_id, code, now).await
    }

    async fn affected_resellers(
        &self,
        products: &[String],
        from: i64,
        to: i64,
        slow_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.inner
            .affected_resellers(products, from, to, slow_ms)
            .await
    }

    async fn add_supplier_event(&self, e: SupplierEvent) -> Result<i64, StoreError> {
        self.inner.add_supplier_event(e).await
    }

    async fn supplier_events(
        &self,
        supplier_id: &str,
        limit: u32,
    ) -> Result<Vec<SupplierEvent>, StoreError> {
        self.inner.supplier_events(supplier_id, limit).await
    }

    async fn add_maintenance(&self, w: MaintenanceWindow) -> Result<i64, StoreError> {
        self.inner.add_maintenance(w).await
    }

    async fn maintenance_windows(
        &self,
        ending_after: i64,
    ) -> Result<Vec<MaintenanceWindow>, StoreError> {
        self.inner.maintenance_windows(ending_after).await
    }

    async fn replace_supplier_products(
        &self,
        supplier_id: &str,
        items: Vec<SupplierProduct>,
    ) -> Result<(), StoreError> {
        self.inner
            .replace_supplier_products(supplier_id, items)
            .await
    }

    async fn supplier_products(&self) -> Result<Vec<(String, SupplierProduct)>, StoreError> {
        self.inner.supplier_products().await
    }

    async fn learn_supplier_price(
        &self,
        supplier_id: &str,
        sku: &str,
        price: i64,
        at: i64,
    ) -> Result<(), StoreError> {
        self.inner
            .learn_supplier_price(supplier_id, sku, price, at)
            .await
    }

    async fn record_component_status(&self, ch: ComponentChange) -> Result<(), StoreError> {
        self.inner.record_component_status(ch).await
    }

    async fn component_log(&self, since: i64) -> Result<Vec<ComponentChange>, StoreError> {
        self.inner.component_log(since).await
    }

    async fn create_incident(&self, n: NewIncident) -> Result<i64, StoreError> {
        self.inner.create_incident(n).await
    }

    async fn add_incident_update(
        &self,
        id: i64,
        status: &str,
        body_id: &str,
        body_en: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        self.inner
            .add_incident_update(id, status, body_id, body_en, at)
            .await
    }

    async fn set_postmortem(
        &self,
        id: i64,
        body_id: &str,
        body_en: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        self.inner.set_postmortem(id, body_id, body_en, at).await
    }

    async fn incidents(&self, since: i64) -> Result<Vec<Incident>, StoreError> {
        self.inner.incidents(since).await
    }

    async fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        self.inner.incident(id).await
    }

    async fn save_subscriber(&self, s: Subscriber) -> Result<(), StoreError> {
        let s = self.subscriber_in(s)?;
        self.inner.save_subscriber(s).await
    }

    async fn subscriber_by(&self, by: &str, value: &str) -> Result<Option<Subscriber>, StoreError> {
        let found = if by == "unsub_token" {
            let mut found = None;
            for stored in self.keys.lookups(Column::UnsubToken, value)? {
                found = self.inner.subscriber_by(by, &stored).await?;
                if found.is_some() {
                    break;
                }
            }
            found
        } else {
            self.inner.subscriber_by(by, value).await?
        };
        found.map(|s| self.subscriber_out(s)).transpose()
    }

    async fn confirmed_subscribers(
        &self,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<Subscriber>, StoreError> {
        self.inner
            .confirmed_subscribers(after_id, limit)
            .await?
            .into_iter()
            .map(|s| self.subscriber_out(s))
            .collect()
    }

    async fn subscriber_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.inner.subscriber_counts().await
    }

    async fn enqueue_notices(&self, f: Fanout) -> Result<usize, StoreError> {
        let f = self.fanout_in(f)?;
        self.inner.enqueue_notices(f).await
    }

    async fn claim_notices(
        &self,
        channel: &str,
        now: i64,
        limit: u32,
        lease_ms: i64,
    ) -> Result<Vec<Notice>, StoreError> {
        let mut ns = self
            .inner
            .claim_notices(channel, now, limit, lease_ms)
            .await?;
        for n in &mut ns {
            n.unsub = self.keys.open_opt(Column::NoticeUnsub, n.unsub.take())?;
        }
        Ok(ns)
    }

    async fn subscribe(&self, s: Subscriber, confirmation: Fanout) -> Result<(), StoreError> {
        let s = self.subscriber_in(s)?;
        let confirmation = self.fanout_in(confirmation)?;
        self.inner.subscribe(s, confirmation).await
    }

    async fn prune_notices(&self, before: i64) -> Result<usize, StoreError> {
        self.inner.prune_notices(before).await
    }

    async fn release_notices(&self, now: i64) -> Result<usize, StoreError> {
        self.inner.release_notices(now).await
    }

    async fn notice_done(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.inner.notice_done(id, now).await
    }

    async fn notice_retry(
        &self,
        id: i64,
        next_at: i64,
        error: &str,
        dead: bool,
    ) -> Result<(), StoreError> {
        self.inner.notice_retry(id, next_at, error, dead).await
    }

    async fn notice_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.inner.notice_counts().await
    }

    async fn notify_mark(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.notify_mark(key).await
    }

    async fn set_notify_mark(&self, key: &str, value: &str, now: i64) -> Result<(), StoreError> {
        self.inner.set_notify_mark(key, value, now).await
    }

    async fn notify_heads(&self) -> Result<(i64, i64, i64), StoreError> {
        self.inner.notify_heads().await
    }

    async fn incident_updates_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, IncidentUpdate)>, StoreError> {
        self.inner.incident_updates_after(after, limit).await
    }

    async fn supplier_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, SupplierEvent)>, StoreError> {
        self.inner.supplier_events_after(after, limit).await
    }

    async fn manual_review_orders(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.inner.manual_review_orders(limit).await
    }

    async fn awaiting_attempts(
        &self,
        supplier_id: &str,
        limit: u32,
    ) -> Result<Vec<Attempt>, StoreError> {
        self.inner.awaiting_attempts(supplier_id, limit).await
    }

    async fn desk_orders(
        &self,
        supplier_ids: &[String],
        limit: u32,
    ) -> Result<Vec<crate::DeskItem>, StoreError> {
        self.inner.desk_orders(supplier_ids, limit).await
    }

    async fn take_desk_order(
        &self,
        order_id: &str,
        operator: &str,
        now: i64,
    ) -> Result<crate::DeskTake, StoreError> {
        self.inner.take_desk_order(order_id, operator, now).await
    }

    async fn desk_claim(&self, order_id: &str) -> Result<Option<crate::DeskClaim>, StoreError> {
        self.inner.desk_claim(order_id).await
    }

    async fn add_audit(&self, e: crate::NewAudit) -> Result<i64, StoreError> {
        self.inner.add_audit(e).await
    }

    async fn audit(&self, f: crate::AuditFilter) -> Result<Vec<crate::AuditEntry>, StoreError> {
        self.inner.audit(f).await
    }

    async fn orders_with_attempts(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(Order, Vec<Attempt>)>, StoreError> {
        self.inner.orders_with_attempts(from, to).await
    }

    async fn supplier_history(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, SupplierEvent)>, StoreError> {
        self.inner.supplier_history(from, to).await
    }

    fn set_node(&self, id: &str) {
        self.inner.set_node(id)
    }
    async fn node_beat(&self, n: NodeBeat) -> Result<(), StoreError> {
        self.inner.node_beat(n).await
    }
    async fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        self.inner.nodes().await
    }
    async fn lead(&self, node: &str, now: i64, until: i64) -> Result<Leader, StoreError> {
        self.inner.lead(node, now, until).await
    }
    async fn take_over(
        &self,
        node: &str,
        dead_before: i64,
        now: i64,
    ) -> Result<Vec<TakenOver>, StoreError> {
        self.inner.take_over(node, dead_before, now).await
    }
    async fn share_breaker(
        &self,
        b: SharedBreaker,
        event: SupplierEvent,
    ) -> Result<bool, StoreError> {
        self.inner.share_breaker(b, event).await
    }
    async fn shared_breakers(&self) -> Result<Vec<SharedBreaker>, StoreError> {
        self.inner.shared_breakers().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.inner.verify().await
    }

    async fn backup_to(&self, out: &Path) -> Result<BackupInfo, StoreError> {
        self.inner.backup_to(out).await
    }

    fn write_times(&self) -> Option<WriteTimesSnapshot> {
        self.inner.write_times()
    }
}
