"""The README's Prefect route on a real Prefect server started for the tests.

`prefect server start`, `prefect work-pool create`, `prefect deploy --all`, `parley worker` and
`parley watch --submit`, each as its own process, as the README runs them; then a file dropped,
its rows in DuckDB and its flow and task runs named after it. And (slow) two workers sharing one
work pool: 20 files, each processed once, one worker killed mid-file and its claim taken over by
the other after the lease.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import soak  # noqa: E402
from conftest import DATA  # noqa: E402
from pipeline import ingest  # noqa: E402
from pipeline.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PARLEY, PREFECT = str(BIN / "parley"), str(BIN / "prefect")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`prefect server start` (no UI: a test has no browser) in a temporary PREFECT_HOME; the
    environment every command of the README then runs in."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, (home / "server.log").read_text()
        time.sleep(0.3)
    else:
        pytest.fail("prefect server start did not answer in 240 s")
    env["PREFECT_API_URL"] = url
    try:
        for command in (["work-pool", "create", "parley-local", "--type", "process"],
                        ["work-pool", "set-concurrency-limit", "parley-local", "2"],
                        ["--no-prompt", "deploy", "--all"]):
            done = subprocess.run([PREFECT, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stdout + done.stderr
        yield env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def parley_env(server_env: dict, work: Path, **extra: str) -> dict:
    return {**server_env, "PARLEY_DB": str(work / "parley.duckdb"), "PARLEY_INBOX": str(work / "inbox"),
            "PARLEY_ARCHIVE": str(work / "archive"), "PARLEY_QUARANTINE": str(work / "quarantine"),
            "PARLEY_STABLE_S": "0", "PARLEY_POLL_INTERVAL_S": "0.5", "PARLEY_CPU_THREADS": "1", "COLUMNS": "200", **extra}


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([PARLEY, *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=log.parent)


def stored(work: Path) -> list[tuple]:
    db = work / "parley.duckdb"
    if not db.exists():
        return []
    try:
        return Store(db, lock_timeout_s=5).query("SELECT source_name, id FROM recordings ORDER BY 1").rows
    except Exception:  # noqa: BLE001 - the worker is creating or migrating it
        return []


def wait_for(check, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} not within {timeout} s\n" + "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs))


def interrupt(proc: subprocess.Popen) -> float:
    """Ctrl-C; the seconds until it exited."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    return time.monotonic() - t0


def api(env: dict, path: str, body: dict | None = None) -> list[dict]:
    return httpx.post(env["PREFECT_API_URL"] + path, json=body or {}, timeout=30).json()


def test_the_readme_prefect_commands_process_a_dropped_file(server, tmp_path):
    env = parley_env(server, tmp_path)
    (tmp_path / "inbox").mkdir()
    logs = [tmp_path / "worker.log", tmp_path / "watch.log"]
    worker = start(["worker", "--pool", "parley-local"], env, logs[0])
    watcher = start(["watch", "--submit"], env, logs[1])
    try:
        shutil.copy(DATA / "stereo_diarization.wav", tmp_path / "inbox" / "call.wav")
        wait_for(lambda: [r[0] for r in stored(tmp_path)] == ["call.wav"], 600, "call.wav in DuckDB", logs)
        wait_for(lambda: "done" in logs[0].read_text(), 60, "the worker's line", logs)
    finally:
        took = {name: interrupt(p) for name, p in (("watch", watcher), ("worker", worker))}
    assert watcher.returncode == 0 and worker.returncode == 0, [p.read_text() for p in logs]
    assert all(t < 20 for t in took.values()), took
    assert "submitted   call.wav" in logs[1].read_text()
    assert any(line.startswith("done        call.wav") for line in logs[0].read_text().splitlines()), logs[0].read_text()
    flow_runs = api(server, "/flow_runs/filter")
    mine = [r for r in flow_runs if r["name"] == "call.wav"]
    assert len(mine) == 1 and mine[0]["state"]["type"] == "COMPLETED"
    task_runs = {r["name"] for r in api(server, "/task_runs/filter", {"flow_runs": {"id": {"any_": [mine[0]["id"]]}}})}
    assert {"claim: call.wav", "transcribe: call.wav", "speakers: call.wav", "store: call.wav", "archive: call.wav"} <= task_runs
    assert Store(tmp_path / "parley.duckdb").query("SELECT count(*) FROM runs WHERE flow_run_id = ?", [mine[0]["id"]]).rows == [(1,)]


@pytest.mark.slow
def test_two_workers_share_one_pool_and_a_killed_workers_file_is_taken_over_after_its_lease(server, tmp_path):
    t0 = time.monotonic()
    written = soak.write_clips(tmp_path / "inbox", 20, seed=3)
    env = parley_env(server, tmp_path, PARLEY_CLAIM_LEASE_S="6", PARLEY_RETRY_BACKOFF_S="1")
    logs = [tmp_path / "a.log", tmp_path / "b.log", tmp_path / "watch.log"]
    a = start(["worker", "--pool", "parley-local", "--name", "worker-a"], {**env, "PARLEY_NODE": "machine-a"}, logs[0])
    b = start(["worker", "--pool", "parley-local", "--name", "worker-b"], {**env, "PARLEY_NODE": "machine-b"}, logs[1])
    watcher = start(["watch", "--submit"], {**env, "PARLEY_NODE": "machine-w"}, logs[2])
    claims = tmp_path / "inbox" / ingest.CLAIMS_DIR
    try:
        # worker a on "machine-a": killed with -9 once it holds a file (after its first one, so mid-run)
        wait_for(lambda: "done" in logs[0].read_text() and any(claims.glob("machine-a__*/*.wav")), 900, "worker a busy with its second file", logs)
        killed = [p.name for p in claims.glob("machine-a__*/*.wav")]
        a.kill()
        a.wait()
        killed_at = time.monotonic()
        wait_for(lambda: len(stored(tmp_path)) == 20, 1200, "all 20 recordings stored", logs)
        finished = time.monotonic()
    finally:
        for proc in (watcher, b, a):
            if proc.poll() is None:
                interrupt(proc)
    rows = stored(tmp_path)
    assert sorted(r[0] for r in rows) == sorted(written) and sorted(r[1] for r in rows) == sorted(written.values())
    store = Store(tmp_path / "parley.duckdb")
    assert store.query("SELECT count(*), count(DISTINCT recording_id) FROM drops WHERE outcome = 'processed'").rows == [(20, 20)]
    assert store.query("SELECT count(*) FROM runs WHERE status = 'done'").rows == [(20,)]
    assert killed and not list(claims.glob("machine-a__*/*.wav"))  # taken back
    took_over = [line for line in logs[1].read_text().splitlines() if line.startswith("done") and killed[0] in line]
    assert took_over, logs[1].read_text()  # worker b processed the killed worker's file
    crashed = [r for r in api(server, "/flow_runs/filter") if r["name"] == killed[0] and r["state"]["type"] == "CRASHED"]
    assert len(crashed) == 1 and "stopped renewing its claim" in crashed[0]["state"]["message"]
    done_a = logs[0].read_text().count("\ndone") + logs[0].read_text().startswith("done")
    print(f"\n20 files by two workers: {finished - t0:.0f} s in all; the killed worker's file stored "
          f"{finished - killed_at:.0f} s after the kill (lease 6 s); worker a finished {done_a} before it was killed")
