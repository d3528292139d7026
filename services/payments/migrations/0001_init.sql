-- Wallets and a double-entry ledger. Amounts are integer minor units.
-- A wallet's balance is the sum of its account's entries, kept as a row so that a
-- capture can check and debit it in one UPDATE (the row lock orders concurrent ones).
CREATE TABLE wallets (
    user_id    uuid PRIMARY KEY,
    balance    bigint NOT NULL CHECK (balance >= 0),
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per business transaction; its money movements are its ledger_entries.
CREATE TABLE ledger_transactions (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('top_up', 'capture')),
    user_id    uuid NOT NULL,
    order_id   uuid UNIQUE,  -- one capture per order
    amount     bigint NOT NULL CHECK (amount > 0),
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'capture') = (order_id IS NOT NULL))
);

CREATE TABLE ledger_entries (
    id             bigserial PRIMARY KEY,
    transaction_id uuid NOT NULL REFERENCES ledger_transactions (id),
    account        text NOT NULL CHECK (account ~ '^(wallet:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|external:top_up|merchant:revenue)$'),
    amount         bigint NOT NULL CHECK (amount <> 0)
);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);
-- A wallet's history, newest first.
CREATE INDEX ledger_entries_account ON ledger_entries (account, id);

-- Double entry, enforced by the database: at COMMIT every ledger transaction written
-- in it must have at least two entries that sum to zero, or the commit fails
-- (SQLSTATE 23514). Deferred, so the entries can be written after their transaction.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tx      uuid;
    total   numeric;
    entries bigint;
BEGIN
    IF TG_TABLE_NAME = 'ledger_transactions' THEN
        tx := NEW.id;
    ELSE
        tx := NEW.transaction_id;
    END IF;
    SELECT coalesce(sum(amount), 0), count(*) INTO total, entries
    FROM ledger_entries WHERE transaction_id = tx;
    IF entries < 2 OR total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: % entries summing to %',
            tx, entries, total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_transactions_balanced
    AFTER INSERT ON ledger_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();
CREATE CONSTRAINT TRIGGER ledger_entries_balanced
    AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

-- The ledger is append-only: a mistake is corrected by a new transaction.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER ledger_transactions_append_only
    BEFORE UPDATE OR DELETE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- Idempotency-Key of top-ups, per user: the same key answers the first response again.
CREATE TABLE top_up_requests (
    user_id         uuid NOT NULL,
    idempotency_key text NOT NULL,
    amount          bigint NOT NULL,
    -- Claimed before the transaction it names is written (same database transaction).
    transaction_id  uuid NOT NULL REFERENCES ledger_transactions (id) DEFERRABLE INITIALLY DEFERRED,
    balance_after   bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, idempotency_key)
);

-- Orders that could not be paid. With captures (ledger_transactions.order_id) they make
-- one decision per order: an order once declined is never captured later.
CREATE TABLE payment_declines (
    order_id    uuid PRIMARY KEY,
    user_id     uuid NOT NULL,
    amount      bigint NOT NULL,
    currency    text NOT NULL,
    reason      text NOT NULL,
    declined_at timestamptz NOT NULL DEFAULT now()
);
