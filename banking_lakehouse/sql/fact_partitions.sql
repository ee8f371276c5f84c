-- The fact's partitions: a month table per month (LIST by batch_date) and a leaf per (month, batch), each leaf
-- built unindexed in gold_stage and exchanged in (resources/fact_exchange.py): an index built once after the
-- COPY is several times cheaper than one maintained row by row. gold_stage lets the new leaf carry its final
-- name (and so its indexes' names) while the old one is still in gold. Re-runnable; applied by ensure_schema.
CREATE SCHEMA IF NOT EXISTS gold_stage;

CREATE OR REPLACE FUNCTION gold.fact_month_table(month_start date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('fact_transactions_%s', to_char(month_start, 'YYYY_MM'))
$$;

CREATE OR REPLACE FUNCTION gold.fact_leaf(month_start date, batch date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT format('%s_b%s', gold.fact_month_table(month_start), to_char(batch, 'YYYYMMDD'))
$$;

-- Creates the month's table once, also when two loads ask for it at the same moment (built apart and
-- attached, so readers of the fact are never blocked: ATTACH takes a weaker lock than CREATE ... PARTITION OF).
CREATE OR REPLACE FUNCTION gold.ensure_fact_partition(month_start date) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    first_day date := date_trunc('month', month_start)::date;
    month_table text := gold.fact_month_table(first_day);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(format('gold.%s', month_table)));
    IF to_regclass(format('gold.%I', month_table)) IS NULL THEN
        EXECUTE format('CREATE TABLE gold.%I (LIKE gold.fact_transactions INCLUDING DEFAULTS) PARTITION BY LIST (batch_date)',
                       month_table);
        EXECUTE format('ALTER TABLE gold.fact_transactions ATTACH PARTITION gold.%I FOR VALUES FROM (%L) TO (%L)',
                       month_table, first_day, (first_day + interval '1 month')::date);
    END IF;
END $$;

-- An empty staging table for the (month, batch) leaf, its CHECK the leaf's partition bounds, so that the
-- COPY validates each row and ATTACH needs no scan. Returns its name in gold_stage (the leaf's name).
CREATE OR REPLACE FUNCTION gold.create_fact_stage(month_start date, batch date) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    leaf text := gold.fact_leaf(month_start, batch);
BEGIN
    EXECUTE format(
        'CREATE TABLE gold_stage.%I (LIKE gold.fact_transactions INCLUDING DEFAULTS, CONSTRAINT partition_bounds CHECK ('
        'transaction_date >= %L AND transaction_date < %L AND batch_date = %L))',
        leaf, month_start, (month_start + interval '1 month')::date, batch);
    RETURN leaf;
END $$;

-- Builds on `target` every index of gold.fact_transactions (the primary key as a constraint), read from the
-- catalog, so that ATTACH adopts them instead of building its own. Each is named after the target and the
-- parent's index (fact_transactions_2024_01_b20240131_customer_date): PostgreSQL's own names would be cut
-- at 63 characters and collide between the leaves of one month. The sorts get room for a 1M-row batch's
-- keys (the default 64MB, shared by the parallel workers, spills them to disk).
CREATE OR REPLACE FUNCTION gold.build_fact_indexes(target regclass) RETURNS void
LANGUAGE plpgsql SET maintenance_work_mem = '256MB' AS $$
DECLARE
    ddl text;
    target_name text := (SELECT relname FROM pg_class WHERE oid = target);
BEGIN
    FOR ddl IN
        SELECT CASE
            WHEN con.oid IS NOT NULL THEN format('ALTER TABLE %s ADD CONSTRAINT %I %s', target, named.index_name,
                                                 pg_get_constraintdef(con.oid))
            ELSE format('CREATE %sINDEX %I ON %s USING %I (%s)%s',
                        CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, named.index_name, target, am.amname,
                        (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, false), ', ' ORDER BY k)
                         FROM generate_series(1, i.indnkeyatts) AS k),
                        coalesce(' WHERE ' || pg_get_expr(i.indpred, i.indrelid), ''))
        END
        FROM pg_index AS i
        INNER JOIN pg_class AS idx ON i.indexrelid = idx.oid
        INNER JOIN pg_am AS am ON idx.relam = am.oid
        CROSS JOIN LATERAL (
            SELECT target_name || regexp_replace(idx.relname, '^fact_transactions', '') AS index_name
        ) AS named
        LEFT JOIN pg_constraint AS con ON i.indexrelid = con.conindid AND i.indrelid = con.conrelid
        WHERE i.indrelid = 'gold.fact_transactions'::regclass
        ORDER BY idx.relname
    LOOP
        EXECUTE ddl;
    END LOOP;
END $$;

