"""Freshness: every warehouse table must have loaded a batch within the last day (Dagster's time-window
FreshnessPolicy, evaluated by Dagster itself: WARN after 26 hours, FAIL after 30)."""

import datetime as dt

from dagster import FreshnessPolicy

WAREHOUSE_FRESHNESS = FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=30), warn_window=dt.timedelta(hours=26)
)
