"""Rules on real transcripts with the real MiniLM encoder: evidence, windows, roles, counts, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.models import resolve_model
from pipeline.records import Utterance
from pipeline.rules import evaluate_rules, load_rules

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "data" / "rules"
STM = Path(__file__).parent / "data" / "pyannote_sample.stm"
SAMPLES = ROOT / "data" / "samples" / "truth"

# A written bank call (our own text): (role, start_s, end_s, text).
SCRIPTED_CALL = [
    ("staff", 0.0, 4.0, "Good morning, you're through to Acme Bank, this is Sam."),
    ("staff", 4.2, 8.0, "Just so you know, this call is recorded for training and quality purposes."),
    ("customer", 8.5, 12.0, "Hi, I'm calling because my husband passed away last month."),
    ("staff", 12.2, 15.0, "I'm so sorry to hear that."),
    ("staff", 15.2, 19.0, "Could I take your date of birth please?"),
    ("customer", 19.5, 21.0, "It's [DATE]."),
    ("customer", 21.5, 26.0, "I don't understand what happens to his savings now."),
    ("staff", 26.5, 33.0, "Our bond gives guaranteed returns of five percent, so you can move them there."),
    ("staff", 70.0, 74.0, "Have we got that fixed for you then?"),
    ("customer", 74.5, 76.0, "Yes, thank you."),
    ("staff", 76.5, 79.0, "Is there anything else I can help you with today?"),
    ("customer", 79.5, 80.5, "No, that's everything."),
    ("staff", 81.0, 84.0, "Thank you for calling, have a lovely day."),
]


def utterances(rows: list[tuple[str, float, float, str]]) -> list[Utterance]:
    return [Utterance(i, role, role, start, end, text) for i, (role, start, end, text) in enumerate(rows)]


def stm_call(path: Path = STM, staff: str = "Diane") -> list[Utterance]:
    """Utterances of an STM transcript; speaker ``staff`` is staff (in the pyannote call Diane answers)."""
    rows = []
    for line in path.read_text().splitlines():
        _, _, speaker, start, end, text = line.split(" ", 5)
        rows.append(("staff" if speaker == staff else "customer", float(start), float(end), text))
    return utterances(rows)


@pytest.fixture(scope="module")
def embed():
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    model = SentenceTransformer(resolve_model("all-MiniLM-L6-v2").path, device="cpu")
    calls = []

    def encode(texts: list[str]):
        calls.append(len(texts))
        return model.encode(texts, normalize_embeddings=True)

    encode.calls = calls
    return encode


@pytest.fixture(scope="module")
def rules():
    return load_rules(RULES_DIR)


def by_rule(findings):
    return {f.rule: f for f in findings}


def test_default_rule_sets_load(rules):
    assert sorted(r.name for r in rules) == [
        "call_recording_disclosure", "empathy_apology", "further_help_offered", "identity_verification",
        "prohibited_promises", "proper_closing", "resolution_confirmed", "vulnerable_bereavement",
        "vulnerable_confusion", "vulnerable_financial_difficulty", "vulnerable_illness",
    ]
    assert {r.name: r.category for r in rules}["prohibited_promises"] == "conduct"


def test_call_without_disclosure_fails_with_where_it_should_have_been(rules, embed):
    call = stm_call()
    found = by_rule(evaluate_rules(rules, call, duration_s=30.0, embed=embed))
    disclosure = found["call_recording_disclosure"]
    assert disclosure.passed is False
    # Evidence: the window's first staff utterance (Diane's "Hello?" at 6.68-7.16 s).
    assert (disclosure.utterance_index, disclosure.start, disclosure.end) == (0, 6.68, 7.16)
    assert disclosure.matched is None
    assert disclosure.detail["missing"] is True and disclosure.detail["count"] == 0
    assert disclosure.detail["window"] == {"role": "staff", "start": 0.0, "end": 30.0}
    assert disclosure.detail["nearest"]["score"] < 0.6
    # A small talk call also has no closing: evidence is the last staff utterance of the window.
    closing = found["proper_closing"]
    assert closing.passed is False and closing.utterance_index == len(call) - 1
    # Nothing in it is a vulnerability cue or a prohibited promise.
    assert all(found[n].passed for n in found if n.startswith("vulnerable_") or n == "prohibited_promises")


def test_scripted_call_findings_and_evidence(rules, embed):
    embed.calls.clear()
    found = by_rule(evaluate_rules(rules, utterances(SCRIPTED_CALL), duration_s=84.0, embed=embed))
    # One encoder call with every utterance and every example phrase.
    assert embed.calls == [len(SCRIPTED_CALL) + sum(len(r.examples) for r in rules)]
    d = found["call_recording_disclosure"]
    assert (d.passed, d.utterance_index, d.start, d.end) == (True, 1, 4.2, 8.0)
    assert d.matched == "call is recorded"
    p = found["prohibited_promises"]
    assert (p.passed, p.utterance_index, p.matched) == (False, 7, "guaranteed returns")
    b = found["vulnerable_bereavement"]
    assert (b.passed, b.utterance_index, b.matched) == (False, 2, "passed away")
    # One "I don't understand" is not enough for the confusion cue (min_count 2).
    assert found["vulnerable_confusion"].passed is True and found["vulnerable_confusion"].detail["count"] == 1
    for name in ("identity_verification", "empathy_apology", "further_help_offered", "proper_closing"):
        assert found[name].passed, name
    # Matched by meaning only: the utterance itself with its cosine score.
    r = found["resolution_confirmed"]
    assert r.passed and r.utterance_index == 8 and r.matched == SCRIPTED_CALL[8][3] and r.score >= 0.55
    assert found["vulnerable_financial_difficulty"].passed and found["vulnerable_illness"].passed


def test_project_sample_calls(rules, embed):
    """The demo recordings' scripts (data/samples/truth): a mis-selling call and a bereaved customer."""
    card = stm_call(SAMPLES / "card-payment.stm", staff="staff")
    found = by_rule(evaluate_rules(rules, card, duration_s=card[-1].end, embed=embed))
    assert [n for n, f in found.items() if not f.passed] == [
        "prohibited_promises", "empathy_apology", "resolution_confirmed", "further_help_offered",
        "call_recording_disclosure", "identity_verification",
    ]
    assert (found["call_recording_disclosure"].utterance_index, found["call_recording_disclosure"].start) == (0, card[0].start)
    assert found["prohibited_promises"].matched.endswith("returns are guaranteed")
    branch = stm_call(SAMPLES / "branch-account-opening.stm", staff="staff")
    found = by_rule(evaluate_rules(rules, branch, duration_s=branch[-1].end, embed=embed))
    assert {n for n, f in found.items() if n.startswith("vulnerable_") and not f.passed} == {"vulnerable_bereavement", "vulnerable_confusion"}
    assert found["vulnerable_confusion"].detail["count"] == 2


