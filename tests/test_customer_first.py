"""A two-person call whose customer role talks at length before the staff role's first word is
flagged (``speakers.flag_customer_first``): the staff member's opening put in the customer's
voice, or the roles the wrong way round."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.records import Utterance, Word
from pipeline.roles import RoleResult
from pipeline.speakers import CUSTOMER_FIRST_S, SpeakerOptions, attribute_speakers, customer_first, flag_customer_first
from pipeline.speakers_cli import load_recording
from pipeline.synth import Turn, Voice, synthesize


def utterance(i: int, speaker: str, role: str, start: float, end: float, text: str) -> Utterance:
    words = text.split()
    step = (end - start) / len(words)
    return Utterance(i, speaker, role, start, end, text,
                     [Word(start + k * step, start + (k + 1) * step, w, 0.9, speaker) for k, w in enumerate(words)])


def test_the_customer_roles_speech_before_the_first_staff_word_is_measured_and_flagged() -> None:
    opening = [utterance(0, "S2", "customer", 0.5, 6.0, "Hello, I'm calling about my bill, it has gone up again."),
               utterance(1, "S2", "customer", 6.5, 12.5, "Nobody told me why and I have paid the same for years."),
               utterance(2, "S1", "staff", 13.0, 16.0, "Thank you for calling, how can I help?"),
               utterance(3, "S2", "customer", 16.5, 30.0, "As I said, my bill.")]
    assert customer_first(opening) == pytest.approx((11.5, 13.0))
    roles = RoleResult("content", ["S1"], reason="S1 is staff by content")
    flag_customer_first(roles, opening)
    assert roles.flagged and "the customer role speaks 12 s before the staff role's first word (at 13.0 s)" in roles.reason
    # a short "hello?" before the greeting, a staff member who opens, nobody on the staff side: not flagged
    for utterances in ([utterance(0, "S2", "customer", 0.2, 1.0, "Hello?")] + opening[2:],
                       opening[2:],
                       [u for u in opening if u.role == "customer"]):
        roles = RoleResult("content", ["S1"], reason="S1 is staff by content")
        flag_customer_first(roles, utterances)
        assert not roles.flagged and roles.reason == "S1 is staff by content"
    assert CUSTOMER_FIRST_S == 10.0


CUSTOMER_OPENING = Turn("customer", "Hello? Hello, is anybody there? I'm ringing about my electricity bill. It has gone up again "
                                    "this month and nobody has told me why. I have paid the same amount every month for three "
                                    "years, and now it is forty pounds more, and I would like to know what is going on.")
STAFF_CALL = [
    Turn("staff", "Thank you for calling Castle Gate Energy, you're through to Sam. Just so you know, calls are recorded "
                  "for training and monitoring."),
    Turn("staff", "Can I take your full name and date of birth, please?"),
    Turn("customer", "Yes, my name is Ann Lee, born on the third of May nineteen seventy."),
    Turn("staff", "Thank you, Ann, I've found your account. Let me check the bill for you. I can see the rate went up "
                  "on the first of the month."),
    Turn("customer", "I see. Nobody wrote to me about that."),
    Turn("staff", "I'm sorry about that. I've raised it with our complaints team and added a note to your account."),
    Turn("staff", "Is there anything else I can help you with today?"),
    Turn("customer", "No, that's all, thanks. Bye."),
]


def spoken(turns: list[Turn], path: Path):
    from pipeline.settings import Settings
    from pipeline.transcribe import TranscribeOptions, transcribe

    voices = {"staff": Voice("en-gb+m3", 155, 40), "customer": Voice("en-us+f4", 165, 70)}
    synthesize(turns, path, stereo=False, sample_rate=8000, voices=voices, telephone=True, seed=3)
    path.with_suffix(".json").write_text('{"channel": "phone"}\n')
    audio, meta = load_recording(path)
    return attribute_speakers(audio, transcribe(audio, TranscribeOptions.from_settings(Settings())), meta, SpeakerOptions())


def test_a_call_whose_customer_talks_at_length_before_the_staff_member_is_flagged(tmp_path) -> None:
    first = spoken([CUSTOMER_OPENING] + STAFF_CALL, tmp_path / "customer_first.wav")
    said, at = customer_first(first.utterances)
    assert said >= CUSTOMER_FIRST_S and at >= said
    assert first.roles.flagged and "before the staff role's first word" in first.roles.reason
    # the same words with the staff member's greeting first: no such doubt
    usual = spoken(STAFF_CALL[:2] + [CUSTOMER_OPENING] + STAFF_CALL[2:], tmp_path / "staff_first.wav")
    assert usual.roles.staff_speakers and "before the staff role's first word" not in usual.roles.reason
