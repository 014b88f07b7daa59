-- Per-reseller API access rules (SPEC 5): the addresses a reseller's requests may come
-- from (addresses or ranges, space-separated; empty = any), and whether every request
-- must be signed with its webhook secret.
ALTER TABLE resellers ADD COLUMN ip_allowlist TEXT NOT NULL DEFAULT '';
ALTER TABLE resellers ADD COLUMN require_signature INTEGER NOT NULL DEFAULT 0;
