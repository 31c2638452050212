"""Who spoke when in a mono recording: Silero VAD regions, resemblyzer embeddings, clustering.

``diarize(samples)`` cuts the speech regions that faster-whisper's bundled Silero VAD finds
into overlapping windows, embeds each window with resemblyzer's bundled ``VoiceEncoder``
(mel frames computed here, fed to the encoder directly), clusters the windows (count
estimated from 1 to ``max_speakers`` unless given) and labels every 10 ms speech frame by the
windows covering it. ``assign_speakers`` then gives each word the speaker it overlaps most.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .models import resolve_model
from .records import Word

SAMPLE_RATE = 16000
HOP = 160
"""Samples per mel frame (10 ms), as resemblyzer was trained."""
N_FFT = 400
N_MELS = 40
FRAMES_PER_S = SAMPLE_RATE // HOP
TARGET_DBFS = -30.0
"""Speech is scaled to this level before embedding (resemblyzer's ``normalize_volume``)."""


@dataclass
class DiarizeOptions:
    """How ``diarize`` cuts, embeds and clusters. Defaults were tuned on LibriSpeech mixtures
    and the pyannote telephone sample (see ``tests/test_diarize.py``)."""

    window_s: float = 1.6
    """Length of one embedding window in seconds (resemblyzer's partial utterance)."""
    hop_s: float = 0.8
    """Step between windows in seconds; smaller is finer and slower."""
    vad_threshold: float = 0.5
    """Silero speech probability above which a frame is speech."""
    min_silence_ms: int = 250
    """A pause at least this long splits a speech region."""
    speech_pad_ms: int = 60
    """Padding added around each speech region."""
    min_window_s: float = 0.4
    """Speech regions shorter than this are not embedded; they take their neighbours' label."""
    min_speakers: int = 1
    max_speakers: int = 6
    merge_threshold: float = 0.35
    """Cosine distance below which two clusters are one speaker (average linkage)."""
    min_turn_s: float = 0.3
    """Turns shorter than this merge into the neighbouring turn."""
    max_pause_s: float = 1.5
    """A pause shorter than this between two turns of the same speaker stays inside the turn."""


@dataclass(frozen=True)
class SpeakerTurn:
    """One stretch of speech by one speaker; times in seconds from the start."""

    start: float
    end: float
    speaker: str


def numba_cache_dir() -> None:
    """librosa (imported by resemblyzer) compiles with numba; give it a writable cache."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "parley-numba"))


@lru_cache(maxsize=1)
def load_encoder():
    """resemblyzer's ``VoiceEncoder`` on CPU with its bundled weights, loaded once."""
    numba_cache_dir()
    from resemblyzer import VoiceEncoder

    weights = Path(resolve_model("resemblyzer", kind="speaker").path) / "pretrained.pt"
    return VoiceEncoder("cpu", verbose=False, weights_fpath=weights)


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """Slaney-style mel filterbank (40 x 201), the same as ``librosa.filters.mel`` defaults."""
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_hz = np.linspace(0, SAMPLE_RATE / 2, 1 + N_FFT // 2)
    mel_hz = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(SAMPLE_RATE / 2)), N_MELS + 2))
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_frames(samples: np.ndarray) -> np.ndarray:
    """Power mel spectrogram, one row per 10 ms frame (frames x 40), as resemblyzer expects."""
    padded = np.pad(samples.astype(np.float32), N_FFT // 2)
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, N_FFT), strides=(padded.strides[0] * HOP, padded.strides[0])
    )
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power @ mel_filters().T).astype(np.float32)


