"""Reports and named queries on a small store: outliers, filters, files, terminal table."""

from __future__ import annotations

import io
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from rich.console import Console
from test_scoring import RUBRIC, RULES, insert, make_store, store_interaction

from pipeline.errors import ConfigError
from pipeline.queries import NAMED_QUERIES, run_query
from pipeline.records import Finding, Tag
from pipeline.reports import render, report_command, report_consistency, report_scorecards
from pipeline.scoring import rescore

STAFF = {"ann": "north", "ben": "north", "cal": "north", "dee": "south", "eve": "south", "fay": "south", "poor": "south"}
QUALITY = ("empathy_apology", "resolution_confirmed", "further_help_offered", "proper_closing")
MONDAY = datetime(2026, 10, 5, 9, 0)
CALLS_EACH = 6


def failed_rules(staff: str, call: int) -> set[str]:
    """The poor staff member skips identity checks and all courtesy; others miss one now and then."""
    if staff == "poor":
        return {"identity_verification", *QUALITY}
    return {QUALITY[(call + ord(staff[0])) % 4]} if (call + ord(staff[0])) % (2 + ord(staff[0]) % 3) == 0 else set()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A store of 7 staff x 6 scored calls, built once; each test gets its own copy."""
    path = tmp_path_factory.mktemp("store") / "store.duckdb"
    con = make_store(path)
    recordings = []
    for s, (staff, team) in enumerate(STAFF.items()):
        for call in range(CALLS_EACH):
            rec = f"{staff}-{call}"
            started = MONDAY + timedelta(days=3 * call, hours=s)
            recordings.append({"id": rec, "source_name": f"{rec}.wav", "staff_id": staff, "team": team,
                               "site": "leeds" if team == "north" else "cork", "channel": "phone" if call % 2 else "video",
                               "customer_ref": f"c{s}{call}", "started_at": started, "duration_s": 120.0})
            fails = failed_rules(staff, call)
            findings = [Finding(r, r not in fails, 0, 0.0, 3.0, None, None, {"category": "compliance"}) for r in RULES]
            tags = [Tag("touchpoint", "billing" if call < 3 else "cards", 0.9),
                    Tag("complaint", "yes" if (staff == "poor" and call < 4) else "no", 0.8),
                    Tag("sentiment_trajectory", "worsening" if staff == "poor" else "improving", 0.7, role="customer")]
            dynamics = [{"scope": "staff", "talk_ratio": 0.5}, {"scope": "all", "talk_ratio": 1.0, "longest_silence_s": 5.0}]
            store_interaction(con, rec, findings, tags, dynamics)
    insert(con, "recordings", recordings)
    rescore(con, RUBRIC)
    con.close()
    return path


@pytest.fixture
def store(template, tmp_path):
    shutil.copy(template, tmp_path / "store.duckdb")
    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    yield con
    con.close()


def test_consistency_ranks_the_poor_staff_member_as_an_outlier(store):
    report = report_consistency(store)
    staff = report.tables["summary"].query("dimension == 'staff'")
    first = staff.iloc[0]
    assert (first.group, first["rank"], first.outlier) == ("poor", 1, "low")
    # Every call: 100 - identity (40/3) - four courtesy criteria (4 x 8) - worsening sentiment (8).
    assert first.mean_score == pytest.approx(100 - 40 / 3 - 40, abs=0.01)
    assert (first.interactions, first["std"], first.iqr, first.pass_rate) == (CALLS_EACH, 0.0, 0.0, 0.0)
    assert first.complaint_rate == pytest.approx(4 / 6, abs=1e-4) and first.sentiment_worsening == 1.0
    assert first.robust_z < -3.5
    assert list(staff.outlier[1:]) == [""] * (len(STAFF) - 1)
    assert set(report.tables["summary"].dimension) == {"staff", "team", "site", "channel", "touchpoint"}
    # Only two teams: too few groups to call one an outlier.
    assert report.tables["summary"].query("dimension == 'team'").outlier.tolist() == ["", ""]


def test_consistency_pass_rates_and_weekly_trend(store):
    report = report_consistency(store, by=("staff",))
    crit = report.tables["criteria"].set_index(["group", "criterion"]).pass_rate
    assert crit["poor", "empathy"] == 0.0 and crit["poor", "recording_disclosure"] == 1.0
    assert crit["ann", "identity_verified"] == 1.0
    trend = report.tables["trend"].query("group == 'poor'")
    # Calls every 3 days from Monday 5 Oct: weeks of 5, 12 and 19 Oct.
    assert [str(w.date()) for w in trend.week] == ["2026-10-05", "2026-10-12", "2026-10-19"]
    assert trend.interactions.tolist() == [3, 2, 1]
    assert report.tables["summary"].query("group == 'poor'").trend_per_week.item() == 0.0


def test_scorecards_report_filters_by_date_team_and_staff(store):
    report = report_scorecards(store, "2026-10-12", team="south")
    cards = report.tables["scorecards"]
    assert len(cards) == 4 * 3  # four south staff; calls 3..5 start on 14, 17 and 20 Oct, call 2 on 11 Oct is out
    assert cards.started_at.min() >= datetime(2026, 10, 12)
    only = report_scorecards(store, None, staff="poor")
    assert len(only.tables["scorecards"]) == CALLS_EACH
    assert set(only.tables["scorecards"].failed_criteria) == {"closing, customer_sentiment, empathy, further_help, identity_verified, resolution_confirmed"}
    assert only.tables["summary"].query("dimension == 'staff'").pass_rate.item() == 0.0


def test_render_csv_parquet_html(store, tmp_path):
    report = report_consistency(store, by=("staff", "team"))
    written = render(report, tmp_path / "out" / "consistency.parquet")
    assert [p.name for p in written] == ["consistency.parquet", "consistency.criteria.parquet", "consistency.trend.parquet"]
    back = duckdb.sql(f"SELECT \"group\", outlier FROM '{written[0]}' WHERE dimension = 'staff' LIMIT 1").fetchall()
    assert back == [("poor", "low")]
    csv = render(report.main, tmp_path / "summary.csv")[0]
    assert csv.read_text().splitlines()[0].startswith("dimension,group,rank,interactions,mean_score")
    page = render(report, tmp_path / "consistency.html")[0].read_text()
    assert page.count("<svg") == 4  # a bar chart and a weekly trend per dimension
    assert "<script" not in page and "src=" not in page and "href=" not in page
    assert 'fill="#c0392b"><title>poor (n=6)' in page  # the outlier bar is drawn red
    with pytest.raises(ConfigError, match="xlsx"):
        render(report, tmp_path / "x.xlsx")


def test_report_command_prints_a_terminal_table(store, tmp_path):
    console = Console(file=io.StringIO(), width=200, record=True)
    report_command(store, "consistency", by=("staff",), out=tmp_path / "c.csv", console=console)
    text = console.export_text()
    assert "Scorecard consistency" in text and "poor" in text and "wrote" in text
    with pytest.raises(ConfigError, match="'scorecards', 'consistency' or 'complaints'"):
        report_command(store, "weekly", console=console)


def test_reports_use_the_current_rubric_version_unless_told(store, tmp_path):
    v2 = tmp_path / "v2.yaml"
    v2.write_text(RUBRIC.read_text().replace('version: "1"', 'version: "2"').replace("weight: 40\n    criteria:\n      - id: empathy", "weight: 40\n    criteria:\n      - id: empathy\n        weight: 3"))
    rescore(store, v2)
    assert report_consistency(store, by=("staff",)).subtitle == "rubric contact_centre version 2, all time"
    old = report_consistency(store, by=("staff",), version="1").main
    assert old.query("group == 'poor'").mean_score.item() == pytest.approx(100 - 40 / 3 - 40, abs=0.01)


def test_named_queries_run_and_find_the_right_interactions(store):
    now = datetime.now().replace(microsecond=0)
    insert(store, "recordings", [{"id": "v-new", "staff_id": "ann", "started_at": now - timedelta(days=3)},
                                 {"id": "v-old", "staff_id": "ann", "started_at": now - timedelta(days=60)}])
    for rec in ("v-new", "v-old"):
        cue = Finding("vulnerable_bereavement", False, 2, 8.5, 12.0, "passed away", None, {"category": "vulnerability"})
        miss = Finding("call_recording_disclosure", False, 0, 0.0, 4.0, None, None, {"category": "compliance"})
        store_interaction(store, rec, [cue, miss], [Tag("complaint_topic", "fees", 0.7)], [])
    insert(store, "utterances", [{"recording_id": "v-new", "run_id": "run-1", "idx": 0, "role": "staff", "start_s": 0.0, "end_s": 4.0, "text": "Hello, Acme Bank."},
                                 {"recording_id": "v-new", "run_id": "run-1", "idx": 1, "role": "unknown", "start_s": 4.0, "end_s": 6.0, "text": "Hi."}])
    def transferred(rec: str, started_at, method: str, flagged: bool, reason: str, turns) -> None:
        """A transferred call's recording, role_assignment row (speakers.transferred_roles' or
        stereo_transfer's) and utterances ((speaker, role, start, end) each)."""
        insert(store, "recordings", [{"id": rec, "staff_id": "ann", "started_at": started_at}])
        insert(store, "role_assignment", [{"recording_id": rec, "run_id": "run-1", "method": method, "staff_speakers": ["S1", "S3"],
                                           "flagged": flagged, "n_speakers": 3, "reason": reason}])
        insert(store, "utterances", [{"recording_id": rec, "run_id": "run-1", "idx": i, "speaker": who, "role": role, "start_s": a,
                                      "end_s": b, "text": "..."} for i, (who, role, a, b) in enumerate(turns)])

    # a call transferred to a colleague at 40 s
    transferred("v-moved", now - timedelta(days=1), "content", False, "transferred to a colleague at 39.6 s (a transfer line at 30 s ...): ...",
                [("S1", "staff", 0.0, 5.0), ("S2", "customer", 6.0, 10.0), ("S1", "staff", 30.0, 33.0),
                 ("S3", "staff", 40.0, 49.0), ("S2", "customer", 51.0, 53.0)])
    # a warm transfer at 20 s: the first staff member stays on to introduce the customer
    transferred("v-warm", now - timedelta(hours=2), "content", False,
                "transferred to a colleague at 20.0 s (a transfer line at 12 s ...): a warm transfer, the "
                "first staff member's voice staying on for 9 s after it: ...",
                [("S1", "staff", 0.0, 5.0), ("S2", "customer", 6.0, 10.0), ("S1", "staff", 20.0, 29.0), ("S3", "staff", 30.0, 40.0)])
    # a stereo call's colleague found by the voices alone at 45.56 s, which the reason gives as 45.6 s
    transferred("v-stereo", now - timedelta(hours=1), "channel", True,
                "transferred to a colleague at 45.6 s (found by the voices alone, ...): ...",
                [("S1", "staff", 0.0, 5.0), ("S2", "customer", 6.0, 10.0), ("S3", "staff", 45.56, 51.1), ("S1", "staff", 51.5, 55.4)])
    # a call that opens with the phone system's recorded welcome and 30 s of queue, whose staff member never disclosed
    insert(store, "recordings", [{"id": "v-welcome", "staff_id": "ann", "started_at": now - timedelta(hours=3), "channel": "phone"}])
    insert(store, "speaker_turns", [{"recording_id": "v-welcome", "run_id": "run-1", "idx": i, "speaker": who, "start_s": a, "end_s": b}
                                    for i, (who, a, b) in enumerate([("SYSTEM", 0.0, 38.2), ("S1", 39.0, 42.0), ("S2", 42.5, 45.0)])])
    insert(store, "utterances", [{"recording_id": "v-welcome", "run_id": "run-1", "idx": i, "speaker": who, "role": role, "start_s": a,
                                  "end_s": b, "text": text} for i, (who, role, a, b, text) in enumerate([
                                      ("SYSTEM", "unknown", 0.2, 6.0, "Thank you for calling. Calls are recorded. Please hold."),
                                      ("S1", "staff", 39.0, 42.0, "Good morning, Acme Bank."), ("S2", "customer", 42.5, 45.0, "Hi there.")])])
    store_interaction(store, "v-welcome", [Finding("call_recording_disclosure", True, 0, 0.2, 6.0, "calls are recorded", None,
                                                   {"category": "compliance", "by": "recorded welcome"})], [], [])
    results = {name: run_query(store, name) for name in NAMED_QUERIES}
    welcomed = results["recorded_welcomes"]
    assert welcomed[["recording_id", "person_from_s", "disclosed", "by_welcome_alone"]].values.tolist() == [["v-welcome", 38.2, True, True]]
    assert welcomed.welcome.tolist() == ["Thank you for calling. Calls are recorded. Please hold."]
    assert "v-welcome" not in results["calls_without_disclosure"].recording_id.tolist()
    moved = results["transfers"][["recording_id", "transferred_at_s", "warm", "staff_before", "staff_after", "staff_talk_before_s",
                                  "staff_talk_after_s", "n_speakers", "flagged"]]
    assert moved.values.tolist() == [["v-moved", 39.6, False, "S1", "S3", 8.0, 9.0, 3, False],
                                     ["v-warm", 20.0, True, "S1", "S1, S3", 5.0, 19.0, 3, False],
                                     ["v-stereo", 45.6, False, "S1", "S1, S3", 5.0, 9.4, 3, True]]
    assert results["vulnerable_customers_30d"].recording_id.tolist() == ["v-new"]
    assert results["vulnerable_customers_30d"].evidence.tolist() == [["passed away"]]
    missing = results["calls_without_disclosure"].set_index("recording_id")
    assert sorted(missing.index) == ["v-new", "v-old"]
    assert missing.loc["v-new", "expected_at_text"] == "Hello, Acme Bank." and missing.loc["v-new", "end_s"] == 4.0
    assert results["complaints_by_topic"].values.tolist()[0][:2] == ["fees", 2]
    assert results["flagged_roles"][["recording_id", "unknown_role_utterances", "utterances"]].values.tolist() == [["v-new", 1, 2],
                                                                                                                 ["v-stereo", 0, 4]]
    low = results["low_scores"]
    assert set(low.staff_id) == {"poor"} and len(low) == CALLS_EACH
    by_staff = results["failed_rules_by_staff"]
    assert (by_staff.iloc[0].staff_id, by_staff.iloc[0].fail_rate) == ("poor", 1.0)
    assert results["prohibited_promises"].empty
    with pytest.raises(ConfigError, match="calls_without_disclosure"):
        run_query(store, "no_such_query")


