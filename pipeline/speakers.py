"""Who spoke when, and who is the staff member: the glue between transcription and analysis.

Stereo: one speaker per channel, roles from the channel map, checked for a swapped map (and a
colleague the call was transferred to told from the first staff member on the staff channel). Mono and
dual-mono (face-to-face, many phone systems): diarization (``diarize``), words assigned to turns,
utterances re-cut at speaker changes, then roles from a staff voiceprint or content cues
(``roles``). Conversation dynamics (``dynamics``) come last, from the final utterances.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from .hold import HOLD_SPEAKER, SAMPLE_RATE, hold_stretches, silenced, uncovered
from .recorded import (PAUSE_REACH_S, PHONE_SYSTEM, SYSTEM_SPEAKER, VOICE_CHANGE_S, VOICE_REACH_S, heard_until,
                       phone_system_opening, welcome_by_voice)
from .speaker_models import encoder_setting, on_a_telephone_line
from .diarize import FRAMES_PER_S, DiarizeOptions, Diarization, SpeakerCount, SpeakerTurn, assign_speakers, diarize_full, speech_frames
from .records import DOUBT_CONFIDENCE, SIDES, DecodedAudio, RecordingMeta, Transcript, Utterance
from .roles import (RoleOptions, RoleResult, assign_roles, call_shape, content_agreement, content_scores, cued_sentences,
                    give_spans, move_by_content, roles_from_content, speaker_rows, staff_script_on_customer, utterance_cues)
from .transcribe import build_utterances
from .transfers import VOICE_PURITY, Transfer, heard_by_voice, transfer_point, voice_handover
from .voiceprints import Voiceprint, on_the_line


@dataclass(frozen=True)
class SpeakerOptions:
    diarization: bool = True
    max_speakers: int = 6
    channel_map: tuple[str, ...] = ("staff", "customer")
    utterance_gap_s: float = 0.8
    speaker_model: str | None = None
    crosstalk: bool = True
    """Listen for two voices at once where Silero finds the speech (``DiarizeOptions.crosstalk_gap_s``)."""
    hold_music: bool = True
    """Find hold music (``hold.hold_stretches``; on each channel of a stereo recording) and leave it,
    and the recorded announcements over it, out of the two people's voices and roles."""
    recorded_cues: tuple[str, ...] = ()
    """What only the phone system's recorded voice says (``recorded.load_cues``): a recording's
    opening welcome with one, and the queue after it, are set aside as speaker ``SYSTEM``
    (``recorded.phone_system_opening``; where its words are too garbled, by the voices:
    ``recorded.welcome_by_voice``, for a mono call); () does not look."""
    transfers: bool = True
    """A mono phone call transferred to a colleague (``transfers.transfer_point``; or, where its
    roles are flagged, ``transfers.heard_by_voice``) is diarized as two calls with one customer
    (``transferred_roles``); a call whose roles are not flagged but whose voices hand over is
    flagged, its roles left as they are. A stereo call's staff channel is diarized as two voices
    to name a colleague there (``stereo_transfer``)."""

    @classmethod
    def from_settings(cls, settings) -> "SpeakerOptions":
        from .recorded import load_cues

        return cls(settings.diarization, settings.max_speakers, tuple(settings.channel_map), settings.utterance_gap_s,
                   settings.speaker_model, settings.crosstalk, settings.hold_music, load_cues(settings.recorded_messages),
                   settings.transfers)


