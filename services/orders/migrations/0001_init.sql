-- Orders and their state machine (PENDING -> CONFIRMED | CANCELLED), and the
-- idempotency keys that make a retried POST /api/orders return the same order.
CREATE TABLE orders (
    id             uuid PRIMARY KEY,
    user_id        uuid NOT NULL,
    status         text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'CANCELLED')),
    items          jsonb NOT NULL,
    total          bigint NOT NULL CHECK (total >= 0),
    currency       char(3) NOT NULL,
    reason         text,
    payment_id     uuid,
    correlation_id text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX orders_by_user ON orders (user_id, created_at DESC);

CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    order_id     uuid NOT NULL REFERENCES orders (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
