-- The status page: every component status change (for uptime), and incidents with their
-- timeline of updates.

CREATE TABLE component_status (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    component TEXT NOT NULL,
    status    TEXT NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX component_status_at ON component_status(at);

CREATE TABLE incidents (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    title_id       TEXT NOT NULL,
    title_en       TEXT NOT NULL,
    status         TEXT NOT NULL,   -- investigating | identified | monitoring | resolved | postmortem
    impact         TEXT NOT NULL,   -- none | minor | major | critical
    components     TEXT NOT NULL,   -- JSON array of component names
    auto_component TEXT,            -- set for automatic incidents: the component they follow
    security       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    resolved_at    INTEGER,
    postmortem_id  TEXT,
    postmortem_en  TEXT
);
CREATE INDEX incidents_created ON incidents(created_at);

CREATE TABLE incident_updates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    status      TEXT NOT NULL,
    body_id     TEXT NOT NULL,
    body_en     TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX incident_updates_incident ON incident_updates(incident_id, id);
