-- Fraud analysis: flagged transactions per rule and severity, their amounts and share of all activity.
WITH fired AS (
    SELECT x.*, unnest(string_to_array(x.rules, ',')) AS rule FROM gold.fraud_transactions x
), totals AS (
    SELECT count(*) AS all_transactions, sum(amount_usd) AS all_amount_usd FROM gold.fact_transactions
)
SELECT rule, severity,
       count(*)                                                    AS flagged,
       sum(amount_usd)                                             AS flagged_amount_usd,
       round(avg(risk_score), 2)                                   AS avg_risk_score,
       round(count(*)::numeric / max(t.all_transactions), 6)       AS share_of_transactions,
       round(sum(amount_usd) / max(t.all_amount_usd), 6)           AS share_of_amount
FROM fired CROSS JOIN totals t
GROUP BY rule, severity
ORDER BY flagged DESC;
