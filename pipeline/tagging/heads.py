"""Linear classifier heads on encoder vectors, trained on first use and cached by content hash.

A head is plain numbers (weights, bias, class names), so it is cached as ``.npz`` under
``cache_dir/<key>.npz`` where the key hashes the encoder, the training texts and labels, and
``HEAD_VERSION``. Change any of them and the next run trains a new head; nothing to do by hand.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

HEAD_VERSION = "3"
"""Bump when the training recipe changes, so old cached heads are not reused."""


NEIGHBOUR_WEIGHT = 0.3
NEIGHBOUR_TEMPERATURE = 0.05
"""A single-label head with examples kept mixes its logistic regression with the softmax over
classes of each class's nearest example (cosine similarity / temperature), weighted 0.7 : 0.3.
The nearest example catches phrasings a linear boundary drawn through a few examples misses. In
5-fold cross-validation on data/training: touchpoint accuracy 0.711 -> 0.741, journey stage
0.822 -> 0.837; on Bitext's 4,120 utterances 0.758 -> 0.785; banking77 K=10 0.841 -> 0.846
(models/README.md)."""


@dataclass(frozen=True)
class Head:
    """Softmax (single-label) or one-vs-rest sigmoid (multi-label) over ``classes``."""

    classes: tuple[str, ...]
    weights: np.ndarray
    """shape (n_classes, dim)"""
    bias: np.ndarray
    multi_label: bool
    key: str
    """The content hash it was trained and cached under; stored as part of model_version."""
    examples: np.ndarray | None = None
    """Single-label heads trained with ``neighbours``: the unit-length training vectors, shape (m, dim)."""
    example_classes: np.ndarray | None = None
    """Index into ``classes`` of each of ``examples``, shape (m,)."""

    def proba(self, features: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n, n_classes)."""
        logits = features @ self.weights.T + self.bias
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        proba = _softmax(logits)
        if self.examples is None or not len(features):
            return proba
        similarity = _unit(features) @ self.examples.T
        nearest = np.full((len(features), len(self.classes)), -1.0, dtype=similarity.dtype)
        for j in range(len(self.classes)):
            mine = self.example_classes == j
            if mine.any():
                nearest[:, j] = similarity[:, mine].max(axis=1)
        return (1 - NEIGHBOUR_WEIGHT) * proba + NEIGHBOUR_WEIGHT * _softmax(nearest / NEIGHBOUR_TEMPERATURE)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def head_key(*parts: object) -> str:
    """A stable 16-hex hash of the parts (texts, labels, encoder name and version...)."""
    digest = hashlib.sha256(HEAD_VERSION.encode())
    for part in parts:
        digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def fit_single(features: np.ndarray, labels: list[str], key: str, c: float = 10.0, balanced: bool = True, neighbours: bool = False) -> Head:
    """Multinomial logistic regression over the labels present (``balanced``: reweight rare
    labels); ``neighbours``: keep the examples for the nearest-example mix (``Head.proba``)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced" if balanced else None).fit(features, labels)
    weights, bias = model.coef_, model.intercept_
    if len(model.classes_) == 2:  # sklearn keeps one row for two classes: softmax([-z/2, z/2]) = sigmoid(z)
        weights, bias = np.vstack([-weights / 2, weights / 2]), np.concatenate([-bias / 2, bias / 2])
    classes = tuple(str(c) for c in model.classes_)
    examples = example_classes = None
    if neighbours:
        examples = _unit(features).astype(np.float32)
        example_classes = np.array([classes.index(str(label)) for label in labels], dtype=np.int32)
    return Head(classes, weights.astype(np.float32), bias.astype(np.float32), False, key, examples, example_classes)


def fit_multi(features: np.ndarray, targets: list[set[str]], classes: list[str], key: str, c: float = 10.0) -> Head:
    """One logistic regression per class (positives: rows that carry it; negatives: the rest)."""
    from sklearn.linear_model import LogisticRegression

    weights, bias = [], []
    for name in classes:
        y = np.array([name in t for t in targets])
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(features, y)
        weights.append(model.coef_[0])
        bias.append(model.intercept_[0])
    return Head(tuple(classes), np.array(weights, np.float32), np.array(bias, np.float32), True, key)


def cached(cache_dir: Path, key: str, train: Callable[[], Head]) -> Head:
    """The head stored under ``key``, or ``train()`` once and store it (atomically)."""
    path = Path(cache_dir) / f"head-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                examples = (data["examples"], data["example_classes"]) if "examples" in data else (None, None)
                return Head(tuple(str(c) for c in data["classes"]), data["weights"], data["bias"], bool(data["multi_label"]), key, *examples)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError):
            path.unlink(missing_ok=True)  # a damaged cache entry: train it again
    head = train()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.npz")  # workers training at once never share it
    kept = {"examples": head.examples, "example_classes": head.example_classes} if head.examples is not None else {}
    np.savez(tmp, classes=np.array(head.classes), weights=head.weights, bias=head.bias, multi_label=head.multi_label, **kept)
    tmp.replace(path)
    return head
