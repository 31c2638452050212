"""Getting files in and out of the inbox: listing, stability, claiming, metadata, archive, quarantine.

A file is *claimed* by an atomic rename into ``<its folder>/.parley-claims/<node>__<pid>__<start>/``,
so two watchers (or a manual run beside a scheduled one) never process the same drop. Beside the
folder, ``<node>__<pid>__<start>.lease`` is the claim's lease: its owner's heartbeat keeps it fresh
(``pipeline.leases``). ``recover_claims`` hands back to the inbox the claims of a process that died
on this machine at once, and those whose lease ran out (an owner on any machine that stopped
beating: killed, powered off, cut off) after the lease.

Two different files can hold the same bytes (a re-sent recording). Once a file's content hash is
known, its worker takes a *content lock*, ``<inbox>/.parley-content/<sha256>`` (created
exclusively, holding the owner's tag), so another worker that claimed a copy at the same moment
leaves it in the inbox instead of transcribing it too; on its next poll the copy is recorded as a
duplicate. A content lock is a lease too (the owner touches it); locks of processes that died, or
whose lease ran out, are removed by ``recover_claims``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import leases
from .errors import TerminalError, TransientError
from .records import METADATA_FIELDS, RecordingMeta

CLAIMS_DIR = ".parley-claims"
CONTENT_DIR = ".parley-content"
NAME_MAX = 255
"""Longest file name (bytes) most file systems take."""
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", "~")
SIDECAR_SUFFIX = ".json"
ERROR_SUFFIX = ".error.txt"


@dataclass
class Drop:
    """One file taken from the inbox (or given on the command line) for processing."""

    path: Path
    """Where the file is now (inside a claims folder once claimed)."""
    source_name: str
    source_dir: Path
    received_at: datetime
    sidecar: Path | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    meta: RecordingMeta = field(default_factory=RecordingMeta)
    metadata_source: str = "none"


def node_name() -> str:
    """This machine's name in claims: ``PARLEY_NODE``, else the host name."""
    return os.environ.get("PARLEY_NODE") or socket.gethostname()


def owner_tag() -> str:
    """``node__pid__start``: the start time tells a live claimer from a later process with the same
    pid (a restarted container's watcher is often pid 1 again)."""
    pid = os.getpid()
    return f"{node_name()}__{pid}__{_started(pid)}"


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, from /proc), or '0' where unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "0"


def is_candidate(path: Path) -> bool:
    """A file that could be a recording: not hidden, not a sidecar, not half-written."""
    name = path.name
    return (
        path.is_file()
        and not name.startswith(".")
        and not name.lower().endswith(SIDECAR_SUFFIX)
        and not name.lower().endswith(ERROR_SUFFIX)
        and not name.lower().endswith(PARTIAL_SUFFIXES)
    )


