-- Fraud analysis: flagged transactions per rule and severity, their amounts and share of all activity.
WITH fired AS (
    SELECT x.*, unnest(string_to_array(x.rules, ',')) AS rule FROM gold.fraud_transactions AS x
),

totals AS (
    SELECT count(*) AS all_transactions, sum(amount_usd) AS all_amount_usd FROM gold.fact_transactions
)

SELECT fired.rule, fired.severity,
       count(*)                                                    AS flagged,
       sum(fired.amount_usd)                                       AS flagged_amount_usd,
       round(avg(fired.risk_score), 2)                             AS avg_risk_score,
       round(count(*)::numeric / max(t.all_transactions), 6)       AS share_of_transactions,
       round(sum(fired.amount_usd) / max(t.all_amount_usd), 6)     AS share_of_amount
FROM fired CROSS JOIN totals AS t
GROUP BY fired.rule, fired.severity
ORDER BY flagged DESC, fired.rule ASC, fired.severity ASC;
