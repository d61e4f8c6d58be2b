"""Schemathesis against the running server's OpenAPI schema: every documented operation gets
generated and boundary inputs, and none may answer with a server error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ServerProcess


def test_no_operation_answers_a_server_error(server: ServerProcess, tmp_path: Path) -> None:
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [str(st), "run", f"{server.url}/openapi.json", "--checks", "not_a_server_error",
         "--max-examples", "15", "--phases", "examples,coverage,fuzzing", "--seed", "20261127",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "generated" in output and " passed" in output, output[-2000:]
    assert server.healthy()
