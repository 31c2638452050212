"""A two-person call whose customer role talks at length before the staff role's first word is
flagged (``speakers.flag_customer_first``): the staff member's opening put in the customer's
voice, or the roles the wrong way round. Not an outbound call, nor a face-to-face one."""
from __future__ import annotations

from dataclasses import replace
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
    # the bar: 10 s of the customer role first flags, 9.5 s does not; speech that runs past the
    # staff member's first word counts only up to it
    for said, flagged in ((9.5, False), (10.0, True)):
        utterances = [utterance(0, "S2", "customer", 1.0, 1.0 + said, "I'm calling about my bill, it has gone up."),
                      utterance(1, "S1", "staff", 1.0 + said, 14.0, "Thank you for calling, how can I help?")]
        roles = RoleResult("content", ["S1"])
        flag_customer_first(roles, utterances)
        assert roles.flagged is flagged and customer_first(utterances) == pytest.approx((said, 1.0 + said))
    overrun = [utterance(0, "S2", "customer", 0.5, 12.0, "I'm calling about my bill, it has gone up again this year."),
               utterance(1, "S1", "staff", 8.0, 11.0, "Thank you for calling.")]
    assert customer_first(overrun) == pytest.approx((7.5, 8.0))


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


def spoken(turns: list[Turn], path: Path, **meta_as):
    """``turns`` as a mono 8 kHz phone call, transcribed: its speaker stage's result, and with
    each of ``meta_as`` (name -> dict of metadata fields) in place of the sidecar's."""
    from pipeline.settings import Settings
    from pipeline.transcribe import TranscribeOptions, transcribe

    voices = {"staff": Voice("en-gb+m3", 155, 40), "customer": Voice("en-us+f4", 165, 70)}
    synthesize(turns, path, stereo=False, sample_rate=8000, voices=voices, telephone=True, seed=3)
    path.with_suffix(".json").write_text('{"channel": "phone", "direction": "inbound"}\n')
    audio, meta = load_recording(path)
    transcript = transcribe(audio, TranscribeOptions.from_settings(Settings()))
    result = attribute_speakers(audio, transcript, meta, SpeakerOptions())
    return result, {name: attribute_speakers(audio, transcript, replace(meta, **fields), SpeakerOptions())
                    for name, fields in meta_as.items()}


def test_a_call_whose_customer_talks_at_length_before_the_staff_member_is_flagged(tmp_path) -> None:
    first, others = spoken([CUSTOMER_OPENING] + STAFF_CALL, tmp_path / "customer_first.wav",
                           outbound={"direction": "outbound"}, desk={"channel": "face-to-face"})
    measured = customer_first(first.utterances)
    assert measured is not None, "the customer's opening was not heard before the staff member's first word"
    said, at = measured
    assert said >= CUSTOMER_FIRST_S and at >= said
    assert first.roles.flagged and "before the staff role's first word" in first.roles.reason
    # an outbound call (the customer answers, perhaps an answerphone's greeting) and a
    # face-to-face conversation (a customer at a desk may speak first) are not doubted for it
    for name, result in others.items():
        assert "before the staff role's first word" not in result.roles.reason, name
    # the same words with the staff member's greeting first: no such doubt
    usual, _ = spoken(STAFF_CALL[:2] + [CUSTOMER_OPENING] + STAFF_CALL[2:], tmp_path / "staff_first.wav")
    assert usual.roles.staff_speakers and "before the staff role's first word" not in usual.roles.reason
