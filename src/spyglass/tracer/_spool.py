"""A bounded on-disk queue of OTLP protobuf export bodies, shared by processes.

Layout: one directory per project; each ready file is one complete
``ExportTraceServiceRequest`` named ``<time_ns>-<pid>-<seq>.otlp`` so names sort oldest
first. A file appears only complete (written to a dot-file, fsynced, then renamed), so a crash
leaves at worst a stray temp file, which is removed once stale. A reader takes a file by
renaming it to ``.claimed`` (atomic, so two readers never deliver the same file); a claim
older than `STALE_CLAIM_S` (its owner died) is taken back. The spool is bounded in bytes:
writing past the bound drops the oldest ready files first, and counts what it dropped.

The tracer writes and retries here; the server imports the same layout at start and
periodically (`spyglass.collector.spool_import`). Neither side imports the other.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from pathlib import Path

__all__ = ["CLAIMED_SUFFIX", "READY_SUFFIX", "STALE_CLAIM_S", "Spool"]

READY_SUFFIX = ".otlp"
CLAIMED_SUFFIX = ".claimed"
STALE_CLAIM_S = 300.0
_TMP_PREFIX = ".tmp-"

log = logging.getLogger("spyglass.tracer")
_seq = itertools.count()


class Spool:
    """One project's spool directory. Methods never raise `OSError` for a lost race."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.dropped_files = 0
        self.dropped_bytes = 0

    def write(self, body: bytes) -> Path | None:
        """Store ``body`` durably; return its path, or None if it cannot fit at all.

        Raises:
            OSError: the directory cannot be created or written.
        """
        if len(body) > self.max_bytes:
            self.dropped_files += 1
            self.dropped_bytes += len(body)
            log.warning("spool: a %d-byte batch exceeds the spool bound; dropped", len(body))
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._make_room(len(body))
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(_seq):08d}{READY_SUFFIX}"
        tmp = self.directory / (_TMP_PREFIX + name)
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        final = self.directory / name
        os.replace(tmp, final)
        return final

    def ready(self) -> list[Path]:
        """Ready files, oldest first (stale claims are returned to ready first)."""
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        now = time.time()
        out: list[str] = []
        for entry in entries:
            name = entry.name
            if name.endswith(READY_SUFFIX) and not name.startswith(_TMP_PREFIX):
                out.append(name)
            elif name.endswith(CLAIMED_SUFFIX) or name.startswith(_TMP_PREFIX):
                try:
                    stale = now - entry.stat().st_mtime > STALE_CLAIM_S
                except OSError:
                    continue
                if stale and name.endswith(CLAIMED_SUFFIX):
                    ready = name[: -len(CLAIMED_SUFFIX)] + READY_SUFFIX
                    if _rename(Path(entry.path), self.directory / ready):
                        out.append(ready)
                elif stale:
                    _unlink(Path(entry.path))
        out.sort()
        return [self.directory / name for name in out]

    def claim(self, path: Path) -> Path | None:
        """Take ``path`` for delivery; None if another reader took it first."""
        return claim(path)

    def release(self, claimed: Path) -> None:
        """Put a claimed file back (delivery failed; retry later)."""
        _rename(claimed, claimed.with_suffix(READY_SUFFIX))

    def size(self) -> int:
        """Bytes held by ready and claimed files."""
        total = 0
        try:
            for entry in os.scandir(self.directory):
                if entry.name.endswith((READY_SUFFIX, CLAIMED_SUFFIX)):
                    try:
                        total += entry.stat().st_size
                    except OSError:
                        pass
        except FileNotFoundError:
            pass
        return total

    def _make_room(self, incoming: int) -> None:
        excess = self.size() + incoming - self.max_bytes
        if excess <= 0:
            return
        for path in self.ready():
            try:
                size = path.stat().st_size
                path.unlink()
            except OSError:
                continue
            self.dropped_files += 1
            self.dropped_bytes += size
            excess -= size
            if excess <= 0:
                break
        log.warning(
            "spool %s is full (%d bytes): dropped %d oldest files so far",
            self.directory,
            self.max_bytes,
            self.dropped_files,
        )


def claim(path: Path) -> Path | None:
    """Rename a ready file to its claimed name (touching it); None if it is gone."""
    claimed = path.with_suffix(CLAIMED_SUFFIX)
    if not _rename(path, claimed):
        return None
    try:
        os.utime(claimed)
    except OSError:
        pass
    return claimed


def _rename(src: Path, dst: Path) -> bool:
    try:
        os.rename(src, dst)
        return True
    except OSError:
        return False


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
