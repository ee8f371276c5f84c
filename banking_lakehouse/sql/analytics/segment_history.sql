-- Spend by the customer's segment and risk rating at the time of each transaction (the version valid then,
-- not today's values): a customer moved from retail to premium in March counts as retail before March.
SELECT
    f.transaction_year,
    f.transaction_month,
    c.segment,
    c.risk_rating,
    count(*) AS transactions,
    count(DISTINCT f.customer_key) AS customers,
    sum(f.amount_usd) AS amount_usd
FROM gold.fact_transactions AS f
INNER JOIN gold.dim_customer AS c ON f.customer_version_key = c.customer_version_key
WHERE f.customer_key <> -1
GROUP BY f.transaction_year, f.transaction_month, c.segment, c.risk_rating
ORDER BY f.transaction_year, f.transaction_month, c.segment NULLS LAST, c.risk_rating NULLS LAST;
