-- scripts/sample-db.sql -- a synthetic "shop" database for streamdump demos and manual tests.
--
--   psql -X -v ON_ERROR_STOP=1 -d DBNAME -f scripts/sample-db.sql
--
-- Generated entirely in SQL (generate_series + seeded random(), so the content is the same on
-- every run), no external files. Re-runnable: it drops and recreates the schemas `shop` and `audit`.
-- About 50 MB as COPY text (~130 MB on disk with indexes), ~1.27 M rows; loads in ~10 s:
--   shop.customers 20 000, shop.products 2 000, shop.orders 300 000, shop.order_items ~900 000,
--   audit.events 50 000.
-- A few orders.note values carry tabs, CR/LF, backslashes, a literal "\N", a line with only "\.",
-- quotes, unicode and an empty string (vs NULL) to exercise COPY escaping.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT setseed(0.20261125) \g /dev/null

BEGIN;

DROP SCHEMA IF EXISTS shop CASCADE;
DROP SCHEMA IF EXISTS audit CASCADE;
CREATE SCHEMA shop;
CREATE SCHEMA audit;

CREATE TYPE shop.order_status AS ENUM ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded');

CREATE TABLE shop.customers (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL,
    email       text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    country     char(2)     NOT NULL
);

CREATE TABLE shop.products (
    id     serial PRIMARY KEY,
    sku    text NOT NULL UNIQUE,
    title  text NOT NULL,
    price  numeric(10,2) NOT NULL CHECK (price >= 0),
    tags   text[],
    attrs  jsonb
);

CREATE TABLE shop.orders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  integer NOT NULL,
    status       shop.order_status NOT NULL DEFAULT 'pending',
    created_at   timestamptz NOT NULL,
    total        numeric(12,2) NOT NULL,
    note         text
);

