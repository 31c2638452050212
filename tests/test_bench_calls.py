"""bench/calls.py's three-person conversations (``--companion``: a couple at a branch), on which
the README measures what the face-to-face rules do to a conversation of three."""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import calls  # noqa: E402
from pipeline.synth import Turn  # noqa: E402


def test_a_companion_gets_a_line_of_their_own_and_some_of_the_customers_later_turns() -> None:
    turns = [Turn("staff", "Good morning."), Turn("customer", "I'm here about my bill."),
             Turn("staff", "Your full name?"), Turn("customer", "Jo Bloggs."), Turn("staff", "Thanks."),
             Turn("customer", "It doubled."), Turn("customer", "Since March."), Turn("staff", "I'll fix it."),
             Turn("customer", "Thank you."), Turn("customer", "No, that's all."), Turn("staff", "Goodbye."),
             Turn("customer", "Bye.")]
    three = calls.with_companion(random.Random(0), turns)
    # one line of the companion's own, right after the customer's identity answer
    assert len(three) == len(turns) + 1 and three[4].role == "companion" and three[4].text in calls.COMPANION_LINES
    # the staff member's turns are untouched, in order; the words are the same otherwise
    assert [t for t in three if t.role == "staff"] == [t for t in turns if t.role == "staff"]
    assert [t.text for t in three[:4] + three[5:]] == [t.text for t in turns]
    # the customer keeps the opening, the identity answer and the start of the account; the
    # companion speaks later, and says goodbye
    spoken = {t.text: t.role for t in three}
    assert [spoken[x] for x in ("I'm here about my bill.", "Jo Bloggs.", "It doubled.")] == ["customer"] * 3
    assert spoken["Bye."] == "companion" and sum(t.role == "companion" for t in three) >= 3
    assert sum(t.role == "customer" for t in three) >= 3
