"""Soak (opt-in, minutes): 500 files dropped at once into a watched inbox; see ``bench/soak.py``.

Exact duplicates, empty, truncated, non-audio and 2-hour files, bad sidecars, odd, unicode and
backslash names, same names in sub-folders: every good file is processed exactly once, every bad
one quarantined with its reason, nothing lost; ``parley sql`` keeps answering all along.
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import soak  # noqa: E402


@pytest.mark.slow
def test_500_files_at_once_each_good_one_once_each_bad_one_quarantined_nothing_lost(tmp_path):
    report = soak.run_soak(tmp_path, n_files=500, workers=1, timeout_s=3600)
    print(json.dumps(report, ensure_ascii=False))
    assert report["problems"] == []
    assert report["reader_failed"] == 0 and report["reader_queries"] >= 10
    assert report["reader_max_s"] < 60  # the store's lock timeout: no reader ever gave up


def test_a_small_soak_inbox_is_what_it_claims_to_be(tmp_path):
    """The builder itself (fast): distinct good contents, real duplicates, each bad kind present."""
    exp = soak.build_inbox(tmp_path / "inbox", n_files=120, seed=1)
    on_disk = [p for p in (tmp_path / "inbox").rglob("*") if p.is_file() and not p.name.endswith(".json")]
    assert len(on_disk) == exp.total == 120
    assert len(set(exp.good.values())) < len(exp.good)  # exact duplicates are in
    assert set(exp.bad.values()) == set(soak.REASONS)
    assert any("\\" in r for r in exp.good) and any("\n" in r for r in list(exp.good) + list(exp.bad))
    assert any(len(Path(r).name.encode()) > 245 for r in exp.bad)
    assert {soak.sha256(tmp_path / "inbox" / r) for r in exp.good} == set(exp.good.values())
