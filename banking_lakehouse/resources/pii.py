"""The key for tokenising PII in gold; it comes from BANKING_PII_KEY and is never logged."""

from dagster import ConfigurableResource
from pydantic import Field

DEV_ONLY_KEY = "banking-lakehouse-dev-only-key"


class PiiKeyResource(ConfigurableResource):
    key: str = Field(default=DEV_ONLY_KEY, description="keyed-hash secret; set BANKING_PII_KEY outside a laptop")
