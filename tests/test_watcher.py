"""The watcher as a service: one line per file, Ctrl-C, back-off, one errors row per problem,
duplicates' metadata, leases that expire wherever the owner ran."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conftest import DATA, drop

from pipeline import ingest, leases
from pipeline.process import Processor
from pipeline.settings import Settings
from pipeline.store import Store
from pipeline.watcher import Backoff, watch

ROOT = Path(__file__).resolve().parent.parent
PARLEY = str(Path(sys.executable).with_name("parley"))


def env_for(s: Settings, **extra: str) -> dict:
    return {
        **os.environ, "PARLEY_DB": str(s.db), "PARLEY_INBOX": str(s.inbox), "PARLEY_ARCHIVE": str(s.archive),
        "PARLEY_QUARANTINE": str(s.quarantine), "PARLEY_STABLE_S": "0", "PARLEY_POLL_INTERVAL_S": "0.3",
        "PARLEY_CPU_THREADS": "1", "PYTHONIOENCODING": "utf-8", "COLUMNS": "200", **extra,
    }


def read_until(proc: subprocess.Popen, lines: list[str], pattern: str, timeout: float) -> str:
    """Read ``proc``'s stdout lines into ``lines`` until one contains ``pattern``."""
    found: list[str] = []

    def reader() -> None:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if pattern in line:
                found.append(line)
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    assert found, f"no line with {pattern!r} within {timeout} s:\n" + "\n".join(lines)
    return found[0]


def stop(proc: subprocess.Popen, lines: list[str]) -> float:
    """Ctrl-C; returns the seconds it took to exit."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    lines.extend(out.splitlines())
    return time.monotonic() - t0


def _servers_of(home: Path) -> list[int]:
    """Pids of Prefect temporary servers started with PREFECT_HOME=home."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if b"create_app" in (proc / "cmdline").read_bytes() and f"PREFECT_HOME={home}".encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


