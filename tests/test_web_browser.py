"""End to end in headless Chromium (Debian's, driven by Playwright) over real processed recordings.

Three real recordings (two scripted sample calls and ``stereo_diarization.wav``) go through
``Processor.process`` into a fresh database; recordings the analysis stages left unscored get
stand-in rows (``seed_analysis``). Then a compliance user logs in, opens a staff scorecard and an
interaction, clicks an utterance and sees the audio seek, searches a phrase, runs a named query
and exports it as CSV; a team lead is refused another team's interaction. Every page is saved as
a screenshot under ``$PARLEY_ARTIFACTS`` (default ``tests/artifacts/web/``; ``web-gw0/`` and so on
for each worker of ``make test``).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from pipeline.process import Processor
from pipeline.settings import Settings
from pipeline.web import add_user, create_app
from pipeline.web.seed import seed_analysis

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
# one folder per pytest-xdist worker, so two workers never write one screenshot at once
ARTIFACTS = Path(os.environ.get("PARLEY_ARTIFACTS") or ROOT / "tests" / "artifacts") / "-".join(filter(None, ["web", os.environ.get("PYTEST_XDIST_WORKER")]))
PASSWORD = "correct horse battery"
RECORDINGS = [
    ROOT / "data/samples/20261102T091500_S1042_billing_leeds_phone_inbound.wav",
    ROOT / "data/samples/order-enquiry.mp3",
    ROOT / "tests/data/stereo_diarization.wav",
]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, store): the app on a free loopback port over freshly processed recordings."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed: apt-get install -y chromium")
    import uvicorn

    root = tmp_path_factory.mktemp("webe2e")
    settings = Settings(db=root / "parley.duckdb", inbox=root / "inbox", archive=root / "archive", quarantine=root / "quarantine", stable_s=0, beam_size=1)
    settings.inbox.mkdir()
    for source in RECORDINGS:
        for path in (source, source.with_suffix(".json")):
            if path.exists():
                shutil.copy2(path, settings.inbox / path.name)
    processor = Processor(settings)
    for source in RECORDINGS:
        assert processor.process(settings.inbox / source.name).status == "done"
    seed_analysis(processor.store)
    add_user(settings.db, "carol", PASSWORD, "compliance")
    add_user(settings.db, "lee", PASSWORD, "team_lead", "billing")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", processor.store
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(browser, base: str, user: str):
    page = browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page.goto(base + "/")
    assert "/login" in page.url
    shot(page, f"login-{user}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    return page


def player_time(page) -> float:
    return page.evaluate("document.getElementById('player').currentTime")


def test_compliance_user_walks_through_every_page(server, browser):
    base, store = server
    billing_id = store.query("SELECT id FROM recordings WHERE team = 'billing'").rows[0][0]
    page = log_in(browser, base, "carol")
    assert page.inner_text("#kpi-interactions") == "3"
    assert page.locator("svg.chart").count() == 4
    shot(page, "overview")

    page.click("text=Staff scorecards")
    assert page.locator("#staff-table tbody tr").count() == 2  # S1042 and S1077 (the third has no staff id)
    shot(page, "staff-scorecards")
    page.click("#staff-table >> text=S1042")
    page.wait_for_url(re.compile(r"/staff/S1042$"))
    assert page.locator("#interactions tbody tr").count() == 1
    shot(page, "staff-S1042")

    page.click("#interactions >> text=open")
    page.wait_for_url(base + f"/interaction/{billing_id}")
    page.wait_for_function("document.getElementById('player').readyState >= 1")
    start, idx = store.query(
        "SELECT start_s, idx FROM utterances WHERE recording_id = ? AND start_s > 10 ORDER BY idx LIMIT 1", [billing_id]
    ).rows[0]
    assert player_time(page) == 0
    page.click(f"#u{idx}")
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {start}) < 1.5", timeout=10000)
    assert start - 0.05 <= player_time(page) <= start + 1.5
    shot(page, "interaction")

    page.click("text=Consistency")
    assert page.locator("table.consistency").count() >= 3
    shot(page, "consistency")

    words = store.query("SELECT idx, start_s, text FROM utterances WHERE recording_id = ? AND role = 'customer' ORDER BY length(text) DESC LIMIT 1", [billing_id]).rows[0]
    phrase = " ".join(re.findall(r"[A-Za-z]{4,}", words[2])[:2])
    page.click("text=Search")
    page.fill("input[name=q]", phrase)
    page.click("button:has-text('Search')")
    page.wait_for_selector("#results")
    link = page.locator(f"#results a[href='/interaction/{billing_id}#u{words[0]}']")
    assert link.count() == 1
    assert page.locator("#results mark").count() >= 2
    shot(page, "search")
    link.click()
    page.wait_for_url(re.compile(rf"#u{words[0]}$"))
    assert page.locator(".u.target").get_attribute("id") == f"u{words[0]}"
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {words[1]}) < 0.5", timeout=10000)

    page.click("header >> text=SQL")
    page.click(".queries >> text=recent_recordings")
    page.wait_for_selector("#sql-result")
    assert page.locator("#sql-result tbody tr").count() == 3
    shot(page, "sql")
    with page.expect_download() as got:
        page.click("#export")
    target = ARTIFACTS / "recent_recordings.csv"
    got.value.save_as(str(target))
    with target.open(newline="") as f:
        table = list(csv.reader(f))
    assert table[0][:3] == ["id", "source_name", "staff_id"] and len(table) == 4
    assert {r[1] for r in table[1:]} == {p.name for p in RECORDINGS}
    page.close()


def test_team_lead_sees_only_their_team_in_the_browser(server, browser):
    base, store = server
    other = store.query("SELECT id FROM recordings WHERE team = 'service'").rows[0][0]
    page = log_in(browser, base, "lee")
    assert page.inner_text("#kpi-interactions") == "1"
    assert page.locator("header >> text=SQL").count() == 0
    response = page.goto(base + f"/interaction/{other}")
    assert response.status == 404
    shot(page, "team-lead-refused")
    assert page.goto(base + f"/audio/{other}").status == 404
    page.close()


def test_complaints_register_and_its_interaction_in_the_browser(server, browser):
    """The billing sample (a customer charged twice) is the one complaint among the three real
    recordings; the register links to its interaction, where each badge appears once per utterance."""
    base, store = server
    billing_id = store.query("SELECT id FROM recordings WHERE team = 'billing'").rows[0][0]
    words = store.query(
        """SELECT string_agg(u.text, ' / ' ORDER BY u.idx) FROM tags t, unnest(t.evidence) AS e(i)
           JOIN utterances u ON u.recording_id = t.recording_id AND u.idx = e.i
           WHERE t.recording_id = ? AND t.kind = 'complaint' AND t.utterance_index IS NULL AND t.label = 'yes'""", [billing_id]).rows[0][0]
    page = log_in(browser, base, "carol")
    page.click("header >> text=Complaints")
    page.wait_for_url(base + "/complaints")
    rows = page.locator("#complaints-table tbody tr")
    assert rows.count() == 1 and rows.first.get_attribute("data-recording") == billing_id
    assert rows.first.locator("td.words").inner_text() == words
    shot(page, "complaints")
    rows.first.locator("text=open").click()
    page.wait_for_url(base + f"/interaction/{billing_id}")
    badges = page.evaluate("[...document.querySelectorAll('.u')].map(u => [...u.querySelectorAll('.badge')].map(b => b.textContent))")
    assert any("complaint: yes" in b for b in badges)
    assert all(len(b) == len(set(b)) for b in badges)  # the utterance's own tag and the interaction's evidence: one badge
    page.close()
    lead = log_in(browser, base, "lee")
    lead.goto(base + "/complaints")
    assert lead.locator("#complaints-table tbody tr").count() == 1  # billing is lee's team
    lead.close()
