"""Test-only launcher: a Spyglass server whose artifacts live at an ``s3://`` URI.

``python -m tests.tracking.s3_server PORT DATA_DIR ARTIFACTS_URI``. The tracking lifespan reads
``settings.artifacts_uri``; until ``ServerSettings`` and the CLI carry that field, this launcher
adds it to the settings it builds.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from spyglass.collector.app import create_app
from spyglass.collector.settings import ServerSettings


@dataclass(frozen=True)
class ArtifactSettings(ServerSettings):
    artifacts_uri: str = ""


def main() -> None:
    port, data_dir, uri = sys.argv[1:4]
    settings = ArtifactSettings(data_dir=Path(data_dir), port=int(port), artifacts_uri=uri)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=int(port), log_level="warning")


if __name__ == "__main__":
    main()
