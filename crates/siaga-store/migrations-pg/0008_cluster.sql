-- Several nodes on one database (SPEC 12): the node that owns each pending order (the one
-- that took it or last sent it; its heartbeat is the order's lease), the nodes' heartbeats,
-- the leader lease (one row), and each supplier's circuit as the nodes share it.
ALTER TABLE orders ADD COLUMN owner TEXT;
CREATE INDEX orders_pending_owner ON orders (owner) WHERE status = 'pending';
CREATE TABLE nodes (
    id         TEXT PRIMARY KEY,
    address    TEXT NOT NULL,
    version    TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL
);
CREATE TABLE cluster_leader (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    node  TEXT NOT NULL,
    until BIGINT NOT NULL,
    since BIGINT NOT NULL
);
CREATE TABLE supplier_breakers (
    supplier_id TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    node        TEXT NOT NULL,
    at          BIGINT NOT NULL
);
