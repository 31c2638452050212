"""An outside check of the shipped touchpoint head: Bitext customer-service utterances, whose
intents map onto our touchpoints, scored by the head the tagger uses (taxonomy examples plus
data/training). Nothing here was written by us, unlike bench/taxonomy_cv.py's rows.

Only intents with one clear touchpoint are kept (17 of 27); ``contact_human_agent``, ``review``,
``cancel_order``, ``change_order``, ``registration_problems``, ``newsletter_subscription``,
``create_account`` and the shipping-address intents could be read two ways and are left out.

    .venv/bin/python bench/touchpoints_bitext.py [CSV]

Prints the per-class table and, last, one JSON object (as ``parley eval taxonomy`` does).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.tagging.cli import print_report  # noqa: E402
from pipeline.tagging.evaluate import evaluate_taxonomy  # noqa: E402
from pipeline.tagging.options import TaggingOptions  # noqa: E402
from pipeline.tagging.taxonomy import load_taxonomies  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "data" / "text" / "bitext" / "bitext_official_early_sample.csv"

TOUCHPOINT_OF = {
    "place_order": "sales",
    "track_order": "delivery",
    "delivery_options": "delivery",
    "delivery_period": "delivery",
    "check_invoice": "billing",
    "get_invoice": "billing",
    "check_payment_methods": "billing",
    "payment_issue": "billing",
    "check_refund_policy": "billing",
    "get_refund": "billing",
    "track_refund": "billing",
    "edit_account": "account_management",
    "recover_password": "account_management",
    "switch_account": "account_management",
    "complaint": "complaint_handling",
    "delete_account": "retention",
    "check_cancellation_fee": "retention",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, nargs="?", default=DEFAULT)
    args = parser.parse_args()
    with args.csv.open(newline="", encoding="utf-8") as handle:
        rows = [(r["instruction"].strip(), TOUCHPOINT_OF[r["intent"]]) for r in csv.DictReader(handle) if r["intent"] in TOUCHPOINT_OF]
    options = TaggingOptions()
    result = evaluate_taxonomy(options, load_taxonomies(options.taxonomy_dir)["touchpoints"], rows)
    print_report({**result, "data": str(args.csv), "intents": len(TOUCHPOINT_OF)})


if __name__ == "__main__":
    main()
