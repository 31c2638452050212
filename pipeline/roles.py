"""Which speaker is staff and which is the customer, with how sure Parley is and why.

Order of evidence: (1) a voiceprint, the recording's staff member's if enrolled, else any
enrolled voice: every speaker whose voice matches is staff; (2) content cues: who greets with
the company script, who asks the security questions, who apologises on the company's behalf
(and who says customer things such as "I'm calling about my bill"). A role below
``RoleOptions.flag_below`` confidence is flagged for a person to check, and with no evidence
at all the roles stay ``unknown``. For stereo recordings the roles come from the channel map;
the same checks then only test the map and flag it when it looks swapped.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np

from .diarize import DiarizeOptions, Diarization, SpeakerTurn, embed_spans, speakers_at_once
from .speaker_models import encoder
from .dynamics import conversation_dynamics, seconds_apart
from .recorded import PHONE_SYSTEM
from .models import describe
from .records import Utterance, Word
from .voiceprints import Voiceprint, similarity

STAFF_CUES: dict[str, tuple[float, str]] = {
    "greeting": (
        2.0,
        r"\b(thank(s| you) for (calling|contacting|holding|waiting|your patience)|welcome to|you'?re through to"
        r"|you'?ve (reached|come through to)|how (can|may|could) i (help|assist)|what can i do for you"
        r"|is there anything else (i can|we can)|my name is \w+,? (and )?(i'?m|how))",
    ),
    "security": (
        2.0,
        r"\b((can|could|may) (you|i) (please )?(just )?(confirm|verify|have|take|get|give me) (your|the)"
        r" (full name|name|date of birth|post ?code|address|account|security|password|first line|last \w+ digits"
        r"|customer|reference|memorable)|for (security|verification|data protection) (purposes|reasons)"
        r"|(what'?s|what is) your (date of birth|post ?code|account number|full name))",
    ),
    "company apology": (
        2.0,
        r"\b((i|we)('m| am| are| do| really| truly)? (so |really |very |terribly |truly )?(sorry|apologi[sz]e)"
        r" (for|about) (the|any|this|that|all) (inconvenience|delay|wait|trouble|confusion|experience|error|mix)"
        r"|we apologi[sz]e|on behalf of (the company|us|the team|\w+ (bank|energy|telecom))|sorry to hear that"
        r"|sorry for keeping you)",
    ),
    "recording disclosure": (
        2.0,
        r"\b((call|calls|conversation)s?\b.{0,40}\b(is|are|being|may be|will be)\b.{0,20}\brecorded"
        r"|record(ing|ed)\b.{0,30}\b(training|quality|monitoring))",
    ),
    "further help": (
        2.0,
        r"\b((is|was) there anything else|(can|could) i help (you )?with anything else|anything else (i|we) can"
        r"|thank(s| you) for (calling|your call))",
    ),
    "empathy": (
        2.0,
        r"\bi (completely |totally |really |fully )?(understand|can (only )?imagine|appreciate) how (frustrating"
        r"|difficult|upsetting|stressful|annoying|worrying|hard|inconvenient|disappointing)"
        r"|\b(that|this) must (be|have been) (so |really |very |incredibly )?(frustrating|difficult|upsetting"
        r"|stressful|annoying|worrying|disappointing)",
    ),
    "account action": (
        1.0,
        r"\b(i'?ve (logged|raised|opened|updated|sent|passed|added|made a note)|your reference( number)? is"
        r"|let me (just )?(check|look|see|pull)|i can see (that|the|your)|i'?(ve)? found your (account|details|record"
        r"|booking|order)|(pass|passed|refer|referred|escalate|raise) (this|it|that) (on )?(to|with) (my|our|the)"
        r" (team|manager|supervisor|investigations?|complaints)|(our|the) (investigations?|complaints) team)",
    ),
}
"""Cue name -> (weight, pattern) for things staff say (the company script the rules also check)."""

CUSTOMER_CUES: dict[str, tuple[float, str]] = {
    "customer request": (
        1.5,
        r"\b(i'?m (calling|ringing|phoning) (about|because|to|regarding)|i (want|would like|need) to"
        r" (complain|cancel|make a complaint|speak to (a|the|your) manager)|my (bill|account|order|parcel|package"
        r"|booking|card|payment|refund) (is|was|has|hasn'?t|still|never))",
    ),
    "own details": (1.5, r"\b(my (date of birth|full name|name|postcode) is|born on the)\b"),
    "dissatisfaction": (
        1.5,
        r"\b(i'?m not happy|not good enough|(speak|talk) to (your|a|the) (manager|supervisor|team leader)"
        r"|want (this|it) escalated)",
    ),
    "nothing else": (
        2.0,
        r"(^|[.?!] )no,? (that'?s|that is) (all|everything|it)( for (now|today))?(,? thank(s| you))?[.!]?"
        r"($| (thanks|thank you|bye|goodbye|cheers))",
    ),
    "own account": (0.5, r"\bmy (account|card|bill|loan|mortgage|payment|money|bank|credit|order|refund|statement|rent)\b"),
}
"""Cue name -> (weight, pattern) for things customers say."""

FIRST_SPEAKER_WEIGHT = 0.5
"""Weak evidence: in most interactions staff speak first."""
QUESTIONS_WEIGHT = 0.5
"""Weak evidence: staff ask most of the questions (identity, needs, anything else)."""
SPLIT_CONFIDENCE = 0.3
"""Confidence of roles split by content inside one diarized voice (always flagged)."""
VOICE_DISAGREES_CONFIDENCE = 0.5
"""Confidence at most (and flagged) of roles the words decided because every speaker matched the
staff member's voiceprint, where the voice closest to it is another speaker's."""


@dataclass
class RoleOptions:
    """Thresholds for role assignment (tuned on LibriSpeech mixtures, see tests/test_roles.py)."""

    match_threshold: float = 0.80
    """Cosine similarity at which a speaker's voice matches a voiceprint."""
    flag_below: float = 0.7
    """Role assignments less confident than this are flagged."""


