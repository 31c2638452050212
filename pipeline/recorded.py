"""The phone system's recorded voice before anyone answers: a welcome, and the queue after it.

Many phone systems record an inbound call from the moment it connects, so the recording opens
with a recorded voice ("Thank you for calling. Calls may be recorded for training purposes.
Please hold while we connect you."), often followed by the queue's music, before the staff member
answers. That voice is neither person. Clustered with their voices it joins one of them: its
words become the staff member's (a recording disclosure they never said passes the disclosure
rule) or the customer's, and more calls are flagged (bench/SPEAKERS.md, round 53).

Found by its words, with no model: the recording's first run of speech (no pause longer than
``MAX_PAUSE_S``, starting within ``OPENING_S``), in its first ``WELCOME_MAX_S``, holds a
sentence with one of the cues of ``data/recorded_messages.yaml`` (what only a phone system says
before a person answers: "please hold", "your call is important to us"), matched nearly as
written (``heard.find_phrase``: speech recognition mishears a recorded voice on a phone line as
it does a person). Everything from the recording's start to the end of the first such sentence
(or of the last of the sentences with a cue that follow it one after another; or, where it is
later, the end of the words before a person's opening, below) is the phone system's (speaker
``SYSTEM``, role unknown). So is a hold that begins within ``JOIN_S`` after it (the queue's music and its
announcements), and music that opens the recording. Left out of the people's voices, roles, talk
and silence like a hold, but kept apart from holds: a queue before anyone answers is not a staff
member's hold. A business adds the words of its own welcome to the file; the rules' first-seconds windows
count from where the phone system's opening ends (``rules.evaluate_rules``'s ``opening_s``).
A welcome with no cue is found by the pause before a person answers by name; that pause is
measured by the sound (Silero's speech frames) where the speaker stage gives it, as speech
recognition's word times at 8 kHz run on into it. Where speech recognition garbled both the
welcome and the person's opening, the speaker stage may still find the welcome by the voices: a
voice that opens the call, is answered by nobody, and is followed after a pause by another
(``welcome_by_voice``; ``transfers.Handover``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ConfigError
from .heard import canonical, find_phrase
from .hold import HOLD_SPEAKER, runs_of
from .records import Word

SYSTEM_SPEAKER = "SYSTEM"
"""The speaker of the phone system's opening: its turn, and the words of its recorded voice (role ``unknown``)."""
PHONE_SYSTEM = (HOLD_SPEAKER, SYSTEM_SPEAKER)
"""The speakers that are no person: a hold's music and announcements, and the opening."""
OPENING_S = 60.0
"""The recorded welcome's first run of speech starts within this many seconds of the recording's start."""
MAX_PAUSE_S = 2.0
"""A pause longer than this ends the first run of speech: a recorded welcome plays on without
one, where a person who answers waits for the other to speak."""
WELCOME_MAX_S = 30.0
"""... and a welcome is over within this many seconds of its first word (48 welcomes,
`bench/hold.py`'s 4 and two helpers' 20 and 24, in 124 calls spoken by espeak: 3.4-16.5 s,
bench/SPEAKERS.md round 53). A person who asks the
customer to hold a moment does so later than this, after hearing what the call is about."""
JOIN_S = 3.0
"""A hold that begins within this many seconds after the welcome (or after the recording's
start) is the queue: the phone system's too."""
MUSIC_FIRST_S = 1.0
"""Music that begins within this many seconds of the recording's start opens it: the queue."""
PERSON_OPENS = ("my name is", "speaking", "this is", "how can i help", "how may i help", "what can i do for you",
                "you're through to", "you are through to")
"""What a person who answers says before they put anyone on hold (and a recorded welcome does
not): a first run of speech that runs into music with none of these, and no question, is the
phone system's welcome even where speech recognition garbled its cue ("you're calling important
to us", "please vote")."""
NAMED_OPENS = ("you're through to", "you are through to", "you're speaking with", "you are speaking with",
               "how can i help", "how may i help", "what can i do for you")
