"""The tamper-evident chain over every stored recording's rows and archived files.

A recording's *state* is, per table that holds its rows (``recordings`` by ``id``; every other
table with a ``recording_id`` column except the history tables ``runs``, ``drops``, ``errors``),
the number of rows and the sha256 of their canonical serialisation (``table_digest``: the names
of the columns holding a value, sorted; each row as a JSON list of those values, floats by
Python's shortest round-trip ``repr``, times in UTC ISO 8601; the rows sorted, so storage order
does not matter). A column that is NULL in all of a recording's rows is left out, so a migration
that appends a column does not change a stored state.

Every change Parley makes to a recording's rows appends a ``record_chain`` entry in the same
transaction (``seal``): the state after the change, the hash of that state, and the hash of the
entry before, so the entries form one chain. ``verify`` walks the chain (an entry edited, removed
or inserted breaks it) and compares each recording's latest state with its rows now (a row edited,
deleted or inserted outside Parley changes a table's hash or count), then the archived files'
hashes (the ``archived_files`` rows are part of the state). Deletions by retention and erasure
seal the emptied state, so lawful deletions do not break the chain; their tombstones point at
their entries.

What it cannot see on its own: someone who rewrites the chain itself from some entry on, with
this code. ``verify`` prints the head (last entry and hash); keep it elsewhere (the retention
flow logs it daily) and pass it back as ``--anchor SEQ:HASH`` to prove nothing before it changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from operator import itemgetter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from . import actor as current_actor

CHAIN = "record_chain"
GENESIS = "0" * 64
HISTORY = ("runs", "drops", "errors")
"""Tables with a recording_id that keep history (every run, drop, error): not part of a state."""
DELETION_KINDS = ("retention", "erasure")
_CHUNK = 4096


# -- canonical serialisation -------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A JSON-ready value that is the same for the same stored value, whatever the session."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)  # json's NaN is not JSON; the text is stable
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # TIMESTAMPTZ arrives in the session's time zone
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.days}d{value.seconds}s{value.microseconds}us"
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item"):  # a numpy scalar
        return _plain(value.item())
    raise TypeError(f"cannot serialise a {type(value).__name__} for the record chain")


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _default(value: Any) -> Any:
    """What ``json`` does not know (times, decimals, bytes, ...), made plain."""
    return _plain(value)


_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True, default=_default).encode
"""Canonical JSON of one value or row (C-accelerated: this runs on every stored row)."""


def table_digest(columns: list[str], rows: list[tuple]) -> dict[str, Any]:
    """{"rows": n, "sha256": h} of one recording's rows in one table.

    Canonical form: the names of the columns that hold a value in any of these rows, sorted, as
    a JSON list; then each row as a JSON list of those columns' values, the lines sorted. A column
    that is NULL in every row (one a later migration appended) leaves the hash as it was.
    """
    keep = sorted((i for i in range(len(columns)) if any(row[i] is not None for row in rows)), key=columns.__getitem__)
    get = itemgetter(*keep) if len(keep) > 1 else (lambda row: tuple(row[i] for i in keep))
    lines = sorted(_encode(get(row)) for row in rows)
    return {"rows": len(rows), "sha256": sha256_text(_encode([columns[i] for i in keep]) + "\n" + "\n".join(lines))}


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def tables_with_recording_id(con) -> list[str]:
    """Every table of this database with a ``recording_id`` column, sorted."""
    rows = con.execute(
        "SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'recording_id' AND schema_name = 'main' "
        "AND database_name = current_database() AND NOT internal ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def chained_tables(con) -> list[str]:
    """``recordings`` and every table holding a recording's own rows (history tables aside)."""
    return ["recordings", *(t for t in tables_with_recording_id(con) if t not in HISTORY and t != "recordings")]


def _key(table: str) -> str:
    return "id" if table == "recordings" else "recording_id"