@dataclass
class RoleResult:
    """How the roles of one recording were decided."""

    method: str
    """voiceprint, content, channel or none."""
    staff_speakers: list[str] = field(default_factory=list)
    matched_staff_id: str | None = None
    similarity: float | None = None
    confidence: float = 0.0
    flagged: bool = False
    reason: str = ""
    swapped_channels: bool = False
    n_speakers: int = 0

    def row(self) -> dict:
        """The ``role_assignment`` row (without recording_id and run_id)."""
        return {
            "method": self.method,
            "staff_speakers": self.staff_speakers,
            "matched_staff_id": self.matched_staff_id,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "confidence": round(self.confidence, 4),
            "flagged": self.flagged,
            "reason": self.reason,
            "swapped_channels": self.swapped_channels,
            "n_speakers": self.n_speakers,
        }


# -- evidence -------------------------------------------------------------------------------------
def content_scores(utterances: list[Utterance], key: str = "speaker") -> tuple[dict, dict]:
    """Staff evidence per speaker (or channel, ``key="channel"``): weights of staff cues minus
    customer cues, plus a little for speaking first; and the cues found, for the reason."""
    scores: dict = {}
    found: dict = {}
    questions: dict = {}
    for u in sorted(utterances, key=lambda u: u.start):
        who = getattr(u, key)
        if not scores:
            scores[who] = FIRST_SPEAKER_WEIGHT
            found[who] = ["spoke first"]
        scores.setdefault(who, 0.0)
        found.setdefault(who, [])
        score, names = utterance_cues(u.text)
        scores[who] += score
        found[who] += names
        questions[who] = questions.get(who, 0) + u.text.rstrip().endswith("?")
    if len(questions) > 1:  # who asks: the one with clearly more questions leans staff
        asker = max(questions, key=questions.get)
        if questions[asker] >= 2 + max(v for k, v in questions.items() if k != asker):
            scores[asker] += QUESTIONS_WEIGHT
            found[asker].append("asks the questions")
    return scores, found


def utterance_cues(text: str) -> tuple[float, list[str]]:
    """Staff evidence of one utterance: staff cue weights minus customer cue weights, and the
    cues' names."""
    staff, customer = side_cues(text)
    return staff[0] - customer[0], staff[1] + customer[1]


def side_cues(text: str) -> tuple[tuple[float, list[str]], tuple[float, list[str]]]:
    """The staff cues and the customer cues of one text, each as (weight, names)."""
    text = text.lower().replace("’", "'")
    found = []
    for cues in (STAFF_CUES, CUSTOMER_CUES):
        names = [name for name, (_, pattern) in cues.items() if re.search(pattern, text)]
        found.append((sum(cues[name][0] for name in names), names))
    return found[0], found[1]


