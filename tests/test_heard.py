"""Rule phrases as speech recognition writes them (pipeline/heard.py, and through the real rules)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.heard import canonical, find_phrase
from pipeline.records import Utterance
from pipeline.rules import evaluate_rules, load_rules
from pipeline.settings import ROOT


def test_canonical_form():
    assert canonical("It's OK: this call maybe recorded. We'll see, can't say. Good-bye!") == (
        "it is ok this call may be recorded we will see can not say good bye"
    )


@pytest.mark.parametrize(
    ("phrase", "text", "found"),
    [
        ("this call may be recorded", "Within the call maybe recorded.", "the call may be recorded"),
        ("this call may be recorded", "customer service in this call maybe recorded", "this call may be recorded"),
        ("anything else I can help", "Is there anything else I can help you with?", "anything else i can help"),
        ("goodbye", "Thanks, good bye.", "good bye"),
        ("sorry", "Oh I'm so sorry.", "sorry"),
    ],
)
def test_phrases_survive_recognition(phrase, text, found):
    heard = find_phrase(phrase, text)
    assert heard is not None and heard.text == found


@pytest.mark.parametrize(
    ("phrase", "text"),
    [
        ("thank you for calling", "Thank you for holding."),  # 83 of 100: another phrase
        ("this call may be recorded", "recorded"),  # a phrase is not found inside a shorter utterance
        ("sorry", "a sorrytale"),  # short phrases match whole words exactly
        ("this call may be recorded", "How are you today? Lovely to speak to you."),
    ],
)
def test_other_phrases_are_not_found(phrase, text):
    assert find_phrase(phrase, text) is None


def utterances(rows):
    return [Utterance(i, role, role, start, end, text, []) for i, (role, start, end, text) in enumerate(rows)]


def orthogonal(texts):
    """A stand-in encoder under which no two texts mean the same: only phrases and regexes match."""
    return np.eye(len(texts), dtype=np.float32)


def finding(rule, call, duration_s):
    """The shipped rule ``rule``'s finding on a phone call of (role, start, end, text) rows."""
    rules = [r for r in load_rules(ROOT / "data" / "rules") if r.name == rule]
    (found,) = evaluate_rules(rules, utterances(call), duration_s=duration_s, embed=orthogonal, channel="phone")
    return found


def disclosure(call, duration_s=30.0):
    return finding("call_recording_disclosure", call, duration_s)


@pytest.mark.parametrize(
    "heard",
    [
        "Customer service in this call maybe recorded.",
        "Within the call maybe recorded for quality and training.",
        "Please note this call may be, uh, recorded.",
    ],
)
def test_disclosure_as_transcribed_passes(heard):
    d = disclosure([("staff", 0.5, 4.0, "Good morning, Northfield Energy, Priya speaking."), ("staff", 4.2, 8.0, heard),
                    ("customer", 8.5, 11.0, "Hi, I'd like to ask about my bill.")])
    assert d.passed and d.utterance_index == 1 and d.matched


def test_disclosure_cut_by_a_pause_is_found_across_the_two_utterances():
    d = disclosure([("staff", 0.5, 2.0, "Just so you know, this call may"), ("staff", 3.2, 4.5, "be recorded."),
                    ("customer", 5.0, 6.0, "Okay.")])
    assert d.passed and d.utterance_index == 0


def test_no_disclosure_is_not_found():
    d = disclosure([("staff", 0.5, 4.0, "Hello, you're through to Castlegate Bank, Rhys speaking."),
                    ("staff", 4.2, 6.0, "How are you today?"), ("staff", 6.2, 8.0, "How can I help?"),
                    ("customer", 8.5, 12.0, "I'd like to know when my new card will arrive, I was told it's recorded delivery.")])
    assert not d.passed and d.detail["missing"]


@pytest.mark.parametrize(
    ("rule", "heard"),
    [
        # the disclosure when "recorded" is misheard, found by its purpose clause
        ("call_recording_disclosure", "Just so you know, it's calling me calling it for training and monitoring."),
        ("call_recording_disclosure", "Calls to Northfield Energy and reconvene for training purposes."),  # "are recorded"
        ("call_recording_disclosure", "Please note that calls may be monitored."),
        ("call_recording_disclosure", "Called to Castlegate Bank, currently for training purpose."),  # "calls to ... are recorded"
        ("call_recording_disclosure", "Very calm in for training the person."),  # "... recorded for training purposes"
        # the identity question as tiny.en hears "full name and date of birth" at 8 kHz
        ("identity_verification", "Can you confirm your phone name and date on both?"),
        ("identity_verification", "For security, could you confirm your full name and date on board?"),
        ("identity_verification", "Could you verify your name for me?"),
        # through GSM with packets lost (round 42): "confirm" and "birth" lost, "full name" or "name and date" left
        ("identity_verification", "I think you're a bit of your concern. Your full name and data."),
        ("identity_verification", "For if you're ready, can you confirm the phone name and date and voice?"),
    ],
)
def test_a_line_as_transcribed_is_found(rule, heard):
    f = finding(rule, [("staff", 0.5, 4.0, "Hello, you're through to Northfield Energy, Priya speaking."),
                       ("staff", 4.2, 8.0, heard), ("customer", 8.5, 11.0, "Hi, I'd like to ask about my bill.")], 60.0)
    assert f.passed and f.utterance_index == 1


