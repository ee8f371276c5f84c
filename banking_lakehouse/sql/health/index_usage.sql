-- Index usage in the warehouse schemas: scans since statistics were reset, and size.
SELECT schemaname || '.' || relname AS table_name,
       indexrelname                 AS index_name,
       idx_scan                     AS scans,
       pg_relation_size(indexrelid) AS bytes
FROM pg_stat_user_indexes
WHERE schemaname IN ('gold', 'quality')
ORDER BY idx_scan DESC, bytes DESC
LIMIT %(limit)s;
