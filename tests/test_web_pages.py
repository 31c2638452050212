"""What the pages show, checked against the database itself (synthetic: 800 interactions, 4 teams)."""

from __future__ import annotations

import re
import statistics

import pytest
from starlette.testclient import TestClient

from pipeline.settings import Settings
from pipeline.web import add_user, create_app
from pipeline.web.seed import synthetic_db

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    store = synthetic_db(tmp_path_factory.mktemp("webpages") / "parley.duckdb", 800, seed=3)
    add_user(store.path, "admin1", PASSWORD, "admin")
    client = TestClient(create_app(Settings(db=store.path)), headers={"accept": "text/html"})
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "admin1", "password": PASSWORD, "csrf": token, "next": "/"})
    return client, store


def kpi(html: str) -> int:
    return int(re.search(r'id="kpi-interactions">([\d,]+)<', html).group(1).replace(",", ""))


def test_overview_filters_count_what_the_database_holds(site):
    client, store = site
    assert kpi(client.get("/").text) == 800
    expected = store.query(
        "SELECT count(*) FROM recordings WHERE team = 'billing' AND channel = 'phone' AND started_at >= DATE '2026-09-01' AND started_at < DATE '2026-10-01'"
    ).rows[0][0]
    page = client.get("/", params={"team": "billing", "channel": "phone", "since": "2026-09-01", "until": "2026-09-30"}).text
    assert kpi(page) == expected > 0
    assert page.count('<svg class="chart"') == 4
    assert client.get("/", params={"since": "yesterday"}).status_code == 400


def test_staff_scorecards_match_the_stored_scorecards(site):
    client, store = site
    page = client.get("/staff").text
    row = re.search(r'<a href="/staff/S1005">S1005</a></td><td>(\w+)</td>\s*<td class="n">(\d+)</td><td class="n">([\d.]+)</td><td class="n">([\d.]+)</td>', page)
    scores = [r[0] for r in store.query("SELECT s.score FROM scorecards s JOIN recordings r ON r.id = s.recording_id WHERE r.staff_id = 'S1005'").rows]
    assert row.group(1) == "service" and int(row.group(2)) == len(scores)
    assert float(row.group(3)) == pytest.approx(statistics.mean(scores), abs=0.05)
    assert float(row.group(4)) == pytest.approx(statistics.stdev(scores), abs=0.05)
    assert page.count('<svg class="spark"') >= 20


def test_consistency_flags_the_staff_who_skip_steps(site):
    """The synthetic staff whose ids end in 7 leave out more of the script; they must stand out low."""
    client, _ = site
    page = client.get("/consistency").text
    staff = page.split('data-dimension="staff"')[1]
    low = set(re.findall(r'<tr class="outlier"><td><a href="/staff/(S\d+)">', staff))
    assert {"S1007", "S1017"} <= low
    assert all(s.endswith("7") for s in low)


def test_staff_page_compares_with_the_rest_of_the_team(site):
    client, store = site
    page = client.get("/staff/S1007").text
    mine, rest = (
        store.query(
            f"""SELECT avg(CASE WHEN l.status = 'pass' THEN 1.0 ELSE 0.0 END) FROM scorecard_lines l JOIN recordings r ON r.id = l.recording_id
                WHERE l.criterion = 'empathy' AND r.team = 'retention' AND r.staff_id {op} 'S1007'"""
        ).rows[0][0]
        for op in ("=", "<>")
    )
    cells = re.search(r"<td>empathy</td><td class=\"n\">(\d+)%</td><td class=\"n\">(\d+)%</td>", page)
    assert (int(cells.group(1)), int(cells.group(2))) == (round(100 * mine), round(100 * rest))


