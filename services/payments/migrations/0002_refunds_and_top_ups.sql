-- Refunds: a capture whose order ended CANCELLED is given back by a new ledger
-- transaction of kind 'refund' (merchant:revenue -> wallet), at most one per order.
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check
    CHECK (kind IN ('top_up', 'capture', 'refund'));
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_order_check
    CHECK ((kind IN ('capture', 'refund')) = (order_id IS NOT NULL));
-- One capture and at most one refund per order (was: one transaction per order).
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_order_id_key;
CREATE UNIQUE INDEX ledger_transactions_order_kind ON ledger_transactions (order_id, kind)
    WHERE order_id IS NOT NULL;

-- Orders that orders cancelled (orders.order_cancelled.v1), kept so that a capture
-- trigger arriving after the cancellation finds it and captures nothing.
CREATE TABLE order_cancellations (
    order_id     uuid PRIMARY KEY,
    user_id      uuid NOT NULL,
    reason       text NOT NULL,
    cancelled_at timestamptz NOT NULL DEFAULT now()
);

-- Wallet top-ups through the payment provider: created pending by the user, credited
-- once when the provider's signed callback says it succeeded. provider_payment_id is
-- unique, so a replayed callback (or one reusing another payment's id) credits nothing.
CREATE TABLE top_ups (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL,
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            char(3) NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    provider_payment_id text UNIQUE,
    transaction_id      uuid REFERENCES ledger_transactions (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz,
    CHECK ((status = 'succeeded') = (transaction_id IS NOT NULL)),
    CHECK ((status = 'pending') = (provider_payment_id IS NULL))
);
CREATE INDEX top_ups_by_user ON top_ups (user_id, created_at DESC);
