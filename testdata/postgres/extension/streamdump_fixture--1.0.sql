-- The extension makes its own rows (builtin); rows users add are theirs, and pg_dump dumps them.
CREATE TABLE settings (
    key text PRIMARY KEY,
    value text NOT NULL,
    builtin boolean NOT NULL DEFAULT false
);
INSERT INTO settings VALUES ('format', 'v1', true), ('limit', '10', true);
SELECT pg_catalog.pg_extension_config_dump('settings', 'WHERE NOT builtin');
