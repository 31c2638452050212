"""The business's own words: loaded from YAML, given to Whisper as hotwords, never redacted as names."""

from __future__ import annotations

import pytest

from pipeline.errors import ConfigError
from pipeline.records import Utterance
from pipeline.redact import RedactionOptions, redact_utterances
from pipeline.settings import ROOT, Settings
from pipeline.transcribe import TranscribeOptions
from pipeline.vocabulary import hotwords, load_vocabulary


def test_the_shipped_vocabulary_is_empty_and_a_business_list_becomes_whispers_hotwords(tmp_path):
    assert load_vocabulary(ROOT / "data" / "vocabulary.yaml") == ()  # other companies' names would hurt
    assert TranscribeOptions.from_settings(Settings()).decode_options().hotwords is None
    mine = tmp_path / "vocabulary.yaml"
    mine.write_text("terms:\n  - Northfield Energy\n  - Fixed  Saver\n  - Northfield Energy\n")
    terms = load_vocabulary(mine)
    assert terms == ("Northfield Energy", "Fixed Saver")
    options = TranscribeOptions.from_settings(Settings(vocabulary=mine))
    assert options.decode_options().hotwords == hotwords(terms) == "Northfield Energy, Fixed Saver"


def test_no_file_or_an_empty_list_gives_no_hint(tmp_path):
    assert load_vocabulary(tmp_path / "missing.yaml") == ()
    (tmp_path / "empty.yaml").write_text("terms: []\n")
    assert hotwords(load_vocabulary(tmp_path / "empty.yaml")) is None
    assert TranscribeOptions.from_settings(Settings(vocabulary=tmp_path / "empty.yaml")).decode_options().hotwords is None


def test_a_broken_vocabulary_names_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "vocabulary.yaml"
    bad.write_text("terms: [Northfield, 42]\n")
    with pytest.raises(ConfigError, match="'terms:' list") as err:
        load_vocabulary(bad)
    assert str(bad) in str(err.value)


def test_a_company_name_in_the_vocabulary_is_not_redacted_as_a_persons_name():
    def call():
        return [Utterance(0, "S1", "staff", 0.0, 3.0, "Thank you for calling Harbour Mutual, goodbye."),
                Utterance(1, "S1", "staff", 3.0, 6.0, "You are speaking with Aisha.")]

    without = call()
    redact_utterances(without, RedactionOptions())
    assert without[0].text == "Thank you for calling [NAME], goodbye."  # spaCy takes it for a person
    with_vocabulary = call()
    redact_utterances(with_vocabulary, RedactionOptions(vocabulary=("Harbour Mutual",)))
    assert with_vocabulary[0].text == "Thank you for calling Harbour Mutual, goodbye."
    assert with_vocabulary[1].text == "You are speaking with [NAME]."  # a person's name still is
