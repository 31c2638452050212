"""The tagger: one encoder pass per recording, then every head, then interaction-level tags."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..models import resolve_model
from ..records import RecordingMeta, Tag, Utterance
from . import interaction, sentiment
from .build import sentiment_head, taxonomy_head
from .encoder import Encoder, load_encoder
from .heads import Head
from .options import TaggingOptions
from .taxonomy import Taxonomy, load_taxonomies
from .training import TrainingSet, load_training

UTTERANCE_TAXONOMIES = ("touchpoints",)
"""Taxonomies tagged on every utterance as well as on the interaction."""


@dataclass
class Tagger:
    """Loaded encoder, taxonomies and trained heads. Build it with ``load_tagger``."""

    options: TaggingOptions
    encoder: Encoder
    taxonomies: dict[str, Taxonomy]
    heads: dict[str, Head]
    """"sentiment" and one per taxonomy stem"""
    sentiment_hash: str
    """hash of the training data the sentiment head learnt from (its "taxonomy")"""

    def _stamp(self, tag: Tag, head: str) -> Tag:
        taxonomy = self.taxonomies.get(head)
        return replace(
            tag,
            model=f"{self.encoder.name}+{head}",
            model_version=f"{self.encoder.version}+{self.heads[head].key}",
            taxonomy_hash=taxonomy.hash if taxonomy else self.sentiment_hash,
        )

    def scores(self, texts: list[str], roles: list[str]) -> tuple[dict[str, np.ndarray], interaction.Scores]:
        """Probabilities of every head for ``texts`` (one batched encoder pass)."""
        layers = self.encoder.encode_layers(texts, batch_size=self.options.batch_size)
        topic = self.encoder.topic(layers)
        proba = {name: head.proba(topic, texts) for name, head in self.heads.items() if name != "sentiment"}
        proba["sentiment"] = self.heads["sentiment"].proba(sentiment.features(self.encoder.wording(layers), texts))
        negative = proba["sentiment"][:, self.heads["sentiment"].classes.index("negative")]
        over = (proba["complaint_topics"] >= self.complaint_threshold).any(axis=1)
        is_complaint = over & (negative >= self.options.negative_threshold) & np.array([r != "staff" for r in roles], bool)
        topics = self.heads["complaint_topics"].classes
        return proba, interaction.Scores(proba["sentiment"], self.heads["sentiment"].classes, proba["complaint_topics"], topics, is_complaint)

    @property
    def complaint_threshold(self) -> float:
        own = self.options.complaint_threshold
        return own if own is not None else self.taxonomies["complaint_topics"].threshold

    def tag(self, utterances: list[Utterance], meta: RecordingMeta | None = None) -> list[Tag]:
        """Utterance-level tags (sentiment, touchpoint, complaint topics) then interaction-level tags.

        ``meta`` is accepted for the pipeline's stage protocol; no tagger reads it yet.
        """
        if not utterances:
            return []
        texts = [u.redacted_text or u.text for u in utterances]
        proba, s = self.scores(texts, [u.role for u in utterances])
        tags: list[Tag] = []
        for i, u in enumerate(utterances):
            tags.append(self._stamp(self._best("sentiment", proba, i, u), "sentiment"))
            for stem in UTTERANCE_TAXONOMIES:
                tags.append(self._stamp(self._best(stem, proba, i, u), stem))
            for j, topic in enumerate(s.complaint_classes):
                if u.role != "staff" and s.complaint[i, j] >= self.complaint_threshold:
                    tags.append(self._stamp(Tag(kind="complaint_topic", label=topic, score=float(s.complaint[i, j]), utterance_index=u.index, role=u.role, detail={"complaint": bool(s.is_complaint[i])}), "complaint_topics"))
        for stem in ("touchpoints", "journey_stage"):
            taxonomy = self.taxonomies[stem]
            tags.append(self._stamp(interaction.dominant(proba[stem], self.heads[stem].classes, taxonomy.kind, utterances, taxonomy.background), stem))
        tags += [self._stamp(t, "complaint_topics") for t in interaction.complaint_tags(s, utterances, self.complaint_threshold)]
        tags += [self._stamp(t, "sentiment") for t in interaction.sentiment_tags(s, utterances, self.options.trajectory_margin)]
        tags += [self._stamp(t, "sentiment") for t in interaction.nps_tags(s, utterances)]
        return tags

    def _best(self, head: str, proba: dict[str, np.ndarray], i: int, u: Utterance) -> Tag:
        classes = self.heads[head].classes
        row = proba[head][i]
        kind = "sentiment" if head == "sentiment" else self.taxonomies[head].kind
        return Tag(kind=kind, label=classes[int(row.argmax())], score=float(row.max()), utterance_index=u.index, role=u.role, detail={"proba": dict(zip(classes, np.round(row, 4).tolist()))})


def load_tagger(options: TaggingOptions = TaggingOptions()) -> Tagger:
    """Validate the taxonomies and training data, load the encoder, and train or fetch every head.

    Cached per process on the options and on the files' names, sizes and times, so an edited
    taxonomy is picked up by the next recording even in a long-running watcher.
    """
    return _load_tagger(options, _stamp_files(options))


def _stamp_files(options: TaggingOptions) -> tuple[tuple[str, int, int], ...]:
    files = sorted([*Path(options.taxonomy_dir).glob("*.yaml"), *Path(options.training_dir).glob("*.csv")])
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)


def check_tagger(options: TaggingOptions = TaggingOptions()) -> tuple[dict[str, Taxonomy], TrainingSet]:
    """Validate without loading a model: parse the taxonomies and the training data, and find
    the encoder. Fast (~0.2 s), so start-up can fail on a broken file before touching any
    recording and load the models in the background."""
    taxonomies = load_taxonomies(options.taxonomy_dir)
    training = load_training(options.training_dir)
    if not training.labels("sentiment"):
        raise ConfigError("no labelled sentiment rows", fix="add CSV files with text and sentiment columns (see data/training/utterances.csv)", path=str(options.training_dir))
    resolve_model(options.encoder)
    return taxonomies, training


@lru_cache(maxsize=4)
def _load_tagger(options: TaggingOptions, stamp: tuple[tuple[str, int, int], ...]) -> Tagger:
    taxonomies, training = check_tagger(options)
    encoder = load_encoder(options.encoder, options.max_tokens, options.threads, options.cache_dir)
    heads = {stem: taxonomy_head(encoder, taxonomy, training, options.cache_dir) for stem, taxonomy in taxonomies.items()}
    heads["sentiment"] = sentiment_head(encoder, training, options.cache_dir)
    return Tagger(options=options, encoder=encoder, taxonomies=taxonomies, heads=heads, sentiment_hash=training.hash)
