-- Telling people (SPEC 9): status-page subscribers with double opt-in, and one durable
-- outbox of notices (email, webhook, Telegram) with coalescing by topic. A notice body is
-- stored once and shared by every recipient of a fan-out.

CREATE TABLE subscribers (
    id              TEXT PRIMARY KEY,            -- ULID: fan-out walks subscribers in id order
    email           TEXT NOT NULL UNIQUE,        -- lower-cased
    components      TEXT NOT NULL,               -- JSON array of component names; [] = all
    status          TEXT NOT NULL,               -- pending | confirmed | unsubscribed
    confirm_hash    TEXT UNIQUE,                 -- SHA-256 of the confirmation token
    unsub_token     TEXT NOT NULL UNIQUE,        -- in every email's unsubscribe link
    created_at      INTEGER NOT NULL,
    confirm_sent_at INTEGER NOT NULL,
    confirmed_at    INTEGER,
    unsubscribed_at INTEGER
);
CREATE INDEX subscribers_confirmed ON subscribers(id) WHERE status = 'confirmed';

CREATE TABLE notice_bodies (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,     -- incident.created | maintenance.started | alert.supplier_down ...
    subject    TEXT NOT NULL,
    text       TEXT NOT NULL,     -- plain text (email, Telegram, chat webhooks)
    html       TEXT NOT NULL,     -- email HTML part
    payload    TEXT NOT NULL,     -- JSON `data` of the Standard Webhooks message
    created_at INTEGER NOT NULL
);

-- status: pending | sending (claimed; next_at is the lease end) | delivered | dead
CREATE TABLE notices (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id       TEXT NOT NULL UNIQUE,
    channel      TEXT NOT NULL,   -- email | webhook | telegram
    target       TEXT NOT NULL,   -- address, webhook name, chat id
    topic        TEXT NOT NULL,   -- coalescing key: one message per topic and target per gap
    body_id      INTEGER NOT NULL REFERENCES notice_bodies(id),
    unsub        TEXT,            -- the subscriber's unsubscribe token (subscriber emails)
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX notices_due ON notices(channel, next_at) WHERE status IN ('pending', 'sending');
CREATE INDEX notices_topic ON notices(channel, target, topic, id);

-- Cursors and once-only marks of the notifier (which incident update was last fanned out,
-- which outage was already reported to its supplier...).
CREATE TABLE notify_marks (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    at    INTEGER NOT NULL
);

-- The notifier's reads: a supplier's attempts still waiting (outage report), orders in
-- manual review (owner alert).
CREATE INDEX attempts_open_by_supplier ON attempts(supplier_id, started_at)
    WHERE state IN ('sending', 'pending', 'unknown');
CREATE INDEX orders_manual_review ON orders(updated_at) WHERE stage = 'manual_review';
