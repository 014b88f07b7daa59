//! What the store keeps for text commands over chat (SPEC 5.2): which chat belongs to
//! which reseller, the one-time codes that link them, each reseller's transaction PIN
//! (its slow hash only) and each chat's wrong-PIN count and lock.

/// A chat linked to a reseller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLink {
    pub chat_id: i64,
    pub reseller_id: String,
    /// Wrong PINs since the last right one or the last lock.
    pub wrong_pins: i64,
    /// Locked until this time (ms) after too many wrong PINs.
    pub locked_until: Option<i64>,
    pub linked_at: i64,
}

/// What a wrong PIN did to its chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrongPin {
    /// Counted: this many wrong in a row now.
    Counted(i64),
    /// That was the last allowed: the chat is locked until this time (ms).
    Locked(i64),
    /// The chat is not linked.
    NotLinked,
}
