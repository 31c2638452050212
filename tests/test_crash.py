"""Crashes and full or read-only disks: no duplicate, no missing, no half-written recording, no lost file."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import soak  # noqa: E402
from conftest import DATA, drop  # noqa: E402
from pipeline import ingest  # noqa: E402
from pipeline.process import Processor  # noqa: E402
from pipeline.store import Store  # noqa: E402



KILLED_AT = """
import os, sys
from pathlib import Path
import pipeline.ingest, pipeline.store
from pipeline.process import Processor
from pipeline.settings import Settings
work, point = Path(sys.argv[1]), sys.argv[2]
die = lambda *a, **k: os.kill(os.getpid(), 9)
if point == "before-archive":  # the database has committed the recording, the file has not moved
    pipeline.ingest.move_to_archive = die
else:  # inside the store transaction, after the recordings and utterances rows
    real = pipeline.store._insert
    pipeline.store._insert = lambda con, table, rows, **kw: die() if table == "words" else real(con, table, rows, **kw)
s = Settings(db=work / "parley.duckdb", inbox=work / "inbox", archive=work / "archive", quarantine=work / "quarantine")
Processor(s).process(next(iter(pipeline.ingest.list_inbox(s.inbox))))
"""


def archived(work: Path) -> int:
    return sum(1 for p in (work / "archive").rglob("*") if p.is_file())


def watch_until_settled(work: Path, exp: soak.Expected, env: dict, timeout: float = 600) -> None:
    proc = soak.start_watcher(work, env)
    t0 = time.monotonic()
    while not soak.settled(work / "inbox", exp.skipped) and time.monotonic() - t0 < timeout and proc.poll() is None:
        time.sleep(0.5)
    soak.stop(proc)
    assert proc.returncode in (0, -signal.SIGTERM), (work / "watch.log").read_text(errors="replace")[-3000:]


def test_kill_9_of_the_watcher_mid_batch_then_a_restart_loses_and_repeats_nothing(tmp_path):
    written = soak.write_clips(tmp_path / "inbox", 8, seed=4)
    exp = soak.Expected(good=written, with_utterances=set(written.values()))
    env = soak.env_for(tmp_path)
    for kill_after in (2, 5):  # two crashes, each in the middle of the batch
        proc = soak.start_watcher(tmp_path, env)
        t0 = time.monotonic()
        while archived(tmp_path) < kill_after and proc.poll() is None and time.monotonic() - t0 < 600:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert archived(tmp_path) < len(written)  # it really died mid-batch
    watch_until_settled(tmp_path, exp, env)
    assert soak.check(tmp_path, exp) == []
    assert not list((tmp_path / "inbox" / ingest.CLAIMS_DIR).rglob("*.wav"))


@pytest.mark.parametrize("point", ["before-archive", "inside-the-store-transaction"])
def test_a_kill_at_the_worst_moment_is_repaired_by_the_next_run(tmp_path, point):
    written = soak.write_clips(tmp_path / "inbox", 2, seed=5)
    res = subprocess.run([sys.executable, "-c", KILLED_AT, str(tmp_path), point], env=soak.env_for(tmp_path), capture_output=True)
    assert res.returncode == -signal.SIGKILL, res.stderr.decode()[-2000:]
    claimed = list((tmp_path / "inbox" / ingest.CLAIMS_DIR).rglob("*.wav"))
    assert len(claimed) == 1  # the killed process's claim, still held
    if point == "inside-the-store-transaction":  # nothing of the recording is visible
        assert Store(tmp_path / "parley.duckdb").query("SELECT count(*) FROM recordings").rows == [(0,)]
    exp = soak.Expected(good=written, with_utterances=set(written.values()))
    watch_until_settled(tmp_path, exp, soak.env_for(tmp_path))
    assert soak.check(tmp_path, exp) == []
    if point == "before-archive":
        details = Store(tmp_path / "parley.duckdb").query("SELECT detail FROM drops WHERE outcome = 'processed'").rows
        assert ("archived after an interrupted run",) in details


def test_claims_of_an_earlier_process_with_the_same_pid_are_handed_back(tmp_path):
    """A restarted container's watcher often gets the pid its crashed predecessor had."""
    path = tmp_path / "call.wav"
    path.write_bytes(b"x")
    ingest.claim(path, owner=f"{socket.gethostname()}__{os.getpid()}__1")  # our pid, another start time
    live = tmp_path / "live.wav"
    live.write_bytes(b"y")
    ingest.claim(live)  # ours: kept
    assert ingest.recover_claims(tmp_path) == [path]
    assert path.exists() and not live.exists()


