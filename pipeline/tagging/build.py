"""Train (or fetch from the cache) the heads for the taxonomies and for sentiment."""

from __future__ import annotations

from pathlib import Path

from . import sentiment
from .encoder import Encoder
from .heads import Head, cached, fit_multi, fit_single, head_key
from .taxonomy import Taxonomy
from .training import TrainingSet


def taxonomy_examples(taxonomy: Taxonomy, training: TrainingSet | None, labelled: tuple[dict[str, str], ...] = ()) -> list[tuple[str, set[str]]]:
    """(text, labels) to learn ``taxonomy`` from: each label's description and examples, plus
    training rows labelled with this taxonomy's kind (labels the taxonomy lacks are dropped;
    for a multi-label taxonomy an explicitly empty row is a negative example), plus the rows of
    ``labelled`` (the complaint rows) whose cell names one of its labels."""
    names = set(taxonomy.names)
    pairs: list[tuple[str, set[str]]] = []
    for label in taxonomy.labels:
        pairs += [(text, {label.name}) for text in (label.description, *label.examples)]
    for row in labelled:
        wanted = {p.strip() for p in (row.get(taxonomy.kind) or "").split(";") if p.strip()} & names
        if wanted and (taxonomy.multi_label or len(wanted) == 1):
            pairs.append((row["text"], wanted))
    if training is None:
        return pairs
    for row in training.rows:
        cell = (row.get(taxonomy.kind) or "").strip()
        wanted = {p.strip() for p in cell.split(";") if p.strip()} & names
        if wanted and (taxonomy.multi_label or len(wanted) == 1):
            pairs.append((row["text"], wanted))
        elif taxonomy.multi_label and taxonomy.kind in row and not cell and row.get("sentiment") != "negative":
            pairs.append((row["text"], set()))
    return pairs


def taxonomy_head(encoder: Encoder, taxonomy: Taxonomy, training: TrainingSet | None, cache_dir: Path, labelled: tuple[dict[str, str], ...] = ()) -> Head:
    pairs = taxonomy_examples(taxonomy, training, labelled)
    key = head_key("taxonomy", encoder.name, encoder.version, encoder.weights_hash, taxonomy.multi_label, taxonomy.names, pairs_repr(pairs))

    return cached(cache_dir, key, lambda: fit_taxonomy(encoder.encode_topic([text for text, _ in pairs]), pairs, taxonomy, key))


def fit_taxonomy(vectors, pairs: list[tuple[str, set[str]]], taxonomy: Taxonomy, key: str) -> Head:
    """The taxonomy recipe, on the encoder's ``topic`` vectors and the texts' character n-grams
    (``heads.NGRAM_WEIGHT``): one-vs-rest regressions for a multi-label taxonomy; else a
    multinomial regression mixed with the nearest example (``heads.NEIGHBOUR_WEIGHT``)."""
    texts = [text for text, _ in pairs]
    if taxonomy.multi_label:
        return fit_multi(vectors, [labels for _, labels in pairs], taxonomy.names, key, texts=texts)
    # nearest example by the last layer's weighted mean alone (the topic vector's first half):
    # touchpoint on outside data (Bitext) 0.806 against 0.794 with both layers; banking77 the same
    return fit_single(vectors, [next(iter(labels)) for _, labels in pairs], key, neighbour_dims=vectors.shape[1] // 2, texts=texts)


def sentiment_head(encoder: Encoder, training: TrainingSet, cache_dir: Path) -> Head:
    pairs = [(text, labels[0]) for text, labels in training.labels("sentiment")]
    key = head_key("sentiment", encoder.name, encoder.version, encoder.middle_layer, sentiment.VADER_WEIGHT, pairs)

    def train() -> Head:
        texts = [text for text, _ in pairs]
        return fit_single(sentiment.features(encoder.wording(encoder.encode_layers(texts)), texts), [label for _, label in pairs], key, c=1.0, balanced=False)

    return cached(cache_dir, key, train)


def pairs_repr(pairs: list[tuple[str, set[str]]]) -> list[tuple[str, list[str]]]:
    """A hashable, order-stable form of (text, labels) pairs."""
    return [(text, sorted(labels)) for text, labels in pairs]
