"""Retention, erasure, legal hold, the chain and the audit trail on really processed recordings.

One module fixture processes four recordings once (two scripted calls spoken by espeak-ng, one
of them a complaint, and the real jfk.flac and stereo_diarization.wav), with sidecars giving
customers and 2019 start dates; every test works on its own copy of that folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATA
from pipeline import ingest
from pipeline.cli import app
from pipeline.governance.policy import load_policy
from pipeline.governance.retention import plan as retention_plan
from pipeline.process import Processor
from pipeline.settings import Settings
from pipeline.store import Store
from pipeline.synth import Turn, synthesize

runner = CliRunner()
COMPLAINT_CALL = [
    Turn("staff", "Thank you for calling Brightwater, this call is recorded for training. How can I help?"),
    Turn("customer", "I want to make a formal complaint. You charged me twice this month and nobody has fixed it."),
    Turn("staff", "I am very sorry about that. I will log your complaint and refund the second payment today."),
    Turn("customer", "This is the third time I have called about it. It is not good enough and I am very unhappy."),
    Turn("staff", "I understand, and I apologise. Is there anything else I can help with?"),
    Turn("customer", "No. Goodbye."),
]
PLAIN_CALL = [
    Turn("staff", "Thank you for calling Brightwater, this call is recorded for training. How can I help?"),
    Turn("customer", "Hello, I would like to check the balance of my savings account please."),
    Turn("staff", "Of course. Your balance is two hundred pounds. Is there anything else I can help with?"),
    Turn("customer", "No, that is everything, thank you very much. Goodbye."),
]
FOLDERS = ["--db", "parley.duckdb", "--archive", "archive"]
SIDE = {
    "complaint.wav": {"customer_ref": "C-100", "started_at": "2019-03-01T09:00:00Z", "channel": "phone", "team": "billing"},
    "plain.wav": {"customer_ref": "C-200", "started_at": "2019-03-01T10:00:00Z", "channel": "phone", "team": "billing"},
    "speech.flac": {"customer_ref": "C-200", "started_at": "2019-03-02T10:00:00Z", "channel": "face-to-face"},
    "stereo.wav": {"customer_ref": "C-300", "started_at": "2019-03-01T11:00:00Z", "channel": "phone"},
}


def _settings() -> Settings:
    return Settings(db=Path("parley.duckdb"), inbox=Path("inbox"), archive=Path("archive"), quarantine=Path("quarantine"), stable_s=0)


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    """A Parley folder (relative paths inside) with four processed recordings."""
    root = tmp_path_factory.mktemp("governed")
    before = os.getcwd()
    os.chdir(root)
    try:
        s = _settings()
        s.inbox.mkdir()
        synthesize(COMPLAINT_CALL, s.inbox / "complaint.wav", stereo=True, telephone=True, seed=11)
        synthesize(PLAIN_CALL, s.inbox / "plain.wav", stereo=True, telephone=True, seed=12)
        shutil.copy(DATA / "jfk.flac", s.inbox / "speech.flac")
        shutil.copy(DATA / "stereo_diarization.wav", s.inbox / "stereo.wav")
        for name, meta in SIDE.items():
            (s.inbox / name).with_suffix(".json").write_text(json.dumps(meta))
        outcomes = Processor(s).process_many(ingest.list_inbox(s.inbox))
        assert sorted(o.status for o in outcomes) == ["done"] * 4, [o.message for o in outcomes]
        complaint = dict(Store(s.db).query(
            "SELECT r.source_name, t.label FROM recordings r JOIN tags t ON t.recording_id = r.id AND t.kind = 'complaint' AND t.utterance_index IS NULL").rows)
        assert complaint["complaint.wav"] == "yes" and complaint["plain.wav"] == "no", complaint  # what the retention test builds on
    finally:
        os.chdir(before)
    return root


@pytest.fixture
def ws(processed, tmp_path, monkeypatch) -> Store:
    """This test's own copy of the processed folder, as the current directory; its Store."""
    shutil.copytree(processed, tmp_path / "ws")
    monkeypatch.chdir(tmp_path / "ws")
    return Store("parley.duckdb")


def ids(store: Store) -> dict[str, str]:
    return dict(store.query("SELECT source_name, id FROM recordings").rows)