def confidence_of(margin: float) -> float:
    """Map an evidence margin (cue weights) to 0..1: one strong cue ~0.63, two ~0.86."""
    return 1.0 - math.exp(-max(margin, 0.0) / 2.0)


def voiceprint_match(
    voices: dict[str, np.ndarray], staff_id: str | None, voiceprints: dict[str, Voiceprint], threshold: float
) -> tuple[str | None, dict[str, float], str]:
    """The matching voiceprint's staff id and each speaker's similarity to it, or (None, best
    similarities, why). The recording's staff member is tried first, then every enrolled voice."""
    if not voiceprints:
        return None, {}, "no voiceprints enrolled"
    if not voices:
        return None, {}, "no audio, or too little speech, to compare with the voiceprints"
    dim = len(next(iter(voices.values())))
    voiceprints = {sid: vp for sid, vp in voiceprints.items() if len(vp.embedding) == dim}
    if not voiceprints:
        return None, {}, "the voiceprints were enrolled with another speaker model: enrol again"
    tries = ([[staff_id]] if staff_id in voiceprints else []) + [list(voiceprints)]
    for candidates in tries:
        best_id = max(candidates, key=lambda sid: max(similarity(v, voiceprints[sid].embedding) for v in voices.values()))
        sims = {spk: similarity(v, voiceprints[best_id].embedding) for spk, v in voices.items()}
        if max(sims.values()) >= threshold:
            return best_id, sims, ""
    best = f"best similarity {max(sims.values()):.2f} < {threshold:.2f}"
    if staff_id in voiceprints:
        others = "" if len(voiceprints) == 1 else ", nor did any other enrolled voice"
        return None, sims, f"staff {staff_id}'s voiceprint matched no speaker{others} ({best})"
    return None, sims, f"no enrolled voiceprint matched a speaker ({best})"


def voice_confidence(best: float, rest: list[float], threshold: float) -> float:
    """0..1 from how far the match clears the threshold and how far it beats the other voices."""
    clear = min(1.0, max(0.0, 0.5 + (best - threshold) / 0.2))
    ahead = min(1.0, max(0.0, (best - max(rest, default=0.0)) / 0.15))
    return clear * ahead


# -- assignment -----------------------------------------------------------------------------------
def assign_roles(
    utterances: list[Utterance],
    *,
    samples: np.ndarray | None = None,
    staff_id: str | None = None,
    voiceprints: dict[str, Voiceprint] | None = None,
    stereo_map: dict[int, str] | None = None,
    options: RoleOptions | None = None,
    expected_speakers: int | None = None,
) -> tuple[list[Utterance], RoleResult]:
    """Utterances with ``role`` and ``role_confidence`` set, and how that was decided.

    ``samples``: 16 kHz audio, 1-D for mono or channels x samples for stereo (needed for
    voiceprints). ``stereo_map``: channel -> role (e.g. ``{0: "staff", 1: "customer"}``) for
    stereo recordings, whose roles then come from the map and are only checked here.
    ``expected_speakers``: 2 for a two-sided call; if diarization found one speaker there, the
    utterances are split between staff and customer by what they say (flagged).
    """
    options = options or RoleOptions()
    voiceprints = voiceprints or {}
    if stereo_map is not None:
        result = check_channel_map(utterances, samples, staff_id, voiceprints, stereo_map, options)
        return _label(utterances, lambda u: stereo_map.get(u.channel, "unknown"), result.confidence), result
    mono = samples if samples is None or samples.ndim == 1 else samples[0]
    speakers = sorted({u.speaker for u in utterances})
    if expected_speakers == 2 and len(speakers) == 1 and len(utterances) > 1:
        return split_by_content(utterances, options)
    voices = {}
    if mono is not None and voiceprints:
        voices = voices_of(mono, {s: [(u.start, u.end) for u in utterances if u.speaker == s] for s in speakers},
                           print_model(voiceprints, staff_id))
    matched, sims, why_not = voiceprint_match(voices, staff_id, voiceprints, options.match_threshold)
    if matched is not None:
        # every speaker that matches is staff (diarization may split one voice in two) ...
        staff = [s for s in speakers if sims.get(s, 0.0) >= options.match_threshold]
        best = max(sims.values())
        reason = f"voice of {', '.join(staff)} matches staff {matched}'s voiceprint (similarity {best:.2f})"
        confidence = voice_confidence(best, [v for s, v in sims.items() if s not in staff], options.match_threshold)
        method, disagree = "voiceprint", False
        if len(staff) == len(speakers) > 1:  # ... but not everyone: the voiceprint cannot tell them apart
            closest = max(sims, key=sims.get)
            by_words = roles_from_content(utterances, options)
            if by_words.method == "content":  # the words decide, as with no voiceprint; flagged where the closest voice disagrees
                staff, method, confidence = by_words.staff_speakers, "content", by_words.confidence
                reason += f"; every speaker matched, so the words decide: {by_words.reason}"
                if closest not in staff:
                    confidence, disagree = min(confidence, VOICE_DISAGREES_CONFIDENCE), True
                    reason += f"; the voice closest to the voiceprint is {closest}'s: to check"
            else:  # no word tells them apart either: the closest, flagged
                staff, confidence = [closest], 0.0
                reason += f"; every speaker matched, so only the closest ({staff[0]}) is staff"
        if method == "voiceprint":  # (the words' own reason says it already where they decided)
            reason += too_unsure(confidence, options)
        result = RoleResult(
            method, staff, matched, best, confidence, disagree or confidence < options.flag_below, reason,
            n_speakers=len(speakers),
        )
    else:
        result = roles_from_content(utterances, options)
        result.reason = "; ".join(r for r in (why_not, result.reason) if r)
    staff_set = set(result.staff_speakers)
    if not staff_set:
        return _label(utterances, lambda u: "unknown", 0.0), result
    return _label(utterances, lambda u: "staff" if u.speaker in staff_set else "customer", result.confidence), result


