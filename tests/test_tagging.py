"""The tagger on transcripts built here (fake transcription at this boundary) with the real encoder."""

import json
import shutil
from dataclasses import replace

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from pipeline.records import Utterance
from pipeline.tagging import TaggingOptions, load_tagger, tags_to_rows
from pipeline.tagging.cli import register

SQL = "pipeline/sql/0002_tags.sql"

ANGRY_BILLING = [
    ("staff", "Good morning, you're through to customer accounts, how can I help?"),
    ("customer", "You've charged me twice for my broadband this month and I'm absolutely furious."),
    ("staff", "I'm sorry to hear that. Can I take your account number please?"),
    ("customer", "It's four five six seven. This is the third time my bill has been wrong, it's a disgrace."),
    ("staff", "I can see the duplicate payment on the account."),
    ("customer", "I want that money back today, I'm sick of this."),
]
POLITE_ORDER = [
    ("staff", "Hello, thanks for calling, how can I help you today?"),
    ("customer", "Hi, I placed an order on Monday and I was wondering when it will be delivered."),
    ("staff", "Let me check that for you. It was dispatched yesterday and arrives tomorrow."),
    ("customer", "Lovely, thank you very much, that's really helpful."),
    ("staff", "You're welcome, have a great day."),
    ("customer", "Thanks, you too. I'd give you a nine out of ten."),
]


def call(turns, role_of=lambda r: r):
    return [Utterance(index=i, speaker=f"S{r == 'customer'}", role=role_of(r), start=2.0 * i, end=2.0 * i + 1.5, text=t) for i, (r, t) in enumerate(turns)]


def interaction(tags, kind, role=None):
    return [t for t in tags if t.utterance_index is None and t.kind == kind and (role is None or t.role == role)]


@pytest.fixture(scope="module")
def tagger():
    return load_tagger(TaggingOptions())


def test_angry_billing_call_is_a_billing_complaint_with_negative_customer(tagger):
    tags = tagger.tag(call(ANGRY_BILLING))
    [complaint] = interaction(tags, "complaint")
    assert complaint.label == "yes"
    assert set(complaint.evidence) <= {1, 3, 5} and 1 in complaint.evidence
    topics = {t.label: t for t in interaction(tags, "complaint_topic")}
    assert "billing_error" in topics and 1 in topics["billing_error"].evidence
    [customer] = interaction(tags, "sentiment", "customer")
    assert customer.label == "negative" and customer.score < -0.3
    assert interaction(tags, "touchpoint")[0].label == "billing"
    assert interaction(tags, "journey_stage")[0].label == "post_purchase"
    assert interaction(tags, "nps_band")[0].label == "detractor"
    staff_topics = [t for t in tags if t.kind == "complaint_topic" and t.role == "staff"]
    assert staff_topics == []


def test_polite_order_enquiry_is_no_complaint(tagger):
    tags = tagger.tag(call(POLITE_ORDER))
    assert [t.label for t in interaction(tags, "complaint")] == ["no"]
    assert interaction(tags, "complaint_topic") == []
    assert interaction(tags, "sentiment", "customer")[0].label == "positive"
    assert [(t.label, t.evidence) for t in interaction(tags, "stated_score")] == [("9", [5])]
    [band] = interaction(tags, "nps_band")
    assert (band.label, band.score, band.detail["source"]) == ("promoter", 9.0, "stated")


def test_greetings_and_thanks_do_not_decide_the_touchpoint(tagger):
    tags = tagger.tag(call(POLITE_ORDER))
    per_utterance = {t.utterance_index: t.label for t in tags if t.kind == "touchpoint" and t.utterance_index is not None}
    assert per_utterance[0] == per_utterance[4] == "general"  # "how can I help you today?", "have a great day"
    [touchpoint] = interaction(tags, "touchpoint")
    assert touchpoint.label == "delivery" and 1 in touchpoint.evidence and 0 not in touchpoint.evidence
    [stage] = interaction(tags, "journey_stage")
    assert stage.label == "post_purchase"


def test_interaction_label_skips_background_unless_all_is_background():
    import numpy as np

    from pipeline.tagging.interaction import dominant

    classes = ("billing", "delivery", "general")
    turns = call([("staff", "a"), ("customer", "b"), ("customer", "c")])
    proba = np.array([[0.05, 0.05, 0.90], [0.10, 0.60, 0.30], [0.05, 0.05, 0.90]])
    tag = dominant(proba, classes, "touchpoint", turns, background="general")
    assert (tag.label, tag.evidence) == ("delivery", [1])
    assert dominant(proba, classes, "touchpoint", turns).label == "general"  # no background named: plain mean
    only_talk = np.array([[0.0, 0.0, 1.0]] * 3)
    assert dominant(only_talk, classes, "touchpoint", turns, background="general").label == "general"


