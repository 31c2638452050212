"""Who spoke when, and who is the staff member: the glue between transcription and analysis.

Stereo: one speaker per channel, roles from the channel map, checked for a swapped map. Mono and
dual-mono (face-to-face, many phone systems): diarization (``diarize``), words assigned to turns,
utterances re-cut at speaker changes, then roles from a staff voiceprint or content cues
(``roles``). Conversation dynamics (``dynamics``) come last, from the final utterances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .diarize import DiarizeOptions, SpeakerTurn, assign_speakers, diarize
from .records import DecodedAudio, RecordingMeta, Transcript, Utterance
from .roles import RoleResult, assign_roles, speaker_rows
from .transcribe import build_utterances
from .voiceprints import Voiceprint


@dataclass(frozen=True)
class SpeakerOptions:
    diarization: bool = True
    max_speakers: int = 6
    channel_map: tuple[str, ...] = ("staff", "customer")
    utterance_gap_s: float = 0.8

    @classmethod
    def from_settings(cls, settings) -> "SpeakerOptions":
        return cls(settings.diarization, settings.max_speakers, tuple(settings.channel_map), settings.utterance_gap_s)


@dataclass
class SpeakerResult:
    utterances: list[Utterance]
    roles: RoleResult
    turns: list[SpeakerTurn] | None
    rows: dict[str, list[dict[str, Any]]]
    """speaker_turns, role_assignment and dynamics rows."""


def attribute_speakers(
    audio: DecodedAudio,
    transcript: Transcript,
    meta: RecordingMeta,
    options: SpeakerOptions = SpeakerOptions(),
    voiceprints: dict[str, Voiceprint] | None = None,
) -> SpeakerResult:
    """Speakers and roles for every utterance, and the rows that describe them."""
    utterances = transcript.utterances
    turns = None
    if audio.channels == 2:
        stereo_map = dict(enumerate(options.channel_map))
        utterances, roles = assign_roles(utterances, samples=audio.samples, staff_id=meta.staff_id, voiceprints=voiceprints, stereo_map=stereo_map)
    else:
        samples = audio.samples[0]
        if options.diarization and utterances:
            limit = meta.n_speakers or None
            turns = diarize(samples, n_speakers=limit, options=DiarizeOptions(max_speakers=options.max_speakers))
            words = assign_speakers([w for u in utterances for w in u.words], turns)
            utterances = build_utterances(words, max_gap_s=options.utterance_gap_s, segment_stats=transcript.segment_stats)
        utterances, roles = assign_roles(utterances, samples=samples, staff_id=meta.staff_id, voiceprints=voiceprints)
    return SpeakerResult(utterances, roles, turns, speaker_rows(utterances, audio.info.duration_s, roles, turns))
