//! Suppliers an operator paused (SPEC 13: "pause/resume a supplier"): no new attempt goes
//! to a paused supplier (routing skips it, as it skips one in maintenance) until it is
//! resumed; attempts already open there are still settled there. The pauses live in the
//! store (`ops::pause`), so every node and every restart knows them; health keeps the
//! current set, refreshed every 2 s (`engine::upkeep`).

use std::collections::HashMap;

use serde_json::{json, Value};

use super::Health;
use crate::clock::rfc3339;

/// Who paused a supplier, when and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pause {
    pub by: String,
    pub at: i64,
    #[serde(default)]
    pub reason: String,
}

impl Pause {
    pub fn json(&self) -> Value {
        json!({"by": self.by, "at": rfc3339(self.at), "reason": self.reason})
    }
}

impl Health {
    /// The paused suppliers, as the store holds them now.
    pub fn set_pauses(&self, pauses: HashMap<String, Pause>) {
        if let Ok(mut p) = self.paused.write() {
            *p = pauses;
        }
    }

    /// Why `supplier` takes no new attempt, if an operator paused it.
    pub fn pause(&self, supplier: &str) -> Option<Pause> {
        self.paused.read().ok()?.get(supplier).cloned()
    }
}
