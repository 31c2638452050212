"""The ``parley`` command."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sys
import time
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
) -> None:
    """Process recordings once (the inbox by default) and print a summary."""
    s = _settings(db=db, inbox=inbox, archive=archive, quarantine=quarantine)
    s.inbox.mkdir(parents=True, exist_ok=True)
    if seed_samples:
        _seed_samples(s)
    if not paths:
        ingest.recover_claims(s.inbox)
    try:
        files = ingest.expand_paths(paths or [s.inbox])
    except FileNotFoundError as exc:
        _fail(str(exc))
    try:
        outcomes = _run_batch(s, files, local=local, move=not copy, verbose=verbose)
    except ConfigError as exc:
        _fail(str(exc))
    _print_outcomes(outcomes)
    _print_summary(s)
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
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's log lines."),
) -> None:
    """Watch the inbox until stopped (Ctrl-C); process each file once it has stopped growing."""
    s = _settings(db=db, inbox=inbox_arg or inbox, archive=archive, quarantine=quarantine)
    s.inbox.mkdir(parents=True, exist_ok=True)
    stopping = {"now": False}

    def _stop(*_):
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    console.print(f"watching [bold]{s.inbox}[/bold] (database {s.db}); Ctrl-C stops")

    def show(outcome: dict) -> None:
        _print_outcomes([outcome], title=None)

    try:
        if local:
            from .process import Processor

            processor = Processor(s)
            ingest.recover_claims(s.inbox)
            tracker = ingest.StabilityTracker(s.stable_s)
            while not stopping["now"]:
                ready = tracker.ready(ingest.list_inbox(s.inbox))
                outcomes = processor.process_many(ready, on_outcome=lambda o: show(o.as_dict()))
                if all(o.status in ("retry", "skipped") for o in outcomes):  # nothing done: wait
                    time.sleep(s.poll_interval_s)
        else:
            _quiet_prefect(verbose)
            from flows.watch_inbox import watch_forever

            watch_forever(_overrides(s), on_progress=show, stop=lambda: stopping["now"])
    except KeyboardInterrupt:
        pass
    except ConfigError as exc:
        _fail(str(exc))
    console.print("stopped")


@app.command()
def sql(
    query: Optional[str] = typer.Argument(None, help="A SELECT statement."),
    name: Optional[str] = typer.Option(None, "--query", "-q", help="Run a named query instead (see `parley sql --list`)."),
    list_queries: bool = typer.Option(False, "--list", help="List the named queries."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json or parquet."),
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
            console.print(f"wrote {out}")
            return
        result = store.query(query)
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
    """List the models Parley knows and whether they are installed here."""
    from .models import available

    table = Table("name", "kind", "package", "installed", "version", "path")
    for row in available():
        table.add_row(row["name"], row["kind"], row["package"], "yes" if row["installed"] else "no", row["version"], row["path"])
    console.print(table)


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
) -> None:
    """Store a staff voiceprint: in mono recordings the speaker who matches it is the staff member."""
    from .speakers_cli import enroll_command

    missing = [str(a) for a in audio if not a.is_file()]
    if missing:
        _fail(f"no such file: {', '.join(missing)}. Fix: give recordings of {staff_id} speaking")
    s = _settings(db=db)
    try:
        done = enroll_command(s.db, staff_id, list(audio))
    except ParleyError as exc:
        _fail(str(exc))
    console.print(f"enrolled {done['staff_id']}: {done['n_clips']} clips, {done['speech_s']:.0f} s of speech ({done['model']} {done['model_version']}) in {done['db']}")


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
    s = _settings(db=db)
    try:
        n = retag_all(s, day)
    except ParleyError as exc:
        _fail(str(exc))
    console.print(f"re-tagged {n} interactions" + (f" since {day}" if day else ""))


@app.command()
def rescore(
    rubric: Path = typer.Option(..., "--rubric", help="Rubric YAML file (e.g. data/rubrics/contact_centre.yaml)."),
    db: Optional[Path] = DbOpt,
) -> None:
    """Re-score every stored interaction with a rubric; scorecards of other rubric versions stay."""
    from .scoring import rescore as rescore_all
    from .store import Store

    s = _settings(db=db)
    try:
        with Store(s.db, s.db_lock_timeout_s).connect() as con:
            n = rescore_all(con, rubric)
    except ParleyError as exc:
        _fail(str(exc))
    console.print(f"scored {n} interactions with {rubric}")


# -- helpers ------------------------------------------------------------------------------------
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
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _run_batch(s: Settings, files: list[Path], *, local: bool, move: bool, verbose: bool) -> list[dict]:
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

            Processor(s, move=move).process_many(files, on_outcome=lambda o: advance(o.as_dict()))
        else:
            _quiet_prefect(verbose)
            from flows.watch_inbox import watch_inbox

            watch_inbox(files=[str(f) for f in files], settings=_overrides(s), move=move, on_progress=advance)
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
    from .speakers_cli import register as register_diarization
    from .tagging.cli import register as register_tagging
    from .web.cli import register as register_web

    register_diarization(eval_app)
    register_tagging(eval_app, lambda: tagging_options(AnalysisOptions.from_settings(Settings())))
    register_web(app)


_register_commands()

if __name__ == "__main__":
    app()
