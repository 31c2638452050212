"""How much tagging adds to processing a recording: tagging wall time vs decode + transcription.

Runs every recording in data/samples/ (else the pyannote sample call) through decode and
transcribe (faster-whisper, as the pipeline does), then the tagger, with models loaded once
beforehand (a warm watcher). Prints one line per recording and, last, one JSON line.

    .venv/bin/python bench/tagging.py [--repeat 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.audio import decode  # noqa: E402
from pipeline.tagging import TaggingOptions, load_tagger  # noqa: E402
from pipeline.transcribe import TranscribeOptions, transcribe, whisper_model  # noqa: E402

AUDIO = (".wav", ".mp3", ".ogg", ".m4a", ".flac")
FALLBACK = ROOT.parent / "shared" / "data" / "audio" / "pyannote-call" / "sample.wav"


def recordings() -> list[Path]:
    found = sorted(p for p in (ROOT / "data" / "samples").glob("*") if p.suffix in AUDIO)
    return found or [FALLBACK]


def best_of(repeat: int, fn):
    """(fastest wall seconds, last result) over ``repeat`` runs."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per recording; the fastest counts")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for whisper and the encoder")
    args = parser.parse_args()
    t_options = TranscribeOptions(cpu_threads=args.threads)
    start = time.perf_counter()
    whisper_model(t_options)
    tagger = load_tagger(TaggingOptions(threads=args.threads))
    load_s = time.perf_counter() - start
    rows = []
    for path in recordings():
        process_s, transcript = best_of(args.repeat, lambda: transcribe(decode(path), t_options))
        def tag_cold():  # the encoder keeps vectors of texts it has seen: each run starts without them
            tagger.encoder.memo.clear()
            return tagger.tag(transcript.utterances)

        tag_s, tags = best_of(args.repeat, tag_cold)
        rows.append({"recording": path.name, "utterances": len(transcript.utterances), "tags": len(tags), "process_s": round(process_s, 3), "tag_s": round(tag_s, 3), "ratio": round(tag_s / process_s, 4)})
        print(f"{path.name:<55} utt {len(transcript.utterances):>3}  decode+transcribe {process_s:6.2f} s  tag {tag_s:5.3f} s  +{100 * tag_s / process_s:5.1f}%")
    total_process = sum(r["process_s"] for r in rows)
    total_tag = sum(r["tag_s"] for r in rows)
    summary = {"recordings": len(rows), "process_s": round(total_process, 3), "tag_s": round(total_tag, 3), "ratio": round(total_tag / total_process, 4), "max_ratio": max(r["ratio"] for r in rows), "limit": 0.15, "models_load_s": round(load_s, 2), "threads": args.threads, "per_recording": rows}
    print(f"tagging adds {100 * summary['ratio']:.1f}% overall (worst {100 * summary['max_ratio']:.1f}%); limit 15%")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
