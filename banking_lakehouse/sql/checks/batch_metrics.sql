-- Per batch of a window of load dates: fact rows, Σ amount_usd without the outliers (flagged on their
-- own; one of them would swamp a day's total) and flagged rows: the anomaly checks' history.
SELECT f.batch_date, count(*) AS fact_rows, coalesce(sum(f.amount_usd) FILTER (WHERE NOT f.is_outlier), 0) AS amount_usd,
       (SELECT count(*) FROM gold.fraud_transactions AS x WHERE x.batch_date = f.batch_date) AS fraud_rows
FROM gold.fact_transactions AS f
WHERE f.batch_date BETWEEN %(first)s AND %(last)s
GROUP BY f.batch_date;
