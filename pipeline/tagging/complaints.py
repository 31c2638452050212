"""Complaints as the regulator defines them, independent of sentiment.

Under the UK FCA's definition (DISP glossary) a complaint is any expression of dissatisfaction,
oral or written, justified or not, alleging that the complainant has suffered (or may suffer)
financial loss, material distress or material inconvenience. Most complaints on the phone are
calm ("the company is reporting a late payment that isn't mine and I want it removed"), and a
negative remark that alleges no loss ("the weather's awful") is not one. So a complaint is its
own model, not negative sentiment plus a topic:

- **The complaint head** (``complaint_head``): a yes/no logistic regression on the encoder's
  vectors and the texts' character n-grams, trained on first use from ``complaints/*.csv`` in
  the training folder (``text`` and ``complaint`` yes/no: written complaints cut into
  utterance-sized pieces, plain requests, spoken turns) and from the main training rows (a
  customer row with a complaint topic is a complaint; a staff row, or a neutral or positive row
  without a topic, is not), cached by content hash like every head.
- **Per utterance** every turn not said by staff gets a ``complaint`` tag (yes/no at
  ``THRESHOLD``, with its probability).
- **Per interaction** (``Evidence``) a small head weighs the customer's likeliest complaint
  utterance, the customer side read as one text, and how staff answered (an apology, a complaint
  passed on); the evidence is the customer utterances over ``THRESHOLD``. With a complaint come
  its causes (``complaint_topic``), its product (``complaint_product``, when the complaint
  taxonomy has products), whether it was resolved on the call and whether the customer asked for
  it to be escalated (``complaint_outcomes.yaml``).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..records import Tag, Utterance
from .encoder import Encoder
from .heads import Head, cached, fit_single, head_key
from .training import TrainingSet

FOLDER = "complaints"
"""Subfolder of the training folder holding the complaint head's own labelled rows."""
LABELS = ("no", "yes")
THRESHOLD = 0.5
"""Minimum complaint probability for an utterance, and so its interaction, to be a complaint
(``TaggingOptions.complaint_threshold`` overrides it). Chosen on development calls only
(models/README.md)."""
C = 10.0

STAFF_ACTS = ("resolution", "follow_up", "apology")
CUSTOMER_ACTS = ("acceptance", "rejection", "escalation_request")
"""The labels ``complaint_outcomes.yaml`` must have (besides its background label)."""


@dataclass(frozen=True)
class ComplaintData:
    """The rows of ``<training>/complaints/*.csv``."""

    rows: tuple[dict[str, str], ...]
    hash: str
    """sha256 (first 16 hex) over every file's name and bytes, in name order."""


def load_complaint_data(training_dir: Path) -> ComplaintData:
    """Read and check ``complaints/*.csv`` (none is fine: the head then learns from the main rows)."""
    digest = hashlib.sha256()
    rows: list[dict[str, str]] = []
    for path in sorted((Path(training_dir) / FOLDER).glob("*.csv")):
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        try:
            reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text (byte {exc.start})", fix="save the file as UTF-8 CSV", path=str(path)) from exc
        missing = [c for c in ("text", "complaint") if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"line 1: no `{'` or `'.join(missing)}` column", fix="start the file with a header line: text,complaint", path=str(path))
        for line, row in enumerate(reader, start=2):
            label = (row.get("complaint") or "").strip().lower()
            if label not in LABELS:
                raise ConfigError(f"line {line}: complaint '{row.get('complaint')}' is not yes or no", fix="write yes or no in the complaint column", path=str(path))
            if (row.get("text") or "").strip():
                rows.append({**{k: (v or "").strip() for k, v in row.items() if k}, "complaint": label})
    return ComplaintData(tuple(rows), digest.hexdigest()[:16])


def complaint_pairs(data: ComplaintData, training: TrainingSet | None) -> list[tuple[str, str]]:
    """(text, "yes"/"no") to learn from: every complaint row, then the main training rows that
    say one way or the other (a negative row without a topic says neither: left out)."""
    pairs = [(row["text"], row["complaint"]) for row in data.rows]
    for row in training.rows if training is not None else ():
        if row.get("role") == "staff":
            pairs.append((row["text"], "no"))
        elif (row.get("complaint_topic") or "").strip():
            pairs.append((row["text"], "yes"))
        elif row.get("sentiment") in ("neutral", "positive"):
            pairs.append((row["text"], "no"))
    return pairs


