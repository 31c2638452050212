"""Who spoke when in a mono recording: Silero VAD regions, resemblyzer embeddings, clustering.

``diarize(samples)`` cuts the speech regions that faster-whisper's bundled Silero VAD finds
into overlapping windows, embeds each window with resemblyzer's bundled ``VoiceEncoder``
(mel frames computed here, fed to the encoder directly), clusters the windows (count
estimated from 1 to ``max_speakers`` unless given) and labels every 10 ms speech frame by the
windows covering it. ``assign_speakers`` then gives each word the speaker it overlaps most.
"""

from __future__ import annotations

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
MIN_NEIGHBOURS = 6
"""Small graphs keep at least this many neighbours per window, so they stay connected."""
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
    graph_candidates: int = 8
    """How many neighbour counts (from n/10 to n/3 windows) the clustering graph tries."""
    min_turn_s: float = 0.3
    """Turns shorter than this merge into the neighbouring turn."""
    threads: int = 1
    """Torch threads for the encoder while it runs (more starve a busy 2-core machine)."""
    max_pause_s: float = 2.0
    """A pause shorter than this between two turns of the same speaker stays inside the turn."""


@dataclass(frozen=True)
class SpeakerTurn:
    """One stretch of speech by one speaker; times in seconds from the start."""

    start: float
    end: float
    speaker: str


@lru_cache(maxsize=1)
def load_encoder():
    """resemblyzer's ``VoiceEncoder`` on CPU with its bundled weights, loaded once."""
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
    from scipy.fft import rfft

    padded = np.pad(samples.astype(np.float32), N_FFT // 2)
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, N_FFT), strides=(padded.strides[0] * HOP, padded.strides[0])
    )
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    bins = rfft(frames * window, axis=1)
    power = bins.real**2 + bins.imag**2
    return power @ mel_filters().T


def speech_regions(samples: np.ndarray, options: DiarizeOptions) -> list[tuple[int, int]]:
    """Speech regions as (start, end) mel-frame indexes, from faster-whisper's Silero VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(
        threshold=options.vad_threshold,
        min_silence_duration_ms=options.min_silence_ms,
        speech_pad_ms=options.speech_pad_ms,
    )
    return [(s["start"] // HOP, s["end"] // HOP) for s in get_speech_timestamps(samples, vad)]


def speech_seconds(samples: np.ndarray, options: DiarizeOptions | None = None) -> float:
    """Seconds of speech the VAD finds in ``samples``."""
    return sum(b - a for a, b in speech_regions(samples, options or DiarizeOptions())) / FRAMES_PER_S


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


def embed(mel: np.ndarray, spans: list[tuple[int, int]], threads: int = 1, batch: int = 256) -> np.ndarray:
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
    # torch's thread count is process-wide: set, never saved and restored (a restore races with
    # other threads). Parley's torch models all run with one thread beside transcription.
    torch.set_num_threads(threads)
    with torch.no_grad():
        for i in range(0, len(stack), batch):
            out.append(encoder(torch.from_numpy(stack[i : i + batch])).numpy())
    return np.concatenate(out)


def embed_spans(samples: np.ndarray, spans_s: list[tuple[float, float]] | None = None,
                options: DiarizeOptions | None = None) -> np.ndarray | None:
    """One voice embedding (L2-normalised mean of window embeddings) for the speech inside
    ``spans_s`` (seconds; default: all speech). None when there is too little speech."""
    options = options or DiarizeOptions()
    regions = speech_regions(samples, options)
    if spans_s is not None:
        regions = clip_regions(regions, [(round(a * FRAMES_PER_S), round(b * FRAMES_PER_S)) for a, b in spans_s])
    spans = windows(regions, options)
    if not spans:
        return None
    mean = embed(mel_frames(normalise_level(samples, regions)), spans, options.threads).mean(axis=0)
    return mean / np.linalg.norm(mean)


def clip_regions(regions: list[tuple[int, int]], keep: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``regions`` that lie inside ``keep`` (both lists of frame ranges)."""
    out = []
    for a, b in regions:
        for c, d in keep:
            lo, hi = max(a, c), min(b, d)
            if lo < hi:
                out.append((lo, hi))
    return sorted(out)


