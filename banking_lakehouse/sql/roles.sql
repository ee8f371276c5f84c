-- Read-only analyst role: SELECT on gold (masked, tokenised PII) and nothing else.
-- Re-runnable; on a server where the loading user may not create roles it only leaves a notice.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analyst') THEN
        CREATE ROLE analyst NOLOGIN;
    END IF;
    REVOKE ALL ON SCHEMA quality FROM analyst;
    REVOKE ALL ON ALL TABLES IN SCHEMA quality FROM analyst;
    GRANT USAGE ON SCHEMA gold TO analyst;
    GRANT SELECT ON ALL TABLES IN SCHEMA gold TO analyst;
    ALTER DEFAULT PRIVILEGES IN SCHEMA gold GRANT SELECT ON TABLES TO analyst;
    -- fact leaves are built in gold_stage (no USAGE for the analyst) and moved to gold with these grants
    ALTER DEFAULT PRIVILEGES IN SCHEMA gold_stage GRANT SELECT ON TABLES TO analyst;
    REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA gold FROM PUBLIC;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'analyst role not (re)configured: the loading user lacks the privilege';
END $$;
