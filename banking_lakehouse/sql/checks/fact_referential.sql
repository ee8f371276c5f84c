-- Fact rows of one batch whose keys are missing from a dimension (the -1 members exist, so 0 is expected):
-- one pass over the batch's rows, each key looked up in its dimension's set of keys.
SELECT
    m.dimension,
    m.missing_keys
FROM (
    SELECT
        count(*) FILTER (WHERE c.customer_key IS NULL) AS customer,
        count(*) FILTER (WHERE a.account_key IS NULL) AS account,
        count(*) FILTER (WHERE me.merchant_key IS NULL) AS merchant,
        count(*) FILTER (WHERE d.date_key IS NULL) AS date,
        count(*) FILTER (WHERE t.transaction_type_key IS NULL) AS transaction_type
    FROM gold.fact_transactions AS f
    LEFT JOIN (SELECT DISTINCT customer_key FROM gold.dim_customer) AS c ON f.customer_key = c.customer_key
    LEFT JOIN (SELECT DISTINCT account_key FROM gold.dim_account) AS a ON f.account_key = a.account_key
    LEFT JOIN gold.dim_merchant AS me ON f.merchant_key = me.merchant_key
    LEFT JOIN gold.dim_date AS d ON f.date_key = d.date_key
    LEFT JOIN gold.dim_transaction_type AS t ON f.transaction_type_key = t.transaction_type_key
    WHERE f.batch_date = %(batch_date)s
) AS counted
CROSS JOIN LATERAL (
    VALUES
    ('customer', counted.customer),
    ('account', counted.account),
    ('merchant', counted.merchant),
    ('date', counted.date),
    ('transaction_type', counted.transaction_type)
) AS m (dimension, missing_keys);
