"""Hostile HTTP requests for fuzzing a running server (used by tests/test_fuzz.py and
benchmarks/fuzz_http.py): mutated and random OTLP bodies in protobuf and JSON, deep nesting,
bad compression, and random parameters and bodies for the query, MLflow and UI routes.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from google.protobuf.json_format import MessageToDict

from tests.factory import TraceSpec, export_request

PROTO = "application/x-protobuf"
JSON = "application/json"
FILTER_TOKENS = (
    "name", "status", "model", "latency_ms", "tokens", "cost", "attributes.x", "attr.gen_ai.x",
    "=", "!=", "<", ">=", "~", "!~", "in", "exists", "and", "or", "not", "(", ")", "[", "]",
    '"a"', "'b'", "1", "-2.5e9", "1e400", '"\\u0000"', "'", '"', "\\", ";", "--", "/*",
    "DROP TABLE spans", "\x00", "\U0001f600", "null", ",",
)  # fmt: skip
MLFLOW_POSTS = (
    "experiments/create", "experiments/search", "experiments/update", "runs/create",
    "runs/search", "runs/log-batch", "runs/log-metric", "runs/log-parameter", "runs/set-tag",
    "runs/update", "runs/log-inputs", "registered-models/create", "model-versions/create",
    "registered-models/alias", "logged-models", "logged-models/search",
)  # fmt: skip
MLFLOW_GETS = (
    "experiments/get", "experiments/get-by-name", "runs/get", "metrics/get-history",
    "registered-models/get", "registered-models/search", "model-versions/get",
    "model-versions/search", "registered-models/alias", "metrics/get-history-bulk-interval",
)  # fmt: skip
GETS = (
    "/api/traces", "/api/sessions", "/api/stats", "/api/projects", "/traces", "/sessions",
    "/dashboard", "/experiments", "/models", "/evaluations", "/runs/compare",
)  # fmt: skip


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str | bytes] = field(default_factory=dict)
    content: bytes = b""
    kind: str = ""


def _text(rng: random.Random, limit: int = 40) -> str:
    alphabet = "aZ09 _-./:%&?=#\"'\\<>{}[]\x00\x7f\u00e9\u202e\U0001f600"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, limit)))


def _value(rng: random.Random, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([None, True, -1, 2**64, 1e308, -0.0, "", _text(rng), "x" * 5000])
    if roll < 0.6:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_text(rng, 12): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def _valid_trace(rng: random.Random) -> TraceSpec:
    return TraceSpec(
        name=_text(rng),
        attributes={"gen_ai.request.model": _text(rng, 10), "k": _text(rng)},
        children=[{"attributes": {"n": rng.randint(-5, 5)}}] * rng.randint(0, 3),
    )


def _mutate_bytes(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        if op < 0.4 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op < 0.6 and data:
            del data[rng.randrange(len(data)) :]
        elif op < 0.8:
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.randbytes(rng.randint(1, 16))
        elif data:
            a = rng.randrange(len(data))
            data[a:a] = data[a : a + rng.randint(1, 64)]
    return bytes(data)


def _mutate_json(rng: random.Random, node: object, depth: int = 0) -> object:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            roll = rng.random()
            if roll < 0.05:
                continue
            out[k] = _value(rng) if roll < 0.12 else _mutate_json(rng, v, depth + 1)
        return out
    if isinstance(node, list):
        return [_mutate_json(rng, v, depth + 1) for v in node]
    return _value(rng) if rng.random() < 0.1 else node


def _deep_json(depth: int) -> bytes:
    return b'{"resourceSpans":' + b"[" * depth + b"]" * depth + b"}"


def _deep_anyvalue(depth: int) -> bytes:
    value = '{"arrayValue":{"values":[' * depth + '{"stringValue":"leaf"}' + "]}}" * depth
    span = ('{"traceId":"' + "ab" * 16 + '","spanId":"' + "cd" * 8 + '","name":"deep",'
            '"startTimeUnixNano":"1780000000000000000","endTimeUnixNano":"1780000000000000001",'
            '"attributes":[{"key":"deep","value":' + value + "}]}")  # fmt: skip
    return ('{"resourceSpans":[{"scopeSpans":[{"spans":[' + span + "]}]}]}").encode()


def _post(body: bytes, kind: str, content_type: str = PROTO, **headers: str | bytes) -> Request:
    return Request("POST", "/v1/traces", {"content-type": content_type, **headers}, body, kind)


def otlp_requests(rng: random.Random) -> Request:
    message = export_request([_valid_trace(rng)])
    raw = message.SerializeToString()
    roll = rng.random()
    if roll < 0.3:
        return _post(_mutate_bytes(rng, raw), "otlp-proto-mutated")
    if roll < 0.4:
        return _post(rng.randbytes(rng.randint(0, 2000)), "otlp-proto-random")
    if roll < 0.7:
        body = json.dumps(_mutate_json(rng, MessageToDict(message))).encode()
        return _post(body, "otlp-json-mutated", JSON)
    if roll < 0.75:
        return _post(_deep_json(rng.choice([100, 5000, 100_000])), "otlp-json-deep", JSON)
    if roll < 0.8:
        return _post(_deep_anyvalue(rng.choice([50, 150, 400])), "otlp-anyvalue-deep", JSON)
    if roll < 0.9:
        body = gzip.compress(raw)
        body = _mutate_bytes(rng, body) if rng.random() < 0.7 else body
        encoding = rng.choice(["gzip", "deflate", "br", "gzip, gzip", ""])
        return _post(body, "otlp-compressed", **{"content-encoding": encoding})
    content_type = rng.choice([PROTO, JSON, "text/plain", "", "application/json; x"])
    # Raw UTF-8 in a header value (obs-text); control characters cannot be sent at all.
    project = _text(rng, 300).replace("\x00", "").replace("\x7f", "").encode()
    return _post(rng.randbytes(rng.randint(0, 64)), "otlp-headers", content_type,
                 **{"x-spyglass-project": project})  # fmt: skip


def _query(rng: random.Random) -> str:
    params = []
    for _ in range(rng.randint(0, 4)):
        key = rng.choice(["filter", "limit", "cursor", "start", "end", "status", "model", "name",
                          "text", "attr", "sort", "project", "bucket_seconds", "min_latency_ms",
                          "session_id", "user_id", _text(rng, 8)])  # fmt: skip
        if key == "filter":
            value = " ".join(rng.choice(FILTER_TOKENS) for _ in range(rng.randint(1, 8)))
        else:
            value = rng.choice([_text(rng), "-1", "0", "99999999999", "1e9", "", "2026-13-45"])
        params.append((key, value))
    return urlencode(params)


def api_requests(rng: random.Random) -> Request:
    roll = rng.random()
    if roll < 0.35:
        path = rng.choice(GETS)
        if rng.random() < 0.3:
            segment = quote(rng.choice(["ab" * 16, _text(rng, 20), "0" * 32, "x"]), safe="")
            path = rng.choice(["/api/traces/", "/traces/", "/api/sessions/", "/sessions/",
                               "/runs/", "/models/", "/experiments/"]) + segment  # fmt: skip
        return Request("GET", f"{path}?{_query(rng)}", {"accept": "text/html"}, kind="query")
    if roll < 0.75:
        path = "/api/2.0/mlflow/" + rng.choice(MLFLOW_POSTS)
        body = _value(rng) if rng.random() < 0.5 else {
            k: _value(rng) for k in rng.sample(
                ["name", "experiment_id", "run_id", "key", "value", "timestamp", "step",
                 "metrics", "params", "tags", "filter", "max_results", "order_by",
                 "page_token", "alias", "version", "source", "datasets"], 4)}  # fmt: skip
        raw = json.dumps(body).encode() if rng.random() < 0.9 else rng.randbytes(40)
        return Request("POST", path, {"content-type": JSON}, raw, "mlflow-post")
    path = "/api/2.0/mlflow/" + rng.choice(MLFLOW_GETS)
    return Request("GET", f"{path}?{_query(rng)}", kind="mlflow-get")


GENERATORS: tuple[Callable[[random.Random], Request], ...] = (otlp_requests, api_requests)


def fuzz_requests(seed: int, count: int) -> Iterator[Request]:
    rng = random.Random(seed)
    for _ in range(count):
        yield rng.choice(GENERATORS)(rng)


@dataclass
class FuzzReport:
    sent: int = 0
    unsendable: int = 0  # refused by the HTTP client itself (e.g. an illegal header byte)
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)
    canaries_acked: list[str] = field(default_factory=list)
    canaries_missing: list[str] = field(default_factory=list)


CANARY_PROJECT = "fuzz-canary"


def run_fuzz(url: str, seed: int, count: int, canary_every: int = 50) -> FuzzReport:
    """Send ``count`` hostile requests, with a valid canary trace every ``canary_every``; then
    check every acknowledged canary is stored."""
    import httpx

    report = FuzzReport()
    with httpx.Client(base_url=url, timeout=60) as client:
        for i, req in enumerate(fuzz_requests(seed, count)):
            if i % canary_every == 0:
                trace = TraceSpec(name=f"canary-{i}")
                r = client.post("/v1/traces", content=export_request([trace]).SerializeToString(),
                                headers={"content-type": PROTO,
                                         "x-spyglass-project": CANARY_PROJECT})  # fmt: skip
                if r.status_code == 200:
                    report.canaries_acked.append(trace.trace_id.hex())
            try:
                r = client.request(req.method, req.path, headers=req.headers, content=req.content)
            except httpx.LocalProtocolError:
                report.unsendable += 1
                continue
            except httpx.HTTPError as exc:
                report.transport_errors.append(f"{req.kind} {req.path[:80]}: {exc!r}")
                continue
            report.sent += 1
            report.statuses[r.status_code] = report.statuses.get(r.status_code, 0) + 1
            if r.status_code >= 500:
                report.server_errors.append(f"{req.kind} {req.method} {req.path[:120]} -> "
                                            f"{r.status_code} {r.text[:200]}")  # fmt: skip
        for trace_id in report.canaries_acked:
            r = client.get(f"/api/traces/{trace_id}", params={"project": CANARY_PROJECT})
            if r.status_code != 200:
                report.canaries_missing.append(trace_id)
    return report
