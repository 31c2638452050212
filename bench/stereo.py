"""Stereo calls as call recorders really write them: does each person's speech keep its role?

    python bench/stereo.py CALLS OUT [--variants clean,left,right,hiss,bleed20,bleed10]

CALLS is a folder of stereo calls made by ``bench/calls.py --layout stereo`` (staff on the left,
NAME.stm beside each: who said what). Each call is written again, as 16-bit WAV in OUT/VARIANT,
the way recorders get them wrong:

- ``clean``: as made, one person per channel;
- ``left`` / ``right``: the whole call mixed onto one channel, the other silent;
- ``hiss``: the mix on the left, steady line hiss (-50 dBFS) on the right;
- ``bleedNN``: each channel also hears the other side NN dB down (headset or line echo);
- ``leftcopyNN``: the mix on the left and a faint copy of it, NN dB down, on the right.

Each is transcribed and given speakers and roles as ``parley process`` does (no voiceprints).
Scored per role: the words Parley stores for the staff member against what the staff member
said, and the same for the customer (``bench/wer.py``: word error rate, and ``lost``, the share
of said words not kept). A word given to the wrong person counts twice: missing from one role,
inserted in the other. Also per variant: the layout the file was read as, the words dropped as
the other side's leak (``decoding.echo_dropped``), and the role assignments flagged for a check.
The last line is one JSON object, per variant.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def variant(x: np.ndarray, kind: str) -> np.ndarray:
    """``x`` (samples x 2, staff left) as the recorder ``kind`` writes it."""
    left, right = x[:, 0], x[:, 1]
    if kind == "clean":
        y = x
    elif kind == "left":
        y = np.stack([left + right, np.zeros_like(right)], 1)
    elif kind == "right":
        y = np.stack([np.zeros_like(left), left + right], 1)
    elif kind == "hiss":
        hiss = np.random.default_rng(0).normal(0, 10 ** (-50 / 20), len(right)).astype(np.float32)
        y = np.stack([left + right, hiss], 1)
    elif kind.startswith("leftcopy"):  # the mix on the left, a faint copy of it NN dB down on the right
        g = 10 ** (-float(kind[8:]) / 20)
        y = np.stack([left + right, g * (left + right)], 1)
    elif kind.startswith("bleed"):
        g = 10 ** (-float(kind[5:]) / 20)
        y = np.stack([left + g * right, right + g * left], 1)
    else:
        raise SystemExit(f"unknown variant '{kind}': use clean, left, right, hiss, bleedNN or leftcopyNN (NN in dB)")
    return np.clip(y, -1, 1)


def said_by(stm: Path) -> dict[str, str]:
    """What the staff member and the customer said, from NAME.stm."""
    out: dict[str, list[str]] = {"staff": [], "customer": []}
    for line in stm.read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) > 5:
            out.setdefault(parts[2], []).append(parts[5])
    return {k: " ".join(v) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("calls", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--variants", default="clean,left,right,hiss,bleed20,bleed10")
    args = parser.parse_args()

    import soundfile as sf

    from wer import Errors, score

    from pipeline.settings import Settings
    from pipeline.speakers import SpeakerOptions, attribute_speakers
    from pipeline.speakers_cli import load_recording
    from pipeline.transcribe import TranscribeOptions, transcribe

    calls = sorted(p for p in args.calls.glob("*.wav") if p.with_suffix(".stm").exists())
    if not calls:
        raise SystemExit(f"{args.calls}: no NAME.wav with NAME.stm beside it (make them with bench/calls.py --layout stereo)")
    settings = Settings()
    summary = {}
    for kind in args.variants.split(","):
        folder = args.out / kind
        folder.mkdir(parents=True, exist_ok=True)
        totals = {"staff": Errors(), "customer": Errors()}
        layouts: dict[str, int] = {}
        echo = flagged = 0
        for call in calls:
            x, rate = sf.read(call, dtype="float32", always_2d=True)
            if x.shape[1] != 2:
                raise SystemExit(f"{call}: not a stereo call (make them with bench/calls.py --layout stereo)")
            path = folder / call.name
            sf.write(path, variant(x, kind), rate, subtype="PCM_16")
            if call.with_suffix(".json").exists():
                shutil.copy(call.with_suffix(".json"), path.with_suffix(".json"))
            audio, meta = load_recording(path)
            transcript = transcribe(audio, TranscribeOptions.from_settings(settings))
            result = attribute_speakers(audio, transcript, meta, SpeakerOptions.from_settings(settings), None)
            truth = said_by(call.with_suffix(".stm"))
            row = {"call": call.name, "layout": audio.info.layout, "echo_dropped": transcript.decoding.get("echo_dropped", 0),
                   "flagged": bool(result.rows["role_assignment"][0]["flagged"])}
            for role in ("staff", "customer"):
                errors = score(truth.get(role, ""), " ".join(u.text for u in result.utterances if u.role == role))
                totals[role] += errors
                row[role] = errors.as_dict()
            layouts[row["layout"]] = layouts.get(row["layout"], 0) + 1
            echo += row["echo_dropped"]
            flagged += row["flagged"]
            print(json.dumps({"variant": kind, **row}), flush=True)
        both = Errors()
        both += totals["staff"]
        both += totals["customer"]
        summary[kind] = {"calls": len(calls), "layouts": layouts, "echo_dropped": echo, "flagged": flagged,
                         "staff": totals["staff"].as_dict(), "customer": totals["customer"].as_dict(), "both": both.as_dict()}
        print(f"{kind}: role WER {both.wer:.3f} (staff {totals['staff'].wer:.3f}, customer {totals['customer'].wer:.3f}), "
              f"lost {both.lost:.3f}, inserted {both.insertions}; read as {layouts}; {echo} words dropped as leaks; "
              f"{flagged} flagged", flush=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
