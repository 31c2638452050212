"""Records-governance commands: ``register(app, staff_app)`` adds them to the ``parley`` command.

``parley retention show|apply``, ``parley erase``, ``parley hold add|remove|list``,
``parley verify``, ``parley compact``, ``parley staff list|remove``. Each leaves an audit row
(``audit.record``) before it shows or changes anything.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ParleyError
from ..settings import Settings

console = Console()
err = Console(stderr=True)
DbOpt = typer.Option(None, "--db", help="DuckDB database file \\[default: data/parley.duckdb].")
ArchiveOpt = typer.Option(None, "--archive", help="Archive folder \\[default: data/archive]: files Parley archived there are removed with their recording.")
PolicyOpt = typer.Option(None, "--policy", help="Retention policy YAML \\[default: PARLEY_RETENTION_POLICY, data/retention.yaml].")
ReasonOpt = typer.Option(..., "--reason", help="Why (a request or case reference; never the personal data itself).")
HoldCustomerOpt = typer.Option(None, "--customer", help="A customer_ref: every recording of theirs, also ones stored later.")
HoldRecordingOpt = typer.Option(None, "--recording", help="A recording: its id or first 12+ characters.")


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _settings(**overrides) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:  # noqa: BLE001 - pydantic names the field and the value
        _fail(f"bad setting: {exc}")
        raise


def _store(s: Settings):
    from ..store import Store

    return Store(s.db, s.db_lock_timeout_s)


def _audit(s: Settings, action: str, target: str | None = None, detail: str | None = None) -> None:
    from .audit import record

    record(s.db, action, target, detail)


def _need_db(s: Settings) -> None:
    if not s.db.exists():
        _fail(f"there is no database at {s.db}. Fix: pass --db, or process some recordings first")


def register(app: typer.Typer, staff_app: typer.Typer) -> None:
    retention_app = typer.Typer(help="The retention policy: what is kept for how long, and deleting what is due.", no_args_is_help=True)
    hold_app = typer.Typer(help="Legal holds: held customers' and recordings' records are never deleted.", no_args_is_help=True)
    app.add_typer(retention_app, name="retention")
    app.add_typer(hold_app, name="hold")

    # -- retention ---------------------------------------------------------------------------
    @retention_app.command("show")
    def retention_show(policy: Optional[Path] = PolicyOpt) -> None:
        """Print the policy: how long each part of a recording is kept, by rule."""
        from .policy import load_policy

        s = _settings(**({"retention_policy": policy} if policy else {}))
        try:
            p = load_policy(s.retention_policy)
        except ParleyError as exc:
            _fail(str(exc))
        table = Table("rule", "when", "record", "audio", "transcript", title=f"Retention policy {p.path} ({p.digest})", title_justify="left")
        for name, when, periods in [*((r.name, ", ".join(f"{k} = {'/'.join(v)}" for k, v in r.when.items()), r.periods) for r in p.rules), ("default", "no rule above matches", p.default)]:
            table.add_row(name, when, *(str(periods.get(part, periods["record"])) for part in ("record", "audio", "transcript")))
        for reason, periods in p.longer.items():
            label = "a complaint was found" if reason == "complaint" else f"a {'/'.join(p.failed_categories)} rule failed"
            table.add_row(f"longer: {reason}", label, *(str(periods.get(part, periods.get("record", ""))) if periods.get(part, periods.get("record")) else "" for part in ("record", "audio", "transcript")))
        console.print(table)
        console.print("Periods run from the day the interaction started; a longer reason only ever lengthens a period; nothing outlives its record.")

    @retention_app.command("apply")
    def retention_apply(
        dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be deleted."),
        as_of: Optional[str] = typer.Option(None, "--as-of", help="With --dry-run: plan as if today were this date (YYYY-MM-DD)."),
        policy: Optional[Path] = PolicyOpt,
        db: Optional[Path] = DbOpt,
        archive: Optional[Path] = ArchiveOpt,
    ) -> None:
        """Delete every recording part the policy makes due (rows and archived audio together), except what is held."""
        from .policy import load_policy
        from .retention import apply

        s = _settings(db=db, archive=archive, **({"retention_policy": policy} if policy else {}))
        today = None
        if as_of:
            if not dry_run:
                _fail("--as-of only plans. Fix: add --dry-run (deletions always use today's date)")
            try:
                today = date.fromisoformat(as_of)
            except ValueError:
                _fail(f"--as-of {as_of!r} is not a date. Fix: use YYYY-MM-DD")
        try:
            p = load_policy(s.retention_policy)
            if s.db.exists():
                _audit(s, "retention", "dry-run" if dry_run else "apply", f"policy {p.digest}")
            run = apply(_store(s), p, today=today, dry_run=dry_run, archive_root=s.archive)
        except ParleyError as exc:
            _fail(str(exc))
        print_retention(run, s)

    # -- erasure ---------------------------------------------------------------------------
    @app.command()
    def erase(
        customer: Optional[str] = typer.Option(None, "--customer", help="Erase every recording of this customer_ref."),
        recording: Optional[str] = typer.Option(None, "--recording", help="Erase this recording (its id, or the first 12+ characters)."),
        reason: str = ReasonOpt,
        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
        no_compact: bool = typer.Option(False, "--no-compact", help="Leave compacting the database file for later (`parley compact`)."),
        db: Optional[Path] = DbOpt,
        archive: Optional[Path] = ArchiveOpt,
    ) -> None:
        """Erase a customer's (or one recording's) recordings, transcripts, tags, findings and audio; a tombstone records what, when, who and why."""
        from .erasure import compact, customer_hash, erase as erase_records

        s = _settings(db=db, archive=archive)
        _need_db(s)
        if bool(customer) == bool(recording):
            _fail("say what to erase. Fix: pass --customer REF or --recording ID (one of them)")
        what = f"customer {customer}" if customer else f"recording {recording}"
        if not yes and not typer.confirm(f"Erase every record of {what}? This cannot be undone", default=False):
            _fail("nothing erased", code=1)
        try:
            _audit(s, "erase", f"customer:{customer_hash(customer)[:16]}" if customer else f"recording:{recording}", reason)
            result = erase_records(_store(s), customer=customer, recording=recording, reason=reason, archive_root=s.archive)
            compacted = compact(_store(s)) if result.erased and not no_compact else None
        except ParleyError as exc:
            _fail(str(exc))
        for item in result.erased:
            rows = sum(item.rows.values())
            console.print(f"erased recording {item.recording[:12]}: {rows} rows in {len(item.rows)} tables, {len(item.files)} archived file(s); tombstone {item.tombstone_id[:8]}, chain entry #{item.chain_seq}")
            for path in item.outside_archive:
                console.print(f"  [yellow]not removed[/yellow] (Parley did not archive it, `--copy`): {path}")
        for item in result.quarantined:
            console.print(f"erased a quarantined drop {item.recording[:12]} of the customer: {sum(item.rows.values())} rows, {len(item.files)} quarantined file(s)")
        for rid, holds in result.held.items():
            console.print(f"[yellow]kept[/yellow] recording {rid[:12]}: under legal hold {', '.join(f'H{h}' for h in holds)} (see `parley hold list`); erase it again once the hold is released")
        if not result.found and not result.quarantined:
            console.print(f"no stored recordings of {what}: nothing to erase")
        if compacted:
            console.print(f"database file compacted ({compacted[0]:,} -> {compacted[1]:,} bytes): the erased rows' bytes are gone from it")
        elif result.erased:
            console.print("[yellow]the erased rows' bytes stay in the database file's free space until `parley compact`[/yellow]")
        if result.held:
            raise typer.Exit(1)

    # -- legal holds ------------------------------------------------------------------------
    @hold_app.command("add")
    def hold_add(
        customer: Optional[str] = HoldCustomerOpt,
        recording: Optional[str] = HoldRecordingOpt,
        reason: str = ReasonOpt,
        db: Optional[Path] = DbOpt,
    ) -> None:
        """Place a legal hold: retention and erasure leave the records alone until it is removed."""
        from .holds import add_hold

        s = _settings(db=db)
        _need_db(s)
        scope, target = _scope(customer, recording)
        try:
            _audit(s, "hold_add", f"{scope}:{target}", reason)
            with _store(s).connect() as con:
                hold = add_hold(con, scope, target, reason)
        except ParleyError as exc:
            _fail(str(exc))
        covered = f"{hold.recordings} stored recording(s)" + (", and any stored later" if scope == "customer" else "")
        console.print(f"legal hold H{hold.hold_id} on {scope} {hold.target if scope == 'customer' else hold.target[:12]}: {covered}; retention and erasure will not delete them")

    @hold_app.command("remove")
    def hold_remove(
        hold_id: Optional[str] = typer.Argument(None, help="The hold (H3 or 3), or use --customer / --recording."),
        customer: Optional[str] = HoldCustomerOpt,
        recording: Optional[str] = HoldRecordingOpt,
        reason: str = ReasonOpt,
        db: Optional[Path] = DbOpt,
    ) -> None:
        """Release a legal hold (the row stays, with who released it, when and why)."""
        from .holds import remove_hold

        s = _settings(db=db)
        _need_db(s)
        number = None
        if hold_id is not None:
            if customer or recording or not hold_id.upper().lstrip("H").isdigit():
                _fail("give a hold id (e.g. H3) or --customer/--recording, not both. Fix: see `parley hold list`")
            number = int(hold_id.upper().lstrip("H"))
            scope = target = None
        else:
            scope, target = _scope(customer, recording)
        try:
            _audit(s, "hold_remove", f"H{number}" if number is not None else f"{scope}:{target}", reason)
            with _store(s).connect() as con:
                released = remove_hold(con, hold_id=number, scope=scope, target=target, reason=reason)
        except ParleyError as exc:
            _fail(str(exc))
        for h in released:
            console.print(f"released legal hold H{h.hold_id} on {h.scope} {h.target if h.scope == 'customer' else h.target[:12]}: retention and erasure apply to it again")

    @hold_app.command("list")
    def hold_list(
        all_holds: bool = typer.Option(False, "--all", help="Also show released holds."),
        db: Optional[Path] = DbOpt,
    ) -> None:
        """List the legal holds in force (--all: released ones too)."""
        from .holds import list_holds

        s = _settings(db=db)
        _need_db(s)
        try:
            _audit(s, "hold_list")
            with _store(s).connect(read_only=True) as con:
                holds = list_holds(con, include_released=all_holds) if _has(con, "legal_holds") else []
        except ParleyError as exc:
            _fail(str(exc))
        table = Table("hold", "on", "target", "recordings", "reason", "placed", "released")
        for h in holds:
            released = f"{h.released_at:%Y-%m-%d} by {h.released_by}: {h.release_reason}" if h.released_at else ""
            table.add_row(f"H{h.hold_id}", h.scope, h.target if h.scope == "customer" else h.target[:12], str(h.recordings), h.reason, f"{h.placed_at:%Y-%m-%d} by {h.placed_by}", released)
        console.print(table if holds else "no legal holds" + ("" if all_holds else " in force"))

    # -- tamper evidence --------------------------------------------------------------------
    @app.command()
    def verify(
        audio: bool = typer.Option(True, "--audio/--no-audio", help="Also hash every archived file (slower on a big archive)."),
        anchor: Optional[str] = typer.Option(None, "--anchor", help="SEQ:HASH of a head printed earlier (kept elsewhere): proves nothing before it was rewritten."),
        show_all: bool = typer.Option(False, "--all", help="List every problem, not only the first."),
        baseline: bool = typer.Option(False, "--baseline", help="First seal recordings stored before the chain existed (once, after upgrading)."),
        db: Optional[Path] = DbOpt,
    ) -> None:
        """Walk the tamper-evident chain and check every recording's rows and archived files against it; report the first break."""
        from .chain import baseline as seal_unsealed, verify as check

        s = _settings(db=db)
        _need_db(s)
        mark = None
        if anchor:
            seq, _, digest = anchor.partition(":")
            if not seq.lstrip("#").isdigit() or len(digest) < 16:
                _fail(f"--anchor {anchor!r} is not SEQ:HASH. Fix: pass it as `parley verify` printed it, e.g. 120:3fa2c8...")
            mark = (int(seq.lstrip("#")), digest)
        try:
            _audit(s, "verify", None, f"anchor {anchor}" if anchor else None)
            if baseline:
                with _store(s).connect() as con:
                    con.execute("BEGIN TRANSACTION")
                    n = seal_unsealed(con)
                    con.execute("COMMIT")
                console.print(f"sealed {n} recording(s) stored before the chain existed")
            with _store(s).connect(read_only=True) as con:
                if not _has(con, "record_chain"):
                    _fail("this database has no chain yet (made by an older Parley). Fix: run `parley verify --baseline` once")
                report = check(con, audio=audio, anchor=mark)
        except ParleyError as exc:
            _fail(str(exc))
        console.print(f"chain: {report.entries} entries; {report.recordings} recordings and {report.deleted} deleted ones checked; {report.files_checked} archived files hashed")
        if report.head:
            console.print(f"head: {report.head[0]}:{report.head[1]}  (keep it elsewhere; `parley verify --anchor {report.head[0]}:{report.head[1][:16]}` later proves nothing up to here changed)")
        if report.pending_files:
            console.print(f"[yellow]{report.pending_files} file(s) of deleted recordings are still on disk[/yellow]: an interrupted deletion; `parley retention apply` or `parley erase` removes them")
        if report.ok:
            console.print("[green]OK[/green]: every recording's rows and archived files match the chain")
            return
        for b in report.breaks if show_all else report.breaks[:1]:
            console.print(f"[red]BROKEN[/red]: {b.message}", highlight=False, soft_wrap=True)
        if not show_all and len(report.breaks) > 1:
            console.print(f"({len(report.breaks)} problems in all; --all lists them)")
        raise typer.Exit(1)

    @app.command()
    def compact(db: Optional[Path] = DbOpt) -> None:
        """Rewrite the database file without the bytes of deleted rows (after erasures; waits for other writers)."""
        from .erasure import compact as run

        s = _settings(db=db)
        _need_db(s)
        try:
            _audit(s, "compact")
            before, after = run(_store(s))
        except ParleyError as exc:
            _fail(str(exc))
        console.print(f"compacted {s.db}: {before:,} -> {after:,} bytes")

    # -- voiceprints --------------------------------------------------------------------------
    @staff_app.command("list")
    def staff_list(db: Optional[Path] = DbOpt) -> None:
        """List enrolled staff voiceprints (never the voiceprint itself)."""
        from .erasure import list_voiceprints

        s = _settings(db=db)
        _need_db(s)
        try:
            _audit(s, "staff_list")
            with _store(s).connect(read_only=True) as con:
                rows = list_voiceprints(con) if _has(con, "voiceprints") else []
        except ParleyError as exc:
            _fail(str(exc))
        table = Table("staff_id", "clips", "speech", "model", "enrolled", "telephone-band print")
        for r in rows:
            table.add_row(r["staff_id"], str(r["n_clips"]), f"{r['speech_s'] or 0:.0f} s", f"{r['model']} {r['model_version'] or ''}".strip(),
                          f"{r['enrolled_at']:%Y-%m-%d %H:%M}" if r["enrolled_at"] else "",
                          "yes" if r["telephone"] else "no: enrol again for 8 kHz recordings")
        console.print(table if rows else "no voiceprints enrolled")

    @staff_app.command("remove")
    def staff_remove(
        staff_id: str = typer.Argument(..., help="The staff member whose voiceprint is deleted."),
        reason: str = ReasonOpt,
        db: Optional[Path] = DbOpt,
    ) -> None:
        """Delete a staff member's voiceprint (biometric data); a tombstone records who, when and why."""
        from .erasure import remove_voiceprint

        s = _settings(db=db)
        _need_db(s)
        try:
            _audit(s, "staff_remove", staff_id, reason)
            with _store(s).connect() as con:
                removed = remove_voiceprint(con, staff_id, reason)
        except ParleyError as exc:
            _fail(str(exc))
        if not removed:
            _fail(f"no voiceprint enrolled for {staff_id}. Fix: see `parley staff list`", code=1)
        console.print(f"removed the voiceprint of {staff_id}; its recordings are matched by content cues from now on")


