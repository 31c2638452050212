"""Stand-in analysis rows and synthetic databases, for the web app's tests and benchmark only.

The taggers, rules and scorecards are other stages; until they are wired into processing, the
tests put rows of the same shape into ``tags``, ``findings``, ``scorecards`` and
``scorecard_lines`` with ``analysis_rows`` (simple keyword rules over the real transcript, model
``web-seed``), and the benchmark builds a whole synthetic database with ``synthetic_db``.
Nothing here runs in production.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ..store import Store
from .data import STAND_INS

RUBRIC = ("contact_centre", "1")
CRITERIA = [
    ("opening", "greeting", "thank|morning|afternoon|hello|welcome"),
    ("opening", "recording_disclosure", "record"),
    ("security", "identity_check", "verify|date of birth|postcode|security"),
    ("conduct", "empathy", "sorry|apologi|understand"),
    ("outcome", "resolution", "refund|resolved|sorted|done|arrange"),
    ("closing", "closing", "anything else|goodbye|good day|bye"),
]
NEGATIVE = re.compile(r"angry|ridiculous|twice|not fixed|complain|leaving|wrong|problem|unhappy|terrible", re.I)
POSITIVE = re.compile(r"thank|great|perfect|lovely|brilliant|happy|fine", re.I)
MODEL = "web-seed"


def ensure_analysis_tables(con: Any) -> None:
    """Create the analysis tables a database does not have yet (same columns as the stages' own)."""
    for name, columns in STAND_INS.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns})")