@dataclass
class SpeakerResult:
    utterances: list[Utterance]
    roles: RoleResult
    turns: list[SpeakerTurn] | None
    rows: dict[str, list[dict[str, Any]]]
    """speaker_turns, role_assignment and dynamics rows."""
    crosstalk: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) seconds heard as two voices at once (``Diarization.crosstalk``)."""


def attribute_speakers(
    audio: DecodedAudio,
    transcript: Transcript,
    meta: RecordingMeta,
    options: SpeakerOptions = SpeakerOptions(),
    voiceprints: dict[str, Voiceprint] | None = None,
) -> SpeakerResult:
    """Speakers and roles for every utterance, and the rows that describe them. A telephone-band
    recording's voices are compared with the voiceprints' telephone-band prints
    (``voiceprints.on_the_line``)."""
    utterances = transcript.utterances
    turns = None
    voiceprints = on_the_line(voiceprints, on_a_telephone_line(audio.info.sample_rate))
    if audio.channels == 2:
        stereo_map = dict(enumerate(options.channel_map))
        # hold music on a channel (the phone system's, sent to the customer): its announcements' words are nobody's
        by_channel = [hold_stretches(channel) if may_hold(meta, options) else [] for channel in audio.samples]
        openings = [opening_of(utterances, channel, by_channel[channel], meta, options, audio) for channel in range(audio.channels)]
        by_channel = [[h for h in hs if not span or h[0] >= span[1]] for hs, (span, _) in zip(by_channel, openings)]  # the queue is the opening's
        utterances, held = set_aside(utterances, lambda channel: by_channel[channel], options.utterance_gap_s, transcript.segment_stats,
                                     lambda channel: openings[channel][0])
        utterances, roles = assign_roles(utterances, samples=audio.samples, staff_id=meta.staff_id, voiceprints=voiceprints, stereo_map=stereo_map)
        holds = sorted(h for hs in by_channel for h in hs)
        # transferred to a colleague (by the words, else by the voices): the staff channel holds two staff members
        if options.transfers and not meta.n_speakers and min_speakers(meta) == 1:
            utterances, roles = stereo_transfer(audio, utterances, roles, holds, stereo_map, options, transcript.segment_stats)
        if holds or any(span for span, _ in openings):
            utterances, turns = with_held(utterances, held, holds, roles,
                                          opened=[(span, why, channel) for channel, (span, why) in enumerate(openings) if span])
    else:
        return mono_speakers(audio, transcript, meta, options, voiceprints)
    return SpeakerResult(utterances, roles, turns, speaker_rows(utterances, audio.info.duration_s, roles, turns))


def mono_speakers(audio: DecodedAudio, transcript: Transcript, meta: RecordingMeta, options: SpeakerOptions,
                  voiceprints: dict[str, Voiceprint] | None, by_voice: tuple[tuple[float, float], str] | None = None) -> SpeakerResult:
    """``attribute_speakers`` for a mono recording. ``by_voice``: the phone system's opening and
    why, found by the voices (``recorded.welcome_by_voice``) where its words did not find it."""
    utterances = transcript.utterances
    samples = audio.samples[0]
    holds = hold_stretches(samples) if may_hold(meta, options) else []
    opening, why = by_voice or opening_of(utterances, 0, holds, meta, options, audio)
    holds = [h for h in holds if not opening or h[0] >= opening[1]]  # the queue's music is the opening's
    utterances, held = set_aside(utterances, lambda channel: holds, options.utterance_gap_s, transcript.segment_stats,
                                 lambda channel: opening)
    # the people's voices only: music, announcements and the phone system's welcome are neither
    samples = silenced(samples, sorted(holds + ([opening] if opening else [])))
    expected = expected_speakers(meta, audio)
    # with no count from the metadata or the audio: do the words read as one staff member and
    # one customer? (read once: the reason goes to the count's flag, taken_as to the roles')
    two_sided, taken_as = ("", "") if expected else two_people_by_words(meta, audio, utterances, options.utterance_gap_s)
    if taken_as:
        expected = 2
    may_transfer = options.transfers and options.diarization and expected == 2 and not meta.n_speakers and min_speakers(meta) == 1
    transfer = transfer_point(utterances, holds) if may_transfer else None
    if transfer is None:
        heard = utterances
        utterances, roles, diarization = diarized_roles(samples, utterances, meta, audio, options, voiceprints, expected,
                                                        two_sided, taken_as, transcript.segment_stats)
        # did the voices hand over where the words did not say so?
        handover = (voice_handover(diarization.voices, diarization.windows, FRAMES_PER_S)
                    if may_transfer and diarization is not None else None)
        transfer = heard_by_voice(heard, handover)
        # or is the first voice one that nobody answered: the phone system's welcome, its words too garbled to find it?
        welcome, sure = (None, ""), False
        if (transfer is None and diarization is not None and options.recorded_cues and opening is None and by_voice is None
                and expected == 2 and min_speakers(meta) == 1 and meta.direction != "outbound"):  # no phone system answers an outbound call
            alone = first_never_answered(utterances)  # the call's two speakers never take turns: sure
            change = ((handover.first_end_s, handover.both_start_s)
                      if handover is not None and handover.unanswered
                      and abs(handover.first_end_s - handover.both_start_s) <= VOICE_CHANGE_S else None)
            if alone or change:
                sure, (first_end, next_start) = bool(alone), alone or change
                # the sound as far as the pause is weighed, and a second more for the detector's context
                reach = max(first_end, next_start) + VOICE_REACH_S + PAUSE_REACH_S + 1.0
                welcome = welcome_by_voice(sorted((w for u in heard for w in u.words), key=lambda w: w.start), first_end, next_start,
                                           sound_until(audio, 0, reach))
        if welcome[0] is not None and (roles.flagged or sure):  # roles in doubt: the welcome set aside, the call diarized again
            return mono_speakers(audio, transcript, meta, options, voiceprints, by_voice=welcome)
        if welcome[0] is not None:  # roles sure by their own measures: left as they are, but to be checked
            roles.flagged = True
            roles.reason = "; ".join(r for r in (roles.reason, f"the voices may open with the phone system's welcome, to "
                                                               f"{welcome[0][1]:.1f} s ({welcome[1]}): roles left as they are") if r)
        one_side = one_sided_roles(utterances, transfer.at_s) if transfer is not None and not roles.flagged else ""
        if transfer is not None and (roles.flagged or one_side):  # roles in doubt: diarized as transferred
            utterances, roles, diarization = transferred_roles(samples, heard, transfer, meta, audio, options, voiceprints,
                                                               transcript.segment_stats)
            roles.flagged = True  # a guess from the voices alone: still one to check
            if one_side:
                roles.reason = "; ".join(r for r in (one_side, roles.reason) if r)
        elif transfer is not None:  # roles sure by their own measures: left as they are, but to be checked
            roles.flagged = True
            roles.reason = "; ".join(r for r in (roles.reason, f"the voices may hand over to a colleague at {transfer.at_s:.1f} s "
                                                               f"({transfer.reason}): roles left as two people's") if r)
    else:
        utterances, roles, diarization = transferred_roles(samples, utterances, transfer, meta, audio, options, voiceprints,
                                                           transcript.segment_stats)
    if by_voice is not None:
        roles.flagged = True  # the welcome a guess from the voices alone: still one to check
    if diarization is not None and expected == 2 and not taken_as and meta.direction != "outbound":
        flag_customer_first(roles, utterances)  # a phone call (by metadata or band) the staff member answered
    turns = diarization.turns if diarization is not None else None
    if holds or opening:
        utterances, turns = with_held(utterances, held, holds, roles, diarization.turns if diarization is not None else [],
                                      opened=[(opening, why, None)] if opening else [])
        if diarization is not None:
            diarization = replace(diarization, turns=turns)
    return SpeakerResult(utterances, roles, turns, speaker_rows(utterances, audio.info.duration_s, roles, turns, diarization),
                         diarization.crosstalk if diarization is not None else [])


def diarized_roles(samples: np.ndarray, utterances: list[Utterance], meta: RecordingMeta, audio: DecodedAudio,
                   options: SpeakerOptions, voiceprints, expected: int | None, two_sided: str, taken_as: str,
                   segment_stats: dict | None, given: int | None = None) -> tuple[list[Utterance], RoleResult, Diarization | None]:
    """A mono recording's (or part's: ``samples`` silenced elsewhere) speakers and roles: diarized,
    its turns chosen with the words, roles given, and the flags and doubts that go with them.
    ``given``: the count to diarize into, whatever the metadata says, with the phone call's
    encoder (CAM++ under ``auto``)."""
    diarization, chosen = None, ""
    if options.diarization and utterances:
        model = options.speaker_model if given is None or encoder_setting(options.speaker_model) != "auto" else "campplus"
        diarization = diarize_full(
            samples, n_speakers=given or meta.n_speakers or None, expected=expected, source_rate=audio.info.sample_rate,
            two_sided=bool(two_sided),
            options=DiarizeOptions(max_speakers=options.max_speakers, min_speakers=min_speakers(meta),
                                   encoder=model, **({} if options.crosstalk else {"crosstalk_gap_s": 0.0})),
        )
        diarization, utterances, chosen = choose_turns(diarization, utterances, options.utterance_gap_s, segment_stats)
    utterances, roles = assign_roles(
        utterances, samples=samples, staff_id=meta.staff_id, voiceprints=voiceprints, expected_speakers=expected
    )
    if (diarization is not None and roles.method in ("content", "voiceprint") and len(roles.staff_speakers) == 1
            and len({u.speaker for u in utterances}) == 2):
        utterances, diarization = recut_by_content(utterances, roles, diarization, options.utterance_gap_s, segment_stats)
    as_turned = utterances  # the turns' own cut across sentences, for ``flag_sentence_cuts``
    if diarization is not None:
        utterances, diarization = mend_roles(utterances, roles, diarization, options.utterance_gap_s, segment_stats)
    if taken_as:
        roles.reason = "; ".join(r for r in (taken_as, roles.reason) if r)
    if audio.info.layout.startswith("one-sided"):  # the channel map could not say who is who
        side = audio.info.layout.rsplit("-", 1)[1]
        roles.reason = (f"two channels, but speech on channel {side} only (silence or hiss on the other): both people's words are "
                        f"on one side, so the call was diarized rather than given roles by channel; {roles.reason}")
    if diarization is not None:
        # a grouping the words chose is flagged and explained by note_choice: not unsure voices again
        flag_count(roles, diarization, expected, unsure=not chosen, two_sided=two_sided)
        note_choice(roles, chosen)
    flag_script(roles, utterances)
    if diarization is not None:
        flag_sentence_cuts(roles, as_turned, options.utterance_gap_s)
        flag_alike_voices(roles, utterances, diarization)
        utterances = doubt_by_voice(utterances, roles, diarization)
    return utterances, roles, diarization


ONE_SIDED_S = 0.5
"""``one_sided_roles``: the customer role speaks less than this on one side of a handover the
voices heard ..."""
STAFF_SIDE_SHARE = 0.25
"""... or the staff role has less than this share of its speech on one side of it (as the
customer's voice must have a quarter of its windows on each side in ``voice_handover``)."""


def one_sided_roles(utterances: list[Utterance], at: float) -> str:
    """Why two people's roles that look sure contradict a handover the voices heard at ``at``
    (``heard_by_voice``), or "". The customer is on the line on both sides of a transfer, so a
    customer role that says less than ``ONE_SIDED_S`` on one side of it fell on a staff voice (the
    first staff member's, or the colleague's joined with the customer's); and the staff side talks
    on both sides of it too (the first staff member before it, the colleague after it), so a staff
    role with less than ``STAFF_SIDE_SHARE`` of its speech on one side is one staff voice alone,
    the other's words having gone to the customer's voice. In view (rounds 58-59, 8 kHz transfers
    whose voices handed over and whose roles were not flagged): six calls 35-63% right, three
    with no customer speech on one side and three whose staff role had 4%, 5% and 18% of its
    speech on one side; four 95-100% right, their customer role 1.1-5.0 s on its smaller side and
    their staff role 38-62% on each; one 62% right not caught (its staff role 32% before the
    point; bench/SPEAKERS.md, round 59)."""
    def spoken(role: str, after: bool) -> float:
        return sum(u.end - u.start for u in utterances if u.role == role and ((u.start + u.end) / 2 >= at) == after)

    customer = (spoken("customer", False), spoken("customer", True))
    staff = (spoken("staff", False), spoken("staff", True))
    if min(customer) < ONE_SIDED_S:
        said = f"the customer role speaks {customer[0]:.1f} s before it and {customer[1]:.1f} s after it"
    elif sum(staff) and min(staff) < STAFF_SIDE_SHARE * sum(staff):
        said = f"the staff role speaks {staff[0]:.1f} s before it and {staff[1]:.1f} s after it"
    else:
        return ""
    return (f"the voices hand over at {at:.1f} s, and {said}: both people's roles go on across a transfer, so the roles "
            f"were made again as transferred")


WARM_WITHIN_S = 40.0
"""``transferred_roles``: a warm transfer's first staff member speaks within this long after it ..."""
WARM_MIN_S = 5.0
"""... for at least this long (their voice of three, the customer's and the colleague's the others)."""
SAME_STAFF_VOICE = 0.3
"""``transferred_roles``: the staff voices before and after a transfer are one person's when the
cosine of their mean voices (the clustering encoder's windows, less the mean of every window of
the call: CAM++'s voices of one telephone call are all alike, 0.59-0.97 between different staff
voices) is at least this. Chosen on seed 61's 40 transferred 8 kHz calls (the two staff voices:
-0.89 to 0.67, two over 0.3) and on seed 55's 40 calls cut in two at their middle (one staff
member: -0.39 to 0.86, 30 of 39 over 0.3). Only the speaker's name depends on it: the roles come
from each part's own words."""


def spoken_after(spans: list, speaker: str, at: float) -> float:
    """Seconds that ``speaker``'s ``spans`` (utterances or words) hold within ``WARM_WITHIN_S``
    after ``at``: a first staff member this long there stayed on (a warm transfer, ``WARM_MIN_S``)."""
    return sum(min(x.end, at + WARM_WITHIN_S) - max(x.start, at) for x in spans
               if x.speaker == speaker and x.end > at and x.start < at + WARM_WITHIN_S)


def transferred_roles(samples: np.ndarray, utterances: list[Utterance], transfer: Transfer, meta: RecordingMeta,
                      audio: DecodedAudio, options: SpeakerOptions, voiceprints, segment_stats: dict | None,
                      ) -> tuple[list[Utterance], RoleResult, Diarization]:
    """A call transferred to a colleague at ``transfer.at_s``, as two two-person calls with one
    customer (``diarized_roles`` each):

    - before the transfer: that part alone (the rest silenced);
    - after it: that part with the customer's own speech from before it (the first staff
      member's turns silenced), so that the customer's voice is known from the whole call, not
      only from what they say after the transfer (often a few words: the colleague does most of
      the talking). The speaker who holds most of that earlier speech is the customer, under the
      first part's name; the other is the colleague, a new speaker with the staff role, or the
      first staff member's name where the voices are alike (``SAME_STAFF_VOICE``: nobody new
      took over).

    A warm transfer, where the first staff member stays on to introduce the customer to the
    colleague and then leaves, holds three voices after it, which two cannot: the part after it
    is first diarized as three voices with both people's earlier speech, and that run is kept
    where the voice holding most of the first staff member's earlier speech speaks at least
    ``WARM_MIN_S`` within ``WARM_WITHIN_S`` after the transfer (the first staff member keeps
    their name, the colleague is new); otherwise the two-voice run above.

    The roles after the transfer follow from the customer carried over (the second run's own
    content cues count the customer's earlier speech: "spoke first" goes to them); where there is
    no one customer to carry over, or their earlier speech is not mostly one voice of the second
    run (flagged), the second run's roles stand. The roles' reason says where the transfer is and
    why, and gives both parts' reasons; the call is flagged when either part is."""
    at = transfer.at_s
    end = len(samples) / SAMPLE_RATE + 1.0
    before = [u for u in utterances if (u.start + u.end) / 2 < at]
    after = [u for u in utterances if (u.start + u.end) / 2 >= at]
    first, first_roles, first_d = diarized_roles(silenced(samples, [(at, end)]), before, meta, audio, options, voiceprints, 2, "",
                                                 "", segment_stats)
    staff_first = set(first_roles.staff_speakers)
    customer_first = sorted({u.speaker for u in first if u.role == "customer"})
    if first_d is None or not after or len(customer_first) != 1:  # no customer to follow: the second part on its own
        anchor: list[Utterance] = []
        quiet = [(0.0, at)]
    else:
        anchor = [u for u in first if u.speaker == customer_first[0]]
        quiet = [(t.start, min(t.end, at)) for t in first_d.turns if t.speaker in staff_first]
    joined = None
    stayed = 0.0
    if anchor and len(staff_first) == 1:
        # first as a warm transfer: both people's earlier speech with the part after it, three
        # voices; taken where the first staff member's voice stays on after the transfer
        # (introducing the customer to the colleague), which two voices cannot hold
        staff_anchor = [u for u in first if u.speaker in staff_first]
        joined3, roles3, d3 = diarized_roles(samples, anchor + staff_anchor + after, meta, audio, options, voiceprints, 2, "", "",
                                             segment_stats, given=3)
        held, staff_held = anchor_holders(first, customer_first, joined3, at)
        if d3 is not None and staff_held:
            customer3, staff3 = max(held, key=held.get, default=None), max(staff_held, key=staff_held.get)
            stayed = spoken_after(joined3, staff3, at) if staff3 != customer3 else 0.0
            if stayed >= WARM_MIN_S:
                joined, second_roles, second_d = joined3, roles3, d3
    three = joined is not None
    if joined is None:
        joined, second_roles, second_d = diarized_roles(silenced(samples, quiet), anchor + after, meta, audio, options, voiceprints,
                                                        2, "", "", segment_stats)
    if second_d is None or not first:
        return first + [u for u in joined if (u.start + u.end) / 2 >= at], first_roles if first else second_roles, first_d or second_d
    second = [u for u in joined if (u.start + u.end) / 2 >= at]
    names, doubt = names_after_transfer(first, first_roles, first_d, customer_first, joined, second_roles, second_d, at, three)
    customer = customer_first[0] if anchor and not doubt else None
    if customer is not None:
        # the customer's voice carried over decides the roles after the transfer: the second run's
        # own content cues count the customer's earlier speech ("spoke first" goes to them)
        carried = "the customer's voice carried over from before the transfer"
        second = [replace(u, role="customer" if names.get(u.speaker) == customer else "staff",
                          role_confidence=min(u.role_confidence if u.role_unsure and u.role_confidence is not None else 1.0,
                                              round(first_roles.confidence, 4))) for u in second]
        second_staff = sorted({names.get(u.speaker, u.speaker) for u in second} - {customer})
        method, after_reason = f"{first_roles.method}, then {carried}", f"{carried} (by content alone: {second_roles.reason})"
        confidence, flagged = first_roles.confidence, first_roles.flagged or second_roles.flagged
    else:
        second_staff = [names.get(x, x) for x in second_roles.staff_speakers]
        method = first_roles.method if first_roles.method == second_roles.method else f"{first_roles.method}, then {second_roles.method}"
        after_reason = second_roles.reason
        confidence, flagged = min(first_roles.confidence, second_roles.confidence), first_roles.flagged or second_roles.flagged
    second = [replace(u, speaker=names.get(u.speaker, u.speaker),
                      words=[replace(w, speaker=names.get(w.speaker, w.speaker)) for w in u.words]) for u in second]
    if three and customer is not None:
        # the second run's own roles (three voices, its content cues counting both people's
        # earlier speech) do not give the roles here: flag what the carried roles show too
        check = RoleResult("content", second_staff)
        flag_script(check, second)
        flag_sentence_cuts(check, second, options.utterance_gap_s)
        flagged = first_roles.flagged or check.flagged
        after_reason = "; ".join(r for r in (carried, check.reason) if r)
    against = carried_against_own(names, customer, second_roles) if customer is not None else ""
    if against:
        flagged, after_reason = True, f"{after_reason}; {against}"
    utterances = [replace(u, index=i) for i, u in enumerate(sorted(first + second, key=lambda u: (u.start, u.end)))]
    turns = [replace(t, start=max(t.start, at), speaker=names.get(t.speaker, t.speaker)) for t in second_d.turns if t.end > at]
    later = [i for i, (a, b) in enumerate(second_d.windows) if (a + b) / 2 / FRAMES_PER_S >= at]
    windows = list(first_d.windows) + [second_d.windows[i] for i in later]
    voices = (np.concatenate([first_d.voices, second_d.voices[later]])
              if first_d.voices is not None and second_d.voices is not None else None)
    if customer is not None and len(staff_first) == 1 and (three or transfer.by_voice) and voices is not None:
        # the first staff member stayed on (or the point is the colleague's first word): their words after it
        utterances, turns, moved = still_on_the_line(utterances, turns, replace(first_d, windows=windows, voices=voices), at,
                                                     next(iter(staff_first)), customer)
        after_reason = "; ".join(r for r in (after_reason, moved) if r)
    staff = list(dict.fromkeys(first_roles.staff_speakers + second_staff))
    speakers = sorted({u.speaker for u in utterances})
    roles = RoleResult(
        method, staff, first_roles.matched_staff_id or second_roles.matched_staff_id, first_roles.similarity,
        confidence, flagged or bool(doubt),
        "; ".join(r for r in (
            f"transferred to a colleague at {at:.1f} s ({transfer.reason}): " + (
                f"a warm transfer, the first staff member's voice staying on for {stayed:.0f} s after it: the part before it "
                f"diarized alone, the part after it with both people's earlier speech as three voices" if three else
                "the parts before and after it diarized as two calls with one customer"), doubt, f"before it: {first_roles.reason}",
            f"after it (with {'both people' if three else 'the customer'}'s earlier speech): {after_reason}") if r),
        n_speakers=len(speakers),
    )
    count = SpeakerCount(len(speakers), min(first_d.count.confidence, second_d.count.confidence),
                         f"transferred at {at:.0f} s; before: {first_d.count.reason}; after: {second_d.count.reason}")
    diarization = replace(first_d, turns=sorted(first_d.turns + turns, key=lambda t: (t.start, t.end)), count=count,
                          overlap_s=round(first_d.overlap_s + sum(b - a for a, b in second_d.crosstalk if a >= at), 2),
                          crosstalk=sorted(first_d.crosstalk + [c for c in second_d.crosstalk if c[0] >= at]),
                          overlap_note="; ".join(n for n in (first_d.overlap_note, second_d.overlap_note) if n),
                          alternatives=[], more=None, windows=windows, voices=voices)
    return utterances, roles, diarization


STAYED_MARGIN = 0.05
"""``still_on_the_line``: an utterance after a transfer given to the customer whose voice is at
least this much nearer (cosine) the first staff member's voice than the customer's, both from
before the transfer, is the first staff member's. Chosen on seed 65's transfers (8 kHz, in view):
utterances 0.05 or more nearer held 27.3 s of the first staff member's speech and none of the
customer's; 0.03 would have taken 5.0 s of the customer's (bench/SPEAKERS.md, round 59)."""


def still_on_the_line(utterances: list[Utterance], turns: list[SpeakerTurn], diarization: Diarization, at: float,
                      staff: str, customer: str) -> tuple[list[Utterance], list[SpeakerTurn], str]:
    """A transferred call's utterances and turns after the transfer (``transferred_roles``), where
    those given the customer's role within ``WARM_WITHIN_S`` after the transfer at ``at`` whose
    voice (``utterance_voices`` over ``diarization``'s windows, both runs') is ``STAYED_MARGIN``
    nearer the first staff member's voice (``staff``'s utterances before the transfer) than the
    customer's (``customer``'s) go to the first staff member, turns too (``roles.give_spans``):
    still on the line, introducing the customer to the colleague and saying goodbye, where the
    run after the transfer, two voices for three people, put them with the customer. Returns
    the utterances, the turns and a note ("" when none moved). The note holds times and counts
    only (a reason is stored unredacted)."""
    own = utterance_voices(utterances, diarization)
    before = [i for i, u in enumerate(utterances) if (u.start + u.end) / 2 < at]
    sums = speaker_voice_sums([utterances[i] for i in before], [own[i] for i in before])
    if staff not in sums or customer not in sums:
        return utterances, turns, ""
    a, c = (sums[x] / max(float(np.linalg.norm(sums[x])), 1e-9) for x in (staff, customer))
    out, spans = [], []
    for u, v in zip(utterances, own):
        middle = (u.start + u.end) / 2
        if (v is not None and u.role == "customer" and at <= middle < at + WARM_WITHIN_S
                and float(v @ a) - float(v @ c) >= STAYED_MARGIN):
            # its doubt and margin were weighed against the customer's voice: not this speaker's
            u = replace(u, speaker=staff, role="staff", role_unsure=False, voice_margin=None,
                        words=[replace(w, speaker=staff) for w in u.words])
            spans.append((max(u.start, at), u.end, staff))
        out.append(u)
    if not spans:
        return utterances, turns, ""
    seconds = sum(e - s for s, e, _ in spans)
    return out, give_spans(turns, spans), (
        f"{len(spans)} utterance(s) ({seconds:.1f} s) after the transfer, given to the customer, sound more like the first "
        f"staff member before it than the customer: the first staff member's, still on the line")


STEREO_PURITY = VOICE_PURITY
"""``stereo_transfer``: the staff channel's two voices are the first staff member and a
colleague when at least this share of the staff speech before the transfer is one voice's and
this share of the other voice's speech lies after it (0.84, as for a mono call's voices). With
no transfer heard in the words, the best point of the call must reach it: 48-79% on 20 stereo
8 kHz calls without a transfer (seed 75), 100% on 38 of 40 transferred ones (seeds 70 and 71;
the other two, a pair of voices CAM++ hears as alike at 8 kHz, 66% and 69%)."""
STEREO_MIN_S = 3.0
"""... and each of them says at least this much (seconds of words) on their own side of it."""


def _staff_voices_split(words: list, at: float) -> tuple[float, str | None, str | None, float, float]:
    """(purity, first staff voice, other voice, first's seconds before ``at``, other's after it) of
    the staff channel's ``words`` labelled by a two-voice diarization (``stereo_transfer``)."""
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    for w in words:
        into = before if (w.start + w.end) / 2 < at else after
        into[w.speaker] = into.get(w.speaker, 0.0) + (w.end - w.start)
    first = max(before, key=before.get, default=None)
    other = next((x for x in sorted(after, key=after.get, reverse=True) if x != first), None)
    if first is None or other is None:
        return 0.0, first, other, before.get(first, 0.0), 0.0
    purity = min(before[first] / sum(before.values()), after[other] / (after[other] + before.get(other, 0.0)))
    return purity, first, other, before[first], after[other]


def stereo_transfer(audio: DecodedAudio, utterances: list[Utterance], roles: RoleResult, holds: list[tuple[float, float]],
                    stereo_map: dict[int, str], options: SpeakerOptions, segment_stats: dict | None,
                    ) -> tuple[list[Utterance], RoleResult]:
    """A stereo call transferred to a colleague: both staff members speak on the staff channel, so
    the channel alone names them as one. The staff channel's speech (its words' spans only: no
    leak from the other side, no music) is diarized as two voices (CAM++ under ``auto``).

    - a transfer heard in the words (``transfers.transfer_point``: the staff channel's lines, and
      ``holds``, the call's hold stretches) at ``transfer.at_s``: the
      voice holding most of the staff speech before it is the first staff member, who keeps the
      channel's speaker name, and the other is the colleague, a new speaker (staff role), for the
      words after it; taken where the voices agree (``STEREO_PURITY``, ``STEREO_MIN_S``), else
      nobody new is named and the roles' reason says why. A warm transfer (the first staff member
      introduces the customer, then leaves) is one whose first voice speaks ``WARM_MIN_S`` within
      ``WARM_WITHIN_S`` after it.
    - none heard: the point where the voices split best (after each staff utterance, 20-90% of
      the staff side's span); where one voice holds the staff speech before it and the other the
      speech after it as surely, the colleague is named from their first word, and the roles are
      flagged (a colleague named by the voices alone is one to check).

    Roles stay the channel map's."""
    staff_channels = [ch for ch, role in stereo_map.items() if role == "staff"]
    if len(staff_channels) != 1 or roles.swapped_channels or not options.diarization:
        return utterances, roles
    ch = staff_channels[0]
    staff = [u for u in utterances if u.channel == ch and u.speaker not in PHONE_SYSTEM]
    transfer = transfer_point(utterances, holds, {ch})
    if transfer is None and sum(u.end - u.start for u in staff) < 4 * STEREO_MIN_S:
        return utterances, roles
    duration = audio.samples.shape[1] / SAMPLE_RATE
    quiet = uncovered([(max(0.0, u.start - 0.1), min(duration, u.end + 0.1)) for u in staff], duration + 1.0)
    model = options.speaker_model if encoder_setting(options.speaker_model) != "auto" else "campplus"
    found = diarize_full(silenced(audio.samples[ch], quiet), n_speakers=2, expected=2, source_rate=audio.info.sample_rate,
                         options=DiarizeOptions(max_speakers=2, encoder=model, crosstalk_gap_s=0.0))
    words = assign_speakers([replace(w) for u in staff for w in u.words], found.turns)
    if transfer is not None:
        at = transfer.at_s
        head = f"transferred to a colleague at {at:.1f} s ({transfer.reason})"
        purity, first, other, first_s, other_s = _staff_voices_split(words, at)
        why = ""
        if first is None or other is None:
            why = "the staff channel holds one voice after it"
        elif first_s < STEREO_MIN_S or other_s < STEREO_MIN_S:
            why = f"too little staff speech on one side of it to tell two voices apart ({first_s:.0f} s before, {other_s:.0f} s after)"
        elif purity < STEREO_PURITY:
            why = f"the staff channel's voices do not change there (they split {purity:.0%} either side of it at best)"
        if why:
            roles.reason = "; ".join(r for r in (f"{head}: {why}, so nobody new is named on the staff channel", roles.reason) if r)
            return utterances, roles
    else:
        span = (staff[0].start, staff[-1].end)
        points = [u.end + 0.01 for u in staff if span[0] + 0.2 * (span[1] - span[0]) <= u.end <= span[0] + 0.9 * (span[1] - span[0])]
        splits = [(_staff_voices_split(words, t), t) for t in points]
        splits = [(s, t) for s, t in splits if s[3] >= STEREO_MIN_S and s[4] >= STEREO_MIN_S]
        if not splits or max(s[0] for s, _ in splits) < STEREO_PURITY:
            return utterances, roles
        best = max(s[0] for s, _ in splits)
        (purity, first, other, _, _), t = [(s, t) for s, t in splits if s[0] >= best - 1e-9][-1]  # the latest as sure
        at = min(w.start for w in words if w.speaker == other and (w.start + w.end) / 2 >= t)
        head = (f"transferred to a colleague at {at:.1f} s (found by the voices alone, no transfer line heard: "
                f"the staff channel's voice hands over to another)")
        roles.flagged = True
    used = {u.speaker for u in utterances}
    colleague = next(f"S{i}" for i in range(1, 100) if f"S{i}" not in used)
    name = staff[0].speaker
    stayed = spoken_after(words, first, at) if transfer is not None else 0.0
    new_name = {(w.start, w.end, w.word): colleague if w.speaker == other and (w.start + w.end) / 2 >= at else name for w in words}
    relabelled = [replace(w, speaker=new_name.get((w.start, w.end, w.word), w.speaker)) if w.channel == ch else w
                  for u in utterances if u.speaker not in PHONE_SYSTEM for w in u.words]
    role_of = {u.channel: u.role for u in utterances if u.speaker not in PHONE_SYSTEM}
    confidence = {u.channel: u.role_confidence for u in utterances if u.speaker not in PHONE_SYSTEM}
    rebuilt = [replace(u, role=role_of.get(u.channel, "unknown"), role_confidence=confidence.get(u.channel))
               for u in build_utterances(relabelled, max_gap_s=options.utterance_gap_s, segment_stats=segment_stats)]
    held = [u for u in utterances if u.speaker in PHONE_SYSTEM]
    rebuilt = [replace(u, index=i) for i, u in enumerate(sorted(rebuilt + held, key=lambda u: (u.start, u.end)))]
    roles.staff_speakers = sorted(set(roles.staff_speakers) | {colleague})
    roles.n_speakers = len({u.speaker for u in rebuilt if u.speaker not in PHONE_SYSTEM})
    kind = (f"a warm transfer, the first staff member's voice staying on for {stayed:.0f} s after it: "
            if stayed >= WARM_MIN_S else "")
    roles.reason = "; ".join(r for r in (
        f"{head}: {kind}the staff channel's speech diarized as two voices, the colleague ({colleague}) told from "
        f"{name} by voice (the two split {purity:.0%} either side of it)", roles.reason) if r)
    return rebuilt, roles


def anchor_holders(first: list[Utterance], customer_first: list[str], joined: list[Utterance],
                   at: float) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds of the speech before ``at`` that each speaker of a run over the whole call
    (``joined``) holds: of the customer's (``customer_first``, the first part's customer speaker)
    and of the first staff member's (every other first-part speaker; nothing when
    ``customer_first`` is empty: all of it counts as the customer's)."""
    held: dict[str, float] = {}
    staff_held: dict[str, float] = {}
    for u in joined:
        middle = (u.start + u.end) / 2
        if middle < at:
            whose = next((v.speaker for v in first if v.start - 0.05 <= middle <= v.end + 0.05), None) if customer_first else None
            into = staff_held if whose is not None and whose not in customer_first else held
            into[u.speaker] = into.get(u.speaker, 0.0) + (u.end - u.start)
    return held, staff_held


