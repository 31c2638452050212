"""Conversation dynamics on a hand-timed interaction whose every figure can be worked out."""

from __future__ import annotations

import pytest

from pipeline.dynamics import conversation_dynamics, turns_of, union_seconds
from pipeline.records import Utterance, Word


def utt(i: int, speaker: str, role: str, start: float, end: float, text: str) -> Utterance:
    return Utterance(index=i, speaker=speaker, role=role, start=start, end=end, text=text)


# 20 s recording: staff 1-4; customer 5-9 and 9.5-10 (one turn); staff talks over the customer
# at 9.8 and goes on to 12 after the customer stops (an interruption); 3 s of silence; customer
# 15-16; 4 s of silence to the end.
CALL = [
    utt(0, "S1", "staff", 1.0, 4.0, "thank you for calling"),
    utt(1, "S2", "customer", 5.0, 9.0, "hi I am ringing about my bill again"),
    utt(2, "S2", "customer", 9.5, 10.0, "yes"),
    utt(3, "S1", "staff", 9.8, 12.0, "sorry to hear that let me"),
    utt(4, "S2", "customer", 15.0, 16.0, "thank you"),
]


def by_scope(rows: list[dict]) -> dict[str, dict]:
    return {row["scope"]: row for row in rows}


def test_whole_interaction_figures() -> None:
    rows = conversation_dynamics(CALL, 20.0)
    assert [r["scope"] for r in rows] == ["all", "customer", "staff"]
    assert by_scope(rows)["all"] == {
        "scope": "all", "duration_s": 20.0, "talk_s": 11.0, "talk_ratio": 0.55,
        "silence_s": 9.0, "longest_silence_s": 4.0,
        "overtalk_count": 1, "overtalk_s": 0.2, "interruptions": 1,
        "words": 21, "words_per_minute": 114.5, "turns": 4,
    }


def test_per_role_figures() -> None:
    rows = by_scope(conversation_dynamics(CALL, 20.0))
    staff, customer = rows["staff"], rows["customer"]
    assert (staff["talk_s"], staff["talk_ratio"], staff["turns"], staff["words"]) == (5.2, 0.26, 2, 10)
    assert (staff["silence_s"], staff["longest_silence_s"]) == (1.0, 1.0)  # only the wait before the greeting
    assert (staff["overtalk_count"], staff["overtalk_s"], staff["interruptions"]) == (1, 0.2, 1)
    assert staff["words_per_minute"] == 115.4
    assert (customer["talk_s"], customer["talk_ratio"], customer["turns"], customer["words"]) == (6.0, 0.3, 2, 11)
    assert (customer["silence_s"], customer["longest_silence_s"]) == (4.0, 3.0)
    assert (customer["overtalk_count"], customer["interruptions"], customer["words_per_minute"]) == (0, 0, 110.0)


def test_talking_over_without_the_other_stopping_is_not_an_interruption() -> None:
    backchannel = [
        utt(0, "S1", "staff", 0.0, 10.0, "let me explain how the refund works"),
        utt(1, "S2", "customer", 4.0, 4.5, "right"),
    ]
    customer = by_scope(conversation_dynamics(backchannel, 10.0))["customer"]
    assert (customer["overtalk_count"], customer["overtalk_s"], customer["interruptions"]) == (1, 0.5, 0)


def test_word_timestamps_count_words_when_present() -> None:
    words = [Word(0.0, 0.4, " thank", 0.9), Word(0.4, 0.8, " you", 0.9)]
    u = Utterance(index=0, speaker="S1", role="staff", start=0.0, end=0.8, text="thank you so much", words=words)
    assert turns_of([u])[0].words == 2


def test_empty_interaction_is_all_silence() -> None:
    (row,) = conversation_dynamics([], 12.5)
    assert (row["scope"], row["talk_s"], row["silence_s"], row["longest_silence_s"], row["turns"]) == ("all", 0.0, 12.5, 12.5, 0)
    assert row["words_per_minute"] == 0.0


@pytest.mark.parametrize(
    ("spans", "total"),
    [([], 0.0), ([(0, 2), (1, 3)], 3.0), ([(5, 6), (0, 1), (0.5, 0.7)], 2.0), ([(0, 4), (1, 2)], 4.0)],
)
def test_union_seconds(spans: list[tuple[float, float]], total: float) -> None:
    assert union_seconds(spans) == pytest.approx(total)


def test_a_voice_heard_over_another_counts_as_overtalk_without_words() -> None:
    # A mono call: the transcript gave every word up to 9 s to the staff member, but two voices
    # were heard at once from 7 to 9 s (diarize.speakers_at_once: the staff member, whose turn it
    # is, and the customer, whose words start at 9 s): the customer cut in, and the staff member
    # stopped first. A stretch heard inside the staff member's explanation, far from any turn of
    # the customer's (a "right" the transcript lost, or a false alarm), is a turn of its own.
    words_only = [
        utt(0, "S1", "staff", 1.0, 9.0, "so what happens next is that we send the paperwork out first"),
        utt(1, "S2", "customer", 9.0, 10.5, "never agreed"),
    ]
    heard = [(7.0, 9.0, "S1", "staff"), (7.0, 9.0, "S2", "customer")]
    before = by_scope(conversation_dynamics(words_only, 12.0))
    assert (before["customer"]["overtalk_count"], before["customer"]["interruptions"]) == (0, 0)  # words never overlap
    after = by_scope(conversation_dynamics(words_only, 12.0, heard))
    customer, staff = after["customer"], after["staff"]
    assert (customer["overtalk_count"], customer["overtalk_s"], customer["interruptions"]) == (1, 2.0, 1)
    assert (customer["talk_s"], customer["words"], customer["turns"]) == (3.5, 2, 1)  # its time counts, its words do not change
    assert (staff["overtalk_count"], staff["turns"], staff["talk_s"]) == (0, 1, 8.0)
    assert (after["all"]["words"], after["all"]["talk_s"], after["all"]["turns"]) == (14, 9.5, 2)
    inside = by_scope(conversation_dynamics(words_only, 12.0, [(4.0, 4.5, "S1", "staff"), (4.0, 4.5, "S2", "customer")]))
    assert (inside["customer"]["overtalk_count"], inside["customer"]["interruptions"], inside["customer"]["turns"]) == (1, 0, 2)
    assert (inside["staff"]["turns"], inside["staff"]["overtalk_count"]) == (1, 0)  # the explanation stays one turn
