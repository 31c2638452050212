"""The ``parley`` command."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__, ingest
from .errors import ConfigError, ParleyError
from .settings import Settings

app = typer.Typer(help="Parley: offline conversation analytics for contact centres.", add_completion=False)
eval_app = typer.Typer(help="Measure Parley's models on your own labelled data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
staff_app = typer.Typer(help="Staff members: voiceprints for telling them apart in mono recordings.", no_args_is_help=True)
app.add_typer(staff_app, name="staff")
report_app = typer.Typer(help="Staff scorecards, consistency and the complaints register (terminal, CSV, Parquet or HTML).", no_args_is_help=True)
app.add_typer(report_app, name="report")
console = Console()
err = Console(stderr=True)

DbOpt = typer.Option(None, "--db", help="DuckDB database file [default: data/parley.duckdb].")
InboxOpt = typer.Option(None, "--inbox", help="Inbox folder [default: data/inbox].")
ArchiveOpt = typer.Option(None, "--archive", help="Archive folder [default: data/archive].")
QuarantineOpt = typer.Option(None, "--quarantine", help="Quarantine folder [default: data/quarantine].")


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:  # pydantic's message names the field and the bad value
        _fail(f"bad setting: {exc}")
        raise


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _overrides(s: Settings) -> dict[str, str]:
    return {k: str(v) for k, v in s.folders().items()} | {"db": str(s.db)}


@app.callback(invoke_without_command=True)
def main(ctx: typer.Context, version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if version:
        console.print(__version__)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help())


@app.command()
def process(
    paths: list[Path] = typer.Argument(None, help="Files or folders to process [default: the inbox]."),
    db: Optional[Path] = DbOpt,
    inbox: Optional[Path] = InboxOpt,
    archive: Optional[Path] = ArchiveOpt,
    quarantine: Optional[Path] = QuarantineOpt,
    seed_samples: bool = typer.Option(False, "--seed-samples", help="Copy data/samples into an empty inbox when the database holds no recordings."),
    local: bool = typer.Option(False, "--local", help="Run in this process without Prefect (faster start, no flow runs recorded)."),
    copy: bool = typer.Option(False, "--copy", help="Leave the files where they are instead of moving them to the archive."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's log lines."),
    readmit_erased: bool = typer.Option(False, "--readmit-erased", help="Process files whose content was erased before (refused otherwise)."),
) -> None:
    """Process recordings once (the inbox by default) and print a summary."""
    s = _settings(db=db, inbox=inbox, archive=archive, quarantine=quarantine, readmit_erased=readmit_erased or None)
    if not local:
        _quiet_prefect(verbose)
        _check_prefect()
    s.inbox.mkdir(parents=True, exist_ok=True)
    if seed_samples:
        _seed_samples(s)
    if not paths:
        ingest.recover_claims(s.inbox)
    try:
        files, skipped = _files_to_process(s, paths)
    except FileNotFoundError as exc:
        _fail(str(exc))
    if skipped:
        names = ", ".join(p.name for p in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        console.print(f"left out {len(skipped)} file(s) that are not recordings ({names})", highlight=False)
    try:
        with _graceful_stop() as stopping:
            outcomes = _run_batch(s, files, local=local, move=not copy, verbose=verbose, stop=stopping)
    except ConfigError as exc:
        _fail(str(exc))
    _print_outcomes(outcomes)
    _print_summary(s)
    _print_found(s)
    if any(o["status"] == "retry" for o in outcomes):
        raise typer.Exit(1)


@app.command()
def watch(
    inbox_arg: Optional[Path] = typer.Argument(None, metavar="[INBOX]", help="Folder to watch [default: data/inbox]."),
    db: Optional[Path] = DbOpt,
    inbox: Optional[Path] = InboxOpt,
    archive: Optional[Path] = ArchiveOpt,
    quarantine: Optional[Path] = QuarantineOpt,
    local: bool = typer.Option(False, "--local", help="Run in this process without Prefect."),
    submit: bool = typer.Option(False, "--submit", help="Do not process here: send one process-recording flow run per file to the work pool (workers: `parley worker`). Needs PREFECT_API_URL."),
    deployment: str = typer.Option("process-recording/process-on-demand", "--deployment", help="With --submit: the deployment whose runs are created."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's log lines."),
) -> None:
    """Watch the inbox until stopped; process each file once it has stopped growing. One line per
    file. Ctrl-C (SIGINT) finishes the file under way and stops; a second Ctrl-C stops at once.
    SIGTERM does the same with --local and --submit (inside a Prefect flow run Prefect handles
    SIGTERM itself: under systemd use KillSignal=SIGINT)."""
    s = _settings(db=db, inbox=inbox_arg or inbox, archive=archive, quarantine=quarantine)
    s.inbox.mkdir(parents=True, exist_ok=True)
    if not local:
        _quiet_prefect(verbose)
    try:
        if submit:
            from flows.server import require_server

            url = require_server("parley watch --submit")
        elif not local:
            _check_prefect()
    except ConfigError as exc:
        _fail(str(exc))
    where = f"submitting to {deployment} at {url}" if submit else f"database {s.db}"
    console.print(f"watching [bold]{s.inbox}[/bold] ({where}); Ctrl-C stops", highlight=False, soft_wrap=True)

    def show(outcome: dict) -> None:
        line = _outcome_line(outcome, s)
        if line:
            console.print(line, highlight=False, soft_wrap=True)

    try:
        with _graceful_stop() as stopping:
            if submit:
                from flows.submit import submit_forever

                submit_forever(s, deployment=deployment, stop=stopping, on_submit=lambda path, run: show(
                    {"status": "submitted", "source_name": path.name, "message": f"flow run {run.name} ({run.id})"}))
            elif local:
                from .process import Processor
                from .watcher import watch as watch_loop

                processor = Processor(s)
                watch_loop(s, lambda ready: [o.as_dict() for o in processor.process_many(ready, on_outcome=lambda o: show(o.as_dict()), should_stop=stopping)], stop=stopping)
            else:
                from flows.watch_inbox import watch_forever

                watch_forever(_overrides(s), on_progress=show, stop=stopping)
    except KeyboardInterrupt:
        pass
    except ConfigError as exc:
        _fail(str(exc))
    console.print("stopped")


@app.command()
def worker(
    pool: str = typer.Option("parley-local", "--pool", help="The Prefect work pool (type process) to take flow runs from."),
    name: Optional[str] = typer.Option(None, "--name", help="This worker's name in Prefect [default: parley-HOST-PID]."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's log lines."),
) -> None:
    """Take flow runs from a work pool and run them in this one process (models load once).

    Settings (PARLEY_DB, PARLEY_INBOX, ...) come from this machine's environment. Ctrl-C (or
    SIGTERM) finishes the run under way and stops; a second Ctrl-C stops at once."""
    _quiet_prefect(verbose)
    try:
        from flows.server import require_server

        url = require_server("parley worker")
    except ConfigError as exc:
        _fail(str(exc))
    from flows.worker import serve

    s = Settings()

    def show(outcome: dict) -> None:
        line = _outcome_line(outcome, s)
        if line:
            console.print(line, highlight=False, soft_wrap=True)

    worker_name = name or f"parley-{ingest.node_name()}-{os.getpid()}"
    done = serve(pool, worker_name, on_outcome=show, on_start=lambda line: console.print(f"{line} (pool {pool}, {url}); Ctrl-C stops", highlight=False, soft_wrap=True))
    console.print(f"stopped after {done} flow run(s)")


@app.command()
def sql(
    query: Optional[str] = typer.Argument(None, help="A SELECT statement."),
    name: Optional[str] = typer.Option(None, "--query", "-q", help="Run a named query instead (see `parley sql --list`)."),
    list_queries: bool = typer.Option(False, "--list", help="List the named queries."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json (one JSON object per row, a line each) or parquet."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of the terminal (required for parquet)."),
    db: Optional[Path] = DbOpt,
) -> None:
    """Query the database read-only (works while `parley watch` runs)."""
    from .queries import NAMED_QUERIES

    if list_queries:
        table = Table("name", "what it finds")
        for key, (description, _) in NAMED_QUERIES.items():
            table.add_row(key, description)
        console.print(table)
        return
    if name:
        if name not in NAMED_QUERIES:
            _fail(f"no named query '{name}'. Fix: use one of {', '.join(NAMED_QUERIES)}")
        query = NAMED_QUERIES[name][1]
    if not query:
        _fail("give a query, e.g. parley sql \"SELECT * FROM recordings\", or --query NAME")
    if fmt not in ("table", "csv", "json", "parquet"):
        _fail(f"unknown format '{fmt}'. Fix: use table, csv, json or parquet")
    s = _settings(db=db)
    from .store import Store

    store = Store(s.db, s.db_lock_timeout_s)
    try:
        if fmt == "parquet":
            if not out:
                _fail("parquet needs a file. Fix: add --out FILE.parquet")
            with store.connect(read_only=True) as con:
                con.execute(f"COPY ({query.rstrip().rstrip(';')}) TO '{_sql_path(out)}' (FORMAT parquet)")
            _audit(s, "sql", name, f"parquet {out}: {query}")
            console.print(f"wrote {out}")
            return
        result = store.query(query)
        _audit(s, "sql", name, f"{len(result.rows)} rows: {query}")
    except ParleyError as exc:
        _fail(str(exc))
    except Exception as exc:  # duckdb's message says what is wrong with the query
        _fail(f"query failed: {str(exc).splitlines()[0]}")
    _emit(result.columns, result.rows, fmt, out)


@app.command("load-staging")
def load_staging_cmd(
    staging: Optional[Path] = typer.Option(None, "--staging", help="Staging folder [default: PARLEY_STAGING_DIR]."),
    db: Optional[Path] = DbOpt,
) -> None:
    """Merge the workers' staged Parquet batches into the database (run one at a time)."""
    s = _settings(db=db)
    folder = staging or s.staging_dir
    if not folder:
        _fail("no staging folder. Fix: pass --staging DIR or set PARLEY_STAGING_DIR")
    from .staging import load_report
    from .store import Store

    try:
        report = load_report(Store(s.db, s.db_lock_timeout_s), folder)
    except ParleyError as exc:
        _fail(str(exc))
    console.print(f"loaded {report.loaded} staged batch(es) into {s.db} ({report.skipped} already loaded)")