def test_a_cached_head_keeps_its_examples(tmp_path, tagger):
    """Single-label taxonomy heads mix in the nearest training example: the cache must give back
    the same head, examples included, or a restarted worker would tag differently."""
    import numpy as np

    from pipeline.tagging.heads import cached

    head = tagger.heads["touchpoints"]
    assert head.examples is not None and len(head.examples) == len(head.example_classes) > 100
    assert tagger.heads["complaint_topics"].examples is None  # multi-label: regressions only
    texts = [t for _, t in POLITE_ORDER + ANGRY_BILLING]
    vectors = tagger.encoder.encode_topic(texts)
    cached(tmp_path, head.key, lambda: head)
    again = cached(tmp_path, head.key, lambda: pytest.fail("trained again instead of read from the cache"))
    np.testing.assert_allclose(again.proba(vectors, texts), head.proba(vectors, texts), rtol=1e-6)
    without = replace(head, examples=None, example_classes=None)
    assert not np.allclose(without.proba(vectors, texts), head.proba(vectors, texts))  # the examples do count
    no_ngrams = replace(head, ngrams=None)
    assert not np.allclose(no_ngrams.proba(vectors), head.proba(vectors, texts))  # so do the character n-grams
    with pytest.raises(ValueError, match="texts"):
        head.proba(vectors)


def test_every_tag_has_provenance_and_one_sentiment_per_utterance(tagger):
    tags = tagger.tag(call(ANGRY_BILLING))
    assert all(t.model and t.model_version and t.taxonomy_hash for t in tags)
    per_utterance = [t.utterance_index for t in tags if t.kind == "sentiment" and t.utterance_index is not None]
    assert per_utterance == list(range(len(ANGRY_BILLING)))
    assert {t.role for t in interaction(tags, "sentiment_trajectory")} == {"staff", "customer"}


def test_unknown_roles_are_treated_as_possibly_customer(tagger):
    tags = tagger.tag(call(ANGRY_BILLING, role_of=lambda r: "unknown"))
    assert interaction(tags, "complaint")[0].label == "yes"
    assert {t.role for t in interaction(tags, "sentiment")} == {"unknown"}


TWO_TOUCHPOINTS = """kind: touchpoint
labels:
  money:
    description: Bills, charges, payments and refunds.
    examples: [my bill is wrong, you charged me twice, I want my money back]
  parcels:
    description: Orders on their way, couriers and delivery dates.
    examples: [where is my parcel, when will my order arrive, the courier never came]
"""


def test_taxonomy_edit_changes_labels_on_next_run(tmp_path, tagger):
    folder = tmp_path / "taxonomies"
    shutil.copytree(TaggingOptions().taxonomy_dir, folder)
    path = folder / "touchpoints.yaml"
    path.write_text(TWO_TOUCHPOINTS)
    options = replace(TaggingOptions(), taxonomy_dir=folder)
    first = load_tagger(options).tag(call(ANGRY_BILLING))
    assert interaction(first, "touchpoint")[0].label == "money"
    assert {t.label for t in first if t.kind == "touchpoint"} <= {"money", "parcels"}
    path.write_text(TWO_TOUCHPOINTS.replace("  money:", "  payments:"))
    second = load_tagger(options).tag(call(ANGRY_BILLING))
    assert interaction(second, "touchpoint")[0].label == "payments"
    assert interaction(second, "touchpoint")[0].taxonomy_hash != interaction(first, "touchpoint")[0].taxonomy_hash
    assert interaction(load_tagger(options).tag(call(POLITE_ORDER)), "touchpoint")[0].label == "parcels"


def test_broken_taxonomy_fails_at_load_with_line(tmp_path):
    folder = tmp_path / "taxonomies"
    shutil.copytree(TaggingOptions().taxonomy_dir, folder)
    path = folder / "journey_stage.yaml"
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("description:"))
    del lines[at]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(Exception, match=rf"journey_stage.yaml: line {at}: label 'pre_purchase' has no description"):
        load_tagger(replace(TaggingOptions(), taxonomy_dir=folder))


def test_rows_fit_the_tags_table(tagger):
    tags = tagger.tag(call(ANGRY_BILLING))
    rows = tags_to_rows(tags)["tags"]
    assert len(rows) == len(tags)
    con = duckdb.connect()
    con.execute(open(SQL).read())
    for row in rows:
        values = {"recording_id": "r1", "run_id": "u1", **row}
        con.execute(f"INSERT INTO tags ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})", list(values.values()))
    assert con.execute("SELECT count(*) FROM tags WHERE utterance_index IS NULL AND kind = 'complaint' AND label = 'yes'").fetchone() == (1,)
    evidence = con.execute("SELECT evidence FROM tags WHERE kind = 'complaint'").fetchone()[0]
    assert evidence == next(t.evidence for t in tags if t.kind == "complaint")
    assert con.execute("SELECT count(*) FROM tags WHERE model IS NULL OR taxonomy_hash IS NULL").fetchone() == (0,)


