"""Web app access control, CSRF, the SQL guard and the audit trail (starlette TestClient, no browser).

The database is synthetic (``pipeline.web.seed.synthetic_db``: four teams, analysis rows of the
real tables' shape) with the real ``jfk.flac`` as every recording's archived audio.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from pipeline.queries import NAMED_QUERIES
from pipeline.settings import Settings
from pipeline.web import Accounts, accounts_path, add_user, create_app
from pipeline.web.seed import synthetic_db
from pipeline.web.sqlguard import RejectedQuery, check_select

DATA = Path(__file__).resolve().parent / "data"
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(app, store, ids by team, audio bytes): 40 synthetic interactions and four users."""
    root = tmp_path_factory.mktemp("web")
    audio = shutil.copy(DATA / "jfk.flac", root / "jfk.flac")
    store = synthetic_db(root / "parley.duckdb", 40, archive_file=audio, seed=7)
    for name, role, team in (("admin1", "admin", None), ("comp1", "compliance", None), ("lead1", "team_lead", "billing")):
        add_user(store.path, name, PASSWORD, role, team)
    ids: dict[str, list[str]] = {}
    for rid, team in store.query("SELECT id, team FROM recordings ORDER BY id").rows:
        ids.setdefault(team, []).append(rid)
    app = create_app(Settings(db=store.path))
    return app, store, ids, Path(audio).read_bytes()


