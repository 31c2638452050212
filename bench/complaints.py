"""Measure complaint detection on data the complaint head never saw.

    python bench/complaints.py written [--taxonomy financial_services]
        held-out written rows: CFPB complaints (their openings, as a caller starts, and their
        pieces), banking77 and Bitext requests and complaints (``PER_INTENT`` per intent;
        ``written`` is the openings with these), all
        with ``bench/calls.py``'s ``held_out`` True; and airline tweets (evaluation only: a
        negative tweet with a reason is a complaint, a neutral or positive one is not). With the
        financial-services taxonomy: product and cause accuracy on the CFPB openings.
    python bench/complaints.py calls FOLDER --db DB [--retag] [--sweep]
        calls made by ``bench/calls.py`` and processed into DB (``parley process --local``):
        per interaction precision, recall and F1 of the stored ``complaint`` tag against each
        call's truth, escalation requested and resolved on the call; ``--retag`` tags the stored
        transcripts again with the current tagger first (nothing is written); ``--sweep`` prints
        F1 at other thresholds (for choosing one on development calls only).
    python bench/complaints.py calls FOLDER --scripts
        the same calls' true scripts (their STM files, redacted) tagged as a perfect
        transcription would give them: how much of the error is transcription's.
    python bench/complaints.py calibrate FOLDER DB [FOLDER DB ...]
        development calls only: fit the interaction-level head (``complaints.INTERACTION_WEIGHTS``)
        on the stored transcripts and print its weights and 10-fold cross-validated F1.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "models"))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

from calls import SHARED_TEXT, held_out, read_truth  # noqa: E402

PER_INTENT = 30
AIRLINE_COMPLAINTS = {"Late Flight", "Customer Service Issue", "Lost Luggage", "Cancelled Flight", "Bad Flight", "Flight Booking Problems",
                      "Flight Attendant Complaints", "longlines", "Damaged Luggage"}


def prf(truth: list[bool], predicted: list[bool]) -> dict:
    truth, predicted = [bool(t) for t in truth], [bool(p) for p in predicted]
    tp = sum(t and p for t, p in zip(truth, predicted))
    fp = sum(p and not t for t, p in zip(truth, predicted))
    fn = sum(t and not p for t, p in zip(truth, predicted))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "n": len(truth), "positives": sum(truth), "tp": tp, "fp": fp, "fn": fn}


def tagger_for(taxonomy: str):
    from pipeline.analysis import AnalysisOptions, tagging_options
    from pipeline.settings import Settings
    from pipeline.tagging import load_tagger

    settings = Settings(complaint_taxonomy=taxonomy)
    return load_tagger(tagging_options(AnalysisOptions.from_settings(settings)))


def written_rows(rng: random.Random) -> dict[str, list[tuple[str, bool, str]]]:
    """Held-out rows by set: (text, is a complaint, source)."""
    import make_complaint_data as data

    sets: dict[str, list] = {"cfpb_openings": [], "cfpb_pieces": [], "requests_and_complaints": [], "airline_tweets": []}
    with open(SHARED_TEXT / "cfpb-complaints" / "complaints.csv", newline="") as f:
        for row in csv.DictReader(f):
            key = f"cfpb:{row['complaint_id']}"
            if not held_out(key):
                continue
            start = data.opening(row["narrative"])
            if start:
                sets["cfpb_openings"].append((start, True, key))
            sets["cfpb_pieces"] += [(t, True, key) for t in dict.fromkeys(data.pieces(row["narrative"]))]
    for path, dataset, text_col, label_col, complaints, requests in (
        (SHARED_TEXT / "banking77" / "train.csv", "banking77", "text", "category", data.BANKING77_COMPLAINTS, data.BANKING77_REQUESTS),
        (SHARED_TEXT / "bitext" / "bitext_official_early_sample.csv", "bitext", "instruction", "intent", data.BITEXT_COMPLAINTS, data.BITEXT_REQUESTS),
    ):
        by_intent: dict[str, list] = {}
        with open(path, newline="") as f:
            for i, row in enumerate(csv.DictReader(f)):
                key, intent = f"{dataset}:{i}", row[label_col]
                if held_out(key) and (intent in complaints or intent in requests):
                    by_intent.setdefault(intent, []).append((" ".join(row[text_col].split()), intent in complaints, key))
        for intent in sorted(by_intent):
            sets["requests_and_complaints"] += rng.sample(by_intent[intent], min(PER_INTENT, len(by_intent[intent])))
    airline = SHARED_TEXT / "airline-sentiment" / "dev.csv"
    if airline.is_file():
        with open(airline, newline="") as f:
            for i, row in enumerate(csv.DictReader(f)):
                mood, reason = row["airline_sentiment"], row.get("negativereason") or ""
                if mood in ("neutral", "positive") or reason in AIRLINE_COMPLAINTS:
                    sets["airline_tweets"].append((row["text"], mood == "negative", f"airline:{i}"))
    return sets


def written(args) -> dict:
    import make_complaint_data as data

    from pipeline.tagging.complaints import complaint_proba

    tagger = tagger_for(args.taxonomy)
    threshold = tagger.complaint_threshold
    out: dict = {"threshold": threshold, "model_version": f"{tagger.encoder.version}+{tagger.heads['complaint'].key}"}
    sets = written_rows(random.Random(0))
    sets = {"written": sets["cfpb_openings"] + sets["requests_and_complaints"], **sets}
    for name, rows in sets.items():
        if not rows:
            continue
        texts = [t for t, _, _ in rows]
        layers = tagger.encoder.encode_layers(texts)
        p = complaint_proba(tagger.heads["complaint"], tagger.encoder, layers, texts)
        out[name] = prf([y for _, y, _ in rows], [bool(v >= threshold) for v in p])
        if name == "cfpb_pieces":  # a complaint is found when any of its pieces is
            found: dict[str, bool] = {}
            for (_, _, key), v in zip(rows, p):
                found[key] = found.get(key, False) or bool(v >= threshold)
            out["cfpb_complaints_any_piece_recall"] = round(sum(found.values()) / len(found), 4)
        if name == "cfpb_openings" and "complaint_products" in tagger.heads:
            truth = {f"cfpb:{r['complaint_id']}": r for r in csv.DictReader(open(SHARED_TEXT / "cfpb-complaints" / "complaints.csv", newline=""))}
            topic = tagger.encoder.topic(layers)
            products = tagger.heads["complaint_products"]
            causes = tagger.heads["complaint_topics"]
            got_p = [products.classes[i] for i in products.proba(topic, texts).argmax(axis=1)]
            got_c = [causes.classes[i] for i in causes.proba(topic, texts).argmax(axis=1)]
            want_p = [data.CFPB_PRODUCTS[truth[k]["product"]] for _, _, k in rows]
            want_c = [data.CFPB_CAUSES[truth[k]["issue"]] for _, _, k in rows]
            out["cfpb_product_accuracy"] = round(float(np.mean([a == b for a, b in zip(got_p, want_p)])), 4)
            out["cfpb_cause_accuracy"] = round(float(np.mean([a == b for a, b in zip(got_c, want_c)])), 4)
            out["cfpb_product_majority_baseline"] = round(max(want_p.count(x) for x in set(want_p)) / len(want_p), 4)
            out["cfpb_cause_majority_baseline"] = round(max(want_c.count(x) for x in set(want_c)) / len(want_c), 4)
    return out


def script_utterances(folder: Path, name: str) -> list:
    """A call's turns from its STM file, as utterances with their true roles, redacted."""
    from pipeline.records import Utterance
    from pipeline.redact import redact_utterances

    utterances = []
    for i, line in enumerate((folder / f"{name}.stm").read_text().splitlines()):
        _, _, role, start, end, text = line.split(maxsplit=5)
        utterances.append(Utterance(index=i, speaker=role, role=role, start=float(start), end=float(end), text=text))
    redact_utterances(utterances)
    return utterances


