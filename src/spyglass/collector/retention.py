"""The retention worker: sweeps expired traces in the background and on demand.

Settings live in the store (`spyglass.store.retention`), so a change made through any replica
applies at the next sweep; the sweep itself is `spyglass.store.expiry`. Sweeps run one at a time
(a lock), the first a minute after start, then hourly; an admin can run one now through the API.
A failed sweep is logged and counted, and the next one retries: the server never stops for it.
"""

from __future__ import annotations

import logging
import threading

from clickhouse_connect.driver.client import Client

from spyglass.collector.metrics import RetentionStats
from spyglass.store.expiry import SweepReport, sweep
from spyglass.store.retention import RetentionSettings

log = logging.getLogger("spyglass.retention")

DEFAULT_RETENTION_INTERVAL_S = 3600.0
DEFAULT_FIRST_SWEEP_DELAY_S = 60.0


class RetentionWorker:
    """Applies per-project and server-wide retention to spans and trace summaries.

    Args:
        client: the store's client (shared with the rest of the server).
        database: the Spyglass database.
        default_days: the server-wide ``--retention-days``, or None.
        stats: where sweeps are counted for ``/metrics``.
        interval_s: time between background sweeps.
        first_delay_s: time from `start` to the first background sweep.
    """

    def __init__(
        self,
        client: Client,
        database: str,
        default_days: int | None,
        stats: RetentionStats,
        *,
        interval_s: float = DEFAULT_RETENTION_INTERVAL_S,
        first_delay_s: float = DEFAULT_FIRST_SWEEP_DELAY_S,
    ) -> None:
        self.client, self.database, self.default_days = client, database, default_days
        self.settings = RetentionSettings(client, database)
        self.stats = stats
        self.interval_s, self.first_delay_s = interval_s, first_delay_s
        self.last: SweepReport | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="spyglass-retention", daemon=True
            )
            self._thread.start()

    def shutdown(self) -> None:
        """Stop the background sweeps; waits for one in progress. Safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def run(self) -> SweepReport:
        """Sweep now (after any sweep in progress) and return what it did.

        Raises:
            Exception: whatever the store raised; the failure is counted.
        """
        with self._lock:
            try:
                days = {p: r.days for p, r in self.settings.all().items()}
                report = sweep(self.client, self.database, days, self.default_days)
            except Exception:
                self.stats.failed()
                raise
            self.stats.record(report)
            self.last = report
        removed = sum(t.dropped_rows + t.deleted_rows for t in report.tables)
        if removed:
            log.info("retention removed %d expired rows in %.2f s", removed, report.seconds)
        return report

    def _loop(self) -> None:
        delay = self.first_delay_s
        while not self._stop.wait(delay):
            delay = self.interval_s
            try:
                self.run()
            except Exception:  # logged and retried next interval; never take the server down
                log.exception("retention sweep failed")
