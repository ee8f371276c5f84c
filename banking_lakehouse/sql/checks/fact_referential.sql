-- Fact rows of one batch whose keys are missing from a dimension (the -1 members exist, so 0 is expected).
SELECT 'customer' AS dimension, count(*) AS missing_keys FROM gold.fact_transactions AS f
 WHERE f.batch_date = %(batch_date)s AND NOT EXISTS (SELECT 1 FROM gold.dim_customer AS d WHERE d.customer_key = f.customer_key)
UNION ALL
SELECT 'account' AS dimension, count(*) AS missing_keys FROM gold.fact_transactions AS f
 WHERE f.batch_date = %(batch_date)s AND NOT EXISTS (SELECT 1 FROM gold.dim_account AS d WHERE d.account_key = f.account_key)
UNION ALL
SELECT 'merchant' AS dimension, count(*) AS missing_keys FROM gold.fact_transactions AS f
 WHERE f.batch_date = %(batch_date)s AND NOT EXISTS (SELECT 1 FROM gold.dim_merchant AS d WHERE d.merchant_key = f.merchant_key)
UNION ALL
SELECT 'date' AS dimension, count(*) AS missing_keys FROM gold.fact_transactions AS f
 WHERE f.batch_date = %(batch_date)s AND NOT EXISTS (SELECT 1 FROM gold.dim_date AS d WHERE d.date_key = f.date_key)
UNION ALL
SELECT 'transaction_type' AS dimension, count(*) AS missing_keys FROM gold.fact_transactions AS f
 WHERE f.batch_date = %(batch_date)s
   AND NOT EXISTS (SELECT 1 FROM gold.dim_transaction_type AS d WHERE d.transaction_type_key = f.transaction_type_key);
