"""``watch-inbox``: take the inbox's settled files (or given files) through every stage.

The files of one poll are one batch: each stage is a task run of this flow run, and recordings
overlap (the next is decoded and transcribed while the last is analysed and stored).
``process-recording`` takes one file on demand.

One call is one poll, so a deployment can run it on an interval schedule. ``parley watch`` runs
``watch_forever``, which polls in-process (models stay loaded) and calls this flow only when files
are ready.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from pipeline import ingest
from pipeline.process import Outcome, Processor

from flows.process_recording import log_outcome, prefect_runner, settings_for

ProgressFn = Callable[[dict[str, Any]], None]


def ready_files(inbox: Path, tracker: ingest.StabilityTracker) -> list[Path]:
    return tracker.ready(ingest.list_inbox(inbox)) if inbox.is_dir() else []


@flow(name="watch-inbox", log_prints=False)
def watch_inbox(
    inbox: str | None = None,
    files: list[str] | None = None,
    settings: dict[str, Any] | None = None,
    move: bool = True,
    stable_s: float | None = None,
    on_progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Process ``files``, or every file in ``inbox`` that has not changed for ``stable_s``.

    Returns counts by outcome and the outcomes themselves. ``on_progress`` is called after each
    file (the CLI draws its progress bar with it).
    """
    overrides = dict(settings or {})
    if inbox:
        overrides["inbox"] = inbox
    s = settings_for(overrides)
    if files is None:
        ingest.recover_claims(s.inbox)
        paths = ready_files(s.inbox, ingest.StabilityTracker(s.stable_s if stable_s is None else stable_s))
    else:
        paths = [Path(f) for f in files]
    if not paths:
        return {"counts": {}, "outcomes": []}
    logger = get_run_logger()
    outcomes: list[dict[str, Any]] = []

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome.as_dict())
        log_outcome(logger, outcome)
        if on_progress:
            on_progress(outcomes[-1])

    # One processor for the batch: one thread per core claims, decodes and transcribes a
    # recording while one thread analyses and stores; every stage is a task run of this flow run.
    processor = Processor(s, move=move, flow_run_id=str(flow_run.id) if flow_run.id else None)
    processor.process_many(paths, runner=prefect_runner, on_outcome=done)
    return {"counts": dict(Counter(o["status"] for o in outcomes)), "outcomes": outcomes}


def watch_forever(
    settings: dict[str, Any] | None = None,
    *,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
    on_progress: ProgressFn | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Poll the inbox until ``stop()``; run ``watch-inbox`` on files that stopped growing."""
    s = settings_for(settings)
    s.inbox.mkdir(parents=True, exist_ok=True)
    ingest.recover_claims(s.inbox)
    tracker = ingest.StabilityTracker(s.stable_s)
    while not stop():
        ready = ready_files(s.inbox, tracker)
        result = watch_inbox(files=[str(p) for p in ready], settings=settings, on_progress=on_progress) if ready else {"counts": {}}
        if ready and on_batch:
            on_batch(result)
        if set(result["counts"]) <= {"retry", "skipped"}:  # nothing done: wait, rather than retry at once
            time.sleep(s.poll_interval_s)
