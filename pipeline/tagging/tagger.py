"""The tagger: one encoder pass per recording, then every head, then interaction-level tags."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..models import resolve_model
from ..recorded import PHONE_SYSTEM
from ..records import RecordingMeta, Tag, Utterance
from . import complaints, interaction, sentiment
from .build import sentiment_head, taxonomy_head
from .complaints import ComplaintData, complaint_head, complaint_pairs, load_complaint_data
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
    """"sentiment", "complaint" and one per taxonomy stem"""
    sentiment_hash: str
    """hash of the training data the sentiment head learnt from (its "taxonomy")"""
    complaint_hash: str = ""
    """hash of the complaint head's own training rows (its "taxonomy")"""

    def _stamp(self, tag: Tag, head: str) -> Tag:
        taxonomy = self.taxonomies.get(head)
        return replace(
            tag,
            model=f"{self.encoder.name}+{head}",
            model_version=f"{self.encoder.version}+{self.heads[head].key}",
            taxonomy_hash=taxonomy.hash if taxonomy else self.complaint_hash if head == "complaint" else self.sentiment_hash,
        )

    def scores(self, texts: list[str], roles: list[str]) -> tuple[dict[str, np.ndarray], interaction.Scores]:
        """Probabilities of every head for ``texts`` (one batched encoder pass)."""
        layers = self.encoder.encode_layers(texts, batch_size=self.options.batch_size)
        topic = self.encoder.topic(layers)
        proba = {name: head.proba(topic, texts) for name, head in self.heads.items() if name not in ("sentiment", "complaint")}
        proba["sentiment"] = self.heads["sentiment"].proba(sentiment.features(self.encoder.wording(layers), texts))
        complaint = complaints.complaint_proba(self.heads["complaint"], self.encoder, layers, texts)
        is_complaint = (complaint >= self.complaint_threshold) & np.array([r != "staff" for r in roles], bool)
        topics = self.heads["complaint_topics"].classes
        return proba, interaction.Scores(proba["sentiment"], self.heads["sentiment"].classes, proba["complaint_topics"], topics, complaint, is_complaint)

    @property
    def complaint_threshold(self) -> float:
        own = self.options.complaint_threshold
        return own if own is not None else complaints.THRESHOLD

    @property
    def topic_threshold(self) -> float:
        own = self.options.topic_threshold
        return own if own is not None else self.taxonomies["complaint_topics"].threshold

    def tag(self, utterances: list[Utterance], meta: RecordingMeta | None = None) -> list[Tag]:
        """Utterance-level tags (sentiment, touchpoint, complaint and its topics) then interaction-level tags,
        of the people's utterances: the phone system's (speakers ``HOLD`` and ``SYSTEM``) get none.

        ``meta`` is accepted for the pipeline's stage protocol; no tagger reads it yet.
        """
        utterances = [u for u in utterances if u.speaker not in PHONE_SYSTEM]  # no person's: neither complaint nor sentiment
        if not utterances:
            return []
        texts = [u.redacted_text or u.text for u in utterances]
        proba, s = self.scores(texts, [u.role for u in utterances])
        tags: list[Tag] = []
        for i, u in enumerate(utterances):
            tags.append(self._stamp(self._best("sentiment", proba, i, u), "sentiment"))
            for stem in UTTERANCE_TAXONOMIES:
                tags.append(self._stamp(self._best(stem, proba, i, u), stem))
            if u.role != "staff":
                tags.append(self._stamp(Tag(kind="complaint", label="yes" if s.is_complaint[i] else "no", score=float(s.complaint[i]), utterance_index=u.index, role=u.role), "complaint"))
            for j, topic in enumerate(s.topic_classes):
                if s.is_complaint[i] and s.topics[i, j] >= self.topic_threshold:
                    tags.append(self._stamp(Tag(kind="complaint_topic", label=topic, score=float(s.topics[i, j]), utterance_index=u.index, role=u.role), "complaint_topics"))
        for stem in ("touchpoints", "journey_stage"):
            taxonomy = self.taxonomies[stem]
            tags.append(self._stamp(interaction.dominant(proba[stem], self.heads[stem].classes, taxonomy.kind, utterances, taxonomy.background), stem))
        tags += self._complaint_tags(proba, s, utterances)
        tags += [self._stamp(t, "sentiment") for t in interaction.sentiment_tags(s, utterances, self.options.trajectory_margin)]
        tags += [self._stamp(t, "sentiment") for t in interaction.nps_tags(s, utterances)]
        return tags

    def _complaint_tags(self, proba: dict[str, np.ndarray], s: interaction.Scores, utterances: list[Utterance]) -> list[Tag]:
        """The interaction's complaint, its causes and product, and (for a complaint) its outcome."""
        products = "complaint_products" in self.heads
        whole = complaints.customer_text(utterances)
        layers = self.encoder.encode_layers([whole])
        p_whole = float(complaints.complaint_proba(self.heads["complaint"], self.encoder, layers, [whole])[0])
        outcome_classes = self.heads["complaint_outcomes"].classes
        found = complaints.evidence(s.complaint, p_whole, proba["complaint_outcomes"], outcome_classes, utterances)
        made, at = complaints.interaction_tags(
            s.complaint, self.complaint_threshold, utterances, found, s.topics, s.topic_classes, self.topic_threshold,
            proba["complaint_products"] if products else None, self.heads["complaint_products"].classes if products else (),
            self.heads["complaint_products"].proba(self.encoder.topic(layers), [whole])[0] if products else None,
        )
        head_of = {"complaint": "complaint", "complaint_topic": "complaint_topics", "complaint_product": "complaint_products"}
        tags = [self._stamp(t, head_of[t.kind]) for t in made]
        if at:
            outcomes = complaints.outcome_tags(proba["complaint_outcomes"], outcome_classes, utterances, at)
            tags += [self._stamp(t, "complaint_outcomes") for t in outcomes]
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
    folders = [Path(options.taxonomy_dir), Path(options.complaint_dir or options.taxonomy_dir)]
    training = Path(options.training_dir)
    files = sorted({*(f for d in folders for f in d.glob("*.yaml")), *training.glob("*.csv"), *(training / complaints.FOLDER).glob("*.csv")})
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)


