-- The current home country of the customers the stream's impossible-travel rule asks about.
SELECT
    customer_key,
    country
FROM gold.dim_customer
WHERE is_current AND customer_key = ANY(%(customer_keys)s)
