"""Repetition loops in a transcript: the failure Whisper falls into when decoding goes wrong.

A loop is a unit of one or more words said back to back again and again ("Nadeen Nadeen Nadeen
Nadeen Nadeen", "I'll call N. I'll call N. I'll call N.", "-1 -1 -1 -1 -1"). People repeat
themselves too ("no, no, no", "thank you, thank you"), so a loop needs more repeats than talk
does: a one-word unit four times, a longer unit three times over at least eight words, digits
more than a card number has, more digits or single letters in a row than a caller reads or
spells out at once. The same
test serves the decoder's guard (``pipeline/transcribe.py`` decodes a looping window again) and
the benchmark's loop count (``bench/run.py``).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Sequence

MAX_UNIT_WORDS = 12
"""Longest unit (in words) looked for."""
MIN_REPEATS_ONE_WORD = 4
MIN_REPEATS = 3
MIN_LOOP_WORDS = 8
"""A unit of two or more words is a loop when it repeats MIN_REPEATS times over at least this many words."""
COMPRESSION_RATIO_LIMIT = 2.4
"""faster-whisper's own threshold: text that compresses better than this repeats itself."""

_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")


MAX_SPOKEN_DIGITS = 19
"""A run of repeated digits is a loop only when it is longer than the longest number a caller
reads out (a card number has at most 19 digits: "four one one one, one one one one, ...")."""
MIN_INNER_LOOP_CHARS = 24
"""A single token made of one short piece over and over ("42424242...", "hahaha...") is a loop
when the run is at least this long: a card number written without spaces has 19 digits at most."""
_INNER = re.compile(r"(.{1,8}?)\1{2,}")
MAX_DIGIT_RUN = 30
"""Digits in a row (any digits, not only repeats) beyond what a caller reads out at once: a card
number (19 at most), its expiry (4) and security code (4) run together are 27. "K -9 -9 -9 -8
-9 -9 -7 -8 ..." for the reference "S K 9 9 9 9", forty digits on, took the rest of its window."""
MAX_SPELLED_LETTERS = 20
"""A run of single letters is a loop only when it is longer than anything spelled out letter by
letter on a call (a name, a postcode, a reference): "L -E -N -E -R -O -I -N -E -N -N -E ..." for
a six-character reference, forty letters on, took the rest of its window's words."""


@dataclass(frozen=True)
class Loop:
    start: int
    """Index of the first word of the repeated run."""
    unit: int
    """Words in the unit."""
    repeats: int
    inner: tuple[int, int, int] | None = None
    """A loop inside one token: (start, length of the piece, end) of the run in that token."""
    span: int = 0
    """Tokens from ``start`` to the end of the run, punctuation-only tokens included (0: unit x repeats)."""

    @property
    def end(self) -> int:
        """Index after the last word of the run."""
        return self.start + (self.span or self.unit * self.repeats)


_DIGIT_WORDS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())} | {"oh": "0"}


def _key(word: str) -> str:
    key = _PUNCT.sub("", word.lower())
    return _DIGIT_WORDS.get(key, key)


def is_spoken(token: str) -> bool:
    """Whether ``token`` has a letter or digit (punctuation-only tokens are skipped)."""
    return bool(_key(token))


def find_loops(words: Sequence[str]) -> list[Loop]:
    """The repetition loops in ``words`` (tokens as spoken; punctuation, and tokens that are
    only punctuation, ignored), left to right, not overlapping; each is the longest run found at
    its start. ``Loop`` positions are indices into ``words``."""
    spoken = [i for i, w in enumerate(words) if is_spoken(w)]
    found = _find([_key(words[i]) for i in spoken], [words[i] for i in spoken])
    out = []
    for loop in found:  # back to positions in ``words``
        last = spoken[loop.end - 1] + 1
        out.append(Loop(spoken[loop.start], loop.unit, loop.repeats, loop.inner, span=last - spoken[loop.start]))
    return out