-- The batch's current leaves and the staged ones that replace them, one row per month table touched,
-- in the order readers lock month tables (by bound, which is by name).
CREATE OR REPLACE FUNCTION gold.fact_batch_targets(batch date, months date[])
RETURNS TABLE (month_table regclass, old_leaf regclass, stage regclass)
LANGUAGE sql STABLE AS $$
    WITH old AS (
        SELECT leaf.inhparent AS month_table, leaf.inhrelid::regclass AS old_leaf
        FROM pg_inherits AS month
        INNER JOIN pg_inherits AS leaf ON month.inhrelid = leaf.inhparent
        INNER JOIN pg_class AS c ON leaf.inhrelid = c.oid
        WHERE month.inhparent = 'gold.fact_transactions'::regclass
          AND pg_get_expr(c.relpartbound, c.oid) = format('FOR VALUES IN (%L)', batch)
    ),

    staged AS (
        SELECT to_regclass(format('gold.%I', gold.fact_month_table(m))) AS month_table,
               to_regclass(format('gold_stage.%I', gold.fact_leaf(m, batch))) AS stage
        FROM unnest(months) AS m
    )

    SELECT coalesce(old.month_table, staged.month_table)::regclass AS month_table, old.old_leaf, staged.stage
    FROM old FULL OUTER JOIN staged ON old.month_table = staged.month_table
    ORDER BY coalesce(old.month_table, staged.month_table)::text
$$;

-- The exchange, at the end of the caller's transaction: per month table, the old leaf of the batch dropped
-- and the staged one attached under the leaf's name; leaves of months the delivery no longer touches dropped.
-- Each month table is locked first (ACCESS EXCLUSIVE, in readers' order) and held only until the commit
-- right after, so a reader waits a moment and sees the whole old batch or the whole new one. Returns the
-- rows replaced.
CREATE OR REPLACE FUNCTION gold.exchange_fact_batch(batch date, months date[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    target record;
    old_rows bigint;
    replaced bigint := 0;
BEGIN
    FOR target IN SELECT * FROM gold.fact_batch_targets(batch, months) WHERE old_leaf IS NOT NULL LOOP
        EXECUTE format('SELECT count(*) FROM %s', target.old_leaf) INTO old_rows;  -- before the month tables are locked
        replaced := replaced + old_rows;
    END LOOP;
    FOR target IN SELECT * FROM gold.fact_batch_targets(batch, months) LOOP
        EXECUTE format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', target.month_table);
        IF target.old_leaf IS NOT NULL THEN
            EXECUTE format('DROP TABLE %s', target.old_leaf);
        END IF;
        IF target.stage IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %s SET SCHEMA gold', target.stage);
            EXECUTE format('ALTER TABLE %s ATTACH PARTITION gold.%I FOR VALUES IN (%L)',
                           target.month_table, (SELECT relname FROM pg_class WHERE oid = target.stage), batch);
        END IF;
    END LOOP;
    RETURN replaced;
END $$;

-- Warehouses created before this layout (plain monthly leaves, primary key without batch_date) are
-- converted in place, in ensure_schema's transaction: the fact keeps its identity, so views on it stay.
DO $$
DECLARE
    month_leaf record;
    pair record;
    old_table text;
    stage text;
    moved text[] := '{}';
    pairs_month date[] := '{}';
    pairs_batch date[] := '{}';
    columns text;
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_constraint AS con
        INNER JOIN pg_attribute AS a ON con.conrelid = a.attrelid AND a.attnum = ANY(con.conkey)
        WHERE con.conrelid = 'gold.fact_transactions'::regclass AND con.contype = 'p' AND a.attname = 'batch_date'
    ) THEN
        RETURN;
    END IF;
    FOR month_leaf IN
        SELECT c.oid::regclass AS leaf, c.relname FROM pg_inherits AS i INNER JOIN pg_class AS c ON i.inhrelid = c.oid
        WHERE i.inhparent = 'gold.fact_transactions'::regclass AND c.relkind = 'r'
    LOOP
        EXECUTE format('ALTER TABLE gold.fact_transactions DETACH PARTITION %s', month_leaf.leaf);
        EXECUTE format('ALTER TABLE %s RENAME TO %I', month_leaf.leaf, month_leaf.relname || '_v1');
        moved := moved || format('gold.%I', month_leaf.relname || '_v1');
    END LOOP;
    DROP INDEX IF EXISTS gold.fact_transactions_customer, gold.fact_transactions_batch;
    EXECUTE (
        SELECT format('ALTER TABLE gold.fact_transactions DROP CONSTRAINT %I', conname) FROM pg_constraint
        WHERE conrelid = 'gold.fact_transactions'::regclass AND contype = 'p'
    );
    ALTER TABLE gold.fact_transactions ADD PRIMARY KEY (transaction_id, transaction_date, batch_date);
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns FROM pg_attribute
    WHERE attrelid = 'gold.fact_transactions'::regclass AND attnum > 0 AND NOT attisdropped;
    FOREACH old_table IN ARRAY moved LOOP
        FOR pair IN EXECUTE format(
            'SELECT DISTINCT date_trunc(''month'', transaction_date)::date AS m, batch_date AS b FROM %s', old_table)
        LOOP
            PERFORM gold.ensure_fact_partition(pair.m);
            stage := format('gold_stage.%I', gold.create_fact_stage(pair.m, pair.b));
            EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %s WHERE batch_date = %L',
                           stage, columns, columns, old_table, pair.b);
            PERFORM gold.build_fact_indexes(stage::regclass);
            pairs_month := pairs_month || pair.m;
            pairs_batch := pairs_batch || pair.b;
        END LOOP;
        EXECUTE format('DROP TABLE %s', old_table);
    END LOOP;
    FOR pair IN SELECT b, array_agg(m) AS ms FROM unnest(pairs_month, pairs_batch) AS p (m, b) GROUP BY b LOOP
        PERFORM gold.exchange_fact_batch(pair.b, pair.ms);
    END LOOP;
END $$;
