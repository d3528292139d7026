-- Refund receipts: a captured payment that payments gave back (its order ended
-- cancelled, payments.payment_refunded.v1) gets a second receipt of kind refund,
-- linked to the sale by the order (and the payment). At most one sale and one refund
-- per order, so the uniqueness of order_id and payment_id now holds per kind.
ALTER TABLE receipts ADD COLUMN kind text NOT NULL DEFAULT 'sale'
    CHECK (kind IN ('sale', 'refund'));
-- payments' refund (its ledger transaction); set exactly on refund receipts.
ALTER TABLE receipts ADD COLUMN refund_id uuid;
ALTER TABLE receipts ADD CONSTRAINT receipts_refund_id
    CHECK ((kind = 'refund') = (refund_id IS NOT NULL));
ALTER TABLE receipts DROP CONSTRAINT receipts_order_id_key;
ALTER TABLE receipts DROP CONSTRAINT receipts_payment_id_key;
CREATE UNIQUE INDEX receipts_sale_order ON receipts (order_id) WHERE kind = 'sale';
CREATE UNIQUE INDEX receipts_sale_payment ON receipts (payment_id) WHERE kind = 'sale';
CREATE UNIQUE INDEX receipts_refund_order ON receipts (order_id) WHERE kind = 'refund';
-- The receipts of an order, whatever their kind (the list by order_id).
CREATE INDEX receipts_order ON receipts (order_id);