@app.command()
def summary(db: Optional[Path] = DbOpt) -> None:
    """Print what the database holds."""
    _print_summary(_settings(db=db))


@app.command()
def models() -> None:
    """List the models Parley knows and whether they are installed here, and what this CPU means for their speed."""
    from .models import available
    from .speaker_models import cpu_has_amx, cpu_info

    table = Table("name", "kind", "package", "installed", "version", "path")
    for row in available():
        table.add_row(row["name"], row["kind"], row["package"], "yes" if row["installed"] else "no", row["version"], row["path"])
    console.print(table)
    cpu, vnni = cpu_info()
    crosstalk = "PARLEY_CROSSTALK=false saves about a fifth of diarization and no longer hears two voices at once"
    note = {True: "yes", None: "not known"}.get(vnni, "no: CAM++'s int8 convolutions (two-person calls' voices) run about half as fast "
                                                    "as with it, and a 10-minute call's diarization may take over 25% of its transcription "
                                                    f"(bench/SPEAKERS.md, round 22); {crosstalk}")
    if vnni and cpu_has_amx():
        note += ("; AMX: yes: transcription's int8 matrix products use it too, so it is fast, and diarization took 0.28-0.31 "
                 "of a real 10-minute call's transcription on such a CPU, over its 25% where speakers change every few "
                 f"seconds (0.21 with slower turns; bench/SPEAKERS.md, round 29); {crosstalk}")
    console.print(f"CPU: {cpu}; VNNI: {note}", highlight=False)


