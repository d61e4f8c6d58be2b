"""Server settings, validated once at startup."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from spyglass.collector.otlp import DEFAULT_MAX_BODY_BYTES
from spyglass.collector.pipeline import DEFAULT_MAX_BATCH_SPANS, DEFAULT_MAX_QUEUED_SPANS
from spyglass.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6006
DEFAULT_DATA_DIR = Path("~/.spyglass")


@dataclass(frozen=True)
class ServerSettings:
    """Everything `create_app` needs. The CLI builds it from flags and ``SPYGLASS_*`` variables.

    Attributes:
        store_url: ``chdb:///abs/path`` (embedded) or ``http(s)://host:8123``; empty means the
            embedded store under ``data_dir``.
        data_dir: home of the embedded store (``<data_dir>/data``).
        database: ClickHouse database for every Spyglass table.
        cluster: ClickHouse cluster name (Replicated engines, ON CLUSTER DDL) or None.
        retention_days: drop data older than this (whole partitions), None keeps everything.
        price_file: JSON price table merged over the shipped one.
    """

    store_url: str = ""
    data_dir: Path = DEFAULT_DATA_DIR
    database: str = "spyglass"
    cluster: str | None = None
    retention_days: int | None = None
    price_file: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_queued_spans: int = DEFAULT_MAX_QUEUED_SPANS
    max_batch_spans: int = DEFAULT_MAX_BATCH_SPANS
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1024:
            raise ConfigError("max_body_bytes must be at least 1024")
        if self.max_queued_spans < 1 or self.max_batch_spans < 1:
            raise ConfigError("queue and batch sizes must be positive")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range")

    @property
    def resolved_store_url(self) -> str:
        if self.store_url:
            return self.store_url
        return f"chdb://{(self.data_dir.expanduser() / 'data').resolve()}"

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"
