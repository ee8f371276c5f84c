-- Warehouse DDL: re-runnable (IF NOT EXISTS / ON CONFLICT), applied by PostgresResource.ensure_schema().
CREATE SCHEMA IF NOT EXISTS gold;
CREATE SCHEMA IF NOT EXISTS quality;

-- Reference dimensions ------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS gold.dim_date (
    date_key      integer PRIMARY KEY,          -- yyyymmdd
    date          date    NOT NULL UNIQUE,
    year          integer NOT NULL,
    quarter       integer NOT NULL,
    month         integer NOT NULL,
    month_name    text    NOT NULL,
    day           integer NOT NULL,
    day_of_week   integer NOT NULL,             -- ISO: 1 = Monday
    day_name      text    NOT NULL,
    week_of_year  integer NOT NULL,
    is_weekend    boolean NOT NULL
);
INSERT INTO gold.dim_date
SELECT to_char(d, 'YYYYMMDD')::integer AS date_key, d AS date, extract(YEAR FROM d) AS year,
       extract(QUARTER FROM d) AS quarter, extract(MONTH FROM d) AS month, trim(to_char(d, 'Month')) AS month_name,
       extract(DAY FROM d) AS day, extract(ISODOW FROM d) AS day_of_week, trim(to_char(d, 'Day')) AS day_name,
       extract(WEEK FROM d) AS week_of_year, extract(ISODOW FROM d) IN (6, 7) AS is_weekend
FROM generate_series(date '2015-01-01', date '2035-12-31', interval '1 day') AS g(d)
ON CONFLICT (date_key) DO NOTHING;

CREATE TABLE IF NOT EXISTS gold.dim_transaction_type (
    transaction_type_key smallint PRIMARY KEY,
    transaction_type     text NOT NULL UNIQUE,
    direction            text NOT NULL CHECK (direction IN ('debit', 'credit'))
);
-- Its rows come from banking_lakehouse/reference.py (TRANSACTION_TYPE_ROWS), inserted by ensure_schema.

