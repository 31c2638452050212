"""`parley retention apply`: delete what the retention policy makes due, never what is held.

For every stored recording: its periods (``policy.Policy.periods``: the first matching rule or
the default, lengthened where a complaint or a failed rule was found), the day each part falls
due, and what of it is still there. Due parts are deleted one recording at a time, each in one
step (``erasure.delete_parts``: rows, chain entry and tombstone in one transaction; files after).
A run with nothing due does nothing and succeeds; a run with no database creates none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from ..store import table_names
from .erasure import TRANSCRIPT_TABLES, Deleted, delete_parts, remove_pending
from .holds import holds_on
from .policy import Policy

COMPLAINT = "EXISTS (SELECT 1 FROM tags t WHERE t.recording_id = r.id AND t.utterance_index IS NULL AND t.kind = 'complaint' AND t.label = 'yes')"
"""A complaint was found in the interaction (the interaction-level complaint tag)."""
FAILED_RULE = "EXISTS (SELECT 1 FROM findings f WHERE f.recording_id = r.id AND NOT f.passed AND list_contains($categories, f.category))"
"""A rule of the policy's failed_rule categories failed."""
START = "CAST(coalesce(r.started_at, r.received_at, r.processed_at) AS DATE)"


@dataclass
class Due:
    """A recording with something due (or held back)."""

    recording: str
    source_name: str | None
    start: date
    why: str
    parts: list[str]
    held: list[int] = field(default_factory=list)


@dataclass
class RetentionRun:
    today: date
    dry_run: bool
    considered: int = 0
    due: list[Due] = field(default_factory=list)
    deleted: list[Deleted] = field(default_factory=list)
    held: list[Due] = field(default_factory=list)
    files_removed: int = 0
    pending_before: int = 0
    """Files of earlier deletions still on disk when the run started (removed by this run unless dry)."""
    head: tuple[int, str] | None = None


def _present_sql(tables: set[str]) -> tuple[str, str]:
    audio = "(r.archive_path IS NOT NULL" + (" OR EXISTS (SELECT 1 FROM archived_files a WHERE a.recording_id = r.id))" if "archived_files" in tables else ")")
    parts = [f"EXISTS (SELECT 1 FROM {t} x WHERE x.recording_id = r.id)" for t in TRANSCRIPT_TABLES if t in tables]
    return audio, "(" + (" OR ".join(parts) or "false") + ")"


def plan(con, policy: Policy, today: date) -> tuple[int, list[Due]]:
    """(recordings considered, those with a part due on ``today``, held ones included)."""
    tables = table_names(con)
    audio, transcript = _present_sql(tables)
    complaint = COMPLAINT if "tags" in tables else "false"
    failed = FAILED_RULE if "findings" in tables else "false"
    rows = con.execute(
        f"""SELECT r.id, r.source_name, r.channel, r.team, r.site, r.direction, {START} AS start,
                   {complaint} AS complaint, {failed} AS failed, {audio} AS has_audio, {transcript} AS has_transcript
            FROM recordings r ORDER BY start, r.id""",
        {"categories": list(policy.failed_categories)} if failed != "false" else {},
    ).fetchall()
    due: list[Due] = []
    for rid, source, channel, team, site, direction, start, complaint_found, failed_found, has_audio, has_transcript in rows:
        if start is None:
            continue
        reasons = {name for name, found in (("complaint", complaint_found), ("failed_rule", failed_found)) if found}
        why, periods = policy.periods({"channel": channel, "team": team, "site": site, "direction": direction}, reasons)
        ends = {part: period.due(start) for part, period in periods.items()}
        ripe = [p for p, day in ends.items() if day is not None and day <= today]
        if "record" in ripe:
            parts = ["record"]
        else:
            parts = [p for p in ripe if (p == "audio" and has_audio) or (p == "transcript" and has_transcript)]
        if parts:
            kept = ", ".join(f"{p} {periods[p]}" for p in parts)
            due.append(Due(rid, source, start, f"{why} ({kept})", parts))
    held = holds_on(con, [d.recording for d in due])
    for d in due:
        d.held = held.get(d.recording, [])
    return len(rows), due


def apply(store, policy: Policy, *, today: date | None = None, dry_run: bool = False, actor: str | None = None,
          archive_root: Path | None = None) -> RetentionRun:
    """Delete what is due (``dry_run``: only say what would go). Works on a database that does not
    exist (nothing is due) without creating it."""
    run = RetentionRun(today or datetime.now(timezone.utc).date(), dry_run)
    if not Path(store.path).exists():
        return run
    if dry_run:
        with store.connect(read_only=True) as con:
            if not _has_governance(con):  # a database from before migration 0008, opened read-only
                run.considered, run.due = plan_without_holds(con, policy, run.today)
            else:
                run.considered, run.due = plan(con, policy, run.today)
                run.pending_before = _pending(con)
                run.head = _head(con)
        run.held = [d for d in run.due if d.held]
        return run
    with store.connect() as con:
        run.pending_before = _pending(con)
        run.files_removed = remove_pending(con)
        run.considered, run.due = plan(con, policy, run.today)
        run.held = [d for d in run.due if d.held]
        for d in run.due:
            if d.held:
                continue
            done = delete_parts(con, d.recording, d.parts, kind="retention", reason=f"retention policy {policy.digest}: {d.why}",
                                actor=actor, period_from=d.start, archive_root=archive_root)
            if done is None:  # held since the plan was made
                d.held = holds_on(con, [d.recording]).get(d.recording, [])
                if d.held:
                    run.held.append(d)
                continue
            run.deleted.append(done)
        run.files_removed += remove_pending(con)
        run.head = _head(con)
    return run


def _has_governance(con) -> bool:
    return "legal_holds" in table_names(con)


def plan_without_holds(con, policy: Policy, today: date) -> tuple[int, list[Due]]:
    """``plan`` on a database that has no holds table yet (nothing can be held there)."""
    con.execute("CREATE TEMP TABLE legal_holds (hold_id INTEGER, scope VARCHAR, target VARCHAR, released_at TIMESTAMP)")
    return plan(con, policy, today)


def _pending(con) -> int:
    import json

    rows = con.execute("SELECT pending_files FROM tombstones WHERE pending_files IS NOT NULL").fetchall()
    return sum(len(json.loads(p) if isinstance(p, str) else p) for (p,) in rows)


def _head(con) -> tuple[int, str] | None:
    row = con.execute("SELECT seq, entry_sha256 FROM record_chain ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else None
