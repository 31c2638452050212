"""The web app's five weaknesses found by probing `parley serve` (issue 17), each as a test.

Login throttling, audio audit whatever the Range header, sessions ended by a password change,
the SQL page's resource limits, and bounded audit rows / safe exports / Secure cookies / headers
on error pages. Same synthetic database as tests/test_web_security.py (jfk.flac as the audio).
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline.settings import Settings
from pipeline.web import Accounts, accounts_path, add_user, create_app
from pipeline.web.seed import synthetic_db

DATA = Path(__file__).resolve().parent / "data"
PASSWORD = "correct horse battery"
HTML = {"accept": "text/html"}
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy")


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hardening")
    audio = shutil.copy(DATA / "jfk.flac", root / "jfk.flac")
    store = synthetic_db(root / "parley.duckdb", 12, archive_file=audio, seed=5)
    for name, role, team in (("admin1", "admin", None), ("comp1", "compliance", None), ("comp2", "compliance", None), ("lead1", "team_lead", "billing")):
        add_user(store.path, name, PASSWORD, role, team)
    return store.path


def app_for(db: Path, **settings):
    return create_app(Settings(db=db, **settings))


def form_token(client: TestClient) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)


def attempt(client: TestClient, username: str, password: str):
    return client.post("/login", data={"username": username, "password": password, "csrf": form_token(client), "next": "/"})


def login(app, username: str, password: str = PASSWORD, address: str = "testclient") -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False, client=(address, 50000))
    done = attempt(client, username, password)
    assert done.status_code == 303 and done.headers["location"] == "/", done.headers.get("location")
    page = client.get("/", headers=HTML)
    return client, re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def audit(db: Path, action: str | None = None) -> list[tuple]:
    rows = Accounts(accounts_path(db)).audit_rows(1000)
    return [r for r in rows if action is None or r[3] == action]


def message(client: TestClient, response) -> str:
    assert response.status_code == 303
    return client.get(response.headers["location"], headers=HTML).text


# -- 6. login throttling -----------------------------------------------------------------------
def test_wrong_passwords_for_a_user_slow_down_then_lock_and_say_so(db):
    app = app_for(db, web_login_slow_after=3, web_login_lock_after=5, web_login_lock_s=600)
    clock = app.state.throttle  # the throttle's clock is the only thing the test moves
    now = [1_000_000.0]
    clock.clock = lambda: now[0]
    client = TestClient(app, follow_redirects=False)
    for _ in range(3):
        assert "Wrong user name or password" in message(client, attempt(client, "comp2", "wrong"))
    slowed = attempt(client, "comp2", PASSWORD)  # the right password, too soon: not even checked
    assert "wait 2 seconds" in message(client, slowed) and "parley_session" not in client.cookies
    now[0] += 2.5
    assert "Wrong user name or password" in message(client, attempt(client, "comp2", "wrong"))  # 4th
    assert "wait 4 seconds" in message(client, attempt(client, "comp2", "wrong"))
    now[0] += 4.5
    attempt(client, "comp2", "wrong")  # 5th: locked
    locked = message(client, attempt(client, "comp2", PASSWORD))
    assert "locked for 10 minutes" in locked
    other = TestClient(app, follow_redirects=False, client=("10.9.9.9", 1))  # another address: the user stays locked
    assert "locked" in message(other, attempt(other, "comp2", PASSWORD))
    now[0] += 601
    assert attempt(client, "comp2", PASSWORD).headers["location"] == "/"  # the lock has run out
    actions = [r[3] for r in audit(db) if r[4] == "comp2"]
    assert actions.count("login_failed") == 5 and "login_locked" in actions and "login_throttled" in actions


def test_wrong_passwords_from_one_address_lock_that_address(db):
    app = app_for(db, web_login_slow_after=100, web_login_lock_after=4, web_login_lock_s=300)
    attacker = TestClient(app, follow_redirects=False, client=("10.6.6.6", 1))
    for name in ("alice", "bob", "carol", "dave"):  # a different user name each time
        attempt(attacker, name, "guess")
    assert "locked for 5 minutes" in message(attacker, attempt(attacker, "admin1", PASSWORD))
    login(app, "admin1", address="10.1.1.1")  # everyone else logs in as usual
    assert any(r[3] == "login_locked" and r[6] == "10.6.6.6" for r in audit(db))


# -- 7. audio audit ------------------------------------------------------------------------------
def test_audio_downloads_are_audited_once_whatever_the_range(db):
    app = app_for(db)
    client, _ = login(app, "admin1")
    rids = [r[0] for r in __import__("pipeline.store", fromlist=["Store"]).Store(db).query("SELECT id FROM recordings ORDER BY id LIMIT 5").rows]
    whole = (DATA / "jfk.flac").read_bytes()
    for rid, rng in zip(rids, ("bytes=00-", "bytes=0000-", "bytes=1-", "bytes=100-199", None)):
        headers = {"range": rng} if rng else {}
        got = client.get(f"/audio/{rid}", headers=headers)
        assert got.status_code in (200, 206) and got.content in (whole, whole[1:], whole[100:200])
        for again in ("bytes=0-", "bytes=5000-", None):  # the player seeking: no new row
            client.get(f"/audio/{rid}", headers={"range": again} if again else {})
        rows = [r for r in audit(db, "audio") if r[1] == "admin1" and r[4] == f"interaction:{rid}"]
        assert len(rows) == 1, (rng, rows)


# -- 8. sessions and users -----------------------------------------------------------------------
def test_a_password_reset_ends_every_session_and_a_change_ends_the_others(db):
    app = app_for(db)
    first, _ = login(app, "lead1")
    second, csrf = login(app, "lead1")
    add_user(db, "lead1", PASSWORD + "!", "team_lead", "billing")  # `parley users add` on an existing user: a reset
    assert first.get("/", headers=HTML).status_code == 303 and second.get("/", headers=HTML).status_code == 303
    mine, csrf = login(app, "lead1", PASSWORD + "!")
    theirs, _ = login(app, "lead1", PASSWORD + "!")
    wrong = mine.post("/account/password", data={"csrf": csrf, "current": "not it", "new": "a new long password", "confirm": "a new long password"}, headers=HTML)
    assert wrong.status_code == 400 and theirs.get("/", headers=HTML).status_code == 200
    done = mine.post("/account/password", data={"csrf": csrf, "current": PASSWORD + "!", "new": "a new long password", "confirm": "a new long password"}, headers=HTML)
    assert done.status_code == 200 and "other sessions were ended" in done.text
    assert mine.get("/", headers=HTML).status_code == 200  # this session goes on
    assert theirs.get("/", headers=HTML).status_code == 303  # the others are over
    assert any(r[3] == "password_changed" and r[1] == "lead1" for r in audit(db))
    add_user(db, "lead1", PASSWORD, "team_lead", "billing")


def test_users_can_be_listed_disabled_enabled_and_removed(db, tmp_path):
    import typer
    from typer.testing import CliRunner

    from pipeline.web.cli import register

    cli = typer.Typer()
    register(cli)
    run = lambda *a, code=0: (lambda r: (r.exit_code == code or pytest.fail(r.output)) and " ".join(r.output.split()))(CliRunner().invoke(cli, [*a, "--db", str(db)]))  # noqa: E731
    app = app_for(db)
    add_user(db, "temp1", PASSWORD, "team_lead", "sales")
    client, _ = login(app, "temp1")
    listed = run("users", "list")
    assert "temp1" in listed and "team_lead" in listed and "sales" in listed
    assert "disabled temp1: 1 session(s) ended" in run("users", "disable", "temp1")
    assert client.get("/", headers=HTML).status_code == 303
    assert "Wrong user name or password" in message(client, attempt(client, "temp1", PASSWORD))
    run("users", "enable", "temp1")
    login(app, "temp1")
    assert "removed temp1" in run("users", "remove", "temp1", "--yes")
    assert "temp1" not in run("users", "list")
    run("users", "remove", "temp1", "--yes", code=2)
    assert {"user_disabled", "user_enabled", "user_removed"} <= {r[3] for r in audit(db) if r[4] == "temp1"}


# -- 9. the SQL page's limits ------------------------------------------------------------------
def test_sql_results_are_capped_by_size_not_only_rows(db):
    app = app_for(db, web_sql_max_bytes=200_000)
    client, csrf = login(app, "comp1")
    page = client.post("/sql", data={"csrf": csrf, "sql": "SELECT range AS n, repeat('x', 50000) AS big FROM range(100)"}, headers=HTML)
    assert page.status_code == 200 and len(page.content) < 400_000
    assert "cut off at 200 kB" in page.text
    export = client.post("/sql/export.csv", data={"csrf": csrf, "sql": "SELECT repeat('y', 50000) AS big FROM range(100)", "name": ""})
    assert export.status_code == 200 and len(export.content) < 400_000


def test_sql_queries_run_with_a_memory_limit_and_one_thread(db):
    app = app_for(db, web_sql_memory="300MB", web_sql_threads=1)
    client, csrf = login(app, "comp1")
    page = client.post("/sql", data={"csrf": csrf, "sql": "SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t"}, headers=HTML)
    cells = re.findall(r"<td>([^<]*)</td>", page.text)
    assert cells[1] == "1" and cells[0].endswith("MiB") and float(cells[0].split()[0]) <= 300
    hog = client.post("/sql", data={"csrf": csrf, "sql": "SELECT sum(length(l)) FROM (SELECT list(repeat('x', 1000)) AS l FROM range(2000000) GROUP BY range % 2)"}, headers=HTML)
    assert hog.status_code == 400 and "memory" in hog.text.lower()


SLOW = "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3"


def test_a_user_runs_at_most_two_queries_at_once_and_login_stays_fast(db):
    app = app_for(db, web_sql_timeout_s=6, web_sql_per_user=2, web_sql_total=3)
    client, csrf = login(app, "comp1")
    results: list[int] = []
    runs = [threading.Thread(target=lambda: results.append(client.post("/sql", data={"csrf": csrf, "sql": SLOW}, headers=HTML).status_code)) for _ in range(2)]
    for t in runs:
        t.start()
    time.sleep(1.0)
    third = client.post("/sql", data={"csrf": csrf, "sql": "SELECT 1 AS one"}, headers=HTML)
    assert third.status_code == 429 and "2 SQL queries running" in third.text
    started = time.monotonic()
    other, other_csrf = login(app, "comp2")  # the login page and a full argon2 login, while both run
    took = time.monotonic() - started
    assert other.post("/sql", data={"csrf": other_csrf, "sql": "SELECT 1 AS one"}, headers=HTML).status_code == 200
    assert any(t.is_alive() for t in runs) and took < 4, took
    for t in runs:
        t.join()
    assert results == [400, 400]  # both stopped at the time limit
    assert client.post("/sql", data={"csrf": csrf, "sql": "SELECT 1 AS one"}, headers=HTML).status_code == 200


# -- 10. audit size, export names, CSV cells, Secure cookies, error pages ------------------------
def test_anonymous_audit_rows_are_bounded(db):
    app = app_for(db, web_login_lock_after=1000, web_login_slow_after=1000)
    client = TestClient(app, follow_redirects=False, client=("10.5.5.5", 1))
    attempt(client, "A" * 500_000, "x")
    row = next(r for r in audit(db, "login_failed") if r[6] == "10.5.5.5")
    assert len(row[4]) <= 200 and sum(len(v or "") for v in row if isinstance(v, str)) < 1000
    assert accounts_path(db).stat().st_size < 2_000_000


def test_export_names_are_sanitised_and_formula_cells_neutralised(db):
    app = app_for(db)
    client, csrf = login(app, "comp1")
    sql = "SELECT '=HYPERLINK(\"http://evil\")' AS a, '+1+2' AS b, '-3' AS c, '@SUM(A1)' AS d, 'fine' AS e, -4 AS n"
    done = client.post("/sql/export.csv", data={"csrf": csrf, "sql": sql, "name": 'x"; filename=../../evil.sh\r\nX-Injected: 1'})
    assert done.status_code == 200 and "x-injected" not in done.headers
    name = re.search(r'filename="([^"]*)"', done.headers["content-disposition"]).group(1)
    assert re.fullmatch(r"[A-Za-z0-9._-]+\.csv", name) and ".." not in name
    import csv
    import io

    assert list(csv.reader(io.StringIO(done.text)))[1] == ["'=HYPERLINK(\"http://evil\")", "'+1+2", "'-3", "'@SUM(A1)", "fine", "-4"]


def test_a_setting_marks_cookies_secure_behind_tls(db):
    plain = TestClient(app_for(db), follow_redirects=False)
    assert "secure" not in plain.get("/login").headers["set-cookie"].lower()
    app = app_for(db, web_secure_cookie=True)
    client = TestClient(app, base_url="https://testserver", follow_redirects=False)
    assert "secure" in client.get("/login").headers["set-cookie"].lower()
    done = attempt(client, "admin1", PASSWORD)
    assert "secure" in done.headers["set-cookie"].lower()
    assert done.headers["strict-transport-security"].startswith("max-age=")


def test_error_pages_carry_the_security_headers(db, tmp_path):
    client, _ = login(app_for(db), "admin1")
    for res in (client.get("/no/such/page", headers=HTML), client.get("/interaction/" + "0" * 64, headers=HTML), client.post("/", headers=HTML)):
        assert res.status_code in (404, 405)
        for name in SECURITY_HEADERS:
            assert name in res.headers, (res.status_code, name)
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(b"this is not a DuckDB file " * 200)
    add_user(broken, "admin1", PASSWORD, "admin")
    app = app_for(broken)
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    attempt(client, "admin1", PASSWORD)
    failed = client.get("/", headers=HTML)
    assert failed.status_code == 500 and "Traceback" not in failed.text
    for name in (*SECURITY_HEADERS, "cache-control"):
        assert name in failed.headers, name
