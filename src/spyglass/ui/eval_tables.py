"""Evaluation result tables: load (cached), filter, sort and page; compare two row by row.

The table is the evaluator's ``eval/eval_results_table.json`` artifact in pandas' split
orientation, ``{"columns": [...], "data": [[...], ...]}`` (an ``index`` key is ignored), with an
optional ``trace_id`` column. Score columns are the numeric ones: every non-null cell a number
(not a bool), at least one present.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from spyglass.tracking.artifact_store import ArtifactStore
from spyglass.ui.tracking_queries import artifact_size

__all__ = [
    "MAX_TABLE_BYTES",
    "Comparison",
    "EvalTable",
    "TableError",
    "compare_tables",
    "filter_rows",
    "load_table",
    "parse_where",
    "read_jsonl_page",
    "trace_link_id",
]

MAX_TABLE_BYTES = 256 * 1024 * 1024
CACHED_TABLES = 8
TRACE_COLUMN = "trace_id"
OUTPUT_COLUMNS = ("prediction", "predictions", "output", "outputs", "response", "answer")
_TRACE_ID = re.compile(r"^(?:0x)?([0-9a-fA-F]{32})$")
_CLAUSE = re.compile(
    r"^\s*(?:`(?P<q>[^`]+)`|(?P<w>[^\s<>=!]+))\s*(?P<op><=|>=|!=|=|<|>)\s*"
    r"(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class TableError(ValueError):
    """The artifact is missing, too large, or not a split-orientation table."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class EvalTable:
    """A parsed results table; ``rows`` are lists in ``columns`` order."""

    columns: list[str]
    rows: list[list[Any]]
    scores: list[str] = field(default_factory=list)
    trace_index: int | None = None
    _texts: list[str] | None = None

    def __post_init__(self) -> None:
        width = len(self.columns)
        self.rows = [
            (r + [None] * (width - len(r)))[:width] if len(r) != width else r for r in self.rows
        ]
        self.scores = [
            c
            for i, c in enumerate(self.columns)
            if c != TRACE_COLUMN
            and any(r[i] is not None for r in self.rows)
            and all(r[i] is None or _is_number(r[i]) for r in self.rows)
        ]
        self.trace_index = (
            self.columns.index(TRACE_COLUMN) if TRACE_COLUMN in self.columns else None
        )

    def column(self, name: str) -> int | None:
        return self.columns.index(name) if name in self.columns else None

    def search_text(self, i: int) -> str:
        """Row ``i`` as lower-cased text, for the contains-search (built once per table)."""
        if self._texts is None:
            self._texts = [
                "\x1f".join(c.lower() if isinstance(c, str) else json.dumps(c) for c in r)
                for r in self.rows
            ]
        return self._texts[i]


def trace_link_id(value: Any) -> str | None:
    """A cell's trace id, normalized, if it is one (32 hex digits, optional ``0x``)."""
    if not isinstance(value, str):
        return None
    match = _TRACE_ID.match(value.strip())
    return match[1].lower() if match else None


_cache: OrderedDict[tuple[str, int], EvalTable] = OrderedDict()
_cache_lock = threading.Lock()


def load_table(store: ArtifactStore, path: str) -> EvalTable:
    """The table at ``path`` in ``store``, parsed once per file version (path and size)."""
    size = artifact_size(store, path)
    if size is None:
        raise TableError("this evaluation has no results table artifact")
    if size > MAX_TABLE_BYTES:
        raise TableError(f"the results table is too large to show ({size:,} bytes)")
    key = (f"{id(store)}:{path}", size)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    chunks = store.read(path)
    try:
        data = orjson.loads(b"".join(chunks or ()))
    except orjson.JSONDecodeError as exc:
        raise TableError(f"the results table is not valid JSON: {exc}") from None
    columns, rows = (data.get("columns"), data.get("data")) if isinstance(data, dict) else (0, 0)
    if not isinstance(columns, list) or not isinstance(rows, list):
        raise TableError('the results table is not in split orientation {"columns", "data"}')
    table = EvalTable([str(c) for c in columns], [r if isinstance(r, list) else [r] for r in rows])
    with _cache_lock:
        _cache[key] = table
        while len(_cache) > CACHED_TABLES:
            _cache.popitem(last=False)
    return table


