-- bench_load.py: a table identical to gold.fact_transactions for the psql \copy baseline.
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.fact_transactions (LIKE gold.fact_transactions INCLUDING ALL)
    PARTITION BY RANGE (transaction_date);
CREATE TABLE IF NOT EXISTS bench.fact_transactions_2030_01 PARTITION OF bench.fact_transactions
    FOR VALUES FROM ('2030-01-01') TO ('2030-02-01');
