"""Sentiment features: the encoder vector plus the VADER lexicon's scores.

Similarity to label descriptions does not work for sentiment (ENVIRONMENT.md), so a head is
trained on labelled utterances. It reads the encoder's sentence vector and a middle layer's mean
(which keeps more of the wording); VADER (MIT, a rule-based lexicon) adds negation- and
intensity-aware polarity that a small frozen encoder misses.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .encoder import clean

LABELS = ("negative", "neutral", "positive")
VADER_WEIGHT = 0.5
"""Scale of the four VADER features next to the unit-length encoder vector."""


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def lexicon_features(texts: list[str]) -> np.ndarray:
    """(compound, pos, neg, neu) per text, scaled by ``VADER_WEIGHT``; shape (n, 4)."""
    analyzer = _analyzer()
    scores = [analyzer.polarity_scores(clean(t)) for t in texts]
    return VADER_WEIGHT * np.array([[s["compound"], s["pos"], s["neg"], s["neu"]] for s in scores], dtype=np.float32).reshape(-1, 4)


def features(layers: np.ndarray, texts: list[str]) -> np.ndarray:
    """What the sentiment head reads: the encoder's sentence and middle-layer vectors
    (``Encoder.wording``) with the lexicon features appended."""
    return np.hstack([layers, lexicon_features(texts)])


def polarity(proba: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """P(positive) - P(negative) per row, in -1..1."""
    return proba[:, classes.index("positive")] - proba[:, classes.index("negative")]
