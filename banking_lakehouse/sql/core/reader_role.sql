-- The read-only role a bank's DBA grants the extraction: it reads the `core` schema and nothing else
-- (no INSERT, UPDATE, DELETE, TRUNCATE, no CREATE). The DBA gives it a password (ALTER ROLE core_reader
-- PASSWORD ...) and the extraction logs in as it (BANKING_SOURCE_DSN). Re-runnable.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'core_reader') THEN
        CREATE ROLE core_reader LOGIN;
    END IF;
END $$;

REVOKE ALL ON SCHEMA core FROM core_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA core FROM core_reader;
GRANT USAGE ON SCHEMA core TO core_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA core TO core_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA core GRANT SELECT ON TABLES TO core_reader;
