-- Text commands over chat (SPEC 5.2): one-time link codes (their SHA-256 only; used once,
-- before expiry), the chats linked to resellers with their wrong-PIN count and lock, and
-- each reseller's transaction PIN (an argon2 hash: a PIN has few digits).
CREATE TABLE chat_link_codes (
    code_hash   TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL REFERENCES resellers(id),
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE TABLE chat_links (
    chat_id      BIGINT PRIMARY KEY,
    reseller_id  TEXT NOT NULL REFERENCES resellers(id),
    wrong_pins   BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    linked_at    BIGINT NOT NULL
);
CREATE TABLE reseller_pins (
    reseller_id TEXT PRIMARY KEY REFERENCES resellers(id),
    pin_hash    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
