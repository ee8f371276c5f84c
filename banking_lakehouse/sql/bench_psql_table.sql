-- bench_load.py: plain tables shaped like gold.fact_transactions for the psql \copy baselines; one unindexed
-- (indexed after the copy by the load's own gold.build_fact_indexes), one indexed before the copy.
CREATE SCHEMA IF NOT EXISTS bench;
DROP TABLE IF EXISTS bench.fact_copy, bench.fact_indexed_copy;
CREATE TABLE bench.fact_copy (LIKE gold.fact_transactions INCLUDING DEFAULTS);
CREATE TABLE bench.fact_indexed_copy (LIKE gold.fact_transactions INCLUDING DEFAULTS);
SELECT gold.build_fact_indexes('bench.fact_indexed_copy');
