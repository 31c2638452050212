"""How long does a compliance reader (`parley sql`) wait while Parley is writing?

Processes FOLDER in one process while another runs a query every 0.1 s through the same
read-only path as `parley sql` (open, query, close, retrying on the lock), and prints the
latency distribution. The last line is one JSON object.

    python bench/reader_wait.py FOLDER
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.store import Store  # noqa: E402

WRITER = """
import sys
from pathlib import Path
from pipeline import ingest
from pipeline.process import Processor
from pipeline.settings import Settings
work = Path(sys.argv[1])
s = Settings(db=work / "db.duckdb", inbox=work / "inbox", archive=work / "archive", quarantine=work / "q")
p = Processor(s)
for f in ingest.list_inbox(s.inbox):
    p.process(f)
"""


def main() -> None:
    folder = Path(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="parley-readers-") as tmp:
        work = Path(tmp)
        shutil.copytree(folder, work / "inbox")
        store = Store(work / "db.duckdb")
        store.append("errors", [{"error_id": "bench-start"}])  # create the file and schema first
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(work)], cwd=ROOT)
        latencies = []
        while writer.poll() is None:
            t0 = time.perf_counter()
            store.query("SELECT count(*) FROM utterances")
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.1)
        n_rec = store.query("SELECT count(*) FROM recordings").rows[0][0]
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    result = {"queries": len(latencies), "recordings_written": n_rec, "median_ms": round(pick(0.5), 1),
              "p95_ms": round(pick(0.95), 1), "max_ms": round(latencies[-1] * 1000, 1)}
    print(f"{result['queries']} queries while {n_rec} recordings were written: median {result['median_ms']} ms, "
          f"p95 {result['p95_ms']} ms, max {result['max_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
