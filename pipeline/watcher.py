"""The watcher's loop: poll the inbox, take settled files, back off from files that keep failing.

One loop serves every way of following an inbox: ``parley watch --local`` (the stages in this
process), ``parley watch`` (the same through the ``watch-inbox`` Prefect flow) and
``parley watch --submit`` (one ``process-recording`` flow run per file, sent to a work pool).
Each poll first hands back claims whose owner is gone (``ingest.recover_claims``), so a worker
killed on any machine loses its files to the others after its lease. A file handed back after a
transient error (database locked, archive unwritable) waits ``retry_backoff_s`` before its next
try, twice as long after each further failure, up to an hour. ``stop()`` is checked between
files: the file under way finishes, then the loop ends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Hashable

from . import ingest
from .settings import Settings

MAX_BACKOFF_S = 3600.0

Batch = Callable[[list[Path]], list[dict[str, Any]]]
"""Takes the ready files (one poll), returns their outcomes (``Outcome.as_dict()``)."""


class Backoff:
    """When a key (a file) may be tried again: ``base_s`` after its first failure, doubling."""

    def __init__(self, base_s: float, max_s: float = MAX_BACKOFF_S):
        self.base_s, self.max_s = base_s, max_s
        self._tries: dict[Hashable, tuple[int, float]] = {}

    def failed(self, key: Hashable) -> float:
        """Count a failure; returns the seconds to wait before the next try."""
        n = self._tries.get(key, (0, 0.0))[0] + 1
        wait = min(self.base_s * 2 ** (n - 1), self.max_s)
        self._tries[key] = (n, time.monotonic() + wait)
        return wait

    def waiting(self, key: Hashable) -> bool:
        entry = self._tries.get(key)
        return entry is not None and entry[1] > time.monotonic()

    def forget(self, key: Hashable) -> None:
        self._tries.pop(key, None)

    def sweep(self) -> None:
        """Forget keys whose wait ended over ``max_s`` ago (files long gone)."""
        now = time.monotonic()
        for key in [k for k, (_, until) in self._tries.items() if now - until > self.max_s]:
            del self._tries[key]


def watch(
    settings: Settings,
    batch: Batch,
    *,
    stop: Callable[[], bool] = lambda: False,
    on_expired: ingest.ExpiredFn | None = None,
) -> None:
    """Poll ``settings.inbox`` until ``stop()``; hand each poll's settled files to ``batch``."""
    settings.inbox.mkdir(parents=True, exist_ok=True)
    tracker = ingest.StabilityTracker(settings.stable_s)
    backoff = Backoff(settings.retry_backoff_s)
    while not stop():
        ingest.recover_claims(settings.inbox, on_expired=on_expired)
        ready = [p for p in tracker.ready(ingest.list_inbox(settings.inbox)) if not backoff.waiting(identity(p))]
        outcomes = batch(ready) if ready else []
        for outcome in outcomes:
            if outcome["status"] == "retry" and outcome.get("path"):  # handed back to the inbox: wait before the next try
                backoff.failed(identity(Path(outcome["path"])))
        backoff.sweep()
        if all(o["status"] in ("retry", "skipped") for o in outcomes):  # nothing done: wait before the next poll
            _sleep(settings.poll_interval_s, stop)


def identity(path: Path) -> tuple[str, int, int] | None:
    """A file as the inbox holds it (path, size, mtime): another file dropped under the same name
    later is not the one that failed."""
    try:
        st = path.stat()
    except OSError:
        return None
    return str(path), st.st_size, st.st_mtime_ns


def _sleep(seconds: float, stop: Callable[[], bool]) -> None:
    """Sleep, waking early when ``stop()`` turns true."""
    end = time.monotonic() + seconds
    while not stop() and (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.2))
