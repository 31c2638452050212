"""Regenerate the public-data training files of the complaint head (``data/training/complaints/``)
from the shared data sets, taking only their development rows (``bench/calls.py`` ``held_out``
is False). The held-out rows are what the model card's figures are measured on; none of them is
ever written here (``tests/test_complaints.py`` checks every row's ``source``).

- ``cfpb.csv`` (public domain): every development complaint of ``cfpb-complaints/complaints.csv``
  as its opening (the first sentences without the CFPB's XXXX blanks, up to about 55 words, as a
  caller would start) and cut into utterance-sized pieces (a sentence, long ones split at about 30
  words; blanked sentences and repeats left out; at most ``PIECES_PER_COMPLAINT`` per
  complaint), each labelled a complaint with the financial-services product and cause its
  consumer chose (mapped below). Not every sentence of a complaint complains ("I opened the
  account in 2019."), so a piece is kept only when a first head, trained on everything else
  here and the openings (whole complaints, so rightly labelled), gives it a complaint
  probability of at least ``PIECE_KEEP``: the usual way to learn from bags whose members are
  not all positive. The rest are left out, not relabelled.
- ``banking77.csv`` (CC BY 4.0): ``PER_INTENT`` development rows of each intent that reports a
  failure or loss (complaint, with product and cause) and of each plain-request intent (not a
  complaint). Intents that can go either way (pending payments, questions about fees, lost cards,
  refund requests, ...) are left out, not guessed.
- ``bitext.csv`` (CDLA-Sharing-1.0): the same for Bitext's customer-service intents; its
  complaints have no financial product, so no product or cause.

The rows the project wrote itself (``own.csv``) are not made here.

Calls are heard, not read: with ``--spoken`` a share of the rows above (and of ``own.csv``) is
also spoken by espeak-ng (development voices only), band-limited to 8 kHz telephone audio,
transcribed by the bundled Whisper and cut into utterances and redacted as Parley does, and the
transcribed utterances are added as rows (``form`` spoken; complaint pieces filtered as above;
``own.csv``'s in ``own_spoken.csv``). ``--exclude-calls FOLDER`` leaves out every source row
used by the calls in FOLDER (made by ``bench/calls.py --split dev``), so those calls stay unseen
for choosing the complaint threshold. Run from the checkout:

    python bench/calls.py /tmp/dev-calls --n 40 --split dev --layout stereo --rate 8000
    python models/make_complaint_data.py --spoken --exclude-calls /tmp/dev-calls
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

sys.path.insert(0, str(ROOT))

from calls import BANKING77_REQUESTS, BITEXT_REQUESTS, SHARED_TEXT, _sentences, _spoken, complaint_excerpt, held_out  # noqa: E402

OUT = ROOT / "data" / "training" / "complaints"
FIELDS = ["text", "complaint", "complaint_product", "complaint_topic", "source", "form"]
PIECES_PER_COMPLAINT = 10
PER_INTENT = 30
MAX_WORDS = 30
PIECE_KEEP = 0.5
SPOKEN = {"cfpb": 1.0, "banking77": 0.25, "bitext": 0.25, "own": 1.0}
"""Share of each file's rows that is also spoken and transcribed (``--spoken``)."""
TURNS_PER_FILE = 8

