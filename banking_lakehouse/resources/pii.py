"""The key for tokenising PII in gold; it comes from BANKING_PII_KEY and is never logged."""

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field

DEV_ONLY_KEY = "banking-lakehouse-dev-only-key"


class PiiKeyResource(ConfigurableResource):
    key: str = Field(default=DEV_ONLY_KEY, description="keyed-hash secret; set BANKING_PII_KEY outside a laptop")
    deployment: str = Field(default="local", description="where this runs (BANKING_DEPLOYMENT): local, docker, cluster")

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Outside a laptop the published dev key would make every token reversible by anyone: refuse it."""
        if self.key == DEV_ONLY_KEY and self.deployment != "local":
            raise ValueError(
                f"BANKING_DEPLOYMENT={self.deployment}: the development PII key is refused outside a local "
                "deployment; set BANKING_PII_KEY to a secret of your own"
            )
