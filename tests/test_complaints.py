"""Complaint detection (its own head, not sentiment), the financial-services complaint taxonomy,
complaint outcomes and the complaints register, on transcripts written here (fake transcription
at this boundary) with the real encoder and heads, and on a real recording."""

from __future__ import annotations

import csv
import shutil
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.errors import ConfigError
from pipeline.queries import NAMED_QUERIES, run_query
from pipeline.records import Utterance
from pipeline.reports import complaints_register, report_complaints
from pipeline.tagging import TaggingOptions, load_tagger, tags_to_rows
from pipeline.tagging.complaints import FOLDER, load_complaint_data
from pipeline.tagging.taxonomy import complaint_folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from calls import held_out  # noqa: E402

# Written for these tests; none of these lines is in the training data.
CALM_CREDIT_FILE = [
    ("staff", "Good morning, thanks for calling Acme Bank, Jo speaking, how can I help?"),
    ("customer", "Hi, yes, it's about my account."),
    ("staff", "Can I take your full name and date of birth?"),
    ("customer", "It's [NAME], the second of April nineteen seventy six."),
    ("customer", "There's a default on my credit file from your bank for an account I closed years ago, and now I've been turned down for a mortgage."),
    ("staff", "I'm sorry to hear that. I've logged it as a complaint and our investigations team will write to you."),
    ("customer", "That's not good enough, I want to speak to a manager about this today."),
    ("staff", "Of course, I'll ask my team leader to call you back this afternoon."),
    ("customer", "Okay."),
]
PUT_RIGHT = [
    ("staff", "Hello, Acme Energy, you're speaking to Sam."),
    ("customer", "You've taken my direct debit twice this month and now I can't pay my rent."),
    ("staff", "I'm so sorry about that. I've refunded the second payment and it'll be back in your account tonight."),
    ("customer", "Great, thank you, that sorts it then."),
    ("staff", "Is there anything else I can help with?"),
    ("customer", "No, that's everything, bye."),
]
GRUMPY_ENQUIRY = [
    ("staff", "Good afternoon, thanks for calling, how can I help?"),
    ("customer", "Sorry about the noise, the builders next door have been drilling since seven and it's driving me mad."),
    ("customer", "Anyway, what time does the Leeds branch open on Saturdays?"),
    ("staff", "We're open from nine until one on Saturdays."),
    ("customer", "Lovely, thanks very much."),
]


def call(turns, role_of=lambda r: r):
    return [Utterance(index=i, speaker="S1" if r == "staff" else "S2", role=role_of(r), start=3.0 * i, end=3.0 * i + 2.5, text=t) for i, (r, t) in enumerate(turns)]


def interaction(tags, kind):
    return [t for t in tags if t.utterance_index is None and t.kind == kind]


def per_utterance(tags, kind):
    return {t.utterance_index: t for t in tags if t.utterance_index is not None and t.kind == kind}


@pytest.fixture(scope="module")
def tagger():
    return load_tagger(TaggingOptions())


@pytest.fixture(scope="module")
def financial():
    options = TaggingOptions()
    return load_tagger(replace(options, complaint_dir=complaint_folder(options.taxonomy_dir, "financial_services")))


def test_training_rows_come_only_from_development_data():
    """Every public row the complaint head learns from is outside the held-out split that the
    model card's figures are measured on; the project's own rows say so."""
    data = load_complaint_data(TaggingOptions().training_dir)
    sources = [row.get("source", "") for row in data.rows]
    public = [s for s in sources if s.split(":")[0] in ("cfpb", "banking77", "bitext")]
    assert len(public) > 2000 and not [s for s in public if held_out(s)]
    assert set(sources) - set(public) == {"own"}
    assert {row["complaint"] for row in data.rows} == {"yes", "no"}


def test_a_calm_complaint_is_a_complaint_and_a_grumble_is_not(tagger):
    calm = tagger.tag(call(CALM_CREDIT_FILE))
    [complaint] = interaction(calm, "complaint")
    assert complaint.label == "yes" and 4 in complaint.evidence and complaint.score >= tagger.complaint_threshold
    assert not {0, 2, 5, 7} & set(complaint.evidence)  # staff never complain
    marks = per_utterance(calm, "complaint")
    assert set(marks) == {1, 3, 4, 6, 8} and marks[4].label == "yes" and marks[3].label == "no"  # the identity answer is no complaint
    assert all(t.model == "all-MiniLM-L6-v2+complaint" and t.model_version and t.taxonomy_hash for t in marks.values())
    grumble = tagger.tag(call(GRUMPY_ENQUIRY))
    [none] = interaction(grumble, "complaint")
    assert none.label == "no" and none.evidence == [] and none.score < tagger.complaint_threshold
    assert interaction(grumble, "complaint_topic") == [] and interaction(grumble, "resolved_on_call") == []
    assert per_utterance(grumble, "sentiment")[1].label == "negative"  # negative, yet no complaint: the two are apart


