-- Merchant performance: volume, revenue, ticket size, reach and fraud share, ranked within category.
SELECT m.merchant_key, m.merchant_name, m.category, m.country, m.risk_level,
       count(*)                                          AS transactions,
       sum(f.amount_usd)                                 AS revenue_usd,
       round(avg(f.amount_usd), 2)                       AS avg_ticket_usd,
       count(DISTINCT f.customer_key)                    AS customers,
       round(count(x.transaction_id)::numeric / count(*), 4) AS fraud_share,
       rank() OVER (PARTITION BY m.category ORDER BY sum(f.amount_usd) DESC) AS rank_in_category
FROM gold.fact_transactions AS f
INNER JOIN gold.dim_merchant AS m USING (merchant_key)
LEFT JOIN gold.fraud_transactions AS x ON f.transaction_id = x.transaction_id AND f.batch_date = x.batch_date
WHERE f.merchant_key <> -1
GROUP BY m.merchant_key, m.merchant_name, m.category, m.country, m.risk_level
ORDER BY revenue_usd DESC, merchant_key ASC;
