-- The statements with the highest mean time (pg_stat_statements, when the server preloads it).
SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 120) AS query,
       calls,
       round(mean_exec_time::numeric, 2)  AS mean_ms,
       round(total_exec_time::numeric, 2) AS total_ms
FROM pg_stat_statements
WHERE dbid = (SELECT db.oid FROM pg_database AS db WHERE db.datname = current_database())
ORDER BY mean_exec_time DESC
LIMIT %(limit)s;
