"""The task runner as a setting, and ``process-batch``: files mapped over it.

``PARLEY_TASK_RUNNER`` picks how ``process-batch`` spreads files:

- ``threads`` (default): Prefect's ``ThreadPoolTaskRunner`` in this process;
- ``dask``: a local Dask cluster of ``PARLEY_WORKERS`` processes, one thread each (prefect-dask);
- ``dask://HOST:8786`` (or ``tcp://``): an existing Dask scheduler, workers on other machines.

Each worker process keeps one ``Processor`` (models stay loaded). Files are claimed by atomic
rename, so a file is processed once however many workers see it. Worker processes on one machine
may write DuckDB directly (each write retries the lock); across machines set
``PARLEY_STAGING_DIR`` so workers write Parquet and one ``load-staging`` flow fills DuckDB.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline.errors import ConfigError
from pipeline.settings import Settings

from flows.process_recording import shared_processor


def task_runner(name: str | None = None, workers: int | None = None):
    """The Prefect task runner named by ``name`` (default: the ``task_runner`` setting, PARLEY_TASK_RUNNER)."""
    settings = Settings()
    name = (name or settings.task_runner).strip()
    workers = workers or settings.workers or (os.cpu_count() or 1)
    if name == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if name == "dask" or name.startswith(("dask://", "tcp://")):
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError as exc:
            raise ConfigError("PARLEY_TASK_RUNNER is dask but prefect-dask is not installed", fix="pip install prefect-dask==0.3.7") from exc
        if name == "dask":
            return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None})
        return DaskTaskRunner(address=name.replace("dask://", "tcp://", 1))
    raise ConfigError(f"unknown task runner '{name}'", fix="set PARLEY_TASK_RUNNER to threads, dask or dask://HOST:PORT")


@task(name="process-file", cache_policy=NO_CACHE, persist_result=False)
def process_file(path: str, settings: dict[str, Any] | None = None, move: bool = True) -> dict[str, Any]:
    """Process one file with this worker's processor; the outcome as a dict."""
    return shared_processor(settings, move).process(Path(path)).as_dict()  # one per worker process: models load once


@flow(name="process-batch", log_prints=False)
def process_batch(files: list[str], settings: dict[str, Any] | None = None, move: bool = True) -> list[dict[str, Any]]:
    """Map ``process-file`` over ``files`` on the flow's task runner."""
    futures = process_file.map(files, settings=unmapped(settings), move=unmapped(move))
    return [f.result() for f in futures]


def process_files(files: list[str], settings: dict[str, Any] | None = None, *, move: bool = True, runner: str | None = None, workers: int | None = None) -> list[dict[str, Any]]:
    """Run ``process-batch`` on the task runner chosen by ``runner`` (or ``PARLEY_TASK_RUNNER``)."""
    return process_batch.with_options(task_runner=task_runner(runner, workers))(files, settings=settings, move=move)
