"""The Prefect flows end to end on a temporary Prefect server (prefect_test_harness)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import flows  # noqa: F401 - sets Prefect's offline defaults before prefect is imported
from conftest import DATA, drop
from prefect.flows import load_flow_from_entrypoint
from prefect.testing.utilities import prefect_test_harness

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def harness():
    with prefect_test_harness(server_startup_timeout=180):
        yield


def test_watch_inbox_flow_processes_the_inbox_through_prefect(harness, workspace):
    from flows.watch_inbox import watch_inbox
    from prefect.client.orchestration import get_client

    drop(workspace, DATA / "stereo_diarization.wav", "call.wav")
    drop(workspace, DATA / "stereo_diarization.wav", "same-call.wav")
    (workspace.inbox / "broken.wav").write_text("not audio")
    overrides = {"db": str(workspace.db), "archive": str(workspace.archive), "quarantine": str(workspace.quarantine)}
    seen = []
    result = watch_inbox(inbox=str(workspace.inbox), settings=overrides, stable_s=0, on_progress=seen.append)
    assert result["counts"] == {"done": 1, "duplicate": 1, "quarantined": 1}
    assert len(seen) == 3
    from pipeline.store import Store

    store = Store(workspace.db)
    assert store.query("SELECT count(*) FROM utterances").rows == [(2,)]
    flow_run_ids = {r[0] for r in store.query("SELECT flow_run_id FROM runs WHERE status = 'done'").rows}
    assert len(flow_run_ids) == 1 and None not in flow_run_ids

    import asyncio

    async def task_runs():
        async with get_client() as client:
            return [(r.name, str(r.flow_run_id)) for r in await client.read_task_runs()]

    runs = asyncio.run(task_runs())
    names = {name for name, _ in runs}
    (stored,) = store.query("SELECT source_name FROM recordings").rows[0]  # the two copies race: either may be stored
    other = ({"call.wav", "same-call.wav"} - {stored}).pop()
    assert {f"{stage}: {stored}" for stage in ("claim", "identify", "decode", "transcribe", "speakers", "tag", "store", "archive")} <= names
    assert {f"claim: {other}", f"identify: {other}", "claim: broken.wav"} <= names  # every task run named after its file
    assert f"transcribe: {other}" not in names  # the duplicate is never transcribed
    # the stages run in worker threads (read-ahead, analysis) and still belong to the flow run
    assert {flow_run for _, flow_run in runs} == flow_run_ids
    again = watch_inbox(inbox=str(workspace.inbox), settings=overrides, stable_s=0)
    assert again["counts"] == {}  # nothing left: a second poll reprocesses nothing


def test_every_deployment_entrypoint_in_prefect_yaml_loads():
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    names = set()
    for deployment in spec["deployments"]:
        flow = load_flow_from_entrypoint(str(ROOT / deployment["entrypoint"]))
        names.add(flow.name)
        assert deployment["work_pool"]["name"] == "parley-local"
    assert names == {"watch-inbox", "process-recording", "load-staging", "retention"}
    poll = next(d for d in spec["deployments"] if d["name"] == "inbox-poll")
    assert poll["schedules"][0]["interval"] == 60
    # off by default: a poll would be a flow run every minute even for an empty inbox, and the
    # loader has nothing to do without a staging folder; retention runs daily (nothing due: a quiet run)
    active = {d["name"]: [s["active"] for s in d.get("schedules", [])] for d in spec["deployments"]}
    assert active == {"inbox-poll": [False], "process-on-demand": [], "load-staging": [False], "daily": [True]}


@pytest.mark.slow
def test_prefect_deploy_accepts_prefect_yaml(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    prefect = str(Path(sys.executable).parent / "prefect")
    subprocess.run([prefect, "work-pool", "create", "parley-local", "--type", "process"], cwd=ROOT, env=env, check=True, capture_output=True)
    done = subprocess.run([prefect, "--no-prompt", "deploy", "--all"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("watch-inbox/inbox-poll", "process-recording/process-on-demand", "load-staging/load-staging", "retention/daily"):
        assert name in done.stdout


def test_the_daily_retention_flow_succeeds_with_nothing_due(harness, tmp_path):
    """No database yet, then a database with nothing due: both are quiet, successful runs."""
    from flows.retention import retention
    from pipeline.store import Store

    settings = {"db": str(tmp_path / "p.duckdb"), "archive": str(tmp_path / "archive")}
    assert retention(settings=settings)["considered"] == 0
    assert not (tmp_path / "p.duckdb").exists()  # it creates no database
    Store(tmp_path / "p.duckdb").write_recording({"id": "r1", "status": "done", "started_at": "2026-11-01 09:00:00"}, {}, recording_id="r1")
    done = retention(settings=settings)
    assert (done["considered"], done["deleted"], done["held"]) == (1, [], []) and done["head"][0] == 1
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    daily = next(d for d in spec["deployments"] if d["entrypoint"] == "flows/retention.py:retention")
    assert daily["schedules"][0]["cron"] == "30 2 * * *" and daily["concurrency_limit"] == 1
