"""Held-out figures for the shipped taxonomy heads: k-fold cross-validation over data/training.

The touchpoint, journey-stage and complaint-topic heads learn from the taxonomy examples plus the
project's labelled rows, so they have no separate test set. Here the labelled rows are split into
k folds; each fold is scored by a head trained (the tagger's recipe: ``taxonomy_examples`` and
``fit_taxonomy``) on the taxonomy examples and the other folds. Single-label heads:
accuracy and macro-F1 of the top label. The multi-label complaint-topic head: micro precision,
recall and F1 of the labels over its threshold (rows with no topic are negatives).

    .venv/bin/python bench/taxonomy_cv.py [--folds 5]

Prints one line per head and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.tagging.build import fit_taxonomy, taxonomy_examples  # noqa: E402
from pipeline.tagging.encoder import load_encoder  # noqa: E402
from pipeline.tagging.evaluate import metrics  # noqa: E402
from pipeline.tagging.options import TaggingOptions  # noqa: E402
from pipeline.tagging.taxonomy import load_taxonomies  # noqa: E402
from pipeline.tagging.training import TrainingSet, load_training  # noqa: E402


def cross_validate(encoder, taxonomy, training: TrainingSet, folds: int, seed: int = 0) -> dict:
    labelled = [row for row in training.rows if taxonomy.kind in row]
    if taxonomy.multi_label:  # the rows the tagger learns from: labelled, or explicitly no topic
        labelled = [r for r in labelled if (r[taxonomy.kind] or "").strip() or r.get("sentiment") != "negative"]
    else:
        labelled = [r for r in labelled if (r[taxonomy.kind] or "").strip() in taxonomy.names]
    order = list(range(len(labelled)))
    random.Random(seed).shuffle(order)
    base = taxonomy_examples(taxonomy, None)  # descriptions and examples: always in training
    truth, predicted = [], []
    true_sets, predicted_sets = [], []
    for k in range(folds):
        held = {order[i] for i in range(k, len(order), folds)}
        train = TrainingSet(rows=tuple(r for i, r in enumerate(labelled) if i not in held), hash="cv")
        pairs = base + taxonomy_examples(taxonomy, train)[len(base):]
        vectors = encoder.encode_topic([t for t, _ in pairs])
        test_rows = [labelled[i] for i in sorted(held)]
        test_vectors = encoder.encode_topic([r["text"] for r in test_rows])
        head = fit_taxonomy(vectors, pairs, taxonomy, "cv")
        proba = head.proba(test_vectors, [r["text"] for r in test_rows])
        if taxonomy.multi_label:
            for row, p in zip(test_rows, proba):
                true_sets.append({x.strip() for x in (row[taxonomy.kind] or "").split(";") if x.strip()} & set(taxonomy.names))
                predicted_sets.append({head.classes[j] for j in np.flatnonzero(p >= taxonomy.threshold)})
        else:
            truth += [r[taxonomy.kind].strip() for r in test_rows]
            predicted += [head.classes[j] for j in proba.argmax(axis=1)]
    if not taxonomy.multi_label:
        result = metrics(truth, predicted)
        return {"kind": taxonomy.kind, "n": result["n"], "accuracy": result["accuracy"], "macro_f1": result["macro_f1"]}
    tp = sum(len(t & p) for t, p in zip(true_sets, predicted_sets))
    fp = sum(len(p - t) for t, p in zip(true_sets, predicted_sets))
    fn = sum(len(t - p) for t, p in zip(true_sets, predicted_sets))
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    no_topic = [p for t, p in zip(true_sets, predicted_sets) if not t]
    return {
        "kind": taxonomy.kind, "n": len(true_sets), "micro_precision": round(precision, 4), "micro_recall": round(recall, 4),
        "micro_f1": round(2 * precision * recall / max(precision + recall, 1e-9), 4),
        "no_topic_rows": len(no_topic), "no_topic_kept_clean": round(sum(not p for p in no_topic) / max(len(no_topic), 1), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    options = TaggingOptions()
    encoder = load_encoder(options.encoder, options.max_tokens, options.threads, options.cache_dir)
    training = load_training(options.training_dir)
    results = []
    for stem, taxonomy in load_taxonomies(options.taxonomy_dir).items():
        if stem == "complaint_outcomes":  # no labelled rows of its own: its examples are all it has
            continue
        result = cross_validate(encoder, taxonomy, training, args.folds)
        results.append(result)
        figures = ", ".join(f"{k} {v}" for k, v in result.items() if k != "kind")
        print(f"{stem:<18} {figures}")
    print(json.dumps({"folds": args.folds, "heads": results}))


if __name__ == "__main__":
    main()
