-- Quarantined rows of one batch by entity and reason.
SELECT entity, reason, count(*) AS quarantined_rows FROM quality.quarantine
WHERE batch_date = %(batch_date)s GROUP BY entity, reason ORDER BY entity, reason;