def test_a_complaint_needs_no_negative_words(tagger):
    """Sentiment no longer gates a complaint: a neutral, factual allegation of loss counts."""
    for said in ("My statement has a payment of eighty pounds to a company I've never used, so I'd like that refunded please.",
                 "I'm calling because the direct debit came out twice in March and I'd like the second one back."):
        tags = tagger.tag(call([("staff", "Hello, how can I help?"), ("customer", said)]))
        assert interaction(tags, "complaint")[0].label == "yes"
        assert per_utterance(tags, "complaint")[1].label == "yes"
        assert per_utterance(tags, "sentiment")[1].label == "neutral"


def test_outcome_resolved_on_the_call_or_escalated(tagger):
    put_right = tagger.tag(call(PUT_RIGHT))
    [resolved] = interaction(put_right, "resolved_on_call")
    assert (resolved.label, resolved.evidence) == ("yes", [2, 3])  # the staff resolution, then the customer's acceptance
    assert interaction(put_right, "escalation_requested")[0].label == "no"
    calm = tagger.tag(call(CALM_CREDIT_FILE))
    [open_] = interaction(calm, "resolved_on_call")
    assert open_.label == "no" and 5 in open_.detail["follow_up"]
    [escalation] = interaction(calm, "escalation_requested")
    assert (escalation.label, escalation.evidence) == ("yes", [6])
    topics = interaction(put_right, "complaint_topic")
    assert topics and all(t.label in tagger.taxonomies["complaint_topics"].names and t.evidence for t in topics)


def test_unknown_roles_may_complain_and_resolve(tagger):
    tags = tagger.tag(call(PUT_RIGHT, role_of=lambda r: "unknown"))
    assert interaction(tags, "complaint")[0].label == "yes"
    assert interaction(tags, "resolved_on_call")[0].label == "yes"


def test_financial_services_taxonomy_gives_product_and_cause(financial, tagger):
    assert "complaint_products" in financial.heads and "complaint_products" not in tagger.heads
    tags = financial.tag(call(CALM_CREDIT_FILE))
    [product] = interaction(tags, "complaint_product")
    assert product.label == "credit_reporting" and 4 in product.evidence
    causes = {t.label for t in interaction(tags, "complaint_topic")}
    assert causes and causes <= set(financial.taxonomies["complaint_topics"].names)
    assert not causes & set(tagger.taxonomies["complaint_topics"].names)
    assert product.taxonomy_hash == financial.taxonomies["complaint_products"].hash
    # the general taxonomy's topic head is the one it always was: its training rows are untouched
    assert financial.heads["touchpoints"].key == tagger.heads["touchpoints"].key


def test_bad_complaint_settings_fail_with_the_file_and_fix(tmp_path):
    options = TaggingOptions()
    with pytest.raises(ConfigError, match="PARLEY_COMPLAINT_TAXONOMY"):
        complaint_folder(options.taxonomy_dir, str(tmp_path / "nowhere"))
    training = tmp_path / "training"
    shutil.copytree(options.training_dir, training)
    bad = training / FOLDER / "own.csv"
    bad.write_text(bad.read_text().replace(",customer,no,own", ",customer,maybe,own", 1))
    with pytest.raises(ConfigError, match=r"own.csv: line \d+: complaint 'maybe' is not yes or no"):
        load_complaint_data(training)


def test_staff_greetings_are_not_negative(tagger):
    """Greetings as stored (names redacted to [NAME]) used to read as negative."""
    turns = [("staff", "Good afternoon, thanks for calling [NAME], you're speaking with [NAME], how can I help today?"),
             ("staff", "Hello and thank you for calling [NAME] customer services, this is [NAME].")]
    sentiment = per_utterance(tagger.tag(call(turns)), "sentiment")
    assert [sentiment[i].label for i in (0, 1)] != ["negative"] * 2 and "negative" not in {t.label for t in sentiment.values()}


# ---- the register ------------------------------------------------------------------------------

CALLS = {"calm": (CALM_CREDIT_FILE, "billing", 3), "put-right": (PUT_RIGHT, "service", 10), "grumpy": (GRUMPY_ENQUIRY, "billing", 1)}


@pytest.fixture(scope="module")
def register_db(tmp_path_factory, tagger):
    """A store holding the three calls above as the pipeline writes them (tags from the tagger)."""
    from pipeline.store import Store

    path = tmp_path_factory.mktemp("register") / "parley.duckdb"
    store = Store(path)
    today = datetime.combine(date.today(), datetime.min.time())
    for rec, (turns, team, days_ago) in CALLS.items():
        utterances = call(turns)
        tables = tags_to_rows(tagger.tag(utterances))
        tables["utterances"] = [{"idx": u.index, "speaker": u.speaker, "role": u.role, "start_s": u.start, "end_s": u.end, "text": u.text} for u in utterances]
        recording = {"id": rec, "run_id": f"run-{rec}", "source_name": f"{rec}.wav", "staff_id": f"S-{rec}", "team": team, "channel": "phone",
                     "started_at": today - timedelta(days=days_ago, hours=-9), "status": "done"}
        store.write_recording(recording, tables, recording_id=rec)
    return path


