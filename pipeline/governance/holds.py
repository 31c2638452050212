"""Legal holds: while a hold is in force on a customer or a recording, retention and erasure leave
its records alone (and say so). A hold on a customer covers their recordings stored later too.

Holds live in ``legal_holds``; removing one keeps the row with who released it, when and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import ConfigError
from . import actor as current_actor

SCOPES = ("customer", "recording")
ACTIVE = "released_at IS NULL"
HELD_SQL = f"""(
    r.id IN (SELECT target FROM legal_holds WHERE scope = 'recording' AND {ACTIVE})
    OR r.customer_ref IN (SELECT target FROM legal_holds WHERE scope = 'customer' AND {ACTIVE}))"""
"""A condition on ``recordings r``: the recording is under a legal hold."""


@dataclass
class Hold:
    hold_id: int
    scope: str
    target: str
    reason: str
    placed_by: str | None
    placed_at: datetime
    released_by: str | None = None
    released_at: datetime | None = None
    release_reason: str | None = None
    recordings: int = 0
    """How many stored recordings it covers now."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def resolve_recording(con, ref: str) -> str:
    """The full id of the stored recording ``ref`` names (its id or a unique prefix of 8+ characters)."""
    ref = ref.strip().lower()
    if len(ref) < 8:
        raise ConfigError(f"recording id '{ref}' is too short", fix="give the recording id (sha256) or its first 12 characters (parley sql \"SELECT id, source_name FROM recordings\")")
    found = [r[0] for r in con.execute("SELECT id FROM recordings WHERE starts_with(id, ?)", [ref]).fetchall()]
    if not found:
        raise ConfigError(f"no stored recording {ref}", fix="check the id: parley sql \"SELECT id, source_name FROM recordings\"")
    if len(found) > 1:
        raise ConfigError(f"{len(found)} recordings start with {ref}", fix="give more of the id")
    return found[0]


def add_hold(con, scope: str, target: str, reason: str, actor: str | None = None) -> Hold:
    """Place a hold (a recording must be stored; a customer need not have recordings yet)."""
    if scope not in SCOPES:
        raise ConfigError(f"unknown hold scope '{scope}'", fix="hold a customer (--customer REF) or a recording (--recording ID)")
    if not reason.strip():
        raise ConfigError("a legal hold needs a reason", fix="pass --reason, e.g. the case or matter reference")
    if scope == "recording":
        target = resolve_recording(con, target)
    existing = con.execute(f"SELECT hold_id FROM legal_holds WHERE scope = ? AND target = ? AND {ACTIVE}", [scope, target]).fetchone()
    if existing:
        raise ConfigError(f"{scope} {target[:12] if scope == 'recording' else target} is already under legal hold H{existing[0]}", fix="see `parley hold list`")
    hold_id = con.execute("SELECT coalesce(max(hold_id), 0) + 1 FROM legal_holds").fetchone()[0]
    placed = _now()
    con.execute(
        "INSERT INTO legal_holds (hold_id, scope, target, reason, placed_by, placed_at) VALUES (?, ?, ?, ?, ?, ?)",
        [hold_id, scope, target, reason.strip(), actor or current_actor(), placed],
    )
    return next(h for h in list_holds(con, include_released=False) if h.hold_id == hold_id)


def remove_hold(con, *, hold_id: int | None = None, scope: str | None = None, target: str | None = None, reason: str, actor: str | None = None) -> list[Hold]:
    """Release holds by id, or every hold in force on ``scope``/``target``; returns them."""
    if not reason.strip():
        raise ConfigError("releasing a legal hold needs a reason", fix="pass --reason, e.g. 'case closed'")
    if scope == "recording" and target:
        target = resolve_recording(con, target)
    active = [h for h in list_holds(con, include_released=False) if (hold_id is not None and h.hold_id == hold_id) or (hold_id is None and h.scope == scope and h.target == target)]
    if not active:
        what = f"H{hold_id}" if hold_id is not None else f"{scope} {target}"
        raise ConfigError(f"no legal hold in force on {what}", fix="see `parley hold list`")
    con.execute(
        f"UPDATE legal_holds SET released_by = ?, released_at = ?, release_reason = ? WHERE hold_id IN (SELECT unnest(?::INTEGER[])) AND {ACTIVE}",
        [actor or current_actor(), _now(), reason.strip(), [h.hold_id for h in active]],
    )
    return active


def list_holds(con, include_released: bool = False) -> list[Hold]:
    rows = con.execute(
        f"""SELECT h.hold_id, h.scope, h.target, h.reason, h.placed_by, h.placed_at, h.released_by, h.released_at, h.release_reason,
                   (SELECT count(*) FROM recordings r WHERE (h.scope = 'recording' AND r.id = h.target) OR (h.scope = 'customer' AND r.customer_ref = h.target))
            FROM legal_holds h {'' if include_released else 'WHERE ' + ACTIVE} ORDER BY h.hold_id"""
    ).fetchall()
    return [Hold(*r) for r in rows]


def holds_on(con, recording_ids: list[str]) -> dict[str, list[int]]:
    """{recording id: [hold ids in force on it]} for the held ones among ``recording_ids``."""
    if not recording_ids:
        return {}
    rows = con.execute(
        f"""SELECT r.id, list(DISTINCT h.hold_id ORDER BY h.hold_id) FROM recordings r JOIN legal_holds h
            ON h.{ACTIVE} AND ((h.scope = 'recording' AND h.target = r.id) OR (h.scope = 'customer' AND h.target = r.customer_ref))
            WHERE r.id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1""",
        [list(recording_ids)],
    ).fetchall()
    return {r: list(ids) for r, ids in rows}
