-- Monthly partitions of the fact: bounds, batch leaves, rows (statistics) and size of their leaves.
SELECT month.relname                             AS partition_name,
       pg_get_expr(month.relpartbound, month.oid) AS bounds,
       count(*) FILTER (WHERE tree.isleaf)       AS batches,
       coalesce(sum(s.n_live_tup), 0)            AS live_rows,
       sum(pg_total_relation_size(tree.relid))   AS total_bytes
FROM pg_inherits AS i
INNER JOIN pg_class AS month ON i.inhrelid = month.oid
CROSS JOIN LATERAL pg_partition_tree(month.oid) AS tree
LEFT JOIN pg_stat_user_tables AS s ON tree.relid = s.relid
WHERE i.inhparent = 'gold.fact_transactions'::regclass
GROUP BY month.oid, month.relname, month.relpartbound
ORDER BY month.relname;
