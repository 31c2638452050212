import subprocess
import sys
import time

import duckdb
import pytest

from pipeline.store import Store, migrations, table_names


def test_migrations_apply_once_and_in_order(tmp_path):
    store = Store(tmp_path / "p.duckdb")
    store.append("errors", [{"error_id": "e1", "message": "m"}])
    rows = store.query("SELECT version FROM schema_migrations ORDER BY version").rows
    assert [r[0] for r in rows] == [v for v, _, _ in migrations()]
    assert rows[0][0] == 1


def test_rewriting_a_recording_replaces_its_rows(tmp_path):
    store = Store(tmp_path / "p.duckdb")
    words = [{"utterance_idx": 0, "idx": i, "word": f"w{i}"} for i in range(2000)]
    store.write_recording({"id": "r1", "status": "done"}, {"words": words, "utterances": [{"idx": 0, "text": "a"}]}, recording_id="r1", run={"run_id": "run1"})
    store.write_recording({"id": "r2", "status": "done"}, {"utterances": [{"idx": 0, "text": "other"}]}, recording_id="r2", run={"run_id": "run2"})
    store.write_recording({"id": "r1", "status": "done"}, {"utterances": [{"idx": 0, "text": "b"}]}, recording_id="r1", run={"run_id": "run3"})
    assert store.query("SELECT count(*) FROM recordings").rows == [(2,)]
    assert store.query("SELECT recording_id, text, run_id FROM utterances ORDER BY recording_id").rows == [("r1", "b", "run3"), ("r2", "other", "run2")]
    assert store.query("SELECT count(*) FROM words").rows == [(0,)]  # a full reprocess clears every derived table
    assert store.query("SELECT count(*) FROM runs").rows == [(3,)]  # history stays


def test_a_failed_write_leaves_nothing_half_written(tmp_path):
    store = Store(tmp_path / "p.duckdb")
    store.write_recording({"id": "r1", "status": "done"}, {"utterances": [{"idx": 0, "text": "kept"}]}, recording_id="r1")
    with pytest.raises(duckdb.Error):
        store.write_recording({"id": "r1", "status": "done"}, {"utterances": [{"idx": 0, "no_such_column": 1}]}, recording_id="r1")
    assert store.query("SELECT text FROM utterances").rows == [("kept",)]


def test_table_names_counts_only_the_database_asked_about(tmp_path):
    """A reader asks which tables its database has (an older one may lack some): a database
    attached beside it, or the connection's own stand-ins, must not answer for it."""
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE voiceprints (staff_id VARCHAR)")
    con = duckdb.connect(str(tmp_path / "p.duckdb"))
    con.execute("CREATE TABLE recordings (id VARCHAR)")
    con.execute(f"ATTACH '{other}' AS elsewhere (READ_ONLY)")
    con.execute("CREATE TEMP TABLE tags (recording_id VARCHAR)")
    assert table_names(con) == {"recordings"}
    assert table_names(con, "elsewhere") == {"voiceprints"}
    assert table_names(con, "temp") == {"tags"}
    con.close()


HOLDER = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_a_writer_waits_for_another_process_holding_the_file(tmp_path):
    path = tmp_path / "p.duckdb"
    Store(path).append("errors", [{"error_id": "e0"}])
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "1.5"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    store = Store(path, lock_timeout_s=30)
    start = time.monotonic()
    store.append("errors", [{"error_id": "e1"}])
    waited = time.monotonic() - start
    holder.wait()
    assert 0.5 < waited < 10
    assert store.query("SELECT count(*) FROM errors").rows == [(2,)]


def test_lock_held_too_long_is_a_transient_error(tmp_path):
    from pipeline.errors import TransientError

    path = tmp_path / "p.duckdb"
    Store(path).append("errors", [{"error_id": "e0"}])
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "5"], stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    try:
        with pytest.raises(TransientError, match="stayed locked"):
            Store(path, lock_timeout_s=0.5).query("SELECT 1")
    finally:
        holder.kill()


def test_stored_utterances_keep_their_voice_margin_and_doubt(tmp_path):
    from pipeline.retag import stored_utterances

    store = Store(tmp_path / "p.duckdb")
    rows = [{"idx": 0, "speaker": "S1", "role": "staff", "role_confidence": 0.9, "start_s": 0.0, "end_s": 1.0, "text": "a",
             "voice_margin": 0.2, "role_unsure": False},
            {"idx": 1, "speaker": "S2", "role": "customer", "role_confidence": 0.5, "start_s": 1.0, "end_s": 2.0, "text": "b",
             "voice_margin": -0.1, "role_unsure": True}]
    store.write_recording({"id": "r1", "status": "done"}, {"utterances": rows}, recording_id="r1", run={"run_id": "x"})
    got = stored_utterances(store, "r1")
    assert [(u.voice_margin, u.role_unsure, u.role_confidence) for u in got] == [(0.2, False, 0.9), (-0.1, True, 0.5)]
