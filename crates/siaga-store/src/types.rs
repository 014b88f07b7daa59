//! Rows the store returns and commands it accepts. Plain data; the wire shapes live in
//! the binary's `http/` module.

use siaga_domain::{FailureCode, OrderStatus, Stage};

#[derive(Debug, Clone)]
pub struct NewReseller {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub callback_url: Option<String>,
    pub key_hash: String,
    pub webhook_secret: String,
    /// The key of the Digiflazz drop-in (SPEC 5.1): read back to check md5 signs, so
    /// sealed like the webhook secret.
    pub digiflazz_key: String,
    pub callback_format: CallbackFormat,
    pub now: i64,
}

/// How a reseller's callbacks are written (SPEC 5, 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CallbackFormat {
    /// `{"type":"order.updated","data":<order>}`, signed per Standard Webhooks.
    #[default]
    Standard,
    /// `{"data":{...}}` as Digiflazz sends it, with `X-Hub-Signature`.
    Digiflazz,
}

impl CallbackFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackFormat::Standard => "standard",
            CallbackFormat::Digiflazz => "digiflazz",
        }
    }

    pub fn parse(s: &str) -> Option<CallbackFormat> {
        match s {
            "standard" => Some(CallbackFormat::Standard),
            "digiflazz" => Some(CallbackFormat::Digiflazz),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Reseller {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub callback_url: Option<String>,
    pub key_hash: String,
    pub webhook_secret: String,
    pub created_at: i64,
    /// Addresses or ranges (`203.0.113.7`, `10.0.0.0/8`) its API requests may come from;
    /// empty: any.
    pub ip_allowlist: Vec<String>,
    /// Every API request must carry `X-Siaga-Timestamp` and `X-Siaga-Signature`.
    pub require_signature: bool,
    /// The Digiflazz drop-in key; `None` for a reseller from before the drop-in until its
    /// keys are rotated.
    pub digiflazz_key: Option<String>,
    pub callback_format: CallbackFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance {
    pub available: i64,
    pub held: i64,
}

#[derive(Debug, Clone)]
pub struct StatementLine {
    /// Orders the lines of one account; a page's last is the next page's cursor.
    pub line_id: i64,
    pub transfer_id: i64,
    pub kind: String,
    pub order_id: Option<String>,
    pub ref_id: Option<String>,
    pub amount: i64,
    pub balance_after: i64,
    pub note: Option<String>,
    pub at: i64,
}

/// A page of one reseller's statement: lines in `[from, to)`, oldest first, after the line
/// `after` (a previous page's last `line_id`), at most `limit`.
#[derive(Debug, Clone)]
pub struct StatementQuery {
    pub reseller_id: String,
    pub from: i64,
    pub to: i64,
    pub after: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct NewOrder {
    pub order_id: String,
    pub reseller_id: String,
    pub ref_id: String,
    pub product: String,
    pub destination: String,
    pub price: i64,
    pub max_wait_s: i64,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub enum Intake {
    /// A new order; its price is reserved.
    Created(Order),
    /// The same request again: the existing order.
    Replay(Order),
    /// The ref_id is taken by an order with another product or destination.
    Conflict(Order),
    /// Not enough available balance: nothing was written.
    InsufficientBalance,
    /// The reseller does not exist.
    UnknownReseller,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub reseller_id: String,
    pub ref_id: String,
    pub product: String,
    pub destination: String,
    pub price: i64,
    pub max_wait_s: i64,
    pub status: OrderStatus,
    pub stage: Option<Stage>,
    pub serial_number: Option<String>,
    pub failure_code: Option<FailureCode>,
    pub next_action_at: Option<i64>,
    pub wait_until: i64,
    /// Incremented each time the order is queued; routes are tried once per round.
    pub round: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    pub reseller_id: String,
    pub status: Option<OrderStatus>,
    pub since: Option<i64>,
    /// Return orders with an id below this one (ids sort by creation time).
    pub before_id: Option<String>,
    pub limit: u32,
}

/// The state of an attempt. `Sending` means the request may or may not have left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptState {
    Sending,
    Pending,
    Unknown,
    Success,
    Failed,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Sending => "sending",
            AttemptState::Pending => "pending",
            AttemptState::Unknown => "unknown",
            AttemptState::Success => "success",
            AttemptState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<AttemptState> {
        Some(match s {
            "sending" => AttemptState::Sending,
            "pending" => AttemptState::Pending,
            "unknown" => AttemptState::Unknown,
            "success" => AttemptState::Success,
            "failed" => AttemptState::Failed,
            _ => return None,
        })
    }

    pub fn is_open(self) -> bool {
        matches!(
            self,
            AttemptState::Sending | AttemptState::Pending | AttemptState::Unknown
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: String,
    pub order_id: String,
    pub seq: i64,
    pub round: i64,
    pub supplier_id: String,
    pub sku: String,
    pub cost: i64,
    pub supplier_ref: String,
    pub state: AttemptState,
    pub reason: Option<String>,
    pub rc: Option<String>,
    pub http_status: Option<i64>,
    pub message: Option<String>,
    pub sn: Option<String>,
    pub inquiries: i64,
    pub next_inquiry_at: Option<i64>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewAttempt {
    pub order_id: String,
    pub order_version: i64,
    pub attempt_id: String,
    pub supplier_id: String,
    pub sku: String,
    pub cost: i64,
    pub supplier_ref: String,
    /// When the order should be looked at again if this process dies mid-request.
    pub lease_until: i64,
    pub now: i64,
}

/// What an attempt came to, as recorded.
#[derive(Debug, Clone, Default)]
pub struct AttemptResult {
    pub reason: Option<String>,
    pub rc: Option<String>,
    pub http_status: Option<i64>,
    pub message: Option<String>,
    pub sn: Option<String>,
    /// What the supplier said it charged for a successful top-up. When given (and a
    /// sane amount), the `post` transfer books it as the cost, and the attempt's `cost`
    /// becomes it; otherwise the configured cost stands.
    pub charged: Option<i64>,
}

/// What happens to the order along with an attempt result or on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderChange {
    /// Post the reservation (reseller held → revenue; cost → the supplier) and finish.
    Succeed { sn: String },
    /// Void the reservation (held → available) and finish.
    Fail { code: FailureCode },
    /// Try the next route now.
    Dispatch { at: i64 },
    /// Wait for the supplier: next inquiry at `at` (the attempt stays open).
    Await { at: i64 },
    /// Wait for any route to become usable, looking again at `at` (starts a new round).
    Queue { at: i64 },
    /// Wait in the queue without starting a new round (every usable route is at its
    /// concurrency limit, or in maintenance / circuit open before it was tried).
    Hold { at: i64 },
    /// Stop automatic work; an operator settles it.
    ManualReview,
}

#[derive(Debug, Clone)]
pub struct Settle {
    pub attempt_id: String,
    pub order_version: i64,
    /// `Success`, `Failed`, `Pending` or `Unknown`.
    pub state: AttemptState,
    pub result: AttemptResult,
    /// Count this as one more inquiry.
    pub inquiry: bool,
    pub change: OrderChange,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct ChangeOrder {
    pub order_id: String,
    pub order_version: i64,
    pub change: OrderChange,
    pub now: i64,
}

/// The result of a conditional transition.
#[derive(Debug, Clone)]
pub enum Transition<T> {
    Done(T),
    /// The order (or attempt) moved since it was read: read again and decide again.
    Stale,
}

#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub msg_id: String,
    pub kind: String,
    pub reseller_id: Option<String>,
    pub order_id: Option<String>,
    pub target: String,
    /// Deliveries tried so far (an order's supplier attempts are [`Attempt`]s).
    pub tries: i64,
    pub created_at: i64,
    /// The order as committed with the message: set on messages from the store's feed
    /// ([`crate::Store::subscribe_outbox`]), `None` on those read from the table.
    pub order: Option<Order>,
}

/// What `siaga verify` found. Empty `problems` means every invariant holds.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub transfers: i64,
    pub accounts: i64,
    pub orders: i64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Something that happened to a supplier, with its evidence (JSON in `detail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierEvent {
    pub supplier_id: String,
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub detail: String,
    pub at: i64,
}

/// An announced maintenance window of a supplier (from the CLI or the admin API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub id: i64,
    pub supplier_id: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub note: Option<String>,
    pub source: String,
    pub created_at: i64,
}

/// One item of a supplier's own price list, as last synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierProduct {
    pub sku: String,
    pub price: i64,
    pub buyer_status: bool,
    pub seller_status: bool,
    pub start_cut_off: String,
    pub end_cut_off: String,
    pub synced_at: i64,
}

/// One change of a status-page component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentChange {
    pub component: String,
    pub status: String,
    pub at: i64,
}

#[derive(Debug, Clone)]
pub struct NewIncident {
    pub title_id: String,
    pub title_en: String,
    pub status: String,
    pub impact: String,
    pub components: Vec<String>,
    pub auto_component: Option<String>,
    pub security: bool,
    /// The first update's text.
    pub body_id: String,
    pub body_en: String,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: i64,
    pub title_id: String,
    pub title_en: String,
    pub status: String,
    pub impact: String,
    pub components: Vec<String>,
    pub auto_component: Option<String>,
    pub security: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    pub postmortem_id: Option<String>,
    pub postmortem_en: Option<String>,
    /// Oldest first.
    pub updates: Vec<IncidentUpdate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentUpdate {
    pub id: i64,
    pub status: String,
    pub body_id: String,
    pub body_en: String,
    pub at: i64,
}

/// A status-page subscriber (SPEC 9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: String,
    pub email: String,
    /// Component names; empty means every component.
    pub components: Vec<String>,
    /// `pending` | `confirmed` | `unsubscribed`
    pub status: String,
    pub confirm_hash: Option<String>,
    pub unsub_token: String,
    pub created_at: i64,
    pub confirm_sent_at: i64,
    pub confirmed_at: Option<i64>,
    pub unsubscribed_at: Option<i64>,
}

/// What a notice says; stored once per fan-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeBody {
    pub kind: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// JSON object: the `data` of a Standard Webhooks message.
    pub payload: String,
}

/// One recipient of a fan-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotice {
    pub msg_id: String,
    pub channel: String,
    pub target: String,
    pub topic: String,
    pub unsub: Option<String>,
}

/// A batch of notices sharing one body, enqueued atomically with the notifier's marks.
#[derive(Debug, Clone)]
pub struct Fanout {
    pub body: NoticeBody,
    pub notices: Vec<NewNotice>,
    /// `notify_marks` rows written in the same transaction (cursors, once-only marks).
    pub marks: Vec<(String, String)>,
    /// A target gets at most one message per topic per this many ms: a newer notice for a
    /// topic still waiting replaces it, and one sent recently delays the next.
    pub coalesce_ms: i64,
    pub now: i64,
}

/// A claimed notice, ready to send.
#[derive(Debug, Clone)]
pub struct Notice {
    pub id: i64,
    pub msg_id: String,
    pub channel: String,
    pub target: String,
    pub topic: String,
    pub unsub: Option<String>,
    /// Deliveries tried so far.
    pub tries: i64,
    pub created_at: i64,
    pub body: NoticeBody,
}

/// A compensation voucher (SPEC 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub code: String,
    pub reseller_id: String,
    pub incident_id: i64,
    pub amount: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewVoucher {
    pub code: String,
    pub reseller_id: String,
    pub incident_id: i64,
    pub amount: i64,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// What a redemption came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeem {
    /// Credited now; the reseller's balance after it.
    Credited {
        voucher: Voucher,
        balance: Balance,
    },
    /// No such code for this reseller.
    NotFound,
    AlreadyRedeemed(Voucher),
    Expired(Voucher),
}
