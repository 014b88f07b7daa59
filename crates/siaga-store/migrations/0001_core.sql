-- siaga core schema: resellers, double-entry ledger, orders, attempts, outbox.
-- Times are integer milliseconds since the Unix epoch (UTC); money is integer rupiah.

CREATE TABLE resellers (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    email          TEXT,
    callback_url   TEXT,
    key_hash       TEXT NOT NULL UNIQUE,
    webhook_secret TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- balance = credits - debits. A reseller's `available` and `held` accounts are what siaga
-- owes the reseller; they never go below zero.
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    reseller_id TEXT,
    balance     INTEGER NOT NULL DEFAULT 0
);

-- One balanced movement: its postings sum to zero.
-- kind: deposit | reserve | post | void
CREATE TABLE transfers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    reseller_id TEXT,
    order_id    TEXT,
    amount      INTEGER NOT NULL,
    note        TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX transfers_order ON transfers(order_id);

CREATE TABLE postings (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    transfer_id   INTEGER NOT NULL REFERENCES transfers(id),
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL
);
CREATE INDEX postings_account ON postings(account_id, id);
CREATE INDEX postings_transfer ON postings(transfer_id);

CREATE TABLE orders (
    id             TEXT PRIMARY KEY,
    reseller_id    TEXT NOT NULL REFERENCES resellers(id),
    ref_id         TEXT NOT NULL,
    product        TEXT NOT NULL,
    destination    TEXT NOT NULL,
    price          INTEGER NOT NULL,
    max_wait_s     INTEGER NOT NULL,
    status         TEXT NOT NULL,
    stage          TEXT,
    serial_number  TEXT,
    failure_code   TEXT,
    next_action_at INTEGER,
    wait_until     INTEGER NOT NULL,
    round          INTEGER NOT NULL DEFAULT 0,  -- +1 each time the order is queued to retry its routes
    version        INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (reseller_id, ref_id)
);
CREATE INDEX orders_due ON orders(next_action_at) WHERE status = 'pending';
CREATE INDEX orders_reseller ON orders(reseller_id, id);

-- One try of an order at one supplier. state: sending | pending | unknown | success | failed.
-- `sending` is written and committed BEFORE the request leaves, so a crash mid-request
-- leaves an attempt that must be settled at the same supplier (never elsewhere).
CREATE TABLE attempts (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders(id),
    seq             INTEGER NOT NULL,
    round           INTEGER NOT NULL,
    supplier_id     TEXT NOT NULL,
    sku             TEXT NOT NULL,
    cost            INTEGER NOT NULL,
    supplier_ref    TEXT NOT NULL UNIQUE,
    state           TEXT NOT NULL,
    reason          TEXT,
    rc              TEXT,
    http_status     INTEGER,
    message         TEXT,
    sn              TEXT,
    inquiries       INTEGER NOT NULL DEFAULT 0,
    next_inquiry_at INTEGER,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    UNIQUE (order_id, seq)
);

-- Durable outbox of messages to send (reseller callbacks first; notifications later).
-- status: pending | delivered | dead
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id       TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    reseller_id  TEXT,
    order_id     TEXT,
    target       TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX outbox_due ON outbox(next_at) WHERE status = 'pending';
