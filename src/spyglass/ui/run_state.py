"""URL state of the paged tables over runs (runs of an experiment, evaluations).

The filter is MLflow's search syntax as typed (the store compiles it); the sort is a column
(``attr:start_time``, ``metric:<key>``, ``param:<key>``, ``tag:<key>``) turned into MLflow's
``order_by`` with the key backticked; paging is by page number (the store's offset tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from spyglass.store.tracking_search import encode_page_token
from spyglass.ui.tracking_queries import mlflow_quote

__all__ = ["PAGE_SIZES", "TableState", "page_token"]

PAGE_SIZES = (25, 50, 100, 200)
SORT_ATTRIBUTES = ("start_time", "end_time", "run_name", "status", "user_id")
SORT_KINDS = {"metric": "metrics", "param": "params", "tag": "tags"}
MAX_PAGE = 100_000


def page_token(page: int, size: int) -> str | None:
    """The store's page token for a page number (None for the first page)."""
    return encode_page_token(page * size) if page else None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


@dataclass(frozen=True)
class TableState:
    """Filter, sort, order and page of a runs table; all of it lives in the query string."""

    filter: str = ""
    sort: str = "attr:start_time"
    order: str = "desc"
    page: int = 0
    size: int = 50

    @classmethod
    def from_query(cls, q: QueryParams) -> TableState:
        sort = (q.get("sort") or "").strip()[:400]
        kind, _, key = sort.partition(":")
        valid = (kind == "attr" and key in SORT_ATTRIBUTES) or (kind in SORT_KINDS and key)
        size = _int(q.get("size"), 50)
        return cls(
            filter=(q.get("filter") or "").strip()[:8000],
            sort=sort if valid else "attr:start_time",
            order="asc" if q.get("order") == "asc" else "desc",
            page=min(max(_int(q.get("page"), 0), 0), MAX_PAGE),
            size=size if size in PAGE_SIZES else 50,
        )

    def order_by(self) -> list[str]:
        """MLflow ``order_by`` clauses for this sort."""
        kind, _, key = self.sort.partition(":")
        direction = "ASC" if self.order == "asc" else "DESC"
        if kind == "attr":
            return [f"attributes.{key} {direction}"]
        return [f"{SORT_KINDS[kind]}.{mlflow_quote(key, '`')} {direction}"]

    @property
    def token(self) -> str | None:
        return page_token(self.page, self.size)

    def url(self, path: str, extra: dict[str, str] | None = None, **changes: object) -> str:
        """This state as a link to ``path``, with some fields changed."""
        state = replace(self, **changes) if changes else self  # type: ignore[arg-type]
        defaults = TableState()
        pairs = list((extra or {}).items())
        for name in ("filter", "sort", "order", "page", "size"):
            value = getattr(state, name)
            if value != getattr(defaults, name):
                pairs.append((name, str(value)))
        query = urlencode(pairs)
        return f"{path}?{query}" if query else path

    def sort_url(self, path: str, column: str, extra: dict[str, str] | None = None) -> str:
        """Sort by ``column``; a second click on the current column flips the order."""
        order = "desc"
        if column == self.sort:
            order = "asc" if self.order == "desc" else "desc"
        return self.url(path, extra, sort=column, order=order, page=0)

    def arrow(self, column: str) -> str:
        if column != self.sort:
            return ""
        return " ▲" if self.order == "asc" else " ▼"
