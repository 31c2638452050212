"""Can a speaker encoder tell a call's two voices apart, given each reference turn whole?

    python bench/turn_voices.py FOLDER [--model resemblyzer|campplus]

For each mono call in FOLDER (``NAME.rttm`` beside it, as ``bench/calls.py`` writes them) every
reference turn of at least 0.8 s is embedded on its own; the script prints the mean cosine
similarity of turns of the same voice and of the two voices, and how much of the turns' time a
two-way clustering of them (average linkage) gets right. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.diarize import DiarizeOptions, embed_spans  # noqa: E402
from pipeline.speakers_cli import load_recording, reference_of  # noqa: E402

MIN_TURN_S = 0.8


def turn_voices(wav: Path, options: DiarizeOptions) -> dict | None:
    from sklearn.cluster import AgglomerativeClustering

    audio, _ = load_recording(wav)
    samples = audio.samples.mean(axis=0)
    vectors, speakers, seconds = [], [], []
    for start, end, speaker in reference_of(wav.with_suffix(".rttm"), wav):
        vector = embed_spans(samples, [(start, end)], options) if end - start >= MIN_TURN_S else None
        if vector is not None:
            vectors.append(vector), speakers.append(speaker), seconds.append(end - start)
    v, who, s = np.array(vectors), np.array(speakers), np.array(seconds)
    if len(set(speakers)) != 2 or min(speakers.count(x) for x in set(speakers)) < 2:
        return None
    sim = v @ v.T
    same = who[:, None] == who[None, :]
    other = ~np.eye(len(v), dtype=bool)
    found = AgglomerativeClustering(n_clusters=2, metric="cosine", linkage="average").fit_predict(v)
    truth = (who == who[0]).astype(int)
    right = max((s * (found == truth)).sum(), (s * (found != truth)).sum())
    return {"name": wav.name, "turns": len(v), "within": float(sim[same & other].mean()), "across": float(sim[~same].mean()),
            "clustered_right": float(right / s.sum()), "seconds": float(s.sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model", default=None, help="speaker encoder: resemblyzer (default: what auto gives outside diarization) or campplus")
    args = parser.parse_args()
    options = DiarizeOptions(encoder=args.model)
    rows = []
    for wav in sorted(args.folder.glob("*.wav")):
        if not wav.with_suffix(".rttm").exists():
            continue
        row = turn_voices(wav, options)
        if row is None:
            print(f"{wav.name}: fewer than two turns of each voice, skipped", flush=True)
            continue
        truth = wav.with_suffix(".truth.json")
        if truth.exists():
            t = json.loads(truth.read_text())
            row["voices"] = f"{t.get('staff_voice')} / {t.get('customer_voice')}"
        rows.append(row)
        print(f"{row['name']}: {row['turns']} turns, similarity within {row['within']:.3f}, across {row['across']:.3f}, "
              f"two-way clustering right on {row['clustered_right']:.3f} ({row.get('voices', '')})", flush=True)
    right = sum(r["clustered_right"] * r["seconds"] for r in rows) / max(sum(r["seconds"] for r in rows), 1e-9)
    print(json.dumps({"files": len(rows), "clustered_right": round(right, 4), "rows": rows}))


if __name__ == "__main__":
    main()
