"""The analysis stages after transcription: speakers, redaction, tagging, rules and scorecards.

Each stage is a plain function from records to records (and table rows), run by the Processor
as a Prefect task. Loaders are cached per process; configuration folders (rules, rubrics,
taxonomies) are cached by their files' names, sizes and times, so an edited file is picked up by
the next recording, even in a long-running watcher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .records import Finding, RecordingMeta, Tag, Utterance
from .redact import RedactionOptions, RedactionResult, redact_utterances, redaction_rows
from .settings import ROOT


@dataclass(frozen=True)
class AnalysisOptions:
    redaction: bool = True
    keep_raw_text: bool = False
    tagging: bool = True
    scoring: bool = True
    encoder: str = "all-MiniLM-L6-v2"
    taxonomies: Path = ROOT / "data" / "taxonomies"
    training: Path = ROOT / "data" / "training"
    model_cache: Path = ROOT / "models" / "cache"
    rules: Path = ROOT / "data" / "rules"
    rubrics: Path = ROOT / "data" / "rubrics"
    complaint_taxonomy: str = "general"

    @classmethod
    def from_settings(cls, s) -> "AnalysisOptions":
        return cls(s.redaction, s.keep_raw_text, s.tagging, s.scoring, s.encoder, s.taxonomies, s.training, s.model_cache, s.rules, s.rubrics, s.complaint_taxonomy)


def folder_signature(folder: Path) -> tuple:
    """Names, sizes and modification times of a folder's files: changes when any file does."""
    if not folder.is_dir():
        return ()
    return tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()))


# -- redaction ---------------------------------------------------------------------------------
def redact_stage(utterances: list[Utterance], keep_raw_text: bool, vocabulary: tuple[str, ...] = ()) -> RedactionResult:
    """Redact PII in place (text, words) before anything is stored; the business's own words
    (``vocabulary``) are never taken for names."""
    return redact_utterances(utterances, RedactionOptions(keep_raw_text=keep_raw_text, vocabulary=vocabulary))


# -- tagging -----------------------------------------------------------------------------------
def tagging_options(options: AnalysisOptions):
    from .tagging.options import TaggingOptions
    from .tagging.taxonomy import complaint_folder

    return TaggingOptions(
        encoder=options.encoder, taxonomy_dir=options.taxonomies, training_dir=options.training, cache_dir=options.model_cache,
        complaint_dir=complaint_folder(options.taxonomies, options.complaint_taxonomy),
    )


def tag_stage(utterances: list[Utterance], meta: RecordingMeta, options: AnalysisOptions) -> list[Tag]:
    """Touchpoint, sentiment and complaint topics per utterance and per interaction, of the
    people's words (``Tagger.tag``: the phone system's, a hold's announcements and the recorded
    welcome, are neither the customer's complaint nor anyone's sentiment)."""
    from .tagging import load_tagger

    return load_tagger(tagging_options(options)).tag(utterances, meta)


def tag_rows(tags: list[Tag]) -> dict[str, list[dict[str, Any]]]:
    from .tagging import tags_to_rows

    return tags_to_rows(tags)


# -- rules and scorecards ----------------------------------------------------------------------
@dataclass
class ScoreResult:
    findings: list[Finding] = field(default_factory=list)
    cards: list[Any] = field(default_factory=list)

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        from .scoring import scorecard_rows

        return scorecard_rows(self.findings, self.cards)


@lru_cache(maxsize=8)
def _rules(folder: str, signature: tuple):
    from .rules import load_rules

    return load_rules(folder)


@lru_cache(maxsize=8)
def _rubrics(folder: str, signature: tuple):
    from .scoring import load_rubrics

    return load_rubrics(folder)


def load_rules_cached(folder: Path):
    return _rules(str(folder), folder_signature(folder))


def load_rubrics_cached(folder: Path):
    return _rubrics(str(folder), folder_signature(folder))


def embedder(options: AnalysisOptions):
    """The tagger's own encoder (same cache entry, same memo) as the rules' ``embed`` callable."""
    from .tagging.encoder import load_encoder

    tagging = tagging_options(options)
    return load_encoder(tagging.encoder, tagging.max_tokens, tagging.threads, tagging.cache_dir).encode


def score_stage(
    utterances: list[Utterance], tags: list[Tag], dynamics: list[dict], duration_s: float, options: AnalysisOptions, channel: str | None = None,
    opening_s: float = 0.0,
) -> ScoreResult:
    """Evaluate every rule that applies to the recording's channel (with evidence) and score the
    interaction with every rubric. ``opening_s``: where the phone system's opening ends (the
    rules' first-seconds windows start there)."""
    from .rules import evaluate_rules
    from .scoring import facts_from, score

    rules = load_rules_cached(options.rules)
    findings = evaluate_rules(rules, utterances, duration_s=duration_s, embed=embedder(options), channel=channel, opening_s=opening_s)
    facts = facts_from(findings, tags, dynamics)
    return ScoreResult(findings, [score(rubric, facts) for rubric in load_rubrics_cached(options.rubrics)])


def check_configuration(options: AnalysisOptions) -> None:
    """Parse taxonomies, training data, rules and rubrics and find the encoder at start-up: a
    broken file fails here, not per recording. Loads no model (see ``warm_up``)."""
    if options.tagging:
        from .tagging import check_tagger

        check_tagger(tagging_options(options))
    if options.scoring:
        load_rules_cached(options.rules)
        load_rubrics_cached(options.rubrics)


def warm_up(options: AnalysisOptions) -> None:
    """Load the tagger (encoder and heads; ~4 s cold, most of it importing torch and
    transformers). The Processor runs this in the background while the first recording is
    decoded and transcribed, and its analysis waits for it. A failure is a configuration error
    (the recording is fine), so the batch stops and the file goes back to the inbox."""
    if not options.tagging:
        return
    from .errors import ConfigError
    from .tagging import load_tagger

    try:
        load_tagger(tagging_options(options))
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. damaged model files: the set-up, not the recording
        raise ConfigError(f"cannot load the tagging models ({type(exc).__name__}: {exc})", fix="reinstall the encoder (make install) or check PARLEY_ENCODER", path=str(options.encoder)) from exc
