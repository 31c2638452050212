"""Interaction-level tags from utterance-level probabilities: pure functions, no models."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..records import Tag, Utterance
from . import nps
from .sentiment import polarity


@dataclass
class Scores:
    """Every head's probabilities for one recording's utterances (rows = utterances)."""

    sentiment: np.ndarray
    sentiment_classes: tuple[str, ...]
    topics: np.ndarray
    """complaint-topic probabilities, one column per topic"""
    topic_classes: tuple[str, ...]
    complaint: np.ndarray
    """P(complaint) per utterance (the complaint head's, not sentiment's)"""
    is_complaint: np.ndarray
    """bool per utterance: a complaint (over the complaint threshold) and not said by staff"""


def customer_side(utterances: list[Utterance]) -> list[int]:
    """Indexes (positions) of what the customer said; with no roles known, everything not staff."""
    return [i for i, u in enumerate(utterances) if u.role != "staff"]


def by_role(utterances: list[Utterance]) -> dict[str, list[int]]:
    roles: dict[str, list[int]] = {}
    for i, u in enumerate(utterances):
        roles.setdefault(u.role, []).append(i)
    return roles


STAFF_WEIGHT = 0.5
"""How much a staff utterance counts, against 1 for the customer, when an interaction's label is chosen."""


def dominant(proba: np.ndarray, classes: tuple[str, ...], kind: str, utterances: list[Utterance], background: str | None = None) -> Tag:
    """The interaction's label: the highest weighted mean probability over its utterances, with
    the utterances that voted for it as evidence.

    Each utterance weighs 1 (customer) or ``STAFF_WEIGHT`` (staff), times how sure the head is
    that it is not ``background`` talk (greetings, thanks, hold), so "how can I help?" does not
    decide what a call was about. Only when everything is background does the label fall back to it."""
    weights = np.array([STAFF_WEIGHT if u.role == "staff" else 1.0 for u in utterances])
    candidates = np.ones(len(classes), dtype=bool)
    if background in classes:
        b = classes.index(background)
        topical = weights * (1.0 - proba[:, b])
        if topical.sum() > 0.05 * weights.sum():  # some talk is about something
            weights, candidates[b] = topical, False
    mean = (proba * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1e-9)
    best = int(np.where(candidates, mean, -1.0).argmax())
    evidence = [u.index for i, u in enumerate(utterances) if int(proba[i].argmax()) == best]
    return Tag(kind=kind, label=classes[best], score=float(mean[best] / mean[candidates].sum()), evidence=evidence, detail={"mean": dict(zip(classes, np.round(mean, 4).tolist()))})


def sentiment_tags(s: Scores, utterances: list[Utterance], margin: float) -> list[Tag]:
    """Per role: overall, start (first third) and end (last third) sentiment, and the trajectory."""
    pol = polarity(s.sentiment, s.sentiment_classes)
    tags = []
    for role, rows in by_role(utterances).items():
        third = max(1, len(rows) // 3)
        spans = {"sentiment": rows, "sentiment_start": rows[:third], "sentiment_end": rows[-third:]}
        for kind, span in spans.items():
            mean = s.sentiment[span].mean(axis=0)
            tags.append(Tag(kind=kind, label=s.sentiment_classes[int(mean.argmax())], score=float(pol[span].mean()), role=role, evidence=[utterances[i].index for i in span], detail={"mean": dict(zip(s.sentiment_classes, np.round(mean, 4).tolist()))}))
        delta = float(pol[rows[-third:]].mean() - pol[rows[:third]].mean())
        label = "improved" if delta > margin else "worsened" if delta < -margin else "steady"
        tags.append(Tag(kind="sentiment_trajectory", label=label, score=delta, role=role))
    return tags


def nps_tags(s: Scores, utterances: list[Utterance]) -> list[Tag]:
    """Any score the customer states aloud, and the NPS band (stated, else predicted from sentiment)."""
    rows = customer_side(utterances)
    tags = []
    stated = None
    for i in rows:
        previous = utterances[i - 1].text if i > 0 and utterances[i - 1].role != utterances[i].role else None
        value = nps.stated_score(utterances[i].text, previous)
        if value is not None:
            stated = value
            tags.append(Tag(kind="stated_score", label=str(value), score=float(value), role=utterances[i].role, evidence=[utterances[i].index]))
    if not rows:
        return tags
    if stated is not None:
        score, source = float(stated), "stated"
    else:
        pol = polarity(s.sentiment, s.sentiment_classes)
        score, source = nps.predicted_score(float(pol[rows].mean()), float(pol[rows[-max(1, len(rows) // 3):]].mean())), "sentiment"
    tags.append(Tag(kind="nps_band", label=nps.band(score), score=score, role=utterances[rows[0]].role, detail={"source": source}))
    return tags
