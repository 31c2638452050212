"""Scores a customer states aloud ("I'd give you a nine") and the NPS band.

Seed band definition (Net Promoter): 0-6 detractor, 7-8 passive, 9-10 promoter.
"""

from __future__ import annotations

import re

WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
WORDS.update({"nought": 0, "nil": 0, "a hundred percent": 10})
NUMBER = r"(10|[0-9]|zero|nought|one|two|three|four|five|six|seven|eight|nine|ten)"
OUT_OF = re.compile(rf"\b{NUMBER}\s*(?:out of|outta|/)\s*(?:10|ten)\b", re.I)
GIVE = re.compile(rf"\b(?:give|rate|score|mark)\s+(?:you|it|this|that|them|the \w+)?\s*(?:an?\s+)?(?:solid\s+|strong\s+|definite\s+|generous\s+)?{NUMBER}\b", re.I)
BARE = re.compile(rf"^\W*(?:\w+\W+){{0,3}}?(?:an?\s+)?{NUMBER}\b", re.I)
ASKED = re.compile(r"\b(scale|recommend|out of (?:10|ten)|rate|score)\b", re.I)


def _value(token: str) -> int:
    return int(token) if token.isdigit() else WORDS[token.lower()]


def stated_score(text: str, previous: str | None = None) -> int | None:
    """A 0-10 score stated in ``text``; a bare number counts only as an answer to a question
    about a score or recommendation in ``previous``."""
    for pattern in (OUT_OF, GIVE):
        found = pattern.search(text)
        if found:
            return _value(found.group(1))
    if previous and ASKED.search(previous):
        found = BARE.search(text)
        if found:
            return _value(found.group(1))
    return None


def band(score: float) -> str:
    """The NPS band of a 0-10 score."""
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


def predicted_score(polarity_overall: float, polarity_end: float) -> float:
    """A 0-10 score from customer polarity (-1..1): the end of the call weighs as much as all of it."""
    mean = 0.5 * polarity_overall + 0.5 * polarity_end
    return float(min(10.0, max(0.0, round(5.0 + 5.0 * mean, 1))))
