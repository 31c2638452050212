"""The tamper-evident chain on its own: canonical rows, sealing, and what `verify` catches.

Rows are written through the real ``Store`` (the same calls processing makes), not through the
chain module, so every test also checks that the write path seals what it writes.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

import duckdb
import pytest

from pipeline.governance.chain import GENESIS, baseline, seal, states, table_digest, verify
from pipeline.staging import StagingWriter, load_staged
from pipeline.store import Store


def _write(store: Store, rid: str, text: str = "hello", words: int = 3, **extra) -> None:
    store.write_recording(
        {"id": rid, "status": "done", "duration_s": 12.25, "customer_ref": "C1", "started_at": datetime(2026, 1, 2, 9, 30), **extra},
        {
            "utterances": [{"idx": 0, "text": text, "start_s": 0.1, "end_s": 1.7, "avg_logprob": -0.3}, {"idx": 1, "text": "bye", "start_s": 2.0, "end_s": 2.5}],
            "words": [{"utterance_idx": 0, "idx": i, "word": f"w{i}", "start_s": i / 10, "end_s": i / 10 + 0.05, "probability": 1 / 3} for i in range(words)],
            "tags": [{"utterance_index": None, "kind": "complaint", "label": "no", "score": 0.1 + 0.2, "evidence": [0, 1]}],
        },
        recording_id=rid,
        run={"run_id": f"run-{rid}"},
    )


def _check(store: Store, **kwargs):
    with store.connect(read_only=True) as con:
        return verify(con, **kwargs)


@pytest.fixture
def store(tmp_path) -> Store:
    store = Store(tmp_path / "p.duckdb")
    for rid in ("r1", "r2", "r3"):
        _write(store, rid, text=f"text of {rid}")
    return store


def test_a_clean_database_verifies_and_every_write_is_an_entry(store):
    report = _check(store)
    assert report.ok, report.breaks
    assert (report.entries, report.recordings) == (3, 3)
    assert store.query("SELECT seq, recording, kind FROM record_chain ORDER BY seq").rows == [(1, "r1", "store"), (2, "r2", "store"), (3, "r3", "store")]
    first = store.query("SELECT prev_sha256 FROM record_chain WHERE seq = 1").rows[0][0]
    assert first == GENESIS


def test_canonical_rows_ignore_storage_order_nulls_and_session_time_zone(tmp_path):
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("CREATE TABLE utterances (recording_id VARCHAR, idx INTEGER, x DOUBLE, t TIMESTAMPTZ, note VARCHAR)")
    rows = [("r", 0, 0.1 + 0.2, datetime(2026, 3, 1, 12, tzinfo=timezone.utc), None), ("r", 1, 1e-300, None, "é \"q\"\n")]
    con.executemany("INSERT INTO utterances VALUES (?, ?, ?, ?, ?)", rows)
    first = states(con, ["utterances"])["r"]["utterances"]
    con.execute("DELETE FROM utterances")
    con.executemany("INSERT INTO utterances VALUES (?, ?, ?, ?, ?)", list(reversed(rows)))  # other storage order
    con.execute("SET TimeZone = 'Asia/Kolkata'")  # TIMESTAMPTZ arrives in another zone
    con.execute("ALTER TABLE utterances ADD COLUMN appended VARCHAR")  # a later migration's column, NULL here
    assert states(con, ["utterances"])["r"]["utterances"] == first
    con.execute("UPDATE utterances SET x = 0.30000000000000004 + 1e-16 WHERE idx = 0")  # the next double up
    assert states(con, ["utterances"])["r"]["utterances"] != first
    same = table_digest(["b", "a", "n"], [(0.1 + 0.2, "x", None), (None, "y", None)])
    assert same == table_digest(["a", "b"], [("y", None), ("x", 0.30000000000000004)])  # column order, row order, all-NULL columns
    assert same != table_digest(["a", "b"], [("y", None), ("x", 0.3)])
    assert same != table_digest(["a", "b"], [("y", 0.30000000000000004), ("x", None)])  # a value moved to another row


def test_verify_names_an_edited_a_deleted_and_an_inserted_row(store):
    store.execute("UPDATE utterances SET text = 'I never said that' WHERE recording_id = 'r1' AND idx = 0")
    store.execute("DELETE FROM words WHERE recording_id = 'r2' AND idx = 1")
    store.execute("INSERT INTO tags (recording_id, run_id, kind, label) VALUES ('r3', 'forged', 'complaint', 'yes')")
    report = _check(store)
    got = [(b.position, b.recording, b.message.split(": ", 1)[1]) for b in report.breaks]
    assert got == [(1, "r1", "utterances: row(s) edited"), (2, "r2", "words: 1 row(s) deleted"), (3, "r3", "tags: 1 row(s) inserted")]
    assert "changed outside Parley after chain entry #1 (store" in report.breaks[0].message


def test_verify_catches_a_whole_recording_inserted_or_removed(store):
    store.execute("INSERT INTO recordings (id, status) VALUES ('forged', 'done')")
    store.execute("DELETE FROM recordings WHERE id = 'r2'")
    breaks = _check(store).breaks
    assert [b.recording for b in breaks] == ["r2", "forged"]
    assert "recordings: 1 row(s) deleted" in breaks[0].message
    assert "no chain entry covers" in breaks[1].message and breaks[1].position == math.inf


def test_verify_catches_chain_entries_edited_removed_or_reordered(store, tmp_path):
    import shutil

    def copy(name: str) -> Store:
        shutil.copy(store.path, tmp_path / name)
        return Store(tmp_path / name)

    edited = copy("edited.duckdb")
    edited.execute("UPDATE record_chain SET actor = 'someone else' WHERE seq = 2")
    assert "chain entry #2 (store of recording r2) was edited" in _check(edited).breaks[0].message
    removed = copy("removed.duckdb")
    removed.execute("DELETE FROM record_chain WHERE seq = 2")
    first = _check(removed).breaks[0]
    assert first.position == 2 and "entries #2-#2 are missing" in first.message
    resealed = copy("resealed.duckdb")  # rows changed and the digests in the entry changed to match
    resealed.execute("UPDATE utterances SET text = 'x' WHERE recording_id = 'r1' AND idx = 1")
    with resealed.connect() as con:
        new = states(con, ["utterances"], ["r1"])["r1"]["utterances"]
        con.execute("UPDATE record_chain SET tables = json_merge_patch(tables, ?) WHERE seq = 1", [f'{{"utterances": {{"rows": 2, "sha256": "{new["sha256"]}"}}}}'])
    assert "chain entry #1 (store of recording r1) was edited" in _check(resealed).breaks[0].message


def test_an_anchor_kept_elsewhere_catches_a_rewritten_chain(store):
    head = _check(store).head
    assert _check(store, anchor=(head[0], head[1][:16])).ok
    with store.connect() as con:  # someone with this code rewrites the whole chain after editing a row
        con.execute("UPDATE utterances SET text = 'rewritten' WHERE recording_id = 'r1' AND idx = 0")
        con.execute("DELETE FROM record_chain")
        baseline(con, actor="intruder")
    assert _check(store).ok  # indistinguishable without an outside copy of the head...
    breaks = _check(store, anchor=(head[0], head[1][:16])).breaks
    assert len(breaks) == 1 and f"anchor #{head[0]}" in breaks[0].message  # ...but not with one


def test_retag_and_rescore_style_writes_append_entries_and_still_verify(store):
    store.write_recording(None, {"tags": [{"utterance_index": None, "kind": "complaint", "label": "yes", "score": 0.9}]}, recording_id="r2", run={"run_id": "retag"}, replace_all=False)
    _write(store, "r1", text="reprocessed")  # a full reprocess replaces every row
    assert _check(store).ok
    kinds = store.query("SELECT recording, kind FROM record_chain WHERE seq > 3 ORDER BY seq").rows
    assert kinds == [("r2", "update"), ("r1", "store")]
    # the partial entry carried the untouched tables' digests and recomputed only the tags
    carried = store.query("SELECT seq, json_extract(tables, '$.utterances'), json_extract(tables, '$.tags') FROM record_chain WHERE seq IN (2, 4) ORDER BY seq").rows
    assert carried[0][1] == carried[1][1] and carried[0][2] != carried[1][2]


def test_a_failed_write_leaves_no_entry(store):
    with pytest.raises(duckdb.Error):
        store.write_recording({"id": "r9", "status": "done"}, {"utterances": [{"idx": 0, "no_such_column": 1}]}, recording_id="r9")
    assert store.query("SELECT count(*) FROM record_chain").rows == [(3,)]
    assert _check(store).ok


def test_staged_batches_are_sealed_when_loaded(tmp_path):
    db = Store(tmp_path / "p.duckdb")
    writer = StagingWriter(tmp_path / "staging", db.path)
    writer.write_recording({"id": "s1", "status": "done"}, {"utterances": [{"idx": 0, "text": "staged"}]}, recording_id="s1", run={"run_id": "a"})
    writer.write_recording(None, {"tags": [{"utterance_index": None, "kind": "complaint", "label": "no"}]}, recording_id="s1", run={"run_id": "b"}, replace_all=False)
    audio = tmp_path / "s1.wav"
    audio.write_bytes(b"RIFF audio")
    from pipeline.governance.files import archive_rows

    writer.append("archived_files", archive_rows("s1", [("audio", audio)]))
    assert load_staged(db, tmp_path / "staging") == 3
    assert db.query("SELECT kind FROM record_chain ORDER BY seq").rows == [("store",), ("update",), ("archive",)]
    assert _check(db).ok
    audio.write_bytes(b"RIFF other")
    assert "archived audio file of recording s1 was changed or replaced" in _check(db).breaks[0].message


def test_sealing_many_recordings_at_once_chains_them_in_order(store):
    with store.connect() as con:
        con.execute("BEGIN TRANSACTION")
        assert seal(con, ["r3", "r1", "r3"], "rescore", changed=["scorecards"]) == [4, 5]
        con.execute("COMMIT")
    assert _check(store).ok
