"""The whole local pipeline on real audio: what lands, what is quarantined, what is a duplicate."""

import os
import shutil

import pytest

from conftest import DATA, drop, truncated_mp3
from pipeline import ingest
from pipeline.process import Processor


@pytest.fixture
def batch(workspace, tmp_path):
    """A realistic inbox: two good calls, a re-drop under another name, and three bad files."""
    drop(workspace, DATA / "stereo_diarization.wav", "call-0001.wav")
    (workspace.inbox / "call-0001.json").write_text('{"staff_id": "S1042", "team": "billing", "channel": "phone"}')
    drop(workspace, DATA / "jfk.flac", "speech.flac")
    drop(workspace, DATA / "jfk.flac", "speech-again.flac")
    (workspace.inbox / "empty.wav").write_bytes(b"")
    (workspace.inbox / "notes.wav").write_text("not audio at all\n")
    shutil.copy(truncated_mp3(tmp_path), workspace.inbox / "cut-off.mp3")
    return workspace


def test_bad_files_are_quarantined_while_good_ones_land(batch):
    processor = Processor(batch)
    outcomes = {o.source_name: o for o in processor.process_many(ingest.list_inbox(batch.inbox))}  # overlapped
    pair = {name: outcomes.pop(name).status for name in ("speech.flac", "speech-again.flac")}
    assert sorted(pair.values()) == ["done", "duplicate"]  # same content: whichever came first is processed
    first = next(name for name, status in pair.items() if status == "done")
    assert {n: o.status for n, o in outcomes.items()} == {
        "call-0001.wav": "done",
        "empty.wav": "quarantined",
        "notes.wav": "quarantined",
        "cut-off.mp3": "quarantined",
    }
    store = processor.store
    assert store.query("SELECT source_name, staff_id, team, channel, layout FROM recordings ORDER BY source_name").rows == [
        ("call-0001.wav", "S1042", "billing", "phone", "stereo"),
        (first, None, None, None, "dual-mono"),
    ]
    errors = dict(store.query("SELECT source_name, message FROM errors").rows)
    assert errors["empty.wav"].startswith("empty.wav: the file is empty")
    assert errors["notes.wav"].startswith("notes.wav: not a readable audio file")
    assert errors["cut-off.mp3"].startswith("cut-off.mp3: the file is truncated")
    for name, message in errors.items():
        quarantined = batch.quarantine / name
        assert quarantined.exists()
        assert (batch.quarantine / f"{name}.error.txt").read_text().splitlines()[0] == message
    archived = sorted(p.name for p in batch.archive.rglob("*") if p.is_file())
    assert archived == sorted(["call-0001.wav", "call-0001.wav.json", first])
    assert ingest.list_inbox(batch.inbox) == []
    drops = dict(store.query("SELECT source_name, outcome FROM drops").rows)
    assert sorted(drops[n] for n in ("speech.flac", "speech-again.flac")) == ["duplicate", "processed"]
    assert store.query("SELECT count(*) FROM utterances WHERE recording_id = (SELECT id FROM recordings WHERE source_name='call-0001.wav')").rows == [(2,)]
    # a stereo call's speakers are its channels: no voices compared, no margin stored
    assert store.query("SELECT count(*), count(voice_margin), count(role_unsure) FROM utterances WHERE recording_id = "
                       "(SELECT id FROM recordings WHERE source_name='call-0001.wav')").rows == [(2, 0, 0)]
    words = store.query("SELECT count(*), min(start_s) >= 0, bool_and(end_s >= start_s) FROM words").rows[0]
    assert words[0] > 30 and words[1] and words[2]
    timings = store.query("SELECT timings FROM runs WHERE status = 'done'").rows
    assert len(timings) == 2 and all('"transcribe"' in t[0] for t in timings)


def test_a_yaml_sidecar_is_quarantined_with_a_fix_that_says_sidecars_are_json(workspace):
    # a team lead writes the metadata as YAML: the recording lands without it, and the YAML file
    # goes to quarantine saying what a sidecar is, not only that it is no recording
    drop(workspace, DATA / "jfk.flac", "desk-7.flac")
    (workspace.inbox / "desk-7.yaml").write_text("channel: face-to-face\nstaff_id: S7\n")
    processor = Processor(workspace)
    outcomes = {o.source_name: o.status for o in processor.process_many(ingest.list_inbox(workspace.inbox))}
    assert outcomes == {"desk-7.flac": "done", "desk-7.yaml": "quarantined"}
    message = dict(processor.store.query("SELECT source_name, message FROM errors").rows)["desk-7.yaml"]
    assert message.startswith("desk-7.yaml: '.yaml' is not a recording type Parley takes, and sidecars are JSON")
    assert "write the metadata as desk-7.json beside the recording" in message and "\n" not in message
    assert (workspace.quarantine / "desk-7.yaml").exists()
    assert processor.store.query("SELECT staff_id, channel FROM recordings").rows == [(None, None)]