def features(encoder: Encoder, layers: np.ndarray) -> np.ndarray:
    """What the complaint head reads: the sentence vector, the middle layer's mean and both
    layers pooled by word rarity (``Encoder.encode_layers``), each unit length."""
    return layers / 2.0


def complaint_head(encoder: Encoder, pairs: list[tuple[str, str]], cache_dir: Path) -> Head:
    key = head_key("complaint", encoder.name, encoder.version, encoder.weights_hash, C, pairs)
    return cached(cache_dir, key, lambda: fit_complaint(encoder, pairs, key))


def fit_complaint(encoder: Encoder, pairs: list[tuple[str, str]], key: str) -> Head:
    """The recipe: a balanced logistic regression (C=``C``) on ``features``, mixed with one on
    the texts' character n-grams (``heads.NGRAM_WEIGHT``)."""
    texts = [text for text, _ in pairs]
    return fit_single(features(encoder, encoder.encode_layers(texts)), [label for _, label in pairs], key, c=C, texts=texts)


def complaint_proba(head: Head, encoder: Encoder, layers: np.ndarray, texts: list[str]) -> np.ndarray:
    """P(complaint) per text, shape (n,)."""
    return head.proba(features(encoder, layers), texts)[:, head.classes.index("yes")]


# ---- interaction level ------------------------------------------------------------------------

INTERACTION_WEIGHTS = {"bias": -2.62, "customer_max": 0.38, "customer_whole": 0.65, "staff_answer": 2.16}
"""The interaction-level head: a logistic regression over three numbers (``Evidence``), fitted
on 120 development calls (8 kHz, stereo and mono, through the whole pipeline) by ``python
bench/complaints.py calibrate``. On those calls' true scripts a customer utterance over
``THRESHOLD`` finds every complaint; on their transcripts words are lost and misheard, and the
whole customer side read at once and the staff member's answer recover much of it
(models/README.md)."""


@dataclass(frozen=True)
class Evidence:
    """What the interaction's verdict reads."""

    customer: list[int]
    """positions of the customer side: every utterance not said by staff (all of them when the
    roles call everyone staff, which a mono recording's roles sometimes do)"""
    customer_max: float
    """the highest P(complaint) of a customer utterance"""
    customer_whole: float
    """P(complaint) of the customer side read as one text"""
    staff_answer: float
    """the highest P(apology) + P(follow_up) of a staff utterance (``complaint_outcomes``): an
    apology for what went wrong, or a complaint passed on"""

    @property
    def probability(self) -> float:
        w = INTERACTION_WEIGHTS
        z = w["bias"] + w["customer_max"] * _logit(self.customer_max) + w["customer_whole"] * _logit(self.customer_whole) + w["staff_answer"] * self.staff_answer
        return float(1.0 / (1.0 + np.exp(-z)))


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def customer_side(utterances: list[Utterance]) -> list[int]:
    """Positions of what the customer said: everything not said by staff; everything when roles
    put every utterance on the staff side."""
    found = [i for i, u in enumerate(utterances) if u.role != "staff"]
    return found or list(range(len(utterances)))


def evidence(p: np.ndarray, whole: float, outcomes: np.ndarray, outcome_classes: tuple[str, ...], utterances: list[Utterance]) -> Evidence:
    customer = customer_side(utterances)
    staff = [i for i, u in enumerate(utterances) if may_be(u.role, "staff")] or list(range(len(utterances)))
    answer = outcomes[:, outcome_classes.index("apology")] + outcomes[:, outcome_classes.index("follow_up")]
    return Evidence(customer, float(p[customer].max()), whole, float(answer[staff].max()))


def customer_text(utterances: list[Utterance]) -> str:
    """The customer side as one text (what ``Evidence.customer_whole`` reads)."""
    return " ".join((utterances[i].redacted_text or utterances[i].text) for i in customer_side(utterances))


def may_be(role: str | None, who: str) -> bool:
    """Whether an utterance with ``role`` may be the ``who`` (staff or customer): an unknown role
    (mono before diarization) may be either."""
    return role == who or role not in ("staff", "customer")


