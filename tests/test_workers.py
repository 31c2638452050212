"""Two worker processes on one inbox: every file is processed exactly once, none twice.

Workers claim files by atomic rename; they write either the same DuckDB file (each write waits
for the lock) or Parquet batches in a staging folder that one loader merges (PARLEY_STAGING_DIR).
"""

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import soak  # noqa: E402
from pipeline.staging import load_staged, pending_batches  # noqa: E402
from pipeline.governance.chain import verify  # noqa: E402
from pipeline.store import Store  # noqa: E402

N_FILES = 8

STAGING_WORKER = """
import json, sys
from pathlib import Path
from pipeline import ingest
from pipeline.process import Processor
from pipeline.settings import Settings
from pipeline.staging import writer_for
work = Path(sys.argv[1])
s = Settings(db=work / "parley.duckdb", inbox=work / "inbox", archive=work / "archive", quarantine=work / "quarantine")
processor = Processor(s)
processor.store = writer_for(s)  # PARLEY_STAGING_DIR is set: a StagingWriter
for path in ingest.list_inbox(s.inbox):
    print(json.dumps(processor.process(path).as_dict()), flush=True)
"""


def expected(written: dict[str, str]) -> soak.Expected:
    return soak.Expected(good=dict(written), with_utterances=set(written.values()))


def start_two(cmd: list[str], env: dict, cwd: Path) -> list[subprocess.Popen]:
    return [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd) for _ in range(2)]


def finish(procs: list[subprocess.Popen]) -> list[str]:
    outs = []
    for proc in procs:
        out, errors = proc.communicate(timeout=900)
        assert proc.returncode == 0, errors[-2000:]
        outs.append(out)
    return outs


def test_two_cli_workers_on_one_database_process_each_file_once(tmp_path):
    written = soak.write_clips(tmp_path / "inbox", N_FILES, seed=1)
    cmd = [soak.PARLEY, "process", "--local", "--inbox", str(tmp_path / "inbox"), *soak.folders(tmp_path)]
    outs = finish(start_two(cmd, soak.env_for(tmp_path), tmp_path))
    done = [int(m.group(1)) if (m := re.search(r"(\d+) done", out)) else 0 for out in outs]
    assert sum(done) == N_FILES, outs
    assert soak.check(tmp_path, expected(written)) == []


def test_two_staging_workers_and_a_running_loader_process_each_file_once(tmp_path):
    written = soak.write_clips(tmp_path / "inbox", N_FILES, seed=2)
    env = soak.env_for(tmp_path) | {"PARLEY_STAGING_DIR": str(tmp_path / "staging")}
    procs = start_two([sys.executable, "-c", STAGING_WORKER, str(tmp_path)], env, tmp_path)
    store, loaded, stop = Store(tmp_path / "parley.duckdb"), [], threading.Event()

    def loader() -> None:  # the load-staging flow on a short interval, beside the workers
        while not stop.wait(0.5):
            loaded.append(load_staged(store, tmp_path / "staging"))

    thread = threading.Thread(target=loader)
    thread.start()
    try:
        outs = finish(procs)
    finally:
        stop.set()
        thread.join()
    loaded.append(load_staged(store, tmp_path / "staging"))
    outcomes = [json.loads(line) for out in outs for line in out.splitlines()]
    assert sorted(o["status"] for o in outcomes if o["status"] != "skipped") == ["done"] * N_FILES
    assert sum(loaded) == 2 * N_FILES and pending_batches(tmp_path / "staging") == []  # each file: its recording, its archived files
    assert soak.check(tmp_path, expected(written)) == []
    with store.connect(read_only=True) as con:  # loaded concurrently, the chain still covers every recording and file
        report = verify(con)
    assert report.ok and report.recordings == N_FILES and report.files_checked >= N_FILES, report.breaks


@pytest.mark.slow
def test_the_dask_task_runner_maps_files_over_two_processes(tmp_path):
    """``PARLEY_TASK_RUNNER=dask``: process-batch on a local two-process Dask cluster (Prefect starts)."""
    pytest.importorskip("prefect_dask")
    written = soak.write_clips(tmp_path / "inbox", N_FILES, seed=3)
    script = (
        "import json, sys; from pathlib import Path; from pipeline import ingest; from flows.runners import process_files\n"
        "w = Path(sys.argv[1]); files = [str(p) for p in ingest.list_inbox(w / 'inbox')]\n"
        "s = {'db': str(w / 'parley.duckdb'), 'archive': str(w / 'archive'), 'quarantine': str(w / 'quarantine'), 'inbox': str(w / 'inbox')}\n"
        "print(json.dumps(process_files(files, s, runner='dask', workers=2)))\n"
    )
    env = soak.env_for(tmp_path) | {"PREFECT_LOGGING_LEVEL": "WARNING"}
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    outcomes = json.loads(res.stdout.strip().splitlines()[-1])
    assert sorted(o["status"] for o in outcomes) == ["done"] * N_FILES
    pids = {r[0] for r in Store(tmp_path / "parley.duckdb").query("SELECT pid FROM runs").rows}
    assert len(pids) == 2  # two worker processes did the work
    assert soak.check(tmp_path, expected(written)) == []