def analysis_rows(rec: dict[str, Any], utterances: list[dict[str, Any]], scored_at: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """Tags, findings and a scorecard for one recording, from keyword rules over its utterances."""
    run_id, rid = rec["run_id"] or "seed", rec["id"]
    base = {"recording_id": rid, "run_id": run_id}
    tags, findings, lines = [], [], []
    polarity = []
    for u in utterances:
        role = u["role"] if u["role"] in ("staff", "customer") else "customer"
        label = "negative" if NEGATIVE.search(u["text"]) else "positive" if POSITIVE.search(u["text"]) else "neutral"
        tags.append({**base, "utterance_index": u["idx"], "kind": "sentiment", "label": label, "score": 0.8, "role": role, "model": MODEL, "model_version": "1", "evidence": None})
        if role == "customer":
            polarity.append({"negative": -1, "positive": 1}.get(label, 0))
    complaint = any(NEGATIVE.search(u["text"]) for u in utterances)
    negative_at = [u["idx"] for u in utterances if NEGATIVE.search(u["text"])]
    trajectory = "improved" if polarity and polarity[-1] > polarity[0] else "worsened" if polarity and polarity[-1] < polarity[0] else "flat"
    touchpoint = {"billing": "billing", "service": "order_status"}.get(rec.get("team") or "", "account_opening")
    for kind, label, role, evidence in (
        ("touchpoint", touchpoint, None, []),
        ("complaint", "yes" if complaint else "no", "customer", negative_at),
        ("complaint_topic", "billing_error" if complaint else "none", "customer", negative_at),
        ("sentiment_trajectory", trajectory, "customer", []),
    ):
        tags.append({**base, "utterance_index": None, "kind": kind, "label": label, "score": 0.9, "role": role, "model": MODEL, "model_version": "1", "evidence": evidence})
    points = 0.0
    weight = round(100 / len(CRITERIA), 4)
    for section, criterion, pattern in CRITERIA:
        hit = next((u for u in utterances if re.search(pattern, u["text"], re.I)), None)
        rule = "call_recording_disclosure" if criterion == "recording_disclosure" else criterion
        at = hit or (utterances[0] if utterances else None)
        findings.append({**base, "rule": rule, "category": "compliance" if section in ("opening", "security") else "quality", "passed": hit is not None,
                         "utterance_index": at["idx"] if at else None, "start_s": at["start_s"] if at else None, "end_s": at["end_s"] if at else None,
                         "matched": hit["text"][:80] if hit else None, "score": None})
        points += weight if hit else 0.0
        lines.append({**base, "rubric_id": RUBRIC[0], "rubric_version": RUBRIC[1], "section": section, "criterion": criterion, "fact": f"rule:{rule}",
                      "status": "pass" if hit else "fail", "weight": weight, "points": weight if hit else 0.0, "auto_fail": criterion == "recording_disclosure",
                      "value": "passed" if hit else "failed", "evidence": {"utterance_index": at["idx"] if at else None}})
    auto_failed = not any(f["passed"] for f in findings if f["rule"] == "call_recording_disclosure")
    score = 0.0 if auto_failed else round(points, 2)
    card = {**base, "rubric_id": RUBRIC[0], "rubric_version": RUBRIC[1], "rubric_hash": "seed", "score": score, "raw_score": round(points, 2),
            "passed": score >= 70, "auto_failed": auto_failed, "pass_mark": 70.0, "scored_at": scored_at or datetime.now()}
    return {"tags": tags, "findings": findings, "scorecards": [card], "scorecard_lines": lines}


def seed_analysis(store: Store) -> int:
    """Add stand-in analysis rows for stored recordings that have no scorecard yet; returns how many."""
    with store.connect() as con:
        ensure_analysis_tables(con)
    recs = store.query("SELECT id, run_id, team FROM recordings WHERE id NOT IN (SELECT recording_id FROM scorecards)")
    n = 0
    for rid, run_id, team in recs.rows:
        got = store.query("SELECT idx, role, start_s, end_s, text FROM utterances WHERE recording_id = ? ORDER BY idx", [rid])
        utterances = [dict(zip(got.columns, r)) for r in got.rows]
        tables = analysis_rows({"id": rid, "run_id": run_id, "team": team}, utterances)
        store.write_recording(None, tables, recording_id=rid, replace_all=False)
        n += 1
    return n


# -- synthetic databases (benchmark, security tests) -------------------------------------------
TEAMS = {"billing": ["leeds", "york"], "service": ["leeds", "york"], "sales": ["leeds"], "retention": ["york"]}
LINES = [
    ("staff", "Good morning, thank you for calling Northfield. This call is recorded for quality and training."),
    ("customer", "Hello, I am calling about my bill, I think I have been charged twice this month."),
    ("staff", "I am sorry to hear that. Can I take your date of birth to verify your identity?"),
    ("customer", "Yes, it is the fourth of March."),
    ("staff", "Thank you. I can see the duplicate payment and I have arranged a refund."),
    ("customer", "That is ridiculous, this is the second time, I am really unhappy."),
    ("staff", "I completely understand. The refund will arrive within five working days."),
    ("customer", "Fine, thank you for sorting it."),
    ("staff", "Is there anything else I can help you with today?"),
    ("customer", "No, that is all, goodbye."),
]


def synthetic_db(path: str | Path, n: int, *, archive_file: str | Path | None = None, seed: int = 0, utterances_per: int = 20,
                 start: datetime = datetime(2026, 8, 3, 9, 0)) -> Store:
    """A database of ``n`` synthetic interactions over four teams, with analysis rows; returns its Store.

    Each interaction has ``utterances_per`` utterances drawn from a short scripted call (some lines
    left out at random, so scores vary); ``archive_file`` is given as every recording's archive copy.
    """
    rng = random.Random(seed)
    store = Store(path)
    recordings, utterances, analysis = [], [], {k: [] for k in ("tags", "findings", "scorecards", "scorecard_lines")}
    staff = [(f"S{1000 + i}", team, sites[i % len(sites)]) for i, (team, sites) in enumerate(list(TEAMS.items()) * 6)]
    for i in range(n):
        staff_id, team, site = staff[rng.randrange(len(staff))]
        rid = uuid.UUID(int=rng.getrandbits(128)).hex + f"{i:032x}"
        run_id = str(uuid.UUID(int=rng.getrandbits(128)))
        at = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 112))
        skip = {k for k in range(len(LINES)) if rng.random() < (0.35 if staff_id.endswith("7") else 0.1)}
        complaint_free = rng.random() < 0.7
        utts, t = [], 0.0
        for k in range(utterances_per):
            role, text = LINES[k % len(LINES)]
            if k % len(LINES) in skip or (k % len(LINES) in (1, 5) and complaint_free):
                text = "Okay." if k % len(LINES) in skip else "I would like to check the payments on my account, please."
            dur = 1.5 + len(text) / 18
            utts.append({"recording_id": rid, "run_id": run_id, "idx": k, "speaker": "S1" if role == "staff" else "S2", "role": role,
                         "channel": 0 if role == "staff" else 1, "start_s": round(t, 2), "end_s": round(t + dur, 2), "text": text, "n_words": len(text.split())})
            t += dur + 0.4
        rec = {"id": rid, "source_name": f"call-{i:05d}.wav", "archive_path": str(archive_file) if archive_file else None, "format": "wav", "codec": "pcm_s16le",
               "layout": "stereo", "channels": 2, "sample_rate": 8000, "duration_s": round(t, 2), "staff_id": staff_id, "team": team, "site": site,
               "channel": rng.choice(["phone", "phone", "phone", "video", "face-to-face"]), "direction": "inbound", "customer_ref": f"C-{rng.randrange(10**6):06d}",
               "started_at": at, "metadata_source": "sidecar", "language": "en", "status": "done", "received_at": at, "processed_at": at, "run_id": run_id}
        recordings.append(rec)
        utterances += utts
        for table, rows in analysis_rows(rec, utts, scored_at=at).items():
            analysis[table] += rows
    with store.connect() as con:
        ensure_analysis_tables(con)
        for table, rows in [("recordings", recordings), ("utterances", utterances), *analysis.items()]:
            frame = pd.DataFrame(rows)
            select = "*"
            if "evidence" in frame:  # lists and dicts travel as JSON text, then are cast to the column type
                frame["evidence"] = frame.evidence.map(lambda e: json.dumps(e) if e is not None else None).astype("string")
                select = "* REPLACE (CAST(CAST(evidence AS JSON) AS INTEGER[]) AS evidence)" if table == "tags" else "*"
            con.register("frame", frame)
            con.execute(f"INSERT INTO {table} BY NAME SELECT {select} FROM frame")
            con.unregister("frame")
        # stereo calls: roles by channel (roles.roles_by_channel), as configured and not flagged
        con.execute("""INSERT INTO role_assignment BY NAME SELECT id AS recording_id, run_id, 'channel' AS method, ['S1'] AS staff_speakers,
                       0.9 AS confidence, false AS flagged, 'stereo: channel 0 is the staff member (channel map), the words agree' AS reason,
                       false AS swapped_channels, 2 AS n_speakers, 1.0 AS speaker_count_confidence,
                       'two channels: one speaker each' AS speaker_count_reason FROM recordings""")
    return store