def cli(*args: str, code: int = 0) -> str:
    done = runner.invoke(app, list(args))
    assert done.exit_code == code, done.output
    return " ".join(done.output.split())  # rich wraps long lines


def rows_of(store: Store, rid: str) -> dict[str, int]:
    """Rows of ``rid`` in every table that names a recording."""
    tables = store.query("SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'recording_id' AND schema_name = 'main'").rows
    found = {t: store.query(f'SELECT count(*) FROM "{t}" WHERE recording_id = ?', [rid]).rows[0][0] for (t,) in tables}
    found["recordings"] = store.query("SELECT count(*) FROM recordings WHERE id = ?", [rid]).rows[0][0]
    return {t: n for t, n in found.items() if n}


def files_of(store: Store, rid: str) -> list[Path]:
    return [Path(p) for (p,) in store.query("SELECT path FROM archived_files WHERE recording_id = ?", [rid]).rows]


def policy(path: Path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_processing_seals_every_recording_and_its_archived_audio(ws):
    out = cli("verify", *FOLDERS[:2])
    assert "OK: every recording's rows and archived files match the chain" in out
    assert "4 recordings and 0 deleted ones checked" in out
    kinds = ws.query("SELECT kind, count(*) FROM record_chain GROUP BY 1 ORDER BY 1").rows
    assert kinds == [("archive", 4), ("store", 4)]
    roles = dict(ws.query("SELECT role, count(*) FROM archived_files GROUP BY 1").rows)
    assert roles.pop("audio") == 4  # and a sidecar each where no redaction made a new copy
    assert roles.get("sidecar", 0) == len(list(Path("archive").rglob("*.json")))
    assert sorted(ws.query("SELECT path FROM archived_files").rows) == sorted((str(p),) for p in Path("archive").rglob("*") if p.is_file())


def test_retention_keeps_a_complaint_longer(ws, tmp_path):
    rid = ids(ws)
    kept_files = files_of(ws, rid["complaint.wav"])
    going = [f for name in ("plain.wav", "speech.flac", "stereo.wav") for f in files_of(ws, rid[name])]
    rules = policy(tmp_path / "retention.yaml", """
        default: {record: 1y}
        longer:
          complaint: {record: 50y}
    """)
    plan = cli("retention", "apply", "--dry-run", "--policy", rules, *FOLDERS)
    assert "would delete 3 whole recording(s)" in plan and rid["complaint.wav"][:12] not in plan
    assert all(rid[name][:12] in plan for name in ("plain.wav", "speech.flac", "stereo.wav"))
    assert ws.query("SELECT count(*) FROM recordings").rows == [(4,)]  # a dry run changes nothing
    done = cli("retention", "apply", "--policy", rules, *FOLDERS)
    assert "deleted 3 whole recording(s)" in done and f"{len(going)} archived file(s) removed" in done
    assert list(ids(ws)) == ["complaint.wav"]
    assert all(p.exists() for p in kept_files) and len(list(Path("archive").rglob("*.*"))) == len(kept_files)
    for name in ("plain.wav", "speech.flac", "stereo.wav"):
        assert rows_of(ws, rid[name]) == {}, name
    stones = ws.query("SELECT recording, kind, parts, reason, period_from, pending_files FROM tombstones ORDER BY recording").rows
    assert sorted(s[0] for s in stones) == sorted(rid[n] for n in ("plain.wav", "speech.flac", "stereo.wav"))
    assert all(s[1] == "retention" and s[2] == ["record"] and "default (record 1y)" in s[3] and s[5] is None for s in stones)
    assert "OK" in cli("verify", *FOLDERS[:2])
    again = cli("retention", "apply", "--policy", rules, *FOLDERS)  # nothing due now: a quiet success
    assert "deleted 0 whole recording(s) and parts of 0" in again
    # the complaint goes too once its own, longer period is over
    later = cli("retention", "apply", "--dry-run", "--as-of", "2069-03-02", "--policy", rules, *FOLDERS)
    assert "would delete 1 whole recording(s)" in later
    with ws.connect(read_only=True) as con:
        _, due = retention_plan(con, load_policy(rules), date(2069, 2, 28))
        assert due == [] and retention_plan(con, load_policy(rules), date(2069, 3, 1))[1][0].why == "default + complaint (record 50y)"


def test_retention_can_drop_audio_before_the_record(ws, tmp_path):
    rid = ids(ws)["plain.wav"]
    audio = files_of(ws, rid)
    face = files_of(ws, ids(ws)["speech.flac"])
    rules = policy(tmp_path / "retention.yaml", """
        default: {record: 20y, audio: 2y}
        rules:
          - name: face
            when: {channel: face-to-face}
            record: 20y
            audio: 30y
    """)
    done = cli("retention", "apply", "--policy", rules, *FOLDERS)
    assert "deleted 0 whole recording(s) and parts of 3" in done
    assert not any(p.exists() for p in audio)
    left = rows_of(ws, rid)
    assert "archived_files" not in left and left["utterances"] > 0 and left["tags"] > 0
    assert ws.query("SELECT archive_path FROM recordings WHERE id = ?", [rid]).rows == [(None,)]
    assert ws.query("SELECT count(*) FROM archived_files").rows == [(len(face),)]  # the face-to-face one keeps its audio (30y, clamped to 20y)
    assert all(f.exists() for f in face)
    assert "OK" in cli("verify", *FOLDERS[:2])


def test_erasing_a_customer_removes_both_recordings_and_leaves_a_tombstone(ws):
    rid = ids(ws)
    theirs = [rid["plain.wav"], rid["speech.flac"]]
    files = [f for r in theirs for f in files_of(ws, r)]
    said = ws.query("""SELECT text FROM utterances WHERE recording_id = ? AND text NOT IN (SELECT text FROM utterances WHERE recording_id <> ?)
                       ORDER BY length(text) DESC LIMIT 1""", [rid["plain.wav"], rid["plain.wav"]]).rows[0][0]  # said only in this call
    assert files and all(f.exists() for f in files) and said.encode() in Path("parley.duckdb").read_bytes()
    Path("inbox").mkdir(exist_ok=True)  # a broken file of theirs, quarantined: never stored, still theirs
    Path("inbox/broken.wav").write_bytes(b"RIFF but not audio")
    Path("inbox/broken.json").write_text('{"customer_ref": "C-200"}')
    assert "1 quarantined" in cli("process", "--local", "--inbox", "inbox", "--quarantine", "quarantine", *FOLDERS)
    quarantined = sorted(Path("quarantine").iterdir())
    assert [p.name for p in quarantined] == ["broken.wav", "broken.wav.error.txt", "broken.wav.json"]
    out = cli("erase", "--customer", "C-200", "--reason", "DSAR-2026-17", "--yes", *FOLDERS)
    assert out.count("erased recording") == 2 and "erased a quarantined drop" in out and "compacted" in out
    assert not any(p.exists() for p in quarantined)
    assert ws.query("SELECT count(*) FROM drops WHERE json_extract_string(metadata, '$.customer_ref') = 'C-200'").rows == [(0,)]
    for r in theirs:
        assert rows_of(ws, r) == {}
    assert not any(f.exists() for f in files)
    assert sorted(ids(ws)) == ["complaint.wav", "stereo.wav"]  # other customers untouched
    stones = ws.query("SELECT recording, kind, parts, actor, reason, customer_ref_sha256, rows_deleted, files_deleted, pending_files FROM tombstones").rows
    assert len(stones) == 3 and set(theirs) < {s[0] for s in stones}
    import hashlib

    for s in stones:
        assert (s[1], s[2], s[4], s[5]) == ("erasure", ["record"], "DSAR-2026-17", hashlib.sha256(b"C-200").hexdigest())
        assert s[3] and "@" in s[3] and s[7] >= 1 and s[8] is None
        assert json.loads(s[6])["utterances" if s[0] in theirs else "drops"] > 0
        assert "C-200" not in repr(s) and said not in repr(s)  # what and why, never the content
    assert "OK" in cli("verify", *FOLDERS[:2])
    assert said.encode() not in Path("parley.duckdb").read_bytes()  # compacted: not even in free blocks
    # the same file dropped again is recognised and refused ...
    Path("inbox").mkdir(exist_ok=True)
    shutil.copy(DATA / "jfk.flac", "inbox/again.flac")
    again = cli("process", "--local", "--inbox", "inbox", "--quarantine", "quarantine", *FOLDERS)
    assert "this run: 1 quarantined" in again and "was erased on" in again and "--readmit-erased" in again
    assert Store("parley.duckdb").query("SELECT count(*) FROM recordings WHERE id = ?", [rid["speech.flac"]]).rows == [(0,)]
    # ... unless told otherwise
    shutil.move("quarantine/again.flac", "inbox/again.flac")
    readmitted = cli("process", "--local", "--readmit-erased", "--inbox", "inbox", "--quarantine", "quarantine", *FOLDERS)
    assert "this run: 1 done" in readmitted
    assert "OK" in cli("verify", *FOLDERS[:2])


def test_a_held_recording_survives_erasure_and_retention_and_says_so(ws, tmp_path):
    rid = ids(ws)["stereo.wav"]
    before = rows_of(ws, rid)
    out = cli("hold", "add", "--customer", "C-300", "--reason", "litigation 2026/44", *FOLDERS[:2])
    assert "legal hold H1 on customer C-300: 1 stored recording(s), and any stored later" in out
    refused = cli("erase", "--customer", "C-300", "--reason", "DSAR-9", "--yes", *FOLDERS, code=1)
    assert f"kept recording {rid[:12]}: under legal hold H1" in refused
    rules = policy(tmp_path / "retention.yaml", "default: {record: 30d}\n")
    swept = cli("retention", "apply", "--policy", rules, *FOLDERS)
    assert f"kept record of recording {rid[:12]} (stereo.wav): under legal hold H1" in swept and "deleted 3 whole recording(s)" in swept
    assert rows_of(ws, rid) == before and all(p.exists() for p in files_of(ws, rid))
    listed = cli("hold", "list", *FOLDERS[:2])
    assert "H1" in listed and "C-300" in listed and "litigation" in listed
    cli("hold", "remove", "H1", "--reason", "case closed", *FOLDERS[:2])
    assert "no legal holds in force" in cli("hold", "list", *FOLDERS[:2])
    assert "closed" in cli("hold", "list", "--all", *FOLDERS[:2])
    assert "deleted 1 whole recording(s)" in cli("retention", "apply", "--policy", rules, *FOLDERS)
    assert rows_of(ws, rid) == {}
    assert "OK" in cli("verify", *FOLDERS[:2])


def test_verify_reports_an_edited_utterance_a_deleted_row_and_an_inserted_row(ws):
    rid = ids(ws)
    ws.execute("UPDATE utterances SET text = 'the customer agreed to everything' WHERE recording_id = ? AND idx = 0", [rid["plain.wav"]])
    out = cli("verify", *FOLDERS[:2], code=1)
    assert f"BROKEN: recording {rid['plain.wav'][:12]} changed outside Parley" in out and "utterances: row(s) edited" in out
    ws.execute("DELETE FROM findings WHERE recording_id = ? AND NOT passed", [rid["complaint.wav"]])
    ws.execute("INSERT INTO tags (recording_id, run_id, kind, label) VALUES (?, 'x', 'complaint', 'no')", [rid["stereo.wav"]])
    every = cli("verify", "--all", *FOLDERS[:2], code=1)
    assert "findings:" in every and "row(s) deleted" in every and "tags: 1 row(s) inserted" in every and "utterances: row(s) edited" in every


def test_verify_reports_replaced_archived_audio(ws):
    audio = next(p for p in files_of(ws, ids(ws)["speech.flac"]) if p.suffix == ".flac")
    audio.write_bytes(audio.read_bytes()[:-100] + bytes(100))
    out = cli("verify", *FOLDERS[:2], code=1)
    assert "the archived audio file of recording" in out and "was changed or replaced" in out
    assert "OK" in cli("verify", "--no-audio", *FOLDERS[:2])


def test_retag_and_rescore_keep_the_chain_valid(ws):
    n = ws.query("SELECT count(*) FROM record_chain").rows[0][0]
    assert "re-tagged 4 interactions" in cli("retag", "--db", "parley.duckdb")
    assert "scored 4 interactions" in cli("rescore", "--rubric", str(Path(__file__).resolve().parent.parent / "data" / "rubrics" / "contact_centre.yaml"), "--db", "parley.duckdb")
    kinds = dict(ws.query(f"SELECT kind, count(*) FROM record_chain WHERE seq > {n} GROUP BY 1").rows)
    assert kinds["update"] == 4 and kinds["rescore"] >= 8  # re-tag re-scores with every rubric, then the rescore itself
    assert "OK" in cli("verify", *FOLDERS[:2])


CRASH = """
import os, sys
from pipeline.governance import erasure, files
def crash(paths):  # the rows are committed; the machine dies before any file goes
    os._exit(9)
erasure.remove_files = crash
from pipeline import ingest
from pipeline.cli import app
app(["erase", "--recording", sys.argv[1], "--reason", "DSAR-crash", "--yes", "--no-compact", "--db", "parley.duckdb", "--archive", "archive"])
"""


def test_a_crash_between_the_rows_and_the_files_is_finished_by_the_next_run(ws, tmp_path):
    rid = ids(ws)["plain.wav"]
    files = files_of(ws, rid)
    crashed = subprocess.run([sys.executable, "-c", CRASH, rid], capture_output=True, text=True, timeout=300)
    assert crashed.returncode == 9, crashed.stderr
    assert rows_of(ws, rid) == {} and all(f.exists() for f in files)  # rows gone in one step; files still there
    pending = ws.query("SELECT pending_files FROM tombstones WHERE recording = ?", [rid]).rows[0][0]
    assert sorted(json.loads(pending)) == sorted(str(f) for f in files)
    out = cli("verify", *FOLDERS[:2])
    assert "OK" in out and f"{len(files)} file(s) of deleted recordings are still on disk" in out
    rules = policy(tmp_path / "retention.yaml", "default: {record: forever}\n")
    done = cli("retention", "apply", "--policy", rules, *FOLDERS)
    assert f"finished an interrupted deletion: {len(files)} file(s)" in done
    assert not any(f.exists() for f in files)
    assert ws.query("SELECT pending_files IS NULL, files_deleted FROM tombstones WHERE recording = ?", [rid]).rows == [(True, len(files))]


def test_commands_that_read_or_change_records_leave_audit_rows(ws):
    from pipeline.governance.audit import os_user
    from pipeline.web import Accounts, accounts_path

    rid = ids(ws)["plain.wav"]
    cli("sql", "SELECT count(*) FROM utterances", "--db", "parley.duckdb")
    cli("report", "scorecards", "--db", "parley.duckdb")
    cli("hold", "add", "--recording", rid[:12], "--reason", "audit test", *FOLDERS[:2])
    cli("hold", "list", *FOLDERS[:2])
    cli("erase", "--customer", "C-100", "--reason", "DSAR-5", "--yes", "--no-compact", *FOLDERS)
    cli("retention", "apply", "--dry-run", *FOLDERS)
    rows = Accounts(accounts_path(Path("parley.duckdb"))).audit_rows(50)
    got = {(r[3], r[4]) for r in rows}
    assert {("sql", None), ("report", "scorecards"), ("hold_add", f"recording:{rid[:12]}"), ("hold_list", None), ("retention", "dry-run")} <= got
    erase_row = next(r for r in rows if r[3] == "erase")
    assert erase_row[4].startswith("customer:") and "C-100" not in erase_row[4] and erase_row[5] == "DSAR-5"
    assert all(r[1] == os_user() and r[2] == "cli" and r[6].startswith("shell@") for r in rows)
    assert any("SELECT count(*) FROM utterances" in (r[5] or "") for r in rows if r[3] == "sql")


def test_staff_voiceprints_can_be_listed_and_removed(ws):
    cli("staff", "enroll", "S1042", str(DATA / "jfk.flac"), "--db", "parley.duckdb")
    listed = cli("staff", "list", "--db", "parley.duckdb")
    assert "S1042" in listed and "resemblyzer" in listed
    out = cli("staff", "remove", "S1042", "--reason", "consent withdrawn", "--db", "parley.duckdb")
    assert "removed the voiceprint of S1042" in out
    assert "no voiceprints enrolled" in cli("staff", "list", "--db", "parley.duckdb")
    assert ws.query("SELECT kind, staff_id, reason, parts FROM tombstones").rows == [("voiceprint", "S1042", "consent withdrawn", ["voiceprint"])]
    cli("staff", "remove", "S1042", "--reason", "again", "--db", "parley.duckdb", code=1)
