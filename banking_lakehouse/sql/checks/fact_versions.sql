-- Fact rows of one batch whose version key is no version of their key valid at transaction_ts, per
-- dimension (orphans point at the -1 members, valid at all times: none expected).
SELECT
    r.dimension,
    count(*) AS misplaced_rows
FROM gold.fact_transactions AS f
CROSS JOIN LATERAL (
    VALUES
    ('dim_customer', f.customer_key, f.customer_version_key),
    ('dim_account', f.account_key, f.account_version_key)
) AS r (dimension, durable_key, version_key)
WHERE
    f.batch_date = %(batch_date)s
    AND NOT EXISTS (
        SELECT 1 FROM gold.dimension_versions AS v
        WHERE
            v.dimension = r.dimension
            AND v.version_key = r.version_key
            AND v.durable_key = r.durable_key
            AND v.valid_from <= f.transaction_ts
            AND f.transaction_ts < v.valid_to
    )
GROUP BY r.dimension;