def names_after_transfer(first: list[Utterance], first_roles: RoleResult, first_d: Diarization, customer_first: list[str],
                         joined: list[Utterance], second_roles: RoleResult, second_d: Diarization,
                         at: float, three: bool = False) -> tuple[dict[str, str], str]:
    """The second run's speaker names in the first part's terms (``transferred_roles``), and a
    doubt ("" when none). ``customer_first``: the first part's customer speaker(s). The customer
    is the speaker holding most of the customer's earlier speech in the second run (``joined``'s utterances before ``at``); with none given (the first
    part had no one customer), the one the second run's roles call customer. The other takes the
    first staff member's name where their voices are alike (``SAME_STAFF_VOICE``, the clustering
    encoder's mean voices less the call's mean), else a new name."""
    used = {u.speaker for u in first}
    held, staff_held = anchor_holders(first, customer_first if three else [], joined, at)
    doubt = ""
    later = sorted({u.speaker for u in joined if (u.start + u.end) / 2 >= at})
    if held:
        customer = max(held, key=held.get)
        share = held[customer] / sum(held.values())
        if share < 0.75:
            doubt = (f"the customer's speech before the transfer fell to more than one voice after it ({share:.0%} to one): "
                     f"the turns after the transfer may mix the customer and the colleague")
    else:
        customer = next((x for x in later if x not in second_roles.staff_speakers), None)
    every = [v for v in (first_d.voices, second_d.voices) if v is not None and len(v)]
    centre = np.concatenate(every).mean(axis=0) if every else None

    def mean_voice(utts: list[Utterance], d: Diarization, speaker: str) -> np.ndarray | None:
        if d.voices is None or not len(d.windows) or centre is None:
            return None
        middles = np.array([(a + b) / 2 for a, b in d.windows]) / FRAMES_PER_S
        inside = np.zeros(len(middles), dtype=bool)
        for u in utts:
            if u.speaker == speaker and (u.start + u.end) / 2 >= (at if d is second_d else 0.0):
                inside |= (middles >= u.start) & (middles <= u.end)
        if not inside.any():
            return None
        v = d.voices[inside].mean(axis=0) - centre
        return v / max(float(np.linalg.norm(v)), 1e-9)

    names: dict[str, str] = {}
    fresh = (f"S{i}" for i in range(1, 100) if f"S{i}" not in used)
    staff_first = first_roles.staff_speakers
    first_staff = max(staff_held, key=staff_held.get) if staff_held and len(first_roles.staff_speakers) == 1 else None
    for speaker in later:
        if speaker == customer and len(customer_first) == 1:
            names[speaker] = customer_first[0]
            continue
        if speaker == first_staff != customer:
            names[speaker] = first_roles.staff_speakers[0]
            continue
        if len(staff_first) == 1 and staff_first[0] not in names.values():
            mine, theirs = mean_voice(joined, second_d, speaker), mean_voice(first, first_d, staff_first[0])
            if mine is not None and theirs is not None and float(mine @ theirs) >= SAME_STAFF_VOICE:
                names[speaker] = staff_first[0]
                continue
        names[speaker] = next(fresh)
    return names, doubt


