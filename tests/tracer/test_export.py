"""Loss-free export: bursts, outages, slow endpoints, the spool and its import."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import spyglass
from spyglass.collector.spool_import import import_spool
from spyglass.errors import BadRequestError
from spyglass.tracer._spool import Spool
from tests.tracer.otlp_stub import OtlpStub, count_spans


@pytest.fixture
def stub() -> Iterator[OtlpStub]:
    s = OtlpStub()
    s.start()
    yield s
    s.stop()


def wait_for(predicate: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def emit(n: int, name: str = "s") -> None:
    tracer = spyglass.tracer._setup.current()[1]
    for _ in range(n):
        tracer.start_span(name).end()


def test_a_20k_span_burst_loses_nothing(stub: OtlpStub, tmp_path: Path) -> None:
    spyglass.configure(tracking_uri=stub.url, project="burst", spool_dir=tmp_path)
    try:
        emit(20_000)
        assert spyglass.flush(60)
        assert len(set(stub.span_ids)) == 20_000
        assert stub.projects == {"burst"}
    finally:
        spyglass.shutdown()


def test_an_outage_spools_to_disk_and_delivers_after_recovery(
    stub: OtlpStub, tmp_path: Path
) -> None:
    spyglass.configure(tracking_uri=stub.url, project="p", spool_dir=tmp_path)
    try:
        stub.mode = "503"
        started = time.perf_counter()
        emit(3_000)
        assert time.perf_counter() - started < 2.0  # the app never waited on the network
        assert spyglass.flush(30)
        spool = Spool(tmp_path / "p", 10**9)
        assert spool.ready()
        assert stub.span_ids == []
        stub.mode = "ok"
        emit(10)
        assert wait_for(lambda: len(set(stub.span_ids)) == 3_010), len(stub.span_ids)
        assert wait_for(lambda: spool.ready() == [])
    finally:
        spyglass.shutdown()


def test_a_stalled_endpoint_never_blocks_the_app(stub: OtlpStub, tmp_path: Path) -> None:
    spyglass.configure(tracking_uri=stub.url, project="p", spool_dir=tmp_path, timeout_s=0.5)
    try:
        stub.mode = "stall"
        started = time.perf_counter()
        for _ in range(5):
            emit(100)
            spyglass.flush(0.001)
        assert time.perf_counter() - started < 1.0
    finally:
        spyglass.shutdown()
    stub.mode = "ok"
    ids = [i for p in Spool(tmp_path / "p", 10**9).ready() for i in count_spans(p.read_bytes())]
    assert len(set(ids)) + len(set(stub.span_ids)) >= 500


def test_a_script_run_without_a_server_spools_everything_at_exit(tmp_path: Path) -> None:
    script = (
        "import spyglass\n"
        "spyglass.configure(tracking_uri='http://127.0.0.1:9', project='offline')\n"
        "for i in range(250):\n"
        "    with spyglass.start_span(f'step-{i}'):\n"
        "        pass\n"
    )
    env = {**os.environ, "SPYGLASS_SPOOL_DIR": str(tmp_path)}
    env.pop("PYTEST_VERSION", None)
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    files = Spool(tmp_path / "offline", 10**9).ready()
    assert sum(len(count_spans(f.read_bytes())) for f in files) == 250


def test_the_spool_is_bounded_and_drops_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=250)
    for i in range(5):
        spool.write(bytes([i]) * 100)
    kept = [p.read_bytes()[0] for p in spool.ready()]
    assert kept == [3, 4]
    assert spool.dropped_files == 3
    assert spool.write(b"x" * 300) is None


def test_import_spool_submits_each_file_once_and_deletes_it(tmp_path: Path) -> None:
    for project in ("a", "b/c"):
        from urllib.parse import quote

        spool = Spool(tmp_path / quote(project, safe=""), 10**9)
        spool.write(b"one-" + project.encode())
        spool.write(b"two-" + project.encode())
    received: list[tuple[bytes, str]] = []
    result = import_spool(tmp_path, lambda body, project: received.append((body, project)))
    assert result.files == 4 and result.complete
    assert received == [(b"one-a", "a"), (b"two-a", "a"), (b"one-b/c", "b/c"), (b"two-b/c", "b/c")]
    assert import_spool(tmp_path, lambda body, p: received.append((body, p))).files == 0


def test_import_spool_keeps_files_when_the_store_fails_and_sets_bad_ones_aside(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "p", 10**9)
    spool.write(b"bad")
    spool.write(b"good")

    def failing(body: bytes, _project: str) -> None:
        if body == b"bad":
            raise BadRequestError("does not parse")
        raise RuntimeError("store down")

    result = import_spool(tmp_path, failing)
    assert not result.complete and result.bad_files == 1
    assert [p.read_bytes() for p in spool.ready()] == [b"good"]
    assert len(list((tmp_path / "p").glob("*.bad"))) == 1
