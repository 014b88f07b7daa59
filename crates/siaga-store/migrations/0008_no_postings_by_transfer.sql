-- Postings are never looked up by transfer on the order path; only `siaga verify` groups
-- them by transfer, and it reads every posting anyway. The index cost an extra b-tree
-- insert on each of an order's six postings (about 1 µs each in the writer thread).
DROP INDEX IF EXISTS postings_transfer;