def carried_against_own(names: dict[str, str], customer: str, second_roles: RoleResult) -> str:
    """Why the roles after a transfer are in doubt where the voice carried over as the customer
    (the second run's speaker named ``customer`` by ``names``) is a staff voice by that run's own
    roles (its content cues, or a voiceprint), or "". The customer says little after a
    transfer; a voice of theirs that the colleague's script outweighs holds the colleague's
    words too (the run put the first staff member's introduction in the other voice). On round
    31-32's transfers made again (seeds 61, 62, 65) and round 56's (5621, 5622), 146 calls
    transferred: it fired on 4, all under 95% right, one of them not flagged before (72% right);
    bench/SPEAKERS.md, round 57."""
    mine = [x for x, name in names.items() if name == customer]
    if not any(x in second_roles.staff_speakers for x in mine):
        return ""
    return (f"the voice carried over as the customer's is staff by the part after the transfer's own "
            f"{'content cues' if second_roles.method == 'content' else second_roles.method}: the turns after the transfer "
            f"may mix the customer and the colleague")


def may_hold(meta: RecordingMeta, options: SpeakerOptions) -> bool:
    """Whether to look for hold music: ``SpeakerOptions.hold_music``, and not in a recording whose
    metadata says face-to-face (``min_speakers``): nobody is put on hold across a desk, and music
    playing in a branch or a shop would be taken for a hold, the talk between its stretches for
    announcements."""
    return options.hold_music and min_speakers(meta) == 1


def opening_of(utterances: list[Utterance], channel: int, holds: list[tuple[float, float]], meta: RecordingMeta,
               options: SpeakerOptions, audio: DecodedAudio | None = None) -> tuple[tuple[float, float] | None, str]:
    """The phone system's opening of one channel (``recorded.phone_system_opening``) and why;
    (None, "") where the cues are off or the metadata says face-to-face (no phone system there).
    With ``audio``, the pause before a person's opening is measured by the channel's sound
    (``diarize.speech_frames``, up to the person's opening: ``recorded.heard_until``), not by the
    words' times."""
    if not options.recorded_cues or min_speakers(meta) != 1:
        return None, ""
    words = sorted((w for u in utterances for w in u.words if w.channel == channel), key=lambda w: w.start)
    until = heard_until(words) if audio is not None else None
    speech = None
    if until is not None:  # the sound up to the person's opening, and half a second more for the detector's context
        speech = sound_until(audio, channel, until + 0.5)
    return phone_system_opening(words, holds, options.recorded_cues, speech)