def list_inbox(folder: Path) -> list[Path]:
    """Candidate files under ``folder`` (recursively, skipping hidden folders), oldest first."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            path = Path(root) / name
            if is_candidate(path):
                found.append(path)
    return sorted(found, key=lambda p: (_mtime(p), str(p)))


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files named directly plus candidates inside named folders."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(list_inbox(path))
        elif path.exists():
            out.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder. Fix: check the path")
    return out


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


class StabilityTracker:
    """Says when a growing file has stopped growing: same size and mtime for ``stable_s``."""

    def __init__(self, stable_s: float):
        self.stable_s = stable_s
        self._seen: dict[Path, tuple[int, int, float]] = {}

    def ready(self, paths: list[Path]) -> list[Path]:
        now = time.monotonic()
        ready, seen = [], {}
        for path in paths:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            key = (st.st_size, st.st_mtime_ns)
            previous = self._seen.get(path)
            since = previous[2] if previous and previous[:2] == key else now
            seen[path] = (*key, since)
            quiet_for = max(now - since, time.time() - st.st_mtime)
            if quiet_for >= self.stable_s:
                ready.append(path)
        self._seen = seen
        return ready


def sidecar_for(path: Path) -> Path | None:
    """``NAME.json`` (or ``NAME.ext.json``) beside the recording, if any."""
    for candidate in (path.with_suffix(SIDECAR_SUFFIX), path.with_name(path.name + SIDECAR_SUFFIX)):
        if candidate.is_file():
            return candidate
    return None


def claim(path: Path, owner: str | None = None, lease_s: float | None = None, run: str | None = None) -> Drop | None:
    """Atomically take ``path`` (and its sidecar); None when another process got it first.

    The claim's lease (``lease_s``, default 60 s) is renewed by this process's heartbeat when the
    claim is its own; ``run`` (a Prefect flow run id) is noted in the lease, so whoever takes the
    file back after the lease can say which run was lost."""
    me = owner_tag()
    owner = owner or me
    claims = path.parent / CLAIMS_DIR / owner
    with _LEASE_LOCK:  # the lease exists while the folder holds a file (see settle_claim)
        try:
            claims.mkdir(parents=True, exist_ok=True)
            _note_claim(claims, path.name, lease_s or leases.DEFAULT_LEASE_S, run, beat=owner == me)
        except OSError as exc:
            raise TransientError(f"cannot create the claims folder {claims} ({exc.strerror})", fix="make the inbox folder writable", path=path, stage="claim") from exc
        sidecar = sidecar_for(path)
        target = claims / path.name
        try:
            os.rename(path, target)
        except FileNotFoundError:
            _drop_lease_if_idle(claims)
            return None
        except OSError as exc:
            _drop_lease_if_idle(claims)
            raise TransientError(f"cannot move the file into {claims} ({exc.strerror})", fix="make the inbox folder writable", path=path, stage="claim") from exc
        moved_sidecar = None
        if sidecar is not None:
            moved_sidecar = claims / sidecar.name
            try:
                os.rename(sidecar, moved_sidecar)
            except FileNotFoundError:
                moved_sidecar = None
    return Drop(
        path=target,
        source_name=path.name,
        source_dir=path.parent,
        received_at=datetime.fromtimestamp(_mtime(target) or time.time(), tz=timezone.utc),
        sidecar=moved_sidecar,
    )


def release(drop: Drop) -> None:
    """Give a claimed file back to its folder (after a transient failure)."""
    _move(drop.path, drop.source_dir / drop.source_name)
    if drop.sidecar is not None and drop.sidecar.exists():
        _move(drop.sidecar, drop.source_dir / drop.sidecar.name)
    settle_claim(drop)


_LEASE_LOCK = threading.Lock()


def _note_claim(claims: Path, name: str, lease_s: float, run: str | None, beat: bool) -> None:
    """Create or update the lease beside the claims folder ``claims``; start beating it if ours.
    (Called holding ``_LEASE_LOCK``.)"""
    lease = claims.with_name(claims.name + leases.LEASE_SUFFIX)
    info = leases.read_lease(lease) or {}
    runs = {k: v for k, v in (info.get("runs") or {}).items() if (claims / k).exists()}  # files still held
    if run:
        runs[name] = run
    leases.write_lease(lease, {"owner": claims.name, "node": node_name(), "pid": os.getpid(), "lease_s": lease_s, "runs": runs})
    if beat:
        leases.HEARTBEAT.hold(lease, lease_s)


def settle_claim(drop: Drop) -> None:
    """The claimed file has left its claims folder (archived, quarantined, discarded, handed
    back): when the folder holds nothing more, its lease and the folder go too."""
    folder = drop.path.parent
    if folder.parent.name != CLAIMS_DIR:
        return  # not claimed (--copy)
    with _LEASE_LOCK:
        _drop_lease_if_idle(folder)


def _drop_lease_if_idle(folder: Path) -> None:
    try:
        if any(folder.iterdir()):
            return
    except FileNotFoundError:
        pass
    lease = folder.with_name(folder.name + leases.LEASE_SUFFIX)
    leases.HEARTBEAT.release(lease)
    lease.unlink(missing_ok=True)
    _rmdir_quiet(folder)


def claim_lost(drop: Drop) -> bool:
    """Whether another process took ``drop`` back after this process's lease ran out (it is
    no longer where this process claimed it)."""
    return not drop.path.exists()


ExpiredFn = Callable[[str, dict], None]
"""``on_expired(owner, lease)``: called for each owner whose claims are handed back (its lease's
JSON: ``runs`` maps the file names to the flow runs that held them)."""


def recover_claims(folder: Path, on_expired: ExpiredFn | None = None) -> list[Path]:
    """Hand back files claimed by processes that are gone, in the inbox and in its subfolders (a
    claim sits beside the file it took): at once for a process of this machine that no longer
    runs, after its lease for an owner anywhere that stopped renewing it."""
    returned: list[Path] = []
    node = node_name()
    bases = [Path(root) / CLAIMS_DIR for root, dirs, _ in os.walk(folder) if CLAIMS_DIR in dirs]
    for base in bases:
        for entry in sorted(base.iterdir()):
            if not entry.is_dir():
                if entry.name.endswith(leases.LEASE_SUFFIX) and not entry.with_name(entry.name[: -len(leases.LEASE_SUFFIX)]).exists():
                    if leases.expired(entry):
                        entry.unlink(missing_ok=True)  # an owner's lease whose claims are all gone
                continue
            lease = entry.with_name(entry.name + leases.LEASE_SUFFIX)
            info = leases.read_lease(lease)
            if not (_dead_here(entry.name, node) or _lease_ran_out(entry, lease, info)):
                continue
            for item in sorted(entry.iterdir()):
                dest = base.parent / item.name
                _move(item, dest)
                returned.append(dest)
            if on_expired is not None:
                on_expired(entry.name, info or {})
            _rmdir_quiet(entry)
            lease.unlink(missing_ok=True)
    _recover_content_locks(folder, node)
    return returned


def _lease_ran_out(owner_dir: Path, lease: Path, info: dict | None) -> bool:
    """No heartbeat for the owner's lease; a claim without a lease file (an older Parley) counts
    from the folder's own time."""
    if info is None:
        return leases.expired(owner_dir, leases.DEFAULT_LEASE_S)
    return leases.expired(lease, float(info.get("lease_s") or leases.DEFAULT_LEASE_S))


