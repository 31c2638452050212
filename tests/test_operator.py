"""What an operator meets: no database made by a typo, a folder of mixed files, what Parley found,
a Prefect server that is down, the current rubric version."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import DATA, drop
from pipeline.cli import app
from pipeline.errors import ConfigError
from pipeline.process import Processor
from pipeline.queries import CURRENT_RUBRICS
from pipeline.scoring import check_rubric_in_folder, load_rubrics
from pipeline.store import Store

ROOT = Path(__file__).resolve().parent.parent
RUBRIC = ROOT / "data" / "rubrics" / "contact_centre.yaml"
runner = CliRunner()


@pytest.mark.parametrize("command", [
    ["rescore", "--rubric", str(RUBRIC)],
    ["staff", "enroll", "S1", str(DATA / "jfk.flac")],
    ["retag"],
])
def test_commands_other_than_process_never_create_a_database(tmp_path, command):
    typo = tmp_path / "parly.duckdb"
    result = runner.invoke(app, [*command, "--db", str(typo)])
    assert result.exit_code == 2, result.output
    assert f"there is no database at {typo}" in result.output and "a typo?" in result.output
    assert not typo.exists() and list(tmp_path.iterdir()) == []


def test_staff_can_be_enrolled_before_the_first_recordings_with_new(tmp_path):
    # a new deployment enrols its staff first: refused as a possible typo without --new (the fix
    # says so), a database started with it
    fresh = tmp_path / "parley.duckdb"
    refused = runner.invoke(app, ["staff", "enroll", "S1", str(DATA / "jfk.flac"), "--db", str(fresh)])
    assert refused.exit_code == 2 and "add --new" in refused.output and not fresh.exists()
    nowhere = runner.invoke(app, ["staff", "enroll", "S1", str(DATA / "jfk.flac"), "--db", str(tmp_path / "no" / "p.duckdb"), "--new"])
    assert nowhere.exit_code == 2 and "there is no folder" in nowhere.output and not (tmp_path / "no").exists()
    started = runner.invoke(app, ["staff", "enroll", "S1", str(DATA / "jfk.flac"), "--db", str(fresh), "--new"])
    assert started.exit_code == 0, started.output
    assert Store(fresh).query("SELECT staff_id, model FROM voiceprints").rows == [("S1", "resemblyzer")]


def test_a_folder_given_to_process_takes_only_its_recordings_and_ends_with_what_was_found(workspace, tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    shutil.copy(DATA / "stereo_diarization.wav", folder / "call.wav")
    (folder / "call.json").write_text('{"staff_id": "S1", "channel": "phone"}')
    for name in ("README.md", "LICENSE", "call.stm", "call.rttm"):
        (folder / name).write_text("not a recording\n")
    args = ["--db", str(workspace.db), "--inbox", str(workspace.inbox), "--archive", str(workspace.archive), "--quarantine", str(workspace.quarantine)]
    result = runner.invoke(app, ["process", "--local", "--copy", str(folder), *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "left out 4 file(s) that are not recordings" in result.output and "this run: 1 done" in result.output
    store = Store(workspace.db)
    assert store.query("SELECT count(*) FROM errors").rows == [(0,)]
    assert store.query("SELECT source_name, staff_id FROM recordings").rows == [("call.wav", "S1")]
    assert "What Parley found" in result.output
    for column in ("touchpoint", "complaint", "customer_sentiment", "score"):
        assert column in result.output
    assert "parley serve" in result.output and "parley sql" in result.output
    assert all(p.exists() for p in folder.iterdir())  # --copy: the folder is left as it was


def test_a_prefect_server_that_is_down_is_one_line_with_the_fix(workspace):
    drop(workspace, DATA / "jfk.flac")
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api", "PARLEY_DB": str(workspace.db), "PARLEY_INBOX": str(workspace.inbox)}
    parley = str(Path(sys.executable).with_name("parley"))
    for command in (["process"], ["worker"], ["watch", "--submit"]):
        done = subprocess.run([parley, *command], capture_output=True, text=True, env=env, timeout=120)
        lines = (done.stdout + done.stderr).strip().splitlines()
        assert done.returncode == 2 and len(lines) <= 3, lines
        assert "the Prefect server at http://127.0.0.1:9/api does not answer" in lines[-1] or "does not answer" in " ".join(lines)
        assert "prefect server start" in " ".join(lines)
    assert (workspace.inbox / "jfk.flac").exists() and not workspace.db.exists()


def test_a_rubric_outside_the_folder_or_twice_in_it_is_refused(tmp_path):
    folder = tmp_path / "rubrics"
    folder.mkdir()
    shutil.copy(RUBRIC, folder / "contact_centre.yaml")
    copy = tmp_path / "copy.yaml"
    copy.write_text(RUBRIC.read_text().replace('version: "1"', 'version: "2"'))
    with pytest.raises(ConfigError, match="is not in the rubrics folder .* which holds version 1 .*new recordings would still be scored with that"):
        check_rubric_in_folder(copy, folder)
    assert check_rubric_in_folder(folder / "contact_centre.yaml", folder).version == "1"
    shutil.copy(copy, folder / "contact_centre_v2.yaml")
    with pytest.raises(ConfigError, match="rubric 'contact_centre' is in the folder twice"):
        load_rubrics(folder)


def test_after_a_rescore_new_calls_keep_the_new_rubric_version(workspace, tmp_path):
    folder = tmp_path / "rubrics"
    folder.mkdir()
    shutil.copy(RUBRIC, folder / "contact_centre.yaml")
    workspace.rubrics = folder
    processor = Processor(workspace)
    assert processor.process(drop(workspace, DATA / "stereo_diarization.wav", "first.wav")).status == "done"
    outside = tmp_path / "v2.yaml"
    outside.write_text(RUBRIC.read_text().replace('version: "1"', 'version: "2"'))
    base = ["--db", str(workspace.db)]
    refused = runner.invoke(app, ["rescore", "--rubric", str(outside), *base], env={"PARLEY_RUBRICS": str(folder), "COLUMNS": "300"})
    assert refused.exit_code == 2 and "is not in the rubrics folder" in refused.output
    shutil.copy(outside, folder / "contact_centre.yaml")  # what the refusal says to do
    done = runner.invoke(app, ["rescore", "--rubric", str(folder / "contact_centre.yaml"), *base], env={"PARLEY_RUBRICS": str(folder), "COLUMNS": "300"})
    assert done.exit_code == 0, done.output
    assert "version 2 (the current version" in done.output
    processor = Processor(workspace)  # a new run reads the folder: version 2
    assert processor.process(drop(workspace, DATA / "jfk.flac", "second.flac")).status == "done"
    store = Store(workspace.db)
    assert store.query(CURRENT_RUBRICS).rows == [("contact_centre", "2")]
    assert store.query("SELECT r.source_name, s.rubric_version FROM scorecards s JOIN recordings r ON r.id = s.recording_id ORDER BY 1, 2").rows == [
        ("first.wav", "1"), ("first.wav", "2"), ("second.flac", "2")]