def set_aside(utterances: list[Utterance], holds_of, max_gap_s: float,
              segment_stats: dict | None, opening_of=lambda channel: None) -> tuple[list[Utterance], list[Utterance]]:
    """The utterances cut again without the words whose middle lies in a hold of their channel
    (``holds_of(channel)``: its (start, end) seconds) or in its phone system's opening
    (``opening_of(channel)``: (start, end) or None), and those words' own utterances (speaker
    ``HOLD_SPEAKER`` or ``SYSTEM_SPEAKER``, role unknown); the utterances unchanged when no word
    lies in one."""
    def owner(w) -> str | None:
        middle = (w.start + w.end) / 2
        span = opening_of(w.channel)
        if span is not None and span[0] <= middle <= span[1]:
            return SYSTEM_SPEAKER
        return HOLD_SPEAKER if any(a <= middle <= b for a, b in holds_of(w.channel)) else None

    kept, held = [], []
    for w in (w for u in utterances for w in u.words):
        who = owner(w)
        (held if who else kept).append(replace(w, speaker=who) if who else w)
    if not held:
        return utterances, []
    people = build_utterances(kept, max_gap_s=max_gap_s, segment_stats=segment_stats)
    announced = build_utterances(held, max_gap_s=max_gap_s, segment_stats=segment_stats)
    return people, [replace(u, role="unknown", role_confidence=0.0) for u in announced]


def with_held(utterances: list[Utterance], held: list[Utterance], holds: list[tuple[float, float]], roles: RoleResult,
              turns: list[SpeakerTurn] = (), opened: list[tuple[tuple[float, float], str, int | None]] = ()) -> tuple[list[Utterance], list[SpeakerTurn]]:
    """``utterances`` and the held ones (``set_aside``), if any, in time order, numbered again, and
    ``turns`` with a ``HOLD_SPEAKER`` turn for each of ``holds`` and a ``SYSTEM_SPEAKER`` turn for
    each phone system's opening in ``opened`` ((start, end), why, its channel: None in mono); the roles' reason says where the
    holds and the opening are and how many words their recorded voices hold."""
    if held:
        utterances = [replace(u, index=i) for i, u in enumerate(sorted(utterances + held, key=lambda u: (u.start, u.end)))]
    notes = []
    for (a, b), why, channel in opened:
        words = sum(len(u.words) for u in held
                    if u.speaker == SYSTEM_SPEAKER and channel in (None, u.channel) and a <= u.start <= b)
        where = f" on channel {channel}" if channel is not None else ""
        notes.append(f"the phone system's opening{where} at {a:.0f}-{b:.0f} s ({why}): {words} words, the {SYSTEM_SPEAKER} speaker's, "
                     f"role unknown, left out of the voices and roles")
    if holds:
        where = ", ".join(f"{a:.0f}-{b:.0f} s" for a, b in holds)
        words = sum(len(u.words) for u in held if u.speaker == HOLD_SPEAKER)
        said = f"; {words} words of recorded announcements in it are the {HOLD_SPEAKER} speaker's, role unknown" if words else ""
        notes.append(f"hold music at {where} ({sum(b - a for a, b in holds):.0f} s), left out of the voices and roles{said}")
    roles.reason = "; ".join(r for r in (roles.reason, *notes) if r)
    return (utterances,
            sorted([*turns, *(SpeakerTurn(a, b, HOLD_SPEAKER) for a, b in holds),
                    *(SpeakerTurn(a, b, SYSTEM_SPEAKER) for a, b in dict.fromkeys(span for span, _, _ in opened))],
                   key=lambda t: (t.start, t.end)))


AGREEMENT_MARGIN = 0.1
"""Another grouping of a two-person call's speech replaces the spectral clustering's turns only
when the words agree with it by at least this much more (``roles.content_agreement``) ..."""
MIN_CUED_SENTENCES = 3
"""... and at least this many sentences carry a cue (fewer say too little to go on) ..."""
MIN_WORD_SHARE = 0.15
"""... and each of its two speakers says at least this share of the words (both sides talk in
a call; a grouping with nearly every word in one voice can agree with the staff cues by default)."""
ALIKE_RISE = 0.15
"""... and its two voices are no more than this more alike (``two_voices_alike``) than the
clustering's. Most of a long call's cued sentences are the staff member's opening and close, so a
grouping that mixes the two people through the middle can agree with the cues better than a
clustering that kept them apart: a held-out three-minute call (a woman and a man, voices 0.70
apart as clustered) went to 44% right that way, its chosen grouping's voices 0.91 alike. Of the
groupings the words would have taken in 150 development calls (rounds 53-54, mono 8 kHz, one and
three minutes), that one rose most (+0.21); the next, +0.07, was right where the clustering had
given one voice 8% of the words (0.72 -> 100% right), and every other rose by 0.03 or less
(bench/SPEAKERS.md, round 54). CAM++'s voices only (a call's): not measured on others."""
ONE_VOICE_AGREEMENT = 0.7
"""A two-person call whose voices sounded like one is split into two voices only by a grouping
the words agree with at least this well and whose voices lean one to each side (``both_sides``);
else each utterance gets the role its own words point to (``roles.split_by_content``). Of the
groupings the words chose over the window clustering in 13 sets of 40 mono calls, those agreeing
0.7 or more gave 81-99% of the speech time the right role, but for three calls (46-48%); a split
by content gave the two calls heard as one voice 62% and 65% (every word to the staff member:
their customers said no cue), two voices taken this way 78% and 93%."""


ROOM_WORDS_COUNT = 0.5
"""The count's confidence, at most, when the words group a room's three or more voices into two:
the words tell one staff member from the customer's side, not how many people are on it (three-
person conversations, a couple at the adviser's desk, were grouped into two as readily)."""


def choose_turns(
    diarization: Diarization, utterances: list[Utterance], max_gap_s: float, segment_stats: dict | None,
) -> tuple[Diarization, list[Utterance], str]:
    """The diarization's turns, or one of its alternatives (``Diarization.offered()``) when
    the call's words keep the staff member's and the customer's script cues apart clearly
    better there (``AGREEMENT_MARGIN``); the utterances cut at the chosen turns, and a note
    saying which was chosen and why ("" for the spectral clustering's). Turns of one voice (a
    two-person call heard as one) give way to two voices the words agree with at least
    ``ONE_VOICE_AGREEMENT`` and that lean one to each side (``both_sides``), and the count becomes
    two, with the words as its reason; so do the turns of three or more voices in a room whose
    words read as two people (a channel other than phone or face-to-face, whose count is
    estimated: ``diarize_full(two_sided=True)`` offers it groupings), where the
    other voice need only not lean staff (``both_sides(strict=False)``: a customer may say no cue
    phrase at all, and more than one voice was heard, so this is no monologue split in two). A
    room heard as two voices is offered groupings as a call is. On 16 kHz and 8 kHz two-person
    conversations read as ``channel: face-to-face`` (cached transcripts), roles right on: eight
    sets looked at while this was made (320 calls) 89.4-96.1% -> 95.0-98.2%, unflagged calls under
    80% right 8 -> 2; held out, seed 28 (16 kHz) 91.4% -> 97.4%, seed 29 (8 kHz) 92.6% -> 96.6%,
    none under 80% unflagged either way."""
    words = [w for u in utterances for w in u.words]

    def cut(turns: list[SpeakerTurn]) -> list[Utterance]:
        return build_utterances(assign_speakers(words, turns), max_gap_s=max_gap_s, segment_stats=segment_stats)

    spectral = cut(diarization.turns)
    if not diarization.alternatives and diarization.more is None:
        return diarization, spectral, ""
    # a two-person call heard as one voice, or a room whose words read as two people heard as
    # three or more (diarize_full offers them groupings into two): the count changes if one is taken
    recount = diarization.count.n != 2
    if recount:  # a grouping must agree this well, and by the margin over the one before
        first = ONE_VOICE_AGREEMENT - AGREEMENT_MARGIN
        if len(cued_sentences(words, max_gap_s)) < MIN_CUED_SENTENCES:  # too few cues to judge a grouping: none is made
            return diarization, spectral, ""
    else:
        first, cued = content_agreement(spectral, max_gap_s)
        if cued < MIN_CUED_SENTENCES or first + AGREEMENT_MARGIN > 1.0:
            # the cued sentences are the call's words, whatever the turns: too few for any grouping,
            # or the turns already agree so well that none can agree clearly better; none is made
            return diarization, spectral, ""
    best = first
    # (CAM++'s voices, on which ALIKE_RISE was measured; resemblyzer's and a room's joined voices lie on other scales)
    heard = None if recount or diarization.encoder != "campplus" else two_voices_alike(spectral, diarization)
    chosen, how = diarization.turns, ""
    for what, turns in diarization.offered():
        candidate = cut(turns)
        agreement, cued = content_agreement(candidate, max_gap_s)
        if (agreement >= best + AGREEMENT_MARGIN and cued >= MIN_CUED_SENTENCES and word_shares(candidate) >= MIN_WORD_SHARE
                and (not recount or both_sides(candidate, strict=diarization.count.n == 1))
                and voices_allow(candidate, diarization, heard)):
            chosen, best, how = turns, agreement, what
    utterances = cut(chosen)  # assign_speakers sets the words' speakers: cut again at the chosen turns
    if not how:
        return diarization, utterances, ""
    if recount:
        heard = "one" if diarization.count.n == 1 else f"{diarization.count.n} people"
        note = (f"speaker turns from {how}: the voices sounded like {heard} ({diarization.count.reason}), and the script "
                f"cues agree with these two {best:.2f} (at least {ONE_VOICE_AGREEMENT:.2f} needed)")
        doubt = 1.0 - diarization.count.confidence  # the eigengap's doubt about the count it heard
        room = diarization.count.n > 2  # the words tell two sides, not how many people: a couple is one side
        count = SpeakerCount(2, round(min(doubt, ROOM_WORDS_COUNT) if room else doubt, 3),
                             f"{diarization.count.reason}; 2 by the words, which agree {best:.2f} with a grouping into "
                             f"two voices{' (two sides: there may be more people)' if room else ''}")
        return replace(diarization, turns=chosen, count=count), utterances, note
    note = (f"speaker turns from {how}: the script cues agree with them {best:.2f} against {first:.2f} for the "
            f"voices clustered window by window")
    return replace(diarization, turns=chosen), utterances, note


def voices_allow(utterances: list[Utterance], diarization: Diarization, heard: float | None) -> bool:
    """Whether a grouping's two voices are not much more alike (``two_voices_alike``) than the
    clustering's (``heard``), by at most ``ALIKE_RISE``; True where either has no two voices."""
    if heard is None:
        return True
    alike = two_voices_alike(utterances, diarization)
    return alike is None or alike <= heard + ALIKE_RISE


def both_sides(utterances: list[Utterance], strict: bool = True) -> bool:
    """Each of the two speakers leans its own way: one has more staff evidence than customer
    evidence (``roles.content_scores``), the other more customer evidence. One voice split in two
    (a staff member alone: a message, a monologue) keeps every cue on one side and can agree with
    the cues by default, so a call heard as one voice is split only where the customer's own
    words ("my date of birth is", "no, that's all") fall on the other voice. ``strict`` False:
    the other speaker need only not lean staff (no customer cue needed)."""
    scores = sorted(content_scores(utterances)[0].values())
    if len(scores) != 2 or scores[1] <= 0:
        return False
    return scores[0] < 0 if strict else scores[0] <= 0


