"""Staging: workers write Parquet batches, one loader merges them into DuckDB exactly once."""

import os
import subprocess
from datetime import datetime, timezone

import pytest

from conftest import DATA, drop
from pipeline import staging
from pipeline.errors import TransientError
from pipeline.process import Processor
from pipeline.staging import StagingWriter, load_report, load_staged, pending_batches
from pipeline.store import Store

RID = "r" * 64


class Both:
    """Hands every write to a Store and to a StagingWriter (to compare the two outcomes)."""

    def __init__(self, store: Store, writer: StagingWriter):
        self.store, self.writer = store, writer

    def write_recording(self, *args, **kwargs):
        self.store.write_recording(*args, **kwargs)
        self.writer.write_recording(*args, **kwargs)

    def append(self, table, rows):
        self.store.append(table, rows)
        self.writer.append(table, rows)

    def record_error(self, row):
        self.store.record_error(row)
        self.writer.record_error(row)

    def __getattr__(self, name):  # reads (recording_state, query, connect) go to the Store
        return getattr(self.store, name)


def dump(store: Store) -> dict[str, list]:
    tables = [r[0] for r in store.query("SELECT table_name FROM information_schema.tables WHERE table_schema='main'").rows]
    skip = {"schema_migrations", staging.LEDGER}
    columns = {"record_chain": "seq, recording, kind, content_sha256"}  # the same states, sealed at other times
    return {t: sorted(store.query(f'SELECT {columns.get(t, "*")} FROM "{t}"').rows, key=repr) for t in tables if t not in skip}


def test_a_staged_run_loads_exactly_like_a_direct_write(workspace, tmp_path):
    direct, loaded = Store(workspace.db), Store(tmp_path / "loaded.duckdb")
    processor = Processor(workspace)
    processor.store = Both(direct, StagingWriter(tmp_path / "staging"))
    drop(workspace, DATA / "stereo_diarization.wav", "call.wav")
    drop(workspace, DATA / "stereo_diarization.wav", "again.wav")
    (workspace.inbox / "empty.wav").write_bytes(b"")
    statuses = sorted(processor.process(workspace.inbox / n).status for n in ("call.wav", "again.wav", "empty.wav"))
    assert statuses == ["done", "duplicate", "quarantined"]
    assert len(pending_batches(tmp_path / "staging")) == 5  # the recording; its archived files; the duplicate's drop; an error and a drop
    assert load_staged(loaded, tmp_path / "staging") == 5
    assert dump(loaded) == dump(direct)
    assert dump(loaded)["utterances"] and [p.name for p in (tmp_path / "staging").glob("[!.]*")] == [staging.INDEX_DIR]


def _write(writer, text: str, *, run_id: str, replace_all=True, rubric_version="1"):
    recording = {"id": RID, "source_name": "x.wav", "status": "done", "archive_path": "/a/x.wav", "processed_at": datetime(2026, 11, 23, 9, tzinfo=timezone.utc)}
    tables = {
        "utterances": [{"idx": 0, "text": text}, {"idx": 1, "text": text + "!"}],
        "scorecards": [{"rubric_id": "qa", "rubric_version": rubric_version, "passed": True, "auto_failed": False, "score": 90.0}],
    }
    run = {"run_id": run_id, "recording_id": RID, "status": "done", "timings": {"store": 0.1}}
    writer.write_recording(recording if replace_all else None, tables, recording_id=RID, run=run, replace_all=replace_all)


def test_replace_semantics_match_the_store(tmp_path):
    direct, loaded = Store(tmp_path / "direct.duckdb"), Store(tmp_path / "loaded.duckdb")
    writer = StagingWriter(tmp_path / "staging")
    for target in (direct, writer):
        _write(target, "first", run_id="run-1")
        if target is writer:  # the same content processed again by another worker: never replaces run-1
            _write(target, "second", run_id="run-2")
        _write(target, "retag", run_id="run-3", replace_all=False, rubric_version="2")  # keeps scorecard v1
    assert load_staged(loaded, tmp_path / "staging") == 3
    assert dump(loaded) == dump(direct)
    assert loaded.query("SELECT text, run_id FROM utterances ORDER BY idx").rows == [("retag", "run-3"), ("retag!", "run-3")]
    assert loaded.query("SELECT rubric_version FROM scorecards ORDER BY 1").rows == [("1",), ("2",)]
    assert loaded.query("SELECT run_id FROM runs ORDER BY 1").rows == [("run-1",), ("run-3",)]  # run-2 never went in