def speech_regions(samples: np.ndarray, options: DiarizeOptions) -> list[tuple[int, int]]:
    """Speech regions as (start, end) mel-frame indexes, from faster-whisper's Silero VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(
        threshold=options.vad_threshold,
        min_silence_duration_ms=options.min_silence_ms,
        speech_pad_ms=options.speech_pad_ms,
    )
    return [(s["start"] // HOP, s["end"] // HOP) for s in get_speech_timestamps(samples, vad)]


def normalise_level(samples: np.ndarray, regions: list[tuple[int, int]]) -> np.ndarray:
    """Scale so that the speech (not the silence) sits at ``TARGET_DBFS``."""
    speech = np.concatenate([samples[a * HOP : b * HOP] for a, b in regions]) if regions else samples
    rms = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))) if len(speech) else 0.0
    if rms <= 1e-6:
        return samples
    return samples * (10 ** (TARGET_DBFS / 20) / rms)


def windows(regions: list[tuple[int, int]], options: DiarizeOptions) -> list[tuple[int, int]]:
    """Embedding windows (start, end frame) covering every region long enough to embed."""
    size = round(options.window_s * FRAMES_PER_S)
    hop = max(1, round(options.hop_s * FRAMES_PER_S))
    minimum = round(options.min_window_s * FRAMES_PER_S)
    out: list[tuple[int, int]] = []
    for start, end in regions:
        if end - start < minimum:
            continue
        if end - start <= size:
            out.append((start, end))
            continue
        starts = list(range(start, end - size + 1, hop))
        if starts[-1] + size < end:
            starts.append(end - size)
        out.extend((s, s + size) for s in starts)
    return out


def embed(mel: np.ndarray, spans: list[tuple[int, int]], batch: int = 256) -> np.ndarray:
    """One L2-normalised embedding per span of mel frames (short spans are zero-padded)."""
    import torch

    if not spans:
        return np.zeros((0, 256), dtype=np.float32)
    size = max(b - a for a, b in spans)
    stack = np.zeros((len(spans), size, N_MELS), dtype=np.float32)
    for i, (a, b) in enumerate(spans):
        stack[i, : b - a] = mel[a:b]
    encoder = load_encoder()
    out = []
    with torch.no_grad():
        for i in range(0, len(stack), batch):
            out.append(encoder(torch.from_numpy(stack[i : i + batch])).numpy())
    return np.concatenate(out)


def embed_speech(samples: np.ndarray, options: DiarizeOptions | None = None) -> np.ndarray | None:
    """One voice embedding for all the speech in ``samples`` (None when there is none)."""
    options = options or DiarizeOptions()
    regions = speech_regions(samples, options)
    spans = windows(regions, options)
    if not spans:
        return None
    vectors = embed(mel_frames(normalise_level(samples, regions)), spans)
    mean = vectors.mean(axis=0)
    return mean / np.linalg.norm(mean)


def cluster(vectors: np.ndarray, n_speakers: int | None, options: DiarizeOptions) -> np.ndarray:
    """Cluster labels 0..k-1 for each embedding; k given, or estimated by average linkage."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=int)
    tree = linkage(vectors, method="average", metric="cosine")
    if n_speakers is None:
        labels = fcluster(tree, t=options.merge_threshold, criterion="distance")
        k = int(np.clip(labels.max(), options.min_speakers, options.max_speakers))
    else:
        k = n_speakers
    k = min(k, len(vectors))
    return fcluster(tree, t=k, criterion="maxclust") - 1


def diarize(
    samples: np.ndarray, *, n_speakers: int | None = None, options: DiarizeOptions | None = None
) -> list[SpeakerTurn]:
    """Speaker turns of a 16 kHz mono recording; speakers named S1, S2, ... by first appearance."""
    options = options or DiarizeOptions()
    regions = speech_regions(samples, options)
    spans = windows(regions, options)
    if not spans:
        return [SpeakerTurn(a / FRAMES_PER_S, b / FRAMES_PER_S, "S1") for a, b in regions][:0] or (
            [SpeakerTurn(regions[0][0] / FRAMES_PER_S, regions[-1][1] / FRAMES_PER_S, "S1")] if regions else []
        )
    vectors = embed(mel_frames(normalise_level(samples, regions)), spans)
    labels = cluster(vectors, n_speakers, options)
    frame_labels = label_frames(regions, spans, vectors, labels)
    return turns_from_frames(frame_labels, options)


