-- How often two products were bought in the same confirmed order, in both directions,
-- so that the related products of one product are a prefix scan of the primary key.
CREATE TABLE co_purchases (
    product_id uuid NOT NULL,
    related_id uuid NOT NULL,
    count      bigint NOT NULL CHECK (count > 0),
    PRIMARY KEY (product_id, related_id)
);