def _scope(customer: str | None, recording: str | None) -> tuple[str, str]:
    if bool(customer) == bool(recording):
        _fail("say what to hold. Fix: pass --customer REF or --recording ID (one of them)")
    return ("customer", customer) if customer else ("recording", recording)


def _has(con, table: str) -> bool:
    from ..store import table_names

    return table in table_names(con)


def print_retention(run, s: Settings) -> None:
    """What a retention run did (or would do)."""
    verb = "would delete" if run.dry_run else "deleted"
    shown = [d for d in run.due if not d.held] if run.dry_run else run.deleted
    if run.pending_before:
        console.print(f"{'would finish' if run.dry_run else 'finished'} an interrupted deletion: {run.pending_before} file(s) still on disk")
    if shown:
        table = Table("recording", "file", "started", "parts", "why (rule and period)", title=f"{verb} ({run.today})", title_justify="left")
        due = {d.recording: d for d in run.due}
        for item in shown:
            d = item if run.dry_run else due[item.recording]
            table.add_row(d.recording[:12], d.source_name or "", str(d.start), ", ".join(d.parts), d.why)
        console.print(table)
    for d in run.held:
        console.print(f"[yellow]kept[/yellow] {', '.join(d.parts)} of recording {d.recording[:12]} ({d.source_name or ''}): under legal hold {', '.join(f'H{h}' for h in d.held)}")
    whole = sum(1 for d in shown if "record" in d.parts)
    console.print(
        f"retention {'plan' if run.dry_run else 'run'} {run.today}: {run.considered} recordings considered; {verb} {whole} whole recording(s) "
        f"and parts of {len(shown) - whole}; {len(run.held)} held back by a legal hold"
        + ("" if run.dry_run else f"; {run.files_removed} archived file(s) removed")
    )
    if run.head and not run.dry_run:
        console.print(f"chain head: {run.head[0]}:{run.head[1]}")
