-- A delivery is claimed ('sending', committed) before Telegram is called and settled
-- after: a sender killed during the call leaves it 'sending', and it is then marked
-- 'unknown' rather than sent again. Telegram's API has no idempotency key, so this
-- is the choice between a rare lost message (visible in the log) and a duplicate.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'unknown'));
ALTER TABLE deliveries ADD COLUMN sending_since timestamptz;
