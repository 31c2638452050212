"""Leases: a claim or content lock is kept alive by its owner's heartbeat and expires without it.

A claim (``.parley-claims/<owner>/``) and a content lock (``.parley-content/<sha256>``) name the
process that holds them. On the owner's own machine a dead pid says it is gone; on any other
machine only time can. So each holder has a *lease file* whose modification time is the owner's
last heartbeat: a background thread in the owner's process touches it every quarter lease. Any
process, on any machine that sees the folder, may take over what an owner holds once its lease
file is older than the lease the owner wrote into it (``PARLEY_CLAIM_LEASE_S``, 60 s by default).

The file system's clock stamps the times (the owner touches, the reader compares with its own
clock), so the machines' clocks must agree to well within a lease (NTP does).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_LEASE_S = 60.0
LEASE_SUFFIX = ".lease"


def write_lease(path: Path, info: dict[str, Any]) -> None:
    """Write the lease file ``path`` (JSON ``info``, with ``lease_s``) in one rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(info, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def read_lease(path: Path) -> dict[str, Any] | None:
    """The lease's JSON, ``{}`` for an unreadable one, None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def expired(path: Path, lease_s: float | None = None, now: float | None = None) -> bool:
    """Whether the lease file ``path`` has had no heartbeat for its lease (``lease_s`` if the
    file does not say); a missing file counts as expired."""
    try:
        beat = path.stat().st_mtime
    except FileNotFoundError:
        return True
    if lease_s is None:
        lease_s = float((read_lease(path) or {}).get("lease_s") or DEFAULT_LEASE_S)
    return (time.time() if now is None else now) - beat > lease_s


class Heartbeat:
    """Touches the lease files this process holds, from one daemon thread.

    ``hold(path, lease_s)`` starts beating for ``path`` (every quarter of the shortest lease
    held); ``release(path)`` stops. A lease file that another process removed (it took the claim
    over after the lease ran out) is dropped and reported by ``lost(path)``.
    """

    def __init__(self) -> None:
        self._held: dict[Path, float] = {}
        self._lost: set[Path] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def hold(self, path: Path, lease_s: float) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's thread did not come along
                self._held, self._lost, self._thread, self._pid = {}, set(), None, os.getpid()
            self._held[Path(path)] = float(lease_s)
            self._lost.discard(Path(path))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="parley-heartbeat", daemon=True)
                self._thread.start()
        self._wake.set()

    def release(self, path: Path) -> None:
        with self._lock:
            self._held.pop(Path(path), None)

    def lost(self, path: Path) -> bool:
        with self._lock:
            return Path(path) in self._lost

    def beat(self) -> None:
        """Touch every held lease now."""
        with self._lock:
            held = list(self._held)
        for path in held:
            try:
                os.utime(path)
            except FileNotFoundError:  # taken over: never recreate it
                with self._lock:
                    self._held.pop(path, None)
                    self._lost.add(path)
            except OSError:
                pass  # a read-only or unreachable share: the lease may run out; the owner checks before it stores

    def _run(self) -> None:
        while True:
            with self._lock:
                interval = min(self._held.values(), default=DEFAULT_LEASE_S) / 4.0
            self._wake.wait(max(0.2, interval))
            self._wake.clear()
            self.beat()


HEARTBEAT = Heartbeat()
"""This process's heartbeat (one thread for every lease it holds)."""