def parse_where(text: str) -> list[tuple[str, str, float]]:
    """``rougeL < 0.3 and `exact match` = 1`` → clauses. Raises `TableError` if malformed."""
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE) if text.strip() else []:
        match = _CLAUSE.match(part)
        if not match:
            raise TableError(f"cannot read {part!r}: write <column> <op> <number>, joined by and")
        clauses.append((match["q"] or match["w"], match["op"], float(match["num"])))
    return clauses


def filter_rows(
    table: EvalTable,
    *,
    text: str = "",
    where: str = "",
    sort: str = "",
    descending: bool = False,
) -> list[int]:
    """Indexes of the rows that match, in order. Rows without a sort value go last."""
    indexes = range(len(table.rows))
    needle = text.lower().strip()
    if needle:
        indexes = [i for i in indexes if needle in table.search_text(i)]  # type: ignore[assignment]
    for name, op, number in parse_where(where):
        col = table.column(name)
        if col is None:
            raise TableError(f"no column {name!r} in this table")
        test = _OPS[op]
        indexes = [  # type: ignore[assignment]
            i
            for i in indexes
            if _is_number(table.rows[i][col]) and test(table.rows[i][col], number)
        ]
    out = list(indexes)
    col = table.column(sort) if sort else None
    if col is not None:
        present = [i for i in out if table.rows[i][col] is not None]
        missing = [i for i in out if table.rows[i][col] is None]
        numeric = sort in table.scores

        def key(i: int) -> Any:
            v = table.rows[i][col]
            if numeric:
                return -math.inf if isinstance(v, float) and math.isnan(v) else v
            return v if isinstance(v, str) else json.dumps(v)

        out = sorted(present, key=key, reverse=descending) + missing
    return out


@dataclass(frozen=True)
class Comparison:
    """Two tables matched row by row."""

    pairs: list[tuple[int, int]]  # (row in a, row in b)
    scores: list[str]  # numeric in both
    only_a: int
    only_b: int
    key: str  # the column rows were matched on; "" for row position


def compare_tables(a: EvalTable, b: EvalTable, key: str = "") -> Comparison:
    """Match rows by the ``key`` column's value (first occurrence), else by position."""
    scores = [s for s in a.scores if s in b.scores]
    ka, kb = a.column(key) if key else None, b.column(key) if key else None
    if ka is None or kb is None:
        n = min(len(a.rows), len(b.rows))
        pairs = [(i, i) for i in range(n)]
        return Comparison(pairs, scores, len(a.rows) - n, len(b.rows) - n, "")
    where: dict[str, int] = {}
    for j, row in enumerate(b.rows):
        where.setdefault(json.dumps(row[kb], sort_keys=True, default=str), j)
    pairs = []
    for i, row in enumerate(a.rows):
        found = where.get(json.dumps(row[ka], sort_keys=True, default=str))
        if found is not None:
            pairs.append((i, found))
    return Comparison(pairs, scores, len(a.rows) - len(pairs), len(b.rows) - len(pairs), key)


def delta(a: Any, b: Any) -> float | None:
    """``b - a`` when both are finite numbers."""
    if _is_number(a) and _is_number(b) and math.isfinite(a) and math.isfinite(b):
        return float(b - a)
    return None


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


def read_jsonl_page(chunks: Iterable[bytes], offset: int, limit: int) -> tuple[list[Any], bool]:
    """Lines ``offset .. offset+limit`` of a JSON-lines file, parsed (raw text if not JSON)."""
    out: list[Any] = []
    more = False
    n = 0
    for line in _lines(chunks):
        if not line.strip():
            continue
        if n >= offset + limit:
            more = True
            break
        if n >= offset:
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                out.append(line.decode(errors="replace").rstrip("\r"))
        n += 1
    return out, more
