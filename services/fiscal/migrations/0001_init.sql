-- Fiscal receipts: one per captured payment, hence one per order. The unique
-- order_id and payment_id make issuing idempotent whatever delivers the event twice.
CREATE TABLE receipts (
    id         uuid PRIMARY KEY,
    -- Unique and increasing; not gapless (a rolled-back issue burns a number).
    number     bigserial UNIQUE,
    order_id   uuid NOT NULL UNIQUE,
    payment_id uuid NOT NULL UNIQUE,
    user_id    uuid NOT NULL,
    amount     bigint NOT NULL CHECK (amount >= 0),
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    issued_at  timestamptz NOT NULL DEFAULT now()
);
-- A user's receipts, newest first.
CREATE INDEX receipts_user ON receipts (user_id, number DESC);