def flag_script(roles: RoleResult, utterances: list[Utterance]) -> None:
    """Roles given to the speakers (by voiceprint or by content) where a speaker labelled customer
    speaks the staff script are flagged, and the reason says who and which cues
    (``roles.staff_script_on_customer``). Measured on cached transcripts: the same 16 kHz
    two-person calls labelled face-to-face (so diarized as rooms, count estimated; three sets of
    40): 8 more flagged, all under 90% of the speech time right, and the calls under 80% right
    left unflagged fell from 15 to 8; on 640 mono calls (16 sets) it flagged none."""
    if roles.method not in ("content", "voiceprint") or not roles.staff_speakers:
        return
    note = staff_script_on_customer(utterances, roles.staff_speakers)
    if note:
        roles.flagged = True
        roles.reason = "; ".join(r for r in (roles.reason, note) if r)


CUSTOMER_FIRST_S = 10.0
"""``flag_customer_first``: seconds of the customer role's speech before the staff role's first
utterance that get a two-person recording's roles flagged."""


def customer_first(utterances: list[Utterance]) -> tuple[float, float] | None:
    """(seconds of the customer role's speech before the staff role's first utterance, when that
    utterance starts), or None where no one has the staff role or the customer role speaks none."""
    first_staff = min((u.start for u in utterances if u.role == "staff"), default=None)
    if first_staff is None:
        return None
    said = sum(min(u.end, first_staff) - u.start for u in utterances if u.role == "customer" and u.start < first_staff)
    return (said, first_staff) if said > 0 else None


def flag_customer_first(roles: RoleResult, utterances: list[Utterance]) -> None:
    """A phone call that the staff member answered (``mono_speakers``: a phone call by its
    metadata or its telephone band, not outbound) whose customer role says ``CUSTOMER_FIRST_S``
    or more before the staff role's first word is flagged: the staff member answers (the phone
    system's welcome and the queue, where their words or sound found them, are set aside before
    this), so a customer who talks first at length is most often the staff member's opening put
    in the customer's voice (two people joined in one voice, the staff member's cues garbled) or
    the roles the wrong way round. Not for face-to-face recordings (a customer at a desk may
    well speak first; not measured) nor outbound calls (an answerphone's greeting). Round 58
    (bench/SPEAKERS.md), chosen on 180 synthesised 8 kHz calls (warm transfers, seeds 65,
    5622, 5721, 5722; plain, seeds 2 and 3): the customer role spoke before the staff role on
    4 of them (7.6-50 s), all under 95% right, and on none of the others; at 10 s it newly flags
    one (52% right, 38 s of the customer role first). Held out (round 58's four new sets, 80
    calls: warm, cold and no transfer): it fired on 2 (55% and 74% right), both flagged
    already, so it changed no held-out figure; the reason says why to whoever checks. A flag
    only: the roles stay as they are."""
    first = customer_first(utterances)
    if first is None or first[0] < CUSTOMER_FIRST_S:
        return
    said, at = first
    note = (f"the customer role speaks {said:.0f} s before the staff role's first word (at {at:.1f} s): the staff member's "
            f"opening may be in the customer's voice, or the roles the wrong way round")
    roles.flagged = True
    roles.reason = "; ".join(r for r in (roles.reason, note) if r)


SENTENCE_CUTS_PER_MINUTE = 10.0
"""A diarized recording whose speaker changes inside a sentence this often a minute or more ...
(``flag_sentence_cuts``)"""
MIN_SENTENCE_CUTS = 5
"""... and at least this many times in all, is flagged."""
SENTENCE_ENDS = (".", "?", "!", "\u2026", "\uff1f", "\uff01")
"""What ends a sentence at the end of a word (after any closing quote or bracket)."""


def ends_sentence(text: str) -> bool:
    """Whether a word ends a sentence: a full stop, question or exclamation mark (or an
    ellipsis), before any closing quote or bracket ('today?"')."""
    return text.strip().rstrip("\"')]}\u201d\u2019\u00bb").endswith(SENTENCE_ENDS)


def sentence_cuts(utterances: list[Utterance], max_gap_s: float = 0.8) -> tuple[int, float]:
    """How many times the speaker changes between two words inside a sentence (the first does
    not end one, and the pause between them is shorter than ``max_gap_s``, the pause that ends
    an utterance), and how many times a minute of the words' span."""
    words = sorted((w.start, w.end, w.word, u.speaker) for u in utterances for w in u.words if w.word.strip())
    cuts = sum(1 for a, b in zip(words, words[1:])
               if a[3] != b[3] and not ends_sentence(a[2]) and b[0] - a[1] < max_gap_s)
    minutes = (words[-1][1] - words[0][0]) / 60.0 if words else 0.0
    return cuts, (cuts / minutes if minutes > 0 else 0.0)


def flag_sentence_cuts(roles: RoleResult, utterances: list[Utterance], max_gap_s: float = 0.8) -> None:
    """Turns that cut across sentences again and again are flagged: people mostly hand over at
    the end of a sentence, so a speaker change inside one, many times a minute ("Lovely to speak
    | to you | today."), means the voices were told apart badly there and the roles of those words
    may be wrong even where the roles of the two voices are right. Chosen on round 16's two
    face-to-face sets (seeds 41 and 43, 8 kHz, cached transcripts): their three calls under 90%
    right and unflagged (77-85%: 11-20 cuts, 13-21 a minute) are flagged now, and no call 90% or
    more right is (8 a minute at most there). Held out, 160 recordings (face-to-face seeds 45, 46 at
    16 kHz, 47, three-person 48, phone 40): nothing newly flagged, either way. Chosen on espeak
    voices, which say no "yeah" or "mm-hm" over the other person: each such word inside someone's
    sentence is a cut too, so real calls with many may be flagged more. bench/SPEAKERS.md, round 17."""
    if roles.method not in ("content", "voiceprint"):  # a split by content is flagged, and says why, already
        return
    cuts, per_minute = sentence_cuts(utterances, max_gap_s)
    if cuts < MIN_SENTENCE_CUTS or per_minute < SENTENCE_CUTS_PER_MINUTE:
        return
    roles.flagged = True
    note = (f"the speaker changes inside a sentence {cuts} times ({per_minute:.1f} a minute): the turns may cut "
            f"across the two people's words")
    roles.reason = "; ".join(r for r in (roles.reason, note) if r)


MEND_MAX_S = 1.0
"""``mend_sentence_cuts``: a run of one voice's words this long (seconds, first word's start to last
word's end) or shorter ..."""
MEND_MAX_GAP_S = 0.3
"""... that starts less than this after the other voice's word, inside that word's sentence ..."""
MEND_HELD = 3.0
"""... of which that voice said at least this many times the run's length before it (its words
since its last sentence end). Round 42, chosen on seed 92 through GSM with 5% of packets lost and
seed 96 (16 kHz face to face): 0 (no such need), 1, 2, 3 gave +0.60, +0.60, +0.46, +0.33 points on
the first and -0.13, -0.13, -0.12, +0.03 on the second (utterances' roles right)."""


def mend_sentence_cuts(
    utterances: list[Utterance], max_gap_s: float, segment_stats: dict | None,
    own_words: Callable[[str, str], bool] | None = None,
) -> tuple[list[Utterance], list[tuple[float, float, str]]]:
    """The utterances with the words that the turns gave to the other voice in the middle of
    someone's sentence given back to them, and the (start, end, speaker) of each run given back
    (for ``roles.give_spans``). A run of words of one voice, ``MEND_MAX_S`` long at most, is
    given to the voice before it when it starts inside that voice's sentence (the word before it
    ends no sentence and the pause is under ``MEND_MAX_GAP_S``), that voice said ``MEND_HELD``
    times as much of the sentence before it, and either that voice goes on with the sentence
    right after it or the run ends the sentence ("Just so you know, calls to Capital Gateway and
    come according for | training purposes."): people hand over between sentences, and a voice's
    turns seldom cut one by a second or less where both people's words run on with no pause.
    ``own_words(text, speaker)``: a run whose own words say they are its voice's (a script cue of
    that side, as ``recut_by_content`` moved it) stays. The shortest run is given back first (the
    earliest of equal ones), then its neighbours are looked at again. The utterances come back
    cut again, with no roles (``mend_roles`` gives them). A customer's "yes" said over the staff
    member's sentence goes to the staff member: it says little. Round 42 (README, "Codecs and lost
    packets"), held out: two sets of 40 calls through GSM with 5% of packets lost, speech time with
    the right role +0.27 and +0.24 points (13 and 9 calls up, 0 and 1 down); clean 8 kHz calls,
    16 kHz face to face and three people within 0.07 points either way."""
    words = sorted((w for u in utterances for w in u.words), key=lambda w: (w.start, w.end))
    runs: list[dict] = []  # each: its speaker and words, and its neighbours (a linked list)
    for w in words:
        if runs and w.speaker == runs[-1]["speaker"]:
            runs[-1]["words"].append(w)
        else:
            runs.append({"speaker": w.speaker, "words": [w], "alive": True})
    for k, run in enumerate(runs):
        run["at"], run["prev"], run["next"] = k, runs[k - 1] if k else None, runs[k + 1] if k + 1 < len(runs) else None

    def length_if_mended(run: dict) -> float | None:  # the run's length where it is to go back, else None
        before, after, mine = run["prev"], run["next"], run["words"]
        if before is None:
            return None
        length, last = mine[-1].end - mine[0].start, before["words"][-1]
        if length > MEND_MAX_S or ends_sentence(last.word) or mine[0].start - last.end >= MEND_MAX_GAP_S:
            return None
        held = False  # the voice said MEND_HELD times the run's length of this sentence before it
        for w in reversed(before["words"]):
            if ends_sentence(w.word):  # the sentence starts after this word
                break
            if last.end - w.start >= MEND_HELD * length:
                held = True
                break
        if not held:  # too little of the sentence to be surely theirs
            return None
        goes_on = (after is not None and after["speaker"] == before["speaker"] and not ends_sentence(mine[-1].word)
                   and after["words"][0].start - mine[-1].end < MEND_MAX_GAP_S)
        if not (goes_on or ends_sentence(mine[-1].word)):
            return None
        if own_words is not None and own_words(" ".join(w.word for w in mine), run["speaker"]):
            return None
        return length

    heap: list[tuple[float, float, int]] = []

    def consider(run: dict | None) -> None:
        if run is not None and run["alive"] and (length := length_if_mended(run)) is not None:
            heapq.heappush(heap, (length, run["words"][0].start, run["at"]))

    for run in runs:
        consider(run)
    given: list[tuple[float, float, str]] = []
    while heap:
        length, _, at = heapq.heappop(heap)
        run = runs[at]
        if not run["alive"] or length_if_mended(run) != length:  # merged or changed since: looked at again
            continue
        before, after = run["prev"], run["next"]
        given.append((run["words"][0].start, run["words"][-1].end, before["speaker"]))
        before["words"] += run["words"]
        run["alive"], before["next"] = False, after
        if after is not None:
            after["prev"] = before
            if after["speaker"] == before["speaker"]:  # the sentence goes on: one run again
                before["words"] += after["words"]
                after["alive"], before["next"] = False, after["next"]
                if after["next"] is not None:
                    after["next"]["prev"] = before
        consider(before)
        consider(before["next"])
    if not given:
        return utterances, []
    words = [w if w.speaker == run["speaker"] else replace(w, speaker=run["speaker"])
             for run in runs if run["alive"] for w in run["words"]]
    return build_utterances(words, max_gap_s=max_gap_s, segment_stats=segment_stats), given


