-- The ledger and outbox tables keep their ids without AUTOINCREMENT: every insert into an
-- AUTOINCREMENT table also reads and rewrites its row in sqlite_sequence, nine times per
-- order (two transfers, six postings, one callback), about a tenth of the store writer's
-- work. Nothing is ever deleted from these tables, so a plain rowid (the largest + 1) is
-- just as increasing and never reused. Rebuilt per SQLite's table-change procedure (the
-- runner turns foreign keys off around it and checks them before the commit).

CREATE TABLE transfers_new (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    reseller_id TEXT,
    order_id    TEXT,
    amount      INTEGER NOT NULL,
    note        TEXT,
    created_at  INTEGER NOT NULL
);
INSERT INTO transfers_new (id, kind, reseller_id, order_id, amount, note, created_at)
    SELECT id, kind, reseller_id, order_id, amount, note, created_at FROM transfers;
DROP TABLE transfers;
ALTER TABLE transfers_new RENAME TO transfers;
CREATE INDEX transfers_order ON transfers(order_id);

CREATE TABLE postings_new (
    id            INTEGER PRIMARY KEY,
    transfer_id   INTEGER NOT NULL REFERENCES transfers(id),
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    amount        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL
);
INSERT INTO postings_new (id, transfer_id, account_id, amount, balance_after)
    SELECT id, transfer_id, account_id, amount, balance_after FROM postings;
DROP TABLE postings;
ALTER TABLE postings_new RENAME TO postings;
CREATE INDEX postings_account ON postings(account_id, id);
CREATE INDEX postings_transfer ON postings(transfer_id);

CREATE TABLE outbox_new (
    id           INTEGER PRIMARY KEY,
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
INSERT INTO outbox_new (id, msg_id, kind, reseller_id, order_id, target, status, attempts,
                        next_at, last_error, created_at, delivered_at)
    SELECT id, msg_id, kind, reseller_id, order_id, target, status, attempts,
           next_at, last_error, created_at, delivered_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(next_at) WHERE status = 'pending';
