"""The project's own labelled utterances (``data/training/*.csv``), read and validated.

Columns: ``text`` (required), ``role``, ``sentiment`` (negative/neutral/positive) and one column
per taxonomy kind (``touchpoint``, ``journey_stage``, ``complaint_topic``); several labels in one
cell are separated by ``;``; an empty cell means "not labelled" (or, for ``complaint_topic``,
"no complaint"). Rows whose label is not in the current taxonomy are left out of that head.
"""

from __future__ import annotations

import csv
import io
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

SENTIMENTS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class TrainingSet:
    rows: tuple[dict[str, str], ...]
    hash: str
    """sha256 (first 16 hex) over the bytes of every CSV file, in name order."""

    def labels(self, column: str) -> list[tuple[str, tuple[str, ...]]]:
        """(text, labels) for every row with a non-empty ``column``."""
        out = []
        for row in self.rows:
            cell = (row.get(column) or "").strip()
            if cell:
                out.append((row["text"], tuple(p.strip() for p in cell.split(";") if p.strip())))
        return out


def load_training(folder: Path) -> TrainingSet:
    """Every ``*.csv`` in ``folder`` (none is fine: heads then learn from taxonomy examples only)."""
    digest = hashlib.sha256()
    rows: list[dict[str, str]] = []
    for path in sorted(Path(folder).glob("*.csv")):
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        try:
            text = raw.decode("utf-8-sig")  # a CSV saved by Excel starts with a byte-order mark
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text (byte {exc.start})", fix="save the file as UTF-8 CSV", path=str(path)) from exc
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if "text" not in (reader.fieldnames or []):
            raise ConfigError("line 1: no `text` column", fix="add a header line starting with text,", path=str(path))
        for line, row in enumerate(reader, start=2):
            sentiment = (row.get("sentiment") or "").strip()
            if sentiment and sentiment not in SENTIMENTS:
                raise ConfigError(f"line {line}: sentiment '{sentiment}' is not one of {', '.join(SENTIMENTS)}", fix="correct the label or leave the cell empty", path=str(path))
            if (row.get("text") or "").strip():
                rows.append({k: (v or "") for k, v in row.items() if k})
    return TrainingSet(rows=tuple(rows), hash=digest.hexdigest()[:16])
