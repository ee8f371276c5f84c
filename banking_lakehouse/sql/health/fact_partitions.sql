-- Monthly partitions of the fact: bounds, rows (statistics) and size.
SELECT child.relname                             AS partition_name,
       pg_get_expr(child.relpartbound, child.oid) AS bounds,
       coalesce(s.n_live_tup, 0)                 AS live_rows,
       pg_total_relation_size(child.oid)         AS total_bytes
FROM pg_inherits AS i
INNER JOIN pg_class AS child ON i.inhrelid = child.oid
LEFT JOIN pg_stat_user_tables AS s ON child.oid = s.relid
WHERE i.inhparent = 'gold.fact_transactions'::regclass
ORDER BY 1;
