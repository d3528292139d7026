-- A cancellation that reaches catalog before its order's placement (catalog behind by
-- more than the pending deadline) leaves a tombstone: a reservations row in status
-- cancelled, holding nothing. The placement then finds the order decided and reserves
-- nothing, so its stock cannot leak. The row is the tombstone (rather than a table of
-- its own) because the primary key makes a cancellation and a placement handled at the
-- same time wait for each other: one of them inserts the row, the other sees it.
-- A tombstone whose placement arrived becomes a rejected reservation; one still waiting
-- after the streams' retention (7 days: the placement will not come) is deleted.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('reserved', 'rejected', 'released', 'cancelled'));
CREATE INDEX reservations_tombstones ON reservations (created_at) WHERE status = 'cancelled';
