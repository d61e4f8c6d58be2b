"""A small progress bar on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_MIN_INTERVAL_S = 0.1
_WIDTH = 24


class Progress:
    """``label [######------] 120/500  34.1/s`` redrawn in place at most ten times a second.

    Args:
        total: the number of steps.
        label: what is being counted.
        stream: where to draw (stderr by default).
        enabled: draw or not; by default only when ``stream`` is a TTY, so CI logs stay clean.
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.done = 0
        self._start = time.perf_counter()
        self._drawn = 0.0

    def advance(self, steps: int = 1) -> None:
        """Count ``steps`` more; redraw if due."""
        self.done = min(self.done + steps, self.total)
        now = time.perf_counter()
        if self.enabled and (now - self._drawn >= _MIN_INTERVAL_S or self.done == self.total):
            self._drawn = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        filled = _WIDTH * self.done // self.total
        rate = self.done / max(now - self._start, 1e-9)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}  {rate:.1f}/s")
        self.stream.flush()

    def close(self) -> None:
        """End the line the bar was drawn on."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
