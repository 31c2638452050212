"""Build a benchmark folder of recordings with reference transcripts, like a contact centre's.

    python bench/make_corpus.py bench/out/corpus            # the held-out corpus (--split test)
    python bench/make_corpus.py bench/out/dev --split dev   # the one to tune on

Three kinds of audio, each with its reference (``NAME.stm`` or ``NAME.ref.json``, read by
``bench/wer.py``) and its sidecar metadata:

- **Scripted calls** (`bench/calls.py`): staff lines with company, product and people's names,
  dates and reference numbers, and customers reading real complaints or requests, spoken by
  espeak-ng voice pairs: stereo and mono, mostly 8 kHz telephone band (G.711), some 16 kHz, in
  several formats.
- **Real read speech** (LibriSpeech test-other clips, with their official transcripts from
  ``bench/data/``) laid into two-party conversations: stereo (one speaker per channel) and mono,
  at 16 kHz and at 8 kHz telephone band.
- **Real recordings** (test split only, never tuned on): the pyannote two-person phone call (with
  its STM), ``jfk.flac`` and faster-whisper's ``stereo_diarization.wav``, each also at 8 kHz.

Development and held-out material never mix: scripted calls take rows, voices and wordings of
their split (``bench/calls.py``), LibriSpeech clips are split by ``held_out("librispeech:ID")``.
Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import butter, resample_poly, sosfiltfilt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calls import held_out, make_calls  # noqa: E402
from pipeline.audio import decode, encode  # noqa: E402
from pipeline.synth import TELEPHONE_BAND_HZ  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "audio"
TRANSCRIPTS = ROOT / "bench" / "data" / "librispeech-test-other.trans.txt"
RATE = 16000
REAL = {
    "pyannote-call/sample.wav": None,  # its STM beside it
    "faster-whisper/jfk.flac": ["And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."],
    "faster-whisper/stereo_diarization.wav": [
        "He began a confused complaint against the wizard, who had vanished behind the curtain on the left.",
        "The horizon seems extremely distant.",
    ],
}


def telephone(samples: np.ndarray, rate: int = RATE) -> tuple[np.ndarray, int]:
    """8 kHz, 300-3400 Hz, as a phone system records it."""
    g = gcd(rate, 8000)
    narrow = resample_poly(samples, 8000 // g, rate // g, axis=-1).astype(np.float32)
    band = butter(2, TELEPHONE_BAND_HZ, btype="bandpass", fs=8000, output="sos")
    return sosfiltfilt(band, narrow, axis=-1).astype(np.float32), 8000


def librispeech(split: str) -> dict[str, list[tuple[str, np.ndarray]]]:
    """speaker -> [(text, samples)] of the clips in ``split``."""
    texts = dict(line.split(" ", 1) for line in TRANSCRIPTS.read_text().splitlines() if line.strip())
    out: dict[str, list[tuple[str, np.ndarray]]] = {}
    for folder in sorted((SHARED / "librispeech-speakers").iterdir()):
        for clip in sorted(folder.glob("*.flac")) if folder.is_dir() else ():
            if held_out(f"librispeech:{clip.stem}") == (split == "test"):
                out.setdefault(folder.name, []).append((texts[clip.stem].strip(), decode(clip).samples[0]))
    return out


def conversation(rng: random.Random, a: list, b: list, turns: int, stereo: bool) -> tuple[np.ndarray, list[str]]:
    """Alternating turns (0.3-1.5 s pauses); stereo: voice a left, b right. Returns the audio and
    the reference per channel (mono: one text in turn order)."""
    pieces, refs = [], [[], []]
    for turn in range(turns):
        who = turn % 2
        text, clip = rng.choice((a, b)[who])
        pieces.append((who, clip))
        refs[who if stereo else 0].append(text)
        pieces.append((-1, np.zeros(int(RATE * rng.uniform(0.3, 1.5)), np.float32)))
    out = np.zeros((2 if stereo else 1, sum(len(p) for _, p in pieces)), np.float32)
    pos = 0
    for who, piece in pieces:
        if who >= 0:
            out[who if stereo else 0, pos : pos + len(piece)] += piece
        pos += len(piece)
    return out, [" ".join(r) for r in refs if r]


def write_ref(path: Path, channels: list[str]) -> None:
    path.with_name(path.stem + ".ref.json").write_text(json.dumps({"channels": channels}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--split", choices=["dev", "test"], default="test")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of recordings of each kind (0.25 for a quick look)")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{args.seed}:{args.split}")
    n = lambda k: max(1, round(k * args.scale))  # noqa: E731

    # Scripted calls: stereo and mono, 8 kHz telephone and 16 kHz, several formats.
    for layout, rate, count, suffix in (("stereo", 8000, 14, ".wav"), ("mono", 8000, 6, ".wav"), ("stereo", 16000, 4, ".flac"), ("mono", 16000, 2, ".mp3")):
        make_calls(out, n(count), split=args.split, layout=layout, rate=rate, seed=args.seed, suffix=suffix)
    for extra in out.glob("*.rttm"):
        extra.unlink()  # the calls' speaker truth is not needed here; their STM is the reference

    # Real read speech laid into conversations.
    speakers = librispeech(args.split)
    ids = sorted(s for s in speakers if speakers[s])
    for i in range(n(6)):
        first, second = rng.sample(ids, 2)
        stereo = i % 3 != 2
        audio, refs = conversation(rng, speakers[first], speakers[second], turns=rng.randint(8, 12), stereo=stereo)
        rate = RATE
        if i % 2 == 0:
            audio, rate = telephone(audio)
        path = out / f"libri-{args.split}-{'stereo' if stereo else 'mono'}-{rate // 1000}k-{i:02d}{['.wav', '.ogg', '.m4a'][i % 3]}"
        encode(path, audio, rate)
        write_ref(path, refs)
        meta = {"staff_id": f"LS{first}", "team": "sales", "site": "york", "channel": "phone" if stereo else "face-to-face",
                "direction": "inbound" if stereo else "in-person"}
        path.with_suffix(".json").write_text(json.dumps(meta) + "\n")

    # Real recordings, at their own rate and at 8 kHz: held out, never tuned on.
    if args.split == "test":
        for name, refs in REAL.items():
            src = SHARED / name
            decoded = decode(src)
            for narrow in (False, True):
                audio, rate = telephone(decoded.samples) if narrow else (decoded.samples, decoded.sample_rate)
                path = out / f"real-{src.stem}-{rate // 1000}k.wav"
                encode(path, audio, rate)
                if refs is None:
                    stm = src.with_suffix(".stm").read_text()
                    path.with_suffix(".stm").write_text(stm)
                else:
                    write_ref(path, refs)
    minutes = sum(decode(p).info.duration_s for p in out.iterdir() if p.suffix in (".wav", ".flac", ".mp3", ".ogg", ".m4a")) / 60
    print(f"{out}: {minutes:.1f} minutes", file=sys.stderr)


if __name__ == "__main__":
    main()
