"""Server-side redaction: rules applied before storage, verified through a running server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from spyglass.collector.pricing import PriceTable
from spyglass.collector.redaction import Redactor
from spyglass.collector.rows import SPAN_COLUMNS, build_batch
from spyglass.errors import ConfigError
from tests.conftest import ServerProcess
from tests.factory import TraceSpec, export_request

EMAIL = "ana.lopez@example.com"
OPENAI_KEY = "sk-proj-" + "A1b2C3d4" * 4
MESSAGES = json.dumps([{"role": "user", "parts": [{"type": "text", "content": f"mail {EMAIL}"}]}])


def spec() -> TraceSpec:
    return TraceSpec(
        name="chat",
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.input.messages": MESSAGES,
            "app.note": f"key {OPENAI_KEY} and {EMAIL}",
            "app.nested": [f"to {EMAIL}", 3],
            "app.api_key": "not-a-pattern-but-a-secret-name",
            "app.count": 7,
        },
    )


def column(batch_columns: list[list[object]], name: str) -> list[object]:
    return batch_columns[SPAN_COLUMNS.index(name)]


def test_defaults_redact_values_names_and_messages() -> None:
    batch = build_batch(export_request([spec()]), PriceTable.load(), "p")
    redactor = Redactor.load(None, defaults=True)
    assert redactor is not None
    redactor.apply(batch)
    attrs = column(batch.columns, "attributes")[0]
    assert isinstance(attrs, dict)
    assert orjson.loads(attrs["app.note"]) == "key [REDACTED] and [REDACTED]"
    assert orjson.loads(attrs["app.nested"]) == ["to [REDACTED]", 3]
    assert orjson.loads(attrs["app.api_key"]) == "[REDACTED]"
    assert orjson.loads(attrs["app.count"]) == 7  # untouched, type kept
    assert EMAIL not in attrs["gen_ai.input.messages"]
    canonical_input = column(batch.columns, "input")[0]
    assert isinstance(canonical_input, str)
    assert EMAIL not in canonical_input and "[REDACTED]" in canonical_input
    assert orjson.loads(canonical_input)  # still valid JSON


def test_no_rules_means_no_redactor_and_bad_rules_are_config_errors(tmp_path: Path) -> None:
    assert Redactor.load(None, defaults=False) is None
    bad = tmp_path / "bad.json"
    bad.write_text('{"patterns": ["("]}')
    with pytest.raises(ConfigError, match="redaction pattern"):
        Redactor.load(bad, defaults=False)
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        Redactor.load(bad, defaults=False)


@pytest.fixture(scope="module")
def redacting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("redact")
    rules = data_dir / "rules.json"
    rules.write_text(json.dumps({"defaults": True, "patterns": [{"regex": r"EMP-\d{6}"}],
                                 "replacement": "***"}))  # fmt: skip
    proc = ServerProcess(data_dir, extra_args=["--redact-file", str(rules)])
    proc.start()
    yield proc
    proc.stop()


def test_a_running_server_stores_only_redacted_values(redacting: ServerProcess) -> None:
    trace = spec()
    trace.attributes["app.employee"] = "EMP-123456"
    trace.children = [{"name": "tool", "attributes": {"input.value": f"lookup {EMAIL}"}}]
    body = export_request([trace]).SerializeToString()
    r = httpx.post(f"{redacting.url}/v1/traces", content=body,
                   headers={"content-type": "application/x-protobuf",
                            "x-spyglass-project": "redact"})  # fmt: skip
    assert r.status_code == 200
    spans = httpx.get(
        f"{redacting.url}/api/traces/{trace.trace_id.hex()}/spans?project=redact"
    ).json()["spans"]
    text = json.dumps(spans)
    assert len(spans) == 2
    for secret in (EMAIL, OPENAI_KEY, "EMP-123456", "not-a-pattern-but-a-secret-name"):
        assert secret not in text
    assert "***" in text
    listed = httpx.get(f"{redacting.url}/api/traces?project=redact&text=example.com").json()
    assert listed["traces"] == []
