"""Parley's settings: defaults, then ``[tool.parley]`` in pyproject.toml, then ``PARLEY_*`` env vars.

Command-line options override all three. Every field is described; ``parley settings`` prints them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, PyprojectTomlConfigSettingsSource, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
"""The Parley checkout: shipped configuration (taxonomies, rules, rubrics, samples) is found here
by default, whatever folder `parley` runs in. Data locations (db, inbox, ...) are relative to it."""

DEFAULT_FILENAME_PATTERN = (
    r"^(?P<started_at>\d{8}T\d{6})_(?P<staff_id>[A-Za-z0-9-]+)_(?P<team>[A-Za-z0-9-]+)"
    r"_(?P<site>[A-Za-z0-9-]+)_(?P<channel>[A-Za-z-]+)_(?P<direction>[A-Za-z-]+)"
)

# Fields that change what lands in the database; their hash is stored on every run.
_OUTPUT_FIELDS = (
    "whisper_model",
    "compute_type",
    "beam_size",
    "vad_filter",
    "language",
    "batch_size",
    "utterance_gap_s",
    "channel_map",
    "diarization",
    "max_speakers",
    "redaction",
    "keep_raw_text",
    "tagging",
    "encoder",
    "scoring",
    "complaint_taxonomy",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PARLEY_",
        pyproject_toml_table_header=("tool", "parley"),
        extra="ignore",
        validate_default=True,
    )

    # Where things live
    db: Path = Field(Path("data/parley.duckdb"), description="DuckDB database file.")
    inbox: Path = Field(Path("data/inbox"), description="Folder watched for new recordings.")
    archive: Path = Field(Path("data/archive"), description="Processed recordings are moved here, by date.")
    quarantine: Path = Field(Path("data/quarantine"), description="Bad recordings are moved here with NAME.error.txt.")
    samples: Path = Field(ROOT / "data" / "samples", description="Sample recordings that `parley process --seed-samples` copies into an empty inbox.")

    # Transcription
    whisper_model: str = Field("tiny.en", description="faster-whisper model: a bundled name (see `parley models`), a directory, or a hub name when online.")
    device: str = Field("cpu", description="cpu, cuda or auto.")
    compute_type: str = Field("int8", description="CTranslate2 compute type: int8, int8_float16, float16, float32.")
    beam_size: int = Field(1, ge=1, le=10, description="Beam size for decoding: 1 (greedy) is ~1.5x faster than 5 for ~2 points of WER.")
    cpu_threads: int = Field(0, ge=0, description="CPU threads per transcription worker; 0 = the cores shared out among the workers.")
    transcribe_workers: int = Field(
        0,
        ge=0,
        description="Recordings transcribed at once, each by its own model worker; 0 = one per core on CPU (at most 4), 2 on a GPU.",
    )
    vad_filter: bool = Field(True, description="Skip non-speech with the Silero VAD before transcribing.")
    language: str | None = Field("en", description="Spoken language code, or empty to detect.")
    batch_size: int = Field(16, ge=0, description="N > 0: faster-whisper BatchedInferencePipeline with N speech chunks per batch (fastest; used only with VAD on); 0: sequential decoding.")
    utterance_gap_s: float = Field(0.8, gt=0, description="A pause at least this long between words starts a new utterance.")
    channel_map: list[str] = Field(
        ["staff", "customer"],
        description="Role of each channel of a stereo recording, left first (e.g. customer,staff when the staff member is on the right).",
    )

    # Analysis
    diarization: bool = Field(True, description="Tell speakers apart in mono and face-to-face recordings (stereo: one speaker per channel).")
    max_speakers: int = Field(6, ge=1, le=10, description="Most speakers diarization will find when metadata does not give n_speakers.")
    redaction: bool = Field(True, description="Find PII/PCI (cards, CVV, expiry, bank details, NI/SSN, email, phone, postcode, names) and store only redacted text.")
    keep_raw_text: bool = Field(False, description="Also keep the unredacted text in the database (off: only [CARD], [NAME], ... placeholders are stored).")
    keep_original_audio: bool = Field(False, description="Keep the unredacted original beside the redacted archive copy (off: only the redacted copy is kept).")
    redaction_audio: str = Field("silence", pattern="^(silence|beep)$", description="How redacted spans sound in the archived audio: silence or beep.")
    redacted_copy: str = Field(
        "speech",
        pattern="^(speech|original)$",
        description="How the redacted archive copy is made: speech (from the 16 kHz audio Parley analysed, at the original's rate up to 16 kHz, channels kept: no second decode) or original (the file decoded again at its own sample rate).",
    )
    tagging: bool = Field(True, description="Tag utterances and interactions with touchpoint, sentiment and complaint topics.")
    encoder: str = Field("all-MiniLM-L6-v2", description="Sentence encoder for tagging and meaning-based rules: a bundled name, a directory, or a hub name when online.")
    taxonomies: Path = Field(ROOT / "data" / "taxonomies", description="Folder of taxonomy YAML files (touchpoints, journey stages, complaint topics).")
    complaint_taxonomy: str = Field(
        "general",
        description="Complaint topics: general (taxonomies/complaint_topics.yaml), financial_services (taxonomies/financial_services/: product groups and causes after the FCA complaints return and the CFPB's lists) or a folder with complaint_topics.yaml and optionally complaint_products.yaml.",
    )
    training: Path = Field(ROOT / "data" / "training", description="Folder of labelled CSV examples the classifier heads are trained on.")
    model_cache: Path = Field(ROOT / "models" / "cache", description="Where trained heads are cached by content hash.")
    rules: Path = Field(ROOT / "data" / "rules", description="Folder of compliance/quality rule YAML files.")
    rubrics: Path = Field(ROOT / "data" / "rubrics", description="Folder of scorecard rubric YAML files; every interaction is scored with each.")
    scoring: bool = Field(True, description="Evaluate rules and score every interaction with the rubrics.")

    # Ingest
    filename_pattern: str = Field(
        DEFAULT_FILENAME_PATTERN,
        description="Regular expression with named groups (staff_id, team, site, channel, direction, customer_ref, started_at) read from the file name when there is no sidecar.",
    )
    audio_extensions: list[str] = Field(
        [".wav", ".flac", ".mp3", ".ogg", ".opus", ".oga", ".m4a", ".mp4", ".aac", ".webm", ".wma", ".amr"],
        description="File extensions taken as recordings; anything else in the inbox is quarantined.",
    )
    stable_s: float = Field(2.0, ge=0, description="`parley watch` processes a file once its size and time have not changed for this long.")
    poll_interval_s: float = Field(2.0, gt=0, description="How often `parley watch` looks at the inbox.")
    max_duration_s: float = Field(6 * 3600, gt=0, description="Recordings longer than this are quarantined.")
    staging_dir: Path | None = Field(
        None,
        description="Workers write results as Parquet batches here instead of into the database; one `parley load-staging` (or the load-staging flow) merges them. For several workers or machines.",
    )
    task_runner: str = Field("threads", description="How the process-batch flow spreads files: threads, dask (a local cluster of `workers` processes) or dask://HOST:PORT (prefect-dask).")
    workers: int = Field(0, ge=0, description="Worker processes/threads for the task runner; 0 = one per core.")
    db_lock_timeout_s: float = Field(60.0, gt=0, description="How long to keep retrying when another process holds the database.")

    @field_validator("channel_map", "audio_extensions", mode="before")
    @classmethod
    def _split_csv(cls, value):
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("channel_map")
    @classmethod
    def _check_roles(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if v not in ("staff", "customer", "unknown")]
        if bad or not value:
            raise ValueError(f"channel_map roles must be staff, customer or unknown, got {value}")
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return value or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, PyprojectTomlConfigSettingsSource(settings_cls))

    def output_hash(self) -> str:
        """Hash of the settings that change results, stored on every run."""
        data = {k: getattr(self, k) for k in _OUTPUT_FIELDS}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def folders(self) -> dict[str, Path]:
        return {"inbox": self.inbox, "archive": self.archive, "quarantine": self.quarantine}
