-- Supplier health and news: events with their evidence (breaker transitions, low balance,
-- cost above price, config errors), announced maintenance windows, and the supplier's own
-- price list as last synced.

CREATE TABLE supplier_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    supplier_id TEXT NOT NULL,
    kind        TEXT NOT NULL,   -- breaker | low_balance | cost_above_price | route_enabled | config_error | probe
    from_state  TEXT,
    to_state    TEXT,
    detail      TEXT NOT NULL,   -- evidence, JSON
    at          INTEGER NOT NULL
);
CREATE INDEX supplier_events_by_supplier ON supplier_events(supplier_id, id);

CREATE TABLE maintenance_windows (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    supplier_id TEXT NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    note        TEXT,
    source      TEXT NOT NULL,   -- cli | api
    created_at  INTEGER NOT NULL
);
CREATE INDEX maintenance_by_end ON maintenance_windows(ends_at);

CREATE TABLE supplier_products (
    supplier_id     TEXT NOT NULL,
    sku             TEXT NOT NULL,
    price           INTEGER NOT NULL,
    buyer_status    INTEGER NOT NULL,
    seller_status   INTEGER NOT NULL,
    start_cut_off   TEXT NOT NULL,
    end_cut_off     TEXT NOT NULL,
    synced_at       INTEGER NOT NULL,
    PRIMARY KEY (supplier_id, sku)
);
