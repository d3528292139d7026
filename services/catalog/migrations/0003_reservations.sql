-- Stock set aside for orders (checkout saga): one row per order, written by the
-- consumer of orders.order_placed.v1 (reserved: the stock was taken from products;
-- rejected: nothing was) and moved to released by that of orders.order_cancelled.v1
-- when the stock went back. items: [{product_id, quantity}], one line per product.
CREATE TABLE reservations (
    order_id   uuid PRIMARY KEY,
    user_id    uuid NOT NULL,
    items      jsonb NOT NULL,
    status     text NOT NULL CHECK (status IN ('reserved', 'rejected', 'released')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
