//! Rows of several nodes on one database (SPEC 12): each node's heartbeat, the cluster's
//! leader lease, and the breaker state the nodes share. Plain data, as `types.rs`.

/// A node's heartbeat: who it is and where it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    pub id: String,
    /// The address it serves on (`server.listen`).
    pub address: String,
    pub version: String,
    pub started_at: i64,
    pub now: i64,
}

/// A node as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub address: String,
    pub version: String,
    pub started_at: i64,
    pub last_seen: i64,
    /// Pending orders it owns.
    pub orders_owned: i64,
}

/// Who leads the cluster after a [`crate::Store::lead`] call, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leader {
    pub node: String,
    pub until: i64,
    /// Since when this node has led without a break.
    pub since: i64,
}

/// A supplier's circuit as the cluster last saw it change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedBreaker {
    pub supplier_id: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
    /// The node that saw the change.
    pub node: String,
    pub at: i64,
}

/// How close in time two nodes' records of the same breaker state must be to be one
/// change seen twice (an outage is seen by every node within seconds). A node's own
/// records never hide each other: after a restart the same state is news again.
pub const SAME_CHANGE_MS: i64 = 60_000;

impl SharedBreaker {
    /// Whether `self` is a change already recorded as `current` (by another node).
    pub fn seen_as(&self, current: &SharedBreaker) -> bool {
        current.state == self.state
            && current.node != self.node
            && self.at.saturating_sub(current.at) < SAME_CHANGE_MS
    }
}

/// Orders moved from a node presumed dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenOver {
    pub from: String,
    pub orders: i64,
}