def states(con, tables: Iterable[str], recordings: list[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """{recording: {table: {"rows": n, "sha256": h}}} for ``recordings`` (None: every recording
    with rows); a table with no rows for a recording is left out."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if recordings is not None and not recordings:
        return out
    for table in tables:
        key = _key(table)
        if recordings is None:
            cur = con.execute(f'SELECT * FROM "{table}" ORDER BY "{key}"')
        elif len(recordings) == 1:
            cur = con.execute(f'SELECT * FROM "{table}" WHERE "{key}" = ?', [recordings[0]])
        else:
            cur = con.execute(f'SELECT * FROM "{table}" WHERE "{key}" IN (SELECT unnest(?::VARCHAR[])) ORDER BY "{key}"', [list(recordings)])
        columns = [d[0] for d in cur.description]
        at = columns.index(key)
        current, group = None, []
        while chunk := cur.fetchmany(_CHUNK):
            for row in chunk:
                if row[at] != current:
                    if group:
                        out.setdefault(current, {})[table] = table_digest(columns, group)
                    current, group = row[at], []
                group.append(row)
        if group:
            out.setdefault(current, {})[table] = table_digest(columns, group)
    return out


def content_hash(state: dict[str, dict[str, Any]]) -> str:
    return sha256_text(canonical(state))


def entry_hash(seq: int, at: datetime, recording: str, kind: str, actor: str | None, run_id: str | None, content: str, prev: str) -> str:
    return sha256_text(canonical({
        "seq": seq, "at": _plain(at), "recording": recording, "kind": kind, "actor": actor, "run_id": run_id,
        "content_sha256": content, "prev_sha256": prev,
    }))


# -- sealing -----------------------------------------------------------------------------------
def latest_states(con, recordings: list[str] | None = None) -> dict[str, tuple[int, dict]]:
    """{recording: (seq, state)} of each recording's latest chain entry."""
    if recordings is not None and not recordings:
        return {}
    where = "" if recordings is None else "WHERE recording IN (SELECT unnest(?::VARCHAR[]))"
    rows = con.execute(f"SELECT recording, max(seq), arg_max(tables, seq) FROM {CHAIN} {where} GROUP BY 1", [] if recordings is None else [list(recordings)]).fetchall()
    return {r: (seq, json.loads(t) if isinstance(t, str) else t) for r, seq, t in rows}


def _given_states(rows: dict[str, tuple[list[str], list[tuple]]]) -> dict[str, dict[str, Any]]:
    """Table digests of rows a caller already holds, as stored (e.g. from INSERT ... RETURNING)."""
    return {table: table_digest(columns, found) for table, (columns, found) in rows.items() if found}


def seal(con, recordings: Iterable[str], kind: str, *, changed: Iterable[str] | None = None, run_id: str | None = None,
         actor: str | None = None, rows: dict[str, tuple[list[str], list[tuple]]] | None = None) -> list[int]:
    """Append one chain entry per recording with its state now; returns their seq numbers.

    Call inside the transaction that made the change. ``changed``: the only tables the change
    touched (their hashes are recomputed, the others carried from the recording's latest entry;
    a recording without one is hashed in full); None: every table is hashed. ``rows`` (one
    recording only): {table: (columns, rows)}, every row the recording now has in those tables,
    as stored: hashed as given instead of read back (the write path passes what it inserted).
    """
    recordings = list(dict.fromkeys(recordings))
    if not recordings:
        return []
    rows = rows or {}
    if rows and len(recordings) != 1:
        raise ValueError("rows= describes one recording; seal the others separately")
    tables = chained_tables(con)
    previous = latest_states(con, recordings) if changed is not None else {}
    changed = [t for t in changed or [] if t in tables] if changed is not None else None
    full = [r for r in recordings if changed is None or r not in previous]
    partial = [r for r in recordings if r not in full]
    given = _given_states({t: v for t, v in rows.items() if t in tables})
    now: dict[str, dict] = {}
    if full:
        found = states(con, [t for t in tables if t not in rows], full)
        now.update({r: dict(sorted({**found.get(r, {}), **given}.items())) for r in full})
    if partial:
        found = states(con, [t for t in changed if t not in rows], partial)
        for r in partial:
            kept = {t: v for t, v in previous[r][1].items() if t not in changed}
            now[r] = dict(sorted({**kept, **found.get(r, {}), **given}.items()))
    head = con.execute(f"SELECT seq, entry_sha256 FROM {CHAIN} ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = head if head else (0, GENESIS)
    at = datetime.now(timezone.utc).replace(tzinfo=None)
    who = actor or current_actor()
    rows, seqs = [], []
    for r in recordings:
        seq += 1
        state = now[r]
        content = content_hash(state)
        entry = entry_hash(seq, at, r, kind, who, run_id, content, prev)
        rows.append((seq, at, r, kind, who, run_id, canonical(state), content, prev, entry))
        seqs.append(seq)
        prev = entry
    columns = ("seq", "sealed_at", "recording", "kind", "actor", "run_id", "tables", "content_sha256", "prev_sha256", "entry_sha256")
    if len(rows) == 1:
        con.execute(f"INSERT INTO {CHAIN} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", list(rows[0]))
    else:
        select = ", ".join(f"unnest(${i + 1})" for i in range(len(columns)))
        con.execute(f"INSERT INTO {CHAIN} ({', '.join(columns)}) SELECT {select}", [list(col) for col in zip(*rows)])
    return seqs


def after_staged_load(con, manifest: dict, files: dict[str, Path]) -> None:
    """Seal what a staged batch changed (the staging loader calls this inside its transaction)."""
    tables = set(chained_tables(con))
    if manifest.get("kind") == "recording":
        replace_all = manifest.get("replace_all", True)
        changed = None if replace_all else [*manifest.get("tables", []), *(["recordings"] if "recordings" in files else [])]
        seal(con, [manifest["recording_id"]], "store" if replace_all else "update", changed=changed, run_id=manifest.get("run_id"))
        return
    for table, path in files.items():
        if table in tables and table != "recordings":
            appended(con, table, [r[0] for r in con.execute("SELECT DISTINCT recording_id FROM read_parquet(?)", [str(path)]).fetchall()])


def appended(con, table: str, recordings: list[str]) -> None:
    """Seal rows appended to a recording's table (``Store.append``, a staged append). A newer
    archive of a recording replaces what an older one listed in ``archived_files``."""
    if table == "archived_files":
        con.execute(
            "DELETE FROM archived_files a WHERE a.recording_id IN (SELECT unnest(?::VARCHAR[])) "
            "AND a.archived_at < (SELECT max(b.archived_at) FROM archived_files b WHERE b.recording_id = a.recording_id)",
            [list(recordings)],
        )
    seal(con, recordings, "archive" if table == "archived_files" else "update", changed=[table])


def baseline(con, actor: str | None = None) -> int:
    """Seal recordings that have rows but no chain entry (stored before the chain existed)."""
    unsealed = [r[0] for r in con.execute(f"SELECT id FROM recordings WHERE id NOT IN (SELECT recording FROM {CHAIN}) ORDER BY processed_at, id").fetchall()]
    seal(con, unsealed, "baseline", actor=actor)
    return len(unsealed)


# -- verifying ---------------------------------------------------------------------------------
@dataclass(order=True)
class Break:
    """One place where the records no longer match the chain."""

    position: float
    """The chain entry from which it no longer holds (``inf``: rows no entry covers)."""
    message: str = field(compare=False)
    recording: str | None = field(default=None, compare=False)


@dataclass
class Report:
    entries: int = 0
    recordings: int = 0
    deleted: int = 0
    files_checked: int = 0
    head: tuple[int, str] | None = None
    breaks: list[Break] = field(default_factory=list)
    pending_files: int = 0
    """Files of deleted recordings still on disk (a deletion interrupted after its commit)."""

    @property
    def ok(self) -> bool:
        return not self.breaks


def _short(recording: str | None) -> str:
    return (recording or "?")[:12]


def _difference(expected: dict, got: dict) -> str:
    parts = []
    for table in sorted(set(expected) | set(got)):
        e, g = expected.get(table, {"rows": 0}), got.get(table, {"rows": 0})
        if e == g:
            continue
        if g["rows"] < e["rows"]:
            parts.append(f"{table}: {e['rows'] - g['rows']} row(s) deleted")
        elif g["rows"] > e["rows"]:
            parts.append(f"{table}: {g['rows'] - e['rows']} row(s) inserted")
        else:
            parts.append(f"{table}: row(s) edited")
    return "; ".join(parts)


def verify(con, *, audio: bool = True, anchor: tuple[int, str] | None = None) -> Report:
    """Walk the chain, then compare every recording's rows and archived files with it."""
    report = Report()
    entries = con.execute(
        f"SELECT seq, sealed_at, recording, kind, actor, run_id, tables, content_sha256, prev_sha256, entry_sha256 FROM {CHAIN} ORDER BY seq"
    ).fetchall()
    report.entries = len(entries)
    latest: dict[str, tuple[int, str, datetime, dict]] = {}
    by_seq: dict[int, tuple[str, str]] = {}
    expected_seq, prev = 1, GENESIS
    for seq, at, rec, kind, who, run_id, tables_json, content, prev_hash, entry in entries:
        state = json.loads(tables_json) if isinstance(tables_json, str) else tables_json
        if seq != expected_seq:
            what = f"entries #{expected_seq}-#{seq - 1} are missing" if seq > expected_seq else f"entry #{seq} appears again after #{expected_seq - 1}"
            report.breaks.append(Break(min(seq, expected_seq), f"the chain is broken: {what} (removed or inserted outside Parley)", rec))
        elif prev_hash != prev:
            report.breaks.append(Break(seq, f"the chain is broken at entry #{seq}: it does not follow entry #{seq - 1} (an entry was changed, inserted or removed)", rec))
        if entry_hash(seq, at, rec, kind, who, run_id, content, prev_hash) != entry or content_hash(state) != content:
            report.breaks.append(Break(seq, f"chain entry #{seq} ({kind} of recording {_short(rec)}) was edited after it was written", rec))
        expected_seq, prev = seq + 1, entry
        latest[rec] = (seq, kind, at, state)
        by_seq[seq] = (rec, kind)
    if entries:
        report.head = (entries[-1][0], entries[-1][9])
    if anchor is not None:
        seq, digest = anchor
        found = next((e for e in entries if e[0] == seq), None)
        if found is None or not found[9].startswith(digest.lower()):
            report.breaks.append(Break(seq, f"the anchor #{seq}:{digest[:16]} no longer matches: the chain was rewritten from entry #{seq} or earlier"))

    tables = chained_tables(con)
    actual = states(con, tables)
    for rec, (seq, kind, at, state) in latest.items():
        got = actual.pop(rec, {})
        if kind in DELETION_KINDS and not state:
            report.deleted += 1
        else:
            report.recordings += 1
        if got != state:
            report.breaks.append(Break(seq, f"recording {_short(rec)} changed outside Parley after chain entry #{seq} ({kind}, {at:%Y-%m-%d %H:%M}): {_difference(state, got)}", rec))
    for rec, got in actual.items():
        report.breaks.append(Break(math.inf, f"recording {_short(rec)} has rows no chain entry covers ({', '.join(sorted(got))}): inserted outside Parley, or stored before the chain existed (then run `parley verify --baseline` once)", rec))

    if audio:
        for rec, role, path, digest in con.execute("SELECT recording_id, role, path, sha256 FROM archived_files ORDER BY recording_id, role, path").fetchall():
            report.files_checked += 1
            seq = latest.get(rec, (math.inf,))[0]
            file = Path(path)
            if not file.is_file():
                report.breaks.append(Break(seq, f"the archived {role} file of recording {_short(rec)} is missing: {path}", rec))
            elif _file_sha256(file) != digest:
                report.breaks.append(Break(seq, f"the archived {role} file of recording {_short(rec)} was changed or replaced: {path}", rec))

    stones = con.execute("SELECT recording, chain_seq, kind, pending_files FROM tombstones WHERE recording IS NOT NULL").fetchall()
    covered = set()
    for rec, seq, kind, pending in stones:
        if by_seq.get(seq) != (rec, kind):
            report.breaks.append(Break(seq if seq is not None else math.inf, f"a {kind} tombstone of recording {_short(rec)} names chain entry #{seq}, which is not that deletion", rec))
        covered.add(seq)
        if pending:
            report.pending_files += len(json.loads(pending) if isinstance(pending, str) else pending)
    for seq, (rec, kind) in by_seq.items():
        if kind in DELETION_KINDS and seq not in covered:
            report.breaks.append(Break(seq, f"chain entry #{seq} records the {kind} of recording {_short(rec)} but its tombstone is gone", rec))
    report.breaks.sort()
    return report


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    return _file_sha256(Path(path))