def test_watch_prints_a_line_per_file_keeps_a_duplicates_metadata_and_stops_on_ctrl_c(workspace, tmp_path):
    """`parley watch` on its default path (flows on Prefect's temporary server): one line per file;
    the copy without a sidecar wins, the later copy's sidecar still reaches the recording; Ctrl-C
    stops Parley within seconds without killing the server under the running flow (which used to
    mean minutes of retries and a traceback), and the server goes with it."""
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in env_for(workspace, PREFECT_HOME=str(home)).items() if k != "PREFECT_API_URL"}
    proc = subprocess.Popen([PARLEY, "watch"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=workspace.inbox.parent)
    lines: list[str] = []
    try:
        read_until(proc, lines, "watching", 120)
        drop(workspace, DATA / "stereo_diarization.wav", "plain.wav")  # no sidecar: wins the race
        (workspace.inbox / "broken.wav").write_text("not audio")
        done = read_until(proc, lines, "plain.wav", 600)
        assert done.split()[0] == "done"
        read_until(proc, lines, "broken.wav", 60)
        drop(workspace, DATA / "stereo_diarization.wav", "copy.wav")
        (workspace.inbox / "copy.json").write_text(json.dumps({"staff_id": "S7", "team": "billing", "channel": "phone", "queue": "cards"}))
        dup = read_until(proc, lines, "copy.wav", 120)
        assert dup.split()[0] == "duplicate" and "filled staff_id, team, channel" in dup
        assert _servers_of(home), "the temporary server should be running"
    finally:
        took = stop(proc, lines)
    assert proc.returncode == 0 and lines[-1] == "stopped", lines
    assert took < 20, f"Ctrl-C took {took:.1f} s"
    assert len(lines) <= 7, "\n".join(lines)  # watching, three files, stopping..., stopped: no flood, no traceback
    assert any(line.split()[:2] == ["quarantined", "broken.wav"] for line in lines), lines
    time.sleep(1)
    assert _servers_of(home) == []  # the temporary server went with it
    row = Store(workspace.db).query("SELECT staff_id, team, channel, metadata_source, metadata_extra FROM recordings").rows
    assert row[0][:4] == ("S7", "billing", "phone", "sidecar") and json.loads(row[0][4]) == {"queue": "cards"}
    drops = Store(workspace.db).query("SELECT outcome, metadata FROM drops WHERE source_name = 'copy.wav'").rows
    assert drops[0][0] == "duplicate" and json.loads(drops[0][1])["staff_id"] == "S7"
    assert not (workspace.inbox / "copy.wav").exists() and not (workspace.inbox / "copy.json").exists()


def test_a_file_that_keeps_failing_backs_off_and_is_one_errors_row(workspace):
    workspace.archive = workspace.inbox.parent / "archive-file"
    workspace.archive.write_text("not a folder")  # the archive move fails every time: a transient error
    workspace.retry_backoff_s, workspace.poll_interval_s = 0.5, 0.1
    drop(workspace, DATA / "jfk.flac", "call.flac")
    processor = Processor(workspace)
    tries: list[float] = []
    started = time.monotonic()

    def batch(paths):
        outcomes = [o.as_dict() for o in processor.process_many(paths)]
        tries.extend(time.monotonic() - started for o in outcomes if o["status"] == "retry")
        return outcomes

    def enough() -> bool:  # four tries, or 10 s after the first (the first includes loading the models)
        return len(tries) >= 4 or bool(tries) and time.monotonic() - started - tries[0] > 10

    watch(workspace, batch, stop=enough)
    assert len(tries) >= 3, tries
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    assert all(gap >= 0.5 * 2**i * 0.95 for i, gap in enumerate(gaps)), gaps  # waits 0.5, 1, 2 s: not every poll (0.1 s)
    errors = processor.store.query("SELECT stage, attempts FROM errors").rows
    assert errors == [("archive", len(tries))]
    assert (workspace.inbox / "call.flac").exists()


def test_backoff_doubles_and_forgets():
    backoff = Backoff(base_s=10, max_s=25)
    assert [backoff.failed("a") for _ in range(3)] == [10, 20, 25]
    assert backoff.waiting("a") and not backoff.waiting("b")
    backoff.forget("a")
    assert not backoff.waiting("a")


def test_a_claim_of_another_machine_is_handed_back_after_its_lease_and_its_run_named(tmp_path):
    other = "machine-b__4242__99"  # not this machine: its pid says nothing here
    path = tmp_path / "call.wav"
    path.write_bytes(b"x")
    ingest.claim(path, owner=other, lease_s=2, run="flow-run-1")
    lease = tmp_path / ingest.CLAIMS_DIR / f"{other}{leases.LEASE_SUFFIX}"
    assert json.loads(lease.read_text())["runs"] == {"call.wav": "flow-run-1"}
    seen: list[tuple[str, dict]] = []
    assert ingest.recover_claims(tmp_path, on_expired=lambda owner, info: seen.append((owner, info))) == []  # lease fresh
    os.utime(lease, (time.time() - 3, time.time() - 3))  # no heartbeat for 3 s
    assert ingest.recover_claims(tmp_path, on_expired=lambda owner, info: seen.append((owner, info))) == [path]
    assert path.exists() and seen[0][0] == other and seen[0][1]["runs"] == {"call.wav": "flow-run-1"}
    assert not lease.exists() and not (tmp_path / ingest.CLAIMS_DIR / other).exists()


def test_this_process_heartbeat_keeps_its_claim_and_content_lock_alive(tmp_path):
    path = tmp_path / "call.wav"
    path.write_bytes(b"x")
    drop_ = ingest.claim(path, lease_s=1.2)  # ours: renewed every 0.3 s
    assert ingest.lock_content(tmp_path, "f" * 64, lease_s=1.2) is None
    time.sleep(2.0)
    assert ingest.recover_claims(tmp_path) == [] and drop_.path.exists()
    assert (tmp_path / ingest.CONTENT_DIR / ("f" * 64)).exists()
    ingest.unlock_content(tmp_path, "f" * 64)
    # a content lock of another machine whose owner stopped: removed after its lease
    stale = tmp_path / ingest.CONTENT_DIR / ("e" * 64)
    stale.write_text("machine-b__7__1\n1\n")
    os.utime(stale, (time.time() - 5, time.time() - 5))
    ingest.recover_claims(tmp_path)
    assert not stale.exists()


def test_a_worker_that_lost_its_claim_does_not_store(workspace):
    """A worker stalled past its lease: another process took the file back, so it must not store it too."""
    from pipeline.process import run_local

    path = drop(workspace, DATA / "jfk.flac", "call.flac")

    def runner(name, fn, *args):
        result = run_local(name, fn, *args)
        if name == "transcribe":  # meanwhile the lease ran out: recover_claims moved the file back
            for claimed in (workspace.inbox / ingest.CLAIMS_DIR).rglob("call.flac"):
                shutil.move(claimed, path)
        return result

    outcome = Processor(workspace).process(path, runner=runner)
    assert outcome.status == "skipped" and "lease ran out" in outcome.message
    assert path.exists()
    assert not workspace.db.exists() or Store(workspace.db).query("SELECT count(*) FROM recordings").rows == [(0,)]
