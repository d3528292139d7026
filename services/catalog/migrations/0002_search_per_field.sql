-- Search matches within one field: the concatenated index matched across the boundary
-- between name and description ("mug ceramic" found "Keel mug" + "Ceramic ...").
DROP INDEX products_search;
CREATE INDEX products_name_trgm ON products USING gin (name gin_trgm_ops);
CREATE INDEX products_description_trgm ON products USING gin (description gin_trgm_ops);