def test_complaints_register_page_lists_every_complaint_and_a_team_lead_only_theirs(site):
    client, store = site
    want = store.query(
        """SELECT r.id, r.team, date_diff('day', CAST(r.started_at AS DATE), current_date) FROM tags t JOIN recordings r ON r.id = t.recording_id
           WHERE t.kind = 'complaint' AND t.utterance_index IS NULL AND t.label = 'yes' ORDER BY r.started_at, r.id"""
    ).rows
    page = client.get("/complaints").text
    shown = re.findall(r'<tr class="open" data-recording="([0-9a-f]+)">', page)
    assert shown == [r[0] for r in want] and len(shown) > 100  # none resolved on the call: all open, oldest first
    ages = [int(a) for a in re.findall(r'<td class="n age">(\d+)</td>', page)]
    assert ages == [r[2] for r in want]
    assert "I think I have been charged twice this month" in page
    export = client.get("/complaints/export.csv")
    assert export.status_code == 200 and export.text.count("\n") == len(want) + 1
    assert client.get("/complaints", params={"since": "someday"}).status_code == 400
    later = client.get("/complaints", params={"since": "2026-10-01"}).text
    assert len(re.findall(r'data-recording="', later)) == sum(1 for r in store.query(
        "SELECT 1 FROM tags t JOIN recordings r ON r.id = t.recording_id WHERE t.kind = 'complaint' AND t.utterance_index IS NULL AND t.label = 'yes' AND r.started_at >= DATE '2026-10-01'").rows)

    add_user(store.path, "lead-retention", PASSWORD, "team_lead", "retention")
    lead = TestClient(client.app, headers={"accept": "text/html"})
    token = re.search(r'name="csrf" value="([^"]+)"', lead.get("/login").text).group(1)
    lead.post("/login", data={"username": "lead-retention", "password": PASSWORD, "csrf": token, "next": "/"})
    theirs = re.findall(r'data-recording="([0-9a-f]+)"', lead.get("/complaints").text)
    assert theirs == [r[0] for r in want if r[1] == "retention"] and theirs
    assert lead.get("/complaints/export.csv").text.count("\n") == len(theirs) + 1


def _utterance_divs(html: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(0) for m in re.finditer(r'<div class="u [^"]*" id="u(\d+)".*?</div>', html, re.S)}


def test_an_utterance_whose_voice_sounds_like_the_other_side_is_marked_role_unsure(site):
    client, store = site
    rid = store.query("SELECT id FROM recordings ORDER BY id LIMIT 1").rows[0][0]
    with store.connect() as con:  # as doubt_by_voice stores them: margin under 0, role confidence lowered to 0.5
        con.execute("UPDATE utterances SET voice_margin = 0.12, role_confidence = 0.9, role_unsure = false WHERE recording_id = ?", [rid])
        con.execute("UPDATE utterances SET voice_margin = -0.08, role_confidence = 0.5, role_unsure = true WHERE recording_id = ? AND idx = 2", [rid])
        # like another voice of the same role (a room's second customer): not doubted, its confidence kept
        con.execute("UPDATE utterances SET voice_margin = -0.05 WHERE recording_id = ? AND idx = 3", [rid])
    divs = _utterance_divs(client.get(f"/interaction/{rid}").text)
    assert len(divs) > 3
    marked = {i for i, div in divs.items() if "role unsure" in div}
    assert marked == {2}


def test_the_interaction_page_reads_a_database_written_before_voice_margins(tmp_path):
    store = synthetic_db(tmp_path / "old.duckdb", 3, seed=5)
    with store.connect() as con:
        con.execute("ALTER TABLE utterances DROP COLUMN voice_margin")
        con.execute("ALTER TABLE utterances DROP COLUMN role_unsure")
        for column in ("speaker_count_confidence", "speaker_count_reason", "vad", "overlap_s", "overlap_note"):  # 0010, 0012
            con.execute(f"ALTER TABLE role_assignment DROP COLUMN {column}")
    add_user(store.path, "admin1", PASSWORD, "admin")
    client = TestClient(create_app(Settings(db=store.path)), headers={"accept": "text/html"})
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "admin1", "password": PASSWORD, "csrf": token, "next": "/"})
    rid = store.query("SELECT id FROM recordings LIMIT 1").rows[0][0]
    page = client.get(f"/interaction/{rid}")
    assert page.status_code == 200 and len(_utterance_divs(page.text)) > 3 and "role unsure" not in page.text
    assert re.search(r"<dd id=\"speakers\">2</dd>", page.text)  # the count without its confidence (migration 0010)
    export = client.get(f"/interaction/{rid}/export.csv")
    assert export.status_code == 200 and export.text.splitlines()[0] == "idx,speaker,role,role_confidence,start_s,end_s,text"
    word = store.query("SELECT split_part(text, ' ', 1) FROM utterances WHERE recording_id = ? AND idx = 1", [rid]).rows[0][0]
    found = client.get("/search", params={"q": word})
    assert found.status_code == 200 and f"/interaction/{rid}#u1\"" in found.text and "role unsure" not in found.text