def login(app, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:
    """A client logged in as ``username`` and its session's CSRF token."""
    client = TestClient(app, follow_redirects=False)
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    done = client.post("/login", data={"username": username, "password": password, "csrf": token, "next": "/"})
    assert done.status_code == 303 and done.headers["location"] == "/", done.text
    page = client.get("/", headers={"accept": "text/html"})
    return client, re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


@pytest.fixture(scope="module")
def compliance(site) -> tuple[TestClient, str]:
    """One logged-in compliance session shared by the SQL tests (argon2 is slow on purpose)."""
    return login(site[0], "comp1")


def api_routes(routes) -> list[APIRoute]:
    """Every APIRoute of the app, through included routers (FastAPI keeps them nested)."""
    out = []
    for r in routes:
        if isinstance(r, APIRoute):
            out.append(r)
        elif hasattr(r, "original_router"):
            out += api_routes(r.original_router.routes)
    return out


def concrete(path: str, rid: str) -> str:
    return path.replace("{recording_id}", rid).replace("{staff_id}", "S1000")


def test_anonymous_requests_are_redirected_or_refused_on_every_route(site):
    app, _, ids, _ = site
    rid = ids["billing"][0]
    client = TestClient(app, follow_redirects=False)
    routes = [(m, concrete(r.path, rid)) for r in api_routes(app.routes) if not r.path.startswith("/login") for m in r.methods]
    assert len(routes) >= 12  # every page, export, audio and POST below
    for method, path in routes:
        for accept in ("text/html", "*/*"):
            res = client.request(method, path, headers={"accept": accept})
            assert res.status_code in (303, 401), (method, path, res.status_code)
            if res.status_code == 303:
                assert res.headers["location"].startswith("/login"), path
            assert "charged" not in res.text and "Northfield" not in res.text
    assert client.get(f"/audio/{rid}", headers={"accept": "text/html"}).status_code == 401
    assert client.get("/static/app.css").status_code == 200  # the only open paths: static files and /login


def test_login_sets_a_strict_httponly_session_and_wrong_passwords_fail(site):
    app, store, _, _ = site
    client = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    bad = client.post("/login", data={"username": "comp1", "password": "wrong password", "csrf": token})
    assert bad.status_code == 303 and bad.headers["location"].startswith("/login?error=1")
    assert "parley_session" not in client.cookies
    forged = TestClient(app, follow_redirects=False).post("/login", data={"username": "comp1", "password": PASSWORD, "csrf": token})
    assert forged.status_code == 403  # no login cookie: the form's token alone is not enough
    ok = client.post("/login", data={"username": "comp1", "password": PASSWORD, "csrf": token})
    cookie = ok.headers["set-cookie"].lower()
    assert "parley_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    stored = Accounts(accounts_path(store.path)).audit_rows(50)
    assert any(r[3] == "login_failed" and r[4] == "comp1" for r in stored)
    assert PASSWORD not in accounts_path(store.path).read_bytes().decode("latin-1")


def test_team_lead_cannot_reach_another_teams_interaction_audio_or_export(site):
    app, _, ids, audio = site
    client, _ = login(app, "lead1")
    html = {"accept": "text/html"}
    mine, theirs = ids["billing"][0], ids["service"][0]
    assert client.get(f"/interaction/{mine}", headers=html).status_code == 200
    assert client.get(f"/interaction/{mine}/export.csv").status_code == 200
    part = client.get(f"/audio/{mine}", headers={"range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == audio[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(audio)}"
    for other in (theirs, ids["sales"][0], ids["retention"][-1], "0" * 64, "../../etc/passwd"):
        for path in (f"/interaction/{other}", f"/interaction/{other}/export.csv", f"/audio/{other}"):
            res = client.get(path, headers=html)
            assert res.status_code in (403, 404), (path, res.status_code)
            assert other[:12] not in res.text or other == "0" * 64
    other_staff = [s for s in ("S1001", "S1002", "S1003") if client.get(f"/staff/{s}").status_code == 200]
    assert other_staff == []  # S1001..S1003 are in service, sales and retention
    assert client.get("/sql", headers=html).status_code == 403
    assert client.get("/audit", headers=html).status_code == 403


def test_team_lead_pages_show_only_their_team(site):
    app, store, ids, _ = site
    client, _ = login(app, "lead1")
    overview = client.get("/", headers={"accept": "text/html"}).text
    assert re.search(r'id="kpi-interactions">(\d+)<', overview).group(1) == str(len(ids["billing"]))
    found = client.get("/search", params={"q": "charged twice"}).text
    linked = set(re.findall(r"/interaction/([0-9a-f]{64})", found))
    assert linked and linked <= set(ids["billing"])
    staff = client.get("/staff").text
    billing_staff = {r[0] for r in store.query("SELECT DISTINCT staff_id FROM recordings WHERE team = 'billing'").rows}
    assert set(re.findall(r'href="/staff/(S\d+)"', staff)) == billing_staff


def test_every_post_needs_the_session_csrf_token(site):
    app, _, _, _ = site
    client, csrf = login(app, "comp1")
    for path, form in (("/sql", {"sql": "SELECT 1"}), ("/sql/export.csv", {"sql": "SELECT 1"}), ("/logout", {})):
        assert client.post(path, data=form).status_code == 403, path
        assert client.post(path, data={**form, "csrf": "not-the-token"}).status_code == 403, path
    assert client.post("/sql", data={"sql": "SELECT 42 AS answer", "csrf": csrf}).status_code == 200
    other, _ = login(app, "admin1")
    assert other.post("/sql", data={"sql": "SELECT 1", "csrf": csrf}).status_code == 403  # another session's token


WRITES = [
    "INSERT INTO recordings (id) VALUES ('x')",
    "UPDATE recordings SET team = 'x'",
    "DELETE FROM recordings",
    "DROP TABLE recordings",
    "CREATE TABLE x AS SELECT 1",
    "ATTACH '/tmp/other.duckdb' AS other",
    "COPY recordings TO '/tmp/out.csv'",
    "INSTALL fts",
    "LOAD fts",
    "PRAGMA database_list",
    "SET threads = 1",
    "CALL pragma_version()",
    "SELECT 1; DELETE FROM recordings",
    "WITH x AS (SELECT 1) DELETE FROM recordings",
]
FILE_READS = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_parquet('/tmp/x.parquet')",
    "SELECT * FROM read_json('/tmp/x.json')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT content FROM read_blob('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM query('SELECT 1')",
    "SELECT getenv('HOME')",
    "SELECT * FROM \"read_csv\"('/etc/passwd')",
]


CAUGHT_WHEN_RUN = [
    "SELECT count(*) FROM recordings, '/etc/hostname'",  # passes the token check; external access is off
    "SELECT * FROM recordings r JOIN (SELECT * FROM '/etc/hostname') h ON true",
]


@pytest.mark.parametrize("sql", CAUGHT_WHEN_RUN)
def test_sql_page_cannot_read_files_even_past_the_token_check(compliance, sql):
    client, csrf = compliance
    res = client.post("/sql", data={"sql": sql, "csrf": csrf}, headers={"accept": "text/html"})
    assert res.status_code == 400 and 'id="sql-error"' in res.text
    assert "localhost" not in res.text and "root:" not in res.text


@pytest.mark.parametrize("sql", WRITES + FILE_READS)
def test_sql_page_rejects_writes_and_file_reads(site, compliance, sql):
    store = site[1]
    client, csrf = compliance
    before = store.query("SELECT count(*) FROM recordings").rows[0][0]
    res = client.post("/sql", data={"sql": sql, "csrf": csrf}, headers={"accept": "text/html"})
    assert res.status_code == 400 and 'id="sql-error"' in res.text
    assert "root:" not in res.text
    assert client.post("/sql/export.csv", data={"sql": sql, "csrf": csrf}).status_code == 400
    assert store.query("SELECT count(*) FROM recordings").rows[0][0] == before
    with pytest.raises(RejectedQuery):
        check_select(sql)


def test_a_long_sql_query_is_stopped_so_it_cannot_hold_ingestion_up():
    import duckdb

    from pipeline.web.sqlguard import run_guarded

    con = duckdb.connect()
    t = time.monotonic()
    with pytest.raises(RejectedQuery, match="longer than 0.5 s"):
        run_guarded(con, "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3", timeout_s=0.5)
    assert time.monotonic() - t < 5
    assert run_guarded(con, "SELECT 41 + 1 AS n", timeout_s=0.5) == (["n"], [(42,)], False)


def test_named_queries_run_and_export_csv(site, compliance):
    store = site[1]
    client, csrf = compliance
    for name, query in NAMED_QUERIES.items():
        check_select(query.sql)
        assert client.get("/sql", params={"name": name}, headers={"accept": "text/html"}).status_code == 200, name
    sql = "SELECT staff_id, count(*) AS n FROM recordings GROUP BY 1 ORDER BY 1"
    csv = client.post("/sql/export.csv", data={"sql": sql, "name": "", "csrf": csrf})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    expected = store.query(sql).rows
    assert csv.text.splitlines() == ["staff_id,n"] + [f"{s},{n}" for s, n in expected]


def test_views_and_exports_are_audited(site):
    app, store, ids, _ = site
    client, csrf = login(app, "admin1")
    rid = ids["sales"][0]
    client.get(f"/interaction/{rid}")
    client.get(f"/interaction/{rid}/export.csv")
    client.post("/sql/export.csv", data={"sql": "SELECT 7 AS seven", "name": "", "csrf": csrf})
    rows = [r for r in Accounts(accounts_path(store.path)).audit_rows(100) if r[1] == "admin1"]
    actions = {(r[3], r[4]) for r in rows}
    assert ("view", f"interaction:{rid}") in actions and ("export", f"interaction:{rid}") in actions
    assert any(r[3] == "export" and "SELECT 7 AS seven" in (r[5] or "") for r in rows)
    page = client.get("/audit", headers={"accept": "text/html"}).text
    assert f"interaction:{rid}" in page


def test_a_page_leaves_the_database_free_for_the_writer(site, tmp_path):
    """After a request, another process can take the write lock at once (the app keeps no connection)."""
    app, store, ids, _ = site
    client, _ = login(app, "comp1")
    assert client.get(f"/interaction/{ids['billing'][0]}").status_code == 200
    writer = textwrap.dedent(f"""
        import duckdb
        con = duckdb.connect({str(store.path)!r})
        con.execute("CREATE TABLE IF NOT EXISTS web_probe (n INTEGER)"); con.execute("INSERT INTO web_probe VALUES (1)"); con.close()
    """)
    done = subprocess.run([sys.executable, "-c", writer], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_pages_escape_what_users_type(site):
    app, _, _, _ = site
    client, _ = login(app, "lead1")
    page = client.get("/search", params={"q": '<script>alert(1)</script> "><img src=x>'}, headers={"accept": "text/html"}).text
    assert "<script>alert(1)" not in page and "<img src=x>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    csp = client.get("/", headers={"accept": "text/html"}).headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_a_team_lead_row_without_a_team_cannot_log_in(tmp_path):
    """Defence in depth: a hand-edited users row must not turn a team lead into someone who sees everything."""
    import sqlite3

    db = tmp_path / "p.duckdb"
    add_user(db, "tl", PASSWORD, "team_lead", "billing")
    with sqlite3.connect(accounts_path(db)) as con:
        con.execute("UPDATE users SET team = NULL")
    assert Accounts(accounts_path(db)).authenticate("tl", PASSWORD) is None


def test_add_user_validates_role_team_and_password(tmp_path):
    db = tmp_path / "p.duckdb"
    with pytest.raises(Exception, match="team"):
        add_user(db, "lead", PASSWORD, "team_lead", None)
    with pytest.raises(Exception, match="role"):
        add_user(db, "x", PASSWORD, "superuser")
    with pytest.raises(Exception, match="shorter"):
        add_user(db, "x", "short", "admin")
    user = add_user(db, "lead", PASSWORD, "team_lead", "billing")
    assert (user.role, user.scope) == ("team_lead", "billing")
    accounts = Accounts(accounts_path(db))
    assert accounts.authenticate("lead", PASSWORD) == user
    assert accounts.authenticate("lead", PASSWORD + "x") is None
    assert accounts.authenticate("nobody", PASSWORD) is None
    assert not db.exists()  # users live beside the DuckDB file, never in it


def test_users_add_command_prompts_for_the_password_and_never_echoes_it(tmp_path):
    import typer
    from typer.testing import CliRunner

    from pipeline.web.cli import register

    app = typer.Typer()
    register(app)
    db = tmp_path / "p.duckdb"
    done = CliRunner().invoke(app, ["users", "add", "tl", "--role", "team_lead", "--team", "billing", "--db", str(db)], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert done.exit_code == 0, done.output
    assert "user tl: team_lead, team billing" in done.output and PASSWORD not in done.output
    assert Accounts(accounts_path(db)).authenticate("tl", PASSWORD).scope == "billing"
    bad = CliRunner().invoke(app, ["users", "add", "tl2", "--role", "team_lead", "--db", str(db)], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert bad.exit_code == 2 and "--team" in bad.output
