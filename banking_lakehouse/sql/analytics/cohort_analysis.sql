-- Cohort analysis: customers by join year, the share of each cohort active in each month, and its spend.
WITH cohorts AS (
    SELECT customer_key, date_trunc('year', join_date)::date AS cohort_year
    FROM gold.dim_customer WHERE is_current AND join_date IS NOT NULL
),

sizes AS (
    SELECT cohort_year, count(*) AS cohort_size FROM cohorts GROUP BY cohort_year
)

SELECT c.cohort_year,
       date_trunc('month', f.transaction_date)::date                   AS activity_month,
       count(DISTINCT f.customer_key)                                  AS active_customers,
       s.cohort_size,
       round(count(DISTINCT f.customer_key)::numeric / s.cohort_size, 4) AS active_share,
       sum(f.amount_usd)                                               AS amount_usd
FROM gold.fact_transactions AS f
INNER JOIN cohorts AS c USING (customer_key)
INNER JOIN sizes AS s USING (cohort_year)
GROUP BY c.cohort_year, activity_month, s.cohort_size
ORDER BY c.cohort_year, activity_month;