def test_a_finding_whose_evidence_is_in_doubt_says_so_on_the_interaction_page(site):
    import json as _json

    client, store = site
    rid = store.query("SELECT id FROM recordings ORDER BY id LIMIT 1 OFFSET 1").rows[0][0]
    rules = [r[0] for r in store.query("SELECT rule FROM findings WHERE recording_id = ? ORDER BY rule", [rid]).rows]
    assert len(rules) >= 2
    with store.connect() as con:  # as rules._evaluate writes them
        con.execute("UPDATE findings SET detail = ? WHERE recording_id = ? AND rule = ?", [_json.dumps({"role_unsure": [3]}), rid, rules[0]])
        con.execute("UPDATE findings SET detail = ? WHERE recording_id = ? AND rule = ?",
                    [_json.dumps({"missing": True, "other_side_unsure": {"utterance_index": 4, "matched": "recorded"}}), rid, rules[1]])
    html = client.get(f"/interaction/{rid}").text
    table = html[html.index('<table class="findings">'):]
    rows = {re.search(r"<td>([^<]+)</td>", r).group(1): r for r in table.split("<tr>")[2:]}
    assert "role unsure" in rows[rules[0]]
    assert "perhaps said in words given to the other side" in rows[rules[1]] and 'href="#u4"' in rows[rules[1]]
    assert not any("unsure" in r or "other side" in r for name, r in rows.items() if name not in rules[:2])
    with store.connect() as con:  # a scorecard line whose evidence is in doubt (scoring._judge copies the note)
        line = con.execute("SELECT rubric_id, criterion FROM scorecard_lines WHERE recording_id = ? ORDER BY criterion LIMIT 1", [rid]).fetchone()
        con.execute("UPDATE scorecard_lines SET evidence = ? WHERE recording_id = ? AND rubric_id = ? AND criterion = ?",
                    [_json.dumps({"utterance_index": 2, "role_unsure": [2]}), rid, *line])
    html = client.get(f"/interaction/{rid}").text
    cards = html[:html.index('<table class="findings">')]
    assert cards.count("speaker unsure") == 1 and line[1].replace("_", " ") in cards.split("speaker unsure")[0][-300:]


def test_a_doubted_role_is_in_the_transcript_export_search_and_the_roles_in_doubt_query(site):
    import csv
    import io
    import json as _json

    from pipeline.queries import NAMED_QUERIES

    client, store = site
    rid = store.query("SELECT id FROM recordings ORDER BY id LIMIT 1 OFFSET 2").rows[0][0]
    texts = dict(store.query("SELECT idx, text FROM utterances WHERE recording_id = ? ORDER BY idx", [rid]).rows)
    doubted = next(i for i, t in texts.items() if i > 0 and len(t.split()) >= 3)
    with store.connect() as con:  # as doubt_by_voice and rules._evaluate store them
        con.execute("UPDATE utterances SET voice_margin = 0.2, role_confidence = 0.9, role_unsure = false WHERE recording_id = ?", [rid])
        con.execute("UPDATE utterances SET voice_margin = -0.07, role_confidence = 0.5, role_unsure = true WHERE recording_id = ? AND idx = ?", [rid, doubted])
        rule = con.execute("SELECT rule FROM findings WHERE recording_id = ? ORDER BY rule LIMIT 1", [rid]).fetchone()[0]
        con.execute("UPDATE findings SET detail = ? WHERE recording_id = ? AND rule = ?", [_json.dumps({"role_unsure": [doubted]}), rid, rule])

    exported = list(csv.DictReader(io.StringIO(client.get(f"/interaction/{rid}/export.csv").text)))
    assert len(exported) == len(texts)
    assert {int(r["idx"]) for r in exported if r["role_unsure"] == "True"} == {doubted}
    row = next(r for r in exported if int(r["idx"]) == doubted)
    assert float(row["voice_margin"]) == -0.07 and float(row["role_confidence"]) == 0.5

    staff, role = store.query("SELECT r.staff_id, u.role FROM recordings r JOIN utterances u ON u.recording_id = r.id "
                              "WHERE r.id = ? AND u.idx = ?", [rid, doubted]).rows[0]
    page = client.get("/search", params={"q": f'"{texts[doubted]}"', "staff": staff, "role": role}).text
    hits = re.findall(r'<tr><td>.*?</tr>', page.split('id="results"')[1], re.S)
    mine = [h for h in hits if f'/interaction/{rid}#u{doubted}"' in h]
    assert len(mine) == 1 and "role unsure" in mine[0]
    assert not any("role unsure" in h for h in hits if h not in mine)

    found = store.query(NAMED_QUERIES["roles_in_doubt"].sql)
    by_id = {r[0]: dict(zip(found.columns, r)) for r in found.rows}
    mine = by_id[rid]
    assert mine["unsure_utterances"] == 1 and mine["unsure_at"] == [doubted]
    assert 0 < mine["unsure_share"] < 1 and mine["findings_in_doubt"][0].startswith(rule + " (")
    assert found.rows[0][0] in {k for k, v in by_id.items() if v["findings_in_doubt"]}  # those with findings first


