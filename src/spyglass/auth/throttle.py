"""Slows password guessing: after too many failed logins for one user from one address, further
attempts are refused (429 with Retry-After) until the window has passed."""

from __future__ import annotations

import threading
import time
from collections import deque

MAX_FAILURES = 10
WINDOW_SECONDS = 300.0
MAX_TRACKED = 50_000  # bound the memory an attacker can make us spend


class Throttled(Exception):
    """Too many failed logins; retry after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"too many failed logins; retry in {seconds:.0f} s")
        self.seconds = seconds


class LoginThrottle:
    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_SECONDS) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, username: str, address: str) -> None:
        """Raises `Throttled` while this user and address are locked out."""
        now = time.monotonic()
        with self._lock:
            times = self._failures.get((username, address))
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if times and len(times) >= self.max_failures:
                raise Throttled(times[0] + self.window_s - now)

    def record(self, username: str, address: str, ok: bool) -> None:
        with self._lock:
            if ok:
                self._failures.pop((username, address), None)
                return
            if len(self._failures) >= MAX_TRACKED:
                self._failures.clear()
            self._failures.setdefault((username, address), deque()).append(time.monotonic())
