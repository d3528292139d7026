-- Where each user wants messages (from account.profile_updated.v1), and one delivery per
-- order outcome or receipt event with what became of its Telegram message.
CREATE TABLE contacts (
    user_id          uuid PRIMARY KEY,
    telegram_chat_id bigint NULL,
    -- The profile's updated_at from the event: an older event never overwrites a newer one.
    updated_at       timestamptz NOT NULL
);

CREATE TABLE deliveries (
    id                  bigserial PRIMARY KEY,
    event_id            uuid NOT NULL UNIQUE,
    user_id             uuid NOT NULL,
    kind                text NOT NULL
        CHECK (kind IN ('order_confirmed', 'order_cancelled', 'receipt_issued')),
    order_id            uuid NOT NULL,
    chat_id             bigint NULL,
    text                text NOT NULL,
    -- pending: to send at next_attempt_at; sent; failed: refused or out of attempts;
    -- skipped: the user had no linked chat when the event came.
    status              text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    last_error          text NULL,
    telegram_message_id bigint NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz NULL,
    CHECK (status <> 'pending' OR chat_id IS NOT NULL)
);

-- The sender's queue: only pending rows, in the order they fall due.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
-- GET /api/notifications/me.
CREATE INDEX deliveries_user ON deliveries (user_id, created_at DESC, id DESC);
-- The duplicate_events statistic: one business outcome notified more than once.
CREATE INDEX deliveries_order ON deliveries (order_id, kind);