def test_voices_at_once_lists_where_two_speakers_turns_overlap(store):
    # A mono call: the customer (S2) cut in over the staff member (S1) from 8.5 s to 10 s, and the
    # transcript has only the staff member's words there; the turns at 13-15 s touch but do not overlap.
    insert(store, "recordings", [{"id": "cut-in", "staff_id": "ann", "channel": "phone"}])
    insert(store, "speaker_turns", [
        {"recording_id": "cut-in", "idx": i, "speaker": who, "start_s": a, "end_s": b}
        for i, (who, a, b) in enumerate([("S1", 0.0, 10.0), ("S2", 8.5, 12.0), ("S1", 13.0, 14.0), ("S2", 14.0, 15.0)])])
    insert(store, "utterances", [
        {"recording_id": "cut-in", "idx": 0, "speaker": "S1", "role": "staff", "start_s": 0.5, "end_s": 9.8,
         "text": "so the paperwork goes out first"},
        {"recording_id": "cut-in", "idx": 1, "speaker": "S2", "role": "customer", "start_s": 10.1, "end_s": 11.9, "text": "upgrade"}])
    found = run_query(store, "voices_at_once")
    found = found[found.recording_id == "cut-in"]
    assert found[["start_s", "end_s", "seconds"]].values.tolist() == [[8.5, 10.0, 1.5]]
    assert found.speakers.tolist() == ["S1 (staff) and S2 (customer)"]
    assert found.transcript_there.tolist() == ["staff: so the paperwork goes out first"]


