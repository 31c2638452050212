"""Deleting recordings, or parts of them, so that nothing is left half-done: used by erasure and
retention. Also: refusing a re-drop of an erased file, staff voiceprints, and compacting the
database file so deleted rows' bytes are gone from it too.

How one deletion stays whole, whatever crashes when:

1. In one transaction: the recording's rows go (every table holding them), the emptied state is
   sealed in the chain, and a tombstone is written that names the files still to remove
   (``pending_files``). Before the commit nothing has changed; after it the rows are gone.
2. The files are removed (a file already gone counts as removed).
3. The tombstone's ``pending_files`` is cleared.

A crash between 1 and 3 leaves a tombstone with pending files; every erase, retention run and
`parley verify` finishes (or reports) them first, so a re-run completes the deletion. Held
recordings are never touched: the hold is checked inside the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError, TerminalError
from ..ingest import ERROR_SUFFIX, SIDECAR_SUFFIX
from . import actor as current_actor
from .chain import chained_tables, seal, tables_with_recording_id
from .files import remove_files
from .holds import ACTIVE, holds_on, resolve_recording

PARTS = ("audio", "transcript", "record")
"""What can be deleted: the archived audio, the transcript, or the whole record. The analysis rows
(tags, findings, scorecards) go only with the record: they are what decides how long it is kept."""
TRANSCRIPT_TABLES = ("utterances", "words", "speaker_turns", "redactions")
"""A recording's transcript: its text, words, speaker turns and the redaction spans over them."""
AUDIO_TABLES = ("archived_files",)


@dataclass
class Deleted:
    """One deletion: what went (table row counts, files), never the content."""

    recording: str
    parts: list[str]
    rows: dict[str, int]
    files: list[str]
    tombstone_id: str
    chain_seq: int
    outside_archive: list[str] = field(default_factory=list)
    """Files the recording points at that Parley did not archive (``--copy``): left where they are."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def part_tables(con, part: str) -> list[str]:
    """The tables a part's rows live in (``record``: every table with a recording's rows, history too)."""
    chained = chained_tables(con)
    if part == "audio":
        return [t for t in AUDIO_TABLES if t in chained]
    if part == "transcript":
        return [t for t in TRANSCRIPT_TABLES if t in chained]
    if part == "record":
        return ["recordings", *tables_with_recording_id(con)]
    raise ConfigError(f"unknown part '{part}'", fix=f"use one of {', '.join(PARTS)}")


def _files(con, recording_id: str, archive_root: Path | None) -> tuple[list[str], list[str]]:
    """(files Parley archived for the recording, files it points at outside the archive)."""
    listed = [r[0] for r in con.execute("SELECT path FROM archived_files WHERE recording_id = ?", [recording_id]).fetchall()]
    row = con.execute("SELECT archive_path, source_name FROM recordings WHERE id = ?", [recording_id]).fetchone()
    outside: list[str] = []
    if row and row[0] and row[0] not in listed:  # stored before archived_files existed, or archived with --copy
        path = Path(row[0])
        if archive_root is not None and _inside(path, archive_root):
            original = path.with_name(f"{path.stem}.original{Path(row[1] or '').suffix}")
            listed += [str(p) for p in (path, path.with_name(path.name + SIDECAR_SUFFIX), original, original.with_name(original.name + SIDECAR_SUFFIX)) if p.exists()]
        elif path.exists():
            outside.append(str(path))
    return list(dict.fromkeys(listed)), outside


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def delete_parts(con, recording_id: str, parts: list[str], *, kind: str, reason: str, actor: str | None = None,
                 customer_ref: str | None = None, period_from: date | None = None, archive_root: Path | None = None,
                 extra_files: list[str] | None = None) -> Deleted | None:
    """Delete ``parts`` of one recording in one transaction (rows, chain entry, tombstone); None
    when there was nothing left to delete, or the recording is under a legal hold. The files (and
    ``extra_files``) are removed afterwards by ``remove_pending``."""
    con.execute("BEGIN TRANSACTION")
    try:
        if holds_on(con, [recording_id]):  # checked inside the transaction that deletes
            con.execute("ROLLBACK")
            return None
        whole = "record" in parts
        parts = ["record"] if whole else [p for p in PARTS if p in parts]
        files, outside = _files(con, recording_id, archive_root) if whole or "audio" in parts else ([], [])
        files += [f for f in extra_files or [] if f not in files]
        rows: dict[str, int] = {}
        for table in dict.fromkeys(t for p in parts for t in part_tables(con, p)):
            key = "id" if table == "recordings" else "recording_id"
            n = con.execute(f'DELETE FROM "{table}" WHERE "{key}" = ?', [recording_id]).fetchone()[0]
            if n:
                rows[table] = n
        changed = sorted(rows)
        if "audio" in parts and not whole:
            n = con.execute("UPDATE recordings SET archive_path = NULL WHERE id = ? AND archive_path IS NOT NULL", [recording_id]).fetchone()[0]
            if n:
                changed.append("recordings")
        if not rows and not files and "recordings" not in changed:
            con.execute("ROLLBACK")
            return None
        seq = seal(con, [recording_id], kind, changed=None if whole else changed, actor=actor)[0]
        tombstone = str(uuid.uuid4())
        con.execute(
            """INSERT INTO tombstones (tombstone_id, deleted_at, recording, kind, parts, actor, reason, customer_ref_sha256,
                                       period_from, rows_deleted, files_deleted, pending_files, chain_seq)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)""",
            [tombstone, _now(), recording_id, kind, parts, actor or current_actor(), reason, customer_hash(customer_ref) if customer_ref else None,
             period_from, json.dumps(rows, sort_keys=True), json.dumps(files) if files else None, seq],
        )
        con.execute("COMMIT")
    except Exception:
        try:
            con.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - a failed COMMIT has ended the transaction already
            pass
        raise
    return Deleted(recording_id, parts, rows, files, tombstone, seq, outside_archive=outside)


def remove_pending(con) -> int:
    """Remove the files of committed deletions that are still on disk; returns how many were there."""
    removed = 0
    for tombstone, pending in con.execute("SELECT tombstone_id, pending_files FROM tombstones WHERE pending_files IS NOT NULL").fetchall():
        paths = json.loads(pending) if isinstance(pending, str) else list(pending)
        n = remove_files(paths)
        removed += n
        con.execute(
            "UPDATE tombstones SET pending_files = NULL, files_removed_at = ?, files_deleted = files_deleted + ? WHERE tombstone_id = ?",
            [_now(), len(paths), tombstone],
        )
    return removed


def customer_hash(customer_ref: str) -> str:
    """How a tombstone names an erased customer: the sha256 of the ref (the ref is not kept)."""
    return hashlib.sha256(customer_ref.encode("utf-8")).hexdigest()


# -- erasure -----------------------------------------------------------------------------------
@dataclass
class Erasure:
    erased: list[Deleted] = field(default_factory=list)
    held: dict[str, list[int]] = field(default_factory=dict)
    """Recordings left alone because of a legal hold: {recording id: hold ids}."""
    quarantined: list[Deleted] = field(default_factory=list)
    """The customer's drops that were never stored (quarantined): their rows and quarantined files."""
    found: int = 0
    files_removed: int = 0


