"""Benchmark: Parley end to end on a folder vs bare faster-whisper on the same files, same run.

    python bench/run.py FOLDER [--prefect] [--repeat N] [--bare-workers N]

Each side runs in its own process (so peak memory is its own). Parley processes a copy of the
folder into a throw-away database with the local runner, or with --prefect through the
`watch-inbox` flow (after an empty poll that starts Prefect's temporary server outside the timed
run). Its process starts the way the `parley` command starts itself, with glibc's huge-page
tunable (pipeline/launch.py). Bare faster-whisper is `WhisperModel(tiny.en, int8).transcribe(path)`
with the same beam size and language, default options otherwise (mono mix-down, no VAD, no word
timestamps), every segment consumed, one file at a time on all cores; with --bare-workers N, N
files at once, each on its own model replica with cores / N threads (as Parley transcribes). The
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from pipeline.launch import with_hugepages  # noqa: E402

PARLEY_CHILD = """
import json, resource, sys, time
from pathlib import Path
from pipeline import ingest
from pipeline.settings import Settings
work = Path(sys.argv[1]); use_prefect = sys.argv[2] == "1"
s = Settings(db=work / "bench.duckdb", inbox=work / "inbox", archive=work / "archive", quarantine=work / "quarantine")
files = ingest.list_inbox(s.inbox)
start_s = 0.0
if use_prefect:  # an empty poll first: Prefect's temporary server starts outside the timed run (a deployment's server is long-lived)
    from flows.watch_inbox import watch_inbox
    overrides = {"db": str(s.db), "archive": str(s.archive), "quarantine": str(s.quarantine)}
    t0 = time.perf_counter()
    watch_inbox(files=[], settings=overrides)
    start_s = time.perf_counter() - t0
t0 = time.perf_counter()
if use_prefect:
    outcomes = watch_inbox(files=[str(f) for f in files], settings=overrides)["outcomes"]
else:
    from pipeline.process import Processor
    outcomes = [o.as_dict() for o in Processor(s).process_many(files)]
wall = time.perf_counter() - t0
stages = {}
for o in outcomes:
    for k, v in o["timings"].items():
        stages[k] = stages.get(k, 0.0) + v
print(json.dumps({"wall_s": wall, "prefect_start_s": start_s, "files": len(files), "done": sum(o["status"] == "done" for o in outcomes),
                  "audio_s": sum(o["duration_s"] or 0 for o in outcomes), "stages": stages,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BARE_CHILD = """
import json, os, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from faster_whisper import WhisperModel
from pipeline.models import resolve_model
from pipeline.settings import Settings
s = Settings()
workers = int(sys.argv[1])
files = [Path(p) for p in sys.argv[2:]]
t0 = time.perf_counter()
cores = s.cpu_threads or os.cpu_count()
model = WhisperModel(resolve_model(s.whisper_model).path, device="cpu", compute_type=s.compute_type,
                     cpu_threads=cores if workers == 1 else max(1, cores // workers), num_workers=workers)
def one(f):
    segments, info = model.transcribe(str(f), beam_size=s.beam_size, language=s.language)
    for _ in segments:
        pass
    return info.duration
with ThreadPoolExecutor(workers) as pool:
    audio_s = sum(pool.map(one, files))
print(json.dumps({"wall_s": time.perf_counter() - t0, "audio_s": audio_s,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"benchmark child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _median(runs) -> dict:
    """The run with the median wall time (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return ordered[(len(ordered) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description="Parley vs bare faster-whisper on one folder.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--prefect", action="store_true", help="run Parley through its Prefect flows")
    parser.add_argument("--repeat", type=int, default=1, help="run both sides N times, alternating, and report the median run of each")
    parser.add_argument(
        "--bare-workers", type=int, default=1,
        help="bare faster-whisper on N files at once (N model replicas sharing the cores), as Parley transcribes; default 1: one file at a time on all cores",
    )
    args = parser.parse_args()
    if not args.folder.is_dir():
        sys.exit(f"{args.folder}: no such folder. Fix: build one with `python bench/make_corpus.py {args.folder}`")
    audio_files = [p for p in sorted(args.folder.iterdir()) if p.is_file() and p.suffix != ".json"]
    pairs = []
    for _ in range(args.repeat):  # alternate the two sides, so a slow spell of the machine hits both
        with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
            work = Path(tmp)
            shutil.copytree(args.folder, work / "inbox")
            # Parley's child starts as the `parley` command starts itself (pipeline/launch.py: glibc's
            # huge-page tunable); bare faster-whisper runs in the plain environment (it gains nothing from it).
            parley = child(PARLEY_CHILD, str(work), "1" if args.prefect else "0", env=with_hugepages())
        bare = child(BARE_CHILD, str(args.bare_workers), *map(str, audio_files))
        pairs.append((parley, bare))
        if args.repeat > 1:
            print(f"run {len(pairs)}: parley {parley['wall_s']:.2f} s, bare {bare['wall_s']:.2f} s, ratio {parley['wall_s'] / bare['wall_s']:.3f}", flush=True)
    parley = _median(p for p, _ in pairs)
    bare = _median(b for _, b in pairs)
    audio_s = parley["audio_s"]
    result = {
        "files": parley["files"],
        "done": parley["done"],
        "audio_s": round(audio_s, 1),
        "wall_s": round(parley["wall_s"], 2),
        "rtf": round(audio_s / parley["wall_s"], 2),
        "peak_mb": round(parley["peak_mb"]),
        "bare_wall_s": round(bare["wall_s"], 2),
        "bare_rtf": round(bare["audio_s"] / bare["wall_s"], 2),
        "bare_peak_mb": round(bare["peak_mb"]),
        "ratio_vs_bare": round(parley["wall_s"] / bare["wall_s"], 3),
        "stages_s": {k: round(v, 2) for k, v in parley["stages"].items()},
        "prefect": args.prefect,
        "bare_workers": args.bare_workers,
        "prefect_start_s": round(parley.get("prefect_start_s", 0.0), 2),
        "runs": len(pairs),
        "ratios": [round(p["wall_s"] / b["wall_s"], 3) for p, b in pairs],
    }
    print(f"audio           {result['audio_s']:>9.1f} s in {result['files']} files ({result['done']} processed)")
    print(f"parley          {result['wall_s']:>9.2f} s wall   {result['rtf']:>6.1f}x real time   peak {result['peak_mb']} MB")
    print(f"bare whisper{'' if args.bare_workers == 1 else f' x{args.bare_workers}':<4}{result['bare_wall_s']:>9.2f} s wall   {result['bare_rtf']:>6.1f}x real time   peak {result['bare_peak_mb']} MB")
    print(f"ratio parley / bare wall time: {result['ratio_vs_bare']:.3f}" + (f" (medians of {len(pairs)} runs each; per run {result['ratios']})" if len(pairs) > 1 else ""))
    if args.prefect:
        print(f"Prefect's temporary server and first flow run, before the timed run: {result['prefect_start_s']:.1f} s")
    print("stages (s): " + ", ".join(f"{k} {v}" for k, v in result["stages_s"].items()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
