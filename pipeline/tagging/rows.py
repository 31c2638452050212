"""Tags as rows of the ``tags`` table (pipeline/sql/0002_tags.sql); the store adds recording_id and run_id."""

from __future__ import annotations

from typing import Any

from ..records import Tag
from ..store import json_text

COLUMNS = ("utterance_index", "kind", "label", "score", "role", "model", "model_version", "taxonomy_hash", "evidence", "detail")


def tags_to_rows(tags: list[Tag]) -> dict[str, list[dict[str, Any]]]:
    """``{"tags": [row, ...]}`` with one row per tag; ``detail`` is JSON text."""
    return {
        "tags": [
            {
                "utterance_index": t.utterance_index,
                "kind": t.kind,
                "label": t.label,
                "score": None if t.score is None else float(t.score),
                "role": t.role,
                "model": t.model,
                "model_version": t.model_version,
                "taxonomy_hash": t.taxonomy_hash,
                "evidence": [int(i) for i in t.evidence],
                "detail": json_text(t.detail),
            }
            for t in tags
        ]
    }

