"""Datasets made of traces stored on a Spyglass server: each trace's root span is one row.

The root span's input becomes the input columns (a JSON object spreads into one column per
key; chat messages give the last user message as ``input``; anything else is ``input``), its
output the ``output`` column (the text of a chat answer when it is one), and the trace id the
``trace_id`` column, which `spyglass.evaluate` never passes to a model. Evaluating the stored
outputs themselves (``predictions="output"``) keeps each row linked to its trace; evaluating a
new model against them (``targets="output"``) compares it with what production answered.

Example:
    >>> ds = dataset_from_traces("http://127.0.0.1:6006", project="support-bot",
    ...                          filter='status = "OK"', limit=200)  # doctest: +SKIP
    >>> spyglass.evaluate(ds, predictions="output", metrics=["length"])  # doctest: +SKIP

The same as a URI (for ``spyglass eval run --data``):
``traces://127.0.0.1:6006/support-bot?filter=status%20%3D%20%22OK%22&limit=200``
(``traces+https://`` for a server behind TLS).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from spyglass.errors import ConfigError
from spyglass.evaluator.datasets import Dataset
from spyglass.evaluator.errors import DatasetError, ServerError

__all__ = ["SOURCE_TYPE", "TRACE_ID_COLUMN", "dataset_from_traces", "dataset_from_traces_uri"]

SOURCE_TYPE = "spyglass-traces"
TRACE_ID_COLUMN = "trace_id"
OUTPUT_COLUMN = "output"
INPUT_COLUMN = "input"
DEFAULT_LIMIT = 1000
_PAGE = 500  # the server's largest trace page
_SPAN_PAGE = 100
_ANSWER_KEYS = ("content", "text", "output", "answer", "result")
_URI_OPTIONS = {
    "filter", "limit", "dataset_name", "name", "start", "end", "status", "model", "session_id",
    "user_id",
}  # fmt: skip


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _message_text(message: Any) -> str | None:
    if not isinstance(message, Mapping):
        return None
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        texts = [p.get("text", "") for p in content if isinstance(p, Mapping)]
        return "".join(t for t in texts if isinstance(t, str))
    return None


def _messages(value: Any) -> list[Any] | None:
    if isinstance(value, Mapping) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, list) and value and all(isinstance(m, Mapping) for m in value):
        if all("role" in m for m in value):
            return list(value)
    return None


def input_columns(text: Any) -> dict[str, Any]:
    """A root span's input as dataset columns."""
    value = _parse(text)
    messages = _messages(value)
    if messages is not None:
        users = [m for m in messages if m.get("role") == "user"] or messages
        return {INPUT_COLUMN: _message_text(users[-1]) or json.dumps(messages)}
    if isinstance(value, Mapping) and value:
        reserved = {OUTPUT_COLUMN, TRACE_ID_COLUMN}
        return {(f"input.{k}" if k in reserved else str(k)): v for k, v in value.items()}
    return {INPUT_COLUMN: value if isinstance(value, str) or value is None else json.dumps(value)}


def output_text(text: Any) -> Any:
    """A root span's output as text: the answer of a chat response when it is one."""
    value = _parse(text)
    if isinstance(value, Mapping):
        choices = value.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            answer = _message_text(choices[0].get("message"))
            if answer is not None:
                return answer
        for key in _ANSWER_KEYS:
            if isinstance(value.get(key), str):
                return value[key]
    messages = _messages(value)
    if messages is not None:
        return _message_text(messages[-1]) or json.dumps(messages)
    if isinstance(value, str) or value is None:
        return value
    return text if isinstance(text, str) else json.dumps(value)


def _root_span(http: Any, trace_id: str, project: str) -> dict[str, Any] | None:
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"project": project, "limit": _SPAN_PAGE}
        if cursor:
            params["cursor"] = cursor
        page = _get(http, f"/api/traces/{trace_id}/spans", params)
        for span in page.get("spans", []):
            if not span.get("parent_span_id"):
                return dict(span)
        cursor = page.get("next_cursor")
        if not cursor:
            return None


