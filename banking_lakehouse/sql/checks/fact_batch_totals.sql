-- Row count, orphan count and Σ amount_usd of one batch in the fact.
SELECT count(*) AS fact_rows, count(*) FILTER (WHERE is_orphan) AS orphan_rows, coalesce(sum(amount_usd), 0) AS amount_usd
FROM gold.fact_transactions WHERE batch_date = %(batch_date)s;
