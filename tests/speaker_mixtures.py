"""Conversations made from real LibriSpeech clips, for the diarization and role tests.

Speakers take turns (A B A B ... or A B C A B C) with short pauses between them; the reference
of who spoke when is exact because every clip was trimmed of its leading and trailing silence
before it was copied into ``tests/data/librispeech`` (see ``tests/data/SOURCES.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from pathlib import Path

import numpy as np

from pipeline.diarize import SpeakerTurn, diarize

CLIPS = Path(__file__).resolve().parent / "data" / "librispeech"
SPEAKERS = tuple(sorted(p.name for p in CLIPS.iterdir() if p.is_dir()))
PAUSES_S = (0.35, 0.6, 0.45, 0.8, 0.5, 0.3)
"""Pauses between turns, used in turn."""
RATE = 16000
PAIRS = tuple(combinations(SPEAKERS, 2))
TRIPLES = tuple(combinations(SPEAKERS, 3))


@lru_cache(maxsize=None)
def clips(speaker: str, kind: str) -> tuple[np.ndarray, ...]:
    """The decoded clips of ``speaker``: kind ``mix`` (for conversations) or ``enrol``."""
    from faster_whisper import decode_audio

    return tuple(decode_audio(str(p), sampling_rate=RATE) for p in sorted((CLIPS / speaker).glob(f"*-{kind}.opus")))


def enrol_paths(speaker: str) -> list[Path]:
    return sorted((CLIPS / speaker).glob("*-enrol.opus"))


@dataclass(frozen=True)
class Mixture:
    samples: np.ndarray
    reference: tuple[tuple[float, float, str], ...]
    """(start, end, speaker) per turn, seconds."""


@lru_cache(maxsize=None)
def mixture(speakers: tuple[str, ...]) -> Mixture:
    """Six alternating turns: 3 clips each for two speakers, 2 each for three."""
    rounds = 6 // len(speakers)
    n = len(speakers)
    return joined([(speakers[i % n], clips(speakers[i % n], "mix")[i // n]) for i in range(rounds * n)])


def joined(turns: list[tuple[str, np.ndarray]]) -> Mixture:
    """(speaker, clip) turns one after another, the pauses of ``PAUSES_S`` between them."""
    parts, reference, t = [], [], 0.0
    for i, (speaker, clip) in enumerate(turns):
        pause = PAUSES_S[i % len(PAUSES_S)]
        parts += [np.zeros(round(pause * RATE), np.float32), clip]
        t += pause
        reference.append((t, t + len(clip) / RATE, speaker))
        t += len(clip) / RATE
    parts.append(np.zeros(RATE // 2, np.float32))
    return Mixture(np.concatenate(parts), tuple(reference))


@lru_cache(maxsize=None)
def with_a_short_speaker(a: str, b: str, short: str, seconds: float = 2.0) -> Mixture:
    """Two speakers with two long turns each and a third who says ``seconds`` twice (the
    first seconds of their enrolment clips, which no other mixture uses): A B C A B C."""
    turns = [(a, clips(a, "mix")[0]), (b, clips(b, "mix")[0]), (short, clips(short, "enrol")[0][: round(seconds * RATE)]),
             (a, clips(a, "mix")[1]), (b, clips(b, "mix")[1]), (short, clips(short, "enrol")[1][: round(seconds * RATE)])]
    return joined(turns)


@lru_cache(maxsize=None)
def diarized(speakers: tuple[str, ...]) -> tuple[SpeakerTurn, ...]:
    """Parley's diarization of ``mixture(speakers)``, computed once per test session."""
    return tuple(diarize(mixture(speakers).samples))


def der(mix: Mixture, turns, collar: float = 0.25) -> float:
    """Diarization error rate with pyannote.metrics (overlap scored, ``collar`` forgiven)."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for start, end, speaker in mix.reference:
        ref[Segment(start, end)] = speaker
    for turn in turns:
        hyp[Segment(turn.start, turn.end)] = turn.speaker
    uem = Timeline([Segment(0, len(mix.samples) / RATE)])
    return float(DiarizationErrorRate(collar=collar, skip_overlap=False)(ref, hyp, uem=uem))
