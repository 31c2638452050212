"""Benchmark: Parley end to end on a folder vs bare faster-whisper on the same files, same run.

    python bench/run.py FOLDER [--model tiny.en|base] [--prefect] [--repeat N] [--bare-workers N]

Each side runs in its own process (so peak memory is its own). Parley processes a copy of the
folder into a throw-away database with the local runner, or with --prefect through the
`watch-inbox` flow (after an empty poll that starts Prefect's temporary server outside the timed
run), keeping the unredacted text so that it can be scored. Its process starts the way the
`parley` command starts itself, with glibc's huge-page tunable (pipeline/launch.py). Bare
faster-whisper is `WhisperModel(MODEL, int8).transcribe(channel, vad_filter=True)` with every
other option at its default (beam 5, temperature fallback, previous text as prompt), each channel
of a stereo file on its own, every segment consumed, one file at a time on all cores; with
--bare-workers N, N files at once, each on its own model replica with cores / N threads.

Quality from the same run: the word error rate of both against the references beside the audio
(``NAME.stm`` or ``NAME.ref.json``, see bench/wer.py) with the words lost (substitutions and
deletions) apart from the words added (insertions), and the transcripts with a repetition loop
(pipeline/loops.py). The last line is one JSON object.
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
sys.path.insert(0, str(ROOT / "bench"))
from wer import Errors, reference_for, score_channels  # noqa: E402

from pipeline.launch import with_hugepages  # noqa: E402
from pipeline.loops import has_loop  # noqa: E402

PARLEY_CHILD = """
import json, resource, sys, time
from pathlib import Path
from pipeline import ingest
from pipeline.settings import Settings
work = Path(sys.argv[1]); use_prefect = sys.argv[2] == "1"; model = sys.argv[3]
s = Settings(db=work / "bench.duckdb", inbox=work / "inbox", archive=work / "archive", quarantine=work / "quarantine",
             keep_raw_text=True, whisper_model=model)
files = ingest.list_inbox(s.inbox)
start_s = 0.0
if use_prefect:  # an empty poll first: Prefect's temporary server starts outside the timed run (a deployment's server is long-lived)
    from flows.watch_inbox import watch_inbox
    overrides = {"db": str(s.db), "archive": str(s.archive), "quarantine": str(s.quarantine), "keep_raw_text": True, "whisper_model": model}
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
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from pipeline.store import Store
texts, redecodes = {}, 0
rows = Store(s.db).query("SELECT r.source_name, u.channel, u.text, r.channels FROM utterances u JOIN recordings r ON r.id = u.recording_id ORDER BY r.source_name, u.start_s, u.idx").rows
for name, channel, text, channels in rows:
    per = texts.setdefault(name, [[] for _ in range(max(channels or 1, 1))])
    per[(channel or 0) if len(per) > 1 else 0].append(text)
redecodes = Store(s.db).query("SELECT coalesce(sum(redecodes), 0) FROM runs").rows[0][0]
print(json.dumps({"wall_s": wall, "prefect_start_s": start_s, "files": len(files), "done": sum(o["status"] == "done" for o in outcomes),
                  "audio_s": sum(o["duration_s"] or 0 for o in outcomes), "stages": stages, "peak_mb": peak, "redecodes": int(redecodes),
                  "texts": {k: [" ".join(c) for c in v] for k, v in texts.items()}}))