CFPB_PRODUCTS = {
    "Credit reporting, credit repair services, or other personal consumer reports": "credit_reporting",
    "Credit card or prepaid card": "credit_card",
    "Checking or savings account": "current_account",
    "Mortgage": "mortgage",
    "Debt collection": "debt_collection",
    "Money transfer, virtual currency, or money service": "payments",
    "Vehicle loan or lease": "loans",
    "Payday loan, title loan, or personal loan": "loans",
    "Student loan": "loans",
}
CFPB_CAUSES = {
    "Incorrect information on your report": "incorrect_information",
    "Problem with a credit reporting company's investigation into an existing problem": "dispute_handling",
    "Problem with a company's investigation into an existing issue": "dispute_handling",
    "Improper use of your report": "data_misuse",
    "Threatened to contact someone or share information improperly": "arrears_collections",
    "Problem with fraud alerts or security freezes": "data_misuse",
    "Unable to get your credit report or credit score": "service",
    "Can't contact lender or servicer": "service",
    "Managing an account": "account_administration",
    "Closing an account": "account_administration",
    "Closing your account": "account_administration",
    "Opening an account": "account_administration",
    "Problem with the payoff process at the end of the loan": "account_administration",
    "Problems at the end of the loan or lease": "account_administration",
    "Other features, terms, or problems": "account_administration",
    "Problem with a purchase shown on your statement": "payments_transactions",
    "Trouble during payment process": "payments_transactions",
    "Problem when making payments": "payments_transactions",
    "Problem with a purchase or transfer": "payments_transactions",
    "Wrong amount charged or received": "payments_transactions",
    "Trouble using the card": "payments_transactions",
    "Trouble using your card": "payments_transactions",
    "Unauthorized transactions or other transaction problem": "fraud_scams",
    "Fraud or scam": "fraud_scams",
    "Fees or interest": "fees_charges",
    "Problem with a lender or other company charging your account": "fees_charges",
    "Problem caused by your funds being low": "fees_charges",
    "Attempts to collect debt not owed": "arrears_collections",
    "Took or threatened to take negative or legal action": "arrears_collections",
    "Written notification about debt": "arrears_collections",
    "Communication tactics": "arrears_collections",
    "False statements or representation": "arrears_collections",
    "Struggling to pay mortgage": "arrears_collections",
    "Struggling to pay your loan": "arrears_collections",
    "Struggling to pay your bill": "arrears_collections",
    "Struggling to repay your loan": "arrears_collections",
    "Getting a loan or lease": "advice_sales",
    "Getting a credit card": "advice_sales",
    "Applying for a mortgage or refinancing an existing mortgage": "advice_sales",
    "Closing on a mortgage": "advice_sales",
    "Confusing or missing disclosures": "advice_sales",
    "Advertising and marketing, including promotional offers": "advice_sales",
}

BANKING77_COMPLAINTS = {
    # intent: (product, cause)
    "Refund_not_showing_up": ("current_account", "payments_transactions"),
    "balance_not_updated_after_bank_transfer": ("current_account", "payments_transactions"),
    "balance_not_updated_after_cheque_or_cash_deposit": ("current_account", "payments_transactions"),
    "beneficiary_not_allowed": ("payments", "payments_transactions"),
    "card_not_working": ("current_account", "payments_transactions"),
    "card_payment_fee_charged": ("current_account", "fees_charges"),
    "card_payment_not_recognised": ("current_account", "fraud_scams"),
    "card_payment_wrong_exchange_rate": ("current_account", "fees_charges"),
    "card_swallowed": ("current_account", "payments_transactions"),
    "cash_withdrawal_charge": ("current_account", "fees_charges"),
    "cash_withdrawal_not_recognised": ("current_account", "fraud_scams"),
    "contactless_not_working": ("current_account", "payments_transactions"),
    "declined_card_payment": ("current_account", "payments_transactions"),
    "declined_cash_withdrawal": ("current_account", "payments_transactions"),
    "declined_transfer": ("payments", "payments_transactions"),
    "direct_debit_payment_not_recognised": ("current_account", "fraud_scams"),
    "extra_charge_on_statement": ("current_account", "fees_charges"),
    "failed_transfer": ("payments", "payments_transactions"),
    "pin_blocked": ("current_account", "account_administration"),
    "reverted_card_payment?": ("current_account", "payments_transactions"),
    "top_up_failed": ("payments", "payments_transactions"),
    "top_up_reverted": ("payments", "payments_transactions"),
    "transaction_charged_twice": ("current_account", "payments_transactions"),
    "transfer_fee_charged": ("payments", "fees_charges"),
    "transfer_not_received_by_recipient": ("payments", "payments_transactions"),
    "virtual_card_not_working": ("current_account", "payments_transactions"),
    "wrong_amount_of_cash_received": ("current_account", "payments_transactions"),
    "wrong_exchange_rate_for_cash_withdrawal": ("current_account", "fees_charges"),
}
BITEXT_COMPLAINTS = {"complaint", "payment_issue", "registration_problems"}


