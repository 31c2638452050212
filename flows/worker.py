"""``parley worker``: a Prefect worker that runs Parley's flow runs in its own process.

``prefect worker start --pool parley-local`` (Prefect's process worker) starts a new Python
process for every flow run, so each run imports Parley and loads the models again. This worker
polls the same kind of work pool (type ``process``), claims runs the same way (a Pending state
the server grants to one worker only) and respects the pool's and its own concurrency limits,
but runs each flow in this process, one at a time: the ``Processor`` and its models stay loaded
from one recording to the next (``flows.process_recording.shared_processor``).

Parley's own flows are imported from this package, whatever path the deployment was made from,
so machines need not share a checkout path. Ctrl-C (or SIGTERM) takes no new run, lets the one
under way finish and then exits; a second Ctrl-C exits at once (its claim goes back to the inbox
when its lease runs out, or at once when a process on this machine looks).
"""

from __future__ import annotations

import importlib
import os
import signal
import threading
import warnings
from functools import partial
from pathlib import Path
from typing import Any, Callable

import anyio
from prefect.flow_engine import load_flow, run_flow
from prefect.settings import PREFECT_WORKER_QUERY_SECONDS, temporary_settings
from prefect.workers.base import BaseWorker
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult

FLOWS_DIR = Path(__file__).resolve().parent
POLL_S = 2.0
"""How often the worker asks for runs (Prefect's default, 10 s, would leave it idle between files)."""

with warnings.catch_warnings():  # the same pool type as Prefect's process worker, on purpose
    warnings.simplefilter("ignore")

    class ParleyWorker(ProcessWorker):
        """A ``process`` work pool's worker that runs flows in this process, models kept loaded."""

        _description = "Runs Parley's flow runs in one long-lived process (models loaded once)."
        _display_name = "Parley (in-process)"

        def __init__(
            self,
            *args: Any,
            should_stop: Callable[[], bool] = lambda: False,
            on_outcome: Callable[[dict], None] = lambda _: None,
            **kwargs: Any,
        ):
            super().__init__(*args, **kwargs)
            self.should_stop = should_stop
            self.on_outcome = on_outcome
            self.runs_done = 0

        async def __aenter__(self) -> "ParleyWorker":  # no subprocess runner: runs stay in this process
            await BaseWorker.__aenter__(self)
            return self

        async def __aexit__(self, *exc_info: Any) -> None:
            await BaseWorker.__aexit__(self, *exc_info)

        async def get_and_submit_flow_runs(self):  # noqa: ANN201 - Prefect's signature
            if self.should_stop():
                return []  # stopping: take nothing new
            return await super().get_and_submit_flow_runs()

        async def run(self, flow_run, configuration: ProcessJobConfiguration, task_status=None) -> ProcessWorkerResult:
            flow = await anyio.to_thread.run_sync(_flow_for, flow_run)
            if task_status is not None:
                task_status.started(os.getpid())
            state = await anyio.to_thread.run_sync(partial(run_flow, flow, flow_run=flow_run, return_type="state"))
            self.runs_done += 1
            self.on_outcome(_outcome_of(flow_run, state))
            return ProcessWorkerResult(status_code=0, identifier=str(os.getpid()))

        async def kill_infrastructure(self, infrastructure_pid: str, configuration: Any, grace_seconds: int = 30) -> None:
            """A run here shares this process: it is never killed from outside (it ends, or the worker does)."""
            self._logger.warning("cannot cancel a flow run that is already running in this worker; it finishes first")


def _outcome_of(flow_run, state) -> dict:
    """The run's outcome (a process-recording run in this process) or, for another run, its state."""
    from flows.process_recording import take_outcome

    outcome = take_outcome(flow_run.id)
    if outcome is not None:
        return outcome
    return {"source_name": flow_run.name, "status": state.name.lower(), "message": state.message or ""}


def _flow_for(flow_run) -> Any:
    """The flow of ``flow_run``: Parley's own by import (loaded once per process), else Prefect's loader."""
    entrypoint = None
    if flow_run.deployment_id:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            entrypoint = client.read_deployment(flow_run.deployment_id).entrypoint
    if entrypoint and ":" in entrypoint:
        file_part, name = entrypoint.rsplit(":", 1)
        module = Path(file_part).stem
        if Path(file_part).parent.name == FLOWS_DIR.name and (FLOWS_DIR / f"{module}.py").is_file():
            return getattr(importlib.import_module(f"flows.{module}"), name)
    return load_flow(flow_run)


def serve(
    pool: str,
    name: str | None = None,
    *,
    on_start: Callable[[str], None] = lambda _: None,
    on_outcome: Callable[[dict], None] = lambda _: None,
    stop: threading.Event | None = None,
) -> int:
    """Run a ``ParleyWorker`` on ``pool`` until stopped; returns how many runs it finished.

    Ctrl-C or SIGTERM in the main thread (or ``stop`` set): no new run is taken, the one under
    way finishes, then it returns. A second Ctrl-C exits at once."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        def _signal(signum, frame):  # noqa: ANN001
            if stop.is_set():
                os._exit(130)
            stop.set()

        signal.signal(signal.SIGINT, _signal)
        signal.signal(signal.SIGTERM, _signal)

    async def main() -> int:
        worker = ParleyWorker(work_pool_name=pool, name=name, limit=1, create_pool_if_not_found=False, should_stop=stop.is_set, on_outcome=on_outcome)
        with temporary_settings({PREFECT_WORKER_QUERY_SECONDS: POLL_S}):
            async with anyio.create_task_group() as group:
                group.start_soon(partial(worker.start, printer=on_start))

                async def stopper() -> None:
                    while not stop.is_set():
                        await anyio.sleep(0.2)
                    while worker._limiter is not None and worker.limiter.borrowed_tokens > 0:  # the run under way
                        await anyio.sleep(0.2)
                    group.cancel_scope.cancel()

                group.start_soon(stopper)
        return worker.runs_done

    return anyio.run(main)
