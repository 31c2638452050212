"""Phrases as speech recognition writes them: canonical text and approximate phrase matching.

What a staff member says and what the transcript holds differ in small, regular ways: word
boundaries ("maybe" for "may be"), contractions ("it's", "it is"), a sound heard as a
neighbouring word ("the call" for "this call", "record it" for "recorded"), a word slipped in
("this call, uh, may be recorded"). A rule phrase should survive them, or a staff member is marked
down for a disclosure they made.

``canonical`` puts text into one form (lower case, contractions and run-together words expanded,
punctuation dropped). ``find_phrase`` looks for a phrase in an utterance on the canonical letters
with the spaces taken out, so word boundaries do not matter, allowing a few letters to differ:
about one in nine for phrases of nine letters or more (``FUZZY_MIN_LETTERS``); shorter phrases
must match exactly. "thank you for holding" does not pass for "thank you for calling" (83 of 100).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

FUZZY_MIN_LETTERS = 9
"""Phrases with fewer letters than this (without spaces) must match exactly."""
FUZZY_MIN_SCORE = 88.0
"""rapidfuzz's partial_ratio (0-100) a phrase needs: for 9-16 letters one letter may differ,
for 17 or more two, for 25 or more three."""

_EXPANSIONS = {
    "maybe": "may be", "gonna": "going to", "wanna": "want to", "gotta": "got to", "alright": "all right",
    "okay": "ok", "cannot": "can not", "can't": "can not", "won't": "will not", "shan't": "shall not",
    "i'm": "i am", "let's": "let us", "'cause": "because", "anytime": "any time", "anymore": "any more",
    "everyday": "every day", "goodbye": "good bye", "bye-bye": "bye bye", "thankyou": "thank you",
}
_SUFFIXES = (("n't", " not"), ("'re", " are"), ("'ve", " have"), ("'ll", " will"), ("'d", " would"), ("'s", " is"))
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def canonical(text: str) -> str:
    """Lower case, apostrophes straightened, contractions and run-together words expanded,
    punctuation dropped, single spaces."""
    words = []
    for word in _WORD.findall(text.lower().replace("\u2019", "'").replace("-", " ")):
        word = _EXPANSIONS.get(word, word)
        if "'" in word and " " not in word:
            for suffix, full in _SUFFIXES:
                if word.endswith(suffix):
                    word = word[: -len(suffix)] + full
                    break
            else:
                word = word.replace("'", "")
        words.append(word)
    return " ".join(words)


@dataclass(frozen=True)
class Heard:
    """Where a phrase was found in an utterance: the canonical words that matched, the score."""

    text: str
    score: float


@lru_cache(maxsize=4096)
def _letters(text: str) -> tuple[str, tuple[int, ...]]:
    """The canonical text without spaces, and for each letter the index of its word."""
    letters, owner = [], []
    for i, word in enumerate(canonical(text).split()):
        letters.append(word)
        owner.extend([i] * len(word))
    return "".join(letters), tuple(owner)


def find_phrase(phrase: str, text: str) -> Heard | None:
    """``phrase`` in ``text``, exactly or (for phrases of ``FUZZY_MIN_LETTERS`` or more) nearly."""
    want, _ = _letters(phrase)
    have, owner = _letters(text)
    if not want or not have:
        return None
    words = canonical(text).split()
    if len(want) < FUZZY_MIN_LETTERS:
        target = canonical(phrase)
        found = re.search(r"\b" + re.escape(target) + r"\b", " ".join(words))
        return Heard(found.group(0), 100.0) if found else None
    if len(have) <= len(want):  # the whole utterance must then be (nearly) the phrase
        score = fuzz.ratio(want, have)
        return Heard(" ".join(words), round(score, 1)) if score >= FUZZY_MIN_SCORE else None
    hit = fuzz.partial_ratio_alignment(want, have, score_cutoff=FUZZY_MIN_SCORE)
    if hit is None or hit.dest_end <= hit.dest_start:
        return None
    first, last = owner[hit.dest_start], owner[hit.dest_end - 1]
    return Heard(" ".join(words[first : last + 1]), round(hit.score, 1))