"""A person answering, for certain: what a staff member's first sentence says ("Hello, you're
through to Harbour Mutual, Sam speaking"), and a recorded welcome does not. Not "my name is": a
customer says it too, answering the identity questions (a no-welcome call whose greeting speech
recognition garbled was taken for a welcome up to the customer's "my name is")."""
NAME_SPEAKING = re.compile(r"\b(?!am |are |is |i |you |we |be |been |was |were )\w+ speaking\b(?! (?:to|with|on|about|for|of)\b)")
"""... and "Sam speaking" (canonical text), but not "am I speaking to", "speaking on behalf of"."""
WELCOME_QUESTIONS = ("did you know",)
"""A question a recorded welcome asks as it advertises ("Did you know you can check your balance
in our app?"): not a person's question, which would end the welcome. Round 54: a held-out 16 kHz
welcome that asked it was not found, and its call's roles came out 50% right."""
ANNOUNCEMENT_MAX_S = 12.0
"""A recorded announcement after the queue's music lasts at most this long (bench/hold.py's: up to
6 s; "Thank you for your patience. Your call is important to us, please continue to hold and an
adviser will be with you shortly" is about 7 s): longer speech is people talking."""
GAP_S = 1.0
"""Before a person's opening, the pause of the line connecting to a person: at least this long
(the longest pause before the person's opening). Within one person's opening the sentences
follow each other more closely."""
GREETING_S = 10.0
"""... and the person's opening (their name) comes within this many seconds of the first words
after that pause ("Good morning. Welcome to Harbour Mutual. Sam speaking.")."""
MIN_WELCOME_WORDS = 6
MIN_WELCOME_SENTENCES = 2
"""A welcome before a person's opening has at least this many words and sentences ("Good
morning." or "Hello and thank you for calling Harbour Mutual." before "Sam speaking." is the
person's own; a recorded welcome says who the caller reached and something more) ..."""
GREETINGS = ("hello", "hi", "hiya", "good morning", "good afternoon", "good evening", "morning", "afternoon", "evening")
"""... or one sentence, where the person after the pause opens with a greeting and says more
(``_greeted_after``): a person greets at the start of their own opening, so what came before it
was not theirs ("Thanks for calling Larkspur Motor Insurance. Connecting you now." runs into one
sentence at 8 kHz; round 55). Not "thanks" or "welcome": a person's opening goes on with them
("Hello and thank you for calling Harbour Mutual. [pause] Thanks for holding, Sam speaking")."""


def load_cues(path: str | Path | None) -> tuple[str, ...]:
    """The cues in ``path`` (a YAML file with a ``cues:`` list of phrases); () for None."""
    if path is None:
        return ()
    path = Path(path)
    if not path.exists():
        raise ConfigError("no such file", fix="point PARLEY_RECORDED_MESSAGES at a YAML file with a 'cues:' list (an empty list turns this off)",
                          path=str(path))
    from .rules import read_yaml  # here: the rules import this module

    data = read_yaml(path) or {}
    cues = data.get("cues") if isinstance(data, dict) else None
    if cues is None:
        cues = []
    if not isinstance(cues, list) or not all(isinstance(c, str) and tokens(c) for c in cues):
        raise ConfigError("the recorded messages must be a 'cues:' list of phrases", fix="write cues: [please hold, your call is important to us]",
                          path=str(path))
    return tuple(dict.fromkeys(" ".join(tokens(c)) for c in cues))


