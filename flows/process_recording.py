"""``process-recording``: one recording through every stage, each stage a Prefect task.

Transient failures (database locked, archive briefly unwritable) are retried by Prefect; terminal
ones (bad audio, bad sidecar) end in quarantine with an ``errors`` row. See ``pipeline.process``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from pipeline.errors import TransientError
from pipeline.process import RETRIES, RETRY_DELAY_S, Processor
from pipeline.settings import Settings


def _retry_if_transient(task_, task_run, state) -> bool:
    """Prefect retry condition: only ``TransientError`` is worth another try."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:  # noqa: BLE001 - any other failure is terminal
        return False
    return False


def prefect_runner(name: str, fn: Callable, *args) -> Any:
    """Run one pipeline stage as a Prefect task (named after the stage)."""
    stage_task = task(
        fn,
        name=name,
        retries=RETRIES,
        retry_delay_seconds=RETRY_DELAY_S,
        retry_condition_fn=_retry_if_transient,
        cache_policy=NO_CACHE,
        persist_result=False,
    )
    return stage_task(*args)


def settings_for(overrides: dict[str, Any] | None) -> Settings:
    """Settings from env/pyproject with the flow's parameters on top (None = not given)."""
    return Settings(**{k: v for k, v in (overrides or {}).items() if v is not None})


@flow(name="process-recording", log_prints=False)
def process_recording(path: str, settings: dict[str, Any] | None = None, move: bool = True) -> dict[str, Any]:
    """Process one file: claim, identify, decode, transcribe, store, archive (or quarantine).

    ``settings``: overrides such as ``{"db": "data/parley.duckdb", "archive": ...}``.
    ``move``: False leaves the file where it is (a copy of the result, no archive move).
    """
    processor = Processor(settings_for(settings), move=move, flow_run_id=str(flow_run.id) if flow_run.id else None)
    outcome = processor.process(Path(path), runner=prefect_runner)
    log_outcome(get_run_logger(), outcome)
    return outcome.as_dict()


def log_outcome(logger, outcome) -> None:
    if outcome.status == "quarantined":
        logger.error("quarantined: %s", outcome.message)
    elif outcome.status == "retry":
        logger.warning("will retry later: %s", outcome.message)
    else:
        logger.info("%s: %s", outcome.status, outcome.source_name)
