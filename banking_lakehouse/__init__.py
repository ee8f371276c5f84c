"""banking_lakehouse: a Dagster lakehouse for banking transactions."""

import os

# SPARK_LOCAL_IP as the environment gave it, before any library changed it: pandera sets it to 127.0.0.1
# on import when unset, which would bind a cluster driver where no executor can reach it.
USER_SPARK_LOCAL_IP = os.environ.get("SPARK_LOCAL_IP")