def test_the_same_content_dropped_again_later_is_processed_once(workspace):
    processor = Processor(workspace)
    first = processor.process(drop(workspace, DATA / "stereo_diarization.wav", "a.wav"))
    second = processor.process(drop(workspace, DATA / "stereo_diarization.wav", "b.wav"))
    assert (first.status, second.status) == ("done", "duplicate")
    assert second.recording_id == first.recording_id
    assert processor.store.query("SELECT count(*) FROM recordings").rows == [(1,)]
    assert processor.store.query("SELECT count(*) FROM runs WHERE status='done'").rows == [(1,)]
    assert not (workspace.inbox / "b.wav").exists()


def test_reprocessing_in_place_replaces_rows(workspace):
    processor = Processor(workspace, move=False)
    path = drop(workspace, DATA / "stereo_diarization.wav")
    processor.process(path)
    processor.store.execute("UPDATE recordings SET status = 'stale'")  # force a second full run
    processor.process(path)
    assert processor.store.query("SELECT count(*) FROM utterances").rows == [(2,)]
    assert processor.store.query("SELECT count(DISTINCT run_id) FROM utterances").rows == [(1,)]
    assert path.exists()  # --copy: the original stays where it was


def test_a_crash_between_commit_and_archive_is_finished_on_the_next_run(workspace):
    processor = Processor(workspace)
    path = drop(workspace, DATA / "stereo_diarization.wav")
    outcome = processor.process(path)
    archived = outcome.path
    shutil.move(archived, path)  # as if the process died before moving the file
    again = processor.process(path)
    assert again.status == "done" and again.message == "archived after an interrupted run"
    assert os.path.exists(archived) and not path.exists()
    assert processor.store.query("SELECT count(*) FROM recordings").rows == [(1,)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_archive_keeps_the_file_in_the_inbox(workspace):
    workspace.archive.mkdir()
    workspace.archive.chmod(0o500)
    try:
        outcome = Processor(workspace).process(drop(workspace, DATA / "stereo_diarization.wav"))
    finally:
        workspace.archive.chmod(0o700)
    assert outcome.status == "retry"
    assert "could not be moved to the archive" in outcome.message
    assert (workspace.inbox / "stereo_diarization.wav").exists()


def test_archive_failure_keeps_the_file_in_the_inbox(workspace):
    workspace.archive.parent.mkdir(exist_ok=True)
    workspace.archive.write_text("a file where the archive folder should be")  # unwritable as a folder, even for root
    outcome = Processor(workspace).process(drop(workspace, DATA / "stereo_diarization.wav"))
    assert outcome.status == "retry"
    assert "could not be moved to the archive" in outcome.message and "Fix:" in outcome.message
    assert (workspace.inbox / "stereo_diarization.wav").exists()
    assert Processor(workspace).store.query("SELECT kind, stage FROM errors").rows[-1] == ("transient", "archive")


def test_a_configuration_error_mid_batch_hands_back_every_claimed_file(workspace, monkeypatch):
    """A set-up problem stops the batch: the file being transcribed and the one already read ahead
    both go back to the inbox, untouched, for the next run."""
    from pipeline import process
    from pipeline.errors import ConfigError

    for name in ("a.flac", "b.wav", "c.flac"):
        drop(workspace, DATA / ("jfk.flac" if name.endswith(".flac") else "stereo_diarization.wav"), name)
    (workspace.inbox / "c.flac").write_bytes((workspace.inbox / "c.flac").read_bytes() + b"\0")  # other content

    def broken(audio, options):
        raise ConfigError("the transcription model is missing", fix="reinstall it")

    monkeypatch.setattr(process, "transcribe_stage", broken)
    processor = Processor(workspace)
    with pytest.raises(ConfigError, match="model is missing"):
        processor.process_many(ingest.list_inbox(workspace.inbox))
    assert sorted(p.name for p in workspace.inbox.iterdir() if p.is_file()) == ["a.flac", "b.wav", "c.flac"]
    claims = workspace.inbox / ingest.CLAIMS_DIR
    assert not claims.exists() or not any(p.is_file() for p in claims.rglob("*"))
    assert not workspace.quarantine.exists() or not any(p.is_file() for p in workspace.quarantine.rglob("*"))  # nothing blamed on a file


def test_models_that_fail_to_load_stop_the_batch_as_a_setup_error(workspace, tmp_path):
    """The tagger loads in the background while the first file is transcribed. If it cannot load
    (here: an encoder folder with no model in it), that is the set-up's fault: the batch stops
    with a configuration error naming the folder, and every file goes back to the inbox."""
    from pipeline.errors import ConfigError

    empty = tmp_path / "empty-encoder"
    empty.mkdir()
    for name in ("a.flac", "b.wav"):
        drop(workspace, DATA / ("jfk.flac" if name.endswith(".flac") else "stereo_diarization.wav"), name)
    processor = Processor(workspace.model_copy(update={"encoder": str(empty)}))  # a directory: found at start-up, loaded later
    with pytest.raises(ConfigError, match="cannot load the tagging models") as info:
        processor.process_many(ingest.list_inbox(workspace.inbox))
    assert str(empty) in str(info.value) and "Fix:" in str(info.value)
    assert sorted(p.name for p in workspace.inbox.iterdir() if p.is_file()) == ["a.flac", "b.wav"]
    assert not workspace.quarantine.exists() or not any(p.is_file() for p in workspace.quarantine.rglob("*"))


def test_a_transcription_model_that_fails_to_load_stops_the_batch_as_a_setup_error(workspace, tmp_path):
    """Every transcription thread asks for the model; if it cannot load (here: a model folder
    with no model in it), no file is blamed: the batch stops and every file is back in the inbox."""
    from pipeline.errors import ConfigError

    empty = tmp_path / "empty-whisper"
    empty.mkdir()
    for name in ("a.flac", "b.wav", "c.wav"):
        drop(workspace, DATA / ("jfk.flac" if name.endswith(".flac") else "stereo_diarization.wav"), name)
    (workspace.inbox / "c.wav").write_bytes((workspace.inbox / "c.wav").read_bytes() + b"\0")  # other content
    processor = Processor(workspace.model_copy(update={"whisper_model": str(empty)}))
    with pytest.raises(ConfigError, match="cannot load the transcription model") as info:
        processor.process_many(ingest.list_inbox(workspace.inbox))
    assert "PARLEY_WHISPER_MODEL" in str(info.value)
    assert sorted(p.name for p in workspace.inbox.iterdir() if p.is_file()) == ["a.flac", "b.wav", "c.wav"]
    assert not workspace.quarantine.exists() or not any(p.is_file() for p in workspace.quarantine.rglob("*"))


def test_a_broken_taxonomy_fails_before_any_file_is_claimed(workspace, tmp_path):
    from pipeline.errors import ConfigError

    taxonomies = tmp_path / "taxonomies"
    shutil.copytree(workspace.taxonomies, taxonomies)
    (taxonomies / "touchpoints.yaml").write_text("kind: touchpoint\nlabels:\n  billing: [oops\n")
    drop(workspace, DATA / "jfk.flac", "a.flac")
    with pytest.raises(ConfigError, match=r"touchpoints.yaml: line \d+"):
        Processor(workspace.model_copy(update={"taxonomies": taxonomies}))
    assert [p.name for p in workspace.inbox.iterdir()] == ["a.flac"]


def test_a_copy_whose_content_another_live_worker_holds_waits_in_the_inbox(workspace):
    """Two workers that claim byte-identical copies at the same moment: the second sees the
    first's content lock, gives its copy back and skips it; once that worker is gone (here it
    dies; normally it finishes), the copy is processed (or recorded as a duplicate)."""
    import socket
    import subprocess
    import sys

    drop(workspace, DATA / "jfk.flac", "copy.flac")
    sha = ingest.sha256_file(workspace.inbox / "copy.flac")[0]
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        tag = f"{socket.gethostname()}__{holder.pid}__{ingest._started(holder.pid)}"
        assert ingest.lock_content(workspace.inbox, sha, owner=tag) is None
        outcome = Processor(workspace).process(workspace.inbox / "copy.flac")
        assert outcome.status == "skipped" and tag in outcome.message, outcome
        assert (workspace.inbox / "copy.flac").is_file() and not workspace.db.exists()
    finally:
        holder.kill()
        holder.wait()
    ingest.recover_claims(workspace.inbox)  # every poll: locks of dead processes are removed
    outcome = Processor(workspace).process(workspace.inbox / "copy.flac")
    assert outcome.status == "done", outcome
    assert list((workspace.inbox / ingest.CONTENT_DIR).iterdir()) == []  # released after the file
