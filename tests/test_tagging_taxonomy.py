"""Taxonomy files: the shipped ones load; malformed ones fail naming file, line and fix."""

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.tagging import load_taxonomies, parse_taxonomy
from pipeline.tagging.options import TaggingOptions
from pipeline.tagging.training import load_training

GOOD = """kind: touchpoint
labels:
  billing:
    description: Bills and payments.
    examples:
      - my bill is wrong
  delivery:
    description: Parcels.
    examples: [where is my parcel]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "touchpoints.yaml"
    path.write_text(text)
    return path


def test_shipped_taxonomies_load_with_their_labels():
    taxonomies = load_taxonomies(TaggingOptions().taxonomy_dir)
    assert set(taxonomies) == {"touchpoints", "journey_stage", "complaint_topics", "complaint_outcomes"}
    assert taxonomies["journey_stage"].names == ["pre_purchase", "purchase", "post_purchase", "general"]
    assert taxonomies["touchpoints"].background == taxonomies["journey_stage"].background == "general"
    assert taxonomies["complaint_topics"].background is None
    assert "billing_error" in taxonomies["complaint_topics"].names
    assert taxonomies["complaint_topics"].multi_label and not taxonomies["touchpoints"].multi_label
    assert all(label.examples for t in taxonomies.values() for label in t.labels)


def test_good_file_parses_and_hash_follows_content(tmp_path):
    first = parse_taxonomy(write(tmp_path, GOOD))
    assert first.names == ["billing", "delivery"]
    assert first.labels[1].examples == ("where is my parcel",)
    second = parse_taxonomy(write(tmp_path, GOOD.replace("Parcels.", "Parcels and couriers.")))
    assert second.hash != first.hash and len(second.hash) == 16


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (GOOD.replace("    description: Parcels.\n", ""), 7, "no description"),
        (GOOD.replace("  delivery:", "  Delivery Team:"), 7, "lower_snake_case"),
        (GOOD.replace("description: Bills and payments.", "description: Bills: payments"), 4, "invalid YAML"),
        (GOOD.replace("examples: [where is my parcel]", "examples: []"), 9, "needs a list of examples"),
        (GOOD.replace("kind: touchpoint", "kind: touchpoint\ncolour: blue"), 2, "unknown key 'colour'"),
        ("kind: touchpoint\nmulti_label: maybe\nlabels: {}\n", 2, "multi_label must be true or false"),
        (GOOD.replace("kind: touchpoint", "kind: touchpoint\nbackground: chitchat"), 2, "background 'chitchat' is not one of"),
        (GOOD.replace("kind: touchpoint", "kind: touchpoint\nmulti_label: true\nbackground: billing"), 3, "multi-label taxonomy has no background"),
    ],
)
def test_broken_file_fails_with_its_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        parse_taxonomy(path)
    message = str(info.value)
    assert message.startswith(f"{path}: line {line}:"), message
    assert words in message and "Fix:" in message


def test_missing_taxonomy_file_names_it(tmp_path):
    write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match="journey_stage.yaml"):
        load_taxonomies(tmp_path)


def test_training_rejects_unknown_sentiment_with_line(tmp_path):
    (tmp_path / "x.csv").write_text("text,sentiment\nfine thanks,positive\nmeh,grumpy\n")
    with pytest.raises(ConfigError, match=r"x.csv: line 3: sentiment 'grumpy'"):
        load_training(tmp_path)


def test_shipped_training_rows_use_shipped_labels():
    taxonomies = load_taxonomies(TaggingOptions().taxonomy_dir)
    training = load_training(TaggingOptions().training_dir)
    assert len(training.labels("sentiment")) >= 300
    for taxonomy in taxonomies.values():
        used = {label for _, labels in training.labels(taxonomy.kind) for label in labels}
        assert used <= set(taxonomy.names), used - set(taxonomy.names)