def stored_calls(folder: Path, db: Path | None, retag: bool, taxonomy: str, scripts: bool = False) -> list[dict]:
    """Per call: truth and what Parley said (stored tags, the current tagger's on the stored
    transcripts, or the current tagger's on the true scripts)."""
    import duckdb

    truth = read_truth(folder)
    con = duckdb.connect(str(db), read_only=True) if db else None
    recs = {name.rsplit(".", 1)[0]: rid for rid, name in con.execute("SELECT id, source_name FROM recordings").fetchall()} if con else {n: n for n in truth}
    tagger = tagger_for(taxonomy) if retag or scripts else None
    rows = []
    for name, t in truth.items():
        rid = recs.get(name)
        if rid is None:
            continue
        if scripts:
            tags = [(x.utterance_index, x.kind, x.label, x.score, x.role, x.evidence) for x in tagger.tag(script_utterances(folder, name))]
        elif tagger is not None:
            from pipeline.retag import stored_utterances
            from pipeline.store import Store

            tags = [(x.utterance_index, x.kind, x.label, x.score, x.role, x.evidence) for x in tagger.tag(stored_utterances(Store(db), rid))]
        else:
            tags = con.execute("SELECT utterance_index, kind, label, score, role, evidence FROM tags WHERE recording_id = ?", [rid]).fetchall()
        get = {k: (lab, sc, ev) for i, k, lab, sc, _, ev in tags if i is None}
        utterance_p = [sc for i, k, _, sc, role, _ in tags if i is not None and k == "complaint"]
        rows.append({
            "name": name, "truth": t, "complaint": get.get("complaint", ("no", 0, []))[0] == "yes",
            "max_p": max(utterance_p, default=0.0), "escalation": get.get("escalation_requested", ("no",))[0] == "yes",
            "resolved": get.get("resolved_on_call", ("no",))[0] == "yes", "product": get.get("complaint_product", (None,))[0],
        })
    if con:
        con.close()
    return rows


