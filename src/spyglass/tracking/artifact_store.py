"""Where proxied artifacts live: a local directory (default) or an S3-compatible bucket.

Every artifact route speaks to one `ArtifactStore` by relative POSIX path (``<experiment>/<run>/
artifacts/model/MLmodel``); `check_path` refuses anything that could leave the root. The S3 store
uses boto3 (the optional ``spyglass[s3]`` extra), which reads credentials, region and endpoint
(``AWS_ENDPOINT_URL_S3`` for MinIO and the like) from the usual AWS variables and files.

Stores block: routes call them through a thread pool.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol
from urllib.parse import urlparse

from spyglass.tracking.errors import MlflowError

CHUNK_BYTES = 1 << 20
FileInfo = dict[str, Any]  # MLflow's FileInfo JSON: path, is_dir, file_size


def check_path(path: str) -> str:
    """``path`` normalized (no leading/trailing ``/``) if it is a safe relative path."""
    pure = PurePosixPath(path)
    if "\\" in path or "\x00" in path or pure.is_absolute() or ".." in pure.parts:
        raise MlflowError.invalid(f"Invalid path: {path!r}")
    return "/".join(p for p in pure.parts if p != ".")


class ArtifactStore(Protocol):
    """Files under one root, addressed by relative POSIX paths."""

    def list_dir(self, path: str) -> list[FileInfo]:
        """Entries directly under ``path`` (names only, sorted); empty if there is none."""
        ...

    def read(self, path: str) -> Iterator[bytes] | None:
        """The file's bytes in chunks, or None if ``path`` is not a file."""
        ...

    def write(self, path: str, data: IO[bytes]) -> None:
        """Store ``data`` (a file object at position 0) at ``path``, replacing any file."""
        ...

    def delete(self, path: str) -> None:
        """Remove the file or everything under the directory ``path``; no error if absent."""
        ...


@contextmanager
def _os_errors(path: str) -> Iterator[None]:
    """OS errors caused by the path itself (too long, a file where a folder must be) → 400."""
    try:
        yield
    except MlflowError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS):
            raise MlflowError(
                f"Artifact storage failed: {exc}", "TEMPORARILY_UNAVAILABLE"
            ) from None
        raise MlflowError.invalid(f"Invalid artifact path {path!r}: {exc.strerror}") from None


class LocalArtifactStore:
    """Artifacts in a local directory (``<data_dir>/artifacts`` unless configured)."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    def _target(self, path: str) -> Path:
        rel = check_path(path)
        target = self.root.joinpath(*rel.split("/")) if rel else self.root
        if not target.resolve().is_relative_to(self.root):  # a symlink pointing out
            raise MlflowError.invalid(f"Invalid path: {path!r}")
        return target

    def list_dir(self, path: str) -> list[FileInfo]:
        with _os_errors(path):
            return self._list_dir(path)

    def _list_dir(self, path: str) -> list[FileInfo]:
        target = self._target(path)
        if not target.is_dir():
            return []
        files: list[FileInfo] = []
        for entry in sorted(target.iterdir(), key=lambda p: p.name):
            if entry.name.startswith(".upload-"):
                continue
            if entry.is_dir():
                files.append({"path": entry.name, "is_dir": True})
            else:
                files.append(
                    {"path": entry.name, "is_dir": False, "file_size": entry.stat().st_size}
                )
        return files

    def read(self, path: str) -> Iterator[bytes] | None:
        with _os_errors(path):
            target = self._target(path)
            return self._chunks(target) if target.is_file() else None

    @staticmethod
    def _chunks(target: Path) -> Iterator[bytes]:
        with target.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk

    def write(self, path: str, data: IO[bytes]) -> None:
        with _os_errors(path):
            self._write(path, data)

    def _write(self, path: str, data: IO[bytes]) -> None:
        target = self._target(path)
        if target.is_dir() or not check_path(path):
            raise MlflowError.invalid(f"Artifact path '{path}' is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(data, out, CHUNK_BYTES)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def delete(self, path: str) -> None:
        with _os_errors(path):
            self._delete(path)

    def _delete(self, path: str) -> None:
        target = self._target(path)
        if target == self.root:
            raise MlflowError.invalid("Refusing to delete the artifact root")
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


class S3ArtifactStore:
    """Artifacts in an S3-compatible bucket under a key prefix.

    Args:
        bucket: the bucket name.
        prefix: key prefix (no leading or trailing ``/``), may be empty.
        client: a boto3 S3 client (typed loosely: a third-party object).
    """

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket, self.prefix, self.client = bucket, prefix.strip("/"), client

    def _key(self, path: str) -> str:
        rel = check_path(path)
        return "/".join(p for p in (self.prefix, rel) if p)

    def _unavailable(self, exc: Exception) -> MlflowError:
        return MlflowError(f"Artifact storage failed: {exc}", "TEMPORARILY_UNAVAILABLE")

    def list_dir(self, path: str) -> list[FileInfo]:
        base = self._key(path)
        base = f"{base}/" if base else ""
        files: list[FileInfo] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, Delimiter="/"
            )
            for page in pages:
                for d in page.get("CommonPrefixes", []):
                    files.append({"path": d["Prefix"][len(base) :].rstrip("/"), "is_dir": True})
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(base) :]
                    if name:
                        files.append({"path": name, "is_dir": False, "file_size": obj["Size"]})
        except Exception as exc:  # botocore's errors: no stable base class to name here
            raise self._unavailable(exc) from None
        return sorted(files, key=lambda f: str(f["path"]))

    def read(self, path: str) -> Iterator[bytes] | None:
        key = self._key(path)
        if not key:
            return None
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except self.client.exceptions.NoSuchKey:
            return None
        except Exception as exc:
            raise self._unavailable(exc) from None
        return self._chunks(body)

    @staticmethod
    def _chunks(body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()

    def write(self, path: str, data: IO[bytes]) -> None:
        key = self._key(path)
        if not check_path(path):
            raise MlflowError.invalid("Artifact path is empty")
        try:
            self.client.upload_fileobj(data, self.bucket, key)
        except Exception as exc:
            raise self._unavailable(exc) from None

    def delete(self, path: str) -> None:
        key = self._key(path)
        if not check_path(path):
            raise MlflowError.invalid("Refusing to delete the artifact root")
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{key}/"
            )
            for page in pages:
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        except Exception as exc:
            raise self._unavailable(exc) from None


def open_artifact_store(uri: str, default_root: Path) -> ArtifactStore:
    """The store for ``--artifacts-uri``: empty → ``default_root``; a path or ``file://`` URI;
    or ``s3://bucket/prefix`` (needs boto3). Raises ``ValueError`` for anything else."""
    if not uri:
        return LocalArtifactStore(default_root)
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"artifacts URI {uri!r} names no bucket")
        try:
            import boto3
        except ImportError:
            raise ValueError("s3:// artifacts need boto3: pip install 'spyglass[s3]'") from None
        return S3ArtifactStore(parsed.netloc, parsed.path, boto3.client("s3"))
    if parsed.scheme == "file":
        return LocalArtifactStore(Path(parsed.path))
    if parsed.scheme == "":
        return LocalArtifactStore(Path(uri).expanduser())
    raise ValueError(f"unsupported artifacts URI {uri!r}: use a path, file:// or s3://")
