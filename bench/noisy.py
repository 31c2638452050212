"""Contact-centre noise over a folder of recordings (``bench/calls.py``'s), to measure Parley on
audio less clean than espeak's: office babble (three LibriSpeech readers talking at once, from
``../shared/data/audio/librispeech-speakers`` where it is, else the tests' clips of the same
readers; ``--babble DIR``) and line hiss, mixed at a
signal-to-noise ratio measured over the speech (the RTTM's turns). Telephone-band input (8 kHz
or less) keeps its band (300-3400 Hz) and its G.711 mu-law WAV; every channel gets its own noise.
The sidecars, RTTMs, STMs and truth files are copied, so every bench that reads the clean folder
reads this one, and the two can be compared call by call.

    python bench/noisy.py bench/out/roles-s24 bench/out/roles-s24-snr15 --snr-db 15
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter, resample_poly

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.synth import telephone_band  # noqa: E402

SHARED_READERS = ROOT.parent / "shared" / "data" / "audio" / "librispeech-speakers"
READERS = SHARED_READERS if SHARED_READERS.is_dir() else ROOT / "tests" / "data" / "librispeech"
"""Folders of one reader's clips each (.flac or .opus): the shared LibriSpeech readers where they
are (the README's figures), else the tests' clips of the same five readers."""
BABBLE_TALKERS = 3
HISS_SHARE = 0.2
"""Share of the noise's power that is hiss (the rest is babble)."""
COPIED = (".json", ".rttm", ".stm", ".truth.json")


def speech_mask(rttm: Path, n: int, rate: int) -> np.ndarray:
    """True for the samples inside the RTTM's turns."""
    mask = np.zeros(n, dtype=bool)
    for line in rttm.read_text().splitlines():
        parts = line.split()
        if len(parts) > 4 and parts[0] == "SPEAKER":
            start, length = float(parts[3]), float(parts[4])
            mask[int(start * rate): int((start + length) * rate)] = True
    return mask


def reader_stream(clips: list[Path], n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One reader's clips, in a random order, end to end until ``n`` samples, at unit RMS."""
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        samples, clip_rate = sf.read(clips[int(rng.integers(len(clips)))], dtype="float32")
        g = gcd(clip_rate, rate)
        samples = resample_poly(samples, rate // g, clip_rate // g).astype(np.float32)
        out.append(samples)
        have += len(samples)
    stream = np.concatenate(out)[:n]
    return stream / max(float(np.sqrt(np.mean(stream ** 2))), 1e-9)


def clips_of(reader: Path) -> list[Path]:
    return sorted(p for p in reader.iterdir() if p.suffix in (".flac", ".opus"))


def noise_for(n: int, rate: int, rng: np.random.Generator, readers_dir: Path = READERS) -> np.ndarray:
    """Babble and hiss, ``n`` samples at unit power."""
    readers = sorted(p for p in readers_dir.iterdir() if p.is_dir() and clips_of(p))
    if len(readers) < BABBLE_TALKERS:
        raise SystemExit(f"{readers_dir}: needs {BABBLE_TALKERS} reader folders of .flac or .opus clips; give --babble DIR")
    chosen = rng.choice(len(readers), BABBLE_TALKERS, replace=False)
    babble = sum(reader_stream(clips_of(readers[i]), n, rate, rng) for i in chosen)
    babble = babble / max(float(np.sqrt(np.mean(babble ** 2))), 1e-9)
    white = rng.standard_normal(n).astype(np.float32)
    hiss = lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786],  # pink (1/f), Kellet's filter
                   [1.0, -2.494956002, 2.017265875, -0.522189400], white).astype(np.float32)
    hiss = hiss / max(float(np.sqrt(np.mean(hiss ** 2))), 1e-9)
    return np.sqrt(1 - HISS_SHARE) * babble + np.sqrt(HISS_SHARE) * hiss


def add_noise(src: Path, dst: Path, snr_db: float, readers_dir: Path = READERS) -> float:
    """Write ``src`` with noise at ``snr_db`` to ``dst``; returns the SNR reached."""
    info = sf.info(src)
    audio, rate = sf.read(src, dtype="float32", always_2d=True)
    rng = np.random.default_rng(int(hashlib.sha256(src.name.encode()).hexdigest()[:12], 16))
    mask = speech_mask(src.with_suffix(".rttm"), len(audio), rate) if src.with_suffix(".rttm").exists() else None
    telephone = rate <= 8000
    noisy = np.empty_like(audio)
    reached = []
    for ch in range(audio.shape[1]):
        x = audio[:, ch]
        speech = x[mask] if mask is not None and mask.any() else x
        power = float(np.mean(speech ** 2))
        noise = noise_for(len(x), rate, rng, readers_dir)
        if telephone:
            noise = telephone_band(noise, rate)
        noise *= np.sqrt(power / 10 ** (snr_db / 10) / max(float(np.mean(noise ** 2)), 1e-12))
        noisy[:, ch] = np.clip(x + noise, -1.0, 1.0)
        reached.append(10 * np.log10(power / max(float(np.mean(noise ** 2)), 1e-12)))
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, noisy, rate, subtype=info.subtype)
    return float(np.mean(reached))


def copy_references(src: Path, out: Path, wav: Path) -> None:
    """``wav``'s sidecar, RTTM, STM and truth file (``COPIED``, those there are) from the folder
    ``src`` into ``out``, so that every bench that reads ``src`` reads ``out`` too."""
    for suffix in COPIED:
        other = src / (wav.stem + suffix)
        if other.exists():
            shutil.copy(other, out / other.name)


def copy_manifest(src: Path, out: Path) -> None:
    """The folder's ``manifest.csv`` (``bench/calls.py``'s), where it has one."""
    if (src / "manifest.csv").exists():
        shutil.copy(src / "manifest.csv", out / "manifest.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--snr-db", type=float, default=15.0)
    parser.add_argument("--babble", type=Path, default=READERS, help="folder of reader folders of .flac/.opus clips")
    args = parser.parse_args()
    wavs = sorted(args.src.glob("*.wav"))
    if not wavs:
        raise SystemExit(f"{args.src}: no .wav recordings; make some with bench/calls.py")
    for wav in wavs:
        snr = add_noise(wav, args.out / wav.name, args.snr_db, args.babble)
        copy_references(args.src, args.out, wav)
        print(f"{wav.name}: SNR {snr:.1f} dB", file=sys.stderr)
    copy_manifest(args.src, args.out)
    print(f"{args.out}: {len(wavs)} recordings with babble and hiss at {args.snr_db:g} dB", file=sys.stderr)


if __name__ == "__main__":
    main()
