from __future__ import annotations

import subprocess
import sys

HEAVY = ("opentelemetry", "httpx", "openai", "langchain_core", "llama_index")


def test_import_spyglass_loads_no_tracer_or_framework_package_until_used() -> None:
    code = (
        "import sys, spyglass\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
        "spyglass.trace\n"
        "print('openai' in sys.modules, 'opentelemetry.sdk.trace' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["", "False True"]
