-- The statement of an account starts at a time without reading its older postings.
-- A posting's `watermark` is the latest transfer time among its account's postings up to
-- and including it: it never decreases along the account's postings (by id; a transfer
-- locks its accounts, so one account's postings are numbered in commit order), so the
-- first posting whose watermark reaches a time is one index seek, and no posting before it
-- has a transfer at or after that time. The account keeps the watermark of its last posting.
ALTER TABLE accounts ADD COLUMN watermark BIGINT NOT NULL DEFAULT -9223372036854775808;
ALTER TABLE postings ADD COLUMN watermark BIGINT NOT NULL DEFAULT -9223372036854775808;
UPDATE postings SET watermark = w.m FROM (
    SELECT p.id, MAX(t.created_at) OVER (PARTITION BY p.account_id ORDER BY p.id) AS m
    FROM postings p JOIN transfers t ON t.id = p.transfer_id
) AS w WHERE w.id = postings.id;
UPDATE accounts SET watermark = w.m FROM (
    SELECT account_id, MAX(watermark) AS m FROM postings GROUP BY account_id
) AS w WHERE w.account_id = accounts.id;
CREATE INDEX postings_watermark ON postings(account_id, watermark, id);
