import json

import duckdb
from typer.testing import CliRunner

from conftest import DATA, drop
from pipeline.cli import app

runner = CliRunner()


def _folders(ws):
    return ["--db", str(ws.db), "--inbox", str(ws.inbox), "--archive", str(ws.archive), "--quarantine", str(ws.quarantine)]


def test_process_prints_a_summary_and_sql_reads_the_result(workspace):
    drop(workspace, DATA / "stereo_diarization.wav", "call.wav")
    (workspace.inbox / "junk.wav").write_bytes(b"")
    result = runner.invoke(app, ["process", "--local", *_folders(workspace)])
    assert result.exit_code == 0, result.output
    assert "this run: 1 done, 1 quarantined" in result.output
    assert "junk.wav: the file is empty" in result.output
    assert "Parley database" in result.output

    csv_out = runner.invoke(app, ["sql", "SELECT idx, role, text FROM utterances ORDER BY idx", "--format", "csv", "--db", str(workspace.db)])
    assert csv_out.exit_code == 0
    lines = csv_out.output.strip().splitlines()
    assert lines[0] == "idx,role,text"
    assert [line.split(",")[1] for line in lines[1:]] == ["staff", "customer"]

    json_out = runner.invoke(app, ["sql", "SELECT source_name, channels FROM recordings", "-f", "json", "--db", str(workspace.db)])
    assert json.loads(json_out.output.strip()) == {"source_name": "call.wav", "channels": 2}


def test_second_process_run_does_nothing(workspace):
    drop(workspace, DATA / "stereo_diarization.wav")
    runner.invoke(app, ["process", "--local", *_folders(workspace)])
    again = runner.invoke(app, ["process", "--local", *_folders(workspace)])
    assert again.exit_code == 0 and "nothing to process" in again.output


def test_sql_is_read_only(workspace):
    drop(workspace, DATA / "stereo_diarization.wav")
    runner.invoke(app, ["process", "--local", *_folders(workspace)])
    for statement in ["DELETE FROM recordings", "DROP TABLE words", "INSERT INTO errors (error_id) VALUES ('x')"]:
        result = runner.invoke(app, ["sql", statement, "--db", str(workspace.db)])
        assert result.exit_code == 2 and "read-only" in result.output
    assert duckdb.connect(str(workspace.db), read_only=True).execute("SELECT count(*) FROM recordings").fetchone() == (1,)


def test_sql_named_query_and_parquet_export(workspace, tmp_path):
    (workspace.inbox / "junk.wav").write_text("x")
    runner.invoke(app, ["process", "--local", *_folders(workspace)])
    out = tmp_path / "q.parquet"
    result = runner.invoke(app, ["sql", "--query", "quarantined", "-f", "parquet", "-o", str(out), "--db", str(workspace.db)])
    assert result.exit_code == 0, result.output
    rows = duckdb.sql(f"SELECT source_name, stage FROM '{out}'").fetchall()
    assert rows == [("junk.wav", "decode")]
    unknown = runner.invoke(app, ["sql", "--query", "nope", "--db", str(workspace.db)])
    assert unknown.exit_code == 2 and "no named query 'nope'" in unknown.output


def test_sql_without_a_database_says_how_to_make_one(tmp_path):
    result = runner.invoke(app, ["sql", "SELECT 1", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "there is no database" in result.output and "parley process" in result.output


def test_seed_samples_fills_an_empty_inbox_once(workspace, tmp_path):
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "call.wav").write_bytes((DATA / "stereo_diarization.wav").read_bytes())
    (samples / "call.json").write_text('{"team": "sales"}')
    (samples / "README.md").write_text("not a recording")
    env = {"PARLEY_SAMPLES": str(samples)}
    first = runner.invoke(app, ["process", "--local", "--seed-samples", *_folders(workspace)], env=env)
    assert "seeded the inbox with 1 sample recordings" in first.output
    second = runner.invoke(app, ["process", "--local", "--seed-samples", *_folders(workspace)], env=env)
    assert "seeded" not in second.output and "nothing to process" in second.output


def test_unknown_model_lists_what_is_available(workspace):
    drop(workspace, DATA / "stereo_diarization.wav")
    result = runner.invoke(app, ["process", "--local", *_folders(workspace)], env={"PARLEY_WHISPER_MODEL": "no-such-model"})
    assert result.exit_code == 2
    assert "unknown model 'no-such-model'" in result.output and "tiny.en" in result.output
    assert (workspace.inbox / "stereo_diarization.wav").exists()  # the recording is not blamed
    assert not workspace.quarantine.exists()
