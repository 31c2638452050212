"""``parley watch --submit``: one ``process-recording`` flow run per settled file, sent to a work pool.

The watcher only looks at the folder; the work pool's workers (``parley worker`` on any number of
machines, or ``prefect worker start``) take the runs, as many at once as the pool's concurrency
limit allows. An empty poll creates nothing.

- Each run is created with an idempotency key made of the file's path, size and times, so a
  file seen again before a worker claimed it (the next poll, a restarted watcher, a second
  watcher) gets the same run, never a second one.
- The run's ``path`` is relative to the inbox: each worker resolves it in its own
  ``PARLEY_INBOX``, so machines may mount the shared inbox anywhere.
- A worker that dies leaves its claim; after the claim's lease the watcher hands the file back
  to the inbox, marks the dead worker's flow run Crashed (so it no longer holds a slot of the
  pool's concurrency limit) and submits the file again, to whichever worker is free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from prefect.deployments import run_deployment

from pipeline import ingest, watcher
from pipeline.settings import Settings

DEFAULT_DEPLOYMENT = "process-recording/process-on-demand"

SubmitFn = Callable[[Path, Any], None]
"""``on_submit(path, flow_run)``: called for each run created (or found, for a file seen again)."""


def run_key(path: Path) -> str | None:
    """The idempotency key of ``path`` as it lies in the inbox now: the same file seen again gets
    the same run; after a claim is handed back (a rename changes its ctime) it gets a new one."""
    try:
        st = path.stat()
    except OSError:
        return None
    return f"parley:{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def submit_files(settings: Settings, paths: list[Path], deployment: str = DEFAULT_DEPLOYMENT, on_submit: SubmitFn | None = None) -> list[dict[str, Any]]:
    """Create one flow run of ``deployment`` per file; returns ``submitted`` outcomes."""
    outcomes = []
    for path in paths:
        key = run_key(path)
        if key is None:  # gone: claimed meanwhile
            continue
        relative = path.relative_to(settings.inbox) if path.is_relative_to(settings.inbox) else path
        run = run_deployment(
            deployment,
            parameters={"path": str(relative)},
            flow_run_name=path.name,
            idempotency_key=key,
            timeout=0,
            as_subflow=False,
        )
        if on_submit:
            on_submit(path, run)
        outcomes.append({"source_name": path.name, "status": "submitted", "path": str(path), "flow_run_id": str(run.id)})
    return outcomes


def mark_crashed(owner: str, lease: dict) -> None:
    """``recover_claims``' hook: the flow runs that held the handed-back files become Crashed."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    runs = (lease or {}).get("runs") or {}
    if not runs:
        return
    with get_client(sync_client=True) as client:
        for name, run_id in runs.items():
            try:
                run = client.read_flow_run(run_id)
                if run.state is not None and not run.state.is_final():
                    client.set_flow_run_state(
                        run_id,
                        Crashed(message=f"worker {owner} stopped renewing its claim on {name}; the file went back to the inbox"),
                        force=True,
                    )
            except Exception:  # noqa: BLE001 - a run already gone or unreadable: nothing to free
                continue


def submit_forever(
    settings: Settings,
    *,
    deployment: str = DEFAULT_DEPLOYMENT,
    stop: Callable[[], bool] = lambda: False,
    on_submit: SubmitFn | None = None,
) -> None:
    """Poll the inbox until ``stop()``; submit each settled file once. A file that comes back (its
    worker died, or it was handed back after a transient error) is submitted again after a back-off."""
    backoff = watcher.Backoff(settings.retry_backoff_s)

    def batch(paths: list[Path]) -> list[dict[str, Any]]:
        fresh = [p for p in paths if not backoff.waiting(watcher.identity(p))]
        for path in fresh:
            backoff.failed(watcher.identity(path))  # should the same file come back, its next submission waits
        submit_files(settings, fresh, deployment, on_submit)
        return []  # the outcomes come from the workers

    watcher.watch(settings, batch, stop=stop, on_expired=mark_crashed)