def tokens(text: str) -> list[str]:
    """Lower-case words without punctuation ("we'll" stays one word)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("’", "'"))


def _sentence_ends(word: str) -> bool:
    return word.rstrip().endswith((".", "?", "!"))


def _sentences(words: Sequence[Word]) -> list[list[Word]]:
    """``words`` cut into sentences where a word ends one (the last sentence may be unfinished)."""
    out, start = [], 0
    for j, w in enumerate(words):
        if _sentence_ends(w.word) or j == len(words) - 1:
            out.append(list(words[start: j + 1]))
            start = j + 1
    return out


def _text(words: Sequence[Word]) -> str:
    return " ".join(w.word.strip() for w in words)


def _a_person(text: str) -> bool:
    """Whether a sentence is a person's: it asks a question (not a welcome's "did you know ...?"),
    or a person answers by name in it ("Sam speaking", "my name is"; not "this is", which a
    welcome says too: "this is the council's contact centre")."""
    return _asks(text) or _named(text) or bool(find_phrase("my name is", text))


def _asks(text: str) -> bool:
    """Whether words ask a question a person asks: a question mark, but not in a recorded
    welcome's own question (``WELCOME_QUESTIONS``)."""
    return "?" in text and not any(find_phrase(q, text) for q in WELCOME_QUESTIONS)


def _named(text: str) -> bool:
    """A person answering by name: "Sam speaking" (not "am I speaking to", "speaking on behalf
    of"), "you're through to", "how can I help"."""
    said = canonical(text)
    return bool(NAME_SPEAKING.search(said)) or any(find_phrase(p, text) for p in NAMED_OPENS)


def phone_system_opening(words: Sequence[Word], holds: Sequence[tuple[float, float]], cues: Sequence[str],
                         speech: Sequence[bool] | None = None) -> tuple[tuple[float, float] | None, str]:
    """(start, end) seconds of the phone system's opening in one channel's ``words`` (time order)
    with that channel's ``holds``, or None; and why (for the roles' reason). ``speech``: which
    10 ms frames of the channel, from its start, are speech by their sound
    (``diarize.speech_frames``), to measure the pause before a person's opening; None: by the
    words' times."""
    end, why = None, ""
    first_hold = min(holds, default=None)
    if first_hold is not None and first_hold[0] <= MUSIC_FIRST_S:
        end, why = first_hold[1], "music opens the recording"
    run: list[Word] = []
    for w in words:
        if run and w.start - run[-1].end > MAX_PAUSE_S:
            break
        if not run and w.start > OPENING_S:
            break
        if run and w.end > run[0].start + WELCOME_MAX_S:
            break
        if end is not None and w.start < end:  # inside the queue's music (its announcements): the hold's already
            continue
        run.append(w)
    sentences = [(_text(sentence), sentence[-1].end) for sentence in _sentences(run)]
    # a welcome is over by the first sentence a person says (a question, their name): cues after it are theirs
    people = next((i for i, (text, _) in enumerate(sentences) if _a_person(text)), len(sentences))
    heard = [next((cue for cue in cues if find_phrase(cue, text)), None) for text, _ in sentences[:people]]
    first = next((i for i, cue in enumerate(heard) if cue is not None), None)
    if first is not None:  # the welcome ends with the first sentence with a cue, or the last of those right after it
        last = first
        while last + 1 < len(heard) and heard[last + 1] is not None:
            last += 1
        if sentences[last][1] > (end or 0.0):  # the cue's words, not the transcript's: these may be a person's, unredacted
            end, why = sentences[last][1], f"the phone system's recorded welcome: \"{heard[first]}\" heard in its first run of speech"
            before = _before_a_person(words, speech)  # the welcome's sentences after the cue, up to the pause before a person's opening
            if before is not None and before > end:
                end = before
            elif people == len(sentences) and sentences and _music_after(sentences[-1][1], holds) is not None:
                end = sentences[-1][1]  # the rest of the run, up to the queue's music, is the welcome's too
    if end is None:
        from .transfers import HOLD_ON, TRANSFER  # here: transfers imports the diarization, which needs this module

        text = " ".join(t for t, _ in sentences)
        queue = _music_after(sentences[-1][1], holds) if sentences else None
        if (queue is not None and run[-1].start < OPENING_S + WELCOME_MAX_S and people == len(sentences)
                and not TRANSFER.search(text) and not HOLD_ON.search(text)):
            end, why = queue[1], "the phone system's recorded welcome: speech that runs into the queue's music"
        else:
            before = _before_a_person(words, speech)
            if before is None:
                return None, ""
            end, why = before, "the phone system's recorded welcome: words before a pause and a person's opening"
    while True:
        while (queue := next(((a, b) for a, b in sorted(holds) if b > end and (a <= end + JOIN_S)), None)) is not None:  # the queue, in pieces too
            end, why = queue[1], f"{why}, then the queue's music" if "welcome" in why and "queue" not in why else why
        if not any(abs(b - end) < 1e-6 for _, b in holds):
            break
        announced = _announced_after(words, end, holds, cues)  # the queue's own recorded voice after its music
        if announced is None or announced <= end:  # (<=: a word whose end comes before its start, never again)
            break
        end, why = announced, why if "announcement" in why else f"{why}, then a recorded announcement"
    return (0.0, round(float(end) + 0.05, 3)), why


