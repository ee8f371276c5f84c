-- The staged alerts not yet in the table: a replayed micro-batch (after a crash) inserts nothing twice.
INSERT INTO gold.fraud_alerts (
    transaction_id, rule, transaction_ts, account_key, customer_key, merchant_key,
    amount_usd, source_file, delivery_date
)
SELECT DISTINCT ON (transaction_id, rule)
    transaction_id,
    rule,
    transaction_ts,
    account_key,
    customer_key,
    merchant_key,
    amount_usd,
    source_file,
    delivery_date
FROM fraud_alerts_stage
ORDER BY transaction_id, rule, transaction_ts
ON CONFLICT (transaction_id, rule) DO NOTHING
RETURNING rule;