def roles_from_content(utterances: list[Utterance], options: RoleOptions) -> RoleResult:
    """Staff = the speaker with the most staff evidence; confidence from the margin over the next."""
    scores, found = content_scores(utterances)
    ranked, margin = _rank(scores)
    evidence = "; ".join(f"{s}: {', '.join(found[s]) or 'no cues'}" for s in ranked) or "no speech"
    if margin <= 0:
        return RoleResult("none", flagged=True, reason=f"no content cue tells the roles apart ({evidence})",
                          n_speakers=len(scores))
    confidence = confidence_of(margin)
    return RoleResult(
        "content", [ranked[0]], confidence=confidence, flagged=confidence < options.flag_below,
        reason=f"{ranked[0]} is staff by content ({evidence}){too_unsure(confidence, options)}", n_speakers=len(scores),
    )


def too_unsure(confidence: float, options: RoleOptions) -> str:
    """What a reason adds when the roles are flagged for their confidence alone, so a reviewer
    sees why: empty at ``flag_below`` or over."""
    return f"; role confidence {confidence:.2f}, under {options.flag_below:g}: flagged for review" if confidence < options.flag_below else ""


def split_by_content(utterances: list[Utterance], options: RoleOptions) -> tuple[list[Utterance], RoleResult]:
    """Diarization heard one voice in a two-sided call: give each utterance the role its own
    words point to (staff or customer cues); utterances without cues take the role of the
    nearest utterance that has them. The two sides become speakers S1 and S2 (in order of first
    appearance). Always flagged: a person should check."""
    ordered = sorted(utterances, key=lambda u: u.start)
    scores = [utterance_cues(u.text)[0] for u in ordered]
    decided = [i for i, v in enumerate(scores) if v != 0]
    if not decided:
        result = RoleResult("none", flagged=True, n_speakers=1,
                            reason="one voice found in a two-sided call and no content cue to split it by")
        return _label(utterances, lambda u: "unknown", 0.0), result
    roles = []
    for i, u in enumerate(ordered):
        j = min(decided, key=lambda j: (abs(ordered[j].start - u.start), j))
        roles.append("staff" if scores[j] > 0 else "customer")
    names = {}
    for role in roles:
        names.setdefault(role, f"S{len(names) + 1}")
    out = [replace(u, speaker=names[r], role=r, role_confidence=SPLIT_CONFIDENCE) for u, r in zip(ordered, roles)]
    by_cue = len(decided)
    reason = (f"one voice found in a two-sided call: utterances split by content ({by_cue} of {len(ordered)} by their own"
              f" cues, the rest by the nearest one)")
    staff = [names["staff"]] if "staff" in names else []
    return out, RoleResult("content split", staff, confidence=SPLIT_CONFIDENCE, flagged=True, reason=reason,
                           n_speakers=len(names))


