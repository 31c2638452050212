"""The files Parley keeps for a recording in the archive: listed with their hashes, and removed.

After a recording is archived, ``record_archive`` lists its files in ``archived_files`` (the
redacted copy, the original when ``PARLEY_KEEP_ORIGINAL_AUDIO`` is on, the sidecar) with their
sha256, and seals the change in the chain, so a replaced or edited audio file is detected by
`parley verify` and erasure and retention know exactly which files to remove.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..ingest import SIDECAR_SUFFIX
from .chain import file_sha256


def archived_files_of(target: Path, source_name: str) -> list[tuple[str, Path]]:
    """(role, path) of the files archiving wrote for a recording archived at ``target``, as
    ``Processor._archive`` names them: the copy, ``NAME.original.EXT`` beside it when the original
    is kept, and each one's sidecar ``NAME.json``."""
    original = target.with_name(f"{target.stem}.original{Path(source_name).suffix}")
    candidates = [
        ("audio", target),
        ("sidecar", target.with_name(target.name + SIDECAR_SUFFIX)),
        ("original", original),
        ("sidecar", original.with_name(original.name + SIDECAR_SUFFIX)),
    ]
    return [(role, path) for role, path in candidates if path.is_file()]


def archive_rows(recording_id: str, files: list[tuple[str, Path]], run_id: str | None = None) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    return [
        {"recording_id": recording_id, "run_id": run_id, "role": role, "path": str(path), "sha256": file_sha256(path),
         "size_bytes": path.stat().st_size, "archived_at": now}
        for role, path in files
    ]


def record_archive(store, recording_id: str, target: Path, source_name: str, run_id: str | None = None) -> None:
    """List a recording's archived files with their hashes, sealed in the chain (``store``: a
    ``Store``, or a ``StagingWriter`` whose loader seals them)."""
    rows = archive_rows(recording_id, archived_files_of(Path(target), source_name), run_id)
    if rows:
        store.append("archived_files", rows)  # sealed there (or by the staging loader); older rows of the recording go


def remove_files(paths: list[str]) -> int:
    """Remove files (those already gone count as removed); returns how many were on disk."""
    removed = 0
    for path in paths:
        try:
            os.unlink(path)
            removed += 1
        except FileNotFoundError:
            pass
    return removed