def test_the_interaction_page_marks_where_two_voices_were_heard_at_once(store):
    from pipeline.web.data import interaction

    insert(store, "recordings", [{"id": "cut-in-page", "staff_id": "ann", "channel": "phone"}])
    insert(store, "speaker_turns", [
        {"recording_id": "cut-in-page", "idx": i, "speaker": who, "start_s": a, "end_s": b}
        for i, (who, a, b) in enumerate([("S1", 0.0, 10.0), ("S2", 8.5, 12.0), ("S1", 13.0, 14.0)])])
    insert(store, "utterances", [
        {"recording_id": "cut-in-page", "idx": 0, "speaker": "S1", "role": "staff", "start_s": 0.5, "end_s": 7.9, "text": "so the paperwork"},
        {"recording_id": "cut-in-page", "idx": 1, "speaker": "S2", "role": "customer", "start_s": 10.1, "end_s": 11.9, "text": "upgrade"},
        {"recording_id": "cut-in-page", "idx": 2, "speaker": "S1", "role": "staff", "start_s": 13.0, "end_s": 14.0, "text": "I see"}])
    marks = interaction(store, None, "cut-in-page")["marks"]
    # no utterance lies in 8.5-10 s (the words there were lost): the nearest one carries the mark
    assert marks == {1: [{"kind": "voices", "cls": "voices", "text": "two voices at once 8.5-10.0 s: words may be missing"}]}


