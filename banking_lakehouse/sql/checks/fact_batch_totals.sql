-- Row count, orphan count and Σ amount_usd of one batch in the fact.
SELECT count(*), count(*) FILTER (WHERE is_orphan), coalesce(sum(amount_usd), 0)
FROM gold.fact_transactions WHERE batch_date = %(batch_date)s;
