-- Per batch of a window of load dates: fact rows, Σ amount_usd and flagged rows (anomaly checks' history).
SELECT f.batch_date, count(*) AS fact_rows, coalesce(sum(f.amount_usd), 0) AS amount_usd,
       (SELECT count(*) FROM gold.fraud_transactions x WHERE x.batch_date = f.batch_date) AS fraud_rows
FROM gold.fact_transactions f
WHERE f.batch_date BETWEEN %(first)s AND %(last)s
GROUP BY f.batch_date;
