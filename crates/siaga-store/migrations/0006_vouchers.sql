-- Compensation vouchers (SPEC 10): one single-use code per reseller per incident, credited
-- through the ledger (expense:compensation -> the reseller's available) once, before expiry.
CREATE TABLE vouchers (
    code        TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL REFERENCES resellers(id),
    incident_id INTEGER NOT NULL,
    amount      INTEGER NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    redeemed_at INTEGER,
    UNIQUE (incident_id, reseller_id)
);
CREATE INDEX vouchers_reseller ON vouchers(reseller_id);