def _announced_after(words: Sequence[Word], end: float, holds: Sequence[tuple[float, float]], cues: Sequence[str]) -> float | None:
    """Where a recorded announcement that follows the queue's music at ``end`` ends ("Thank you
    for your patience. Please continue to hold, we will be with you as soon as we can."), or
    None: speech that starts within ``JOIN_S`` of the music's end, runs to a pause of ``GAP_S``
    or more (or to music, or to the recording's end) within ``ANNOUNCEMENT_MAX_S``, says a cue and
    has no person's sentence or opening (a question, a name, ``PERSON_OPENS``: "Thanks for holding,
    Sam speaking" is the person who answers)."""
    rest = [w for w in words if (w.start + w.end) / 2 > end]
    if not rest or rest[0].start - end > JOIN_S:
        return None
    run = [rest[0]]
    for w in rest[1:]:
        if w.start - run[-1].end >= GAP_S or any(run[-1].end - 0.5 <= a <= w.start for a, _ in holds):
            break
        run.append(w)
    if run[-1].end - run[0].start > ANNOUNCEMENT_MAX_S:  # people talking, not one recorded line
        return None
    texts = [_text(sentence) for sentence in _sentences(run)]
    if (any(_a_person(text) for text in texts) or any(find_phrase(p, text) for text in texts for p in PERSON_OPENS)
            or not any(find_phrase(cue, text) for text in texts for cue in cues)):
        return None
    return run[-1].end


