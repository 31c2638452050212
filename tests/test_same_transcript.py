"""The same audio gives the same transcript, and the same findings, on every path.

One recording (the card-payment sample, whose README claim is that it fails
``prohibited_promises``) goes through three paths, each in its own process as a user runs it:
``parley process --local`` (in process, two transcription workers), ``parley process`` (the
``watch-inbox`` Prefect flow on Prefect's temporary server) and the ``process-batch`` flow on a
local Dask cluster (worker processes started with ``OMP_NUM_THREADS=1``). Before Parley fixed
BLAS at one thread, the Dask worker heard "your return are guaranteed" and the others "your
return, our guarantees": a prohibited promise missed on two paths out of three.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.settings import ROOT
from pipeline.store import Store

SAMPLE = ROOT / "data" / "samples" / "card-payment.m4a"
PARLEY = str(Path(sys.executable).parent / "parley")
DASK = (
    "import json, sys; from flows.runners import process_files\n"
    "w = sys.argv[1]\n"
    "s = {'db': w + '/parley.duckdb', 'archive': w + '/archive', 'quarantine': w + '/quarantine', 'inbox': w + '/inbox'}\n"
    "print(json.dumps(process_files([w + '/inbox/card-payment.m4a'], s, runner='dask', workers=2)))\n"
)


def _run(path: str, work: Path, env: dict) -> tuple[list, list]:
    inbox = work / "inbox"
    inbox.mkdir(parents=True)
    shutil.copy(SAMPLE, inbox)
    shutil.copy(SAMPLE.with_suffix(".json"), inbox)
    folders = ["--db", str(work / "parley.duckdb"), "--archive", str(work / "archive"), "--quarantine", str(work / "quarantine")]
    if path == "dask":
        cmd = [sys.executable, "-c", DASK, str(work)]
    else:
        cmd = [PARLEY, "process", str(inbox), *folders] + (["--local"] if path == "local" else [])
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=work, timeout=900)
    assert done.returncode == 0, f"{path}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    store = Store(work / "parley.duckdb")
    utterances = store.query("SELECT channel, role, start_s, end_s, text FROM utterances ORDER BY idx").rows
    findings = store.query("SELECT rule, passed FROM findings ORDER BY rule").rows
    return utterances, findings


def test_one_recording_three_paths_identical_text_and_findings(tmp_path):
    pytest.importorskip("prefect_dask")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PARLEY_STABLE_S="0", PREFECT_LOGGING_LEVEL="WARNING")
    results = {path: _run(path, tmp_path / path, env) for path in ("local", "prefect", "dask")}
    local_text, local_findings = results["local"]
    assert local_text, "nothing was transcribed"
    for path in ("prefect", "dask"):
        text, findings = results[path]
        assert text == local_text, f"{path} heard otherwise:\n{json.dumps(text, indent=0)}\nlocal:\n{json.dumps(local_text, indent=0)}"
        assert findings == local_findings
    # the README's claim about this sample, now on every path
    assert ("prohibited_promises", False) in local_findings
