"""Calls transferred to a colleague: where the first staff member hands the customer over.

A mono phone call that is transferred holds three voices: the staff member who answered, the
customer, and the colleague who takes over (a specialist team, a manager). Diarized as the two
people a call is expected to hold, the colleague's voice is folded into one of the others, often
the customer's, and every line the colleague says after the transfer gets the customer's role
(``bench/calls.py --transfer``: roles right on 76% of the speech time, bench/SPEAKERS.md, round 31). A call
is taken as transferred where its words say so: a transfer line ("I'll put you through to our
billing team") and, after a pause or a hold, the colleague introducing themselves ("you're
through to Sam in billing", "thanks for holding, my name is ..."), or a hold after the transfer
line with someone speaking after it. The speaker stage then diarizes the two parts as two
calls and keeps the customer's name across them (``speakers.transferred_roles``). Where the
words say nothing (Whisper garbles the line), the voices of the two-voice diarization may
still show one staff voice handing over to another (``heard_by_voice``): a call whose roles
came out flagged is then diarized as transferred, another call flagged. A first voice that
nobody answered before the handover is no staff member who transferred: it is the phone
system's recorded welcome (``Handover.answered``; ``recorded.welcome_by_voice``).

No model of its own: the words, the pauses and the holds found (``hold.hold_stretches``), and
the speaker encoder's windows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .diarize import kmeans
from .records import Utterance

HANDED_OVER = (r"(?<!walk )(?<!talk )(?<!take )(?<!guide )you(?:r call)? through\b|pass(?:ing)? you\b|"
               r"connect(?:ing)? you (?:to|with|through)|hand(?:ing)? you over|to (?:a|my) colleague")
"""Words that hand the customer over, whatever the verb (not "walk you through")."""
BRINGS_IN = (r"\b(?:bring|get|conference) (?:in |on )?(?:a |my |one of (?:my|our) )?(?:colleague|manager|supervisor|team leader|specialist)s?\b"
             r"(?! to (?:call|ring|phone|email|contact|get back))|\bjoin (?:us|the call)\b|\bintroduce you\b")
"""Words that bring someone else onto the call (a warm transfer: the staff member stays to
introduce the customer, then leaves; or a manager joins), not those of a call back."""
TRANSFER = re.compile(
    r"\b(?:(?<!a )(?<!bank )(?<!balance )(?<!wire )transfer(?:ring)?\b(?! money| funds)|" + HANDED_OVER + "|" + BRINGS_IN + ")",
    re.IGNORECASE,
)
"""The first staff member's words that hand the call over."""
INTRODUCTION = re.compile(
    r"^\W*(?:hello|hi|hiya|good (?:morning|afternoon|evening))\b|\byou(?:'re| are) through to|"
    r"\byou(?:'ve| have) been (?:put|transferred) through|\b(?:this is|my name is|i'm|it's) (?:\w+[ ,]+){1,3}(?:from|in|on|with|and)\b|"
    r"\w+ speaking\b|\bthanks? (?:you )?for (?:holding|waiting)|\bmy colleague|\bi understand you've been|\b(?:team|department)\b",
    re.IGNORECASE,
)
"""How the colleague who takes the call over opens it."""
PUT_THROUGH = re.compile(r"\b(?:transfer(?:ring)? you\b|" + HANDED_OVER + "|" + BRINGS_IN + ")", re.IGNORECASE)
"""A transfer line that says the customer is being handed over (not a money transfer) ..."""
HOLD_ON = re.compile(r"\b(?:hold|(?:on|in) the line|bear with|(?:a|one) moment|a sec(?:ond)?)\b", re.IGNORECASE)
"""... and a request to hold on, in it or before the pause: the transfer is being made now, and
the voice after the pause is the colleague's even where their opening is not heard as one
(``INTRODUCTION``; Whisper tiny.en at 8 kHz hears "hello there" as "the loan there")."""
MIN_PAUSE_S = 1.0
"""The colleague's first words follow at least this long without words after the transfer line
(or a hold)."""
PAUSE_WITHIN_S = 30.0
"""... and that pause comes within this long of the transfer line (the customer may answer it)."""
INTRO_WITHIN_S = 15.0
"""The colleague introduces themselves within this long of their first words."""