def mend_roles(
    utterances: list[Utterance], roles: RoleResult, diarization: Diarization, max_gap_s: float, segment_stats: dict | None,
) -> tuple[list[Utterance], Diarization]:
    """``mend_sentence_cuts`` on utterances that have their roles, one role to each voice: the
    utterances cut again with their voice's role and its confidence, the turns given the runs
    (``roles.give_spans``), as ``recut_by_content`` gives its stretches, and the roles' reason
    says how much went back. A run whose own words carry a script cue of its voice's side stays.
    Unchanged where a voice holds two roles (split by content), where a voice would be left with
    no words, or where no run goes back."""
    role_of: dict[str, set] = {}
    for u in utterances:
        role_of.setdefault(u.speaker, set()).add((u.role, u.role_confidence))
    if any(len(r) != 1 for r in role_of.values()):
        return utterances, diarization
    sides = {speaker: next(iter(r)) for speaker, r in role_of.items()}

    def own_words(text: str, speaker: str) -> bool:
        lean = utterance_cues(text)[0]  # staff cues' weight less the customer's
        return lean > 0 if sides[speaker][0] == "staff" else lean < 0 if sides[speaker][0] == "customer" else False

    mended, given = mend_sentence_cuts(utterances, max_gap_s, segment_stats, own_words)
    if not given or {u.speaker for u in mended} != set(sides):
        return utterances, diarization
    mended = [replace(u, role=sides[u.speaker][0], role_confidence=sides[u.speaker][1]) for u in mended]
    seconds = sum(b - a for a, b, _ in given)
    roles.reason = "; ".join(r for r in (roles.reason, f"{len(given)} run(s) of words ({seconds:.1f} s) given back to the "
                                                        f"voice whose sentence they cut") if r)
    return mended, replace(diarization, turns=give_spans(diarization.turns, given))


def utterance_voices(utterances: list[Utterance], diarization: Diarization) -> list[np.ndarray | None]:
    """Each utterance's voice: the mean of the clustering's windows (``Diarization.windows``/
    ``voices``) whose middle lies inside it, else of the one that overlaps it most, at unit length;
    None where no window meets it (or the diarization kept no windows)."""
    voices = diarization.voices
    if voices is None or not len(diarization.windows):
        return [None] * len(utterances)
    starts, ends = (np.array(x, dtype=float) / FRAMES_PER_S for x in zip(*diarization.windows))
    middles = (starts + ends) / 2
    own: list[np.ndarray | None] = []
    for u in utterances:
        inside = (middles >= u.start) & (middles <= u.end)
        if not inside.any():
            overlap = np.minimum(ends, u.end) - np.maximum(starts, u.start)
            inside = (overlap >= overlap.max()) & (overlap > 0)
        if not inside.any():
            own.append(None)
            continue
        v = voices[inside].mean(axis=0)
        own.append(v / max(float(np.linalg.norm(v)), 1e-9))
    return own


def speaker_voice_sums(utterances: list[Utterance], own: list[np.ndarray | None]) -> dict[str, np.ndarray]:
    """Each speaker's utterance voices (``utterance_voices``) summed, weighted by length: the
    direction of the speaker's voice."""
    totals: dict[str, np.ndarray] = {}
    for u, v in zip(utterances, own):
        if v is not None:
            totals[u.speaker] = totals.get(u.speaker, 0.0) + v * (u.end - u.start)
    return totals


ALIKE_VOICES = 0.915
"""A two-person recording whose two speakers' CAM++ voices (``speaker_voice_sums``: each
utterance's windows, weighted by length) are this alike or more is flagged: the voices were
barely told apart, and their turns may mix the two people even where every cue agrees. It came
from a held-out call 69% right and not flagged (0.92; two female voices CAM++ hears 0.956 alike
at 8 kHz). Chosen with it in view, on 740 calls and conversations of rounds 42-47 (cached
transcripts, 8 and 16 kHz): of those flagged by nothing else, the three at 0.915 or more were
89%, 91% and 96% right, the ten at 0.90-0.915 92-99.6% (two under 95%). Held out (seeds
144-147, 160 calls and conversations not looked at before the choice): nothing newly flagged, the
nearest at 0.9145 (100% right).
A flag changes no role itself; as with any flag, a flagged call whose voices alone show a
handover to a colleague is then diarized as transferred (``transfers.heard_by_voice``).
bench/SPEAKERS.md, round 49."""


def flag_alike_voices(roles: RoleResult, utterances: list[Utterance], diarization: Diarization) -> None:
    """Flag a two-person recording whose two CAM++ voices are ``ALIKE_VOICES`` alike or more, and
    say so. Only CAM++'s voices (a call's, or a conversation diarized as one; a room's too where
    the ``speaker_model`` setting is campplus, not measured there): resemblyzer's, and a room's
    joined voices, lie on other scales."""
    if roles.method not in ("content", "voiceprint") or diarization.encoder != "campplus":
        return
    alike = two_voices_alike(utterances, diarization)
    if alike is None or alike < ALIKE_VOICES:
        return
    roles.flagged = True
    note = (f"the two voices are {alike:.3f} alike (flagged at {ALIKE_VOICES:.3f} or more): they were barely told apart, "
            f"and the turns may mix the two people")
    roles.reason = "; ".join(r for r in (roles.reason, note) if r)


def two_voices_alike(utterances: list[Utterance], diarization: Diarization) -> float | None:
    """How alike the two speakers' voices are (cosine of ``speaker_voice_sums``, each utterance's
    voice from the clustering's windows: ``utterance_voices``); None unless the utterances have
    exactly two speakers with a voice."""
    totals = speaker_voice_sums(utterances, utterance_voices(utterances, diarization))
    if len(totals) != 2:
        return None
    a, b = (v / max(float(np.linalg.norm(v)), 1e-9) for v in totals.values())
    return float(a @ b)


def voice_margins(utterances: list[Utterance], diarization: Diarization) -> list[tuple[float, str] | None]:
    """For each utterance, how much more its voice is like its own speaker's than like the
    nearest other speaker's, and who that other is: its voice is the mean of the clustering's
    windows (``Diarization.windows``/``voices``) whose middle lies inside it (else the one that
    overlaps it most); a speaker's voice is the mean of their other utterances' voices, weighted
    by length, so an utterance is not weighed against itself. Cosine own minus nearest other;
    None where no window meets the utterance or a speaker has no other utterance."""
    out: list[tuple[float, str] | None] = [None] * len(utterances)
    if diarization.voices is None or not len(diarization.windows) or len({u.speaker for u in utterances}) < 2:
        return out
    own = utterance_voices(utterances, diarization)
    totals = speaker_voice_sums(utterances, own)
    for i, (u, v) in enumerate(zip(utterances, own)):
        if v is None or u.speaker not in totals:
            continue
        alike: dict[str, float] = {}
        for speaker, total in totals.items():
            mean = total - v * (u.end - u.start) if speaker == u.speaker else total
            norm = float(np.linalg.norm(mean))
            if norm > 1e-6:
                alike[speaker] = float(v @ mean) / norm
        others = {k: a for k, a in alike.items() if k != u.speaker}
        if u.speaker in alike and others:
            nearest = max(others, key=others.get)
            out[i] = (round(alike[u.speaker] - others[nearest], 4), nearest)
    return out


def doubt_by_voice(utterances: list[Utterance], roles: RoleResult, diarization: Diarization) -> list[Utterance]:
    """Each utterance with its ``voice_margin``; one of staff or customer whose voice is more like
    that of a speaker with the other of the two roles (margin under 0) is ``role_unsure``, its
    role confidence lowered to ``DOUBT_CONFIDENCE`` at most, and the reason counts them. The call is not flagged for it: on
    the held-out calls the share of such speech did not tell calls with wrong roles from the
    others. Held out (five synthetic sets, 180 calls and conversations at 8 and 16 kHz, 3,089
    utterances): 141 such utterances (1.6% of the speech) held 50 of the 70 whose role was wrong;
    in the calls not flagged, 67 (0.6%) held 25 of 35 (bench/SPEAKERS.md, round 25). Short utterances are
    marked more often, rightly or not: their windows reach into the neighbours' speech. A split
    by content (one voice) has no voices to compare."""
    if roles.method == "content split":
        return utterances
    margins = voice_margins(utterances, diarization)
    held: dict[str, dict[str, float]] = {}  # each speaker's role: the one most of their speech has
    for u in utterances:
        mine = held.setdefault(u.speaker, {})
        mine[u.role] = mine.get(u.role, 0.0) + (u.end - u.start)
    role_of = {speaker: max(roles_held, key=roles_held.get) for speaker, roles_held in held.items()}
    out, doubted, seconds = [], 0, 0.0
    for u, m in zip(utterances, margins):
        if m is None:
            out.append(u)
            continue
        margin, nearest = m
        u = replace(u, voice_margin=margin)
        if margin < 0 and u.role in SIDES and role_of.get(nearest) in SIDES and role_of[nearest] != u.role:
            u = replace(u, role_unsure=True,
                        role_confidence=min(u.role_confidence if u.role_confidence is not None else 1.0, DOUBT_CONFIDENCE))
            doubted, seconds = doubted + 1, seconds + (u.end - u.start)
        out.append(u)
    if doubted:
        note = (f"{doubted} utterance(s) ({seconds:.1f} s) sound more like the other side's voice than their own "
                f"speaker's: role confidence {DOUBT_CONFIDENCE} at most")
        roles.reason = "; ".join(r for r in (roles.reason, note) if r)
    return out


def note_choice(roles: RoleResult, chosen: str) -> None:
    """Another grouping than the voices' own was used (``choose_turns``' note): the reason says
    so and the roles are flagged, since the voices alone did not settle who spoke when."""
    if chosen:
        roles.reason = "; ".join(r for r in (roles.reason, chosen) if r)
        roles.flagged = True


def word_shares(utterances: list[Utterance]) -> float:
    """The smaller speaker's share of the words (0 with one speaker)."""
    counts: dict = {}
    for u in utterances:
        counts[u.speaker] = counts.get(u.speaker, 0) + len(u.words)
    return min(counts.values()) / sum(counts.values()) if len(counts) > 1 and sum(counts.values()) else 0.0


