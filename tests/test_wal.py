"""The write-ahead log in front of the native insert: durability, batching, replay, limits."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from spyglass.collector import wal as wal_module
from spyglass.collector.pipeline import QueueFullError
from spyglass.collector.wal import BodyInfo, Segment, WriteAheadLog, frames, varint


def framed(payload: bytes) -> bytes:
    return varint(len(payload)) + payload


def scan(message: bytes) -> BodyInfo:
    """Test bodies: ``b"<trace>:<n>"`` holds n spans of one trace, starting at n."""
    trace, count = message.decode().split(":")
    return BodyInfo(int(count), frozenset({trace}), (int(count), int(count)))


def submit(log: WriteAheadLog, payload: bytes) -> Future[None]:
    return log.submit(framed(payload), scan(payload))


class Recorder:
    """An insert function that records what it got and can be held or made to fail."""

    def __init__(self) -> None:
        self.segments: list[tuple[str, int, set[str], list[bytes]]] = []
        self.release = threading.Event()
        self.release.set()
        self.failures = 0
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def __call__(self, segment: Segment) -> None:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            assert self.release.wait(10)
            if self.failures:
                self.failures -= 1
                raise RuntimeError("store unavailable")
            data = segment.path.read_bytes()
            bodies = [data[a:b] for a, b in frames(data)]
            with self.lock:
                self.segments.append(
                    (segment.path.name, segment.spans, set(segment.trace_ids), bodies)
                )
        finally:
            with self.lock:
                self.active -= 1

    def bodies(self) -> list[bytes]:
        return [b for *_, bodies in self.segments for b in bodies]


def segment_bytes(directory: Path) -> bytes:
    """The bytes of every segment file, read while the appender may seal (rename) one."""
    while True:
        names = sorted(p for p in directory.iterdir() if p.suffix in (".open", ".wal"))
        try:
            return b"".join(p.read_bytes() for p in names)
        except FileNotFoundError:
            continue  # sealed between the listing and the read: list again


def make(tmp_path: Path, insert: Recorder, **options: object) -> WriteAheadLog:
    log = WriteAheadLog(tmp_path / "wal", insert, scan, seal_seconds=0.05, **options)  # type: ignore[arg-type]
    log.start()
    return log


def test_frames_stop_at_a_torn_tail() -> None:
    data = framed(b"a" * 200) + framed(b"bc") + varint(50) + b"short"
    assert [data[a:b] for a, b in frames(data)] == [b"a" * 200, b"bc"]


def test_at_low_load_the_ack_waits_for_the_insert(tmp_path: Path) -> None:
    insert = Recorder()
    log = make(tmp_path, insert)
    done = [submit(log, f"t{i}:2".encode()) for i in range(5)]
    for future in done:
        future.result(5)
    # Acknowledged means inserted here: every body is already in an insert.
    assert sorted(insert.bodies()) == sorted(f"t{i}:2".encode() for i in range(5))
    log.shutdown()
    assert log.stats.written_spans == 10
    assert list((tmp_path / "wal").glob("*.wal")) == []


def test_under_load_the_ack_comes_after_the_fsync_and_inserts_are_batched(
    tmp_path: Path,
) -> None:
    insert = Recorder()
    insert.release.clear()
    log = make(tmp_path, insert, sync_ack_spans=0, seal_spans=1_000)
    done = [submit(log, f"t{i}:100".encode()) for i in range(30)]
    for future in done:
        future.result(5)  # acknowledged while every insert is still held
    assert insert.segments == []
    on_disk = segment_bytes(tmp_path / "wal")
    assert len(list(frames(on_disk))) == 30
    insert.release.set()
    log.shutdown()
    assert sorted(insert.bodies()) == sorted(f"t{i}:100".encode() for i in range(30))
    assert len(insert.segments) < 30  # many bodies per insert
    assert max(spans for _, spans, _, _ in insert.segments) >= 1_000


def test_the_store_lag_of_every_span_is_reported_once_stored(tmp_path: Path) -> None:
    lags: list[tuple[float, int]] = []

    def record(seconds: float, spans: int) -> None:
        lags.append((seconds, spans))

    quiet = make(tmp_path / "quiet", Recorder(), on_stored=record)
    submit(quiet, b"q:3").result(5)  # acked by the insert itself
    quiet.shutdown()
    assert lags == [(0.0, 3)]
    lags.clear()
    # Under load the acknowledgement comes at the fsync; the insert is held 0.3 s after it.
    insert = Recorder()
    insert.release.clear()
    busy = make(tmp_path / "busy", insert, on_stored=record, sync_ack_spans=0)
    submit(busy, b"b:5").result(5)
    time.sleep(0.3)
    insert.release.set()
    busy.shutdown()
    assert [spans for _, spans in lags] == [5]
    assert 0.3 <= lags[0][0] < 5


def test_segments_left_by_a_crash_are_replayed_and_a_torn_tail_dropped(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    directory.mkdir()
    (directory / "000000000007.wal").write_bytes(framed(b"a:3") + framed(b"b:4"))
    (directory / "000000000008.open").write_bytes(framed(b"c:5") + varint(40) + b"torn")
    insert = Recorder()
    log = make(tmp_path, insert)
    # Replayed before start() returned, so a restarted server already holds them.
    got = {name: (spans, traces, bodies) for name, spans, traces, bodies in insert.segments}
    log.shutdown()
    assert got == {
        "000000000007.wal": (7, {"a", "b"}, [b"a:3", b"b:4"]),
        "000000000008.wal": (5, {"c"}, [b"c:5"]),
    }
    assert [p.name for p in directory.iterdir() if p.is_file()] == []


def test_a_new_segment_never_reuses_a_replayed_name(tmp_path: Path) -> None:
    directory = tmp_path / "wal"
    directory.mkdir()
    (directory / "000000000041.wal").write_bytes(framed(b"a:1"))
    insert = Recorder()
    log = make(tmp_path, insert)
    submit(log, b"b:1").result(5)
    log.shutdown()
    assert sorted(name for name, *_ in insert.segments) == ["000000000041.wal", "000000000042.wal"]


def test_a_full_log_refuses_without_losing_what_it_took(tmp_path: Path) -> None:
    insert = Recorder()
    insert.release.clear()
    log = make(tmp_path, insert, sync_ack_spans=0, max_pending_spans=500)
    taken = [submit(log, f"t{i}:100".encode()) for i in range(5)]
    with pytest.raises(QueueFullError):
        submit(log, b"x:100")
    assert log.stats.refused_spans == 100
    assert log.stats.full  # receivers now refuse without decoding
    insert.release.set()
    for future in taken:
        future.result(5)
    log.shutdown()
    assert not log.stats.full
    assert sorted(insert.bodies()) == sorted(f"t{i}:100".encode() for i in range(5))


def test_a_failed_insert_is_retried_and_stored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal_module, "RETRY_SECONDS", 0.01)
    insert = Recorder()
    insert.failures = 2
    lags: list[tuple[float, int]] = []
    log = make(tmp_path, insert, on_stored=lambda seconds, spans: lags.append((seconds, spans)))
    submit(log, b"a:1").result(5)
    deadline = time.monotonic() + 5
    while not insert.segments and time.monotonic() < deadline:
        time.sleep(0.01)
    log.shutdown()
    assert insert.bodies() == [b"a:1"]
    assert log.stats.written_spans == 1
    # Acknowledged when the first try failed (durable, retried), not when finally stored.
    assert len(lags) == 1 and lags[0][0] > 0 and lags[0][1] == 1


def test_a_segment_that_keeps_failing_is_kept_aside_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal_module, "RETRY_SECONDS", 0.01)
    insert = Recorder()
    insert.failures = 1_000
    log = make(tmp_path, insert)
    submit(log, b"a:1").result(5)
    failed = tmp_path / "wal" / wal_module.FAILED_DIR
    deadline = time.monotonic() + 5
    while not (failed.exists() and any(failed.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.01)
    log.shutdown()
    kept = list(failed.iterdir())
    assert len(kept) == 1
    assert [kept[0].read_bytes()[a:b] for a, b in frames(kept[0].read_bytes())] == [b"a:1"]
    assert log.stats.failed_spans == 1


def test_segments_sharing_a_trace_are_never_inserted_at_once(tmp_path: Path) -> None:
    insert = Recorder()
    insert.release.clear()
    log = make(tmp_path, insert, sync_ack_spans=0, seal_spans=1)
    for _ in range(4):
        submit(log, b"same:1").result(5)
    time.sleep(0.2)
    assert insert.active == 1  # the other segments wait although a second inserter is free
    insert.release.set()
    log.shutdown()
    assert insert.max_active == 1
    assert len(insert.bodies()) == 4


def test_shutdown_inserts_what_is_queued(tmp_path: Path) -> None:
    insert = Recorder()
    log = make(tmp_path, insert, sync_ack_spans=0, seal_spans=10**6)
    log._seal_seconds = 3600  # only shutdown seals
    for i in range(3):
        submit(log, f"t{i}:1".encode()).result(5)
    assert insert.segments == []
    log.shutdown()
    assert len(insert.bodies()) == 3


def test_while_every_inserter_is_busy_the_open_segment_keeps_growing(tmp_path: Path) -> None:
    insert = Recorder()
    insert.release.clear()
    log = make(tmp_path, insert, sync_ack_spans=0, inserters=1)
    submit(log, b"first:1").result(5)
    deadline = time.monotonic() + 5
    while insert.active == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(5):  # each arrives after the 0.05 s seal age has passed
        submit(log, f"t{i}:1".encode()).result(5)
        time.sleep(0.08)
    insert.release.set()
    log.shutdown()
    assert [len(bodies) for *_, bodies in insert.segments] == [1, 5]


def test_a_failed_write_is_refused_and_the_log_keeps_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    insert = Recorder()
    log = make(tmp_path, insert, sync_ack_spans=0)
    real_fsync = wal_module.os.fsync
    calls = [0]

    def flaky_fsync(fd: int) -> None:
        calls[0] += 1
        if calls[0] == 2:  # the first group's data (call 1 is the new segment's directory)
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(wal_module.os, "fsync", flaky_fsync)
    with pytest.raises(OSError, match="No space left"):
        submit(log, b"lost:3").result(5)
    submit(log, b"kept:2").result(5)
    log.shutdown()
    assert insert.bodies() == [b"kept:2"]  # the refused body left nothing behind
    assert log.stats.failed_spans == 3
    assert log.stats.written_spans == 2


def test_a_segment_keeps_each_traces_earliest_start(tmp_path: Path) -> None:
    segment = Segment(tmp_path / "s")
    wal_module._add(segment, BodyInfo(2, frozenset({"a", "b"}), (5, 9), False, {"a": 9, "b": 5}))
    wal_module._add(segment, BodyInfo(2, frozenset({"a", "c"}), (3, 7), False, {"a": 3, "c": 7}))
    assert segment.trace_starts == {"a": 3, "b": 5, "c": 7}
    assert segment.window == (3, 9)
    assert segment.repeats  # trace a is in both bodies
