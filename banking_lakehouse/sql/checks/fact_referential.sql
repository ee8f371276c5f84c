-- Fact rows of one batch whose keys are missing from a dimension (the -1 members exist, so 0 is expected).
SELECT 'customer' AS dimension, count(*) FROM gold.fact_transactions f
 WHERE f.batch_date = %(batch_date)s AND NOT EXISTS (SELECT 1 FROM gold.dim_customer d WHERE d.customer_key = f.customer_key)
UNION ALL
SELECT 'account', count(*) FROM gold.fact_transactions f
 WHERE f.batch_date = %(batch_date)s AND NOT EXISTS (SELECT 1 FROM gold.dim_account d WHERE d.account_key = f.account_key)
UNION ALL
SELECT 'merchant', count(*) FROM gold.fact_transactions f
 WHERE f.batch_date = %(batch_date)s AND NOT EXISTS (SELECT 1 FROM gold.dim_merchant d WHERE d.merchant_key = f.merchant_key)
UNION ALL
SELECT 'date', count(*) FROM gold.fact_transactions f
 WHERE f.batch_date = %(batch_date)s AND NOT EXISTS (SELECT 1 FROM gold.dim_date d WHERE d.date_key = f.date_key)
UNION ALL
SELECT 'transaction_type', count(*) FROM gold.fact_transactions f
 WHERE f.batch_date = %(batch_date)s
   AND NOT EXISTS (SELECT 1 FROM gold.dim_transaction_type d WHERE d.transaction_type_key = f.transaction_type_key);
