"""Plain typed records handed between pipeline stages.

Stages never pass model objects to each other, only these dataclasses (and numpy audio
arrays inside one process). Every field has a unit in its name or its docstring.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np

Role = Literal["staff", "customer", "unknown"]
SIDES: tuple[Role, ...] = ("staff", "customer")
"""The two sides of a conversation a role can name (``unknown`` is neither)."""

METADATA_FIELDS = (
    "staff_id",
    "team",
    "site",
    "channel",
    "direction",
    "customer_ref",
    "started_at",
)
"""Metadata a recording may carry, from a sidecar ``NAME.json`` or the file name."""


@dataclass
class RecordingMeta:
    """Who/where/when of an interaction. Every field may be missing."""

    staff_id: str | None = None
    team: str | None = None
    site: str | None = None
    channel: str | None = None
    """phone, face-to-face, video, ..."""
    direction: str | None = None
    """inbound, outbound, in-person, ..."""
    customer_ref: str | None = None
    started_at: datetime | None = None
    n_speakers: int | None = None
    """Number of speakers when known (helps diarization); None = estimate."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Sidecar keys Parley does not know, kept as they came."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AudioInfo:
    """What probing and decoding a file found."""

    format: str
    codec: str
    sample_rate: int
    """Original sample rate in Hz (before resampling to 16 kHz)."""
    channels: int
    duration_s: float
    """Decoded duration in seconds."""
    layout: str = ""
    """mono, stereo, dual-mono (two identical channels, processed as mono) or one-sided-N (two
    channels, speech on channel N only: processed as mono, diarized)."""


@dataclass
class DecodedAudio:
    """Audio resampled to 16 kHz float32, one row per channel (shape: channels x samples)."""

    info: AudioInfo
    samples: np.ndarray
    sample_rate: int = 16000

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])


@dataclass
class Word:
    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None
    channel: int = 0
    segment: int = 0
    """Index of the Whisper segment the word came from (one pass covers all channels)."""


@dataclass
class Utterance:
    """One speaker's turn: consecutive words with no long pause and no speaker change."""

    index: int
    speaker: str
    role: Role
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    channel: int = 0
    role_confidence: float | None = None
    voice_margin: float | None = None
    """How much more the utterance's voice is like its own speaker's than like the nearest other
    speaker's (cosine, -2 to 2; ``speakers.voice_margins``); under 0 it sounds like another
    speaker. None where no voices were compared (stereo channels, one voice)."""
    role_unsure: bool = False
    """Its voice is nearer that of a speaker with the other role (staff against customer) than its
    own speaker's, so its role rests on the words and the turns around it; its role confidence is
    ``DOUBT_CONFIDENCE`` at most (``speakers.doubt_by_voice``)."""
    redacted_text: str | None = None
    """Text with PII replaced by typed placeholders; what gets stored when redaction is on."""



DOUBT_CONFIDENCE = 0.5
"""Role confidence, at most, of an utterance whose voice is more like that of a speaker with the
other role than its own speaker's (``speakers.doubt_by_voice``; the web app marks them)."""


@dataclass
class Tag:
    """A label on an utterance (``utterance_index`` set) or on the whole interaction (None)."""

    kind: str
    """sentiment, touchpoint, complaint_topic, journey_stage, complaint, nps_band, ..."""
    label: str
    score: float | None = None
    utterance_index: int | None = None
    role: str | None = None
    model: str | None = None
    model_version: str | None = None
    taxonomy_hash: str | None = None
    evidence: list[int] = field(default_factory=list)
    """Indexes of utterances that support an interaction-level tag."""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Finding:
    """Result of one compliance/quality rule on one interaction, with evidence."""

    rule: str
    passed: bool
    utterance_index: int | None = None
    start: float | None = None
    end: float | None = None
    matched: str | None = None
    score: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Transcript:
    """Everything the transcriber produced for one recording."""

    utterances: list[Utterance]
    language: str | None = None
    model: str | None = None
    model_version: str | None = None
    segment_stats: dict[int, tuple[float, float]] = field(default_factory=dict)
    """Whisper segment number -> (avg_logprob, no_speech_prob), to regroup words into utterances."""
    decoding: dict[str, int] = field(default_factory=dict)
    """What the decoder did: windows, redecoded (decoded again the careful way), dropped (text
    over no speech), loops_cut (loops left after both passes, cut back); stereo: echo_dropped
    (words that were the other side's voice leaking into a channel, ``transcribe.drop_echo``)."""
