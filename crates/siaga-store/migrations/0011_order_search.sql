-- The admin dashboard finds an order by its reference or its destination (any reseller).
CREATE INDEX orders_ref ON orders(ref_id);
CREATE INDEX orders_destination ON orders(destination);
-- The reports (SPEC 11) read the orders created in a window.
CREATE INDEX orders_created ON orders(created_at);
