"""Tracer configuration: explicit arguments first, then environment variables, then defaults.

This is the only tracer module that reads the environment. Spyglass variables:

``SPYGLASS_TRACKING_URI``      server base URL (``/v1/traces`` is appended)
``SPYGLASS_PROJECT``           project the traces belong to (default ``default``)
``SPYGLASS_CAPTURE_CONTENT``   ``false`` records no prompts, completions, inputs or outputs
``SPYGLASS_SAMPLE_RATE``       fraction of traces kept, 0.0-1.0
``SPYGLASS_SPOOL_DIR``         where undeliverable batches wait (default ``~/.spyglass/spool``)
``SPYGLASS_SPOOL_MAX_BYTES``   bound of the spool (oldest files are dropped past it)
``SPYGLASS_TRACING_DISABLED``  ``true`` turns the tracer into a no-op

Standard OTel variables honoured: ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``, ``..._HEADERS``,
``..._TIMEOUT`` (ms), ``..._COMPRESSION``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER[_ARG]`` (when no sample rate is given), ``OTEL_SDK_DISABLED``,
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, ``OTEL_BSP_SCHEDULE_DELAY``,
``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

__all__ = ["DEFAULT_TRACKING_URI", "RedactFn", "TracerConfig", "resolve_config"]

DEFAULT_TRACKING_URI = "http://127.0.0.1:6006"
DEFAULT_PROJECT = "default"
DEFAULT_SPOOL_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_QUEUE_SPANS = 250_000
DEFAULT_MAX_BATCH_SPANS = 4_096
DEFAULT_SCHEDULE_DELAY_S = 0.5
DEFAULT_TIMEOUT_S = 5.0
TRACES_PATH = "/v1/traces"

RedactFn = Callable[[str, Any], Any]
"""``redact(key, value) -> value``: called for every content attribute before it is recorded;
return a replacement, or None to drop the attribute."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class TracerConfig:
    """Resolved tracer settings (see `resolve_config`)."""

    endpoint: str
    project: str = DEFAULT_PROJECT
    headers: Mapping[str, str] = field(default_factory=dict)
    capture_content: bool = True
    sample_rate: float | None = None
    redact: RedactFn | None = None
    spool_dir: Path | None = None
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    timeout_s: float = DEFAULT_TIMEOUT_S
    gzip: bool = False
    max_queue_spans: int = DEFAULT_MAX_QUEUE_SPANS
    max_batch_spans: int = DEFAULT_MAX_BATCH_SPANS
    schedule_delay_s: float = DEFAULT_SCHEDULE_DELAY_S
    disabled: bool = False

    @property
    def project_spool_dir(self) -> Path | None:
        """The spool directory of this project (``<spool_dir>/<quoted project>``)."""
        if self.spool_dir is None:
            return None
        return self.spool_dir / quote(self.project, safe="")


def project_from_dir_name(name: str) -> str:
    """Inverse of the quoting used for `TracerConfig.project_spool_dir`."""
    return unquote(name)


def _flag(env: Mapping[str, str], *names: str) -> bool | None:
    for name in names:
        value = env.get(name, "").strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
    return None


def _parse_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


def _endpoint(tracking_uri: str | None, endpoint: str | None, env: Mapping[str, str]) -> str:
    if endpoint:
        return endpoint
    if tracking_uri:
        return tracking_uri.rstrip("/") + TRACES_PATH
    if env.get("SPYGLASS_TRACKING_URI"):
        return env["SPYGLASS_TRACKING_URI"].rstrip("/") + TRACES_PATH
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + TRACES_PATH
    return DEFAULT_TRACKING_URI + TRACES_PATH


def _number(env: Mapping[str, str], name: str) -> float | None:
    value = env.get(name, "").strip()
    try:
        return float(value) if value else None
    except ValueError:
        return None