SENTENCE_CUE = 2.0
"""Weight of the strong cues (a line of the script, the customer's "no, that's all"): only
these move words from one voice to the other."""
WHOLE_SENTENCE_CUE = 4.0
"""A sentence that diarization gave wholly to the other voice moves only on this much (two
strong cues together, as in "is there anything else I can do for you?"): one alone may really be
the other person's ("is there anything else I need to do?")."""
SLIVER_S = 0.1
"""Pieces of a turn shorter than this, left where a moved stretch cut it, are dropped."""


def cue_spans(text: str, side: float, starts: list[int]) -> list[tuple[int, int]]:
    """Character spans of the strong cues (``SENTENCE_CUE``) of one side (``side`` > 0 staff,
    < 0 customer) in ``text`` that start at one of ``starts`` (the words' offsets), overlapping
    ones included ("this call is being recorded" and "recorded for training and monitoring" are
    both the disclosure)."""
    text = text.replace("’", "'")
    cues = STAFF_CUES if side > 0 else CUSTOMER_CUES
    spans = []
    for weight, pattern in cues.values():
        if weight >= SENTENCE_CUE:
            compiled = re.compile(pattern, re.IGNORECASE)
            spans += [m.span() for m in (compiled.match(text, i) for i in starts) if m]
    return spans


def sentences_of(words: list[Word], max_gap_s: float) -> list[list[Word]]:
    """Words in time order, cut after a sentence end (. ? !) or at a pause of ``max_gap_s``."""
    out: list[list[Word]] = []
    for word in sorted(words, key=lambda w: w.start):
        if not out or out[-1][-1].word.rstrip().endswith((".", "?", "!")) or word.start - out[-1][-1].end >= max_gap_s:
            out.append([])
        out[-1].append(word)
    return out


def move_by_content(
    utterances: list[Utterance], staff: str, max_gap_s: float = 0.8
) -> tuple[list[Word], list[tuple[float, float, str]], float]:
    """Words of a two-speaker diarized recording, where diarization gave a strong cue to the
    wrong voice. In a sentence whose own words reach ``SENTENCE_CUE`` ("this call is being
    recorded", "is there anything else I can help with?", "no, that's all"), a run of the other
    voice's words that a strong cue's words fall in goes to the cue's side, when the sentence
    also holds words of that side's voice (diarization cut it between the two) or the sentence
    reaches ``WHOLE_SENTENCE_CUE``; never a run whose own words point the other way. Only those
    runs: Whisper sometimes runs two people's sentences together, and the run before the cue may
    be the other person's. Returns the words (copies), the moved runs' (start, end, speaker) and
    their seconds."""
    other = next(iter({u.speaker for u in utterances} - {staff}))
    words = [replace(w, speaker=u.speaker) for u in utterances for w in u.words]
    moved = []
    for sentence in sentences_of(words, max_gap_s):
        text, offsets = "", []
        for w in sentence:
            offsets.append(len(text))
            text += w.word + " "
        text = text[:-1]
        score, _ = utterance_cues(text)
        if abs(score) < SENTENCE_CUE:
            continue
        target = staff if score > 0 else other
        if abs(score) < WHOLE_SENTENCE_CUE and all(w.speaker != target for w in sentence):
            continue
        spans = cue_spans(text, score, offsets)
        runs: list[list[int]] = []
        for i, w in enumerate(sentence):
            if not runs or sentence[runs[-1][-1]].speaker != w.speaker:
                runs.append([])
            runs[-1].append(i)
        for run in runs:
            first, last = offsets[run[0]], offsets[run[-1]] + len(sentence[run[-1]].word)
            if sentence[run[0]].speaker == target or not any(a < last and b > first for a, b in spans):
                continue
            if utterance_cues(" ".join(sentence[i].word for i in run))[0] * score < 0:
                continue
            for i in run:
                sentence[i].speaker = target
            moved.append((sentence[run[0]].start, sentence[run[-1]].end, target))
    return words, moved, sum(b - a for a, b, _ in moved)


