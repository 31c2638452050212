"""Measure the taggers on a user's own labelled CSV: accuracy, macro-F1 and a per-class table."""

from __future__ import annotations

import csv
import hashlib
import random
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import sentiment
from .build import taxonomy_head
from .encoder import load_encoder
from .options import TaggingOptions
from .tagger import load_tagger
from .taxonomy import Label, Taxonomy
from .training import load_training


def read_labelled(path: Path, text_col: str, label_col: str) -> list[tuple[str, str]]:
    """(text, label) rows of a CSV; rows with an empty text or label are skipped."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in (text_col, label_col) if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(f"line 1: no column {', '.join(missing)} (found {', '.join(reader.fieldnames or [])})", fix="name the right columns with --text-col and --label-col", path=str(path))
            rows = [(r[text_col].strip(), r[label_col].strip()) for r in reader]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the CSV ({exc.strerror})", fix="check the --data path", path=str(path)) from exc
    return [(t, y) for t, y in rows if t and y]


def metrics(truth: list[str], predicted: list[str]) -> dict[str, Any]:
    """accuracy, macro_f1 (over the classes in ``truth``), n and per-class precision/recall/F1."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    classes = sorted(set(truth))
    p, r, f, support = precision_recall_fscore_support(truth, predicted, labels=classes, zero_division=0)
    per_class = {c: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4), "f1": round(float(f[i]), 4), "support": int(support[i])} for i, c in enumerate(classes)}
    return {"accuracy": round(float(accuracy_score(truth, predicted)), 4), "macro_f1": round(float(f.mean()), 4), "n": len(truth), "per_class": per_class}


def evaluate_sentiment(options: TaggingOptions, rows: list[tuple[str, str]]) -> dict[str, Any]:
    """Score the sentiment head on (text, label) rows whose labels are negative/neutral/positive."""
    bad = sorted({y for _, y in rows if y.lower() not in sentiment.LABELS})
    if bad:
        raise ConfigError(f"labels {', '.join(bad[:5])} are not {', '.join(sentiment.LABELS)}", fix="map the labels in the CSV to negative/neutral/positive first")
    tagger = load_tagger(options)
    texts = [t for t, _ in rows]
    head = tagger.heads["sentiment"]
    proba = head.proba(sentiment.features(tagger.encoder.wording(tagger.encoder.encode_layers(texts, options.batch_size)), texts))
    result = metrics([y.lower() for _, y in rows], [head.classes[i] for i in proba.argmax(axis=1)])
    return {**result, "model": f"{tagger.encoder.name}+sentiment", "model_version": f"{tagger.encoder.version}+{head.key}"}


def evaluate_complaints(options: TaggingOptions, rows: list[tuple[str, str]]) -> dict[str, Any]:
    """Score the complaint head on (text, yes/no) rows at the tagger's complaint threshold."""
    from .complaints import LABELS, complaint_proba

    bad = sorted({y for _, y in rows if y.lower() not in LABELS})
    if bad:
        raise ConfigError(f"labels {', '.join(bad[:5])} are not yes or no", fix="label each row yes (a complaint) or no")
    tagger = load_tagger(options)
    texts = [t for t, _ in rows]
    p = complaint_proba(tagger.heads["complaint"], tagger.encoder, tagger.encoder.encode_layers(texts, options.batch_size), texts)
    result = metrics([y.lower() for _, y in rows], ["yes" if v >= tagger.complaint_threshold else "no" for v in p])
    head = tagger.heads["complaint"]
    return {**result, "threshold": tagger.complaint_threshold, "model": f"{tagger.encoder.name}+complaint", "model_version": f"{tagger.encoder.version}+{head.key}"}


def evaluate_taxonomy(options: TaggingOptions, taxonomy: Taxonomy, rows: list[tuple[str, str]], use_training: bool = True) -> dict[str, Any]:
    """Train the head the tagger would train for ``taxonomy`` and score it on (text, label) rows."""
    unknown = sorted({y for _, y in rows} - set(taxonomy.names))
    if unknown:
        raise ConfigError(f"labels {', '.join(unknown[:5])} are not in the taxonomy", fix="use the taxonomy's label names in --label-col", path=taxonomy.path)
    encoder = load_encoder(options.encoder, options.max_tokens, options.threads, options.cache_dir)
    training = load_training(options.training_dir) if use_training else None
    head = taxonomy_head(encoder, taxonomy, training, options.cache_dir)
    texts = [t for t, _ in rows]
    proba = head.proba(encoder.encode_topic(texts, options.batch_size), texts)
    predicted = [head.classes[i] for i in proba.argmax(axis=1)]  # multi-label: the top label vs the gold one
    result = metrics([y for _, y in rows], predicted)
    return {**result, "model": f"{encoder.name}+{taxonomy.kind}", "model_version": f"{encoder.version}+{head.key}", "taxonomy_hash": taxonomy.hash}


def taxonomy_from_examples(rows: list[tuple[str, str]], shots: int, seed: int = 0, source: str = "") -> tuple[Taxonomy, list[tuple[str, str]]]:
    """A taxonomy of ``shots`` random examples per label (description = the label's name in words),
    and the rows left over for scoring it."""
    by_label: dict[str, list[int]] = {}
    for i, (_, label) in enumerate(rows):
        by_label.setdefault(label, []).append(i)
    rng = random.Random(seed)
    chosen: set[int] = set()
    labels = []
    for name in sorted(by_label):
        picked = rng.sample(by_label[name], min(shots, len(by_label[name])))
        chosen.update(picked)
        words = name.replace("_", " ").strip(" ?")
        labels.append(Label(name=name, description=words, examples=tuple(rows[i][0] for i in picked)))
    digest = hashlib.sha256(repr((shots, seed, [(l.name, l.examples) for l in labels])).encode()).hexdigest()[:16]
    taxonomy = Taxonomy(kind="from_examples", labels=tuple(labels), multi_label=False, threshold=0.5, path=source, hash=digest)
    return taxonomy, [r for i, r in enumerate(rows) if i not in chosen]
