"""The trace list's state, all of it in the URL query string (so every view is a shareable link).

Paging uses the API's forward-only keyset cursor; ``prev`` keeps the cursors of the pages
before this one (``-`` for the first), so "newer" is just popping that stack.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from spyglass.store.traces import TraceQuery

__all__ = ["RANGES", "ListState", "range_start_ns"]

# Time ranges offered by the pickers, in seconds (None: all time).
RANGES: dict[str, int | None] = {
    "1h": 3600,
    "24h": 86400,
    "7d": 7 * 86400,
    "30d": 30 * 86400,
    "all": None,
}
SORTS = ("start_time", "latency", "tokens", "cost")
PAGE_SIZES = (25, 50, 100, 200)
MAX_PREV = 40
FIRST_PAGE = "-"


def range_start_ns(name: str, now_ns: int | None = None) -> int | None:
    seconds = RANGES.get(name)
    if seconds is None:
        return None
    return (now_ns if now_ns is not None else time.time_ns()) - seconds * 1_000_000_000


def _float(value: str | None) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


@dataclass(frozen=True)
class ListState:
    """Everything that decides what the trace list shows."""

    project: str = "default"
    range: str = "7d"
    text: str = ""
    name: str = ""
    status: str = ""
    model: str = ""
    session: str = ""
    user: str = ""
    min_latency: str = ""
    attrs: tuple[str, ...] = ()
    filter: str = ""
    sort: str = "start_time"
    order: str = "desc"
    limit: int = 50
    cursor: str = ""
    prev: tuple[str, ...] = field(default=())
    tail: bool = False

    @classmethod
    def from_query(cls, q: QueryParams, default_project: str = "default") -> ListState:
        def get(key: str) -> str:
            return (q.get(key) or "").strip()[:4096]

        try:
            limit = int(get("limit") or 50)
        except ValueError:
            limit = 50
        return cls(
            project=get("project") or default_project,
            range=get("range") if get("range") in RANGES else "7d",
            text=get("text"),
            name=get("name"),
            status=get("status").lower() if get("status").lower() in ("ok", "error") else "",
            model=get("model"),
            session=get("session"),
            user=get("user"),
            min_latency=get("min_latency") if _float(get("min_latency")) is not None else "",
            attrs=tuple(a.strip() for a in q.getlist("attr") if "=" in a.strip()[1:])[:20],
            filter=get("filter"),
            sort=get("sort") if get("sort") in SORTS else "start_time",
            order="asc" if get("order") == "asc" else "desc",
            limit=limit if limit in PAGE_SIZES else 50,
            cursor=get("cursor"),
            prev=tuple(q.getlist("prev"))[-MAX_PREV:],
            tail=get("tail") == "1",
        )

    def to_query(self, now_ns: int | None = None) -> TraceQuery:
        attributes = {}
        for pair in self.attrs:
            key, _, value = pair.partition("=")
            attributes[key.strip()] = value.strip()
        return TraceQuery(
            project=self.project,
            start_ns=range_start_ns(self.range, now_ns),
            text=self.text or None,
            name=self.name or None,
            status=self.status or None,
            model=self.model or None,
            session_id=self.session or None,
            user_id=self.user or None,
            min_latency_ms=_float(self.min_latency),
            attributes=attributes,
            filter=self.filter or None,
            sort=self.sort,
            descending=self.order == "desc",
            limit=self.limit,
            cursor=self.cursor or None,
        )

    def _pairs(self) -> Iterable[tuple[str, str]]:
        defaults = ListState()
        for key in ("project", "range", "text", "name", "status", "model", "session", "user",
                    "min_latency", "filter", "sort", "order", "cursor"):  # fmt: skip
            value = getattr(self, key)
            if value and value != getattr(defaults, key):
                yield key, value
        if self.limit != defaults.limit:
            yield "limit", str(self.limit)
        for pair in self.attrs:
            yield "attr", pair
        for cursor in self.prev:
            yield "prev", cursor
        if self.tail:
            yield "tail", "1"

    def url(self, path: str = "/traces", **changes: object) -> str:
        """This state as a link, with some fields changed."""
        state = replace(self, **changes) if changes else self  # type: ignore[arg-type]
        query = urlencode(list(state._pairs()))
        return f"{path}?{query}" if query else path

    def sort_url(self, key: str) -> str:
        """Sort by ``key``; a second click on the current key flips the order."""
        order = "desc"
        if key == self.sort:
            order = "asc" if self.order == "desc" else "desc"
        return self.url(sort=key, order=order, cursor="", prev=())

    def older_url(self, next_cursor: str) -> str:
        prev = (*self.prev, self.cursor or FIRST_PAGE)[-MAX_PREV:]
        return self.url(cursor=next_cursor, prev=prev)

    def newer_url(self) -> str | None:
        if not self.cursor:
            return None
        if not self.prev:
            return self.url(cursor="")
        cursor = self.prev[-1]
        return self.url(cursor="" if cursor == FIRST_PAGE else cursor, prev=self.prev[:-1])

    @property
    def first_page(self) -> bool:
        return not self.cursor

    @property
    def filtered(self) -> bool:
        return any(
            (self.text, self.name, self.status, self.model, self.session, self.user,
             self.min_latency, self.attrs, self.filter)
        )  # fmt: skip
