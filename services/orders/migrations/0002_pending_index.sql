-- The pending-order sweeper looks for PENDING orders older than the deadline, oldest
-- first; only the few orders in flight are PENDING, so the index stays small.
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'PENDING';
