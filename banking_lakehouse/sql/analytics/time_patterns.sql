-- Time-of-day and weekday patterns: activity and value by ISO weekday and part of the day.
SELECT d.day_of_week, d.day_name, f.time_of_day,
       count(*)                  AS transactions,
       sum(f.amount_usd)         AS amount_usd,
       round(avg(f.amount_usd), 2) AS avg_ticket_usd,
       count(*) FILTER (WHERE f.is_high_risk) AS high_risk_transactions
FROM gold.fact_transactions AS f
INNER JOIN gold.dim_date AS d USING (date_key)
GROUP BY d.day_of_week, d.day_name, f.time_of_day
ORDER BY d.day_of_week, min(f.transaction_hour), f.time_of_day;