@dataclass(frozen=True)
class Transfer:
    at_s: float
    """Where the colleague's part of the call starts (seconds): the start of their first words."""
    reason: str
    by_voice: bool = False
    """Heard by the voices alone (``heard_by_voice``): the point is the colleague's first words, so
    a first staff member who stayed on to introduce them spoke both before it and after it."""


def transfer_point(utterances: list[Utterance], holds: list[tuple[float, float]] = (),
                   staff_channels: set[int] | None = None) -> Transfer | None:
    """Where a mono call is handed over to a colleague, from its words (before diarization: the
    utterances are cut by pauses only) and its holds: the first utterance after a transfer line
    (``TRANSFER``) that follows a pause of ``MIN_PAUSE_S`` or more or a hold, when it or another
    within ``INTRO_WITHIN_S`` opens as a colleague does (``INTRODUCTION``), when a hold lies in
    the pause, or when the line says the customer is being put through (``PUT_THROUGH``) and asks
    them to hold on (``HOLD_ON``) before the pause. None: no transfer heard (a transfer line offered and not carried out, or carried
    out with no pause and no introduction, is not one). ``staff_channels``: in a stereo call, the
    channels whose transfer lines count (a customer who asks to be transferred has not been)."""
    ordered = sorted(utterances, key=lambda u: u.start)
    for i, u in enumerate(ordered):
        if not TRANSFER.search(u.text) or (staff_channels is not None and u.channel not in staff_channels):
            continue
        ended = u.end
        for j in range(i + 1, len(ordered)):
            nxt = ordered[j]
            if ended - u.end > PAUSE_WITHIN_S:  # (the pause itself may be a long hold)
                break
            held = [h for h in holds if ended - 0.5 <= h[0] and h[1] <= nxt.start + 0.5]
            if nxt.start - ended >= MIN_PAUSE_S or held:
                opening = next((v for v in ordered[j:] if v.start - nxt.start <= INTRO_WITHIN_S and INTRODUCTION.search(v.text)), None)
                asked = next((v for v in ordered[i:j] if HOLD_ON.search(v.text)), None) if PUT_THROUGH.search(u.text) else None
                if opening is None and not held and asked is None:
                    break
                why = f"a transfer line at {u.start:.0f} s"  # times, not words: a reason is stored unredacted
                if asked is not None and opening is None and not held:
                    why += f", they were asked to hold on at {asked.start:.0f} s and {nxt.start - ended:.1f} s without words"
                if held:
                    why += f", a hold at {held[0][0]:.0f}-{held[-1][1]:.0f} s"
                if opening is not None:
                    why += f", and the colleague's opening at {opening.start:.0f} s"
                return Transfer(round(nxt.start, 3), why)
            ended = max(ended, nxt.end)
        # a transfer line with no pause after it (one offered, not made): look for another
    return None


VOICE_PURITY = 0.84
"""``voice_handover``: the share, at least, of each of the two staff voices' windows on their
own side of the point (the customer's voice, the third, on both sides). Seed 65's 40 warm
transfers (8 kHz, CAM++ windows of the two-voice diarization): 0.60-0.91, 27 at 0.84 or more;
seed 55's 40 calls with no transfer: 0.50-0.79 (bench/SPEAKERS.md, round 32)."""
VOICE_MIN_WINDOWS = 15
"""Each of the three voices holds at least this many windows (12 s of speech)."""
VOICE_SPAN = 0.25
"""The voice found on both sides (the customer's) has at least this share of its windows on each."""
ANSWER_WINDOWS = 3
"""The voice heard on both sides has begun at its this-many-th window (``Handover.answered``: a
stray window or two of it inside the first voice's speech is not an answer)."""
ANSWERED = 1
"""A handover is a transfer only where at least this many of the first voice's windows before it
came after the voice on both sides began: a staff member who transfers has talked with the
customer first (a receptionist who reads a long opening and says one line before transferring
still has one). A first voice that nobody answered (none) is the phone system's recorded welcome,
not a staff member. Seed 65's warm transfers (8 kHz) that the voices found at ``VOICE_PURITY``:
half or more of their windows; the welcomes taken for transfers by the voices in round 55's
sets: none (bench/SPEAKERS.md, round 56)."""