def test_eval_commands_print_a_table_then_one_json_line(tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text("words,mood\nthis is the worst service ever,negative\nthank you so much you were brilliant,positive\nwhat time do you open on Sunday,neutral\n")
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["sentiment", "--data", str(data), "--text-col", "words", "--label-col", "mood"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["n"] == 3 and set(report["per_class"]) == {"negative", "neutral", "positive"}
    assert report["accuracy"] == 1.0 and report["macro_f1"] == 1.0
    assert lines[0].split()[:2] == ["label", "precision"]
    bad = CliRunner().invoke(app, ["sentiment", "--data", str(data), "--text-col", "text"])
    assert bad.exit_code != 0 and "mine.csv: line 1: no column text" in bad.output


def test_eval_taxonomy_from_examples_scores_the_rows_not_picked(tmp_path):
    rows = {
        "card_lost": ["I lost my card", "my card was stolen yesterday", "I can't find my bank card anywhere"],
        "exchange_rate": ["what exchange rate do you use", "how much are euros in pounds today", "is your currency rate fair"],
        "top_up": ["how do I top up my account", "can I add money by bank transfer", "my top up has not arrived"],
    }
    data = tmp_path / "intents.csv"
    data.write_text("text,category\n" + "".join(f"{t},{label}\n" for label, texts in rows.items() for t in texts))
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["taxonomy", "--from-examples", str(data), "--shots", "2", "--text-col", "text", "--label-col", "category"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert (report["n"], report["labels"], report["shots"]) == (3, 3, 2)
    assert set(report["per_class"]) == set(rows)


def test_topic_vectors_weigh_rare_words_more(tmp_path, tagger):
    """The taxonomy heads pool tokens by rarity in English: 'the' (~5% of English tokens) weighs
    about -ln(0.05) = 3, a content word far more, punctuation little, [CLS] nothing. The weights
    are computed without the tokenizer's own padding (it pads batches, which once counted [PAD]
    into every word) and cached on disk for the next process."""
    import numpy as np

    from pipeline.tagging.encoder import cached_token_weights, token_weights

    encoder = tagger.encoder
    ids = encoder.tokenizer.convert_tokens_to_ids(["the", "please", "parcel", ",", "[CLS]"])
    the, please, parcel, comma, cls = encoder.token_weights.numpy()[ids]
    assert 2.5 < the < 3.5 and the < please < parcel and comma < please and cls == 0
    encoder.encode_layers(["a batch, padded", "to its longest text"])  # leaves padding switched on in the tokenizer
    fresh = token_weights(encoder.tokenizer)
    np.testing.assert_array_equal(fresh, encoder.token_weights.numpy())
    stored = cached_token_weights(encoder.tokenizer, tmp_path)
    (path,) = tmp_path.glob("token-weights-*.npy")
    np.testing.assert_array_equal(np.load(path), fresh)
    path.write_bytes(b"damaged")
    np.testing.assert_array_equal(cached_token_weights(encoder.tokenizer, tmp_path), stored)  # recomputed, not crashed
    layers = encoder.encode_layers(["where is my parcel please"])
    assert np.allclose(np.linalg.norm(layers.reshape(4, -1), axis=1), 1, atol=1e-5)
    assert float(encoder.sentence(layers)[0] @ layers[0, 2 * encoder.model.config.hidden_size : 3 * encoder.model.config.hidden_size]) < 0.99  # weighting moves it


def test_token_weights_fit_a_byte_level_bpe_tokenizer_too():
    """RoBERTa-style tokenizers split a word after a space ("Ġthe") unlike at the start ("the"):
    both forms must get their counts, or every word but the first would weigh as rare. Checked on
    the bundled Whisper model's byte-level BPE tokenizer (no other encoder ships here)."""
    from pathlib import Path

    from transformers import PreTrainedTokenizerFast

    from pipeline.models import resolve_model
    from pipeline.tagging.encoder import token_weights

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(Path(resolve_model("tiny.en").path) / "tokenizer.json"))
    weights = token_weights(tokenizer)
    the, spaced_the, spaced_is, spaced_parcel = weights[tokenizer.convert_tokens_to_ids(["the", "Ġthe", "Ġis", "Ġparcel"])]
    assert the < 5 and spaced_the < 5 and spaced_is < spaced_parcel