def label_frames(
    regions: list[tuple[int, int]], spans: list[tuple[int, int]], vectors: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Speaker index per 10 ms frame (-1 = no speech): the centroid the covering windows favour."""
    n = max(b for _, b in regions)
    k = int(labels.max()) + 1
    centroids = np.stack([vectors[labels == c].mean(axis=0) for c in range(k)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    similarity = vectors @ centroids.T
    score = np.zeros((n, k), dtype=np.float32)
    count = np.zeros(n, dtype=np.float32)
    for (a, b), row in zip(spans, similarity):
        score[a:b] += row
        count[a:b] += 1
    out = np.full(n, -1, dtype=int)
    for a, b in regions:
        covered = count[a:b] > 0
        if not covered.any():
            idx = np.searchsorted(np.array([s for s, _ in spans]), a)
            near = spans[min(idx, len(spans) - 1)]
            out[a:b] = int(np.argmax(score[near[0]]))
            continue
        seg = np.argmax(score[a:b], axis=1)
        # frames at the edge of a region may lack a window: take the nearest covered frame's label
        idx = np.where(covered)[0]
        nearest = idx[np.clip(np.searchsorted(idx, np.arange(b - a)), 0, len(idx) - 1)]
        out[a:b] = np.where(covered, seg, seg[nearest])
    return out


def turns_from_frames(frame_labels: np.ndarray, options: DiarizeOptions) -> list[SpeakerTurn]:
    """Runs of equal frame labels become turns; short runs join a neighbour; names by order."""
    runs: list[list[int]] = []  # [start, end, label]
    for i, lab in enumerate(frame_labels):
        if lab < 0:
            continue
        if runs and runs[-1][2] == lab and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1, int(lab)])
    shortest = round(options.min_turn_s * FRAMES_PER_S)
    changed = True
    while changed and len(runs) > 1:
        changed = False
        for j, (a, b, lab) in enumerate(runs):
            if b - a >= shortest:
                continue
            prev = runs[j - 1] if j > 0 and runs[j - 1][1] == a else None
            nxt = runs[j + 1] if j + 1 < len(runs) and runs[j + 1][0] == b else None
            target = prev if prev and (not nxt or prev[1] - prev[0] >= nxt[1] - nxt[0]) else nxt
            if target is None:
                continue
            runs[j][2] = target[2]
            changed = True
        merged: list[list[int]] = []
        for run in runs:
            if merged and merged[-1][2] == run[2] and merged[-1][1] == run[0]:
                merged[-1][1] = run[1]
            else:
                merged.append(run)
        runs = merged
    gap = round(options.max_pause_s * FRAMES_PER_S)
    joined: list[list[int]] = []
    for run in runs:
        if joined and joined[-1][2] == run[2] and run[0] - joined[-1][1] < gap:
            joined[-1][1] = run[1]
        else:
            joined.append(run)
    runs = joined
    names: dict[int, str] = {}
    for _, _, lab in runs:
        names.setdefault(lab, f"S{len(names) + 1}")
    return [SpeakerTurn(a / FRAMES_PER_S, b / FRAMES_PER_S, names[lab]) for a, b, lab in runs]


def assign_speakers(words: list[Word], turns: list[SpeakerTurn]) -> list[Word]:
    """Set ``Word.speaker`` to the turn overlapping the word most (nearest turn when none)."""
    if not turns:
        return words
    starts = np.array([t.start for t in turns])
    ends = np.array([t.end for t in turns])
    for word in words:
        overlap = np.minimum(ends, word.end) - np.maximum(starts, word.start)
        if overlap.max() > 0:
            word.speaker = turns[int(np.argmax(overlap))].speaker
        else:
            mid = (word.start + word.end) / 2
            gap = np.maximum(starts - mid, mid - ends)
            word.speaker = turns[int(np.argmin(gap))].speaker
    return words