def _get(http: Any, path: str, params: Mapping[str, Any]) -> Any:
    import httpx

    try:
        response = http.get(path, params=dict(params))
    except httpx.HTTPError as exc:
        raise ServerError(f"cannot reach the Spyglass server at {http.base_url}: {exc}") from exc
    if response.status_code >= 400:
        raise ServerError(
            f"the Spyglass server at {http.base_url} answered {response.status_code} to "
            f"{path}: {response.text[:300]}"
        )
    return response.json()


def dataset_from_traces(
    url: str,
    project: str = "default",
    *,
    filter: str | None = None,
    limit: int = DEFAULT_LIMIT,
    name: str | None = None,
    query: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Dataset:
    """Load a dataset from the traces of ``project`` on the Spyglass server at ``url``.

    Traces come newest first (the server's order) and become rows oldest first, so a
    dataset read twice from unchanged traces has the same digest. Traces without a root span
    (still open, or partly received) are skipped.

    Args:
        url: the server, e.g. ``http://127.0.0.1:6006``.
        project: the project (= experiment) whose traces to read.
        filter: the trace search expression of ``GET /api/traces?filter=``, e.g.
            ``status = "OK" and latency_ms < 2000``.
        limit: at most this many traces (the newest).
        name: the dataset's name (default ``traces:<project>``).
        query: other ``/api/traces`` parameters (``name``, ``status``, ``model``,
            ``session_id``, ``start``, ``end``…).
        timeout: seconds per request.

    Raises:
        ServerError: the server is unreachable or refused the query.
        DatasetError: no trace matched.
    """
    import httpx

    if limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    params: dict[str, Any] = {"project": project, **(query or {})}
    if filter:
        params["filter"] = filter
    source = f"{url.rstrip('/')}/api/traces?{urlencode(params)}"
    summaries: list[dict[str, Any]] = []
    with httpx.Client(base_url=url.rstrip("/"), timeout=timeout) as http:
        cursor: str | None = None
        while len(summaries) < limit:
            page_params = {**params, "limit": min(_PAGE, limit - len(summaries))}
            if cursor:
                page_params["cursor"] = cursor
            page = _get(http, "/api/traces", page_params)
            summaries += page.get("traces", [])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        records = []
        for summary in reversed(summaries[:limit]):
            trace_id = str(summary["trace_id"])
            root = _root_span(http, trace_id, project) if summary.get("has_root", True) else None
            if root is None:
                continue
            records.append(
                {
                    **input_columns(root.get("input")),
                    OUTPUT_COLUMN: output_text(root.get("output")),
                    TRACE_ID_COLUMN: trace_id,
                }
            )
    label = name or f"traces:{project}"
    if not records:
        raise DatasetError(
            f"dataset {label!r} is empty: no trace with a root span in project {project!r} "
            f"at {url}" + (f" matching {filter!r}" if filter else "")
        )
    from spyglass.evaluator.datasets import load_dataset

    loaded = load_dataset(records, name=label)
    return Dataset(loaded.records, label, source, loaded.digest, SOURCE_TYPE)


def dataset_from_traces_uri(uri: str, *, name: str | None = None) -> Dataset:
    """`dataset_from_traces` from ``traces://HOST:PORT/PROJECT?filter=...&limit=...``.

    Options: ``filter``, ``limit``, ``dataset_name``, and the trace list's own filters
    (``name`` of the trace, ``status``, ``model``, ``session_id``, ``user_id``, ``start``,
    ``end``).

    Raises:
        ConfigError: the URI has no host or an unknown option.
    """
    parts = urlsplit(uri)
    scheme = "https" if parts.scheme == "traces+https" else "http"
    if not parts.netloc:
        raise ConfigError(f"{uri}: expected traces://HOST:PORT/PROJECT?filter=...")
    project = parts.path.strip("/") or "default"
    options = dict(parse_qsl(parts.query, keep_blank_values=False))
    unknown = set(options) - _URI_OPTIONS
    if unknown:
        raise ConfigError(
            f"{uri}: unknown option(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_URI_OPTIONS))}"
        )
    try:
        limit = int(options.pop("limit", DEFAULT_LIMIT))
    except ValueError:
        raise ConfigError(f"{uri}: limit must be a number") from None
    return dataset_from_traces(
        f"{scheme}://{parts.netloc}",
        project,
        filter=options.pop("filter", None),
        limit=limit,
        name=name or options.pop("dataset_name", None),
        query=options,
    )
