-- The stream's alerts against the daily fraud table, per drop and rule, for the drops the stream has scored
-- and the daily pipeline has loaded: alerts the daily rules confirm, alerts only the stream raised, and
-- transactions only the daily rules flagged.
WITH loaded AS (
    SELECT DISTINCT batch_date
    FROM quality.batches
    WHERE entity = 'transactions' AND batch_date = ANY(%(streamed)s::DATE [])
),

daily AS (
    SELECT
        f.batch_date,
        f.transaction_id,
        r.rule
    FROM gold.fraud_transactions AS f
    INNER JOIN loaded AS l ON f.batch_date = l.batch_date
    CROSS JOIN LATERAL UNNEST(STRING_TO_ARRAY(f.rules, ',')) AS r (rule)
    WHERE r.rule = ANY(%(rules)s)
),

alerts AS (
    SELECT
        a.delivery_date AS batch_date,
        a.transaction_id,
        a.rule
    FROM gold.fraud_alerts AS a
    INNER JOIN loaded AS l ON a.delivery_date = l.batch_date
)

SELECT
    COALESCE(a.batch_date, d.batch_date) AS batch_date,
    COALESCE(a.rule, d.rule) AS rule,
    COUNT(a.transaction_id) AS alerts,
    COUNT(a.transaction_id) FILTER (WHERE d.transaction_id IS NOT NULL) AS confirmed,
    COUNT(*) FILTER (WHERE d.transaction_id IS NULL) AS stream_only,
    COUNT(*) FILTER (WHERE a.transaction_id IS NULL) AS daily_only
FROM alerts AS a
FULL OUTER JOIN daily AS d
    ON a.batch_date = d.batch_date AND a.transaction_id = d.transaction_id AND a.rule = d.rule
GROUP BY 1, 2
ORDER BY 1, 2
