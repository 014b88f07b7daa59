-- The manual desk (SPEC 6.1.2): which operator took an order on the desk, so two operators
-- never do the same top-up. One claim per order, kept after the order settles (history).
CREATE TABLE desk_claims (
    order_id TEXT PRIMARY KEY REFERENCES orders(id),
    operator TEXT NOT NULL,
    taken_at INTEGER NOT NULL
);

-- Operators' actions (SPEC 13: every action writes an audit line: who, what, when), newest
-- last. `target` names what the action changed (an order id, a reseller id...).
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_target ON audit(target, id);
CREATE INDEX audit_actor ON audit(actor, id);