def erase(store, *, customer: str | None = None, recording: str | None = None, reason: str, actor: str | None = None,
          archive_root: Path | None = None) -> Erasure:
    """Erase a customer's recordings (or one recording): rows everywhere, archived files, with a
    tombstone each. Held recordings are kept and listed in ``held``."""
    if bool(customer) == bool(recording):
        raise ConfigError("say what to erase", fix="pass --customer REF or --recording ID (one of them)")
    if not reason or not reason.strip():
        raise ConfigError("an erasure needs a reason", fix="pass --reason, e.g. the data subject request's reference (never its content)")
    result = Erasure()
    with store.connect() as con:
        remove_pending(con)
        if customer:
            ids = [r[0] for r in con.execute("SELECT id FROM recordings WHERE customer_ref = ? ORDER BY started_at, id", [customer]).fetchall()]
        else:
            ids = [resolve_recording(con, recording)]
        result.found = len(ids)
        result.held = holds_on(con, ids)
        for rid in ids:
            if rid in result.held:
                continue
            done = delete_parts(con, rid, ["record"], kind="erasure", reason=reason.strip(), actor=actor, customer_ref=customer, archive_root=archive_root)
            if done is None:  # a hold placed since the look-up above
                result.held.update(holds_on(con, [rid]))
                continue
            result.erased.append(done)
        if customer and not con.execute(f"SELECT 1 FROM legal_holds WHERE scope = 'customer' AND target = ? AND {ACTIVE}", [customer]).fetchone():
            for rid, files in _quarantined_of(con, customer).items():
                done = delete_parts(con, rid, ["record"], kind="erasure", reason=reason.strip(), actor=actor, customer_ref=customer, extra_files=files)
                if done is not None:
                    result.quarantined.append(done)
        result.files_removed = remove_pending(con)
    return result


