-- Rows of one version table breaking the type-2 rules (0 each expected): a version starting before the one
-- before it ends (overlap) or after it (gap); keys without exactly one current row, or whose current row
-- is not their last.
WITH ordered AS (
    SELECT
        durable_key,
        valid_to,
        is_current,
        lead(valid_from) OVER (PARTITION BY durable_key ORDER BY valid_from) AS next_from
    FROM gold.dimension_versions
    WHERE dimension = %(dimension)s
),

keys AS (
    SELECT durable_key
    FROM ordered
    GROUP BY durable_key
    HAVING count(*) FILTER (WHERE is_current) <> 1 OR bool_or(is_current AND next_from IS NOT NULL)
)

SELECT
    (SELECT count(*) FROM ordered WHERE next_from < valid_to) AS overlapping,
    (SELECT count(*) FROM ordered WHERE next_from > valid_to) AS gaps,
    (SELECT count(*) FROM keys) AS keys_without_one_current;
