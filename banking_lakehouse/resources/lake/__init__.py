"""The lake, in small parts: `storage` (local or S3 backends), `commit` (staging areas, journaled
commits, recovery), `tables` (partitioned Parquet tables), `raw_zone` (delivered files), `resource`
(LakeResource, the handle assets use) and `io_manager` (DataFrames in and out)."""

from banking_lakehouse.resources.lake.commit import STAGING
from banking_lakehouse.resources.lake.io_manager import LakeIOManager, markdown_table
from banking_lakehouse.resources.lake.resource import LakeResource
from banking_lakehouse.resources.lake.storage import COMMIT_FILE, LakeStorageError
from banking_lakehouse.resources.lake.tables import CURRENT, LAYOUT, LakePartitionMissing, LakeWriteError

__all__ = [
    "COMMIT_FILE",
    "CURRENT",
    "LAYOUT",
    "STAGING",
    "LakeIOManager",
    "LakePartitionMissing",
    "LakeResource",
    "LakeStorageError",
    "LakeWriteError",
    "markdown_table",
]