def test_register_lists_each_complaint_with_its_outcome_and_age(register_db):
    with duckdb.connect(str(register_db), read_only=True) as con:
        register = complaints_register(con).set_index("recording_id")
        named = run_query(con, "complaints_register")
    assert list(register.index) == ["calm", "put-right"]  # not resolved first, oldest first; the grumble is not there
    calm, fixed = register.loc["calm"], register.loc["put-right"]
    assert (calm.staff_id, calm.team, calm.channel) == ("S-calm", "billing", "phone")
    assert "default on my credit file" in calm.customer_words and "[NAME]" not in calm.customer_words
    assert not calm.resolved_on_call and calm.escalation_requested and "speak to a manager" in calm.escalation_evidence
    assert calm.age_days == 3 and pd.Timestamp(calm.respond_by).date() == date.today() - timedelta(days=3) + timedelta(days=56)
    assert fixed.resolved_on_call and pd.isna(fixed.age_days) and pd.isna(fixed.respond_by)
    assert fixed.resolution_evidence.startswith("staff: I'm so sorry about that. I've refunded") and "customer: Great" in fixed.resolution_evidence
    assert fixed.cause and fixed.complaint_score >= 0.5 and fixed.model_version
    assert named.recording_id.tolist() == ["calm", "put-right"] and "complaints_register" in NAMED_QUERIES


def test_register_report_filters_and_writes_files(register_db, tmp_path):
    from pipeline.cli import app

    with duckdb.connect(str(register_db), read_only=True) as con:
        assert report_complaints(con, team="service").main.recording_id.tolist() == ["put-right"]
        recent = report_complaints(con, since=date.today() - timedelta(days=5))
        with pytest.raises(ConfigError, match="--since 'last week' is not a date"):
            complaints_register(con, since="last week")
    assert recent.main.recording_id.tolist() == ["calm"]
    assert recent.tables["summary"][["complaints", "open", "escalation_requested"]].values.tolist() == [[1, 1, 1]]
    runner = CliRunner()
    for suffix in ("csv", "parquet", "html"):
        out = tmp_path / f"register.{suffix}"
        result = runner.invoke(app, ["report", "complaints", "--since", str(date.today() - timedelta(days=30)), "--team", "billing", "--out", str(out), "--db", str(register_db)])
        assert result.exit_code == 0, result.output
        assert out.is_file() and "Complaints register" in result.output
    rows = list(csv.DictReader(open(tmp_path / "register.csv")))
    assert [r["recording_id"] for r in rows] == ["calm"] and rows[0]["age_days"] == "3"
    assert duckdb.sql(f"SELECT recording_id FROM read_parquet('{tmp_path / 'register.parquet'}')").fetchall() == [("calm",)]
    assert "default on my credit file" in (tmp_path / "register.html").read_text()
    missing = runner.invoke(app, ["report", "complaints", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2 and not (tmp_path / "none.duckdb").exists()


def test_the_bundled_samples_billing_complaint_is_one_and_real_small_talk_is_not(workspace):
    """Two bundled samples through the whole pipeline: the billing call (a customer charged twice,
    8 kHz stereo) is a complaint; the real phone call (pyannote's sample: two strangers chatting,
    "they all call me a Yankee down here") is not."""
    from conftest import DATA, drop

    from pipeline.process import Processor

    billing = ROOT / "data" / "samples" / "20261102T091500_S1042_billing_leeds_phone_inbound.wav"
    processor = Processor(workspace)
    for source in (billing, DATA / "pyannote_sample.wav"):
        assert processor.process(drop(workspace, source)).status == "done"
    found = dict(processor.store.query(
        "SELECT r.source_name, t.label FROM recordings r JOIN tags t ON t.recording_id = r.id AND t.kind = 'complaint' AND t.utterance_index IS NULL").rows)
    assert found == {billing.name: "yes", "pyannote_sample.wav": "no"}
    assert processor.store.query("SELECT count(*) FROM tags WHERE kind = 'complaint' AND utterance_index IS NOT NULL").rows[0][0] > 3


def test_eval_complaints_prints_a_table_then_one_json_line(tmp_path):
    import json

    import typer

    from pipeline.tagging.cli import register

    data = tmp_path / "mine.csv"
    data.write_text("text,label\n"
                    "\"you charged my card twice for one order and I want the money back\",yes\n"
                    "\"what are your opening hours on Sunday\",no\n"
                    "\"the weather has been dreadful all week\",no\n")
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["complaints", "--data", str(data), "--label-col", "label"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["n"] == 3 and set(report["per_class"]) == {"yes", "no"} and report["accuracy"] == 1.0
    bad = CliRunner().invoke(app, ["complaints", "--data", str(data), "--label-col", "text"])
    assert bad.exit_code != 0 and "are not yes or no" in bad.output
