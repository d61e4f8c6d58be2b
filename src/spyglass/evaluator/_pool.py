"""Run chunk scoring functions inline or across worker processes.

Built-in text metrics are pure functions ``fn(config, predictions, targets) -> list`` over
chunks of rows. Small batches run in this process; large ones go to a process pool (one worker
per core by default), so BLEU and ROUGE use every core. Workers come from a ``forkserver``
that has already imported nltk and rouge-score (importing nltk takes seconds), and each worker
keeps its stem cache for the pool's lifetime. Results come back in row order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from spyglass.evaluator.progress import Progress

PARALLEL_MIN_ROWS = 2_000
_CHUNKS_PER_WORKER = 4
_MIN_CHUNK = 250
# What the forkserver imports once for every worker it forks. nltk's own modules load through
# `_light.import_light` when first used (skipping nltk's package init: seconds per process).
_PRELOAD = ["spyglass.evaluator._preload"]


def default_workers(rows: int) -> int:
    """One worker per core for batches of `PARALLEL_MIN_ROWS` rows or more, else none."""
    if rows < PARALLEL_MIN_ROWS:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def _advance(bar: Progress, rows: int) -> Callable[[Future[list[Any]]], None]:
    return lambda _future: bar.advance(rows)


class ChunkRunner:
    """A `spyglass.evaluator.metrics.ChunkMap` over an optional process pool.

    Use as a context manager so the pool is shut down. ``workers=1`` never starts a pool.
    """

    def __init__(self, workers: int, *, progress: bool | None = None) -> None:
        self.workers = max(1, workers)
        self.progress = progress
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ChunkRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut the worker pool down, if one was started."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _chunk_size(self, rows: int) -> int:
        if self.workers == 1:
            return max(rows // 20, _MIN_CHUNK)
        return max(-(-rows // (self.workers * _CHUNKS_PER_WORKER)), _MIN_CHUNK)

    def __call__(
        self,
        fn: Callable[..., list[Any]],
        config: Any,
        predictions: Sequence[str],
        targets: Sequence[Sequence[str]],
    ) -> list[Any]:
        """``fn(config, predictions, targets)`` over chunks, concatenated in row order."""
        rows = len(predictions)
        size = self._chunk_size(rows)
        bounds = [(start, min(start + size, rows)) for start in range(0, rows, size)]
        label = fn.__module__.rsplit(".", 1)[-1].strip("_")
        bar = Progress(rows, f"scoring {label}", enabled=self.progress)
        try:
            if self.workers == 1 or len(bounds) == 1:
                out: list[Any] = []
                for a, b in bounds:
                    out.extend(fn(config, predictions[a:b], targets[a:b]))
                    bar.advance(b - a)
                return out
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=_context())
            futures: list[Future[list[Any]]] = [
                self._pool.submit(fn, config, list(predictions[a:b]), list(targets[a:b]))
                for a, b in bounds
            ]
            for future, (a, b) in zip(futures, bounds, strict=True):
                future.add_done_callback(_advance(bar, b - a))
            results: list[Any] = []
            for future in futures:
                results.extend(future.result())
            return results
        finally:
            bar.close()
