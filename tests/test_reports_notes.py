"""Reports that keep their word: per-staff rows and charts, undated calls, the rubric version."""

from __future__ import annotations

from datetime import datetime

import pytest
from test_reports import STAFF, store, template  # noqa: F401 - the 7 staff x 6 calls store

from pipeline.reports import render, report_scorecards


def test_scorecards_report_has_a_row_per_staff_member_and_charts(store, tmp_path):  # noqa: F811
    report = report_scorecards(store, None)
    summary = report.main
    assert list(report.tables)[0] == "summary"
    staff = summary.query("dimension == 'staff'")
    assert sorted(staff.group) == sorted(STAFF) and staff.iloc[0].group == "poor" and staff.iloc[0].outlier == "low"
    everyone = summary.query("dimension == 'all'")
    assert everyone.interactions.item() == staff.interactions.sum() == 42
    assert set(report.tables["criteria"].dimension) == {"staff", "all"}
    assert set(report.tables["trend"].group) == set(STAFF)
    page = render(report, tmp_path / "cards.html")[0].read_text()
    assert "Mean score by staff" in page and page.count("<svg") == 2  # the bars and the weekly lines
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert "rubric contact_centre version 1 (the version scored most recently)" in page


def test_calls_without_a_start_time_are_dated_by_receipt_and_those_left_out_are_counted(store):  # noqa: F811
    store.execute("UPDATE recordings SET started_at = NULL, received_at = ? WHERE id = 'ann-0'", [datetime(2026, 10, 20, 8)])
    store.execute("UPDATE recordings SET started_at = NULL, received_at = NULL WHERE id IN ('ann-1', 'ben-1')")
    store.execute("UPDATE recordings SET staff_id = NULL WHERE id = 'cal-5'")
    report = report_scorecards(store, "2026-10-12")
    cards = report.tables["scorecards"]
    ann0 = cards.query("recording_id == 'ann-0'")
    assert ann0.dated_by.item() == "received" and ann0.started_at.item() == datetime(2026, 10, 20, 8)
    assert not {"ann-1", "ben-1"} & set(cards.recording_id)
    notes = " | ".join(report.notes)
    assert "1 interaction(s) have no start time in their metadata and are dated by when the file was received" in notes
    assert "2 interaction(s) with no start or received time are left out" in notes
    assert "1 interaction(s) have no staff id" in notes
    everything = report_scorecards(store, None)  # no --since: nothing is left out for want of a date
    assert {"ann-1", "ben-1"} <= set(everything.tables["scorecards"].recording_id)
    assert not any("left out" in n for n in everything.notes)


def test_the_notes_name_the_other_stored_versions(store, tmp_path):  # noqa: F811
    from test_reports import RUBRIC

    from pipeline.scoring import rescore

    v2 = tmp_path / "v2.yaml"
    v2.write_text(RUBRIC.read_text().replace('version: "1"', 'version: "2"'))
    rescore(store, v2)
    assert report_scorecards(store, None).notes[0] == "rubric contact_centre version 2 (the version scored most recently); also stored: version 1 (--version)"
    assert report_scorecards(store, None, version="1").notes[0].startswith("rubric contact_centre version 1 (as asked); also stored: version 2")
    with pytest.raises(Exception, match="no scorecards for rubric 'nope'"):
        report_scorecards(store, None, rubric="nope")
