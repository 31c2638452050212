"""Word error rate against reference transcripts, with lost words apart from inserted ones.

References are read from STM files (``uri channel speaker start end text``: the pyannote call, the
calls `bench/calls.py` synthesises), from ``NAME.ref.json`` files that `bench/make_corpus.py`
writes (``{"channels": [text, ...]}``), or given as plain text. Both sides go through Whisper's
English text normaliser (numbers, spelling, punctuation), so "five" and "5" match.

A stereo recording is scored per channel (each channel's words in time order against that
channel's reference); a mono one as one text. Substitutions and deletions (words spoken that the
transcript lost or got wrong) are reported apart from insertions (words the transcript added:
crosstalk, or a repetition loop), so that extra words cannot hide lost ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jiwer


@lru_cache(maxsize=1)
def _normaliser():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer({})


def normalise(text: str) -> str:
    return " ".join(_normaliser()(text).split())


@dataclass
class Errors:
    ref_words: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    def __iadd__(self, other: "Errors") -> "Errors":
        self.ref_words += other.ref_words
        self.substitutions += other.substitutions
        self.deletions += other.deletions
        self.insertions += other.insertions
        return self

    @property
    def wer(self) -> float:
        return (self.substitutions + self.deletions + self.insertions) / max(self.ref_words, 1)

    @property
    def lost(self) -> float:
        """Substitutions and deletions per reference word: what was said and not kept."""
        return (self.substitutions + self.deletions) / max(self.ref_words, 1)

    def as_dict(self) -> dict:
        return {"ref_words": self.ref_words, "sub": self.substitutions, "del": self.deletions, "ins": self.insertions,
                "wer": round(self.wer, 4), "lost": round(self.lost, 4)}


def score(reference: str, hypothesis: str) -> Errors:
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return Errors(0, 0, 0, len(hyp.split()))
    if not hyp:
        return Errors(len(ref.split()), 0, len(ref.split()), 0)
    out = jiwer.process_words(ref, hyp)
    return Errors(len(ref.split()), out.substitutions, out.deletions, out.insertions)


def score_channels(references: list[str], hypotheses: list[str]) -> Errors:
    """Channel by channel (a missing hypothesis channel counts as nothing heard)."""
    total = Errors()
    for i, ref in enumerate(references):
        total += score(ref, hypotheses[i] if i < len(hypotheses) else "")
    return total


def reference_for(audio: Path) -> list[str] | None:
    """The reference text per channel of ``audio``, from ``NAME.ref.json`` or ``NAME.stm`` beside
    it; None when there is none."""
    stem = audio.with_suffix("")
    ref_json = stem.with_name(stem.name + ".ref.json")
    if ref_json.exists():
        return json.loads(ref_json.read_text())["channels"]
    stm = audio.with_suffix(".stm")
    if stm.exists():
        return read_stm(stm)
    return None


def read_stm(path: Path) -> list[str]:
    """Channel texts (channel 1 first) of an STM file, turns in time order."""
    turns: dict[int, list[tuple[float, str]]] = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith(";;"):
            continue
        parts = line.split(maxsplit=5)
        text = parts[5] if len(parts) > 5 else ""
        turns.setdefault(int(parts[1]), []).append((float(parts[3]), text))
    return [" ".join(t for _, t in sorted(turns[c])) for c in sorted(turns)]
