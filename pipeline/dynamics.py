"""Conversation dynamics: talk time, silence, overtalk, interruptions, speaking rate, turns.

Computed from utterances (start/end in seconds, speaker, role) for the whole interaction
(scope ``all``) and for each role present. A *turn* is a run of consecutive utterances by one
speaker. *Overtalk* is a turn starting while another speaker's turn is still going; it is an
*interruption* when the speaker talked over stops before the one who started over them. A
role's *silence* is the gaps before that role's turns (how long the others waited for it);
the interaction's silence is all the time nobody speaks, from 0 to the recording's end.

In a mono recording each word has one speaker, so the utterances never overlap. Where two voices
were heard at once (``diarize.speakers_at_once``: the transcript holds at most one of the two
there), both voices are passed as ``heard``: each one's turn that comes within ``HEARD_JOIN_S``
of the stretch is stretched over it (the customer who cut in started there; the staff member
talked on to its end), else the voice gets a turn there with no words. So a customer who talks
over the staff member counts as overtalk (and talk time), even where their words were lost.

A hold (``hold``: music, and the recorded announcements over it, speaker ``HOLD``) is neither
talk nor silence: nobody waits for anybody there, and its announcements are nobody's words.
"""

from __future__ import annotations

from dataclasses import dataclass

from .hold import HOLD_SPEAKER
from .recorded import PHONE_SYSTEM
from .records import Utterance

HEARD_JOIN_S = 1.0
"""A voice heard over another joins its own turn when that turn comes within this of the stretch
(the words of a customer who cut in begin, at best, when the staff member stops)."""


@dataclass
class Turn:
    speaker: str
    role: str
    start: float
    end: float
    words: int


def turns_of(utterances: list[Utterance]) -> list[Turn]:
    """Consecutive utterances by the same speaker, joined; in order of start time."""
    turns: list[Turn] = []
    for u in sorted(utterances, key=lambda u: (u.start, u.end)):
        n_words = len(u.words) if u.words else len(u.text.split())
        last = turns[-1] if turns else None
        if last and last.speaker == u.speaker:
            last.end = max(last.end, u.end)
            last.words += n_words
        else:
            turns.append(Turn(u.speaker, u.role, u.start, u.end, n_words))
    return turns


def seconds_apart(start: float, end: float, other_start: float, other_end: float) -> float:
    """The gap between two spans in seconds (0 where they touch or overlap)."""
    return max(other_start - end, start - other_end, 0.0)


def with_heard(turns: list[Turn], heard: list[tuple[float, float, str, str]]) -> list[Turn]:
    """``turns`` with each heard voice's stretch joined to that speaker's nearest turn, when it
    comes within ``HEARD_JOIN_S``, else added as a turn with no words; in order of start."""
    for start, end, speaker, role in heard:
        def gap(t: Turn) -> float:
            return seconds_apart(start, end, t.start, t.end)

        mine = [t for t in turns if t.speaker == speaker]
        near = min(mine, key=gap) if mine else None
        if near is not None and gap(near) <= HEARD_JOIN_S:
            near.start, near.end = min(near.start, start), max(near.end, end)
        else:
            turns.append(Turn(speaker, role, start, end, 0))
    return sorted(turns, key=lambda t: (t.start, t.end))


def union_seconds(spans: list[tuple[float, float]]) -> float:
    """Length of the union of (start, end) spans."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def silences(turns: list[Turn], duration_s: float) -> list[tuple[Turn | None, float]]:
    """Every stretch nobody speaks, with the turn that ends it (None for the trailing one)."""
    out: list[tuple[Turn | None, float]] = []
    reach = 0.0
    for turn in turns:
        if turn.start > reach:
            out.append((turn, turn.start - reach))
        reach = max(reach, turn.end)
    if duration_s > reach:
        out.append((None, duration_s - reach))
    return out


def overtalk(turns: list[Turn]) -> list[tuple[Turn, float, bool]]:
    """(turn that started over someone, seconds of overlap, whether it was an interruption)."""
    out = []
    for i, turn in enumerate(turns):
        talked_over = [t for t in turns[:i] if t.speaker != turn.speaker and t.start <= turn.start < t.end]
        if talked_over:
            other = max(talked_over, key=lambda t: t.end)
            out.append((turn, min(other.end, turn.end) - turn.start, other.end < turn.end))
    return out


def conversation_dynamics(utterances: list[Utterance], duration_s: float,
                          heard: list[tuple[float, float, str, str]] = (), holds: list[tuple[float, float]] = ()) -> list[dict]:
    """Rows for the ``dynamics`` table: scope ``all`` first, then one per role present.
    ``heard``: (start, end, speaker, role) of each voice heard in a stretch of two at once.
    ``holds``: (start, end) of each hold, and of the phone system's opening (a welcome and the
    queue before anyone answers), left out of talk and silence alike (their recorded voices'
    utterances, speakers ``HOLD`` and ``SYSTEM``, too)."""
    turns = with_heard(turns_of([u for u in utterances if u.speaker not in PHONE_SYSTEM]), heard)
    held = [Turn(HOLD_SPEAKER, "hold", a, b, 0) for a, b in holds]
    gaps = silences(sorted(turns + held, key=lambda t: (t.start, t.end)), duration_s)
    overs = overtalk(turns)
    roles = sorted({t.role for t in turns})
    rows = []
    for scope in ["all", *roles]:
        mine = [t for t in turns if scope == "all" or t.role == scope]
        if scope == "all":
            silence = [s for _, s in gaps]
        else:
            silence = [s for t, s in gaps if t is not None and t.role == scope]
        over = [(s, interrupted) for t, s, interrupted in overs if scope == "all" or t.role == scope]
        talk = union_seconds([(t.start, t.end) for t in mine])
        words = sum(t.words for t in mine)
        rows.append(
            {
                "scope": scope,
                "duration_s": round(duration_s, 3),
                "talk_s": round(talk, 3),
                "talk_ratio": round(talk / duration_s, 4) if duration_s > 0 else 0.0,
                "silence_s": round(sum(silence), 3),
                "longest_silence_s": round(max(silence, default=0.0), 3),
                "overtalk_count": len(over),
                "overtalk_s": round(sum(s for s, _ in over), 3),
                "interruptions": sum(1 for _, interrupted in over if interrupted),
                "words": words,
                "words_per_minute": round(words / (talk / 60), 1) if talk > 0 else 0.0,
                "turns": len(mine),
            }
        )
    return rows
