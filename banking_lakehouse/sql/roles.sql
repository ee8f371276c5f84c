-- Read-only analyst role: SELECT on gold (masked, tokenised PII) and nothing else.
-- It logs in (make psql): over the embedded server's owner-only socket, or by the password
-- BANKING_ANALYST_PASSWORD sets (a role without one cannot pass scram-sha-256).
-- Re-runnable; on a server where the loading user may not create roles it only leaves a notice.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analyst') THEN
        CREATE ROLE analyst LOGIN;
    END IF;
    ALTER ROLE analyst LOGIN;  -- a warehouse created while the role was NOLOGIN
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
