-- Every warehouse table: exact rows come from count(*) in Python; here size on disk and scan counters.
-- A partitioned table (the fact) has no storage of its own: its size is the sum over its partitions.
SELECT n.nspname || '.' || c.relname AS table_name,
       (SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0)::bigint FROM pg_partition_tree(c.oid) AS t) AS total_bytes,
       (SELECT coalesce(sum(pg_indexes_size(t.relid)), 0)::bigint FROM pg_partition_tree(c.oid) AS t)        AS index_bytes,
       coalesce(s.seq_scan, 0)        AS seq_scans,
       coalesce(s.idx_scan, 0)        AS index_scans
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
LEFT JOIN pg_stat_user_tables AS s ON c.oid = s.relid
WHERE n.nspname IN ('gold', 'quality')
  AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
ORDER BY 1;
