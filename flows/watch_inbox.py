"""``watch-inbox``: take the inbox's settled files (or given files) through every stage.

The files of one poll are one batch: each stage is a task run of this flow run, and recordings
overlap (the next is decoded and transcribed while the last is analysed and stored).
``process-recording`` takes one file on demand.

One call is one poll, so a deployment can run it on an interval schedule (off by default: every
poll would be a flow run, empty or not). ``parley watch`` runs ``watch_forever``, which polls
in-process (models stay loaded) and calls this flow only when files are ready, so an empty inbox
makes no flow runs. The flow run is named after its files (``call.wav``, ``call.wav +3``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from pipeline import ingest, watcher
from pipeline.process import Outcome, Processor

from flows.process_recording import log_outcome, prefect_runner, settings_for

ProgressFn = Callable[[dict[str, Any]], None]


def ready_files(inbox: Path, tracker: ingest.StabilityTracker) -> list[Path]:
    return tracker.ready(ingest.list_inbox(inbox)) if inbox.is_dir() else []


def _batch_run_name() -> str:
    """``call.wav`` for one file, ``call.wav +3`` for four; ``inbox`` for a poll of the inbox."""
    files = flow_run.parameters.get("files") or []
    if not files:
        return "inbox"
    return Path(str(files[0])).name + (f" +{len(files) - 1}" if len(files) > 1 else "")


@flow(name="watch-inbox", flow_run_name=_batch_run_name, log_prints=False)
def watch_inbox(
    inbox: str | None = None,
    files: list[str] | None = None,
    settings: dict[str, Any] | None = None,
    move: bool = True,
    stable_s: float | None = None,
    on_progress: ProgressFn | None = None,
    stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Process ``files``, or every file in ``inbox`` that has not changed for ``stable_s``.

    Returns counts by outcome and the outcomes themselves. ``on_progress`` is called after each
    file (the CLI draws its progress bar with it); once ``stop()`` is true no new file is taken.
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
    processor.process_many(paths, runner=prefect_runner, on_outcome=done, should_stop=stop)
    return {"counts": dict(Counter(o["status"] for o in outcomes)), "outcomes": outcomes}


def watch_forever(
    settings: dict[str, Any] | None = None,
    *,
    on_progress: ProgressFn | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Poll the inbox until ``stop()``; run ``watch-inbox`` on files that stopped growing (one
    flow run per poll that found files; none for an empty poll)."""

    def batch(paths: list[Path]) -> list[dict[str, Any]]:
        return watch_inbox(files=[str(p) for p in paths], settings=settings, on_progress=on_progress, stop=stop)["outcomes"]

    watcher.watch(settings_for(settings), batch, stop=stop)