def test_window_and_role_limit_where_a_rule_looks(rules, embed):
    disclosure = [r for r in rules if r.name == "call_recording_disclosure"]
    late = utterances([("staff", 0.0, 3.0, "Hello, Acme Bank."), ("staff", 75.0, 79.0, "By the way, this call is recorded.")])
    f = evaluate_rules(disclosure, late, duration_s=80.0, embed=embed)[0]
    assert (f.passed, f.utterance_index, f.start, f.end) == (False, 0, 0.0, 3.0)
    said_by_customer = utterances([("customer", 0.0, 3.0, "Is this call being recorded?"), ("staff", 3.5, 5.0, "Hello, Acme Bank.")])
    f = evaluate_rules(disclosure, said_by_customer, duration_s=5.0, embed=embed)[0]
    assert (f.passed, f.utterance_index) == (False, 1)
    no_staff = utterances([("customer", 0.0, 3.0, "Hello?")])
    f = evaluate_rules(disclosure, no_staff, duration_s=90.0, embed=embed)[0]
    assert (f.passed, f.utterance_index, f.start, f.end) == (False, None, 0.0, 60.0)


def test_a_short_calls_opening_is_not_its_closing(rules, embed):
    # A held-out 8 kHz call's opening as transcribed: its meaning is near "have a lovely day", and
    # in a call under 45 s it lies in the last 45 s; the closing window is also the call's last half.
    closing = [r for r in rules if r.name == "proper_closing"]
    opening = ("staff", 0.2, 4.6, "Hello, you're through the problem, you're very speaking. Lovely to speak to you today.")
    rest = [("customer", 5.0, 20.0, "I'd like to change the address on my account please."), ("staff", 21.0, 24.0, "Of course, that's done now.")]
    f = evaluate_rules(closing, utterances([opening, *rest]), duration_s=40.0, embed=embed)[0]
    assert (f.passed, f.detail["window"]) == (False, {"role": "staff", "start": 20.0, "end": 40.0})
    assert f.utterance_index == 2  # the evidence: the last staff utterance in the window
    said = utterances([opening, *rest, ("staff", 36.0, 39.0, "Thanks for calling, have a lovely day.")])
    assert evaluate_rules(closing, said, duration_s=40.0, embed=embed)[0].utterance_index == 3
    # In a long call the last 45 s are the narrower bound.
    f = evaluate_rules(closing, utterances([opening, *rest]), duration_s=300.0, embed=embed)[0]
    assert f.detail["window"] == {"role": "staff", "start": 255.0, "end": 300.0}


def test_twice_confused_customer_is_flagged(rules, embed):
    confusion = [r for r in rules if r.name == "vulnerable_confusion"]
    call = utterances([("customer", 0, 2, "Sorry, I don't understand."), ("staff", 2, 4, "No problem."), ("customer", 4, 6, "I'm really confused by all this.")])
    f = evaluate_rules(confusion, call, duration_s=6.0, embed=embed)[0]
    assert (f.passed, f.utterance_index, f.detail["matches"]) == (False, 0, [0, 2])


