"""Open a clickhouse-connect client from a store URL.

Two kinds of URL:
- ``chdb:///abs/path`` (or a bare directory path): ClickHouse embedded in this process via chDB.
  One process owns a data directory; everything else reaches it through the server's HTTP API.
- ``http(s)://user:password@host:8123/database``: a ClickHouse server or cluster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from spyglass.errors import ConfigError

DEFAULT_DATABASE = "spyglass"

# chDB's jemalloc hands freed pages back to the kernel at once (its built-in muzzy_decay_ms:0),
# so each INSERT faulted its whole working set in again: ~100k page faults and ~0.3 s of
# system time per 50k spans. Keeping freed pages for up to a minute removes nearly all of
# them; the memory goes back once the store is idle. jemalloc reads this when chDB loads, so
# it is set before the first embedded client; a value set by the user wins.
CHDB_MALLOC_CONF = "dirty_decay_ms:60000,muzzy_decay_ms:60000"

# Merges run at the nice value of the INSERTs (`os_thread_priority = 10` in
# `collector.native.statement`) instead of 0, which by the scheduler's weights (1024 vs 110) gave
# a merge ~90% of a core it shared with an INSERT. At 50k spans/s offered for 60 s, the worst
# ack-to-queryable lag was 2.1-2.5 s instead of 2.6-3.6 s (4 runs each), with fewer 503s.
# Queries keep priority over both. Without CAP_SYS_NICE this does nothing.
CHDB_OPTIONS = {"os_threads_nice_value_merge_mutate": 10}


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: where ClickHouse is and which database Spyglass uses."""

    kind: str  # "chdb" or "http"
    target: str  # data directory for chdb, base URL for http
    database: str
    username: str | None = None
    password: str | None = None

    @property
    def embedded(self) -> bool:
        return self.kind == "chdb"


def parse_store_url(url: str, database: str | None = None) -> StoreURL:
    """Parse ``chdb:///path``, a plain path, or ``http(s)://...[/database]``.

    Raises:
        ConfigError: for an unknown scheme or a chdb URL without a path.
    """
    parts = urlsplit(url)
    if parts.scheme in ("", "file") or (len(parts.scheme) == 1 and url[1:3] == ":\\"):
        path = parts.path if parts.scheme == "file" else url
        return StoreURL(
            "chdb", str(Path(path).expanduser().resolve()), database or DEFAULT_DATABASE
        )
    if parts.scheme == "chdb":
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise ConfigError(f"store URL {url!r} names no data directory (chdb:///abs/path)")
        return StoreURL(
            "chdb", str(Path(path).expanduser().resolve()), database or DEFAULT_DATABASE
        )
    if parts.scheme in ("http", "https"):
        db = database or parts.path.strip("/") or DEFAULT_DATABASE
        port = f":{parts.port}" if parts.port else ""
        base = f"{parts.scheme}://{parts.hostname}{port}"
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        return StoreURL("http", base, db, user, password)
    raise ConfigError(
        f"unsupported store URL scheme {parts.scheme!r}: use chdb:///path or http(s)://"
    )


def connect(store_url: StoreURL) -> Client:
    """Open a client; the database itself is created by the migrations."""
    settings: dict[str, Any] = {}
    if store_url.embedded:
        os.environ.setdefault("JE_MALLOC_CONF", CHDB_MALLOC_CONF)
        Path(store_url.target).mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(
            dsn=f"chdb://{store_url.target}", settings=settings, chdb_options=CHDB_OPTIONS
        )
    return clickhouse_connect.get_client(
        dsn=store_url.target,
        username=store_url.username or "default",
        password=store_url.password or "",
        settings=settings,
        # Spans carry long texts; compression pays for itself on the wire.
        compress=True,
    )
