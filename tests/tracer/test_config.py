"""Configuration from arguments and environment variables."""

from __future__ import annotations

from pathlib import Path

from spyglass.tracer._config import resolve_config


def test_defaults_point_at_a_local_server_with_a_home_spool() -> None:
    config = resolve_config(env={})
    assert config.endpoint == "http://127.0.0.1:6006/v1/traces"
    assert config.project == "default"
    assert config.headers == {"x-spyglass-project": "default"}
    assert config.capture_content is True
    assert config.spool_dir == Path.home() / ".spyglass" / "spool"
    assert config.project_spool_dir == Path.home() / ".spyglass" / "spool" / "default"


def test_spyglass_variables() -> None:
    config = resolve_config(
        env={
            "SPYGLASS_TRACKING_URI": "http://srv:7000/",
            "SPYGLASS_PROJECT": "a/b",
            "SPYGLASS_CAPTURE_CONTENT": "false",
            "SPYGLASS_SAMPLE_RATE": "0.25",
            "SPYGLASS_SPOOL_DIR": "/tmp/sp",
            "SPYGLASS_SPOOL_MAX_BYTES": "1000",
        }
    )
    assert config.endpoint == "http://srv:7000/v1/traces"
    assert config.project == "a/b"
    assert config.project_spool_dir == Path("/tmp/sp/a%2Fb")
    assert config.capture_content is False
    assert config.sample_rate == 0.25
    assert config.spool_max_bytes == 1000


def test_standard_otel_variables_are_honoured() -> None:
    config = resolve_config(
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20t,x-spyglass-project=shop",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false",
            "OTEL_SDK_DISABLED": "true",
        }
    )
    assert config.endpoint == "http://collector:4318/v1/traces"
    assert config.headers["authorization"] == "Bearer t"
    assert config.project == "shop"
    assert config.timeout_s == 2.5
    assert config.gzip is True
    assert config.capture_content is False
    assert config.disabled is True
    traces = resolve_config(env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x/custom"})
    assert traces.endpoint == "http://x/custom"


def test_arguments_win_over_the_environment() -> None:
    config = resolve_config(
        tracking_uri="http://arg:1",
        project="arg",
        capture_content=True,
        spool_dir=False,
        env={"SPYGLASS_TRACKING_URI": "http://env:2", "SPYGLASS_PROJECT": "env",
             "SPYGLASS_CAPTURE_CONTENT": "0"},
    )  # fmt: skip
    assert config.endpoint == "http://arg:1/v1/traces"
    assert config.project == "arg"
    assert config.capture_content is True
    assert config.spool_dir is None
