"""Where the lake's bytes live, behind one interface: a local (or shared) directory, or an S3 bucket.

Each backend carries its half of the commit protocol (`publish`, `finish`), so the rest of the lake
never asks which one it has. pyarrow's filesystems move the bytes, so a pip-only install reaches S3;
Spark reaches an S3 lake only through its s3a connector (`spark_s3a`). Storage failures become one
error naming the bucket, the endpoint and the setting to fix, before anything is written.
"""

from __future__ import annotations

import json
import shutil
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.s3 import S3Resource

CREDENTIAL_SETTINGS = "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
COPY_CHUNK_BYTES = 8 << 20
COMMIT_FILE = "_committed.json"


class LakeStorageError(RuntimeError):
    """The lake's storage is missing, refuses our credentials, or cannot be reached."""


def copy_file(source_fs: pafs.FileSystem, source: str, target_fs: pafs.FileSystem, target: str) -> None:
    """Streams one file across filesystems; on S3 the object appears whole when the upload completes.

    Streams rather than pyarrow's copy_files, which also writes empty 'directory' marker objects to S3.
    """
    if isinstance(target_fs, pafs.LocalFileSystem):
        target_fs.create_dir(target.rsplit("/", 1)[0])
    # compression=None: pyarrow would otherwise (de)compress a `.gz` by its name, and the bytes must stay as delivered
    with (
        source_fs.open_input_stream(source, compression=None) as reader,
        target_fs.open_output_stream(target, compression=None) as writer,
    ):
        while chunk := reader.read(COPY_CHUNK_BYTES):
            writer.write(chunk)


def file_uri(path: str) -> str:
    """A local path as Spark should name it: explicit file://, whatever the cluster's default filesystem."""
    return f"file://{Path(path).resolve()}"  # not as_uri(): Spark would take its %-escapes (date%3D) literally


class Storage(ABC):
    """A pyarrow filesystem and the lake's root inside it ('/abs/dir' or 'bucket/prefix')."""

    fs: pafs.FileSystem

    def __init__(self, root: str):
        self.root = root.rstrip("/") or "/"

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    @property
    @abstractmethod
    def spark_reaches(self) -> bool:
        """Whether Spark (its executors included) reads and writes this storage itself."""

    @abstractmethod
    def spark_uri(self, path: str) -> str:
        """The path as Spark names it (only where `spark_reaches`)."""

    @abstractmethod
    def uri(self, path: str) -> str:
        """How a person (or the UI) should read a path: s3://bucket/key or the local path."""

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(path, compression=None) as handle:
            return handle.read()

    def read_json(self, path: str) -> dict | None:
        try:
            return json.loads(self.read_bytes(path))
        except FileNotFoundError:
            return None

    @abstractmethod
    def local_file(self, path: str, copy: Path) -> Path:
        """The file at `path` on this machine, for the driver to read: in place on a local storage, else
        downloaded to `copy` (once: an existing copy is reused, so `copy` must name the version)."""

    @abstractmethod
    def write_bytes(self, path: str, data: bytes) -> None:
        """Readers see the old content or the new, never a part."""

    @abstractmethod
    def create_dir(self, path: str) -> None: ...

    @abstractmethod
    def delete_files(self, paths: list[str]) -> None: ...

    @abstractmethod
    def remove_tree(self, path: str) -> None:
        """Deletes a directory and everything under it (nothing if it is missing)."""

    def list_dirs(self, path: str) -> list[pafs.FileInfo]:
        return [
            e
            for e in self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
            if e.type == pafs.FileType.Directory
        ]

    def list_files(self, path: str) -> list[pafs.FileInfo]:
        return [
            e
            for e in self.fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
            if e.type == pafs.FileType.File
        ]

    @abstractmethod
    def publish(self, journal_path: str, live: str, staged: Storage, staged_dir: str, manifest: dict) -> dict:
        """Makes `staged_dir` (data files, no manifest yet) the live version of `live`, the manifest last.
        Writes the journal that `finish` completes; returns it."""

    @abstractmethod
    def finish(self, journal: dict, journal_path: str) -> None:
        """Completes a journaled commit (or undoes one caught before its atomic step); idempotent."""