def call_evidence(tagger, utterances):
    """The interaction head's inputs for one call, as ``Tagger.tag`` computes them."""
    from pipeline.tagging import complaints

    texts = [u.redacted_text or u.text for u in utterances]
    proba, s = tagger.scores(texts, [u.role for u in utterances])
    whole = complaints.customer_text(utterances)
    p_whole = float(complaints.complaint_proba(tagger.heads["complaint"], tagger.encoder, tagger.encoder.encode_layers([whole]), [whole])[0])
    return complaints.evidence(s.complaint, p_whole, proba["complaint_outcomes"], tagger.heads["complaint_outcomes"].classes, utterances)


def calibrate(args) -> dict:
    import duckdb
    from sklearn.linear_model import LogisticRegression

    from pipeline.retag import stored_utterances
    from pipeline.store import Store
    from pipeline.tagging.complaints import _logit

    tagger = tagger_for("general")
    X, y = [], []
    for folder, db in zip(args.pairs[::2], args.pairs[1::2]):
        truth = read_truth(Path(folder))
        if any(t["split"] != "dev" for t in truth.values()):
            raise SystemExit(f"{folder}: calibrate on development calls only (bench/calls.py --split dev)")
        with duckdb.connect(db, read_only=True) as con:
            recs = {name.rsplit(".", 1)[0]: rid for rid, name in con.execute("SELECT id, source_name FROM recordings").fetchall()}
        for name, t in truth.items():
            if name in recs:
                found = call_evidence(tagger, stored_utterances(Store(Path(db)), recs[name]))
                X.append([_logit(found.customer_max), _logit(found.customer_whole), found.staff_answer])
                y.append(t["kind"] == "complaint")
    X, y = np.array(X), np.array(y)
    f1s = []
    for seed in range(5):
        order = np.random.default_rng(seed).permutation(len(y))
        predicted = np.zeros(len(y), bool)
        for fold in np.array_split(order, 10):
            rest = np.setdiff1d(order, fold)
            predicted[fold] = LogisticRegression(C=1.0).fit(X[rest], y[rest]).predict(X[fold]).astype(bool)
        f1s.append(prf(list(y), list(predicted))["f1"])
    model = LogisticRegression(C=1.0).fit(X, y)
    weights = {"bias": round(float(model.intercept_[0]), 2), **{k: round(float(w), 2) for k, w in zip(("customer_max", "customer_whole", "staff_answer"), model.coef_[0])}}
    only_max = [prf(list(y), list(X[:, 0] >= _logit(th)))["f1"] for th in (0.5,)]
    return {"calls": len(y), "weights": weights, "cv_f1_mean_5x10": round(float(np.mean(f1s)), 4), "fitted_f1": prf(list(y), list(model.predict(X).astype(bool))),
            "customer_max_at_0.5_f1": only_max[0]}


def calls(args) -> dict:
    if not args.scripts and args.db is None:
        raise SystemExit("give --db DB (the calls processed by parley process) or --scripts")
    rows = stored_calls(args.folder, args.db, args.retag, args.taxonomy, args.scripts)
    truth = [r["truth"]["kind"] == "complaint" for r in rows]
    out = {"folder": str(args.folder), "calls": len(rows), "complaint": prf(truth, [r["complaint"] for r in rows])}
    for r in rows:
        if r["complaint"] != (r["truth"]["kind"] == "complaint"):
            print(f"  wrong: {r['name']} truth={r['truth']['kind']} max_p={r['max_p']:.3f} small_talk={r['truth']['small_talk']}")
    found = [r for r in rows if r["complaint"] and r["truth"]["kind"] == "complaint"]
    if found:
        out["escalation_requested"] = prf([r["truth"]["escalation_requested"] for r in found], [r["escalation"] for r in found])
        out["resolved_on_call_accuracy"] = round(float(np.mean([r["resolved"] == r["truth"]["resolved_on_call"] for r in found])), 4)
    if args.sweep:
        out["sweep"] = {f"{th:.2f}": prf(truth, [r["max_p"] >= th for r in rows])["f1"] for th in np.arange(0.3, 0.91, 0.05)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    w = sub.add_parser("written")
    w.add_argument("--taxonomy", default="general")
    c = sub.add_parser("calls")
    c.add_argument("folder", type=Path)
    c.add_argument("--db", type=Path)
    c.add_argument("--scripts", action="store_true")
    c.add_argument("--retag", action="store_true")
    c.add_argument("--sweep", action="store_true")
    c.add_argument("--taxonomy", default="general")
    k = sub.add_parser("calibrate")
    k.add_argument("pairs", nargs="+", help="FOLDER DB [FOLDER DB ...]")
    args = parser.parse_args()
    result = {"written": written, "calls": calls, "calibrate": calibrate}[args.what](args)
    for key, value in result.items():
        if isinstance(value, dict) and "f1" in value:
            print(f"{key:<32} P {value['precision']:.3f}  R {value['recall']:.3f}  F1 {value['f1']:.3f}  n {value['n']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