@pytest.mark.parametrize(
    "call",
    [
        # the customer's words are not the staff member's disclosure
        [("staff", 0.5, 4.0, "Hello, Castlegate Bank, Rhys speaking."),
         ("customer", 4.5, 9.0, "I'm calling about the course you ran, it was for training purposes.")],
        # training without the purpose clause or a call being recorded or monitored
        [("staff", 0.5, 4.0, "Hello, Castlegate Bank, Rhys speaking. I'll put you through to our training team.")],
        [("staff", 0.5, 4.0, "Hello, you called Castlegate Bank, Rhys speaking. Is it about the training course?")],
        # said after the first minute
        [("staff", 0.5, 4.0, "Hello, Castlegate Bank, Rhys speaking."),
         ("staff", 70.0, 74.0, "This call is recorded for training purposes.")],
    ],
)
def test_purpose_clause_counts_only_from_staff_in_the_first_minute(call):
    assert not disclosure(call, duration_s=90.0).passed


@pytest.mark.parametrize(
    "call",
    [
        # only the customer gives the details
        [("staff", 0.5, 4.0, "Hello, Castlegate Bank, Rhys speaking. How can I help?"),
         ("customer", 4.5, 9.0, "My name is Helen Tran and my date of birth is the first of May.")],
        # a name mentioned, but nothing checked
        [("staff", 0.5, 4.0, "Hello, Castlegate Bank, Rhys speaking."),
         ("staff", 4.5, 8.0, "I'll update the name on your account now.")],
        # names and dates that are not the customer's own
        [("staff", 0.5, 4.0, "Can you give me the full name of the payee?"),
         ("staff", 4.5, 8.0, "I can see the names and dates of the transactions."),
         ("staff", 8.5, 12.0, "We hold your name and data securely.")],
    ],
)
def test_identity_not_checked_is_not_found(call):
    assert not finding("identity_verification", call, 20.0).passed


@pytest.mark.parametrize(
    ("heard", "found"),
    [
        ("In very details, I can do for you.", True),  # "Is there anything else I can do for you?" at 8 kHz
        ("There are any details I can do for you.", True),
        ("This is not okay for you, it's very detailed, I can do for you.", True),
        ("I've updated your details, I can do that for you now.", False),
        ("Thanks for confirming those details.", False),
    ],
)
def test_further_help_as_transcribed(heard, found):
    f = finding("further_help_offered", [("staff", 0.5, 4.0, "Hello, Castlegate Bank, Rhys speaking."),
                                         ("customer", 5.0, 15.0, "I'd like to change my address please."),
                                         ("staff", 20.0, 23.0, heard), ("customer", 24.0, 26.0, "No, that's all, thanks.")], 30.0)
    assert f.passed is found


@pytest.mark.parametrize(
    ("heard", "found"),
    [  # the closing "Thanks for calling, have a lovely day. Goodbye." as tiny.en heard it at 8 kHz
        ("Pass for calling. I'm a lovely day.", True),
        ("No. And for calling", True),
        ("Good boy.", True),
        ("for calling.", True),
        ("I'll pass this to my team leader.", False),
        ("Let me check that for you.", False),
        ("And what's your reason for calling today?", False),
        ("Sorry for calling you back so late.", False),
        ("It's been a good day for it.", False),
    ],
)
def test_closing_as_transcribed(heard, found):
    f = finding("proper_closing", [("staff", 0.5, 4.0, "Hello, thanks for calling Castlegate Bank, Rhys speaking."),
                                   ("customer", 5.0, 25.0, "I'd like to change my address please."),
                                   ("staff", 26.0, 30.0, "That's done now. Is there anything else I can help with?"),
                                   ("customer", 31.0, 33.0, "No, that's all."),
                                   ("staff", 34.0, 36.0, heard), ("customer", 36.5, 37.0, "Bye.")], 40.0)
    assert f.passed is found  # never the greeting's "thanks for calling": the window is the last half


def test_closing_is_the_staff_members():
    f = finding("proper_closing", [("staff", 0.5, 4.0, "Hello, Castlegate Bank, Rhys speaking."),
                                   ("customer", 5.0, 25.0, "I'd like to change my address please."),
                                   ("staff", 26.0, 30.0, "That's done for you now."),
                                   ("customer", 31.0, 33.0, "Thanks, have a lovely day, goodbye.")], 40.0)
    assert not f.passed
