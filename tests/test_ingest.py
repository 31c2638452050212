import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from pipeline import ingest
from pipeline.errors import TerminalError
from pipeline.settings import DEFAULT_FILENAME_PATTERN


def test_listing_skips_sidecars_hidden_and_partial_files(tmp_path):
    for name in ["a.wav", "a.json", ".hidden.wav", "b.mp3.part", "c.flac", "sub/d.ogg", ".parley-claims/x/e.wav"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in ingest.list_inbox(tmp_path)) == ["a.wav", "c.flac", "sub/d.ogg"]


def test_a_file_is_ready_only_after_it_stops_growing(tmp_path):
    path = tmp_path / "call.wav"
    path.write_bytes(b"x" * 10)
    tracker = ingest.StabilityTracker(stable_s=0.3)
    assert tracker.ready([path]) == []  # just written
    time.sleep(0.2)
    with path.open("ab") as fh:
        fh.write(b"y" * 10)  # still growing
    assert tracker.ready([path]) == []
    time.sleep(0.35)
    assert tracker.ready([path]) == [path]


def test_claim_is_atomic_between_two_workers(tmp_path):
    path = tmp_path / "call.wav"
    path.write_bytes(b"x")
    (tmp_path / "call.json").write_text("{}")
    first = ingest.claim(path, owner="hostA__1")
    second = ingest.claim(path, owner="hostB__2")
    assert first is not None and second is None
    assert first.path.exists() and first.sidecar is not None and first.sidecar.exists()
    assert not path.exists()


def test_claims_of_a_dead_process_are_handed_back(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    path = tmp_path / "call.wav"
    path.write_bytes(b"x")
    drop = ingest.claim(path, owner=f"{os.uname().nodename}__{dead}")
    live = tmp_path / "live.wav"
    live.write_bytes(b"y")
    ingest.claim(live)  # this process: still alive, keeps its claim
    assert ingest.recover_claims(tmp_path) == [path]
    assert path.exists() and not drop.path.exists() and not live.exists()


def test_claims_in_inbox_subfolders_are_handed_back_too(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (tmp_path / "team-a").mkdir()
    path = tmp_path / "team-a" / "call.wav"
    path.write_bytes(b"x")
    ingest.claim(path, owner=f"{os.uname().nodename}__{dead}")
    assert not path.exists()
    assert ingest.recover_claims(tmp_path) == [path]
    assert path.exists()


def test_sidecar_metadata_wins_and_unknown_keys_are_kept(tmp_path):
    audio = tmp_path / "20261102T091500_S9_sales_york_phone_outbound.wav"
    audio.write_bytes(b"x")
    (tmp_path / (audio.stem + ".json")).write_text(
        json.dumps({"staff_id": "S1042", "team": "billing", "started_at": "2026-11-02T09:15:00Z", "queue": "vip", "n_speakers": 2})
    )
    drop = ingest.claim(audio, owner="h__1")
    meta, source = ingest.read_metadata(drop, DEFAULT_FILENAME_PATTERN)
    assert source == "sidecar"
    assert (meta.staff_id, meta.team, meta.site, meta.n_speakers) == ("S1042", "billing", None, 2)
    assert meta.started_at == datetime(2026, 11, 2, 9, 15, tzinfo=timezone.utc)
    assert meta.extra == {"queue": "vip"}


def test_metadata_from_the_file_name(tmp_path):
    audio = tmp_path / "20261102T091500_S1042_billing_leeds_phone_inbound.wav"
    audio.write_bytes(b"x")
    meta, source = ingest.read_metadata(ingest.claim(audio, owner="h__1"), DEFAULT_FILENAME_PATTERN)
    assert source == "filename"
    assert (meta.staff_id, meta.team, meta.site, meta.channel, meta.direction) == ("S1042", "billing", "leeds", "phone", "inbound")
    assert meta.started_at == datetime(2026, 11, 2, 9, 15, tzinfo=timezone.utc)


def test_no_metadata_is_allowed(tmp_path):
    audio = tmp_path / "call.wav"
    audio.write_bytes(b"x")
    meta, source = ingest.read_metadata(ingest.claim(audio, owner="h__1"), DEFAULT_FILENAME_PATTERN)
    assert source == "none" and meta.staff_id is None


def test_broken_sidecar_names_line_and_fix(tmp_path):
    audio = tmp_path / "call.wav"
    audio.write_bytes(b"x")
    (tmp_path / "call.json").write_text('{\n  "staff_id": "S1",\n  "team": billing\n}')
    with pytest.raises(TerminalError, match=r"call.wav: sidecar call.json is not valid JSON \(line 3, column 11"):
        ingest.read_metadata(ingest.claim(audio, owner="h__1"), DEFAULT_FILENAME_PATTERN)


def test_bad_start_time_names_the_format(tmp_path):
    audio = tmp_path / "call.wav"
    audio.write_bytes(b"x")
    (tmp_path / "call.json").write_text('{"started_at": "last tuesday"}')
    with pytest.raises(TerminalError, match="use ISO-8601"):
        ingest.read_metadata(ingest.claim(audio, owner="h__1"), DEFAULT_FILENAME_PATTERN)


def test_archive_path_is_by_date_and_never_overwrites_other_content(tmp_path):
    when = datetime(2026, 11, 23, tzinfo=timezone.utc)
    first = tmp_path / "in" / "call.wav"
    first.parent.mkdir()
    first.write_bytes(b"one")
    drop = ingest.claim(first, owner="h__1")
    drop.sha256 = ingest.sha256_file(drop.path)[0]
    target = ingest.archive_path(tmp_path / "archive", drop, when)
    assert target == tmp_path / "archive" / "2026" / "11" / "23" / "call.wav"
    ingest.move_to_archive(drop, target)
    second = tmp_path / "in" / "call.wav"
    second.write_bytes(b"two")
    drop2 = ingest.claim(second, owner="h__1")
    drop2.sha256 = ingest.sha256_file(drop2.path)[0]
    assert ingest.archive_path(tmp_path / "archive", drop2, when).name == f"call.{drop2.sha256[:12]}.wav"

