"""Which ingest path the server takes, and the combinations it refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spyglass.collector.app import check_settings, ingest_mode
from spyglass.collector.settings import ServerSettings
from spyglass.errors import ConfigError


def test_an_unknown_ingest_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="ingest must be one of auto, native, python"):
        ServerSettings(ingest="fast")


def test_native_ingest_needs_the_embedded_store() -> None:
    settings = ServerSettings(store_url="http://clickhouse:8123", ingest="native")
    with pytest.raises(ConfigError, match="needs the embedded store"):
        check_settings(settings)


def test_native_ingest_cannot_redact(tmp_path: Path) -> None:
    settings = ServerSettings(data_dir=tmp_path, redact_defaults=True, ingest="native")
    with pytest.raises(ConfigError, match="cannot apply redaction rules"):
        check_settings(settings)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "native"),
        ({"ingest": "python"}, "python"),
        ({"redact_defaults": True}, "python"),  # redaction rules run in Python
        ({"store_url": "http://clickhouse:8123"}, "python"),  # its INSERT reads no local file
    ],
)
def test_auto_takes_the_native_path_where_it_applies(
    tmp_path: Path, options: dict[str, Any], expected: str
) -> None:
    settings = ServerSettings(data_dir=tmp_path, **options)
    url, _, _, redactor = check_settings(settings)
    assert ingest_mode(settings, url, redactor) == expected