def test_scorecards_report_names_the_lines_whose_speaker_is_in_doubt(store):
    import json

    criteria = [c for (c,) in store.execute("SELECT criterion FROM scorecard_lines WHERE recording_id = 'ben-2' ORDER BY criterion").fetchall()]
    assert len(criteria) >= 3
    # as scoring._judge stores rules._evaluate's notes in a line's evidence
    store.execute("UPDATE scorecard_lines SET evidence = ? WHERE recording_id = 'ben-2' AND criterion = ?",
                  [json.dumps({"utterance_index": 4, "role_unsure": [4]}), criteria[0]])
    store.execute("UPDATE scorecard_lines SET evidence = ? WHERE recording_id = 'ben-2' AND criterion = ?",
                  [json.dumps({"utterance_index": None, "other_side_unsure": {"utterance_index": 5, "matched": "recorded"}}), criteria[2]])
    report = report_scorecards(store, None, team="north")
    cards = report.tables["scorecards"].set_index("recording_id")
    assert cards.loc["ben-2", "in_doubt"] == f"{criteria[0]}, {criteria[2]}"
    assert (cards.drop(index="ben-2").in_doubt == "").all()
    assert any(n.startswith("2 scorecard line(s) in 1 interaction(s) rest on words whose speaker is in doubt") for n in report.notes)
    assert not any("in doubt" in n for n in report_scorecards(store, None, team="south").notes)


