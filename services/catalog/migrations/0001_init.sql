-- Products with integer prices in minor units, stock, and a trigram index for search.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE products (
    id          uuid PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    price_minor bigint NOT NULL CHECK (price_minor >= 0),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    stock       integer NOT NULL CHECK (stock >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX products_search ON products USING gin ((name || ' ' || description) gin_trgm_ops);