def lock_content(inbox: Path, sha256: str, owner: str | None = None, lease_s: float | None = None) -> str | None:
    """Take the content lock for ``sha256``; None when it is ours now (or already was), else the
    tag of the live owner that holds it. The lock file holds the owner's tag and lease; the owner's
    heartbeat keeps its time fresh."""
    me = owner or owner_tag()
    lease_s = lease_s or leases.DEFAULT_LEASE_S
    folder = Path(inbox) / CONTENT_DIR
    path = folder / sha256
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            holder = _lock_holder(path)[0]
        except FileNotFoundError:  # released between the two calls: try once more
            return lock_content(inbox, sha256, me, lease_s)
        return None if holder == me else holder or "an unknown worker"
    except OSError as exc:
        raise TransientError(f"cannot write the content lock in {folder} ({exc.strerror})", fix="make the inbox folder writable", path=path, stage="claim") from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{me}\n{lease_s:g}\n")
    if me == owner_tag():
        leases.HEARTBEAT.hold(path, lease_s)
    return None


def unlock_content(inbox: Path, sha256: str, owner: str | None = None) -> None:
    """Drop the content lock for ``sha256`` if ``owner`` (default: this process) holds it."""
    path = Path(inbox) / CONTENT_DIR / sha256
    leases.HEARTBEAT.release(path)
    try:
        if _lock_holder(path)[0] == (owner or owner_tag()):
            path.unlink()
    except OSError:
        pass


def _lock_holder(path: Path) -> tuple[str, float]:
    """(owner tag, lease seconds) written in a content lock."""
    lines = path.read_text().split()
    try:
        lease_s = float(lines[1]) if len(lines) > 1 else leases.DEFAULT_LEASE_S
    except ValueError:
        lease_s = leases.DEFAULT_LEASE_S
    return (lines[0] if lines else ""), lease_s


