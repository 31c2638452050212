"""bench/noisy.py: office babble and line hiss at the signal-to-noise ratio asked for, measured
over the speech, with the recording's format kept (the README's noise figures rest on it)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import noisy  # noqa: E402

DATA = ROOT / "tests" / "data"
READERS = DATA / "librispeech"


def test_noise_sits_at_the_snr_asked_for_over_the_speech_and_the_format_is_kept(tmp_path: Path) -> None:
    src = tmp_path / "in" / "call.wav"
    src.parent.mkdir()
    shutil.copy(DATA / "pyannote_sample.wav", src)
    shutil.copy(DATA / "pyannote_sample.rttm", src.with_suffix(".rttm"))
    out = tmp_path / "out" / "call.wav"
    assert abs(noisy.add_noise(src, out, 10.0, READERS) - 10.0) < 0.01
    clean, rate = sf.read(src, dtype="float32")
    noisy_audio, out_rate = sf.read(out, dtype="float32")
    assert (out_rate, noisy_audio.shape, sf.info(out).subtype) == (rate, clean.shape, sf.info(src).subtype)
    speech = noisy.speech_mask(src.with_suffix(".rttm"), len(clean), rate)
    assert 0.3 < speech.mean() < 1.0  # the RTTM's turns, not the whole file
    added = noisy_audio - clean
    snr = 10 * np.log10(np.mean(clean[speech] ** 2) / np.mean(added ** 2))
    assert abs(snr - 10.0) < 0.5
    # the same file gives the same noise (figures can be made again); another file other noise
    again = tmp_path / "again" / "call.wav"
    noisy.add_noise(src, again, 10.0, READERS)
    assert np.array_equal(sf.read(again, dtype="float32")[0], noisy_audio)
    other = tmp_path / "in" / "other.wav"
    shutil.copy(src, other)
    noisy.add_noise(other, tmp_path / "out" / "other.wav", 10.0, READERS)
    assert not np.array_equal(sf.read(tmp_path / "out" / "other.wav", dtype="float32")[0], noisy_audio)


def test_a_telephone_recording_stays_mu_law_at_8_khz(tmp_path: Path) -> None:
    samples, rate = sf.read(DATA / "jfk.flac", dtype="float32", always_2d=True)
    assert rate == 44100
    src = tmp_path / "jfk.wav"
    sf.write(src, resample_poly(samples[:, 0], 80, 441), 8000, subtype="ULAW")
    out = tmp_path / "out" / "jfk.wav"
    assert abs(noisy.add_noise(src, out, 20.0, READERS) - 20.0) < 0.01  # no RTTM: the whole file is the speech
    info = sf.info(out)
    assert (info.samplerate, info.subtype, info.frames) == (8000, "ULAW", sf.info(src).frames)
    assert not np.array_equal(sf.read(out, dtype="float32")[0], sf.read(src, dtype="float32")[0])