@app.command("settings")
def show_settings() -> None:
    """Print the settings in force and where each can be set (PARLEY_* or \\[tool.parley])."""
    s = Settings()
    table = Table("setting", "value", "env variable", "description")
    for key, field in Settings.model_fields.items():
        table.add_row(key, str(getattr(s, key)), f"PARLEY_{key.upper()}", field.description or "")
    console.print(table)


@staff_app.command("enroll")
def staff_enroll(
    staff_id: str = typer.Argument(..., help="The staff id recordings carry in their metadata."),
    audio: list[Path] = typer.Argument(..., help="Clean recordings of this person alone (15-60 s in all is plenty)."),
    db: Optional[Path] = DbOpt,
    new: bool = typer.Option(False, "--new", help="Start the database if there is none yet: staff enrolled before the first "
                                                   "recordings are processed (without it a --db that does not exist is refused as a typo)."),
) -> None:
    """Store a staff voiceprint: in mono recordings the speaker who matches it is the staff member."""
    from .speakers_cli import enroll_command

    missing = [str(a) for a in audio if not a.is_file()]
    if missing:
        _fail(f"no such file: {', '.join(missing)}. Fix: give recordings of {staff_id} speaking")
    if new:
        s = _settings(db=db)
        if not s.db.parent.is_dir():
            _fail(f"there is no folder {s.db.parent} for a new database at {s.db}. Fix: create the folder, or check --db / PARLEY_DB")
    else:
        s = _existing_db(db, also="; to enrol staff before the first recordings, add --new")
    try:
        done = enroll_command(s.db, staff_id, list(audio))
    except ParleyError as exc:
        _fail(str(exc))
    console.print(f"enrolled {done['staff_id']}: {done['n_clips']} clips, {done['speech_s']:.0f} s of speech ({done['model']} {done['model_version']}; "
                  f"with a telephone-band print for 8 kHz recordings) in {done['db']}")