# -- full and read-only disks -------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """``make(size)``: a fresh tmpfs of that size (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    mounts = []

    def make(size: str, read_only: bool = False) -> Path:
        mount = tmp_path / f"disk{len(mounts)}"
        mount.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True).returncode:
            pytest.skip("cannot mount a tmpfs here")
        mounts.append(mount)
        return mount

    yield make
    for mount in mounts:
        subprocess.run(["umount", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` up to its last few KiB."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler = disk / "filler"
    filler.write_bytes(b"\0" * max(0, free - 4096))
    return filler


def test_a_full_archive_disk_hands_the_file_back_and_a_later_run_archives_it(workspace, small_disk):
    workspace.archive = small_disk("1m")
    filler = fill(workspace.archive)
    processor = Processor(workspace)
    outcome = processor.process(drop(workspace, DATA / "stereo_diarization.wav", "call.wav"))
    assert outcome.status == "retry"
    assert "could not be moved to the archive" in outcome.message and "Fix: free disk space" in outcome.message
    assert (workspace.inbox / "call.wav").exists()  # handed back, whole
    assert [p.name for p in workspace.archive.rglob("*") if p.is_file()] == ["filler"]  # no half copy
    filler.unlink()
    outcome = processor.process(workspace.inbox / "call.wav")
    assert (outcome.status, outcome.message) == ("done", "archived after an interrupted run")
    assert processor.store.query("SELECT count(*) FROM runs WHERE status = 'done'").rows == [(1,)]
    assert len([p for p in workspace.archive.rglob("call.wav")]) == 1


@pytest.mark.parametrize("how", ["archive-is-a-file", "read-only-mount"])
def test_an_unwritable_archive_is_a_clear_error_and_loses_no_file(workspace, small_disk, how):
    if how == "archive-is-a-file":
        workspace.archive = workspace.inbox.parent / "archive-file"
        workspace.archive.write_text("not a folder")
    else:
        workspace.archive = small_disk("64k", read_only=True)
    processor = Processor(workspace)
    outcome = processor.process(drop(workspace, DATA / "stereo_diarization.wav", "call.wav"))
    assert outcome.status == "retry"
    assert outcome.message.startswith("call.wav: the recording is stored but could not be moved to the archive")
    assert "make the archive folder writable" in outcome.message
    assert (workspace.inbox / "call.wav").exists()
    errors = processor.store.query("SELECT kind, stage FROM errors").rows
    assert errors and set(errors) == {("transient", "archive")}


def test_a_name_too_long_for_a_note_beside_it_is_still_quarantined_with_its_reason(workspace):
    name = "y" * 246 + ".wav"  # 250 bytes: NAME.error.txt would be 260
    (workspace.inbox / name).write_bytes(b"")
    outcome = Processor(workspace).process(workspace.inbox / name)
    assert outcome.status == "quarantined"
    kept = Path(outcome.path)
    assert kept.exists() and len(kept.name.encode()) + len(ingest.ERROR_SUFFIX) <= ingest.NAME_MAX
    assert kept.with_name(kept.name + ingest.ERROR_SUFFIX).read_text().startswith(f"{name}: the file is empty")


def test_a_full_database_disk_hands_the_file_back_instead_of_quarantining_it(workspace, small_disk):
    workspace.db = small_disk("16m") / "parley.duckdb"
    processor = Processor(workspace)
    assert processor.process(drop(workspace, DATA / "jfk.flac", "first.flac")).status == "done"
    filler = fill(workspace.db.parent)
    outcome = processor.process(drop(workspace, DATA / "stereo_diarization.wav", "call.wav"))
    assert outcome.status == "retry" and "No space left on device" in outcome.message
    assert (workspace.inbox / "call.wav").exists() and not workspace.quarantine.exists()
    filler.unlink()
    again = processor.process(workspace.inbox / "call.wav")
    assert again.status == "done", again.message


def test_an_unwritable_quarantine_hands_the_file_back_instead_of_stopping_the_watcher(workspace):
    workspace.quarantine = workspace.inbox.parent / "quarantine-file"
    workspace.quarantine.write_text("not a folder")
    (workspace.inbox / "empty.wav").write_bytes(b"")
    outcome = Processor(workspace).process(workspace.inbox / "empty.wav")
    assert outcome.status == "retry" and "cannot move the file into the quarantine folder" in outcome.message
    assert (workspace.inbox / "empty.wav").exists()