def test_disclosure_applies_to_calls_not_face_to_face_visits(rules, embed):
    call = stm_call()
    on_phone = by_rule(evaluate_rules(rules, call, duration_s=30.0, embed=embed, channel="phone"))
    in_branch = by_rule(evaluate_rules(rules, call, duration_s=30.0, embed=embed, channel="face-to-face"))
    assert on_phone["call_recording_disclosure"].passed is False
    assert "call_recording_disclosure" not in in_branch  # no finding: scorecards count it n/a
    assert set(on_phone) - set(in_branch) == {"call_recording_disclosure"}


def test_meaning_rules_need_an_encoder(rules):
    with pytest.raises(ConfigError, match="no text encoder"):
        evaluate_rules(rules, stm_call(), duration_s=30.0, embed=None)
    phrase_only = [r for r in rules if not r.examples]
    assert phrase_only == []  # every default rule also matches by meaning


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("rules:\n  - name: x\n    regex: ['(unclosed']\n", 2, "regular expression"),
        ("rules:\n  - name: ok\n    phrases: [hi]\n  - name: y\n    phrase: [typo]\n", 4, "unknown key"),
        ("rules:\n  - name: z\n    window: {first_minutes: 2}\n    phrases: [hi]\n", 2, "window"),
        ("rules:\n  - name: s\n    window: {first_s: 60, last_fraction: 0.5}\n    phrases: [hi]\n", 2, "same end"),
        ("rules:\n  - name: w\n    role: staff\n", 2, "nothing to match"),
        ("rules:\n  - name: v\n    phrases: [hi\n", 4, "not valid YAML"),
        ("rules:\n  - name: u\n    meaning: {examples: [hi], threshold: 3}\n", 2, "threshold"),
        ("rules:\n  - name: t\n    phrases: [hi]\n    channels: phone\n", 2, "channels"),
    ],
)
def test_malformed_rule_file_names_file_line_and_fix(tmp_path, text, line, message):
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_rules(tmp_path)
    assert f"bad.yaml:{line}:" in str(err.value)
    assert message in str(err.value) and "Fix:" in str(err.value)


def test_duplicate_rule_names_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text("rules:\n  - name: same\n    phrases: [hi]\n")
    (tmp_path / "b.yaml").write_text("rules:\n  - name: same\n    phrases: [bye]\n")
    with pytest.raises(ConfigError, match=r"b.yaml:2: rule same is defined twice \(also at .*a.yaml:2\)"):
        load_rules(tmp_path)


def test_a_finding_in_words_whose_voice_is_the_other_sides_says_so(rules, embed):
    # the scripted call as a mono call's diarization might leave it: the disclosure given to the
    # customer, though its voice sounds like the staff member's (speakers.doubt_by_voice: margin
    # under 0, role confidence 0.5), and a promise given to the staff member the same way
    from dataclasses import replace

    call = [replace(u, role_confidence=0.98, voice_margin=0.1) for u in utterances(SCRIPTED_CALL)]
    call[1] = replace(call[1], speaker="customer", role="customer", role_confidence=0.5, voice_margin=-0.04, role_unsure=True)
    call[7] = replace(call[7], role_confidence=0.5, voice_margin=-0.02, role_unsure=True)
    found = by_rule(evaluate_rules(rules, call, duration_s=84.0, embed=embed))
    disclosure = found["call_recording_disclosure"]
    assert disclosure.passed is False and disclosure.detail["missing"] is True  # still missing from the staff member's words
    assert disclosure.detail["other_side_unsure"] == {"utterance_index": 1, "matched": "call is recorded"}
    promise = found["prohibited_promises"]
    assert promise.passed is False and promise.detail["role_unsure"] == [7]
    # words of the other side whose role is sure, or findings in sure utterances: nothing added
    # the promise given to the customer, its voice in doubt: perhaps the staff member's, said
    moved = list(call)
    moved[7] = replace(call[7], speaker="customer", role="customer")
    promise = by_rule(evaluate_rules(rules, moved, duration_s=84.0, embed=embed))["prohibited_promises"]
    assert promise.passed is True and promise.detail["other_side_unsure"] == {"utterance_index": 7, "matched": "guaranteed returns"}
    call[1] = replace(call[1], role_confidence=0.98, voice_margin=0.05, role_unsure=False)
    call[7] = replace(call[7], role_confidence=0.98, voice_margin=0.1, role_unsure=False)
    found = by_rule(evaluate_rules(rules, call, duration_s=84.0, embed=embed))
    assert "other_side_unsure" not in found["call_recording_disclosure"].detail
    assert "role_unsure" not in found["prohibited_promises"].detail
    assert not any("role_unsure" in f.detail or "other_side_unsure" in f.detail for f in found.values())
