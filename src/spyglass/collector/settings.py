"""Server settings, validated once at startup."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from spyglass.collector.otlp import DEFAULT_MAX_BODY_BYTES
from spyglass.collector.pipeline import DEFAULT_MAX_BATCH_SPANS
from spyglass.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6006
DEFAULT_DATA_DIR = Path("~/.spyglass")
INGEST_MODES = ("auto", "native", "python")


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
        basic_auth_username, basic_auth_password: the admin account; setting them turns
            authentication on for every route (API keys, users and roles then apply).
        session_secret: signs browser sessions; replicas behind one address must share it.
        allow_public_without_auth: listen on a non-loopback address with auth off.
        artifacts_uri: where run and model artifacts go instead of ``<data_dir>/artifacts``
            (a path, or ``s3://bucket/prefix`` with the ``s3`` extra).
        redact_file, redact_defaults: redaction rules applied before storage
            (`spyglass.collector.redaction`).
        ingest: ``native`` (ClickHouse parses the OTLP protobuf; embedded store only, no
            redaction), ``python`` (`build_batch`), or ``auto`` (native where it applies).
    """

    store_url: str = ""
    data_dir: Path = DEFAULT_DATA_DIR
    database: str = "spyglass"
    cluster: str | None = None
    retention_days: int | None = None
    price_file: Path | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_queued_spans: int | None = None  # None: the ingest path's own default
    max_batch_spans: int = DEFAULT_MAX_BATCH_SPANS
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    basic_auth_username: str | None = None
    basic_auth_password: str | None = None
    session_secret: str | None = None
    allow_public_without_auth: bool = False
    redact_file: Path | None = None
    artifacts_uri: str = ""
    redact_defaults: bool = False
    ingest: str = "auto"

    def __post_init__(self) -> None:
        if self.ingest not in INGEST_MODES:
            raise ConfigError(f"ingest must be one of {', '.join(INGEST_MODES)}")
        if self.max_body_bytes < 1024:
            raise ConfigError("max_body_bytes must be at least 1024")
        if (self.max_queued_spans is not None and self.max_queued_spans < 1) or (
            self.max_batch_spans < 1
        ):
            raise ConfigError("queue and batch sizes must be positive")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is out of range")
        if (self.basic_auth_username is None) != (self.basic_auth_password is None):
            raise ConfigError("set both the basic-auth username and password, or neither")
        if self.basic_auth_password is not None and len(self.basic_auth_password) < 8:
            raise ConfigError("the basic-auth password needs at least 8 characters")
        if not self.loopback and not self.auth_enabled and not self.allow_public_without_auth:
            raise ConfigError(
                f"refusing to listen on {self.host} without authentication: set "
                "--basic-auth-username/--basic-auth-password, or pass --insecure-no-auth "
                "if something in front of Spyglass authenticates"
            )

    @property
    def auth_enabled(self) -> bool:
        return self.basic_auth_username is not None

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
