-- Sample catalog for keel (run once by keel-stack after catalog created its tables).
-- Idempotent: fixed UUIDs and SKUs, ON CONFLICT DO NOTHING. Prices in minor units.
INSERT INTO products (id, sku, name, description, price_minor, currency, stock) VALUES
  ('00000000-0000-4000-8000-000000000001', 'KEEL-MUG-01',    'Keel mug',              'Ceramic mug, 350 ml.',                   1200, 'USD', 150),
  ('00000000-0000-4000-8000-000000000002', 'KEEL-TEE-M',     'Keel t-shirt (M)',      'Organic cotton t-shirt, size M.',        2500, 'USD', 80),
  ('00000000-0000-4000-8000-000000000003', 'KEEL-TEE-L',     'Keel t-shirt (L)',      'Organic cotton t-shirt, size L.',        2500, 'USD', 60),
  ('00000000-0000-4000-8000-000000000004', 'KEEL-HOODIE-L',  'Keel hoodie (L)',       'Heavyweight hoodie, size L.',            5900, 'USD', 40),
  ('00000000-0000-4000-8000-000000000005', 'KEEL-STICKERS',  'Sticker pack',          'Ten vinyl stickers.',                     500, 'USD', 500),
  ('00000000-0000-4000-8000-000000000006', 'KEEL-NOTEBOOK',  'Dotted notebook',       'A5 notebook, 120 pages, dotted grid.',   1500, 'USD', 200),
  ('00000000-0000-4000-8000-000000000007', 'KEEL-PEN',       'Gel pen',               'Black gel pen, 0.5 mm.',                  300, 'USD', 1000),
  ('00000000-0000-4000-8000-000000000008', 'KEEL-BOTTLE',    'Steel bottle',          'Insulated bottle, 750 ml.',              3200, 'USD', 90),
  ('00000000-0000-4000-8000-000000000009', 'KEEL-CAP',       'Baseball cap',          'Embroidered logo, one size.',            2000, 'USD', 70),
  ('00000000-0000-4000-8000-00000000000a', 'KEEL-BAG',       'Tote bag',              'Canvas tote bag.',                       1800, 'USD', 120),
  ('00000000-0000-4000-8000-00000000000b', 'KEEL-MOUSEPAD',  'Mouse pad',             'Large desk mat, 900 x 400 mm.',          2200, 'EUR', 50),
  ('00000000-0000-4000-8000-00000000000c', 'KEEL-BOOK-DS',   'Designing services',    'Paperback about service architecture.', 4500, 'EUR', 25)
ON CONFLICT DO NOTHING;