SinceOpt = typer.Option(None, "--since", help="Only interactions started on or after this date (YYYY-MM-DD).")
RubricOpt = typer.Option(None, "--rubric", help="Rubric id [default: the one scored most recently].")
VersionOpt = typer.Option(None, "--version", help="Rubric version [default: the latest scored].")
OutOpt = typer.Option(None, "--out", "-o", help="Also write the report: .csv, .parquet or .html (self-contained, with charts).")


def _report(which: str, db: Optional[Path], **kwargs: Any) -> None:
    from .reports import report_command
    from .store import Store

    s = _settings(db=db)
    try:
        with Store(s.db, s.db_lock_timeout_s).connect(read_only=True) as con:
            _audit(s, "report", which, ", ".join(f"{k}={v}" for k, v in kwargs.items() if v))
            report_command(con, which, console=console, **kwargs)
    except ParleyError as exc:
        _fail(str(exc))


@report_app.command("scorecards")
def report_scorecards(
    since: Optional[str] = SinceOpt,
    team: Optional[str] = typer.Option(None, "--team", help="Only this team."),
    staff: Optional[str] = typer.Option(None, "--staff", help="Only this staff member."),
    rubric: Optional[str] = RubricOpt,
    version: Optional[str] = VersionOpt,
    out: Optional[Path] = OutOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """Per staff member: interactions, mean score, spread, pass rate per criterion, trend."""
    _report("scorecards", db, since=since, team=team, staff=staff, rubric=rubric, version=version, out=out)


@report_app.command("consistency")
def report_consistency(
    since: Optional[str] = SinceOpt,
    by: str = typer.Option("staff,team,site,channel,touchpoint", "--by", help="Groupings, comma-separated."),
    rubric: Optional[str] = RubricOpt,
    version: Optional[str] = VersionOpt,
    out: Optional[Path] = OutOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """Score spread, complaint rate and sentiment by staff, team, site, channel and touchpoint; outliers flagged."""
    _report("consistency", db, since=since, by=tuple(b.strip() for b in by.split(",") if b.strip()), rubric=rubric, version=version, out=out)


@report_app.command("complaints")
def report_complaints(
    since: Optional[str] = SinceOpt,
    team: Optional[str] = typer.Option(None, "--team", help="Only this team."),
    out: Optional[Path] = OutOpt,
    db: Optional[Path] = DbOpt,
) -> None:
    """The complaints register: every complaint with staff, product, cause, the customer's words, outcome and age."""
    _report("complaints", db, since=since, team=team, out=out)


@app.command()
def retag(
    since: Optional[str] = typer.Option(None, "--since", help="Only interactions started (or processed) on or after this date, YYYY-MM-DD."),
    db: Optional[Path] = DbOpt,
) -> None:
    """Tag stored transcripts again (after a taxonomy, training data or encoder change) and re-score them."""
    from datetime import date

    from .retag import retag as retag_all

    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        _fail(f"--since {since!r} is not a date. Fix: use YYYY-MM-DD")
    s = _existing_db(db)
    try:
        _audit(s, "retag", None, f"since {day}" if day else None)
        n = retag_all(s, day)
    except ParleyError as exc:
        _fail(str(exc))
    console.print(f"re-tagged {n} interactions" + (f" since {day}" if day else ""))


@app.command()
def rescore(
    rubric: Path = typer.Option(..., "--rubric", help="Rubric YAML file (e.g. data/rubrics/contact_centre.yaml)."),
    db: Optional[Path] = DbOpt,
) -> None:
    """Re-score every stored interaction with a rubric from the rubrics folder; scorecards of other
    rubric versions stay, and new recordings are scored with the same version."""
    from .scoring import check_rubric_in_folder, rescore as rescore_all
    from .store import Store

    s = _existing_db(db)
    try:
        card = check_rubric_in_folder(rubric, s.rubrics)
        _audit(s, "rescore", str(rubric))
        with Store(s.db, s.db_lock_timeout_s, create=False).connect() as con:
            n = rescore_all(con, rubric)
    except ParleyError as exc:
        _fail(str(exc))
    console.print(f"scored {n} interactions with {rubric}: rubric {card.id} version {card.version} (the current version: new recordings are scored with it too)", highlight=False)


# -- helpers ------------------------------------------------------------------------------------
def _existing_db(db: Optional[Path], also: str = "") -> Settings:
    """Settings for a command that needs the database to exist already (it never makes one);
    ``also``: more of the fix, for that command."""
    s = _settings(db=db)
    if not s.db.exists():
        _fail(f"there is no database at {s.db}. Fix: check --db / PARLEY_DB (a typo?), or process some recordings first "
              f"(`parley process`){also}")
    return s


def _check_prefect() -> None:
    """Fail in one line when a configured Prefect server does not answer; keep the temporary
    server (when none is configured) out of reach of Ctrl-C."""
    from flows.server import check_server, detach_temporary_server

    try:
        check_server()
    except ConfigError as exc:
        _fail(str(exc))
    detach_temporary_server()


class _graceful_stop:
    """Ctrl-C / SIGTERM: the first asks to stop after the file under way (the context's value,
    a ``stop()`` callable, turns true), a second stops at once (KeyboardInterrupt)."""

    def __enter__(self):
        self.asked = False
        self.previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum, frame):  # noqa: ANN001
            if self.asked:
                raise KeyboardInterrupt
            self.asked = True
            err.print("stopping after the file under way (Ctrl-C again to stop now)", highlight=False)

        for sig in self.previous:
            signal.signal(sig, handler)
        return lambda: self.asked

    def __exit__(self, *exc) -> None:
        for sig, previous in self.previous.items():
            signal.signal(sig, previous)


def _files_to_process(s: Settings, paths: list[Path] | None) -> tuple[list[Path], list[Path]]:
    """(files to process, files left out). In a folder given on the command line only recordings
    (the audio extensions) are taken: a README, a licence or a truth file beside them is left
    out, not quarantined. The inbox and files named one by one are taken as they are: a file in
    the inbox that is not a recording is quarantined with the reason."""
    if not paths:
        return ingest.expand_paths([s.inbox]), []
    files, skipped = [], []
    for path in paths:
        found = ingest.expand_paths([path])
        if path.is_dir() and path.resolve() != s.inbox.resolve():
            skipped += [f for f in found if f.suffix.lower() not in s.audio_extensions]
            found = [f for f in found if f.suffix.lower() in s.audio_extensions]
        files += found
    return files, skipped


def _outcome_line(o: dict, s: Settings | None = None) -> str | None:
    """One line for one file (``parley watch``); None for a file another worker has."""
    status, name = o["status"], o.get("source_name", "")
    if status == "skipped":
        return None
    colour = {"done": "green", "duplicate": "cyan", "quarantined": "red", "retry": "yellow", "submitted": "blue"}.get(status, "white")
    if status == "done":
        detail = f"{_hms(o.get('duration_s') or 0)}, {o.get('utterances', 0)} utterances, {sum((o.get('timings') or {}).values()):.1f} s"
        if o.get("message"):
            detail = o["message"]
    elif status == "retry":
        wait = s.retry_backoff_s if s else None
        detail = (o.get("message") or "") + (f" (tried again in {wait:g} s or more)" if wait else "")
    else:
        detail = o.get("message") or ""
    return f"[{colour}]{status:<11}[/{colour}] {name}  {detail}".rstrip()


def _print_found(s: Settings, limit: int = 20) -> None:
    """What Parley found in the latest recordings, and where to look next."""
    from .queries import FOUND_SQL
    from .store import Store

    if not s.db.exists():
        return
    try:
        result = Store(s.db, s.db_lock_timeout_s).query(FOUND_SQL.format(limit=int(limit)))
    except Exception:  # noqa: BLE001 - a database without the analysis tables: nothing to show
        return
    if not result.rows:
        return
    table = Table(*result.columns, title=f"What Parley found (latest {min(limit, len(result.rows))} recordings)", title_justify="left")
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
    db = "" if str(s.db) == "data/parley.duckdb" else f" --db {s.db}"
    console.print(
        f"Next: [bold]parley serve{db}[/bold] (the web app, http://127.0.0.1:8765; first `parley users add NAME --role admin{db}`), "
        f"[bold]parley sql{db} --list[/bold] (named queries), [bold]parley report scorecards{db}[/bold]",
        highlight=False,
        soft_wrap=True,
    )


def _audit(s: Settings, action: str, target: str | None = None, detail: str | None = None) -> None:
    """The audit row of a command that reads or changes records (pipeline/governance/audit.py)."""
    from .governance.audit import record

    if s.db.exists():
        record(s.db, action, target, detail)


def _seed_samples(s: Settings) -> None:
    from .store import Store

    if ingest.list_inbox(s.inbox):
        return
    if s.db.exists() and Store(s.db).query("SELECT count(*) FROM recordings").rows[0][0] > 0:
        return
    if not s.samples.is_dir():
        _fail(f"no samples folder at {s.samples}. Fix: run from the Parley checkout or set PARLEY_SAMPLES")
    copied = 0
    for path in sorted(s.samples.iterdir()):
        if path.is_file() and (path.suffix.lower() in s.audio_extensions or path.suffix == ".json"):
            shutil.copy2(path, s.inbox / path.name)
            copied += path.suffix != ".json"
    console.print(f"seeded the inbox with {copied} sample recordings from {s.samples}")


def _quiet_prefect(verbose: bool) -> None:
    """Without --verbose: Prefect's warnings still reach the flow runs' logs (the UI), but the
    terminal gets Parley's own line per file, not Prefect's copy of each failure."""
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _run_batch(s: Settings, files: list[Path], *, local: bool, move: bool, verbose: bool, stop=None) -> list[dict]:
    if not files:
        console.print(f"nothing to process in {s.inbox}")
        return []
    outcomes: list[dict] = []
    with Progress(
        TextColumn("[bold]processing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"),
        console=console, transient=False,
    ) as progress:
        bar = progress.add_task("starting" + ("" if local else " Prefect (the first flow run takes a while)"), total=len(files))

        def advance(outcome: dict) -> None:
            outcomes.append(outcome)
            progress.update(bar, advance=1, description=f"{outcome['source_name']}: {outcome['status']}")

        if local:
            from .process import Processor

            Processor(s, move=move).process_many(files, on_outcome=lambda o: advance(o.as_dict()), should_stop=stop)
        else:
            _quiet_prefect(verbose)
            from flows.watch_inbox import watch_inbox

            watch_inbox(files=[str(f) for f in files], settings=_overrides(s), move=move, on_progress=advance, stop=stop)
    return outcomes


def _print_outcomes(outcomes: list[dict], title: str | None = "this run") -> None:
    problems = [o for o in outcomes if o["status"] in ("quarantined", "retry")]
    for o in problems:
        err.print(f"[yellow]{o['status']}[/yellow] {o['message']}", highlight=False, soft_wrap=True)
    if title and outcomes:
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o["status"]] = counts.get(o["status"], 0) + 1
        console.print(f"{title}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))


def _print_summary(s: Settings) -> None:
    from .store import Store

    if not s.db.exists():
        console.print(f"no database yet at {s.db}")
        return
    store = Store(s.db, s.db_lock_timeout_s)
    row = store.query(
        """SELECT
            (SELECT count(*) FROM recordings WHERE status = 'done'),
            (SELECT coalesce(sum(duration_s), 0) FROM recordings WHERE status = 'done'),
            (SELECT count(*) FROM utterances),
            (SELECT count(*) FROM drops WHERE outcome = 'duplicate'),
            (SELECT count(*) FROM errors WHERE kind <> 'transient'),
            (SELECT count(*) FROM errors WHERE kind = 'transient')"""
    ).rows[0]
    table = Table(title="Parley database", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    labels = ("recordings", "duration", "utterances", "duplicates", "errors (quarantined)", "retries", "database")
    values = (str(row[0]), _hms(row[1]), str(row[2]), str(row[3]), str(row[4]), str(row[5]), str(s.db.resolve()))
    for label, value in zip(labels, values):
        table.add_row(label, value)
    console.print(table)


def _hms(seconds: float) -> str:
    seconds = int(round(seconds or 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _emit(columns: list[str], rows: list[tuple], fmt: str, out: Optional[Path]) -> None:
    if fmt == "table":
        table = Table(*columns)
        for r in rows:
            table.add_row(*("" if v is None else str(v) for v in r))
        target = Console(file=out.open("w"), width=200) if out else console
        target.print(table)
        return
    stream = out.open("w", newline="") if out else sys.stdout
    try:
        if fmt == "csv":
            writer = csv.writer(stream)
            writer.writerow(columns)
            writer.writerows(rows)
        else:
            for r in rows:
                stream.write(json.dumps(dict(zip(columns, r)), default=str) + "\n")
    finally:
        if out:
            stream.close()


def _register_commands() -> None:
    """Commands whose code lives beside its feature: eval diarization, serve, users."""
    from .analysis import AnalysisOptions, tagging_options
    from .governance.cli import register as register_governance
    from .speakers_cli import register as register_diarization
    from .tagging.cli import register as register_tagging
    from .web.cli import register as register_web

    register_diarization(eval_app)
    register_tagging(eval_app, lambda: tagging_options(AnalysisOptions.from_settings(Settings())))
    register_web(app)
    register_governance(app, staff_app)


_register_commands()

if __name__ == "__main__":
    app()