class LocalStorage(Storage):
    """A directory on this machine, or one every Spark executor mounts (NFS, a cluster's shared disk).

    Commit: journal {live, staged, retired}; rename live -> retired, staged -> live; drop retired, then the
    journal. A crash after the journal rolls forward."""

    fs = pafs.LocalFileSystem()
    spark_reaches = True

    def spark_uri(self, path: str) -> str:
        return file_uri(path)

    def uri(self, path: str) -> str:
        return path

    def local_file(self, path: str, copy: Path) -> Path:
        return Path(path)

    def write_bytes(self, path: str, data: bytes) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        partial.write_bytes(data)
        partial.replace(target)

    def create_dir(self, path: str) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    def delete_files(self, paths: list[str]) -> None:
        for path in paths:
            Path(path).unlink(missing_ok=True)

    def remove_tree(self, path: str) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def publish(self, journal_path: str, live: str, staged: Storage, staged_dir: str, manifest: dict) -> dict:
        """`staged_dir` lies in this lake's own staging area (Spark reaches a local lake), so the switch is a rename."""
        self.write_bytes(f"{staged_dir}/{COMMIT_FILE}", json.dumps(manifest).encode())
        journal = {
            "live": live,
            "staged": staged_dir,
            "retired": f"{journal_path.rsplit('/', 1)[0]}/retired-{uuid.uuid4().hex[:12]}",
        }
        self.write_bytes(journal_path, json.dumps(journal).encode())
        return journal

    def finish(self, journal: dict, journal_path: str) -> None:
        live, staged, retired = Path(journal["live"]), Path(journal["staged"]), Path(journal["retired"])
        if staged.exists():
            if live.exists():
                retired.parent.mkdir(parents=True, exist_ok=True)
                live.rename(retired)
            live.parent.mkdir(parents=True, exist_ok=True)
            staged.rename(live)
        shutil.rmtree(retired, ignore_errors=True)
        Path(journal_path).unlink(missing_ok=True)


class S3Storage(Storage):
    """An S3 bucket (AWS, MinIO). Commit: journal {live, files}; upload the new files beside the old ones;
    replace the manifest by one PUT (S3's atomic step); delete the files the manifest does not name, then
    the journal. Recovery deletes whichever version the manifest does not name."""

    def __init__(self, root: str, fs: pafs.S3FileSystem, client: Any, spark_s3a: bool):
        super().__init__(root)
        self.fs, self.client, self._spark_s3a = fs, client, spark_s3a

    @property
    def spark_reaches(self) -> bool:
        return self._spark_s3a

    def spark_uri(self, path: str) -> str:
        return f"s3a://{path}"

    def uri(self, path: str) -> str:
        return f"s3://{path}"

    def local_file(self, path: str, copy: Path) -> Path:
        if not copy.exists():
            copy.parent.mkdir(parents=True, exist_ok=True)
            partial = copy.with_name(f".{copy.name}.{uuid.uuid4().hex}")
            copy_file(self.fs, path, LocalStorage.fs, str(partial))
            partial.rename(copy)
        return copy

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.fs.open_output_stream(path, compression=None) as handle:  # one PUT
            handle.write(data)

    def create_dir(self, path: str) -> None:
        """S3 has no directories (and no empty 'directory' marker objects are wanted)."""

    def delete_files(self, paths: list[str]) -> None:
        """In one request per 1000 keys, and without pyarrow's leftover 'directory' marker objects."""
        if not paths:
            return
        bucket = paths[0].split("/", 1)[0]
        keys = [{"Key": p.split("/", 1)[1]} for p in paths]
        for start in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True})

    def remove_tree(self, path: str) -> None:
        entries = self.fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
        self.delete_files([e.path for e in entries if e.type == pafs.FileType.File])

    def publish(self, journal_path: str, live: str, staged: Storage, staged_dir: str, manifest: dict) -> dict:
        journal = {"live": live, "files": manifest["files"]}
        self.write_bytes(journal_path, json.dumps(journal).encode())
        for name in manifest["files"]:
            copy_file(staged.fs, f"{staged_dir}/{name}", self.fs, f"{live}/{name}")
        self.write_bytes(f"{live}/{COMMIT_FILE}", json.dumps(manifest).encode())
        return journal

    def finish(self, journal: dict, journal_path: str) -> None:
        live = journal["live"]
        manifest = self.read_json(f"{live}/{COMMIT_FILE}")
        keep = set(manifest["files"]) if manifest else set()
        stale = [i.path for i in self.list_files(live) if i.base_name not in keep and i.base_name != COMMIT_FILE]
        self.delete_files([*stale, journal_path])


def open_storage(base_uri: str, s3: S3Resource, spark_s3a: bool = False) -> Storage:
    """The storage behind BANKING_LAKE_URI; for s3:// it first proves the bucket is there and ours."""
    parsed = urlparse(base_uri)
    if parsed.scheme in ("s3", "s3a"):
        _check_bucket(parsed.netloc, base_uri, s3)
        fs = pafs.S3FileSystem(
            access_key=s3.aws_access_key_id,
            secret_key=s3.aws_secret_access_key,
            session_token=s3.aws_session_token,
            region=s3.region_name or "us-east-1",
            endpoint_override=s3.endpoint_url,
            allow_bucket_creation=False,
        )
        return S3Storage(f"{parsed.netloc}{parsed.path}", fs, s3.get_client(), spark_s3a)
    if parsed.scheme not in ("", "file"):
        raise LakeStorageError(
            f"BANKING_LAKE_URI={base_uri}: only a local directory or s3://bucket/prefix is supported"
        )
    return LocalStorage(parsed.path if parsed.scheme == "file" else base_uri)


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
