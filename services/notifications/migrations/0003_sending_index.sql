-- The sender gives up on deliveries left 'sending' by a killed instance on every
-- round; without an index that is a scan of the whole (ever-growing) log. Few rows
-- are ever 'sending', so the partial index stays tiny.
CREATE INDEX deliveries_sending ON deliveries (sending_since) WHERE status = 'sending';