def _quarantined_of(con, customer: str) -> dict[str, list[str]]:
    """{recording id: quarantined files} of a customer's drops that were never stored."""
    rows = con.execute(
        """SELECT d.recording_id, list(DISTINCT e.quarantine_path) FILTER (WHERE e.quarantine_path IS NOT NULL)
           FROM drops d LEFT JOIN errors e ON e.recording_id = d.recording_id
           WHERE json_extract_string(d.metadata, '$.customer_ref') = ? AND d.recording_id IS NOT NULL
             AND d.recording_id NOT IN (SELECT id FROM recordings)
           GROUP BY 1""",
        [customer],
    ).fetchall()
    out = {}
    for rid, paths in rows:
        files = [str(p) for q in paths or [] for p in (Path(q), Path(q + ERROR_SUFFIX), Path(q + SIDECAR_SUFFIX)) if p.exists()]
        out[rid] = files
    return out


def erased(store_or_con, recording_id: str) -> tuple[datetime, str] | None:
    """(when, reason) if ``recording_id`` was erased, else None."""
    def look(con):
        try:
            return con.execute(
                "SELECT deleted_at, reason FROM tombstones WHERE recording = ? AND kind = 'erasure' AND list_contains(parts, 'record') ORDER BY deleted_at DESC LIMIT 1",
                [recording_id],
            ).fetchone()
        except Exception as exc:  # noqa: BLE001 - a database from before migration 0008: nothing was erased
            if "tombstones" in str(exc):
                return None
            raise

    if hasattr(store_or_con, "execute") and not hasattr(store_or_con, "connect"):
        return look(store_or_con)
    if not Path(store_or_con.path).exists():
        return None
    with store_or_con.connect(read_only=True) as con:
        return look(con)


def refuse_erased(store, recording_id: str, readmit: bool) -> None:
    """Raise a terminal error (the file is quarantined) when this content was erased, unless ``readmit``."""
    if readmit:
        return
    found = erased(store, recording_id)
    if found:
        raise TerminalError(
            f"this recording was erased on {found[0]:%Y-%m-%d} (tombstone of {recording_id[:12]}) and is not taken again",
            fix="if it must be processed again (e.g. the erasure was a mistake), run `parley process --readmit-erased FILE`",
            stage="ingest",
        )


# -- voiceprints -------------------------------------------------------------------------------
def list_voiceprints(con) -> list[dict[str, Any]]:
    """Enrolled voiceprints, never the embedding."""
    from ..voiceprints import has_telephone_prints

    banded = "telephone_embedding IS NOT NULL" if has_telephone_prints(con) else "false"
    cur = con.execute(f"SELECT staff_id, n_clips, speech_s, model, model_version, enrolled_at, {banded} AS telephone "
                      "FROM voiceprints ORDER BY staff_id")
    columns = [d[0] for d in cur.description]
    return [dict(zip(columns, r)) for r in cur.fetchall()]


def remove_voiceprint(con, staff_id: str, reason: str, actor: str | None = None) -> bool:
    """Delete a staff member's voiceprint (biometric data) with a tombstone; False if none was enrolled."""
    if not reason or not reason.strip():
        raise ConfigError("removing a voiceprint needs a reason", fix="pass --reason, e.g. 'left the company' or 'consent withdrawn'")
    con.execute("BEGIN TRANSACTION")
    try:
        n = con.execute("DELETE FROM voiceprints WHERE staff_id = ?", [staff_id]).fetchone()[0]
        if n:
            con.execute(
                """INSERT INTO tombstones (tombstone_id, deleted_at, staff_id, kind, parts, actor, reason, rows_deleted, files_deleted)
                   VALUES (?, ?, ?, 'voiceprint', ['voiceprint'], ?, ?, ?, 0)""",
                [str(uuid.uuid4()), _now(), staff_id, actor or current_actor(), reason.strip(), json.dumps({"voiceprints": n})],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return bool(n)


# -- compaction --------------------------------------------------------------------------------
def compact(store) -> tuple[int, int]:
    """Rewrite the database file without the bytes of deleted rows (DuckDB leaves them in free
    blocks). Holds the write lock throughout, so no writer loses a row. Returns (bytes before, after)."""
    path = Path(store.path)
    before = path.stat().st_size
    tmp = path.with_name(f".{path.name}.compact-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    with store.connect() as con:
        con.execute("CHECKPOINT")
        name = con.execute("SELECT current_database()").fetchone()[0]
        literal = "'" + str(tmp).replace("'", "''") + "'"
        try:
            con.execute(f"ATTACH {literal} AS parley_compacted")
            con.execute(f'COPY FROM DATABASE "{name}" TO parley_compacted')
            con.execute("DETACH parley_compacted")
            os.replace(tmp, path)  # while this connection still holds the old file: nobody writes in between
        finally:
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".wal").unlink(missing_ok=True)
    return before, path.stat().st_size
