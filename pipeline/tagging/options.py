"""Settings of the tagging stage, with a default and a description for every field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TaggingOptions:
    """What the taggers load and how they decide. Frozen, so ``load_tagger`` can cache on it."""

    encoder: str = "all-MiniLM-L6-v2"
    """Encoder: a bundled model name (see ``parley models``), a directory, or a hub name when online."""
    taxonomy_dir: Path = ROOT / "data" / "taxonomies"
    """Folder of taxonomy YAML files (touchpoints.yaml, journey_stage.yaml, complaint_topics.yaml, complaint_outcomes.yaml)."""
    complaint_dir: Path | None = None
    """Folder of the complaint taxonomy (complaint_topics.yaml, optionally complaint_products.yaml);
    None = ``taxonomy_dir`` (the general one). See ``taxonomy.complaint_folder``."""
    training_dir: Path = ROOT / "data" / "training"
    """Folder of labelled CSV files (text, sentiment, touchpoint, journey_stage, complaint_topic),
    with the complaint head's own rows in its ``complaints/`` subfolder (text, complaint)."""
    cache_dir: Path = ROOT / "models" / "cache"
    """Where trained heads are kept, named by the hash of everything they were trained from."""
    complaint_threshold: float | None = None
    """Minimum complaint probability for an utterance (and so its interaction) to be a complaint;
    None = ``complaints.THRESHOLD``, chosen on development calls."""
    topic_threshold: float | None = None
    """Minimum complaint-topic probability; None = the taxonomy's own ``threshold`` (default 0.5)."""
    trajectory_margin: float = 0.25
    """Change in customer polarity (-1..1) from start to end that counts as improved/worsened."""
    batch_size: int = 64
    """Utterances per encoder batch (one recording is usually one batch)."""
    max_tokens: int = 128
    """Longer utterances are truncated to this many tokens."""
    threads: int = 1
    """torch CPU threads for the encoder (the machine is shared with transcription)."""
