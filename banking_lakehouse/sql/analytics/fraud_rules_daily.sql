-- Fraud per day and rule: alerts, the accounts and customers behind them, the money, and how it moved
-- (card present, abroad) - the series the UI plots per rule, with what an analyst asks next.
WITH fired AS (
    SELECT
        x.batch_date,
        x.transaction_id,
        x.account_key,
        x.customer_key,
        x.amount_usd,
        x.risk_score,
        unnest(string_to_array(x.rules, ',')) AS rule
    FROM gold.fraud_transactions AS x
)

SELECT
    fired.batch_date,
    fired.rule,
    count(*)                                              AS alerts,
    count(DISTINCT fired.account_key)                     AS accounts,
    count(DISTINCT fired.customer_key)                    AS customers,
    sum(fired.amount_usd)                                 AS amount_usd,
    max(fired.amount_usd)                                 AS max_amount_usd,
    round(avg(fired.risk_score), 2)                       AS avg_risk_score,
    count(*) FILTER (WHERE f.is_card_present)             AS card_present,
    count(*) FILTER (WHERE f.is_international)            AS international
FROM fired
INNER JOIN gold.fact_transactions AS f
    ON fired.transaction_id = f.transaction_id AND fired.batch_date = f.batch_date
GROUP BY fired.batch_date, fired.rule
ORDER BY fired.batch_date ASC, alerts DESC, fired.rule ASC;