def test_scorecards_report_and_flagged_roles_name_the_interactions_whose_roles_a_person_should_check(store):
    from pipeline.roles import RoleResult

    why = "the voices did not clearly sound like 2 people (count confidence 0.35); S1 is staff by content"
    rows = [RoleResult("content", ["S1"], confidence=0.62, flagged=True, reason=why, n_speakers=2).row() | {"recording_id": "ben-3"},
            RoleResult("content", ["S2"], confidence=0.97, reason="S2 is staff by content", n_speakers=2).row() | {"recording_id": "ben-4"},
            RoleResult("none", flagged=True, reason="no content cue tells the roles apart", n_speakers=1).row() | {"recording_id": "ann-1"}]
    insert(store, "role_assignment", rows)
    north = report_scorecards(store, None, team="north")
    cards = north.tables["scorecards"].set_index("recording_id")
    flagged_north = set(cards.index[cards.roles_flagged])
    assert "ben-3" in flagged_north and "ben-4" not in flagged_north
    assert flagged_north == {r["recording_id"] for r in rows if r["flagged"]} & set(cards.index)
    assert any(n.startswith(f"{len(flagged_north)} interaction(s) have staff/customer roles flagged") for n in north.notes)
    south = report_scorecards(store, None, team="south")
    assert not south.tables["scorecards"].roles_flagged.any() and not any("roles flagged" in n for n in south.notes)

    listed = run_query(store, "flagged_roles").set_index("recording_id")
    assert set(listed.index) == {"ben-3", "ann-1"}  # the unflagged assignment (ben-4) is not there
    assert listed.loc["ben-3", "reason"] == why and listed.loc["ben-3", "role_confidence"] == 0.62
    assert listed.loc["ben-3", "scorecards"] >= 1 and listed.loc["ben-3", "scores"][0].startswith("contact_centre ")
    assert listed.loc["ann-1", "method"] == "none" and listed.index[0] == "ann-1"  # the least sure first


def test_recorder_sides_counts_two_channel_recordings_not_one_person_per_channel(store):
    import json

    rows = [("ok-1", "stereo", 0), ("ok-2", "stereo", 0), ("one-1", "one-sided-0", None), ("one-2", "one-sided-1", None),
            ("dual-1", "dual-mono", None), ("leak-1", "stereo", 57), ("leak-2", "stereo", 3)]
    insert(store, "recordings", [{"id": rid, "source_name": f"{rid}.wav", "site": "leeds", "team": "north", "channel": "phone",
                                  "channels": 2, "layout": layout, "run_id": f"run-{rid}"} for rid, layout, _ in rows]
           + [{"id": "mono-1", "source_name": "mono-1.wav", "site": "leeds", "team": "north", "channel": "phone", "channels": 1,
               "layout": "mono", "run_id": "run-mono-1"}])
    insert(store, "runs", [{"run_id": f"run-{rid}", "recording_id": rid, "status": "done",
                            "decoding": json.dumps({"windows": 3} | ({"echo_dropped": n} if n is not None else {}))}
                           for rid, _, n in rows])
    found = run_query(store, "recorder_sides")
    leeds = found[(found.site == "leeds") & (found.team == "north")].iloc[0]
    assert (leeds.two_channel_recordings, leeds.one_sided, leeds.dual_mono, leeds.leaking, leeds.leak_words_dropped) == (7, 2, 1, 2, 60)
    assert sorted(leeds.examples) == ["dual-1.wav", "leak-1.wav", "leak-2.wav", "one-1.wav", "one-2.wav"]
    assert found.index[found.site.eq("leeds") & found.team.eq("north")][0] == found.index[0]  # the site with problems first
