"""Where the lake's bytes live: a local directory or an S3 bucket (AWS, MinIO), behind one pyarrow filesystem.

The lake never needs Spark's s3a connector: pyarrow's S3 filesystem moves the bytes, so a pip-only
install reaches S3. Storage failures are turned into one error that names the bucket, the endpoint
and the setting to fix, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.s3 import S3Resource

CREDENTIAL_SETTINGS = "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
COPY_CHUNK_BYTES = 8 << 20


class LakeStorageError(RuntimeError):
    """The lake's storage is missing, refuses our credentials, or cannot be reached."""


@dataclass(frozen=True)
class Storage:
    """A pyarrow filesystem and the lake's root inside it ('/abs/dir' or 'bucket/prefix')."""

    fs: pafs.FileSystem
    root: str
    is_s3: bool
    client: Any = None  # boto3 S3 client of an S3 lake

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def spark_uri(self, path: str) -> str:
        """The path as Spark's s3a connector (or the local filesystem) names it."""
        return f"s3a://{path}" if self.is_s3 else path

    def uri(self, path: str) -> str:
        """How a person (or the UI) should read a path: s3://bucket/key or the local path."""
        return f"s3://{path}" if self.is_s3 else path

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(path) as handle:
            return handle.read()

    def write_bytes(self, path: str, data: bytes) -> None:
        """One PUT on S3 (atomic: readers see the old object or the new one)."""
        with self.fs.open_output_stream(path) as handle:
            handle.write(data)

    def delete_files(self, paths: list[str]) -> None:
        """Deletes files; on S3 in one request, and without the empty 'directory' marker objects
        pyarrow leaves behind when a prefix's last object goes."""
        if not paths:
            return
        if not self.is_s3:
            for path in paths:
                self.fs.delete_file(path)
            return
        bucket = paths[0].split("/", 1)[0]
        keys = [{"Key": p.split("/", 1)[1]} for p in paths]
        for start in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys[start:start + 1000], "Quiet": True})


def copy_file(source_fs: pafs.FileSystem, source: str, target_fs: pafs.FileSystem, target: str) -> None:
    """Streams one file across filesystems; on S3 the object appears whole when the upload completes.

    Streams rather than pyarrow's copy_files, which also writes empty 'directory' marker objects to S3.
    """
    if isinstance(target_fs, pafs.LocalFileSystem):
        target_fs.create_dir(target.rsplit("/", 1)[0])
    with source_fs.open_input_stream(source) as reader, target_fs.open_output_stream(target) as writer:
        while chunk := reader.read(COPY_CHUNK_BYTES):
            writer.write(chunk)


def open_storage(base_uri: str, s3: S3Resource) -> Storage:
    """The storage behind BANKING_LAKE_URI; for s3:// it first proves the bucket is there and ours."""
    parsed = urlparse(base_uri)
    if parsed.scheme in ("s3", "s3a"):
        root = f"{parsed.netloc}{parsed.path}".rstrip("/")
        _check_bucket(parsed.netloc, base_uri, s3)
        fs = pafs.S3FileSystem(
            access_key=s3.aws_access_key_id,
            secret_key=s3.aws_secret_access_key,
            session_token=s3.aws_session_token,
            region=s3.region_name or "us-east-1",
            endpoint_override=s3.endpoint_url,
            allow_bucket_creation=False,
        )
        return Storage(fs, root, is_s3=True, client=s3.get_client())
    if parsed.scheme not in ("", "file"):
        raise LakeStorageError(f"BANKING_LAKE_URI={base_uri}: only a local directory or s3://bucket/prefix is supported")
    return Storage(pafs.LocalFileSystem(), parsed.path if parsed.scheme == "file" else base_uri, is_s3=False)


def _check_bucket(bucket: str, base_uri: str, s3: S3Resource) -> None:
    endpoint = s3.endpoint_url or "AWS S3"
    try:
        s3.get_client().head_bucket(Bucket=bucket)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket"):
            raise LakeStorageError(
                f"S3 bucket '{bucket}' does not exist at {endpoint} (BANKING_LAKE_URI={base_uri}): create it first"
            ) from None
        if code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
            raise LakeStorageError(
                f"{endpoint} refused access to S3 bucket '{bucket}' (BANKING_LAKE_URI={base_uri}): "
                f"check the credentials in {CREDENTIAL_SETTINGS}"
            ) from None
        raise LakeStorageError(f"S3 bucket '{bucket}' at {endpoint}: {error}") from None
    except BotoCoreError as error:
        raise LakeStorageError(
            f"cannot reach S3 at {endpoint} for bucket '{bucket}' (BANKING_S3_ENDPOINT_URL): {error}"
        ) from None
