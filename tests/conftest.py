"""Shared fixtures: real ClickHouse (chDB) stores and real server processes.

chDB allows one data directory per process, so this process gets one path for its stores
(a fresh database per test), and each server subprocess gets a directory of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from clickhouse_connect.driver.client import Client

from spyglass.store.connection import connect, parse_store_url
from spyglass.store.schema import SchemaOptions, migrate
from spyglass.store.traces import TraceStore


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded store of this test process (chDB opens one data directory per process)."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def chdb_client(chdb_dir: Path) -> Iterator[Client]:
    client = connect(parse_store_url(f"chdb://{chdb_dir}"))
    yield client
    client.close()


@pytest.fixture
def schema(chdb_client: Client) -> SchemaOptions:
    """A fresh, migrated database for one test."""
    options = SchemaOptions(database=f"t_{uuid.uuid4().hex[:12]}")
    migrate(chdb_client, options)
    return options


@pytest.fixture
def store(chdb_client: Client, schema: SchemaOptions) -> TraceStore:
    return TraceStore(chdb_client, schema)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """A `spyglass server` subprocess on a free port with its own data directory."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.data_dir / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spyglass.cli", "server", "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--log-level", "warning", *self.extra_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def healthy(self) -> bool:
        return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One running server shared by a module's tests (use distinct projects per test)."""
    proc = ServerProcess(tmp_path_factory.mktemp("server"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def project() -> str:
    """A project name no other test uses."""
    return f"p-{uuid.uuid4().hex[:10]}"