def interaction_tags(
    p: np.ndarray, threshold: float, utterances: list[Utterance], found: Evidence,
    topics: np.ndarray, topic_classes: tuple[str, ...], topic_threshold: float,
    products: np.ndarray | None = None, product_classes: tuple[str, ...] = (), product_whole: np.ndarray | None = None,
) -> tuple[list[Tag], list[int]]:
    """(tags, positions of the complaint utterances). ``complaint`` yes/no for the interaction
    (``found.probability`` >= 0.5; its evidence the customer utterances over ``threshold``, or
    the likeliest one); with yes, its causes (``complaint_topic``: each topic over
    ``topic_threshold`` on a complaint utterance, or else the likeliest one) and its product
    (``complaint_product``: the likeliest for the customer side read as one text,
    ``product_whole``: one utterance such as "I want to speak to a manager" says nothing of the
    product; the evidence is the complaint utterances that lean to it)."""
    score = found.probability
    detail = {"customer_max": round(found.customer_max, 4), "customer_whole": round(found.customer_whole, 4), "staff_answer": round(found.staff_answer, 4)}
    if score < 0.5:
        return [Tag(kind="complaint", label="no", score=score, detail=detail)], []
    rows = [i for i in found.customer if p[i] >= threshold] or [max(found.customer, key=lambda i: p[i])]
    tags = [Tag(kind="complaint", label="yes", score=score, role=utterances[rows[0]].role, evidence=[utterances[i].index for i in rows], detail=detail)]
    topic_tags = []
    for j, topic in enumerate(topic_classes):
        hits = [i for i in rows if topics[i, j] >= topic_threshold]
        if hits:
            topic_tags.append(Tag(kind="complaint_topic", label=topic, score=float(topics[hits, j].max()), evidence=[utterances[i].index for i in hits]))
    if not topic_tags and len(topic_classes):  # a complaint always has a cause; say that it is a weak one
        j = int(topics[rows].max(axis=0).argmax())
        hits = [i for i in rows if int(topics[i].argmax()) == j] or rows
        topic_tags.append(Tag(kind="complaint_topic", label=topic_classes[j], score=float(topics[rows, j].max()), evidence=[utterances[i].index for i in hits], detail={"below_threshold": True}))
    tags += topic_tags
    if products is not None and product_whole is not None and len(product_classes):
        j = int(product_whole.argmax())
        hits = [utterances[i].index for i in rows if int(products[i].argmax()) == j] or [utterances[i].index for i in rows]
        tags.append(Tag(kind="complaint_product", label=product_classes[j], score=float(product_whole[j]), evidence=hits,
                        detail={"proba": dict(zip(product_classes, np.round(product_whole, 4).tolist()))}))
    return tags, rows


def outcome_tags(proba: np.ndarray, classes: tuple[str, ...], utterances: list[Utterance], complaint_at: list[int]) -> list[Tag]:
    """For a complaint: ``resolved_on_call`` (yes when, after the first complaint utterance, staff
    gave a resolution and the customer then accepted it, with no rejection or escalation request
    after the resolution; evidence: the resolution and the acceptance) and
    ``escalation_requested`` (yes when the customer asked for a manager, the complaints team or
    the ombudsman; evidence: those utterances). ``complaint_at``: positions of the complaint
    utterances."""
    acts = [classes[int(row.argmax())] for row in proba]
    first = min(complaint_at)
    escalations = [i for i in range(len(utterances)) if acts[i] == "escalation_request" and may_be(utterances[i].role, "customer")]
    resolved: tuple[int, int] | None = None
    for r in range(first + 1, len(utterances)):
        if acts[r] != "resolution" or not may_be(utterances[r].role, "staff"):
            continue
        later = [i for i in range(r + 1, len(utterances)) if may_be(utterances[i].role, "customer")]
        if any(acts[i] in ("rejection", "escalation_request") for i in later):
            continue
        accepted = next((i for i in later if acts[i] == "acceptance"), None)
        if accepted is not None:
            resolved = (r, accepted)
            break
    follow_up = [utterances[i].index for i in range(first, len(utterances)) if acts[i] == "follow_up" and may_be(utterances[i].role, "staff")]
    score = (lambda i, label: float(proba[i, classes.index(label)]))
    tags = [
        Tag(kind="resolved_on_call", label="yes", score=min(score(resolved[0], "resolution"), score(resolved[1], "acceptance")), evidence=[utterances[i].index for i in resolved])
        if resolved
        else Tag(kind="resolved_on_call", label="no", score=0.0, evidence=follow_up, detail={"follow_up": follow_up}),
        Tag(kind="escalation_requested", label="yes" if escalations else "no", score=max((score(i, "escalation_request") for i in escalations), default=0.0), evidence=[utterances[i].index for i in escalations]),
    ]
    return tags
