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