def pieces(narrative: str) -> list[str]:
    """Utterance-sized pieces of a written complaint: its sentences without XXXX blanks, those
    over ``MAX_WORDS`` words cut into even parts, amounts made speakable."""
    out = []
    for sentence in _sentences(narrative):
        if "XX" in sentence:
            continue
        words = _spoken(sentence).split()
        if len(words) < 4:
            continue
        parts = -(-len(words) // MAX_WORDS)
        size = -(-len(words) // parts)
        out += [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return out


def opening(narrative: str) -> str | None:
    """How a caller would start: ``bench/calls.py``'s excerpt, else the first 50 words of the
    sentences without blanks."""
    found = complaint_excerpt(narrative)
    if found:
        return found
    words = " ".join(_spoken(s) for s in _sentences(narrative) if "XX" not in s).split()[:50]
    return " ".join(words) if len(words) >= 10 else None


def cfpb_rows(shared: Path, rng: random.Random, exclude: set[str]) -> tuple[list[dict], list[dict]]:
    """(openings, pieces) of the development complaints, labelled."""
    openings, cut_rows, seen = [], [], set()
    with open(shared / "cfpb-complaints" / "complaints.csv", newline="") as f:
        for row in csv.DictReader(f):
            key = f"cfpb:{row['complaint_id']}"
            if held_out(key) or key in exclude:
                continue
            labels = {"complaint": "yes", "complaint_product": CFPB_PRODUCTS[row["product"]], "complaint_topic": CFPB_CAUSES[row["issue"]], "source": key, "form": "written"}
            start = opening(row["narrative"])
            if start and start not in seen:
                seen.add(start)
                openings.append({"text": start, **labels})
            cut = [t for t in dict.fromkeys(pieces(row["narrative"])) if t not in seen]
            if len(cut) > PIECES_PER_COMPLAINT:  # keep the first sentences (where calls start) and a sample of the rest
                cut = cut[:3] + rng.sample(cut[3:], PIECES_PER_COMPLAINT - 3)
            seen.update(cut)
            cut_rows += [{"text": text, **labels} for text in cut]
    return openings, cut_rows


def first_head(trusted: list[dict]):
    """A complaint head (the shipped recipe) on ``trusted`` rows, the project's own rows and the
    main training rows: ``keep(rows)`` then keeps the complaint rows it gives at least
    ``PIECE_KEEP`` (and every row that is not a complaint)."""
    from pipeline.tagging.complaints import ComplaintData, complaint_pairs, complaint_proba, fit_complaint
    from pipeline.tagging.encoder import load_encoder
    from pipeline.tagging.options import TaggingOptions
    from pipeline.tagging.training import load_training

    options = TaggingOptions()
    own = list(csv.DictReader(open(OUT / "own.csv", newline="", encoding="utf-8")))
    pairs = complaint_pairs(ComplaintData(tuple(trusted + own), ""), load_training(options.training_dir))
    encoder = load_encoder(options.encoder, options.max_tokens, 2, options.cache_dir)
    head = fit_complaint(encoder, pairs, "round-0")

    def keep(rows: list[dict], what: str) -> list[dict]:
        texts = [r["text"] for r in rows]
        p = complaint_proba(head, encoder, encoder.encode_layers(texts), texts) if rows else []
        kept = [r for r, pi in zip(rows, p) if r["complaint"] == "no" or pi >= PIECE_KEEP]
        pieces = sum(r["complaint"] == "yes" for r in rows)
        print(f"{what}: {sum(r['complaint'] == 'yes' for r in kept)} of {pieces} complaint pieces kept (probability >= {PIECE_KEEP} by a head trained without them)")
        return kept

    return keep


def spoken(rows: list[dict], share: float, rng: random.Random, work: Path) -> list[dict]:
    """A ``share`` of ``rows`` spoken (development voices, 8 kHz telephone band), transcribed,
    cut into utterances and redacted as Parley does: one row per transcribed utterance, with the
    labels of the row it came from."""
    from calls import voices_of

    from pipeline.audio import decode
    from pipeline.redact import redact_utterances
    from pipeline.synth import Turn, Voice, synthesize
    from pipeline.transcribe import TranscribeOptions, transcribe, whisper_model

    chosen = [r for r in rows if rng.random() < share]
    voices = [Voice(v[0], v[3], v[2]) for v in voices_of("dev")]
    options = TranscribeOptions(cpu_threads=2, workers=1)
    model = whisper_model(options)
    out = []
    for start in range(0, len(chosen), TURNS_PER_FILE):
        batch = chosen[start : start + TURNS_PER_FILE]
        path = work / f"spoken-{start:05d}.wav"
        script = synthesize([Turn("customer", r["text"], gap_s=1.5) for r in batch], path, stereo=False, sample_rate=8000,
                            voices={"customer": rng.choice(voices)}, telephone=True, seed=start)
        utterances = transcribe(decode(path), options, model).utterances
        redact_utterances(utterances)
        for u in utterances:
            middle = (u.start + u.end) / 2
            turn = next((t for t in script.turns if t.start - 0.3 <= middle <= t.end + 0.5), None)
            text = " ".join((u.redacted_text or u.text).split())
            if turn is not None and text:
                out.append({**batch[turn.index], "text": text, "form": "spoken"})
        path.unlink()
    print(f"spoken: {len(chosen)} rows gave {len(out)} transcribed utterances")
    return out


def intent_rows(path: Path, dataset: str, text_col: str, label_col: str, complaints: dict, requests: set, rng: random.Random, exclude: set[str]) -> list[dict]:
    by_intent: dict[str, list[dict]] = {}
    with open(path, newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            key, intent, text = f"{dataset}:{i}", row[label_col], " ".join(row[text_col].split())
            if held_out(key) or key in exclude or (intent not in complaints and intent not in requests) or re.search(r"\{\{|\d{5,}", text):
                continue
            product, cause = complaints.get(intent, ("", ""))
            by_intent.setdefault(intent, []).append(
                {"text": text, "complaint": "yes" if intent in complaints else "no", "complaint_product": product, "complaint_topic": cause, "source": key, "form": "written"}
            )
    rows = []
    for intent in sorted(by_intent):
        found = by_intent[intent]
        rows += rng.sample(found, min(PER_INTENT, len(found)))
    return sorted(rows, key=lambda r: int(r["source"].split(":")[1]))


def write(name: str, rows: list[dict], note: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / name, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    yes = sum(r["complaint"] == "yes" for r in rows)
    print(f"{OUT / name}: {len(rows)} rows ({yes} complaints) - {note}")


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED_TEXT, help="folder holding cfpb-complaints/, banking77/ and bitext/")
    parser.add_argument("--spoken", action="store_true", help="also speak, transcribe and add a share of the rows (SPOKEN)")
    parser.add_argument("--exclude-calls", type=Path, help="leave out the source rows of the calls in this folder (bench/calls.py --split dev)")
    args = parser.parse_args()
    exclude = {json.loads(p.read_text())["source"] for p in args.exclude_calls.glob("*.truth.json")} if args.exclude_calls else set()
    if any(held_out(key) for key in exclude):
        raise SystemExit(f"{args.exclude_calls}: these calls use held-out rows; give development calls (--split dev)")
    rng = random.Random(16)
    openings, cut = cfpb_rows(args.shared, rng, exclude)
    bitext_complaints = {intent: ("", "") for intent in BITEXT_COMPLAINTS}
    banking = intent_rows(args.shared / "banking77" / "train.csv", "banking77", "text", "category", BANKING77_COMPLAINTS, BANKING77_REQUESTS, rng, exclude)
    bitext = intent_rows(args.shared / "bitext" / "bitext_official_early_sample.csv", "bitext", "instruction", "intent", bitext_complaints, BITEXT_REQUESTS, rng, exclude)
    keep = first_head(banking + bitext + openings)
    cfpb = openings + keep(cut, "cfpb pieces")
    own_spoken: list[dict] = []
    if args.spoken:
        with tempfile.TemporaryDirectory() as work:
            speak = lambda rows, name: keep(spoken(rows, SPOKEN[name], random.Random(name), Path(work)), f"{name} spoken")  # noqa: E731
            cfpb += speak(openings, "cfpb")
            banking += speak(banking, "banking77")
            bitext += speak(bitext, "bitext")
            own = [{**r, "form": "written"} for r in csv.DictReader(open(OUT / "own.csv", newline="", encoding="utf-8"))]
            own_spoken = [{k: r.get(k, "") for k in FIELDS} for r in speak(own, "own")]
    write("banking77.csv", banking, "banking77, CC BY 4.0")
    write("bitext.csv", bitext, "Bitext, CDLA-Sharing-1.0")
    write("cfpb.csv", cfpb, "CFPB Consumer Complaint Database, public domain")
    if own_spoken:
        write("own_spoken.csv", own_spoken, "own rows, spoken and transcribed")


if __name__ == "__main__":
    main()
