from __future__ import annotations

import subprocess
import sys

SERVER_SIDE = ("fastapi", "uvicorn", "clickhouse_connect", "chdb", "starlette", "orjson", "typer")


def test_import_spyglass_loads_no_server_side_package() -> None:
    code = (
        "import sys, spyglass\n"
        f"loaded = [m for m in {SERVER_SIDE!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