def spectrum(sim: np.ndarray, order: np.ndarray, n_keep: int, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest eigenvalues and eigenvectors of the normalised Laplacian of the similarity graph
    in which every window keeps its ``n_keep`` most similar windows (``order``: each row's
    windows from most to least similar), made symmetric."""
    from scipy.linalg import eigh

    mask = np.zeros_like(sim, dtype=bool)
    np.put_along_axis(mask, order[:, :n_keep], True, axis=1)
    graph = np.where(mask | mask.T, sim, 0.0).astype(np.float32)
    np.fill_diagonal(graph, 0.0)
    scale = 1.0 / np.sqrt(graph.sum(axis=1) + 1e-9)
    laplacian = np.eye(len(graph), dtype=np.float32) - scale[:, None] * graph * scale[None, :]
    return eigh(laplacian, subset_by_index=[0, min(n_values, len(sim)) - 1])


def cluster(vectors: np.ndarray, n_speakers: int | None, options: DiarizeOptions) -> np.ndarray:
    """Cluster labels 0..k-1 per embedding by spectral clustering with an auto-tuned graph
    (NME-SC, Park et al. 2019): among candidate neighbour counts, the graph whose largest
    eigengap is widest for its density wins; k is that eigengap's position unless given."""
    from sklearn.cluster import KMeans

    n = len(vectors)
    if n < 3:
        return np.zeros(n, dtype=int)
    sim = np.clip(vectors @ vectors.T, 0.0, 1.0)
    order = np.argsort(-sim, axis=1)
    lowest = min(n - 1, max(MIN_NEIGHBOURS, n // 10))
    candidates = np.unique(np.linspace(lowest, max(lowest, n // 3), options.graph_candidates).round().astype(int))
    top = min(options.max_speakers, n - 1)
    best: tuple[float, int, np.ndarray] | None = None
    for n_keep in candidates:
        values, vecs = spectrum(sim, order, int(n_keep), top + 1)
        gaps = np.diff(values)[options.min_speakers - 1 :]
        k = int(np.argmax(gaps)) + options.min_speakers
        ratio = n_keep / max(float(gaps.max()), 1e-9)
        if best is None or ratio < best[0]:
            best = (ratio, k if n_speakers is None else min(n_speakers, n), vecs)
    _, k, vecs = best
    if k == 1:
        return np.zeros(n, dtype=int)
    points = vecs[:, :k] / np.maximum(np.linalg.norm(vecs[:, :k], axis=1, keepdims=True), 1e-9)
    return KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(points)


def diarize(
    samples: np.ndarray, *, n_speakers: int | None = None, options: DiarizeOptions | None = None
) -> list[SpeakerTurn]:
    """Speaker turns of a 16 kHz mono recording; speakers named S1, S2, ... by first appearance."""
    options = options or DiarizeOptions()
    regions = speech_regions(samples, options)
    if not regions:
        return []
    spans = windows(regions, options)
    vectors = embed(mel_frames(normalise_level(samples, regions)), spans, options.threads)
    labels = cluster(vectors, n_speakers, options)
    return turns_from_frames(label_frames(regions, spans, vectors, labels), options)


def label_frames(
    regions: list[tuple[int, int]], spans: list[tuple[int, int]], vectors: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Speaker index per 10 ms frame (-1 = no speech): the centroid the covering windows favour.
    Speech too short to embed takes the label of the nearest embedded window (0 if none)."""
    n = max(b for _, b in regions)
    if not spans:
        out = np.full(n, -1, dtype=int)
        for a, b in regions:
            out[a:b] = 0
        return out
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
        if count[a:b].all():  # windows cover a region wholly or not at all
            out[a:b] = np.argmax(score[a:b], axis=1)
        else:  # too short to embed: the label of the nearest window, before or after
            near = min(spans, key=lambda span: max(span[0] - b, a - span[1], 0))
            out[a:b] = int(np.argmax(score[near[0]]))
    return out


def turns_from_frames(frame_labels: np.ndarray, options: DiarizeOptions) -> list[SpeakerTurn]:
    """Runs of equal frame labels become turns: runs shorter than ``min_turn_s`` take their
    longer neighbour's label, pauses under ``max_pause_s`` inside one speaker's speech are
    kept in the turn, and speakers are named S1, S2, ... in order of first appearance."""
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(frame_labels)) + 1, [len(frame_labels)]])
    runs = [[int(a), int(b), int(frame_labels[a])] for a, b in zip(bounds[:-1], bounds[1:]) if frame_labels[a] >= 0]
    shortest = round(options.min_turn_s * FRAMES_PER_S)
    while True:
        short = [j for j, (a, b, _) in enumerate(runs) if b - a < shortest and _neighbour(runs, j) is not None]
        if not short:
            break
        j = min(short, key=lambda j: runs[j][1] - runs[j][0])
        runs[j][2] = _neighbour(runs, j)[2]
        runs = _join(runs, max_gap=1)
    runs = _join(runs, max_gap=round(options.max_pause_s * FRAMES_PER_S))
    names: dict[int, str] = {}
    for _, _, lab in runs:
        names.setdefault(lab, f"S{len(names) + 1}")
    return [SpeakerTurn(a / FRAMES_PER_S, b / FRAMES_PER_S, names[lab]) for a, b, lab in runs]


def _neighbour(runs: list[list[int]], j: int) -> list[int] | None:
    """The longer of the runs touching run ``j`` on either side (None if it stands alone)."""
    a, b, _ = runs[j]
    touching = [r for r in (runs[j - 1] if j > 0 else None, runs[j + 1] if j + 1 < len(runs) else None)
                if r is not None and (r[1] == a or r[0] == b)]
    return max(touching, key=lambda r: r[1] - r[0], default=None)


def _join(runs: list[list[int]], max_gap: int) -> list[list[int]]:
    """Merge consecutive runs of one label separated by fewer than ``max_gap`` frames."""
    out: list[list[int]] = []
    for a, b, lab in runs:
        if out and out[-1][2] == lab and a - out[-1][1] < max_gap:
            out[-1][1] = b
        else:
            out.append([a, b, lab])
    return out


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