def _find(keys: list[str], words: list[str]) -> list[Loop]:
    loops: list[Loop] = []
    i = 0
    while i < len(keys):
        best: Loop | None = Loop(i, 1, 1) if keys[i].isdigit() and len(keys[i]) > MAX_SPOKEN_DIGITS else None
        letters, digits = _run(keys, i, _is_letter_key), _run(keys, i, str.isdigit)
        if letters > MAX_SPELLED_LETTERS:
            best = Loop(i, 1, letters)
        elif digits and sum(len(k) for k in keys[i : i + digits]) > MAX_DIGIT_RUN:
            best = Loop(i, 1, digits)
        for unit in range(1, MAX_UNIT_WORDS + 1):
            if i + 2 * unit > len(keys):
                break
            repeats = 1
            while keys[i + repeats * unit : i + (repeats + 1) * unit] == keys[i : i + unit]:
                repeats += 1
            if _is_loop(unit, repeats, keys[i : i + unit]) and (best is None or unit * repeats > best.unit * best.repeats):
                best = Loop(i, unit, repeats)
        if best is None:
            best = _inner_loop(words[i], i)
        if best is not None:
            loops.append(best)
            i = best.end
        else:
            i += 1
    return loops


def _run(keys: list[str], i: int, is_part) -> int:
    """How many keys in a row from ``i`` pass ``is_part`` (single letters, numbers)."""
    n = 0
    while i + n < len(keys) and is_part(keys[i + n]):
        n += 1
    return n


def _is_letter_key(key: str) -> bool:
    return len(key) == 1 and key.isalpha()


def is_spelled_run(tokens: Sequence[str]) -> bool:
    """Whether ``tokens`` (the spoken ones of a loop) are single letters spelled out ("L -E -N
    -E ..."), more than one letter among them: a run of one letter repeated is a plain loop."""
    keys = [_key(t) for t in tokens]
    return all(_is_letter_key(k) for k in keys) and len(set(keys)) > 1


def _inner_loop(token: str, index: int) -> Loop | None:
    for run in _INNER.finditer(token):
        if run.end() - run.start() >= MIN_INNER_LOOP_CHARS:
            return Loop(index, 1, 1, (run.start(), len(run.group(1)), run.end()))
    return None


def cut_inner(token: str, loop: Loop, keep: int) -> str:
    """``token`` with the run of ``loop.inner`` cut back to ``keep`` pieces."""
    assert loop.inner is not None
    start, piece, end = loop.inner
    return token[: start + keep * piece] + token[end:]


def _is_loop(unit: int, repeats: int, keys: Sequence[str]) -> bool:
    if all(k.isdigit() for k in keys):  # "4 1 1 1 1 1 1 ...": a card number repeats its digits
        return sum(len(k) for k in keys) * repeats > MAX_SPOKEN_DIGITS
    if unit == 1:
        return repeats >= MIN_REPEATS_ONE_WORD
    return repeats >= MIN_REPEATS and unit * repeats >= MIN_LOOP_WORDS


NEAR_LOOP_NGRAM = 3
NEAR_LOOP_REPEATS = 4
NEAR_LOOP_GAP = 12
"""A near loop: the same 3 words (not all digits) said 4 or more times, each within 12 words of
the last ("my name is Robert Samen, and my name is Robert Samen. My name is Robert Saman, and my
name's ..."): the decoder stuck on a phrase with small changes, which ``find_loops`` (exact
repeats) does not see. Used to judge a decoding, not to cut text."""


def find_near_loops(words: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) index ranges in ``words`` of near loops, not overlapping, left to right."""
    spoken = [i for i, w in enumerate(words) if is_spoken(w)]
    keys = [_key(words[i]) for i in spoken]
    seen: dict[tuple[str, ...], list[int]] = {}
    for j in range(len(keys) - NEAR_LOOP_NGRAM + 1):
        gram = tuple(keys[j : j + NEAR_LOOP_NGRAM])
        if not all(k.isdigit() for k in gram):
            seen.setdefault(gram, []).append(j)
    spans = []
    for at in seen.values():
        apart = at[:1]  # occurrences that do not overlap the one before ("no no no no": one "no no no")
        for j in at[1:]:
            if j - apart[-1] >= NEAR_LOOP_NGRAM:
                apart.append(j)
        run = apart[:1]
        for j in apart[1:] + [None]:
            if j is not None and j - run[-1] <= NEAR_LOOP_GAP:
                run.append(j)
                continue
            if len(run) >= NEAR_LOOP_REPEATS:
                spans.append((spoken[run[0]], spoken[run[-1] + NEAR_LOOP_NGRAM - 1] + 1))
            run = [j]
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def has_loop(text: str) -> bool:
    return bool(find_loops(text.split()))


def compression_ratio(text: str) -> float:
    """Length of the text over its zlib-compressed length (faster-whisper's measure)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0