def check_tagger(options: TaggingOptions = TaggingOptions()) -> tuple[dict[str, Taxonomy], TrainingSet, ComplaintData]:
    """Validate without loading a model: parse the taxonomies and the training data, and find
    the encoder. Fast (~0.2 s), so start-up can fail on a broken file before touching any
    recording and load the models in the background."""
    taxonomies = load_taxonomies(options.taxonomy_dir, options.complaint_dir)
    training = load_training(options.training_dir)
    if not training.labels("sentiment"):
        raise ConfigError("no labelled sentiment rows", fix="add CSV files with text and sentiment columns (see data/training/utterances.csv)", path=str(options.training_dir))
    complaint_data = load_complaint_data(options.training_dir)
    if {label for _, label in complaint_pairs(complaint_data, training)} != set(complaints.LABELS):
        raise ConfigError("the complaint head needs rows of both kinds, complaints and not", fix=f"add rows with complaint yes and no to {complaints.FOLDER}/*.csv", path=str(options.training_dir))
    resolve_model(options.encoder)
    return taxonomies, training, complaint_data


@lru_cache(maxsize=4)
def _load_tagger(options: TaggingOptions, stamp: tuple[tuple[str, int, int], ...]) -> Tagger:
    taxonomies, training, complaint_data = check_tagger(options)
    encoder = load_encoder(options.encoder, options.max_tokens, options.threads, options.cache_dir)
    heads = {stem: taxonomy_head(encoder, taxonomy, training, options.cache_dir, complaint_data.rows) for stem, taxonomy in taxonomies.items()}
    heads["sentiment"] = sentiment_head(encoder, training, options.cache_dir)
    heads["complaint"] = complaint_head(encoder, complaint_pairs(complaint_data, training), options.cache_dir)
    return Tagger(options=options, encoder=encoder, taxonomies=taxonomies, heads=heads, sentiment_hash=training.hash, complaint_hash=complaint_data.hash)