def content_agreement(utterances: list[Utterance], max_gap_s: float = 0.8) -> tuple[float, int]:
    """How well two speakers' words keep the two sides' script cues apart, 0..1, and the number
    of sentences with a cue (``utterance_cues``): over those sentences, |sum of cue weight x
    (share of the sentence's words by the first speaker - share by the second)| / sum of |cue
    weight|. 1 when every staff cue is one speaker's and every customer cue the other's; lower
    as the cues fall on both. Weighted by the cues' own weights, so the staff script (more and
    stronger cues) counts most; a grouping that puts nearly every word in one voice can score
    well on it, which is why ``speakers.choose_turns`` also asks for both voices to talk. Tried
    instead: each side's share counted equally (|staff share + customer share - 1|): no better
    on any set (customer cues are few and weak, bench/SPEAKERS.md, "Round 4")."""
    words = [replace(w, speaker=u.speaker) for u in utterances for w in u.words]
    speakers = sorted({w.speaker for w in words}, key=str)
    if len(speakers) != 2:
        return 0.0, 0
    signed = total = 0.0
    cued = cued_sentences(words, max_gap_s)
    for sentence, score in cued:
        first = sum(w.speaker == speakers[0] for w in sentence) / len(sentence)
        signed += score * (2 * first - 1)
        total += abs(score)
    return (abs(signed) / total if total else 0.0), len(cued)


def cued_sentences(words: list[Word], max_gap_s: float = 0.8) -> list[tuple[list[Word], float]]:
    """The sentences (``sentences_of``) whose words carry a cue, each with its staff evidence
    (``utterance_cues``: > 0 staff, < 0 customer)."""
    out = []
    for sentence in sentences_of(words, max_gap_s):
        score, _ = utterance_cues(" ".join(w.word for w in sentence))
        if score != 0:
            out.append((sentence, score))
    return out


CALL_SHAPE_STAFF_SENTENCES = 2
"""A recording whose metadata names no channel is taken as a two-person call
(``speakers.two_people_by_words``) when at least this many of its sentences carry the staff
script's cues (``call_shape``), and someone is on the other side."""


def call_shape(words: list[Word], max_gap_s: float = 0.8, answered: bool = False) -> str:
    """Why a recording's words read as a two-sided service call, or "" when they do not: at least
    ``CALL_SHAPE_STAFF_SENTENCES`` sentences of the staff script (``STAFF_CUES``: greeting,
    recording disclosure, security, "anything else") and someone on the other side: a sentence of
    the customer's own (``CUSTOMER_CUES``) or a security question put to them (a security cue in a
    sentence that ends with a question mark: "for security, please have your account number
    ready" on an answerphone asks nobody). A staff member's message has the script but nobody
    answering; meetings and read speech have neither (none of ten AMI meeting clips, fifty
    LibriSpeech readings and pyannote's real two-person call carries one cue of either side); 92%
    of 560 synthesised mono calls have it. ``answered``: someone is known to be on the other side
    (a face-to-face recording has two people at least), so the staff script alone is enough: a
    customer who says no cue phrase still answers a staff member across a desk."""
    staff = customer = 0
    asked = False
    for sentence in sentences_of(words, max_gap_s):
        text = " ".join(w.word for w in sentence)
        score, names = utterance_cues(text)
        if score > 0:
            staff += 1
            asked = asked or ("security" in names and text.rstrip().endswith("?"))
        elif score < 0:
            customer += 1
    if staff < CALL_SHAPE_STAFF_SENTENCES or not (customer or asked or answered):
        return ""
    if not (customer or asked):
        return f"{staff} sentences of the staff script, said face to face"
    other = f"{customer} of the customer's own" if customer else "a security question put to the customer"
    return f"{staff} sentences of the staff script and {other}"


STAFF_SCRIPT_ON_CUSTOMER = 3.0
"""A speaker given the customer role whose own words carry at least this much of the staff
script's cue weight (``STAFF_CUES``: more than one strong cue), and more of it than of the
customer's, gets the roles flagged (``staff_script_on_customer``)."""