CREATE TABLE shop.order_items (
    order_id    bigint  NOT NULL,
    product_id  integer NOT NULL,
    qty         integer NOT NULL CHECK (qty > 0),
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE audit.events (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    payload  jsonb NOT NULL
);

COMMENT ON TABLE shop.orders IS 'One row per checkout; total = sum(qty * price) of its items.';
COMMENT ON TABLE audit.events IS 'Append-only audit trail.';

-- ---------------------------------------------------------------- customers (20 000)
INSERT INTO shop.customers (name, email, created_at, country)
SELECT CASE WHEN g % 997 = 0
            THEN (ARRAY['Zoë Brontë', 'José Müller', 'Łukasz Żółć', '山田 太郎', 'Søren Ødegård',
                        'Renée O''Brien', 'Nguyễn Văn An', 'Ольга Иванова'])[1 + (g / 997) % 8]
            ELSE f || ' ' || l END,
       lower(f) || '.' || lower(l) || g || '@'
         || (ARRAY['example.com', 'example.org', 'example.net', 'mail.test'])[1 + g % 4],
       timestamptz '2026-01-01 00:00:00+00' - random() * interval '1500 days',
       (ARRAY['US', 'US', 'US', 'DE', 'DE', 'GB', 'FR', 'NL', 'SE', 'PL', 'ES', 'IT',
              'JP', 'BR', 'CA', 'AU', 'IN', 'MX', 'CH', 'AT'])[1 + floor(random() * 20)::int]
FROM (SELECT g,
             (ARRAY['Anna', 'Ben', 'Carla', 'David', 'Emma', 'Felix', 'Grace', 'Hugo', 'Ines', 'Jonas',
                    'Kira', 'Liam', 'Mia', 'Noah', 'Olivia', 'Paul', 'Quinn', 'Rosa', 'Sam', 'Tara',
                    'Umar', 'Vera', 'Will', 'Xenia', 'Yusuf', 'Zara', 'Aaron', 'Bella', 'Chris', 'Dana',
                    'Eli', 'Fiona', 'Gabe', 'Hana', 'Ivan', 'Julia', 'Karl', 'Lena', 'Marco', 'Nora'])
               [1 + floor(random() * 40)::int] AS f,
             (ARRAY['Smith', 'Jones', 'Miller', 'Garcia', 'Brown', 'Davis', 'Wilson', 'Moore', 'Taylor', 'Clark',
                    'Schmidt', 'Fischer', 'Weber', 'Meyer', 'Wagner', 'Becker', 'Martin', 'Bernard', 'Dubois', 'Laurent',
                    'Rossi', 'Russo', 'Ferrari', 'Jansen', 'de Vries', 'Berg', 'Nilsson', 'Kowalski', 'Novak', 'Silva',
                    'Santos', 'Tanaka', 'Sato', 'Kim', 'Lee', 'Chen', 'Wang', 'Singh', 'Patel', 'Murphy'])
               [1 + floor(random() * 40)::int] AS l
      FROM generate_series(1, 20000) AS g) AS s
ORDER BY g;

-- ---------------------------------------------------------------- products (2 000)
INSERT INTO shop.products (sku, title, price, tags, attrs)
SELECT 'SKU-' || lpad(g::text, 6, '0'),
       adj || ' ' || noun || CASE WHEN g % 3 = 0 THEN ' ' || (ARRAY['Pro', 'Mini', 'XL', '2.0', 'Lite'])[1 + g % 5] ELSE '' END,
       round((1.5 + 498 * random() ^ 3)::numeric, 2),
       CASE WHEN g % 40 = 0 THEN NULL
            ELSE ARRAY(SELECT t FROM unnest(ARRAY['eco', 'new', 'sale', 'bestseller', 'gift', 'limited',
                                                  'outdoor', 'kids', 'premium', 'bundle']) AS t
                       WHERE abs(hashtext(t || ':' || g)) % 4 = 0) END,
       CASE WHEN g % 50 = 0 THEN NULL
            ELSE jsonb_build_object(
                   'color', color,
                   'weight_g', 20 + floor(random() * 4980)::int,
                   'dims_cm', jsonb_build_array(round((1 + random() * 80)::numeric, 1),
                                                round((1 + random() * 60)::numeric, 1),
                                                round((0.5 + random() * 40)::numeric, 1)),
                   'in_stock', random() < 0.9,
                   'rating', CASE WHEN random() < 0.2 THEN NULL ELSE round((1 + random() * 4)::numeric, 1) END,
                   'origin', (ARRAY['DE', 'CN', 'US', 'VN', 'PT', 'IT'])[1 + g % 6]) END
FROM (SELECT g,
             (ARRAY['Classic', 'Smart', 'Compact', 'Deluxe', 'Rugged', 'Organic', 'Wireless', 'Vintage',
                    'Ultra', 'Eco', 'Nordic', 'Urban', 'Solar', 'Foldable', 'Ceramic', 'Bamboo'])[1 + floor(random() * 16)::int] AS adj,
             (ARRAY['Backpack', 'Kettle', 'Lamp', 'Headphones', 'Mug', 'Chair', 'Notebook', 'Tent', 'Blender',
                    'Speaker', 'Jacket', 'Bottle', 'Watch', 'Keyboard', 'Pan', 'Towel', 'Umbrella', 'Drill',
                    'Sneakers', 'Camera'])[1 + floor(random() * 20)::int] AS noun,
             (ARRAY['black', 'white', 'red', 'blue', 'green', 'grey', 'yellow', 'navy', 'olive', 'sand'])[1 + floor(random() * 10)::int] AS color
      FROM generate_series(1, 2000) AS g) AS s
ORDER BY g;

-- ---------------------------------------------------------------- orders (300 000) + items (~900 000)
-- Order headers and items are drafted in temp tables so that orders.total = sum(qty * price).
CREATE TEMP TABLE _o ON COMMIT DROP AS
SELECT g AS id,
       1 + floor(random() * 20000)::int AS customer_id,
       timestamptz '2026-01-01 00:00:00+00' - random() * interval '1000 days' AS created_at,
       1 + floor(random() * 5)::int AS n_items,          -- 1..5, mean 3
       floor(random() * 2000)::int AS p0,
       random() AS r_status,
       random() AS r_note
FROM generate_series(1, 300000) AS g;

CREATE TEMP TABLE _oi ON COMMIT DROP AS
SELECT o.id AS order_id,
       1 + (o.p0 + k * 37) % 2000 AS product_id,        -- distinct per order (37 is coprime to 2000)
       CASE WHEN random() < 0.7 THEN 1 ELSE 2 + floor(random() * 4)::int END AS qty
FROM _o AS o
CROSS JOIN LATERAL generate_series(0, o.n_items - 1) AS k;

INSERT INTO shop.orders (id, customer_id, status, created_at, total, note)
OVERRIDING SYSTEM VALUE
SELECT o.id,
       o.customer_id,
       (CASE WHEN o.r_status < 0.55 THEN 'delivered'
             WHEN o.r_status < 0.70 THEN 'shipped'
             WHEN o.r_status < 0.80 THEN 'paid'
             WHEN o.r_status < 0.88 THEN 'pending'
             WHEN o.r_status < 0.96 THEN 'cancelled'
             ELSE 'refunded' END)::shop.order_status,
       o.created_at,
       t.total,
       CASE o.id % 9973
         WHEN 0 THEN E'tab\there, newline\nsecond line, backslash \\ and C:\\temp\\x, Grüße, 日本語, emoji 😀'
         WHEN 1 THEN E'CRLF line\r\nnext line; COPY end marker on its own line:\n\\.\nafter the marker'
         WHEN 2 THEN E'quotes "double" and ''single'', comma, semicolon; pipe | and a literal \\N (not NULL)'
         WHEN 3 THEN ''
         ELSE CASE WHEN o.r_note < 0.25
                   THEN (ARRAY['Please leave at the front door', 'Gift wrap, please', 'Call before delivery',
                               'Deliver after 5pm', 'Fragile!', 'Same-day if possible', 'Ring twice',
                               'Leave with neighbour at no. 12'])[1 + floor(o.r_note * 32)::int]
                        || CASE WHEN o.id % 3 = 0 THEN ' (ref ' || substr(md5(o.id::text), 1, 8) || ')' ELSE '' END
              END
       END
FROM _o AS o
JOIN (SELECT i.order_id, sum(i.qty * p.price) AS total
      FROM _oi AS i JOIN shop.products AS p ON p.id = i.product_id
      GROUP BY i.order_id) AS t ON t.order_id = o.id
ORDER BY o.id;

SELECT setval(pg_get_serial_sequence('shop.orders', 'id'), (SELECT max(id) FROM shop.orders)) \g /dev/null

INSERT INTO shop.order_items (order_id, product_id, qty)
SELECT order_id, product_id, qty FROM _oi ORDER BY order_id, product_id;

-- ---------------------------------------------------------------- audit.events (50 000)
INSERT INTO audit.events (at, payload)
SELECT timestamptz '2026-01-01 00:00:00+00' - random() * interval '365 days',
       jsonb_build_object(
         'type', ev,
         'order_id', 1 + floor(random() * 300000)::int,
         'actor', jsonb_build_object('kind', CASE WHEN random() < 0.8 THEN 'customer' ELSE 'staff' END,
                                     'id', 1 + floor(random() * 20000)::int),
         'source', (ARRAY['web', 'ios', 'android', 'api', 'backoffice'])[1 + floor(random() * 5)::int],
         'trace_id', md5(g::text || random()::text),
         'session', md5(random()::text) || md5(random()::text),
         'user_agent', (ARRAY['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0 Safari/537.36',
                              'Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
                              'Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0',
                              'shop-android/7.12.3 (Pixel 8; Android 16)',
                              'backoffice-cli/2.4 python-requests/2.32'])[1 + floor(random() * 5)::int],
         'changes', CASE WHEN ev = 'order.status_changed'
                         THEN jsonb_build_object('from', 'paid', 'to', 'shipped')
                         ELSE '{}'::jsonb END)
FROM (SELECT g, (ARRAY['order.created', 'order.paid', 'order.status_changed', 'order.cancelled',
                       'customer.login', 'customer.updated', 'cart.abandoned'])[1 + floor(random() * 7)::int] AS ev
      FROM generate_series(1, 50000) AS g) AS s
ORDER BY g;

-- ---------------------------------------------------------------- indexes and foreign keys (after the load)
CREATE INDEX orders_created_at_idx ON shop.orders (created_at);

ALTER TABLE shop.orders
    ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) REFERENCES shop.customers (id);
ALTER TABLE shop.order_items
    ADD CONSTRAINT order_items_order_id_fkey FOREIGN KEY (order_id) REFERENCES shop.orders (id) ON DELETE CASCADE,
    ADD CONSTRAINT order_items_product_id_fkey FOREIGN KEY (product_id) REFERENCES shop.products (id);

COMMIT;

ANALYZE shop.customers, shop.products, shop.orders, shop.order_items, audit.events;
