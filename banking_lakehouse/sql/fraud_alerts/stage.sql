-- A micro-batch's alerts are copied here first (private to the session, gone at commit).
CREATE TEMPORARY TABLE fraud_alerts_stage (
    LIKE gold.fraud_alerts INCLUDING DEFAULTS
) ON COMMIT DROP;
