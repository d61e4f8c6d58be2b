"""Fuzzing: hostile bodies and parameters against a running server, and the decoder in-process."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from spyglass.collector.otlp import JSON, PROTOBUF, decode_export_request
from spyglass.collector.pricing import PriceTable
from spyglass.collector.rows import build_batch
from spyglass.errors import BadRequestError
from tests.conftest import ServerProcess
from tests.factory import TraceSpec, export_request
from tests.fuzzing import run_fuzz

PRICES = PriceTable.load()
VALID = export_request([TraceSpec(attributes={"a": [1, {"b": "c"}]}, children=[{}])])


def decode_and_build(body: bytes, content_type: str) -> None:
    try:
        build_batch(decode_export_request(body, content_type), PRICES, None)
    except BadRequestError as exc:
        assert exc.status in (400, 413, 415) and exc.message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_random_protobuf_bytes_decode_or_are_400(body: bytes) -> None:
    decode_and_build(body, PROTOBUF)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_protobuf_bodies_decode_or_are_400(data: st.DataObject) -> None:
    body = bytearray(VALID.SerializeToString())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(body) - 1))
        body[at] = data.draw(st.integers(0, 255))
    decode_and_build(bytes(body), PROTOBUF)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_document_decodes_or_is_400(doc: object) -> None:
    import json

    decode_and_build(json.dumps({"resourceSpans": doc}).encode(), JSON)
    decode_and_build(json.dumps(doc).encode(), JSON)


def test_fuzzed_requests_never_get_a_5xx_and_lose_nothing(server: ServerProcess) -> None:
    count = int(os.environ.get("SPYGLASS_FUZZ_REQUESTS", "600"))
    report = run_fuzz(server.url, seed=20261127, count=count)
    assert report.server_errors == []
    assert report.transport_errors == []
    assert report.sent + report.unsendable == count and report.unsendable < count // 20
    assert len(report.statuses) > 3  # the fuzz reaches past the first validation
    assert report.canaries_acked and report.canaries_missing == []
    assert server.healthy()
