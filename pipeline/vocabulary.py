"""The business's own words (``data/vocabulary.yaml``): company, product and place names.

They go to Whisper as ``hotwords`` (faster-whisper puts them before every window it decodes, so
"Northfield Energy" is heard as a name and not as "north field and energy"), and name redaction
leaves them alone (spaCy takes a company's name for a person's now and then).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import ConfigError


def load_vocabulary(path: str | Path | None) -> tuple[str, ...]:
    """The terms in ``path`` (a YAML file with a ``terms:`` list); () for None or a missing file."""
    if path is None or not Path(path).exists():
        return ()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError("not valid YAML", fix="correct the YAML syntax at that line", path=f"{path}:{mark.line + 1 if mark else 1}") from exc
    terms = data.get("terms") if isinstance(data, dict) else None
    if terms is None:
        terms = []
    if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
        raise ConfigError("the vocabulary must be a 'terms:' list of words or names", fix="write terms: [Northfield Energy, Fixed Saver]", path=str(path))
    return tuple(dict.fromkeys(" ".join(t.split()) for t in terms))


def hotwords(terms: tuple[str, ...]) -> str | None:
    """The hint Whisper gets: the terms, comma separated (faster-whisper keeps the first ~220 tokens)."""
    return ", ".join(terms) or None