def resolve_config(
    *,
    tracking_uri: str | None = None,
    endpoint: str | None = None,
    project: str | None = None,
    headers: Mapping[str, str] | None = None,
    api_key: str | None = None,
    capture_content: bool | None = None,
    sample_rate: float | None = None,
    redact: RedactFn | None = None,
    spool_dir: str | Path | None | bool = None,
    spool_max_bytes: int | None = None,
    timeout_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> TracerConfig:
    """Merge arguments over the environment over the defaults.

    Args:
        tracking_uri: Spyglass server base URL; ``endpoint`` is the full OTLP traces URL.
        project: the project (sent as ``x-spyglass-project`` and the resource attribute).
        headers: extra HTTP headers for the export requests.
        api_key: a Spyglass API key (else ``SPYGLASS_API_KEY``), sent as a bearer token.
        capture_content: record prompts, completions, inputs and outputs (default on).
        sample_rate: keep this fraction of traces; None defers to ``OTEL_TRACES_SAMPLER``.
        redact: hook applied to content attributes, see `RedactFn`.
        spool_dir: spool root; ``False`` disables spooling.
        spool_max_bytes: spool bound in bytes.
        timeout_s: export request timeout.
        env: the environment to read (default ``os.environ``).

    Returns:
        The resolved configuration; invalid environment values fall back to the defaults.
    """
    env = os.environ if env is None else env
    merged_headers = _parse_headers(
        env.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or env.get("OTEL_EXPORTER_OTLP_HEADERS", "")
    )
    merged_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    api_key = api_key or env.get("SPYGLASS_API_KEY")
    if api_key and "authorization" not in merged_headers:
        merged_headers["authorization"] = f"Bearer {api_key}"
    project = project or env.get("SPYGLASS_PROJECT") or merged_headers.get("x-spyglass-project")
    project = project or DEFAULT_PROJECT
    merged_headers["x-spyglass-project"] = project
    if capture_content is None:
        capture_content = _flag(
            env, "SPYGLASS_CAPTURE_CONTENT", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
        )
    if sample_rate is None:
        sample_rate = _number(env, "SPYGLASS_SAMPLE_RATE")
    if sample_rate is not None:
        sample_rate = min(1.0, max(0.0, sample_rate))
    spool: Path | None
    if spool_dir is False:
        spool = None
    elif spool_dir is None or spool_dir is True:
        spool = Path(env.get("SPYGLASS_SPOOL_DIR") or Path.home() / ".spyglass" / "spool")
    else:
        spool = Path(spool_dir)
    if spool_max_bytes is None:
        spool_max_bytes = int(_number(env, "SPYGLASS_SPOOL_MAX_BYTES") or DEFAULT_SPOOL_MAX_BYTES)
    if timeout_s is None:
        ms = _number(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or _number(
            env, "OTEL_EXPORTER_OTLP_TIMEOUT"
        )
        timeout_s = ms / 1000 if ms else DEFAULT_TIMEOUT_S
    compression = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION")
        or env.get("OTEL_EXPORTER_OTLP_COMPRESSION", "")
    ).lower()
    delay_ms = _number(env, "OTEL_BSP_SCHEDULE_DELAY")
    batch = _number(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
    return TracerConfig(
        endpoint=_endpoint(tracking_uri, endpoint, env),
        project=project,
        headers=merged_headers,
        capture_content=True if capture_content is None else capture_content,
        sample_rate=sample_rate,
        redact=redact,
        spool_dir=spool,
        spool_max_bytes=max(1, spool_max_bytes),
        timeout_s=timeout_s,
        gzip=compression == "gzip",
        max_batch_spans=int(batch) if batch and batch > 0 else DEFAULT_MAX_BATCH_SPANS,
        schedule_delay_s=delay_ms / 1000 if delay_ms and delay_ms > 0 else DEFAULT_SCHEDULE_DELAY_S,
        disabled=bool(_flag(env, "SPYGLASS_TRACING_DISABLED", "OTEL_SDK_DISABLED")),
    )
