-- What the demo prints about one batch: warehouse row counts and amounts (customers and accounts: current versions).
SELECT
    (SELECT count(*) FROM gold.fact_transactions WHERE batch_date = %(batch_date)s)             AS fact_rows,
    (SELECT coalesce(sum(amount_usd), 0) FROM gold.fact_transactions WHERE batch_date = %(batch_date)s) AS fact_amount_usd,
    (SELECT count(*) FROM gold.dim_customer WHERE is_current)                                     AS dim_customer_rows,
    (SELECT count(*) FROM gold.dim_account WHERE is_current)                                      AS dim_account_rows,
    (SELECT count(*) FROM gold.dim_merchant)                                                      AS dim_merchant_rows,
    (SELECT count(*) FROM gold.daily_customer_summary WHERE batch_date = %(batch_date)s)        AS customer_summary_rows,
    (SELECT count(*) FROM gold.merchant_daily_summary WHERE batch_date = %(batch_date)s)        AS merchant_summary_rows,
    (SELECT count(*) FROM gold.fraud_transactions WHERE batch_date = %(batch_date)s)            AS fraud_rows;
