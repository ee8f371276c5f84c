-- Customer segmentation (RFM): recency, frequency and monetary value scored 1-5 by quintile (ties by key, so
-- every run and engine scores the same), beside the customer's current segment.
WITH activity AS (
    SELECT customer_key,
           max(transaction_date)                     AS last_seen,
           count(*)                                  AS frequency,
           sum(amount_usd)                           AS monetary
    FROM gold.genuine_transactions
    WHERE customer_key <> -1 AND status = 'completed'
    GROUP BY customer_key
),

scored AS (
    SELECT a.*,
           (SELECT max(ft.transaction_date) FROM gold.fact_transactions AS ft) - a.last_seen AS recency_days,
           ntile(5) OVER (ORDER BY a.last_seen, a.customer_key) AS r_score,
           ntile(5) OVER (ORDER BY a.frequency, a.customer_key) AS f_score,
           ntile(5) OVER (ORDER BY a.monetary, a.customer_key)  AS m_score
    FROM activity AS a
)

SELECT s.customer_key, c.segment, s.recency_days, s.frequency, s.monetary, s.r_score, s.f_score, s.m_score,
       CASE
           WHEN s.r_score >= 4 AND s.f_score >= 4 AND s.m_score >= 4 THEN 'champions'
           WHEN s.r_score >= 3 AND s.f_score >= 3                  THEN 'loyal'
           WHEN s.r_score >= 4                                   THEN 'recent'
           WHEN s.r_score <= 2 AND s.f_score >= 3                  THEN 'at_risk'
           ELSE 'hibernating'
       END AS rfm_segment
FROM scored AS s INNER JOIN gold.dim_customer AS c ON s.customer_key = c.customer_key AND c.is_current
ORDER BY s.monetary DESC, s.customer_key ASC;
