"""``process-recording``: one recording through every stage, each stage a Prefect task.

Transient failures (database locked, archive briefly unwritable) are retried by Prefect; terminal
ones (bad audio, bad sidecar) end in quarantine with an ``errors`` row. See ``pipeline.process``.

The flow run is named after the file and each task run after its stage and the file
(``transcribe: call.wav``). A relative ``path`` is taken inside this worker's inbox
(``PARLEY_INBOX``), so workers on several machines may mount a shared inbox wherever they like.
A worker process keeps one ``Processor`` per settings (``shared_processor``): a long-lived worker
(``parley worker``) loads the models once.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from pipeline.errors import TransientError
from pipeline.process import CURRENT_FILE, RETRIES, RETRY_DELAY_S, Processor
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
    """Run one pipeline stage as a Prefect task, named after the stage; its run after the stage
    and the file (``transcribe: call.wav``)."""
    file_name = CURRENT_FILE.get()
    run_name = f"{name}: {file_name}" if file_name else name
    stage_task = task(
        fn,
        name=name,
        task_run_name=lambda: run_name,
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


_processors: dict[tuple[str, bool], Processor] = {}
_processors_lock = threading.Lock()


def shared_processor(settings: dict[str, Any] | None, move: bool = True) -> Processor:
    """This process's ``Processor`` for these settings: made (and its models loaded) once."""
    key = (json.dumps(settings or {}, sort_keys=True, default=str), move)
    with _processors_lock:
        if key not in _processors:
            _processors[key] = Processor(settings_for(settings), move=move)
        return _processors[key]


def _file_run_name() -> str:
    """The flow run's name: the file's."""
    return Path(str(flow_run.parameters.get("path") or "recording")).name


@flow(name="process-recording", flow_run_name=_file_run_name, log_prints=False)
def process_recording(path: str, settings: dict[str, Any] | None = None, move: bool = True) -> dict[str, Any]:
    """Process one file: claim, identify, decode, transcribe, store, archive (or quarantine).

    ``path``: the file; a relative path is taken inside the inbox (``PARLEY_INBOX``).
    ``settings``: overrides such as ``{"db": "data/parley.duckdb", "archive": ...}``.
    ``move``: False leaves the file where it is (a copy of the result, no archive move).
    """
    processor = shared_processor(settings, move)
    processor.flow_run_id = str(flow_run.id) if flow_run.id else None
    target = Path(path)
    if not target.is_absolute():
        target = processor.settings.inbox / target
    outcome = processor.process(target, runner=prefect_runner)
    log_outcome(get_run_logger(), outcome)
    if flow_run.id:
        with _processors_lock:
            _outcomes[str(flow_run.id)] = outcome.as_dict()
            while len(_outcomes) > 100:
                _outcomes.pop(next(iter(_outcomes)))
    return outcome.as_dict()


_outcomes: dict[str, dict[str, Any]] = {}


def take_outcome(flow_run_id: Any) -> dict[str, Any] | None:
    """The outcome of a ``process-recording`` run that ran in this process (``parley worker``
    prints it), once."""
    with _processors_lock:
        return _outcomes.pop(str(flow_run_id), None)


def log_outcome(logger, outcome) -> None:
    if outcome.status == "quarantined":
        logger.error("quarantined: %s", outcome.message)
    elif outcome.status == "retry":
        logger.warning("will retry later: %s", outcome.message)
    else:
        logger.info("%s: %s", outcome.status, outcome.source_name)
