-- The manual desk (SPEC 6.1.2): which operator took an order on the desk, so two operators
-- never do the same top-up. One claim per order, kept after the order settles (history).
CREATE TABLE desk_claims (
    order_id TEXT PRIMARY KEY REFERENCES orders(id),
    operator TEXT NOT NULL,
    taken_at BIGINT NOT NULL
);

-- Operators' actions (SPEC 13: every action writes an audit line: who, what, when).
CREATE TABLE audit (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_target ON audit(target, id);
CREATE INDEX audit_actor ON audit(actor, id);

-- The admin dashboard finds an order by its reference or its destination (any reseller).
CREATE INDEX orders_ref ON orders(ref_id);
CREATE INDEX orders_destination ON orders(destination);

-- The reports (SPEC 11) read the orders created in a window.
CREATE INDEX orders_created ON orders(created_at);