def test_a_crash_between_commit_and_clean_up_loads_nothing_twice(tmp_path, monkeypatch):
    writer, store = StagingWriter(tmp_path / "staging"), Store(tmp_path / "db.duckdb")
    _write(writer, "hello", run_id="run-1")
    writer.append("drops", [{"drop_id": "d1", "recording_id": RID, "outcome": "processed"}])

    def killed(*_args, **_kwargs):
        raise KeyboardInterrupt("killed after the commit")

    monkeypatch.setattr(staging.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        load_staged(store, tmp_path / "staging")
    monkeypatch.undo()
    report = load_report(store, tmp_path / "staging")
    assert (report.loaded, report.skipped) == (1, 1)  # the first batch was committed before the "crash"
    assert store.query("SELECT count(*) FROM runs").rows == [(1,)]
    assert store.query("SELECT count(*) FROM drops").rows == [(1,)]
    assert store.query("SELECT count(*) FROM utterances").rows == [(2,)]
    assert pending_batches(tmp_path / "staging") == []
    assert load_staged(store, tmp_path / "staging") == 0


def test_a_half_written_batch_is_never_loaded_and_stale_ones_are_swept(tmp_path):
    writer, store = StagingWriter(tmp_path / "staging"), Store(tmp_path / "db.duckdb")
    _write(writer, "hello", run_id="run-1")
    half = tmp_path / "staging" / staging.TMP_DIR / "dead-writer"
    half.mkdir(parents=True)
    (half / "utterances.parquet").write_bytes(b"PAR1 cut short")
    assert load_staged(store, tmp_path / "staging") == 1
    assert half.exists()  # young: its writer may still be busy
    os.utime(half, (0, 0))
    assert load_staged(store, tmp_path / "staging") == 0
    assert not half.exists()


def test_recording_state_sees_staged_then_loaded_recordings(tmp_path):
    db = tmp_path / "db.duckdb"
    writer = StagingWriter(tmp_path / "staging", db)
    assert writer.recording_state(RID) is None
    _write(writer, "hello", run_id="run-1")
    assert writer.recording_state(RID) == ("done", "/a/x.wav")
    load_staged(Store(db), tmp_path / "staging")
    assert pending_batches(tmp_path / "staging") == []
    assert writer.recording_state(RID) == ("done", "/a/x.wav")


def test_a_batch_the_database_cannot_take_stays_staged_and_is_named(tmp_path):
    writer, store = StagingWriter(tmp_path / "staging"), Store(tmp_path / "db.duckdb")
    _write(writer, "hello", run_id="run-1")
    writer.append("drops", [{"drop_id": "d1", "outcome": "processed"}])
    store.execute("DROP TABLE scorecards")  # a database from before the compliance tables
    with pytest.raises(TransientError, match=r"1 staged batch\(es\) could not be loaded \(1 were\).*scorecards"):
        load_staged(store, tmp_path / "staging")
    assert len(pending_batches(tmp_path / "staging")) == 1
    assert store.query("SELECT count(*) FROM drops").rows == [(1,)]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (root only): a disk that fills up."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_staging_disk_is_a_clear_transient_error_and_leaves_no_half_batch(tiny_disk):
    writer = StagingWriter(tiny_disk / "staging")
    (tiny_disk / "filler").write_bytes(b"\0" * 60_000)
    with pytest.raises(TransientError, match=r"cannot write to the staging folder .*Fix: free disk space"):
        _write(writer, os.urandom(40_000).hex(), run_id="run-1")
    assert pending_batches(tiny_disk / "staging") == []
    assert not any((tiny_disk / "staging" / staging.TMP_DIR).iterdir())
    os.remove(tiny_disk / "filler")
    _write(writer, "fits now", run_id="run-2")
    assert len(pending_batches(tiny_disk / "staging")) == 1


def test_a_re_sent_copy_is_a_duplicate_even_for_workers_that_cannot_reach_the_database(workspace, tmp_path):
    """Workers on other machines stage and never see the database (it is on the loader's disk):
    the duplicate index in the staging folder still tells them a re-sent copy, after the load,
    and the copy's sidecar still reaches the stored recording."""
    workspace.staging_dir = tmp_path / "staging"
    workspace.db = tmp_path / "loader-only" / "parley.duckdb"  # not there for the workers
    loaded = Store(tmp_path / "loaded.duckdb")
    processor = Processor(workspace)
    assert processor.process(drop(workspace, DATA / "stereo_diarization.wav", "call.wav")).status == "done"
    assert load_staged(loaded, workspace.staging_dir) == 2  # the recording, then the list of its archived files
    assert loaded.query("SELECT count(*) FROM archived_files").rows[0][0] >= 1
    assert (workspace.staging_dir / staging.INDEX_DIR).is_dir() and not (workspace.staging_dir / staging.APPENDS_DIR).exists()
    drop(workspace, DATA / "stereo_diarization.wav", "re-sent.wav")
    (workspace.inbox / "re-sent.json").write_text('{"staff_id": "S9", "team": "cards"}')
    again = Processor(workspace).process(workspace.inbox / "re-sent.wav")  # a later worker, another process
    assert again.status == "duplicate" and "filled staff_id, team" in again.message
    assert load_staged(loaded, workspace.staging_dir) == 2  # its drop and its metadata
    assert loaded.query("SELECT source_name, staff_id, team, metadata_source FROM recordings").rows == [("call.wav", "S9", "cards", "sidecar")]
    assert sorted(loaded.query("SELECT source_name, outcome FROM drops").rows) == [("call.wav", "processed"), ("re-sent.wav", "duplicate")]
    assert not workspace.db.exists()