def _recover_content_locks(inbox: Path, node: str) -> None:
    """Remove content locks held by processes of this machine that no longer run, or whose
    owner's lease ran out."""
    folder = Path(inbox) / CONTENT_DIR
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        try:
            owner, lease_s = _lock_holder(path)
        except OSError:
            continue
        if _dead_here(owner, node) or leases.expired(path, lease_s):
            path.unlink(missing_ok=True)


def _dead_here(owner: str, host: str) -> bool:
    """Whether ``owner`` (an ``owner_tag``) is a process on ``host`` (this machine) that no longer runs."""
    owner_host, pid, started = _parse_owner(owner)
    return owner_host == host and pid.isdigit() and not _alive(int(pid), started)


def _parse_owner(name: str) -> tuple[str, str, str | None]:
    """(host, pid, start) from ``host__pid__start``, or (host, pid, None) from the older ``host__pid``."""
    parts = name.rsplit("__", 2)
    if len(parts) == 3 and parts[1].isdigit():
        return parts[0], parts[1], parts[2]
    host, _, pid = name.rpartition("__")
    return host, pid, None


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether the process that made a claim still runs (same pid and, when known, same start)."""
    if pid == os.getpid():
        return started == _started(pid)  # an earlier process with our pid: its claims are stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or started == "0" or started == _started(pid)


def sha256_file(path: Path, chunk: int = 1 << 20) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def read_metadata(drop: Drop, filename_pattern: str) -> tuple[RecordingMeta, str]:
    """Metadata from the sidecar when there is one, else from the file name; may be empty."""
    if drop.sidecar is not None:
        return parse_sidecar(drop.sidecar, drop.source_name), "sidecar"
    fields = parse_filename(drop.source_name, filename_pattern)
    if fields:
        return _meta_from_mapping(fields, drop.source_name), "filename"
    return RecordingMeta(), "none"


def parse_filename(name: str, pattern: str) -> dict[str, str]:
    match = re.search(pattern, Path(name).stem)
    if not match:
        return {}
    return {k: v for k, v in match.groupdict().items() if v}


def parse_sidecar(path: Path, audio_name: str) -> RecordingMeta:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TerminalError(
            f"sidecar {path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            fix=f"correct {path.name} or remove it to process {audio_name} without metadata",
            path=audio_name,
            stage="ingest",
        ) from exc
    except UnicodeDecodeError as exc:
        raise TerminalError(f"sidecar {path.name} is not UTF-8 text", fix=f"save {path.name} as UTF-8 JSON", path=audio_name, stage="ingest") from exc
    if not isinstance(data, dict):
        raise TerminalError(f"sidecar {path.name} holds a JSON {type(data).__name__}, not an object", fix='write it as {"staff_id": "...", ...}', path=audio_name, stage="ingest")
    return _meta_from_mapping(data, audio_name, source=path.name)


def _meta_from_mapping(data: dict, audio_name: str, source: str = "file name") -> RecordingMeta:
    known = {k: data[k] for k in METADATA_FIELDS if data.get(k) not in (None, "")}
    extra = {k: v for k, v in data.items() if k not in METADATA_FIELDS and k != "n_speakers"}
    meta = RecordingMeta(**{k: (str(v) if k != "started_at" else v) for k, v in known.items()}, extra=extra)
    if "started_at" in known:
        meta.started_at = parse_time(known["started_at"], audio_name, source)
    if data.get("n_speakers") not in (None, ""):
        try:
            meta.n_speakers = int(data["n_speakers"])
        except (TypeError, ValueError) as exc:
            raise TerminalError(f"n_speakers in {source} is {data['n_speakers']!r}, not a whole number", fix="give n_speakers as 1-6 or leave it out", path=audio_name, stage="ingest") from exc
    return meta


def parse_time(value, audio_name: str, source: str) -> datetime:
    text = str(value).strip()
    for fmt in ("%Y%m%dT%H%M%S", "%Y%m%d_%H%M%S", "%Y%m%d%H%M%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TerminalError(
            f"started_at {text!r} in {source} is not a date and time",
            fix="use ISO-8601 such as 2026-11-02T09:15:00Z or 20261102T091500",
            path=audio_name,
            stage="ingest",
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


REDACTED_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
"""Formats a redacted copy is written in; others get ``.flac`` added."""


def archive_path(archive: Path, drop: Drop, when: datetime, *, redacted: bool = False) -> Path:
    """``archive/YYYY/MM/DD/NAME``; a different file already there gets the hash in its name.

    ``redacted``: the archive gets a silenced copy, written as NAME (or NAME.flac for formats
    Parley does not write)."""
    folder = archive / f"{when:%Y}" / f"{when:%m}" / f"{when:%d}"
    name = fit_name(drop.source_name, room=19 + len(SIDECAR_SUFFIX))  # room for the hash, .flac and NAME.json
    if redacted and Path(name).suffix.lower() not in REDACTED_SUFFIXES:
        name += ".flac"
    target = folder / name
    if target.exists() and drop.sha256 and sha256_file(target)[0] != drop.sha256:
        target = folder / f"{Path(name).stem}.{drop.sha256[:12]}{Path(name).suffix}"
    return target


def move_to_archive(drop: Drop, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    _move(drop.path, target)
    if drop.sidecar is not None and drop.sidecar.exists():
        _move(drop.sidecar, target.with_name(target.name + SIDECAR_SUFFIX))
    settle_claim(drop)
    return target


def discard(drop: Drop) -> None:
    """Remove a byte-identical duplicate (the archive already holds this content)."""
    drop.path.unlink(missing_ok=True)
    if drop.sidecar is not None:
        drop.sidecar.unlink(missing_ok=True)
    settle_claim(drop)


def quarantine(drop: Drop, folder: Path, message: str, details: dict) -> Path:
    """Move the file (and sidecar) to quarantine with ``NAME.error.txt``; returns the new path."""
    name = fit_name(drop.source_name, room=22 + len(ERROR_SUFFIX))  # room for a time stamp and the note
    target = folder / name
    if target.exists():
        target = folder / f"{Path(name).stem}.{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}{Path(name).suffix}"
    note = target.with_name(target.name + ERROR_SUFFIX)
    lines = [message, ""] + [f"{k}: {v}" for k, v in details.items() if v is not None]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        note.write_text("\n".join(lines) + "\n", encoding="utf-8")  # the note first: a full disk stops here
        if drop.path.exists():
            _move(drop.path, target)
        if drop.sidecar is not None and drop.sidecar.exists():
            _move(drop.sidecar, target.with_name(target.name + SIDECAR_SUFFIX))
        settle_claim(drop)
    except OSError as exc:
        if not target.exists():
            try:
                note.unlink(missing_ok=True)
            except OSError:
                pass
        raise TransientError(
            f"cannot move the file into the quarantine folder {folder} ({exc.strerror or exc})",
            fix="free disk space or make the quarantine folder writable; the file is handed back to the inbox",
            path=drop.source_name,
            stage="quarantine",
        ) from exc
    return target


def fit_name(name: str, room: int = 0) -> str:
    """``name``, or a shortened one (its stem cut, a hash of the whole name added) when ``room``
    more bytes would not fit in a file name."""
    if len(name.encode()) + room <= NAME_MAX:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix.encode()) <= 16 else ""
    tag = "~" + hashlib.sha256(name.encode()).hexdigest()[:8]
    budget = NAME_MAX - room - len(suffix.encode()) - len(tag)
    stem = name[: len(name) - len(suffix)].encode()[:budget].decode("utf-8", "ignore")
    return f"{stem}{tag}{suffix}"


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another filesystem, copy then remove
            raise
        tmp = dst.with_name(f".parley-tmp-{os.getpid()}-{time.monotonic_ns()}")
        try:
            shutil.copy2(src, tmp)
            os.replace(tmp, dst)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk must not leave half a copy behind
            raise
        os.unlink(src)


def _rmdir_quiet(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
