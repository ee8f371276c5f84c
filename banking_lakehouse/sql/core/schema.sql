-- The core-banking source: the operational tables a bank's core system keeps, one per master entity,
-- with the columns of banking_lakehouse/entities.py (same names, same order) and three timestamps:
-- created_at, updated_at (every change moves it; the extraction's bookmark is (updated_at, id))
-- and deleted_at (soft delete: the row stays, deleted_at set). Re-runnable.
CREATE SCHEMA IF NOT EXISTS core;

CREATE TABLE IF NOT EXISTS core.customers (
    customer_id text PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text NOT NULL,
    phone text,
    address text,
    city text,
    country text,
    segment text,
    risk_rating text,
    join_date date,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at timestamptz
);

CREATE TABLE IF NOT EXISTS core.accounts (
    account_id text PRIMARY KEY,
    customer_id text NOT NULL REFERENCES core.customers (customer_id),
    account_type text NOT NULL,
    currency text NOT NULL,
    status text,
    opened_date date,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at timestamptz
);

CREATE TABLE IF NOT EXISTS core.merchants (
    merchant_id text PRIMARY KEY,
    name text NOT NULL,
    mcc text NOT NULL,
    category text,
    city text,
    country text,
    risk_level text,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at timestamptz
);

-- The extraction reads (updated_at, id) > bookmark in that order: an index range scan, no sort.
CREATE INDEX IF NOT EXISTS customers_updated_at_id ON core.customers (updated_at, customer_id);
CREATE INDEX IF NOT EXISTS accounts_updated_at_id ON core.accounts (updated_at, account_id);
CREATE INDEX IF NOT EXISTS merchants_updated_at_id ON core.merchants (updated_at, merchant_id);

-- An UPDATE that does not set updated_at itself gets the time of the change, so no change escapes the bookmark.
CREATE OR REPLACE FUNCTION core.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := clock_timestamp();
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER customers_touch_updated_at BEFORE UPDATE ON core.customers
FOR EACH ROW EXECUTE FUNCTION core.touch_updated_at();
CREATE OR REPLACE TRIGGER accounts_touch_updated_at BEFORE UPDATE ON core.accounts
FOR EACH ROW EXECUTE FUNCTION core.touch_updated_at();
CREATE OR REPLACE TRIGGER merchants_touch_updated_at BEFORE UPDATE ON core.merchants
FOR EACH ROW EXECUTE FUNCTION core.touch_updated_at();