-- Master dimensions: customers and accounts keep history (type 2: one row per version, valid over
-- [valid_from, valid_to), transforms/versions.py), merchants the latest values (type 1); -1 is the unknown
-- member. Each version table: its version key the primary key (what the fact joins on), a unique index on
-- (key, valid_from) (a key's versions in time order: "as of" lookups), an index for a key's current row.
CREATE TABLE IF NOT EXISTS gold.dim_customer (
    customer_version_key  bigint PRIMARY KEY,  -- one per version: what the fact points at
    customer_key   bigint NOT NULL,             -- durable: the same for every version of a customer
    customer_id    text NOT NULL,
    customer_name  text NOT NULL,               -- keyed-hash token, never the clear name
    email_masked   text,
    phone_masked   text,
    city           text,
    country        char(2),
    segment        text,
    risk_rating    text,
    join_date      date,
    batch_date     date,
    changed_at     timestamptz,                 -- the source's change time (a file: its batch date)
    valid_from     timestamptz NOT NULL DEFAULT '1900-01-01 00:00+00',  -- a key's first version: from the start
    valid_to       timestamptz NOT NULL DEFAULT '9999-12-31 00:00+00',  -- the current version: until the end
    is_current     boolean NOT NULL DEFAULT true,
    is_deleted     boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS gold.dim_account (
    account_version_key  bigint PRIMARY KEY,
    account_key   bigint NOT NULL,
    account_id    text NOT NULL,
    customer_key  bigint NOT NULL,
    account_type  text,
    currency      char(3),
    status        text,
    opened_date   date,
    batch_date    date,
    changed_at    timestamptz,
    valid_from    timestamptz NOT NULL DEFAULT '1900-01-01 00:00+00',
    valid_to      timestamptz NOT NULL DEFAULT '9999-12-31 00:00+00',
    is_current    boolean NOT NULL DEFAULT true,
    is_deleted    boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A warehouse from before versions: its type-1 tables become version tables in place, each row its key's
-- first (and current) version, its version key its key (as transforms/versions.py derives a first version's).
DO $$
DECLARE
    dim record;
BEGIN
    FOR dim IN SELECT * FROM (VALUES ('dim_customer', 'customer'), ('dim_account', 'account')) AS v(tbl, name) LOOP
        IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'gold'
                       AND table_name = dim.tbl AND column_name = dim.name || '_version_key') THEN
            EXECUTE format(
                'ALTER TABLE gold.%1$I ADD COLUMN %2$I bigint, ADD COLUMN changed_at timestamptz,'
                ' ADD COLUMN valid_from timestamptz NOT NULL DEFAULT %3$L, ADD COLUMN valid_to timestamptz NOT NULL DEFAULT %4$L,'
                ' ADD COLUMN is_current boolean NOT NULL DEFAULT true, ADD COLUMN is_deleted boolean NOT NULL DEFAULT false',
                dim.tbl, dim.name || '_version_key', '1900-01-01 00:00+00', '9999-12-31 00:00+00');
            EXECUTE format('UPDATE gold.%I SET %I = %I, changed_at = batch_date', dim.tbl, dim.name || '_version_key',
                           dim.name || '_key');
            EXECUTE format('ALTER TABLE gold.%1$I DROP CONSTRAINT %2$I, DROP CONSTRAINT %3$I, ADD PRIMARY KEY (%4$I)',
                           dim.tbl, dim.tbl || '_pkey', dim.tbl || '_' || dim.name || '_id_key', dim.name || '_version_key');
        END IF;
    END LOOP;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS dim_customer_key_valid_from ON gold.dim_customer (customer_key, valid_from);
CREATE UNIQUE INDEX IF NOT EXISTS dim_account_key_valid_from ON gold.dim_account (account_key, valid_from);
CREATE INDEX IF NOT EXISTS dim_customer_current ON gold.dim_customer (customer_key, is_current);
CREATE INDEX IF NOT EXISTS dim_account_current ON gold.dim_account (account_key, is_current);
INSERT INTO gold.dim_customer (customer_version_key, customer_key, customer_id, customer_name)
VALUES (-1, -1, 'unknown', 'unknown') ON CONFLICT DO NOTHING;
INSERT INTO gold.dim_account (account_version_key, account_key, account_id, customer_key)
VALUES (-1, -1, 'unknown', -1) ON CONFLICT DO NOTHING;
-- Every version table's validity, one shape: what the type-2 checks (sql/checks/) read.
CREATE OR REPLACE VIEW gold.dimension_versions AS
SELECT 'dim_customer' AS dimension, customer_key AS durable_key, customer_version_key AS version_key,
       valid_from, valid_to, is_current
FROM gold.dim_customer
UNION ALL
SELECT 'dim_account' AS dimension, account_key AS durable_key, account_version_key AS version_key,
       valid_from, valid_to, is_current
FROM gold.dim_account;

CREATE TABLE IF NOT EXISTS gold.dim_merchant (
    merchant_key   bigint PRIMARY KEY,
    merchant_id    text NOT NULL UNIQUE,
    merchant_name  text NOT NULL,
    category       text,
    mcc            text,
    city           text,
    country        char(2),
    risk_level     text,
    batch_date     date,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO gold.dim_merchant (merchant_key, merchant_id, merchant_name)
VALUES (-1, 'unknown', 'unknown') ON CONFLICT DO NOTHING;
CREATE INDEX IF NOT EXISTS dim_merchant_name_fts ON gold.dim_merchant USING gin (to_tsvector('simple', merchant_name));

-- Fact: RANGE by month of the transaction date (date filters prune), each month LIST by batch_date: one
-- leaf per (month, batch), loaded by exchange (sql/fact_partitions.sql) -----------------------------
CREATE TABLE IF NOT EXISTS gold.fact_transactions (
    transaction_key          bigint      NOT NULL,
    transaction_id           text        NOT NULL,
    date_key                 integer     NOT NULL,
    customer_key             bigint      NOT NULL,
    account_key              bigint      NOT NULL,
    merchant_key             bigint      NOT NULL,
    customer_version_key     bigint      NOT NULL,  -- the customer's version valid at transaction_ts
    account_version_key      bigint      NOT NULL,
    transaction_type_key     smallint    NOT NULL,
    transaction_ts           timestamptz NOT NULL,
    transaction_date         date        NOT NULL,
    transaction_year         integer     NOT NULL,
    transaction_month        integer     NOT NULL,
    transaction_day          integer     NOT NULL,
    transaction_hour         integer     NOT NULL,
    day_of_week              integer     NOT NULL,
    amount                   numeric(18,2) NOT NULL,
    currency                 char(3)     NOT NULL,
    amount_usd               numeric(18,2) NOT NULL,
    channel                  text        NOT NULL,
    status                   text        NOT NULL,
    country                  char(2),
    amount_category          text        NOT NULL,
    time_of_day              text        NOT NULL,
    daily_transaction_count  integer     NOT NULL,
    daily_cumulative_amount  numeric(38,2) NOT NULL,
    is_card_present          boolean     NOT NULL,
    is_high_risk             boolean     NOT NULL,
    is_outlier               boolean     NOT NULL,
    is_international         boolean     NOT NULL,
    is_orphan                boolean     NOT NULL,
    is_late_arrival          boolean     NOT NULL,
    batch_date               date        NOT NULL,
    source_file              text        NOT NULL,
    source_line              integer     NOT NULL,
    loaded_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, transaction_date, batch_date)
) PARTITION BY RANGE (transaction_date);
-- A fact from before versions: its rows point at their keys' first versions (the migrated dimension rows).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'gold' AND table_name = 'fact_transactions'
                     AND column_name = 'customer_version_key') THEN
        ALTER TABLE gold.fact_transactions ADD COLUMN customer_version_key bigint, ADD COLUMN account_version_key bigint;
        UPDATE gold.fact_transactions SET customer_version_key = customer_key, account_version_key = account_key;
        ALTER TABLE gold.fact_transactions ALTER COLUMN customer_version_key SET NOT NULL,
                                           ALTER COLUMN account_version_key SET NOT NULL;
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS fact_transactions_date ON gold.fact_transactions (transaction_date);
CREATE INDEX IF NOT EXISTS fact_transactions_amount ON gold.fact_transactions (amount_usd);
CREATE INDEX IF NOT EXISTS fact_transactions_customer_date ON gold.fact_transactions (customer_key, transaction_date);
CREATE INDEX IF NOT EXISTS fact_transactions_high_risk ON gold.fact_transactions (transaction_date, merchant_key)
    WHERE is_high_risk;

-- Aggregates (per load batch, so a re-run replaces exactly its own rows) ---------------------
CREATE TABLE IF NOT EXISTS gold.daily_customer_summary (
    batch_date           date   NOT NULL,
    transaction_date     date   NOT NULL,
    customer_key         bigint NOT NULL,
    transaction_count    bigint NOT NULL,
    total_amount_usd     numeric(38,2) NOT NULL,
    avg_amount_usd       numeric(18,2) NOT NULL,
    max_amount_usd       numeric(18,2) NOT NULL,
    merchant_count       bigint NOT NULL,
    international_count  bigint NOT NULL,
    high_risk_count      bigint NOT NULL,
    PRIMARY KEY (batch_date, transaction_date, customer_key)
);
CREATE TABLE IF NOT EXISTS gold.merchant_daily_summary (
    batch_date         date   NOT NULL,
    transaction_date   date   NOT NULL,
    merchant_key       bigint NOT NULL,
    transaction_count  bigint NOT NULL,
    total_amount_usd   numeric(38,2) NOT NULL,
    avg_amount_usd     numeric(18,2) NOT NULL,
    customer_count     bigint NOT NULL,
    PRIMARY KEY (batch_date, transaction_date, merchant_key)
);

-- Fraud ------------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS gold.fraud_transactions (
    transaction_id    text   NOT NULL,
    transaction_key   bigint NOT NULL,
    transaction_date  date   NOT NULL,
    transaction_ts    timestamptz NOT NULL,
    customer_key      bigint NOT NULL,
    account_key       bigint NOT NULL,
    merchant_key      bigint NOT NULL,
    amount_usd        numeric(18,2) NOT NULL,
    rules             text   NOT NULL,          -- comma-separated pattern codes that fired
    rule_count        integer NOT NULL,
    risk_score        numeric(5,2) NOT NULL,
    severity          text   NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    batch_date        date   NOT NULL,
    PRIMARY KEY (batch_date, transaction_id)
);
CREATE INDEX IF NOT EXISTS fraud_transactions_severe ON gold.fraud_transactions (transaction_date)
    WHERE severity IN ('high', 'critical');

CREATE OR REPLACE VIEW gold.genuine_transactions AS
SELECT f.* FROM gold.fact_transactions AS f
WHERE NOT EXISTS (
    SELECT 1 FROM gold.fraud_transactions AS x
    WHERE x.transaction_id = f.transaction_id AND x.batch_date = f.batch_date
);

-- Near-real-time alerts of the fraud stream (assets/fraud_alerts.py): one row per transaction and rule,
-- inserted once (a replayed micro-batch adds nothing). Keys are gold's keyed hashes, never clear ids.
CREATE TABLE IF NOT EXISTS gold.fraud_alerts (
    transaction_id  text          NOT NULL,
    rule            text          NOT NULL,          -- large_amount, card_testing, velocity, impossible_travel
    transaction_ts  timestamptz   NOT NULL,
    account_key     bigint        NOT NULL,          -- the keyed hash dim_account's account_key is (orphans too)
    customer_key    bigint        NOT NULL,          -- likewise dim_customer's customer_key
    merchant_key    bigint        NOT NULL,
    amount_usd      numeric(18,2) NOT NULL,
    source_file     text          NOT NULL,          -- date=YYYY-MM-DD/transactions.csv[.gz] in the landing zone
    delivery_date   date          NOT NULL,          -- the drop (batch date) the transaction came with
    alerted_at      timestamptz   NOT NULL DEFAULT clock_timestamp(),  -- when the alert became queryable
    PRIMARY KEY (transaction_id, rule)
);
CREATE INDEX IF NOT EXISTS fraud_alerts_alerted_at ON gold.fraud_alerts (alerted_at);
CREATE INDEX IF NOT EXISTS fraud_alerts_delivery ON gold.fraud_alerts (delivery_date, rule);

-- Quality --------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS quality.quarantine (
    entity       text    NOT NULL,
    reason       text    NOT NULL,
    raw_record   text    NOT NULL,
    source_file  text    NOT NULL,
    line_number  integer NOT NULL,
    batch_date   date    NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_date, entity, source_file, line_number)
);
CREATE INDEX IF NOT EXISTS quarantine_reason ON quality.quarantine (batch_date, entity, reason);
-- The record exactly as delivered (raw_record is its text, with invalid bytes and control characters escaped).
ALTER TABLE quality.quarantine ADD COLUMN IF NOT EXISTS raw_bytes bytea;

-- One row per delivered file of a batch: where it came from, what it was, what became of its records.
CREATE TABLE IF NOT EXISTS quality.batches (
    batch_date        date    NOT NULL,
    entity            text    NOT NULL,
    source            text    NOT NULL,         -- landing, synthetic or core (a core-banking extraction)
    file_name         text    NOT NULL,
    bytes             bigint  NOT NULL,
    sha256            text    NOT NULL,
    encoding          text    NOT NULL,
    raw_records       bigint  NOT NULL,
    blank_lines       bigint  NOT NULL,
    silver_rows       bigint  NOT NULL,
    quarantined_rows  bigint  NOT NULL,
    completed_at      timestamptz NOT NULL,      -- the drop's _SUCCESS time (or when it was generated)
    ingested_at       timestamptz NOT NULL,      -- stored in the raw zone
    loaded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_date, entity)
);
-- Named, and re-created, so a warehouse made before the core-banking source accepts `core` too.
ALTER TABLE quality.batches DROP CONSTRAINT IF EXISTS batches_source_check;
ALTER TABLE quality.batches ADD CONSTRAINT batches_source_check CHECK (source IN ('landing', 'synthetic', 'core'));

-- Sums of amounts are wider than one amount (warehouses created before this change are widened once).
DO $$
DECLARE
    col record;
BEGIN
    FOR col IN
        SELECT table_name, column_name FROM information_schema.columns
        WHERE table_schema = 'gold' AND numeric_precision = 18
          AND (table_name, column_name) IN (('fact_transactions', 'daily_cumulative_amount'),
                                            ('daily_customer_summary', 'total_amount_usd'),
                                            ('merchant_daily_summary', 'total_amount_usd'))
    LOOP
        EXECUTE format('ALTER TABLE gold.%I ALTER COLUMN %I TYPE numeric(38,2)', col.table_name, col.column_name);
    END LOOP;
END $$;