def recut_by_content(
    utterances: list[Utterance], roles: RoleResult, diarization: Diarization, max_gap_s: float,
    segment_stats: dict | None,
) -> tuple[list[Utterance], Diarization]:
    """Two voices, one of them staff: where a sentence's own words say which side spoke it (the
    script's disclosure, "is there anything else I can help with?", "no, that's all") and
    diarization gave the words of that cue to the other voice (two voices alike, such as two
    women of similar pitch at 8 kHz), those words go to that side's speaker (``move_by_content``).
    The utterances are cut again, the turns follow, and the reason says how much moved. Nothing
    moves if it would leave a voice with no words, or (roles by content) make the other voice
    the staff member's."""
    staff = roles.staff_speakers[0]
    words, moved, seconds = move_by_content(utterances, staff, max_gap_s)
    if not moved or len({w.speaker for w in words}) < 2:
        return utterances, diarization
    recut = build_utterances(words, max_gap_s=max_gap_s, segment_stats=segment_stats)
    if roles.method == "content" and roles_from_content(recut, RoleOptions()).staff_speakers != [staff]:
        return utterances, diarization
    roles.reason += f"; {len(moved)} stretch(es) of words ({seconds:.1f} s) moved to the side their own script cue shows"
    recut = [replace(u, role="staff" if u.speaker == staff else "customer", role_confidence=round(roles.confidence, 4))
             for u in recut]
    return recut, replace(diarization, turns=give_spans(diarization.turns, moved))


def expected_speakers(meta: RecordingMeta, audio: DecodedAudio) -> int | None:
    """2 for a phone call by its metadata (``channel: phone``, ``PHONE_CHANNELS``) or, with no
    channel in the metadata, by its telephone-band audio or by a two-channel file with speech on
    one side only (``audio.one_sided``: a call recorder's); else None (the words may still make it
    two people: ``two_people_by_words``; else the voices say how many)."""
    channel = channel_of(meta)
    if channel in PHONE_CHANNELS or (not channel and (on_a_telephone_line(audio.info.sample_rate)
                                                      or audio.info.layout.startswith("one-sided"))):
        return 2
    return None


PHONE_CHANNELS = ("phone", "telephone", "phone call", "phone-call", "phone_call")
"""Metadata ``channel`` values (any case) that make a recording a phone call."""


def channel_of(meta: RecordingMeta) -> str:
    """The metadata's ``channel``, stripped and in lower case ("" when there is none)."""
    return (meta.channel or "").strip().lower()


def words_may_decide(meta: RecordingMeta, audio: DecodedAudio) -> bool:
    """A mono recording whose metadata names no channel and no count: its words may make it a call."""
    return not (channel_of(meta) or meta.n_speakers or audio.channels != 1)


def two_people_by_words(meta: RecordingMeta, audio: DecodedAudio, utterances: list[Utterance],
                        max_gap_s: float = 0.8) -> tuple[str, str]:
    """Whether a mono recording's words read as one staff member and one customer
    (``roles.call_shape``'s reason, "" if not), and, where that makes it two people, why ("" if
    it does not). Two kinds of recording are made two people by their words:

    - one whose metadata names no channel and no count (``words_may_decide``): the staff script and
      someone answering it make it a call. Without this, a 16 kHz two-person call with no sidecar
      was diarized as a room: one voice found in 10 of 40 held-out calls, roles right on 87.8% of
      the speech time against 98.7% as a call;
    - a face-to-face conversation with no count (``face_to_face_pair``), where the staff script
      alone is enough (``call_shape(answered=True)``: someone is across the desk).

    A mono recording with a count in its metadata, or of a channel other than phone or
    face-to-face, is not made two people by its words, but the reason still goes to
    ``flag_count``: three or more voices heard in words that read as two sides are flagged."""
    pair = face_to_face_pair(meta, audio)
    two_sided = call_shape([w for u in utterances for w in u.words], max_gap_s, answered=pair)
    if two_sided and words_may_decide(meta, audio):
        return two_sided, f"taken as a two-person call: no channel in its metadata, and its words have a call's shape ({two_sided})"
    if two_sided and pair:
        return two_sided, (f"taken as two people, as a call is (more only where the voices say so surely): a face-to-face "
                           f"conversation whose words read as one staff member and one customer ({two_sided})")
    return two_sided, ""


def face_to_face_pair(meta: RecordingMeta, audio: DecodedAudio) -> bool:
    """A mono face-to-face recording (``channel`` face-to-face, in-person or branch:
    ``min_speakers``) with no count in its metadata: its words may make it two people, diarized as
    a call is (``two_people_by_words``; at least two all the same). Where they read as one staff member and
    one customer (``roles.call_shape(answered=True)``: the staff script is enough, someone is across
    the desk), two unless the voices say otherwise with confidence ``DiarizeOptions.strong_count``,
    with CAM++, each voice's own sound and the groupings for the words to choose; before (round 12),
    the room path estimated the count with resemblyzer and offered the call's groupings afterwards.
    Roles on two-person conversations read as face-to-face, before -> after: bench/SPEAKERS.md, round 16."""
    return min_speakers(meta) == 2 and not meta.n_speakers and audio.channels == 1


def min_speakers(meta: RecordingMeta) -> int:
    """A face-to-face interaction has at least two people; otherwise one may be alone."""
    return 2 if (meta.channel or "").lower() in ("face-to-face", "face_to_face", "in-person", "branch") else 1


UNSURE_VOICES = 0.5
"""A two-person call whose count confidence is below this is flagged (``flag_count``): the
eigengap heard another count (one voice, mostly) more surely than not, but not surely enough
(``DiarizeOptions.strong_count``) to overrule the two expected, so the turns may mix the two
people even where the words leave no doubt who is staff. On 280 held-out mono calls: 13 more
flagged, among them all 4 unflagged calls with under 90% of the speech time right; on 280
development calls: 11 more, one of them under 90%."""


def count_doubt(count: SpeakerCount, expected: int | None, unsure: bool = True) -> str:
    """Why a person should check the speaker count, from the count alone ("" when nothing doubts
    it): fewer voices than the ``expected`` count; the expected count heard unsurely (confidence
    under ``UNSURE_VOICES``; ``unsure`` False: not that); or, with no count expected, a voice that
    may be two people (``SpeakerCount.maybe_more``), a telephone-band count that rests on voices
    joined by their sound (``SpeakerCount.joined``), or a count the metadata's minimum made
    (``SpeakerCount.forced``: on roomsq8's 30 held-out calls read as face-to-face, the 7 so made
    were the 7 worst, DER 0.22-0.53, the others at most 0.18). ``flag_count`` flags these and one more that
    needs the words; ``parley eval diarization`` counts them against the reference."""
    if expected and count.n < expected:
        return f"diarization found {count.n} speaker(s) where {expected} were expected ({count.reason})"
    if unsure and expected and count.n == expected and count.confidence < UNSURE_VOICES:
        return (f"the voices did not clearly sound like {expected} people (count confidence {count.confidence:.2f}: "
                f"{count.reason}); the turns may mix them")
    if not expected and count.maybe_more and count.n == 1:
        return (f"1 voice was heard, but it may be two people (count confidence {count.confidence:.2f}: "
                f"{count.reason}); every word is given to one speaker")
    if not expected and count.maybe_more:
        return (f"{count.n} voices were heard, but one of them may be two people (count confidence {count.confidence:.2f}: "
                f"{count.reason}); a third person's words would be given to one of the {count.n}")
    if not expected and count.joined:
        return (f"{count.n} voices were heard after voices that sounded alike were joined by their sound alone, which on "
                f"telephone-band audio often joins two people (count confidence {count.confidence:.2f}: {count.reason}); "
                f"two people may have been made one, or one person's voices left apart")
    if not expected and count.forced:
        return (f"the voices sounded like one person, and the speech least like the rest was taken as another, as the "
                f"metadata's minimum asks (count confidence {count.confidence:.2f}: {count.reason}); the turns may mix "
                f"the people")
    return ""


def flag_count(roles: RoleResult, diarization: Diarization, expected: int | None, unsure: bool = True,
               two_sided: str = "") -> None:
    """A two-sided call heard as one voice is never silent: flag it and say so; so is one whose
    voices sounded more like another count than the one expected (``UNSURE_VOICES``; ``unsure``
    False: not that); and a recording with no count expected (since round 16, a channel other
    than phone or face-to-face) whose words read as one staff
    member and one customer (``two_sided``: ``roles.call_shape``'s reason) where three or more
    voices were heard without strong evidence (count confidence under
    ``DiarizeOptions.strong_count``, the evidence a phone call needs to be other than two); and,
    with no count expected, two voices of which one may be two people (``SpeakerCount.maybe_more``,
    round 28), or a telephone-band count that rests on voices joined by their sound
    (``SpeakerCount.joined``, round 45).
    The last, on 16 kHz two-person conversations read as face-to-face (cached transcripts): seeds
    7, 12, 21 and 23 (160, looked at while it was made) 12 more flagged, 10 of them under 90% right,
    and calls under 80% right left unflagged 9 -> 4; seed 25 (40, held out) 5 more flagged, all
    under 90% right (56-77%), and none under 80% left unflagged (5 before)."""
    count = diarization.count
    note = count_doubt(count, expected, unsure)
    if not note and two_sided and not expected and count.more_than_two_unsurely(DiarizeOptions.strong_count):
        note = (f"its words read as one staff member and one customer ({two_sided}), but {count.n} voices were "
                f"heard, not surely (count confidence {count.confidence:.2f}: {count.reason}); the turns may split "
                f"or mix the two people")
    if not note:
        return
    roles.flagged = True
    roles.reason = "; ".join(r for r in (note, roles.reason) if r)


def first_never_answered(utterances: list[Utterance]) -> tuple[float, float] | None:
    """Where a mono call's two speakers never take turns: the first speaks only before the other
    begins, and never again, and the other holds the rest of the call (more speech than the first:
    a two-person call's diarization that gave the phone system's welcome one voice and both people
    the other; not a short call whose last "Bye." got a voice of its own). (End of the first
    speaker's last utterance, start of the other's first), or None."""
    people = sorted((u for u in utterances if u.speaker not in PHONE_SYSTEM), key=lambda u: u.start)
    if len({u.speaker for u in people}) != 2:
        return None
    first = people[0].speaker
    begins = min(u.start for u in people if u.speaker != first)
    if any(u.speaker == first and u.start >= begins for u in people):
        return None
    first_s = sum(u.end - u.start for u in people if u.speaker == first)
    if sum(u.end - u.start for u in people if u.speaker != first) <= first_s:
        return None
    return max(u.end for u in people if u.speaker == first), begins


def sound_until(audio: DecodedAudio, channel: int, until_s: float) -> np.ndarray:
    """Which 10 ms frames of a channel are speech by their sound (``diarize.speech_frames``), from
    its start to ``until_s``: the pauses of the phone system's opening are weighed by them."""
    return speech_frames(audio.samples[channel][: int(until_s * SAMPLE_RATE)], on_a_telephone_line(audio.info.sample_rate))