"""

BARE_CHILD = """
import json, os, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import av
from faster_whisper import WhisperModel, decode_audio
from pipeline.models import resolve_model
from pipeline.settings import Settings
s = Settings()
workers = int(sys.argv[1]); model_ref = sys.argv[2]
files = [Path(p) for p in sys.argv[3:]]
t0 = time.perf_counter()
cores = os.cpu_count()
model = WhisperModel(resolve_model(model_ref).path, device="cpu", compute_type="int8",
                     cpu_threads=cores if workers == 1 else max(1, cores // workers), num_workers=workers)
def one(f):
    with av.open(str(f)) as c:
        stereo = c.streams.audio[0].codec_context.channels == 2
    channels = decode_audio(str(f), split_stereo=True) if stereo else [decode_audio(str(f))]
    texts = []
    for x in channels:
        segments, info = model.transcribe(x, language=s.language, vad_filter=True)
        texts.append(" ".join(seg.text.strip() for seg in segments))
    return f.name, len(channels[0]) / 16000, texts
with ThreadPoolExecutor(workers) as pool:
    done = list(pool.map(one, files))
print(json.dumps({"wall_s": time.perf_counter() - t0, "audio_s": sum(d[1] for d in done), "texts": {d[0]: d[2] for d in done},
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"benchmark child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


AUDIO = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")


def score(texts: dict[str, list[str]], audio_files: list[Path]) -> dict:
    """Errors of one side's transcripts (file name -> text per channel) against the references,
    and the files whose transcript has a repetition loop."""
    total, per_file, scored = Errors(), {}, 0
    for f in audio_files:
        ref = reference_for(f)
        if ref is None:
            continue
        hyp = texts.get(f.name, [])
        errors = score_channels(ref, hyp if len(ref) > 1 else [" ".join(hyp)])
        total += errors
        per_file[f.name] = errors.as_dict()
        scored += 1
    loops = sorted(name for name, channels in texts.items() if any(has_loop(t) for t in channels))
    return {"errors": total, "per_file": per_file, "files": scored, "loops": loops}


def _median(runs) -> dict:
    """The run with the median wall time (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return ordered[(len(ordered) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description="Parley vs bare faster-whisper on one folder.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--prefect", action="store_true", help="run Parley through its Prefect flows")
    parser.add_argument("--model", default="tiny.en", help="the Whisper model both sides use (tiny.en, base, a directory)")
    parser.add_argument("--save", type=Path, help="write both sides' transcripts and per-file scores here (JSON)")
    parser.add_argument("--repeat", type=int, default=1, help="run both sides N times, alternating, and report the median run of each")
    parser.add_argument(
        "--bare-workers", type=int, default=1,
        help="bare faster-whisper on N files at once (N model replicas sharing the cores), as Parley transcribes; default 1: one file at a time on all cores",
    )
    args = parser.parse_args()
    if not args.folder.is_dir():
        sys.exit(f"{args.folder}: no such folder. Fix: build one with `python bench/make_corpus.py {args.folder}`")
    audio_files = [p for p in sorted(args.folder.iterdir()) if p.is_file() and p.suffix in AUDIO]
    pairs = []
    for _ in range(args.repeat):  # alternate the two sides, so a slow spell of the machine hits both
        with tempfile.TemporaryDirectory(prefix="parley-bench-") as tmp:
            work = Path(tmp)
            (work / "inbox").mkdir()
            for f in audio_files:  # the recordings and their sidecars; not the references
                shutil.copy(f, work / "inbox")
                if f.with_suffix(".json").exists():
                    shutil.copy(f.with_suffix(".json"), work / "inbox")
            # Parley's child starts as the `parley` command starts itself (pipeline/launch.py: glibc's
            # huge-page tunable); bare faster-whisper runs in the plain environment (it gains nothing from it).
            parley = child(PARLEY_CHILD, str(work), "1" if args.prefect else "0", args.model, env=with_hugepages())
        bare = child(BARE_CHILD, str(args.bare_workers), args.model, *map(str, audio_files))
        pairs.append((parley, bare))
        if args.repeat > 1:
            print(f"run {len(pairs)}: parley {parley['wall_s']:.2f} s, bare {bare['wall_s']:.2f} s, ratio {parley['wall_s'] / bare['wall_s']:.3f}", flush=True)
    parley = _median(p for p, _ in pairs)
    bare = _median(b for _, b in pairs)
    audio_s = parley["audio_s"]
    quality = {side: score(run["texts"], audio_files) for side, run in (("parley", parley), ("bare", bare))}
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
        "model": args.model,
        "scored_files": quality["parley"]["files"],
        "ref_words": quality["parley"]["errors"].ref_words,
        "wer": round(quality["parley"]["errors"].wer, 4),
        "bare_wer": round(quality["bare"]["errors"].wer, 4),
        "lost": round(quality["parley"]["errors"].lost, 4),
        "bare_lost": round(quality["bare"]["errors"].lost, 4),
        "loops": len(quality["parley"]["loops"]),
        "bare_loops": len(quality["bare"]["loops"]),
        "redecodes": parley.get("redecodes"),
    }
    if args.save:
        args.save.write_text(json.dumps({side: {"texts": run["texts"], "loops": quality[side]["loops"], "per_file": quality[side]["per_file"]}
                                         for side, run in (("parley", parley), ("bare", bare))}, indent=1))
    print(f"audio           {result['audio_s']:>9.1f} s in {result['files']} files ({result['done']} processed)")
    print(f"parley          {result['wall_s']:>9.2f} s wall   {result['rtf']:>6.1f}x real time   peak {result['peak_mb']} MB")
    print(f"bare whisper{'' if args.bare_workers == 1 else f' x{args.bare_workers}':<4}{result['bare_wall_s']:>9.2f} s wall   {result['bare_rtf']:>6.1f}x real time   peak {result['bare_peak_mb']} MB")
    print(f"ratio parley / bare wall time: {result['ratio_vs_bare']:.3f}" + (f" (medians of {len(pairs)} runs each; per run {result['ratios']})" if len(pairs) > 1 else ""))
    if args.prefect:
        print(f"Prefect's temporary server and first flow run, before the timed run: {result['prefect_start_s']:.1f} s")
    print("stages (s): " + ", ".join(f"{k} {v}" for k, v in result["stages_s"].items()))
    for side in ("parley", "bare"):
        e = quality[side]["errors"]
        print(f"{side:<8} WER {e.wer:.3f} (lost {e.lost:.3f}: {e.substitutions} substituted, {e.deletions} deleted; {e.insertions} inserted) "
              f"over {e.ref_words} words in {quality[side]['files']} files; loops in {len(quality[side]['loops'])} {quality[side]['loops'] or ''}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
