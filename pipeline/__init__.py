"""Parley: offline conversation analytics for contact centres.

Recordings dropped in an inbox become transcribed, speaker-attributed utterances in DuckDB.
"""

__version__ = "0.1.0"

from .errors import ConfigError, ParleyError, TerminalError, TransientError  # noqa: E402
from .records import DecodedAudio, Finding, RecordingMeta, Tag, Transcript, Utterance, Word  # noqa: E402

__all__ = [
    "__version__",
    "ConfigError",
    "DecodedAudio",
    "Finding",
    "ParleyError",
    "RecordingMeta",
    "Tag",
    "TerminalError",
    "Transcript",
    "TransientError",
    "Utterance",
    "Word",
]
