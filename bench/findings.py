"""Do the rules find what the staff member said, through the whole pipeline?

    python bench/findings.py FOLDER [--db DB]

FOLDER holds calls made by `bench/calls.py`, whose ``NAME.truth.json`` says which scored lines
the staff member said (recording disclosure, further help, closing; identity always; an apology
in complaint calls). Parley processes a copy of the folder (the local runner, default settings)
into a throw-away database, or reads DB if given; for each rule this prints in how many calls it
was said and found, said and missed, not said and found anyway (a false find). The last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calls import read_truth  # noqa: E402

RULES = {"disclosure": "call_recording_disclosure", "further_help": "further_help_offered", "closing": "proper_closing",
         "identity": "identity_verification", "empathy": "empathy_apology"}
AUDIO = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")


def process(folder: Path, work: Path) -> Path:
    from pipeline.process import Processor
    from pipeline.settings import Settings

    inbox = work / "inbox"
    inbox.mkdir(parents=True)
    for f in folder.iterdir():
        if f.suffix in AUDIO or (f.suffix == ".json" and not f.name.endswith(".truth.json")):
            shutil.copy(f, inbox)
    s = Settings(db=work / "parley.duckdb", inbox=inbox, archive=work / "archive", quarantine=work / "quarantine")
    Processor(s).process_many(sorted(p for p in inbox.iterdir() if p.suffix in AUDIO))
    return s.db


def evaluate(truth: dict[str, dict], db: Path) -> dict:
    from pipeline.store import Store

    rows = Store(db).query(
        "SELECT r.source_name, f.rule, f.passed, f.matched FROM findings f JOIN recordings r ON r.id = f.recording_id"
    ).rows
    found = {(Path(name).stem, rule): (passed, matched) for name, rule, passed, matched in rows}
    out = {}
    for key, rule in RULES.items():
        tally = {"said_found": 0, "said_missed": 0, "not_said_found": 0, "not_said_clear": 0, "missed": [], "false": []}
        for name, t in truth.items():
            if key not in t["said"] or (name, rule) not in found:
                continue
            passed = found[(name, rule)][0]
            if t["said"][key]:
                tally["said_found" if passed else "said_missed"] += 1
                if not passed:
                    tally["missed"].append(name)
            else:
                tally["not_said_found" if passed else "not_said_clear"] += 1
                if passed:
                    tally["false"].append(f"{name}: {found[(name, rule)][1]!r}")
        out[rule] = tally
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--db", type=Path, help="an already processed database of these calls")
    args = parser.parse_args()
    truth = read_truth(args.folder)
    if not truth:
        sys.exit(f"{args.folder}: no NAME.truth.json files. Fix: make calls with `python bench/calls.py {args.folder}`")
    with tempfile.TemporaryDirectory(prefix="parley-findings-") as tmp:
        db = args.db or process(args.folder, Path(tmp))
        result = evaluate(truth, db)
    for rule, t in result.items():
        said = t["said_found"] + t["said_missed"]
        print(f"{rule:<28} said in {said:>3}: found {t['said_found']:>3}, missed {t['said_missed']:>3};  "
              f"not said in {t['not_said_found'] + t['not_said_clear']:>3}: found anyway {t['not_said_found']:>3}")
        for name in t["missed"]:
            print(f"    missed: {name}")
        for line in t["false"]:
            print(f"    false find: {line}")
    print(json.dumps({rule: {k: v for k, v in t.items() if k not in ("missed", "false")} for rule, t in result.items()}))


if __name__ == "__main__":
    main()
