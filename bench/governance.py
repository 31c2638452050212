"""What the tamper-evident chain costs on the write path, and how long verify and retention take.

    .venv/bin/python bench/governance.py [--recordings 1000] [--pairs 60] [--utterances 150] [--words 1500]

Builds a database of ``--recordings`` interactions shaped like a 10-minute call (150 utterances,
1,500 words, tags, findings, scorecard lines, dynamics), all written through
``Store.write_recording`` as processing writes them. Then writes ``--pairs`` more recordings
twice each, alternately with the chain seal and without it (the same rows, interleaved, so a busy
machine slows both alike), and prints the median write time of each and the difference. Last,
``verify`` over the whole database and a retention plan. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pipeline.store as store_module  # noqa: E402
from pipeline.governance.chain import verify  # noqa: E402
from pipeline.governance.policy import load_policy  # noqa: E402
from pipeline.governance.retention import plan  # noqa: E402
from pipeline.store import Store  # noqa: E402

WORDS = "thank you for calling how can I help today my card was charged twice and I would like a refund please".split()


def call_rows(rng: random.Random, rid: str, utterances: int, words: int) -> tuple[dict, dict]:
    per = max(1, words // utterances)
    utts, wrows, t = [], [], 0.0
    for i in range(utterances):
        text = " ".join(rng.choice(WORDS) for _ in range(per))
        utts.append({"idx": i, "speaker": f"S{i % 2 + 1}", "role": ("staff", "customer")[i % 2], "role_confidence": rng.random(), "channel": i % 2,
                     "start_s": t, "end_s": t + 3.1, "text": text, "avg_logprob": -rng.random(), "no_speech_prob": rng.random() / 10, "n_words": per})
        for j in range(per):
            wrows.append({"utterance_idx": i, "idx": j, "start_s": t + j * 0.3, "end_s": t + j * 0.3 + 0.25, "word": rng.choice(WORDS),
                          "probability": rng.random(), "speaker": f"S{i % 2 + 1}", "channel": i % 2})
        t += 4.0
    tags = [{"utterance_index": i, "kind": "sentiment", "label": rng.choice(["negative", "neutral", "positive"]), "score": rng.random(),
             "role": utts[i]["role"], "model": "bench", "model_version": "1"} for i in range(utterances)]
    tags += [{"utterance_index": None, "kind": "complaint", "label": rng.choice(["yes", "no"]), "score": rng.random(), "evidence": [1, 3]}]
    findings = [{"rule": f"rule_{k}", "category": "compliance", "passed": rng.random() > 0.2, "utterance_index": k, "start_s": 4.0 * k,
                 "end_s": 4.0 * k + 3, "matched": "thank you", "score": None, "detail": {"count": 1}} for k in range(11)]
    lines = [{"rubric_id": "contact_centre", "rubric_version": "1", "section": "s", "criterion": f"c{k}", "fact": f"rule:rule_{k}", "status": "pass",
              "weight": 10.0, "points": 10.0, "auto_fail": False, "value": "passed", "evidence": {"utterance_index": k}} for k in range(10)]
    card = [{"rubric_id": "contact_centre", "rubric_version": "1", "rubric_hash": "x", "score": 80.0, "raw_score": 80.0, "passed": True,
             "auto_failed": False, "pass_mark": 70.0, "scored_at": datetime(2026, 11, 1)}]
    dynamics = [{"scope": s, "duration_s": t, "talk_s": t / 2, "talk_ratio": 0.5} for s in ("all", "staff", "customer")]
    started = datetime(2025, 1, 1) + timedelta(minutes=rng.randrange(500_000))
    recording = {"id": rid, "source_name": f"{rid[:8]}.wav", "status": "done", "duration_s": t, "customer_ref": f"C{rng.randrange(10**6)}",
                 "channel": rng.choice(["phone", "face-to-face"]), "team": "billing", "started_at": started, "processed_at": started}
    tables = {"utterances": utts, "words": wrows, "tags": tags, "findings": findings, "scorecards": card, "scorecard_lines": lines, "dynamics": dynamics}
    return recording, tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--utterances", type=int, default=150)
    parser.add_argument("--words", type=int, default=1500)
    parser.add_argument("--db", type=Path, default=None, help="Where to build the database [default: a temporary folder].")
    args = parser.parse_args()
    rng = random.Random(0)
    path = args.db or Path(tempfile.mkdtemp()) / "bench.duckdb"
    store = Store(path)
    t0 = time.perf_counter()
    for i in range(args.recordings):
        rec, tables = call_rows(rng, f"{rng.getrandbits(128):032x}{i:032x}", args.utterances, args.words)
        store.write_recording(rec, tables, recording_id=rec["id"], run={"run_id": f"run-{i}"})
    build_s = time.perf_counter() - t0
    print(f"built {args.recordings} recordings ({args.utterances} utterances, {args.words} words each) in {build_s:.1f} s: {path}")

    sealed, bare = [], []
    real_seal, real_insert = store_module._seal_write, store_module._insert
    for i in range(args.pairs):
        rec, tables = call_rows(rng, f"{rng.getrandbits(128):032x}{args.recordings + i:032x}", args.utterances, args.words)
        for with_seal in ((True, False) if i % 2 == 0 else (False, True)):
            # without: no chain entry, and the inserts return nothing (as before the chain existed)
            store_module._seal_write = real_seal if with_seal else (lambda *a, **k: None)
            store_module._insert = real_insert if with_seal else (lambda con, table, rows, returning=False: real_insert(con, table, rows))
            t = time.perf_counter()
            store.write_recording(rec, tables, recording_id=rec["id"], run={"run_id": f"p{i}-{with_seal}"})
            (sealed if with_seal else bare).append(time.perf_counter() - t)
    store_module._seal_write, store_module._insert = real_seal, real_insert
    with store.connect() as con:  # the unsealed second writes: seal them so verify runs on a whole chain
        con.execute("BEGIN TRANSACTION")
        from pipeline.governance.chain import seal

        seal(con, [r for (r,) in con.execute("SELECT DISTINCT recording_id FROM utterances WHERE run_id LIKE 'p%-False'").fetchall()], "store")
        con.execute("COMMIT")
    with_s, without_s = statistics.median(sealed), statistics.median(bare)
    print(f"write_recording median: {1000 * with_s:.1f} ms with the seal, {1000 * without_s:.1f} ms without: "
          f"+{1000 * (with_s - without_s):.1f} ms ({100 * (with_s / without_s - 1):.0f}% of the store stage)")

    with store.connect(read_only=True) as con:
        t = time.perf_counter()
        report = verify(con, audio=False)
        verify_s = time.perf_counter() - t
        t = time.perf_counter()
        considered, due = plan(con, load_policy(Path(__file__).resolve().parent.parent / "data" / "retention.yaml"), datetime(2027, 6, 1).date())
        plan_s = time.perf_counter() - t
    print(f"verify: {report.entries} entries, {report.recordings} recordings, ok={report.ok}, {verify_s:.1f} s")
    print(f"retention plan: {considered} recordings considered, {len(due)} due, {plan_s:.2f} s")
    print(json.dumps({
        "recordings": args.recordings, "utterances": args.utterances, "words": args.words, "pairs": args.pairs,
        "write_ms_sealed": round(1000 * with_s, 1), "write_ms_bare": round(1000 * without_s, 1), "seal_ms": round(1000 * (with_s - without_s), 1),
        "verify_s": round(verify_s, 2), "verify_ok": report.ok, "plan_s": round(plan_s, 2), "build_s": round(build_s, 1),
    }))


if __name__ == "__main__":
    main()
