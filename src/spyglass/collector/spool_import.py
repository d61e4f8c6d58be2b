"""Import the tracer's on-disk spool into the store.

A tracer that could not reach the server leaves OTLP protobuf export bodies under
``<spool_dir>/<quoted project>/*.otlp`` (see `spyglass.tracer._spool`). The server calls
`import_spool` at start and periodically: each file is claimed (atomic rename, so a tracer
retrying the same file and the server never both deliver it), handed to ``submit``, and
deleted only after ``submit`` returns, i.e. once its spans are durable. A file ``submit``
rejects as malformed is renamed ``*.bad`` and skipped from then on; any other failure puts the
file back and stops the pass (the store is unavailable; try again next time).

Wiring in the app lifespan (blocking I/O, so in a thread)::

    submit = ingest_submitter(services.ingest)
    spool_dir = settings.data_dir / "spool"
    task = asyncio.create_task(run_spool_import(spool_dir, submit))   # first pass at once
    ...
    task.cancel()
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from spyglass.collector.ingest import Ingest
from spyglass.collector.otlp import PROTOBUF, decode_export_request
from spyglass.errors import BadRequestError

__all__ = [
    "DEFAULT_INTERVAL_S",
    "ImportResult",
    "SubmitFn",
    "import_spool",
    "ingest_submitter",
    "run_spool_import",
]

log = logging.getLogger("spyglass.server")

DEFAULT_INTERVAL_S = 10.0
READY_SUFFIX = ".otlp"
CLAIMED_SUFFIX = ".claimed"
BAD_SUFFIX = ".bad"

SubmitFn = Callable[[bytes, str], None]
"""``submit(body, project)``: store one OTLP protobuf export body for ``project``; return only
once it is durable. Raise `BadRequestError` for a body that can never be stored."""


@dataclass
class ImportResult:
    """What one pass did."""

    files: int = 0
    bytes: int = 0
    bad_files: int = 0
    complete: bool = True  # False when a failure stopped the pass early


def import_spool(spool_dir: Path, submit: SubmitFn) -> ImportResult:
    """Deliver every ready spool file under ``spool_dir`` through ``submit``, oldest first.

    Never raises for file-system races or a failing ``submit``; see the module docstring.
    """
    result = ImportResult()
    try:
        projects = sorted(p for p in spool_dir.iterdir() if p.is_dir())
    except OSError:
        return result
    for project_dir in projects:
        project = unquote(project_dir.name)
        try:
            names = sorted(
                n
                for n in os.listdir(project_dir)
                if n.endswith(READY_SUFFIX) and not n.startswith(".")
            )
        except OSError:
            continue
        for name in names:
            path = project_dir / name
            claimed = path.with_suffix(CLAIMED_SUFFIX)
            try:
                os.rename(path, claimed)
                body = claimed.read_bytes()
            except OSError:
                continue  # taken by a tracer retrying it
            try:
                submit(body, project)
            except BadRequestError as exc:
                log.warning("spool file %s is malformed (%s); kept as %s", path, exc, BAD_SUFFIX)
                _rename(claimed, path.with_suffix(BAD_SUFFIX))
                result.bad_files += 1
                continue
            except Exception:
                log.warning("spool import stopped: the store did not take %s", path, exc_info=True)
                _rename(claimed, path)
                result.complete = False
                return result
            try:
                claimed.unlink()
            except OSError:
                pass
            result.files += 1
            result.bytes += len(body)
    if result.files:
        log.info("imported %d spooled batches (%d bytes)", result.files, result.bytes)
    return result


def _rename(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except OSError:
        pass


def ingest_submitter(ingest: Ingest) -> SubmitFn:
    """A `SubmitFn` that stores through the server's ingest path (returns once durable)."""

    def submit(body: bytes, project: str) -> None:
        ingest.accept(decode_export_request(body, PROTOBUF), body, project).done.result()

    return submit


async def run_spool_import(
    spool_dir: Path, submit: SubmitFn, interval_s: float = DEFAULT_INTERVAL_S
) -> None:
    """Import now, then every ``interval_s`` seconds until cancelled (runs in a thread)."""
    while True:
        try:
            await asyncio.to_thread(import_spool, spool_dir, submit)
        except Exception:
            log.exception("spool import failed")
        await asyncio.sleep(interval_s)