def test_the_staff_page_marks_interactions_whose_scorecard_rests_on_a_doubted_speaker(site):
    import json as _json

    client, store = site
    staff, rid = store.query("SELECT staff_id, id FROM recordings WHERE staff_id IS NOT NULL ORDER BY id LIMIT 1 OFFSET 5").rows[0]
    criterion = store.query("SELECT criterion FROM scorecard_lines WHERE recording_id = ? ORDER BY criterion LIMIT 1", [rid]).rows[0][0]
    with store.connect() as con:  # as scoring._judge stores rules._evaluate's note
        con.execute("UPDATE scorecard_lines SET evidence = ? WHERE recording_id = ? AND criterion = ?",
                    [_json.dumps({"utterance_index": 1, "role_unsure": [1]}), rid, criterion])
    page = client.get(f"/staff/{staff}").text
    rows = re.findall(r"<tr><td>.*?</tr>", page.split('id="interactions"')[1], re.S)
    marked = {re.search(r'href="/interaction/([^"]+)"', r).group(1) for r in rows if "speaker unsure" in r}
    doubted = {i for (i,) in store.query(  # every line of this staff member's whose evidence says so, in the database
        "SELECT DISTINCT l.recording_id FROM scorecard_lines l JOIN recordings r ON r.id = l.recording_id WHERE r.staff_id = ? "
        "AND (json_exists(l.evidence, '$.role_unsure') OR json_exists(l.evidence, '$.other_side_unsure'))", [staff]).rows}
    assert len(rows) > 1 and rid in marked and marked == doubted and len(marked) < len(rows)


def test_roles_flagged_for_a_check_show_on_the_interaction_and_staff_pages(site):
    from pipeline.queries import run_query

    client, store = site
    staff, rid = store.query("SELECT staff_id, id FROM recordings WHERE staff_id IS NOT NULL ORDER BY id LIMIT 1 OFFSET 9").rows[0]
    why = "the voices did not clearly sound like 2 people (count confidence 0.35); S1 is staff by content (S1: spoke first, greeting)"
    count_why = "2 expected (two people, as in a call); the eigengap says 1 (confidence 0.65)"
    with store.connect() as con:  # as roles.speaker_rows writes a mono call's row
        con.execute("UPDATE role_assignment SET method = 'content', confidence = 0.62, flagged = true, reason = ?, "
                    "speaker_count_confidence = 0.35, speaker_count_reason = ? WHERE recording_id = ?", [why, count_why, rid])
    html = client.get(f"/interaction/{rid}").text
    roles = re.search(r'<dd id="roles">(.*?)</dd>', html, re.S).group(1)
    speakers = re.search(r'<dd id="speakers">(.*?)</dd>', html, re.S).group(1)
    assert "check the roles" in roles and "content: staff S1" in roles and "0.62" in roles and "did not clearly sound like 2 people" in roles
    assert speakers.startswith("2 (count confidence 0.35)") and "the eigengap says 1" in speakers
    other = store.query("SELECT id FROM recordings WHERE staff_id = ? AND id <> ? ORDER BY id LIMIT 1", [staff, rid]).rows[0][0]
    calm = re.search(r'<dd id="roles">(.*?)</dd>', client.get(f"/interaction/{other}").text, re.S).group(1)
    assert "check the roles" not in calm and calm.startswith("channel: staff S1")

    page = client.get(f"/staff/{staff}").text
    rows = re.findall(r"<tr><td>.*?</tr>", page.split('id="interactions"')[1], re.S)
    marked = {re.search(r'href="/interaction/([^"]+)"', r).group(1) for r in rows if "roles flagged" in r}
    flagged = {i for (i,) in store.query("SELECT a.recording_id FROM role_assignment a JOIN recordings r ON r.id = a.recording_id "
                                         "WHERE a.flagged AND r.staff_id = ?", [staff]).rows}
    assert marked == flagged == {rid} and len(rows) > 1
    with store.connect() as con:
        listed = run_query(con, "flagged_roles")
    assert rid in set(listed.recording_id) and listed.set_index("recording_id").loc[rid, "reason"] == why
