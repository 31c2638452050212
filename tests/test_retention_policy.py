"""The retention policy file: periods, rules, longer reasons, and mistakes named by file and line."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.governance.policy import Period, load_policy
from pipeline.settings import Settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "retention.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_periods_are_calendar_lengths():
    assert Period(1, "y").due(date(2024, 2, 29)) == date(2025, 2, 28)
    assert Period(1, "m").due(date(2026, 1, 31)) == date(2026, 2, 28)
    assert Period(18, "m").due(date(2026, 11, 30)) == date(2028, 5, 30)
    assert Period(2, "w").due(date(2026, 12, 25)) == date(2027, 1, 8)
    assert Period(90, "d").due(date(2026, 1, 1)) == date(2026, 4, 1)
    assert Period(None).due(date(2026, 1, 1)) is None


def test_the_shipped_policy_by_channel_team_and_what_was_found():
    policy = load_policy(Settings().retention_policy)
    def kept(rec, reasons=()):
        why, periods = policy.periods(rec, set(reasons))
        return why, {part: str(p) for part, p in periods.items()}

    assert kept({"channel": "phone"}) == ("default", {"audio": "1y", "transcript": "2y", "record": "2y"})
    assert kept({"channel": "face-to-face"}) == ("face-to-face", {"audio": "90d", "transcript": "1y", "record": "1y"})
    assert kept({"channel": "face-to-face"}, ["complaint"]) == ("face-to-face + complaint", {"audio": "6y", "transcript": "6y", "record": "6y"})
    assert kept({"team": "collections"}, ["complaint", "failed_rule"])[1]["record"] == "6y"  # the longer of the two
    assert policy.failed_categories == ("compliance",)


def test_longer_never_shortens_and_nothing_outlives_its_record(tmp_path):
    policy = load_policy(write(tmp_path, """
        default: {record: 3y, audio: 10y}
        longer:
          complaint: {record: 1y, audio: forever}
    """))
    why, periods = policy.periods({}, {"complaint"})
    assert (why, str(periods["record"]), str(periods["audio"])) == ("default", "3y", "3y")


@pytest.mark.parametrize(("text", "line", "words"), [
    ("default: {record: 3 years}\n", 1, "not a length of time"),
    ("default: {audio: 1y}\n", 1, "no 'record' period"),
    ("default: {record: 1y}\nrules:\n  - name: x\n    when: {colour: red}\n    record: 1y\n", 4, "unknown key"),
    ("default: {record: 1y}\nrules:\n  - name: x\n    record: 1y\n", 3, "has no 'when'"),
    ("default: {record: 1y}\nlonger:\n  complaints: {record: 2y}\n", 3, "unknown key"),
    ("default: {record: 1y\n", 2, "not valid YAML"),
])
def test_mistakes_name_the_file_and_line(tmp_path, text, line, words):
    path = tmp_path / "retention.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    assert f"{path}:{line}" in str(caught.value) and words in str(caught.value) and "Fix:" in str(caught.value)


def test_a_missing_policy_says_where_to_put_one(tmp_path):
    with pytest.raises(ConfigError, match="no retention policy at .*PARLEY_RETENTION_POLICY"):
        load_policy(tmp_path / "none.yaml")
