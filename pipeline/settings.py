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
    "vocabulary",
    "utterance_gap_s",
    "channel_map",
    "diarization",
    "max_speakers",
    "speaker_model",
    "crosstalk",
    "hold_music",
    "recorded_messages",
    "transfers",
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
    whisper_model: str = Field("auto", description="faster-whisper model: a bundled name (see `parley models`: tiny.en, base), a directory, or a hub name when online; auto = tiny.en on CPU, base on a GPU (when installed).")
    device: str = Field("cpu", description="cpu, cuda or auto (a GPU when CTranslate2 sees one).")
    compute_type: str = Field("auto", description="CTranslate2 compute type: int8, int8_float16, float16, float32; auto = int8 on CPU, float16 on a GPU.")
    beam_size: int = Field(5, ge=1, le=10, description="Beam size for decoding (faster-whisper's default, 5); 1 (greedy) is faster and loses words (see the README's benchmark).")
    cpu_threads: int = Field(0, ge=0, description="CPU threads per transcription worker; 0 = the cores shared out among the workers.")
    transcribe_workers: int = Field(
        0,
        ge=0,
        description="Recordings transcribed at once, each by its own model worker; 0 = one per core on CPU (at most 4), 2 on a GPU.",
    )
    vad_filter: bool = Field(True, description="Skip non-speech with the Silero VAD before transcribing.")
    language: str | None = Field("en", description="Spoken language code, or empty to detect.")
    batch_size: int | None = Field(
        None, ge=0,
        description="Windows per batch in the fast first pass (pipeline/whisper.py; bad windows are decoded again the careful way); 0: every window the careful way (faster-whisper's transcribe); empty = 16 on CPU, 32 on a GPU.",
    )
    vocabulary: Path | None = Field(ROOT / "data" / "vocabulary.yaml", description="YAML list of the business's own words (company, product, place names): hotwords for Whisper, never redacted as names.")
    utterance_gap_s: float = Field(0.8, gt=0, description="A pause at least this long between words starts a new utterance.")
    channel_map: list[str] = Field(
        ["staff", "customer"],
        description="Role of each channel of a stereo recording, left first (e.g. customer,staff when the staff member is on the right).",
    )

    # Analysis
    diarization: bool = Field(True, description="Tell speakers apart in mono and face-to-face recordings (stereo: one speaker per channel).")
    max_speakers: int = Field(6, ge=1, le=10, description="Most speakers diarization will find when metadata does not give n_speakers.")
    crosstalk: bool = Field(True, description="Listen for two voices at once in phone calls and face-to-face conversations diarized as calls too (the segmentation model, 5 s either side of each change of speaker that comes within 1 s of the last turn; rooms always): the voice the turns leave out gets speaker turns there and counts in the overtalk. Costs at most about 0.35 s of CPU a minute, where every change of speaker is quick.")
    hold_music: bool = Field(True, description="Find hold music in mono recordings and on each channel of stereo ones (loud, tonal sound that lasts seconds, with no model) and leave it, and the recorded announcements played over it, out of the two people's voices and roles: the announcements' words get the speaker HOLD and role unknown, and each hold a HOLD speaker turn.")
    recorded_messages: Path | None = Field(ROOT / "data" / "recorded_messages.yaml", description="YAML 'cues:' list of what only the phone system's recorded voice says before a person answers (\"please hold\", \"your call is important to us\"): a recording's opening welcome that says one, the queue's music after it, and music that opens a recording get the speaker SYSTEM and role unknown, out of the two people's voices and roles; the rules' first-seconds windows count from its end. None or an empty list: not looked for.")
    transfers: bool = Field(True, description="A mono phone call whose words say it was transferred to a colleague (a transfer line, then after a pause or a hold someone opening as a colleague does) is diarized as two calls with one customer: before the transfer and after it (after a warm transfer, where the first staff member stays on to introduce the customer, as three voices). So is a call whose roles are flagged where the voices alone show one staff voice handing over to another (the result stays flagged); a call whose roles are not flagged is only flagged there. The colleague becomes a third speaker with the staff role (the same speaker as the first staff member where their voices are alike), the customer keeps one speaker name. In a stereo call both staff members speak on the staff channel: its speech is diarized as two voices, and where one voice holds the staff speech before the transfer (heard in the words, or where the voices alone split there, then flagged) and the other the speech after it, the colleague becomes a third speaker there too (about 0.7 s of CPU a minute of a stereo call).")
    speaker_model: str = Field("auto", description="Speaker encoder: auto (CAM++ for the voices of a phone call of two people and of a face-to-face conversation whose words read as two sides, resemblyzer for rooms, estimated counts and voiceprints), campplus (CAM++, int8) or resemblyzer, for everything. Voiceprints are compared with the encoder they were enrolled with.")
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
    claim_lease_s: float = Field(
        60.0,
        ge=1,
        description="A claimed file's lease: its worker renews it every quarter of this; a claim not renewed for this long (a worker killed or cut off, on any machine) is handed back to the inbox.",
    )
    node: str | None = Field(None, description="This machine's name in claims (default: the host name); give each machine sharing an inbox its own.")
    retry_backoff_s: float = Field(
        30.0,
        ge=0,
        description="`parley watch` waits this long before trying a file handed back after a transient error (database locked, archive unwritable) again, doubling up to 1 hour.",
    )

    # Records governance (pipeline/governance/)
    retention_policy: Path = Field(ROOT / "data" / "retention.yaml", description="Retention policy YAML: how long recordings, audio and transcripts are kept (`parley retention apply`).")
    readmit_erased: bool = Field(False, description="Process a dropped file even though its content was erased before (off: it is quarantined, naming the erasure).")

    # Web app (parley serve)
    web_secure_cookie: bool = Field(False, description="Mark the web app's cookies Secure (and send HSTS): turn on when it is served over TLS, e.g. behind a reverse proxy.")
    web_login_slow_after: int = Field(3, ge=1, description="Wrong passwords (per user name, and per address) in web_login_window_s after which each further attempt must wait, doubling from 2 s.")
    web_login_lock_after: int = Field(10, ge=1, description="Wrong passwords (per user name, and per address) in web_login_window_s after which logins are locked for web_login_lock_s.")
    web_login_window_s: float = Field(900.0, gt=0, description="How far back wrong passwords count, in seconds.")
    web_login_lock_s: float = Field(900.0, gt=0, description="How long a user name or address stays locked after too many wrong passwords, in seconds.")
    web_sql_timeout_s: float = Field(15.0, gt=0, description="The SQL page stops a query (including fetching and building the page) after this many seconds.")
    web_sql_max_bytes: int = Field(4_000_000, gt=0, description="Largest result the SQL page shows or exports, in bytes of cell text; the rest is cut off and said so.")
    web_sql_memory: str = Field("512MB", description="DuckDB memory_limit for a SQL-page query.")
    web_sql_threads: int = Field(1, ge=1, description="DuckDB threads for a SQL-page query (the rest of the cores keep the pages and logins fast).")
    web_sql_per_user: int = Field(2, ge=1, description="SQL-page queries one user may have running at once; more are refused until one ends.")
    web_sql_total: int = Field(4, ge=1, description="SQL-page queries running at once across all users.")

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
        from .recorded import load_cues
        from .transcribe import hardware_defaults
        from .vocabulary import load_vocabulary

        data = {k: getattr(self, k) for k in _OUTPUT_FIELDS}
        data["vocabulary"] = load_vocabulary(self.vocabulary)  # its words, not where the file is
        data["recorded_messages"] = load_cues(self.recorded_messages)  # the same
        chosen = hardware_defaults(self.device)  # what "auto" became on this machine
        data.update({k: chosen[k] for k, field in (("model", "whisper_model"), ("compute_type", "compute_type")) if data[field] == "auto"})
        if data["batch_size"] is None:
            data["batch_size"] = chosen["batch_size"]
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def folders(self) -> dict[str, Path]:
        return {"inbox": self.inbox, "archive": self.archive, "quarantine": self.quarantine}