def _music_after(end: float, holds: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """The hold that begins within ``JOIN_S`` after ``end`` (the queue's music), if any."""
    return next(((a, b) for a, b in sorted(holds) if end - 0.5 <= a <= end + JOIN_S), None)


def _pause(before: Word, after: Word, speech: Sequence[bool] | None) -> float:
    """Seconds of pause between two words: with ``speech`` (10 ms frames), the longest run of
    frames without speech from the first word's start to the second's end (speech recognition's
    word times at 8 kHz run on into the pause after a word: a recorded welcome's last word ran
    0.6-0.8 s into a 1.4 s pause, bench/SPEAKERS.md round 55), to ``PAUSE_REACH_S`` past the second
    word's end (its start may be pulled into the pause too); else the gap between the words' times."""
    return _silence(before, after, speech)[0]


PAUSE_REACH_S = 0.5
"""How far past the first word after a pause the sound is heard for that pause (``_pause``)."""


def _before_a_person(words: Sequence[Word], speech: Sequence[bool] | None = None) -> float | None:
    """Where the words before a person's opening end, if they are a recorded welcome. The first
    sentence with a person's opening (``NAMED_OPENS``: "Sam speaking", "you're through to") is
    found; of the pauses between sentences before it (``_pause``: by the sound where ``speech``
    is given) that the person's opening follows within ``GREETING_S``, the longest (at least
    ``GAP_S``: the line connecting to a person) ends the welcome (a recorded welcome may pause
    as long between its own sentences: a neural voice's 1.2-1.3 s, round 55). The welcome
    starts within ``OPENING_S``, lasts at most ``WELCOME_MAX_S``, has ``MIN_WELCOME_WORDS`` and
    ``MIN_WELCOME_SENTENCES`` or more (or one, where the person after the pause greets:
    ``_greeted_after``), no question and none of ``PERSON_OPENS``. None otherwise."""
    sentences, text, k = _to_a_person(words)
    if not k:
        return None
    near = [i for i in range(1, k + 1) if sentences[k][0].start - sentences[i][0].start <= GREETING_S]
    gaps = {i: _pause(sentences[i - 1][-1], sentences[i][0], speech) for i in near}
    cut = max(near, key=lambda i: (gaps[i], i))  # near holds k at least; of equal pauses, the one nearest the person
    before, said = [w for sentence in sentences[:cut] for w in sentence], " ".join(text[:cut])
    if (gaps[cut] < GAP_S
            or len(before) < MIN_WELCOME_WORDS or (cut < MIN_WELCOME_SENTENCES and not _greeted_after(text[0], text[cut]))
            or before[0].start > OPENING_S or before[-1].end - before[0].start > WELCOME_MAX_S
            or any(_asks(t) for t in text[:cut]) or any(find_phrase(p, said) for p in PERSON_OPENS)):
        return None
    return before[-1].end


def _to_a_person(words: Sequence[Word]) -> tuple[list[list[Word]], list[str], int | None]:
    """The sentences of ``words`` that ``_before_a_person`` weighs (those starting within
    ``OPENING_S + WELCOME_MAX_S``), their texts, and the index of the first with a person's
    opening (``_named``), or None."""
    sentences = _sentences([w for w in words if w.start <= OPENING_S + WELCOME_MAX_S])
    text = [_text(sentence) for sentence in sentences]
    return sentences, text, next((i for i, t in enumerate(text) if _named(t)), None)


def heard_until(words: Sequence[Word]) -> float | None:
    """How much of a channel's sound ``_before_a_person`` may weigh for its pauses: up to the end
    of the first word of the first sentence with a person's opening (``_to_a_person``), and
    ``PAUSE_REACH_S`` past it; None where there is none, or it is the first sentence (no pause is
    weighed, so nothing need be heard)."""
    sentences, _, k = _to_a_person(words)
    return sentences[k][0].end + PAUSE_REACH_S if k else None


def _greets(text: str) -> int:
    """How many words of a greeting (``GREETINGS``) a sentence opens with ("Hello, you're through
    to ...": 1; "Good morning.": 2); 0 where it opens with none."""
    said = canonical(text).split()
    return max((len(g.split()) for g in GREETINGS if said[: len(g.split())] == g.split()), default=0)


def _greeted_after(welcome: str, person: str) -> bool:
    """Whether a one-sentence ``welcome`` is the phone system's by the ``person``'s sentence after
    the pause: that sentence opens with a greeting and says more ("Hello, you're through to
    Castlegate Bank"; not a bare "Hi." or a "Hello?" down a silent line, which answer the staff
    member's own first sentence), asks nothing unless it answers by name ("Hello, you're through
    to Sam, how can I help?"; not "Hello, is anyone there?"), and the welcome does not open with a greeting
    itself (a staff member who greets twice: "Good morning and thank you for calling Harbour
    Mutual. [pause] Hello, you're through to Sam")."""
    greeting = _greets(person)
    return (bool(greeting) and len(canonical(person).split()) > greeting and (_named(person) or not _asks(person))
            and not _greets(welcome))


VOICE_REACH_S = 1.0
"""``welcome_by_voice``: how far either side of where the voices change the pause is looked for
(the speaker encoder's windows are 1.4 s long, and a window that straddles a pause is given to one
voice)."""
VOICE_CHANGE_S = 2.8
"""... and the first voice's last window ends at most this far (two windows) from where the next
voice's first begins: voices that change over a longer stretch do not mark one pause."""


def _silence(before: Word, after: Word, speech: Sequence[bool] | None) -> tuple[float, float]:
    """The longest pause between two words, as ``_pause`` measures it, and its middle (seconds;
    of equal runs without speech, the first)."""
    if speech is None:
        return after.start - before.end, (before.end + after.start) / 2
    first = max(0, int(before.start * 100))
    heard = np.asarray(speech[first: max(0, int((after.end + PAUSE_REACH_S) * 100)) + 1], dtype=bool)
    a, b = max(runs_of(~heard), key=lambda run: (run[1] - run[0], -run[0]), default=(0, 0))
    return (b - a) / 100, (first + (a + b) / 2) / 100


BY_NAME = ("my name is", *(p for p in NAMED_OPENS if "through to" not in p))
"""What a person who answers says and a recorded welcome does not (``_by_name``): ``NAMED_OPENS``
but "you're through to", which both say, and "my name is"."""


def _by_name(text: str) -> bool:
    """A person answering by name: "Sam speaking", "my name is", "you're speaking with", "how can
    I help" (``BY_NAME``)."""
    return bool(NAME_SPEAKING.search(canonical(text))) or any(find_phrase(p, text) for p in BY_NAME)


def welcome_by_voice(words: Sequence[Word], first_end_s: float, next_start_s: float,
                     speech: Sequence[bool] | None = None) -> tuple[tuple[float, float] | None, str]:
    """The phone system's welcome found by the voices where its words and the person's opening are
    too garbled to find it (``phone_system_opening``): a voice that opens the recording, speaks
    before anyone else and is never answered (``transfers.Handover.answered``), ending at
    ``first_end_s``, before another voice begins at ``next_start_s``. The welcome ends in the
    middle of the longest pause (``_pause``: by the sound where ``speech`` is given) between two
    words that reaches within ``VOICE_REACH_S`` of that change, at least ``GAP_S`` (the line
    connecting to a person): a word run on into the pause stays on its side. It starts within
    ``OPENING_S``, lasts at most ``WELCOME_MAX_S``, has ``MIN_WELCOME_WORDS`` or more and asks
    nothing and says no name (``_by_name``), so that a staff member's own greeting and disclosure
    are not taken for it ("Good morning, Harbour Mutual, Sam speaking. This call is recorded.").
    "You're through to ..." and "this is ..." are allowed: recorded welcomes say them ("Hi there,
    you're through to Parcel Quick."). (None, "") otherwise."""
    low, high = min(first_end_s, next_start_s) - VOICE_REACH_S, max(first_end_s, next_start_s) + VOICE_REACH_S
    near = [i for i in range(1, len(words)) if words[i - 1].end <= high and words[i].start >= low]  # pauses that reach into it
    if not near:
        return None, ""
    quiet = {i: _silence(words[i - 1], words[i], speech) for i in near}
    cut = max(near, key=lambda i: (quiet[i][0], -i))  # of equal pauses, the first (the same silence: the same middle)
    gap, end = quiet[cut]
    before = [w for w in words if (w.start + w.end) / 2 < end]  # as ``speakers.set_aside`` gives words to the opening
    text = [_text(sentence) for sentence in _sentences(before)]
    if (gap < GAP_S or len(before) < MIN_WELCOME_WORDS or before[0].start > OPENING_S
            or before[-1].end - before[0].start > WELCOME_MAX_S
            or any(_asks(t) or _by_name(t) for t in text)):
        return None, ""
    return ((0.0, round(float(end), 3)),
            "the phone system's recorded welcome, by the voices: a voice that opens the call and that nobody answers, "
            "then a pause and another voice")


def opening_end(turns, utterances=()) -> float:
    """Where the phone system's opening ends in a recording's speaker ``turns`` (0.0 without
    one), or where a person first speaks (``utterances``) if that is earlier: the rules'
    first-seconds windows start there."""
    end = max((t.end for t in turns or [] if t.speaker == SYSTEM_SPEAKER and t.start <= MUSIC_FIRST_S), default=0.0)
    first = min((u.start for u in utterances if u.speaker not in PHONE_SYSTEM), default=end)
    return min(end, first)
