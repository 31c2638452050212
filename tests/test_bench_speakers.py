"""bench/speakers.py --compare: two runs' rows set by set, with the counts gained and lost that a
total of counts right can hide (round 43: 392 -> 381 at 8 kHz was 2 gained and 13 lost)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import speakers as bench_speakers  # noqa: E402


def row(set_name: str, name: str, n_ref: int, n_hyp: int, reason: str, scored: float = 10.0, missed: float = 1.0) -> dict:
    return {"set": set_name, "name": name, "part": "held out", "n_ref": n_ref, "n_hyp": n_hyp, "count_reason": reason,
            "count_doubted": False, "cpu_s": 1.0, "scored_s": scored, "missed_s": missed, "false_alarm_s": 0.0,
            "confusion_s": 0.0, "missed_overlap_s": 0.0, "missed_voiced_s": 0.0, "der": missed / scored}


def test_compare_counts_what_was_gained_and_lost_recording_by_recording(tmp_path, capsys) -> None:
    before = [row("short8", "a", 3, 3, "3 by the eigengap"),                      # right -> wrong
              row("short8", "b", 3, 2, "2 by the eigengap"),                      # wrong -> right
              row("short8", "c", 2, 2, "2 by the eigengap", missed=3.0),          # right both times
              row("short8", "f", 3, 3, "2 by the eigengap; 3 with a speaker split in two"),  # right -> wrong
              row("short8", "gone", 3, 1, "1 by the eigengap"),                   # not in the second run
              row("pair8", "d", 2, 3, "3 with a speaker split in two")]           # wrong both times
    after = [row("pair8", "d", 2, 4, "4 by the eigengap"),
             row("short8", "c", 2, 2, "2 by the eigengap", missed=2.0),
             row("short8", "b", 3, 3, "2 by the eigengap; 3 with a voice like none of them"),
             row("short8", "a", 3, 2, "2 by the eigengap"),
             row("short8", "f", 3, 2, "2 by the eigengap"),
             row("new8", "e", 2, 2, "2 by the eigengap")]                         # not in the first run

    sets, changed = bench_speakers.compare(before, after)

    assert [s["set"] for s in sets] == ["short8", "pair8"]  # the first run's order; sets in both only
    short = sets[0]
    assert (short["n"], short["right_before"], short["right_after"], short["gained"], short["lost"]) == (4, 3, 2, 1, 2)
    assert abs(short["der_before"] - 6.0 / 40) < 1e-9 and abs(short["der_after"] - 5.0 / 40) < 1e-9
    assert (sets[1]["gained"], sets[1]["lost"], sets[1]["right_before"], sets[1]["right_after"]) == (0, 0, 0, 0)
    # a count wrong both times (3 -> 4 for 2 people) is not a change of right or wrong
    assert [(c["name"], c["before"], c["after"]) for c in changed] == [("a", 3, 2), ("b", 2, 3), ("f", 3, 2)]
    assert changed[1]["reason_after"].endswith("a voice like none of them")

    first, second = tmp_path / "before.json", tmp_path / "after.json"
    first.write_text(json.dumps({"settings": {}, "summary": {}, "rows": before}))
    second.write_text(json.dumps({"settings": {"segmentation_step_s": 7.5}, "summary": {}, "rows": after}))
    bench_speakers.print_comparison(first, second)
    out = capsys.readouterr().out
    assert "short8         DER 0.1500 -> 0.1250  count right 3 -> 2 of 4 (1 gained, 2 lost)" in out
    assert "all            count right 3 -> 2 of 5 (1 gained, 2 lost)" in out
    assert "short8 a: 3 people, counted 3 -> 2" in out and "new8" not in out and "gone" not in out


def test_compare_names_a_file_that_is_not_a_json_run_and_the_fix(tmp_path) -> None:
    good, summary_only = tmp_path / "run.json", tmp_path / "summary.json"
    good.write_text(json.dumps({"rows": [row("short8", "a", 3, 3, "3 by the eigengap")]}))
    summary_only.write_text(json.dumps({"settings": {}, "summary": {}}))  # the line printed at the end, not --json's file
    for bad in (summary_only, tmp_path / "missing.json"):
        with pytest.raises(SystemExit) as stop:
            bench_speakers.print_comparison(good, bad)
        assert str(bad) in str(stop.value) and "--json" in str(stop.value) and "\n" not in str(stop.value)
