"""kill -9 at random moments under mixed load loses nothing that was acknowledged."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import ServerProcess
from tests.durability import kill9_cycles


def test_kill9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    cycles = int(os.environ.get("SPYGLASS_KILL9_CYCLES", "3"))
    try:
        history = kill9_cycles(server, cycles, seed=7)
    finally:
        server.stop()
    spans, metrics, registry = history[-1]
    # Each kind of write was acknowledged during the run, so the checks had something to check.
    assert spans > 0 and metrics > 0 and registry > 0, history
    assert len(history) == cycles
