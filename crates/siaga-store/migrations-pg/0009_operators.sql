-- Dashboard accounts (SPEC 13): `siaga operator add NAME --role owner|operator`. Only the
-- password's argon2id hash (a PHC string) is kept.
CREATE TABLE operators (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'operator')),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
