"""Build a benchmark folder of realistic recordings (default >= 30 minutes) from ../shared/data/audio.

Calls are made of real read speech (LibriSpeech clips, 5 speakers): stereo two-party calls (staff on
the left, customer on the right, alternating turns with pauses, some at 8 kHz telephone rate) and
mono face-to-face mixtures, plus the real pyannote phone call and faster-whisper clips. Clips are
reused across calls to reach the length asked for. Deterministic for a given seed.

    python bench/make_corpus.py bench/out/corpus --minutes 30
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.audio import decode, encode  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "audio"
RATE = 16000


def load_speakers() -> dict[str, list[np.ndarray]]:
    speakers = {}
    for folder in sorted((SHARED / "librispeech-speakers").iterdir()):
        if folder.is_dir():
            speakers[folder.name] = [decode(f).samples[0] for f in sorted(folder.glob("*.flac"))]
    return speakers


def conversation(rng: random.Random, voices: list[list[np.ndarray]], turns: int, stereo: bool) -> np.ndarray:
    """Alternating turns with 0.3-1.5 s pauses; stereo puts voice 0 left and voice 1 right."""
    pieces: list[tuple[int, np.ndarray]] = []
    for turn in range(turns):
        who = turn % len(voices)
        pieces.append((who, rng.choice(voices[who])))
        pieces.append((-1, np.zeros(int(RATE * rng.uniform(0.3, 1.5)), np.float32)))
    total = sum(len(p) for _, p in pieces)
    out = np.zeros((2 if stereo else 1, total), np.float32)
    pos = 0
    for who, piece in pieces:
        if who >= 0:
            out[who if stereo else 0, pos : pos + len(piece)] += piece
        pos += len(piece)
    return out


def telephone(samples: np.ndarray) -> tuple[np.ndarray, int]:
    n = samples.shape[1] // 2
    return samples[:, : n * 2].reshape(samples.shape[0], n, 2).mean(axis=2), 8000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    speakers = load_speakers()
    ids = sorted(speakers)
    total = 0.0
    for name in ("pyannote-call/sample.wav", "faster-whisper/jfk.flac", "faster-whisper/stereo_diarization.wav"):
        src = SHARED / name
        (args.out / src.name).write_bytes(src.read_bytes())
        total += decode(src).info.duration_s
    n = 0
    formats = [".wav", ".flac", ".mp3", ".ogg", ".m4a"]
    while total < args.minutes * 60:
        staff, customer = rng.sample(ids, 2)
        stereo = n % 3 != 2
        audio = conversation(rng, [speakers[staff], speakers[customer]], turns=rng.randint(10, 20), stereo=stereo)
        rate = RATE
        if stereo and n % 2 == 0:
            audio, rate = telephone(audio)
        suffix = formats[n % len(formats)]
        path = args.out / f"call-{n:03d}{suffix}"
        encode(path, audio, rate)
        meta = {"staff_id": f"LS{staff}", "team": ["billing", "sales"][n % 2], "site": ["leeds", "york"][n % 2],
                "channel": "phone" if stereo else "face-to-face", "direction": "inbound" if stereo else "in-person"}
        path.with_suffix(".json").write_text(json.dumps(meta))
        total += audio.shape[1] / rate
        n += 1
    print(f"{args.out}: {n + 3} recordings, {total / 60:.1f} minutes")


if __name__ == "__main__":
    main()