class Handover(NamedTuple):
    """Where one voice hands over to another in a mono call (``voice_handover``)."""
    purity: float
    """The smaller of the two voices' shares of their windows on their own side of the point."""
    at_s: float
    """The point (seconds)."""
    answered: int
    """How many of the first voice's windows before the point come after the voice heard on both
    sides has begun (its ``ANSWER_WINDOWS``-th window): 0 where the first voice spoke only before
    anyone else did and was never answered."""
    first_end_s: float
    """Where the first voice's last window before the point ends (seconds)."""
    both_start_s: float
    """Where the voice heard on both sides begins (its first window's start, seconds)."""

    @property
    def unanswered(self) -> bool:
        """A clear handover (``VOICE_PURITY``) whose first voice nobody answered (``ANSWERED``): no
        transfer, but the phone system's recorded welcome."""
        return self.purity >= VOICE_PURITY and self.answered < ANSWERED


def voice_handover(voices, windows: list[tuple[int, int]], frames_per_s: float = 100.0) -> Handover | None:
    """Where one voice hands over to another in a mono call, by the voices alone: the call's
    embedding windows clustered into three (k-means of the voices less their mean), one voice
    speaks before a point and another after it while the third speaks on both sides (a customer
    handed from one staff member to another). The best point in the middle of the call (20-90%),
    with its purity (the smaller of the two voices' shares on their own side) and whether the
    first voice was answered before it (``Handover``); None where there are too few windows or a
    voice too small."""
    if voices is None or len(voices) < 3 * VOICE_MIN_WINDOWS:
        return None
    v = np.asarray(voices, dtype=np.float64)
    v = v - v.mean(axis=0)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    labels = kmeans(v, 3)
    if min(int((labels == j).sum()) for j in range(3)) < VOICE_MIN_WINDOWS:
        return None
    middles = np.array([(a + b) / 2 for a, b in windows]) / frames_per_s
    end = float(middles.max())
    points = np.unique(middles)
    points = points[(points >= 0.2 * end) & (points <= 0.9 * end)]
    if not len(points):
        return None
    # each voice's share of its windows before each point, from its sorted window times (the
    # search runs on every two-person call: not a pass over the windows per point)
    before = np.stack([np.searchsorted(np.sort(middles[labels == j]), points, side="left") / int((labels == j).sum())
                       for j in range(3)], axis=1)
    pairs = [(early, late) for early in range(3) for late in range(3) if early != late]
    purity = np.full((len(points), len(pairs)), -1.0)
    for k, (early, late) in enumerate(pairs):
        other = before[:, 3 - early - late]
        spans = (other >= VOICE_SPAN) & (other <= 1 - VOICE_SPAN)
        purity[spans, k] = np.minimum(before[spans, early], 1 - before[spans, late])
    if purity.max() < 0:
        return None
    best = int(np.argmax(purity))  # the first best, in time and then pair order, as a loop would keep
    at, (early, late) = float(points[best // len(pairs)]), pairs[best % len(pairs)]
    starts, ends = np.array([a for a, _ in windows]) / frames_per_s, np.array([b for _, b in windows]) / frames_per_s
    first = (labels == early) & (middles < at)
    both = np.sort(middles[labels == 3 - early - late])
    begun = both[min(ANSWER_WINDOWS, len(both)) - 1]
    answered = int((middles[first] > begun).sum())
    return Handover(float(purity.max()), at, answered, float(ends[first].max()) if first.any() else 0.0,
                    float(starts[labels == 3 - early - late].min()))


def heard_by_voice(utterances: list[Utterance], found: Handover | None) -> Transfer | None:
    """A transfer the words did not say (Whisper may garble the transfer line) but the voices
    do (``voice_handover``'s ``found``, at ``VOICE_PURITY`` or more, its first voice answered
    before it: ``ANSWERED``): it starts at the first utterance that starts at the handover point
    or after it (less half a second)."""
    if found is None or found.purity < VOICE_PURITY or found.unanswered:
        return None
    purity, t = found.purity, found.at_s
    start = next((u.start for u in sorted(utterances, key=lambda u: u.start) if u.start >= t - 0.5), None)
    if start is None:
        return None
    return Transfer(round(start, 3), f"no transfer heard in the words, but one staff voice before it and another after it, the "
                                     f"customer's on both sides ({purity:.0%} of each staff voice's speech on its own side)",
                    by_voice=True)
