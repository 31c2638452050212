"""How fast the web app's pages render on a database of 10,000 interactions.

    .venv/bin/python bench/web.py [--n 10000] [--repeat 5] [--rebuild]

Builds (once, under ``bench/out/web/``) a synthetic database with ``pipeline.web.seed.synthetic_db``
(N interactions over four teams, 20 utterances each, with tags, findings and scorecards), serves
the app with uvicorn on a loopback port, logs in as a compliance user and as a team lead, and
times each page over HTTP (one warm-up request, then ``--repeat`` timed ones). Prints a table and
a last JSON line. Target: every page under 500 ms (median).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.settings import Settings  # noqa: E402
from pipeline.web import add_user, create_app  # noqa: E402
from pipeline.web.seed import synthetic_db  # noqa: E402

TARGET_MS = 500
PASSWORD = "benchmark password"


def build(out: Path, n: int, rebuild: bool) -> Path:
    db = out / f"web-{n}.duckdb"
    if rebuild or not db.exists():
        for old in out.glob(f"web-{n}.*"):
            old.unlink()
        out.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        synthetic_db(db, n, archive_file=ROOT / "tests" / "data" / "jfk.flac")
        print(f"built {db} ({n} interactions) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    add_user(db, "bench-compliance", PASSWORD, "compliance")
    add_user(db, "bench-lead", PASSWORD, "team_lead", "billing")
    return db


def serve(db: Path) -> tuple[str, uvicorn.Server, threading.Thread]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(db=db)), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def login(base: str, user: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=60, headers={"accept": "text/html"})
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": user, "password": PASSWORD, "csrf": token, "next": "/"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
    return client, csrf


def timed(client: httpx.Client, method: str, url: str, repeat: int, **kwargs) -> dict:
    first = client.request(method, url, **kwargs)
    if first.status_code >= 400:
        raise SystemExit(f"{method} {url} answered {first.status_code}: {first.text[:200]}")
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        res = client.request(method, url, **kwargs)
        times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1), "bytes": len(res.content), "status": res.status_code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "web")
    args = parser.parse_args()
    db = build(args.out, args.n, args.rebuild)
    base, server, thread = serve(db)
    results = []
    try:
        for user in ("bench-compliance", "bench-lead"):
            client, csrf = login(base, user)
            scope = "compliance" if user == "bench-compliance" else "team lead"
            rid = re.search(r"/interaction/([0-9a-f]{64})", client.get("/search", params={"q": "refund"}).text).group(1)
            staff = re.search(r'href="/staff/(S\d+)"', client.get("/staff").text).group(1)
            pages = [
                ("overview", "GET", "/", {}),
                ("overview, filtered", "GET", "/?since=2026-09-01&channel=phone&site=leeds", {}),
                ("staff scorecards", "GET", "/staff", {}),
                ("staff member", "GET", f"/staff/{staff}", {}),
                ("consistency", "GET", "/consistency", {}),
                ("interaction", "GET", f"/interaction/{rid}", {}),
                ("interaction export", "GET", f"/interaction/{rid}/export.csv", {}),
                ("audio (range)", "GET", f"/audio/{rid}", {"headers": {"range": "bytes=0-65535"}}),
                ("search", "GET", "/search?q=charged+twice", {}),
                ("search, no hit", "GET", "/search?q=xylophone", {}),
            ]
            if scope == "compliance":
                pages += [
                    ("sql: low_scores", "GET", "/sql?name=low_scores", {}),
                    ("sql: failed_rules_by_staff", "GET", "/sql?name=failed_rules_by_staff", {}),
                    ("sql export", "POST", "/sql/export.csv", {"data": {"csrf": csrf, "sql": "SELECT * FROM scorecards", "name": ""}}),
                ]
            for name, method, url, kwargs in pages:
                results.append({"user": scope, "page": name, **timed(client, method, url, args.repeat, **kwargs)})
    finally:
        server.should_exit = True
        thread.join(10)
    print(f"{'user':<11} {'page':<28} {'median ms':>10} {'max ms':>8} {'bytes':>9}")
    for r in results:
        flag = "" if r["median_ms"] < TARGET_MS else "  > target"
        print(f"{r['user']:<11} {r['page']:<28} {r['median_ms']:>10.1f} {r['max_ms']:>8.1f} {r['bytes']:>9}{flag}")
    worst = max(results, key=lambda r: r["median_ms"])
    print(json.dumps({"interactions": args.n, "pages": len(results), "worst_page": f"{worst['user']}: {worst['page']}",
                      "worst_median_ms": worst["median_ms"], "all_under_target": all(r["median_ms"] < TARGET_MS for r in results),
                      "target_ms": TARGET_MS, "results": results}))


if __name__ == "__main__":
    main()
