"""Hold music in a recording, and the recorded announcements played over it.

When a staff member puts a customer on hold, a call recording carries the phone system's music
until they come back, often with a recorded voice now and then ("thank you for holding, your
call is important to us"). That voice is neither the staff member nor the customer: clustered
with the two people's voices it pulled one of them towards it, and its script-like words ("thank
you for holding") made a customer read as staff (``bench/hold.py``; bench/SPEAKERS.md,
round 30).

Music is told from speech and from office noise by its sound alone, with no model: it is loud
(near the speech's level), tonal (a low spectral flatness: notes are peaks, babble and hiss are
broad) and stays tonal for seconds, where speech breaks into consonants and pauses several times
a second. A hold is a run of music at least ``MIN_MUSIC_S`` long with the runs of music (at
least ``MIN_JOIN_S``) less than ``MAX_ANNOUNCEMENT_GAP_S`` before or after it; what lies between
them (an announcement, music before and after it) belongs to it.
"""

from __future__ import annotations

import numpy as np

from .speaker_models import HOP, SAMPLE_RATE

HOLD_SPEAKER = "HOLD"
"""The speaker of a hold's turns and of the words of its recorded announcements (role ``unknown``)."""
N_FFT = 512
BAND_HZ = (300.0, 3400.0)
"""The telephone band: the same measure on 8 kHz and 16 kHz recordings."""
MAX_FLATNESS = 0.06
"""A frame is tonal below this spectral flatness (geometric over arithmetic mean of the power in
the band): the synthetic hold music 0.006-0.012 (10th-90th percentile), office babble and hiss
0.12-0.49, voiced speech 0.005-0.03 (which the next two rules leave out)."""
BELOW_LOUD_DB = 25.0
"""... and loud: within this of the recording's loud frames (the 90th percentile of frame levels)."""
TONAL_SHARE = 0.9
"""A frame is music where this share of the frames within ``SPAN_S`` around it are tonal and loud:
speech breaks for consonants and pauses several times a second."""
SPAN_S = 1.5
STEADY_LAG = 5
MIN_STEADY = 0.7
"""... and steady: the spectrum (log power in the band) of each frame is this alike (correlation)
to that of the frame ``STEADY_LAG`` x 10 ms later, on average over ``SPAN_S``: notes hold their
peaks, speech moves its formants and pitch (the synthetic calls: music 0.85 at its 5th percentile,
speech 0.40 at its median, 0.71 at its 99th)."""
MIN_JOIN_S = 2.0
"""Shortest run of music that counts at all (and joins a hold nearby): pyannote's real call has a
1.7 s run of tonal, steady speech, which with 1.0 joined 20 s of music put in before it and took
11.7 s of the people's speech into the hold; the synthetic holds' pieces of music between
announcements are 1.5 s and longer, and with 2.0 every announcement of seed 54's holds is still
inside its hold (held out, seed 58: 93% of the announcements' time; the rest had under 2 s of
music on one side)."""
MIN_MUSIC_S = 3.0
"""Shortest run of music that makes a hold (shorter runs join one nearby)."""
MAX_ANNOUNCEMENT_GAP_S = 15.0
"""Two runs of music less than this apart are one hold, and what lies between them (an
announcement over ducked music) is part of it."""


def frame_measures(samples: np.ndarray, block_frames: int = 6000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 10 ms frame of ``samples`` (16 kHz): its level in the band (dB), its spectral flatness
    there, and how alike its log spectrum is to that of the frame ``STEADY_LAG`` before it (1 for
    the first ``STEADY_LAG`` frames); computed a minute of frames at a time (a 60-minute
    recording's whole spectrogram would take about a gigabyte)."""
    from scipy.signal import stft

    n_frames = max(0, (len(samples) - N_FFT) // HOP + 1)
    level, flatness, alike = (np.ones(n_frames, np.float32) for _ in range(3))
    lag = STEADY_LAG
    for first in range(0, n_frames, block_frames):
        lo = max(0, first - lag)  # the frames before the block that its first frames are compared with
        last = min(n_frames, first + block_frames)
        piece = samples[lo * HOP: (last - 1) * HOP + N_FFT].astype(np.float32)
        freqs, _, spec = stft(piece, SAMPLE_RATE, nperseg=N_FFT, noverlap=N_FFT - HOP, boundary=None, padded=False)
        band = (freqs > BAND_HZ[0]) & (freqs < BAND_HZ[1])
        power = np.abs(spec[band]) ** 2 + 1e-12
        logs = np.log(power)
        level[first:last] = (10.0 * np.log10(power.sum(axis=0)))[first - lo:]
        flatness[first:last] = (np.exp(logs.mean(axis=0)) / power.mean(axis=0))[first - lo:]
        logs -= logs.mean(axis=0)
        now, before = logs[:, lag:], logs[:, :-lag]
        corr = np.sum(now * before, axis=0) / np.sqrt(np.sum(now ** 2, axis=0) * np.sum(before ** 2, axis=0))
        # corr[j] compares frame lo + lag + j with the frame lag before it
        start = max(first, lag)
        alike[start:last] = corr[start - lo - lag:]
    return level, flatness, alike


def hold_stretches(samples: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) seconds of each hold in ``samples`` (mono, 16 kHz): runs of music with the
    announcements between them; [] when there is none."""
    if len(samples) < SAMPLE_RATE * MIN_MUSIC_S:
        return []
    level, flatness, alike = frame_measures(samples)
    loud = np.percentile(level, 90)
    tonal = (flatness < MAX_FLATNESS) & (level >= loud - BELOW_LOUD_DB)
    span = max(1, int(SPAN_S * SAMPLE_RATE / HOP))
    share = np.convolve(tonal.astype(float), np.ones(span) / span, mode="same")
    steady = np.convolve(alike.astype(float), np.ones(span) / span, mode="same")
    music = (share >= TONAL_SHARE) & (steady >= MIN_STEADY)
    half = span // 2  # the smoothing shrank each run by half a span at either end
    runs = [(max(0, a - half), min(len(music), b + half)) for a, b in runs_of(music)]
    runs = [(a, b) for a, b in runs if (b - a) * HOP / SAMPLE_RATE >= MIN_JOIN_S]
    holds: list[list[int]] = []  # runs joined across announcements
    gap = int(MAX_ANNOUNCEMENT_GAP_S * SAMPLE_RATE / HOP)
    for a, b in runs:
        if holds and a - holds[-1][1] <= gap:
            holds[-1][1] = b
        else:
            holds.append([a, b])
    return [(round(a * HOP / SAMPLE_RATE, 2), round(b * HOP / SAMPLE_RATE + N_FFT / SAMPLE_RATE / 2, 2)) for a, b in holds
            if (b - a) * HOP / SAMPLE_RATE >= MIN_MUSIC_S]


def runs_of(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) indices of each run of True in ``mask`` (end exclusive)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def uncovered(stretches: list[tuple[float, float]], end: float) -> list[tuple[float, float]]:
    """The stretches from 0 to ``end`` (seconds) that none of ``stretches`` covers, in order."""
    out, reach = [], 0.0
    for a, b in sorted(stretches):
        if a > reach:
            out.append((reach, a))
        reach = max(reach, b)
    if end > reach:
        out.append((reach, end))
    return out


def silenced(samples: np.ndarray, stretches: list[tuple[float, float]]) -> np.ndarray:
    """``samples`` with ``stretches`` (seconds) set to silence (a copy; the same array when none)."""
    if not stretches:
        return samples
    out = samples.copy()
    for a, b in stretches:
        out[int(a * SAMPLE_RATE): int(b * SAMPLE_RATE)] = 0.0
    return out
