"""Staging for many workers: results as Parquet files, merged into DuckDB by one loader.

DuckDB takes one writer process at a time, and only on one machine. With several workers (a
Prefect work pool, processes on more than one machine) each worker writes through a
``StagingWriter`` instead of a ``Store``: every ``write_recording`` or ``append`` becomes one
*batch* folder ``<staging>/<recording_id>/<run_id>/`` (appends: ``<staging>/_appends/<id>/``)
holding one ``<table>.parquet`` per table and a ``manifest.json``. A batch is written in
``<staging>/.tmp/`` and renamed into place, so a batch is either whole or absent.

``load_staged`` (the ``load-staging`` flow) merges the batches into DuckDB oldest first, one
transaction per batch with the same replace semantics as ``Store.write_recording``, records the
batch id in ``staging_loads`` in the same transaction and only then removes the folder: a crash
at any point loads nothing twice and loses nothing.

Duplicates across machines: the workers may not reach the database (it sits on the loader's
disk), so every staged recording also leaves ``<staging>/_index/<recording_id>`` (its status and
archive path), kept after the load: a re-sent copy arriving on any worker, at any later time, is
recognised there and recorded as a duplicate. And the loader never replaces a stored recording
with a batch from another run (a copy processed twice in a race): it keeps the stored one and
records the batch's drop as a duplicate.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import duckdb

from .errors import TransientError
from .governance.chain import after_staged_load
from .settings import Settings
from .store import METADATA_COLUMNS, REDACTION_SPANS, VERSIONED_KEYS, QueryResult, Store, _insert, _rollback, _sql_value, merge_metadata, migrations

TMP_DIR = ".tmp"
APPENDS_DIR = "_appends"
INDEX_DIR = "_index"
MANIFEST = "manifest.json"
LEDGER = "staging_loads"
STALE_TMP_S = 3600.0
"""A half-written batch older than this was left by a writer that died; the loader removes it."""


class StagingWriter:
    """Writes what ``Store`` would write as Parquet batches under ``staging_dir``.

    Same surface as ``Store`` for the processor: ``write_recording``, ``append``,
    ``recording_state``, ``query`` and ``connect``. ``db`` (optional) is the database the loader
    fills; reads go to it read-only (to an empty database with Parley's schema while it does not
    exist), so a file already loaded is still seen as a duplicate.
    """

    def __init__(self, staging_dir: str | Path, db: str | Path | None = None, lock_timeout_s: float = 60.0):
        self.staging_dir = Path(staging_dir)
        self.db = Store(db, lock_timeout_s) if db else None
        self._errors_seen: set[tuple] = set()

    def write_recording(
        self,
        recording: dict[str, Any] | None,
        tables: dict[str, list[dict[str, Any]]],
        *,
        recording_id: str,
        run: dict[str, Any] | None = None,
        drop: dict[str, Any] | None = None,
        replace_all: bool = True,
    ) -> Path:
        """Stage one recording's rows; the loader applies them as ``Store.write_recording`` does."""
        run_id = (run or {}).get("run_id") or (recording or {}).get("run_id") or str(uuid.uuid4())
        rows = {t: [{**r, "recording_id": recording_id, "run_id": r.get("run_id", run_id)} for r in rs] for t, rs in tables.items()}
        history = {"recordings": [recording] if recording else [], "runs": [run] if run else [], "drops": [drop] if drop else []}
        manifest = {
            "kind": "recording",
            "recording_id": recording_id,
            "run_id": run_id,
            "replace_all": replace_all,
            "tables": list(tables),
            "state": [recording.get("status"), _text(recording.get("archive_path"))] if recording else None,
        }
        batch = self._write_batch(Path(recording_id) / run_id, manifest, {**rows, **history})
        if manifest["state"]:
            self._index(recording_id, manifest["state"], run_id)
        return batch

    def _index(self, recording_id: str, state: list, run_id: str) -> None:
        """Note ``recording_id`` in the duplicate index every worker reads (kept after loading)."""
        folder = self.staging_dir / INDEX_DIR
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{recording_id}.{uuid.uuid4().hex}"
            tmp.write_text(json.dumps({"state": state, "run_id": run_id}), encoding="utf-8")
            os.replace(tmp, folder / recording_id)
        except OSError as exc:
            raise TransientError(f"cannot write the duplicate index in {folder} ({exc.strerror})", fix="free disk space or make the staging folder writable (PARLEY_STAGING_DIR)", stage="store") from exc

    def record_error(self, row: dict[str, Any]) -> None:
        """Stage an ``errors`` row; a transient one this worker staged already (same file, stage
        and message) is not staged again."""
        if row.get("kind") == "transient":
            key = tuple(row.get(k) for k in ("source_name", "source_path", "recording_id", "stage", "message"))
            if key in self._errors_seen:
                return
            self._errors_seen.add(key)
        self.append("errors", [{**row, "attempts": 1, "last_attempt_at": row.get("occurred_at")}])

    def merge_metadata(self, recording_id: str, fields: dict[str, Any], extra: dict[str, Any], source: str) -> list[str]:
        """Stage a duplicate's metadata; the loader fills the stored recording's empty fields with
        it (``Store.merge_metadata``). Returns the fields it may fill."""
        fields = {k: _text(_sql_value(v)) if k == "started_at" else v for k, v in fields.items()}  # naive UTC, as stored
        manifest = {"kind": "metadata", "tables": [], "recording_id": recording_id, "fields": fields, "extra": extra, "source": source}
        self._write_batch(Path(APPENDS_DIR) / str(uuid.uuid4()), manifest, {})
        return [k for k in fields if k in METADATA_COLUMNS]

    def append(self, table: str, rows: list[dict[str, Any]]) -> Path | None:
        """Stage rows (drops, errors, runs) to be appended."""
        if not rows:
            return None
        batch_id = str(uuid.uuid4())
        return self._write_batch(Path(APPENDS_DIR) / batch_id, {"kind": "append", "tables": [table]}, {table: rows}, batch_id)

    def recording_state(self, recording_id: str) -> tuple[str, str | None] | None:
        """(status, archive_path) of the newest staged batch of ``recording_id``, else from the
        duplicate index, else from the database."""
        staged = [m for m in (_read_manifest(d) for d in _dirs(self.staging_dir / recording_id)) if m and m.get("state")]
        if staged:
            newest = max(staged, key=lambda m: m["created_ns"])
            return newest["state"][0], newest["state"][1]
        try:
            indexed = json.loads((self.staging_dir / INDEX_DIR / recording_id).read_text(encoding="utf-8"))["state"]
            return indexed[0], indexed[1]
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, KeyError, TypeError):
            pass
        try:
            rows = self.query("SELECT status, archive_path FROM recordings WHERE id = ? ORDER BY processed_at DESC LIMIT 1", [recording_id]).rows
        except duckdb.CatalogException:  # a database the loader has not migrated yet
            return None
        return (rows[0][0], rows[0][1]) if rows else None

    def redaction_spans(self, recording_id: str) -> list[tuple[float, float]]:
        """Redacted (start, end) spans of ``recording_id``: from its newest staged batch when it is
        not loaded yet (so a retried archive move still silences them), else from the database."""
        staged = [(m["created_ns"], d) for d in _dirs(self.staging_dir / recording_id) if (m := _read_manifest(d)) and m.get("state")]
        if staged:
            batch = max(staged)[1] / "redactions.parquet"
            if not batch.exists():
                return []
            return [tuple(r) for r in duckdb.execute("SELECT start_s, end_s FROM read_parquet(?)", [str(batch)]).fetchall()]
        return [tuple(r) for r in self.query(REDACTION_SPANS, [recording_id]).rows]

    @contextmanager
    def connect(self, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to the loaded database: workers never write it."""
        if self.db is not None and self.db.path.exists():
            with self.db.connect(read_only=True) as con:
                yield con
            return
        con = _schema_only()
        try:
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: list | None = None) -> QueryResult:
        """One read-only query of the loaded database."""
        with self.connect() as con:
            cur = con.execute(sql, params or [])
            return QueryResult([d[0] for d in cur.description] if cur.description else [], cur.fetchall())

    # -- writing a batch ---------------------------------------------------------------------
    def _write_batch(self, where: Path, manifest: dict, tables: dict[str, list[dict]], batch_id: str | None = None) -> Path:
        batch_id = batch_id or str(uuid.uuid4())
        tmp = self.staging_dir / TMP_DIR / batch_id
        final = self.staging_dir / where
        try:
            tmp.mkdir(parents=True)
            files = _write_parquet(tmp, {t: rs for t, rs in tables.items() if rs})
            manifest = {
                **manifest,
                "batch_id": batch_id,
                "created_ns": time.time_ns(),
                "files": files,
                "writer": f"{socket.gethostname()}__{os.getpid()}",
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, default=str), encoding="utf-8")
            if final.exists():  # the same run staged twice (a retried stage): keep both, newest wins
                final = final.with_name(f"{final.name}-{batch_id[:8]}")
            _rename_into(tmp, final)
        except (OSError, duckdb.IOException) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
            raise TransientError(
                f"cannot write to the staging folder {self.staging_dir} ({reason})",
                fix="free disk space or make the staging folder writable (PARLEY_STAGING_DIR)",
                stage="store",
            ) from exc
        return final


def writer_for(settings: Settings) -> Store | StagingWriter:
    """The processor's writer: a ``StagingWriter`` when ``staging_dir`` is set, else the ``Store``.

    """
    if settings.staging_dir:
        return StagingWriter(settings.staging_dir, settings.db, settings.db_lock_timeout_s)
    return Store(settings.db, settings.db_lock_timeout_s)


# -- loading --------------------------------------------------------------------------------
@dataclass
class LoadReport:
    loaded: int = 0
    skipped: int = 0
    """Batches the ledger shows as already loaded (a crash came between commit and clean-up)."""
    failed: list[str] = field(default_factory=list)


def load_staged(store: Store, staging_dir: str | Path) -> int:
    """Merge every staged batch into ``store``, oldest first; returns how many were loaded.

    Safe to run again after a crash and beside workers that are still staging. A batch that
    cannot be loaded (e.g. staged by a newer Parley with a table this database lacks) stays in
    place and is named in the ``TransientError`` raised after all others are loaded.
    """
    return load_report(store, staging_dir).loaded


def load_report(store: Store, staging_dir: str | Path) -> LoadReport:
    """``load_staged`` with the counts of skipped and failed batches."""
    staging = Path(staging_dir)
    report = LoadReport()
    _remove_stale_tmp(staging / TMP_DIR)
    for folder, manifest in pending_batches(staging):
        try:
            if _load_batch(store, folder, manifest):
                report.loaded += 1
            else:
                report.skipped += 1
        except duckdb.Error as exc:
            report.failed.append(f"{folder.relative_to(staging)}: {str(exc).splitlines()[0]}")
            continue
        shutil.rmtree(folder, ignore_errors=True)
        _rmdir_quiet(folder.parent)
    if report.failed:
        raise TransientError(
            f"{len(report.failed)} staged batch(es) could not be loaded ({report.loaded} were); first: {report.failed[0]}",
            fix="upgrade Parley where the loader runs (its database may lack a table the workers write), then run load-staging again",
            path=staging,
            stage="load",
        )
    return report


def pending_batches(staging_dir: Path) -> list[tuple[Path, dict]]:
    """Complete batch folders under ``staging_dir`` with their manifests, oldest first."""
    found = []
    for parent in _dirs(staging_dir):
        if parent.name in (TMP_DIR, INDEX_DIR):
            continue
        for folder in _dirs(parent):
            manifest = _read_manifest(folder)
            if manifest is not None:
                found.append((folder, manifest))
    return sorted(found, key=lambda item: (item[1]["created_ns"], item[1]["batch_id"]))


def _load_batch(store: Store, folder: Path, manifest: dict) -> bool:
    """Apply one batch in one transaction; False when the ledger shows it loaded already."""
    files = {table: folder / name for table, name in manifest["files"].items()}
    with store.connect() as con:
        con.execute("BEGIN TRANSACTION")  # staging_loads comes from migration 0006
        try:
            if con.execute(f"SELECT 1 FROM {LEDGER} WHERE batch_id = ?", [manifest["batch_id"]]).fetchone():
                _rollback(con)
                return False
            stored = None
            if manifest["kind"] == "recording" and "recordings" in files:  # a recording processed (not a re-tag)
                stored = con.execute("SELECT run_id, archive_path FROM recordings WHERE id = ? LIMIT 1", [manifest["recording_id"]]).fetchone()
                if stored is not None and stored[0] == manifest["run_id"]:
                    stored = None  # the same run staged again (a retried stage): it replaces itself
            if manifest["kind"] == "metadata":
                merge_metadata(con, manifest["recording_id"], manifest["fields"], manifest["extra"], manifest["source"])
            elif stored is not None:  # another run of a recording already stored: never replace it
                _keep_stored(con, manifest, files, stored)
            else:
                if manifest["kind"] == "recording":
                    _replace(store, con, manifest, files)
                for table, path in files.items():
                    con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM read_parquet({_literal(path)})')
                after_staged_load(con, manifest, files)  # the tamper-evident chain entries of this batch
            con.execute(f"INSERT INTO {LEDGER} VALUES (?, ?)", [manifest["batch_id"], _sql_value(datetime.now(timezone.utc))])
            con.execute("COMMIT")
        except Exception:
            _rollback(con)  # a failed COMMIT has ended the transaction: keep its error, not ROLLBACK's
            raise
    return True


def _keep_stored(con, manifest: dict, files: dict[str, Path], stored: tuple) -> None:
    """A second processing of a stored recording (a copy re-sent to another worker before the
    index showed it): the stored rows stay; the batch's drop is recorded as a duplicate."""
    if "drops" not in files:
        return
    detail = f"processed again by another worker (run {manifest['run_id'][:8]}); the recording stored by run {str(stored[0])[:8]} is kept"
    archived = (manifest.get("state") or [None, None])[1]
    if archived and archived != stored[1]:
        detail += f"; this copy was archived as {archived}"
    con.execute(
        f"INSERT INTO drops BY NAME SELECT * REPLACE ('duplicate' AS outcome, ? AS detail) FROM read_parquet({_literal(files['drops'])})",
        [detail],
    )


def _replace(store: Store, con, manifest: dict, files: dict[str, Path]) -> None:
    """Clear what ``Store.write_recording`` clears before the batch's rows go in."""
    recording_id = manifest["recording_id"]
    given = manifest["tables"]
    for table in Store.replaced_tables(con, given, manifest["replace_all"]):
        keys = VERSIONED_KEYS.get(table)
        new_rows: list[dict] = []
        if keys and table in files:
            cols = ", ".join(f'"{k}"' for k in keys)
            new_rows = [dict(zip(keys, r)) for r in con.execute(f"SELECT DISTINCT {cols} FROM read_parquet({_literal(files[table])})").fetchall()]
        store._clear(con, table, recording_id, new_rows)
    if "recordings" in files:
        con.execute("DELETE FROM recordings WHERE id = ?", [recording_id])


# -- files ----------------------------------------------------------------------------------
def _write_parquet(folder: Path, tables: dict[str, list[dict]]) -> dict[str, str]:
    """Rows → ``<table>.parquet`` typed by Parley's own schema (inserted into an in-memory copy of
    it inside a transaction that is then rolled back, so the copy stays empty)."""
    with _SCHEMA_LOCK:
        con = _schema_con()
        con.execute("BEGIN TRANSACTION")
        try:
            written = {}
            for table, rows in tables.items():
                _insert(con, table, rows)
                name = f"{table}.parquet"
                con.execute(f'COPY "{table}" TO {_literal(folder / name)} (FORMAT parquet)')
                written[table] = name
            return written
        finally:
            con.execute("ROLLBACK")


_SCHEMA_LOCK = threading.Lock()
_SCHEMA_CONS: dict[int, duckdb.DuckDBPyConnection] = {}


def _schema_con() -> duckdb.DuckDBPyConnection:
    """This process's in-memory schema database (made once; per pid, so a forked worker makes its own)."""
    pid = os.getpid()
    if pid not in _SCHEMA_CONS:
        _SCHEMA_CONS[pid] = _schema_only()
    return _SCHEMA_CONS[pid]


def _schema_only() -> duckdb.DuckDBPyConnection:
    """An in-memory database with Parley's tables, empty."""
    con = duckdb.connect()
    for _, _, sql in migrations():
        con.execute(sql)
    return con


def _rename_into(src: Path, dst: Path, attempts: int = 3) -> None:
    """Rename ``src`` to ``dst``, making its parent; again if the loader removed an emptied parent meanwhile."""
    for attempt in range(attempts):
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(src, dst)
            return
        except FileNotFoundError:
            if attempt == attempts - 1 or not src.exists():
                raise


def _read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def _dirs(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _remove_stale_tmp(tmp: Path) -> None:
    for folder in _dirs(tmp):
        try:
            if time.time() - folder.stat().st_mtime > STALE_TMP_S:
                shutil.rmtree(folder, ignore_errors=True)
        except FileNotFoundError:
            pass


def _rmdir_quiet(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