def staff_script_on_customer(utterances: list[Utterance], staff_speakers: list) -> str:
    """Why the roles of a mono recording are in doubt because a speaker given the customer role
    speaks the staff script (greeting, disclosure, security, "is there anything else"), or "".
    Where diarization cut one person in two or put two people in one voice (two same-pitch
    voices; a face-to-face conversation heard as three), the staff member's words then sit in
    turns labelled customer, though the words left no doubt who the staff member was. A second
    member of staff in the room reads the same way, and is worth a look too. One strong cue
    alone is not enough: customers say "my name is Ann, and I'm calling about..." (a greeting
    cue) or "thanks for calling me back"."""
    notes = []
    for speaker in sorted({u.speaker for u in utterances} - set(staff_speakers), key=str):
        staff_weight = customer_weight = 0.0
        names: list[str] = []
        for u in utterances:
            if u.speaker == speaker:
                (staff, said), (customer, _) = side_cues(u.text)
                staff_weight += staff
                customer_weight += customer
                names += said
        if staff_weight >= STAFF_SCRIPT_ON_CUSTOMER and staff_weight > customer_weight:
            notes.append(f"{speaker}, given the customer role, says the staff script ({', '.join(names)}: cue weight "
                         f"{staff_weight:g} against {customer_weight:g} for the customer's)")
    if not notes:
        return ""
    return "; ".join(notes) + ": the turns may mix the staff member's words with the customer's, or a second member of staff spoke"


def give_spans(turns: list[SpeakerTurn], spans: list[tuple[float, float, str]]) -> list[SpeakerTurn]:
    """Turns with each (start, end, speaker) span given to that speaker: the turns it overlaps
    are cut around it (pieces under ``SLIVER_S`` dropped), and a speaker's turns that now touch
    are joined."""
    out = list(turns)
    for start, end, speaker in spans:
        kept = [t for t in out if t.end <= start or t.start >= end]
        for t in out:
            if t.end > start and t.start < end:
                kept += [SpeakerTurn(a, b, t.speaker) for a, b in ((t.start, start), (end, t.end)) if b - a >= SLIVER_S]
        out = sorted(kept + [SpeakerTurn(start, end, speaker)], key=lambda t: (t.start, t.end))
    joined: list[SpeakerTurn] = []
    for t in out:
        last = next((j for j in reversed(joined) if j.speaker == t.speaker), None)
        if last is not None and t.start <= last.end + 1e-6 and not any(
            j.speaker != t.speaker and j.start < t.start and j.end > last.end for j in joined
        ):
            joined[joined.index(last)] = SpeakerTurn(last.start, max(last.end, t.end), t.speaker)
        else:
            joined.append(t)
    return joined


def check_channel_map(
    utterances: list[Utterance],
    samples: np.ndarray | None,
    staff_id: str | None,
    voiceprints: dict[str, Voiceprint],
    stereo_map: dict[int, str],
    options: RoleOptions,
) -> RoleResult:
    """Test a stereo channel map: the staff voiceprint, else the content cues, should point at
    the channel the map calls staff. Evidence for another channel flags the map as swapped;
    no evidence leaves the map unverified (confidence 0.5, not flagged: the map is configured)."""
    mapped = {ch for ch, role in stereo_map.items() if role == "staff"}
    channels = sorted({u.channel for u in utterances})
    base = dict(
        method="channel",
        staff_speakers=sorted({u.speaker for u in utterances if u.channel in mapped}),
        n_speakers=len(channels),
    )
    voices: dict = {}
    if samples is not None and samples.ndim == 2 and voiceprints:
        for ch in channels:
            voices |= voices_of(samples[ch], {ch: [(u.start, u.end) for u in utterances if u.channel == ch]},
                                print_model(voiceprints, staff_id))
    matched, sims, _ = voiceprint_match(voices, staff_id, voiceprints, options.match_threshold)
    if matched is not None:
        pointed = max(sims, key=sims.get)
        swapped = pointed not in mapped
        rest = [v for ch, v in sims.items() if ch != pointed]
        reason = f"channel {pointed} matches staff {matched}'s voiceprint (similarity {sims[pointed]:.2f})"
        return RoleResult(
            **base, matched_staff_id=matched, similarity=sims[pointed],
            confidence=0.0 if swapped else voice_confidence(sims[pointed], rest, options.match_threshold),
            flagged=swapped, reason=reason + ("; the channel map looks swapped" if swapped else ""),
            swapped_channels=swapped,
        )
    scores, found = content_scores(utterances, key="channel")
    ranked, margin = _rank(scores)
    evidence = "; ".join(f"channel {c}: {', '.join(found[c]) or 'no cues'}" for c in ranked) or "no speech"
    if margin <= 0:
        return RoleResult(**base, confidence=0.5, reason=f"roles from the channel map, unverified ({evidence})")
    pointed, strength = ranked[0], confidence_of(margin)
    swapped = pointed not in mapped and strength >= options.flag_below
    confidence = strength if pointed in mapped else 1.0 - strength
    reason = f"roles from the channel map; content says channel {pointed} is staff ({evidence})"
    return RoleResult(
        **base, confidence=confidence, flagged=swapped or confidence < 0.5,
        reason=reason + ("; the channel map looks swapped" if swapped else ""), swapped_channels=swapped,
    )


