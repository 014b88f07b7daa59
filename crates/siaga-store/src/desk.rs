//! Rows and commands of the manual desk (SPEC 6.1.2: who took which order) and of the
//! audit log (SPEC 13: every operator action, who, what, when). Plain data, as `types.rs`.

use crate::types::{Attempt, Order};

/// An operator's claim on an order on the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskClaim {
    pub order_id: String,
    pub operator: String,
    pub taken_at: i64,
}

/// What [`crate::Store::take_desk_order`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskTake {
    /// The order is the asking operator's: `fresh` when this call took it, false when they
    /// held it already (taking again changes nothing).
    Taken { claim: DeskClaim, fresh: bool },
    /// Another operator holds it; nothing changed.
    Held(DeskClaim),
    /// No such order, or it is final: nothing to take.
    NotOpen,
}

/// One order on the desk: the order, its open attempt at a manual supplier, and who took
/// it (if anyone).
#[derive(Debug, Clone)]
pub struct DeskItem {
    pub order: Order,
    pub attempt: Attempt,
    pub claim: Option<DeskClaim>,
}

/// An audit line to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit {
    /// Who: an operator's name (`cli` or `admin` when none was given).
    pub actor: String,
    /// What, as a dotted name: `desk.take`, `order.resolve`...
    pub action: String,
    /// What it changed: an order id, a reseller id...
    pub target: String,
    /// More about it, as JSON text (may be empty).
    pub detail: String,
    pub at: i64,
}

/// An audit line as stored; ids only grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub at: i64,
}

/// Which audit lines to read: those matching every filter given, with ids after `after_id`
/// (0: from the start), at most `limit`, in id order (oldest first) or, with
/// `newest_first`, the newest `limit` of them, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub after_id: i64,
    pub limit: u32,
    pub newest_first: bool,
}
