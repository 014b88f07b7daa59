-- Compensation vouchers (SPEC 10): one single-use code per reseller per incident, credited
-- through the ledger (expense:compensation -> the reseller's available) once, before expiry.
CREATE TABLE vouchers (
    code        TEXT PRIMARY KEY,
    reseller_id TEXT NOT NULL REFERENCES resellers(id),
    incident_id BIGINT NOT NULL,
    amount      BIGINT NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    redeemed_at BIGINT,
    UNIQUE (incident_id, reseller_id)
);
CREATE INDEX vouchers_reseller ON vouchers(reseller_id);