def _rank(scores: dict) -> tuple[list, float]:
    """Keys from most to least staff evidence, and the lead of the first over the second."""
    ranked = sorted(scores, key=lambda k: -scores[k])
    if not ranked:
        return [], 0.0
    return ranked, scores[ranked[0]] - (scores[ranked[1]] if len(ranked) > 1 else 0.0)


def print_model(voiceprints: dict[str, Voiceprint], staff_id: str | None) -> str:
    """The speaker encoder to compare voices with: the one the recording's staff member (else
    most voiceprints) was enrolled with; voiceprints made with another encoder cannot match."""
    if staff_id in voiceprints:
        return voiceprints[staff_id].model
    models = [vp.model for vp in voiceprints.values()]
    return max(set(models), key=models.count) if models else encoder().name


def voices_of(samples: np.ndarray, spans_by_speaker: dict, model: str | None = None) -> dict[object, np.ndarray]:
    """One voice embedding per speaker from the audio under their spans (speakers without
    enough speech are left out), by the speaker encoder ``model`` (default: Parley's)."""
    out = {}
    options = DiarizeOptions(encoder=model)
    for speaker, spans in spans_by_speaker.items():
        vector = embed_spans(samples, spans, options)
        if vector is not None:
            out[speaker] = vector
    return out


def _label(utterances: list[Utterance], role_of, confidence: float) -> list[Utterance]:
    """Copies of the utterances with role and role_confidence set."""
    return [replace(u, role=role_of(u), role_confidence=round(confidence, 4)) for u in utterances]


def speaker_rows(
    utterances: list[Utterance], duration_s: float, roles: RoleResult, turns: list[SpeakerTurn] | None = None,
    diarization: Diarization | None = None,
) -> dict[str, list[dict]]:
    """Rows for ``speaker_turns``, ``role_assignment`` and ``dynamics`` (the store adds
    recording_id and run_id). ``utterances`` must already carry their roles. The speaker model
    on the row is the one diarization ran (else the one voiceprints would be compared with).
    Where two voices were heard at once, the one the turns leave out gets turns of its own there
    in ``speaker_turns`` (``Diarization.heard_turns``), and both voices count in the dynamics'
    talk time and overtalk (``dynamics.with_heard``)."""
    heard: list[tuple[float, float, str, str]] = []
    if diarization is not None:
        turns = diarization.heard_turns()
        heard = [(a, b, name, role_near(utterances, name, a, b)) for a, b in diarization.crosstalk
                 for name in speakers_at_once(diarization.turns, a, b)]
        model = {"name": diarization.encoder, "version": diarization.encoder_version}
        count = {"speaker_count_confidence": diarization.count.confidence, "speaker_count_reason": diarization.count.reason,
                 "vad": diarization.vad, "overlap_s": diarization.overlap_s, "overlap_note": diarization.overlap_note or None}
    else:
        model, count = describe(encoder().name, kind="speaker"), {}
    return {
        "speaker_turns": [
            {"idx": i, "speaker": t.speaker, "start_s": round(t.start, 3), "end_s": round(t.end, 3)}
            for i, t in enumerate(turns or [])
        ],
        "role_assignment": [roles.row() | {"model": model["name"], "model_version": model["version"]} | count],
        "dynamics": conversation_dynamics(utterances, duration_s, heard,
                                          [(t.start, t.end) for t in turns or [] if t.speaker in PHONE_SYSTEM]),
    }


def role_near(utterances: list[Utterance], speaker: str, start: float, end: float) -> str:
    """The role of ``speaker``'s utterance nearest ``start``-``end`` ("unknown" if they have none)."""
    mine = [u for u in utterances if u.speaker == speaker]
    if not mine:
        return "unknown"
    return min(mine, key=lambda u: seconds_apart(start, end, u.start, u.end)).role
