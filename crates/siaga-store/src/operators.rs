//! Dashboard accounts (SPEC 13): a person who signs in at `/admin/login` with a name and a
//! password, as the owner (everything) or an operator (never keys nor the config). The
//! store keeps only the password's slow hash; checking it is the caller's.

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAccount {
    pub name: String,
    /// `owner` or `operator`.
    pub role: String,
    /// The password's argon2id hash (a PHC string).
    pub password_hash: String,
    pub created_at: i64,
}
