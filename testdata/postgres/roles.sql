-- Cluster-global roles the PostgreSQL fixtures in this directory need (every_kind.sql).
-- Roles are not part of a database, so the fixtures do not create them; run this first, as a
-- superuser, against any database of the cluster. Idempotent and safe to run concurrently:
-- a parallel session creating the same role between the check and the CREATE is tolerated.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['sdfix_owner', 'sdfix_writer', 'sdfix_reader', 'sdfix_auditor'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;
