"""Time Parley's write path (``Store.write_recording``: open, one transaction, close) on this
DuckDB, for comparing DuckDB versions (issue 18's DuckLake evaluation).

    python bench/duckdb_write.py [N]   # N recordings (default 30) of 40 utterances / 400 words each

Prints one JSON line: duckdb version, seconds per recording (median, mean), total.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from pipeline.store import Store


def rows(i: int) -> tuple[dict, dict]:
    rid = f"{i:064x}"
    recording = {"id": rid, "source_name": f"call-{i}.wav", "status": "done", "archive_path": f"/a/call-{i}.wav",
                 "duration_s": 120.0, "processed_at": datetime.now(timezone.utc), "run_id": f"run-{i}", "metadata_extra": {"k": i}}
    utterances = [{"idx": u, "speaker": "S1", "role": "staff", "start_s": u * 3.0, "end_s": u * 3.0 + 2.5, "text": f"utterance {u} of call {i}", "n_words": 10} for u in range(40)]
    words = [{"utterance_idx": w // 10, "idx": w % 10, "start_s": w * 0.3, "end_s": w * 0.3 + 0.2, "word": f"w{w}", "probability": 0.9} for w in range(400)]
    return recording, {"utterances": utterances, "words": words}


def main(n: int = 30) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        store.append("errors", [{"error_id": "warm-up"}])  # migrations outside the timing
        times = []
        for i in range(n):
            recording, tables = rows(i)
            t0 = time.perf_counter()
            store.write_recording(recording, tables, recording_id=recording["id"], run={"run_id": recording["run_id"], "recording_id": recording["id"]})
            times.append(time.perf_counter() - t0)
    print(json.dumps({"duckdb": duckdb.__version__, "n": n, "median_s": round(statistics.median(times), 4),
                      "mean_s": round(statistics.mean(times), 4), "total_s": round(sum(times), 3)}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
