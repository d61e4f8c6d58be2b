from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from spyglass.collector.pipeline import Pipeline, PipelineClosedError, QueueFullError
from spyglass.collector.rows import SpanBatch


def batch_of(n: int, tag: str = "x") -> SpanBatch:
    batch = SpanBatch()
    batch.columns[0].extend([tag] * n)
    batch.count = n
    return batch


def test_concurrent_submissions_share_one_insert() -> None:
    entered, release = threading.Event(), threading.Event()
    written: list[int] = []

    def write(batch: SpanBatch) -> None:
        entered.set()
        release.wait(5)
        written.append(batch.count)

    pipeline = Pipeline(write, max_batch_spans=1000)
    pipeline.start()
    first = pipeline.submit(batch_of(10))  # the writer holds this one until released
    assert entered.wait(5)
    others = [pipeline.submit(batch_of(20)) for _ in range(5)]
    release.set()
    for future in [first, *others]:
        future.result(5)
    pipeline.shutdown()
    assert sum(written) == 110
    assert written == [10, 100]


def test_stored_spans_are_reported_with_no_lag_as_the_ack_waits_for_the_insert() -> None:
    stored: list[tuple[float, int]] = []
    pipeline = Pipeline(lambda _: None, on_stored=lambda lag, spans: stored.append((lag, spans)))
    pipeline.start()
    pipeline.submit(batch_of(7)).result(5)
    assert stored == [(0.0, 7)]  # reported before the submitter hears back
    pipeline.shutdown()


def test_a_full_queue_refuses_instead_of_growing() -> None:
    release = threading.Event()
    pipeline = Pipeline(lambda _: release.wait(5) and None, max_queued_spans=100)
    pipeline.start()
    accepted = [pipeline.submit(batch_of(50)), pipeline.submit(batch_of(50))]
    with pytest.raises(QueueFullError):
        pipeline.submit(batch_of(1))
    assert pipeline.stats.refused_spans == 1
    assert pipeline.stats.full  # receivers now refuse without decoding
    release.set()
    for future in accepted:
        future.result(5)
    pipeline.shutdown()
    assert pipeline.stats.written_spans == 100
    assert not pipeline.stats.full


def test_a_failing_batch_fails_only_its_own_submitter() -> None:
    gate = threading.Event()

    def write(batch: SpanBatch) -> None:
        gate.wait(5)
        if "poison" in batch.columns[0]:
            raise RuntimeError("store rejected the rows")

    pipeline = Pipeline(write)
    pipeline.start()
    blocker = pipeline.submit(batch_of(1))
    good: Future[None] = pipeline.submit(batch_of(3))
    bad: Future[None] = pipeline.submit(batch_of(2, "poison"))
    gate.set()
    blocker.result(5)
    good.result(5)
    with pytest.raises(RuntimeError, match="store rejected"):
        bad.result(5)
    pipeline.shutdown()
    assert pipeline.stats.written_spans == 4
    assert pipeline.stats.queued_spans == 0


def test_shutdown_writes_what_was_queued_and_then_refuses() -> None:
    written: list[int] = []
    pipeline = Pipeline(lambda b: written.append(b.count))
    futures = [pipeline.submit(batch_of(5)) for _ in range(3)]
    pipeline.start()
    pipeline.shutdown()
    pipeline.shutdown()  # twice is fine
    assert all(f.done() and f.exception() is None for f in futures)
    assert sum(written) == 15
    with pytest.raises(PipelineClosedError):
        pipeline.submit(batch_of(1))


def test_an_empty_batch_resolves_at_once() -> None:
    pipeline = Pipeline(lambda _: None)
    assert pipeline.submit(SpanBatch()).done()
