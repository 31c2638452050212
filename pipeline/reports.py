"""Scorecard and consistency reports: pandas tables, a terminal view, CSV/Parquet/HTML files.

``report_scorecards`` gives one rubric version's scorecards for a period: per staff member
(interactions, mean score, spread, pass rate, trend; charts in HTML) and per interaction;
``report_consistency``
compares staff, teams, sites, channels and touchpoints: interactions, mean score, spread
(std, IQR), pass rates, complaint rate, customer sentiment trajectory, week-by-week trend and
outliers. A group is an outlier when its mean score is both beyond 3.5 robust z (median/MAD
of the group means, MAD floored at ``min_spread`` points) and outside Tukey's 1.5×IQR fences.

An interaction is dated by its ``started_at`` (metadata) or, without one, by when Parley received
the file; the report's notes say how many were dated that way and how many were left out (no
date at all under ``--since``, no staff id for the per-staff rows, no score). The rubric version
is the one scored most recently unless ``version`` is given; the notes name the other versions.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from .errors import ConfigError
from .queries import COMPLAINTS_REGISTER, CURRENT_RUBRICS, existing_columns
from .store import table_names

DIMENSIONS = ("staff", "team", "site", "channel", "touchpoint")
Z_LIMIT = 3.5

_TAGS_SQL = """
    SELECT recording_id, kind, role, arg_max(label, coalesce(score, 0)) AS label
    FROM tags WHERE utterance_index IS NULL AND kind IN ('touchpoint', 'complaint', 'sentiment_trajectory')
    GROUP BY ALL
"""
_NO_TAGS_SQL = "SELECT NULL::VARCHAR AS recording_id, NULL::VARCHAR AS kind, NULL::VARCHAR AS role, NULL::VARCHAR AS label WHERE false"

_BASE_SQL = """
WITH itag AS ({tags})
SELECT s.recording_id, s.rubric_id, s.rubric_version, s.score, s.passed, s.auto_failed,
       r.staff_id AS staff, r.team, r.site, r.channel, coalesce(r.started_at, r.received_at) AS started_at,
       CASE WHEN r.started_at IS NOT NULL THEN 'started' WHEN r.received_at IS NOT NULL THEN 'received' END AS dated_by,
       tp.label AS touchpoint, cp.label AS complaint, st.label AS sentiment_trajectory
FROM scorecards s
JOIN recordings r ON r.id = s.recording_id
LEFT JOIN itag tp ON tp.recording_id = s.recording_id AND tp.kind = 'touchpoint'
LEFT JOIN itag cp ON cp.recording_id = s.recording_id AND cp.kind = 'complaint'
LEFT JOIN itag st ON st.recording_id = s.recording_id AND st.kind = 'sentiment_trajectory' AND st.role = 'customer'
WHERE s.rubric_id = $rubric AND s.rubric_version = $version
  AND ($since IS NULL OR coalesce(r.started_at, r.received_at) >= $since)
  AND ($team IS NULL OR r.team = $team)
  AND ($staff IS NULL OR r.staff_id = $staff)
ORDER BY coalesce(r.started_at, r.received_at), s.recording_id
"""

_UNDATED_SQL = """
SELECT count(*) FROM scorecards s JOIN recordings r ON r.id = s.recording_id
WHERE s.rubric_id = $rubric AND s.rubric_version = $version AND r.started_at IS NULL AND r.received_at IS NULL
  AND ($team IS NULL OR r.team = $team) AND ($staff IS NULL OR r.staff_id = $staff)
"""

IN_DOUBT = "coalesce(json_exists({evidence}, '$.role_unsure') OR json_exists({evidence}, '$.other_side_unsure'), false)"
"""A scorecard line whose evidence rests on words whose speaker is in doubt (``rules._evaluate``'s
notes, which ``scoring._judge`` copies): in an utterance whose voice sounds like the other side's,
or a phrase perhaps said in words given to the other side."""

_LINES_SQL = f"""
SELECT recording_id, section, criterion, status, {IN_DOUBT.format(evidence="evidence")} AS in_doubt FROM scorecard_lines
WHERE rubric_id = $rubric AND rubric_version = $version
"""


@dataclass
class Report:
    """A titled set of tables; the first table is the main one."""

    title: str
    subtitle: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What the reader must know: the rubric version and why, interactions dated or left out."""

    @property
    def main(self) -> pd.DataFrame:
        return next(iter(self.tables.values()))


def _pick_rubric(con: Any, rubric: str | None, version: str | None) -> tuple[str, str]:
    current = dict(con.execute(CURRENT_RUBRICS).fetchall())
    if not current:
        raise ConfigError("no scorecards are stored yet", fix="process recordings or run `parley rescore --rubric FILE` first")
    if rubric is None:
        rubric = con.execute("SELECT rubric_id FROM scorecards ORDER BY scored_at DESC LIMIT 1").fetchone()[0]
    if rubric not in current:
        raise ConfigError(f"no scorecards for rubric '{rubric}'", fix=f"use one of: {', '.join(sorted(current))}")
    return rubric, version or current[rubric]


def _base(con: Any, since: Any, team: str | None, staff: str | None, rubric: str | None, version: str | None) -> tuple[pd.DataFrame, pd.DataFrame, str, list[str]]:
    """(scorecards with their interactions' facts, their lines, the rubric in words, notes)."""
    chosen = version
    rubric, version = _pick_rubric(con, rubric, version)
    since_ts = pd.Timestamp(since).to_pydatetime() if since is not None else None
    params = {"rubric": rubric, "version": version, "since": since_ts, "team": team, "staff": staff}
    tags = _TAGS_SQL if "tags" in table_names(con) else _NO_TAGS_SQL
    base = con.execute(_BASE_SQL.format(tags=tags), params).df()
    lines = con.execute(_LINES_SQL, {"rubric": rubric, "version": version}).df()
    lines = lines[lines.recording_id.isin(base.recording_id)]
    others = [v for (v,) in con.execute("SELECT DISTINCT rubric_version FROM scorecards WHERE rubric_id = ? AND rubric_version <> ? ORDER BY 1", [rubric, version]).fetchall()]
    how = "as asked" if chosen else "the version scored most recently"
    notes = [f"rubric {rubric} version {version} ({how})" + (f"; also stored: version {', '.join(others)} (--version)" if others else "")]
    received = int((base.dated_by == "received").sum())
    if received:
        notes.append(f"{received} interaction(s) have no start time in their metadata and are dated by when the file was received")
    if since_ts is not None:
        undated = con.execute(_UNDATED_SQL, {k: v for k, v in params.items() if k != "since"}).fetchone()[0]
        if undated:
            notes.append(f"{undated} interaction(s) with no start or received time are left out (--since cannot place them)")
    unscored = int(base.score.isna().sum())
    if unscored:
        notes.append(f"{unscored} interaction(s) have no score (no criterion applied) and count only in interactions")
    return base, lines, f"rubric {rubric} version {version}", notes


def _subtitle(rubric: str, since: Any, team: str | None, staff: str | None) -> str:
    parts = [rubric, f"since {pd.Timestamp(since).date()}" if since is not None else "all time"]
    parts += [f"team {team}"] if team else []
    parts += [f"staff {staff}"] if staff else []
    return ", ".join(parts)


def _criteria(lines: pd.DataFrame, base: pd.DataFrame, dims: Sequence[str]) -> pd.DataFrame:
    """Pass rate per criterion (n/a left out), per group of each dimension."""
    joined = lines[lines.status != "n/a"].merge(base[["recording_id", *dims]], on="recording_id")
    frames = []
    for dim in dims:
        g = joined.dropna(subset=[dim]).groupby([dim, "section", "criterion"], sort=True)
        part = g.status.agg(applicable="size", pass_rate=lambda s: round((s == "pass").mean(), 4)).reset_index()
        frames.append(part.rename(columns={dim: "group"}).assign(dimension=dim))
    cols = ["dimension", "group", "section", "criterion", "applicable", "pass_rate"]
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


def _slope(trend: pd.DataFrame) -> float:
    """Least-squares change of the weekly mean score, in points per week."""
    if len(trend) < 2:
        return float("nan")
    weeks = (trend.week - trend.week.min()).dt.days / 7.0
    return round(float(np.polyfit(weeks, trend.mean_score, 1)[0]), 3) + 0.0  # no "-0.0"


def _outliers(means: pd.Series, min_spread: float) -> tuple[pd.Series, pd.Series]:
    """(robust z, 'low'/'high'/'') of each group mean."""
    med = means.median()
    mad = max(float((means - med).abs().median()), min_spread)
    z = (0.6745 * (means - med) / mad).round(2)
    q1, q3 = means.quantile(0.25), means.quantile(0.75)
    lo, hi = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    flag = np.where((z < -Z_LIMIT) & (means < lo), "low", np.where((z > Z_LIMIT) & (means > hi), "high", ""))
    return z, pd.Series(flag, index=means.index)


def _summary(base: pd.DataFrame, dim: str, min_interactions: int, min_spread: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, weekly trend) of one dimension."""
    data = base.dropna(subset=[dim]).copy()
    data["week"] = data.started_at.dt.to_period("W-SUN").dt.start_time
    trend = data.groupby([dim, "week"]).score.agg(interactions="size", mean_score="mean").reset_index()
    trend["mean_score"] = trend.mean_score.round(2)
    rows = []
    for group, part in data.groupby(dim, sort=True):
        s = part.score.dropna()
        q1, med, q3 = (s.quantile(q) for q in (0.25, 0.5, 0.75)) if len(s) else (np.nan,) * 3
        row = {
            "dimension": dim, "group": group, "interactions": len(part), "mean_score": round(s.mean(), 2),
            "std": round(s.std(), 2), "q1": q1, "median": med, "q3": q3, "iqr": round(q3 - q1, 2),
            "pass_rate": round(part.passed.mean(), 4), "auto_fail_rate": round(part.auto_failed.mean(), 4),
            "complaint_rate": round((part.complaint.dropna() == "yes").mean(), 4) if part.complaint.notna().any() else np.nan,
            "trend_per_week": _slope(trend[trend[dim] == group]),
        }
        for label, share in part.sentiment_trajectory.value_counts(normalize=True).items():
            row[f"sentiment_{label}"] = round(share, 4)
        rows.append(row)
    summary = pd.DataFrame(rows)
    if summary.empty:
        return summary, trend.rename(columns={dim: "group"}).assign(dimension=dim)
    judged = summary.interactions >= min_interactions
    summary["robust_z"], summary["outlier"] = np.nan, ""
    if judged.sum() >= 3:
        z, flag = _outliers(summary.loc[judged, "mean_score"], min_spread)
        summary.loc[judged, "robust_z"], summary.loc[judged, "outlier"] = z, flag
    summary = summary.sort_values(["mean_score", "group"], na_position="last").reset_index(drop=True)
    summary.insert(2, "rank", range(1, len(summary) + 1))
    return summary, trend.rename(columns={dim: "group"}).assign(dimension=dim)[["dimension", "group", "week", "interactions", "mean_score"]]


def report_consistency(
    con: Any,
    since: date | datetime | str | None = None,
    by: Sequence[str] = DIMENSIONS,
    *,
    rubric: str | None = None,
    version: str | None = None,
    min_interactions: int = 3,
    min_spread: float = 2.0,
) -> Report:
    """Compare groups of each dimension in ``by``; tables ``summary``, ``criteria``, ``trend``.

    ``summary`` is ranked lowest mean score first within each dimension; groups with fewer than
    ``min_interactions`` scorecards are not judged as outliers.
    """
    unknown = set(by) - set(DIMENSIONS)
    if unknown:
        raise ConfigError(f"cannot group by {sorted(unknown)}", fix=f"use any of: {', '.join(DIMENSIONS)}")
    base, lines, rubric_text, notes = _base(con, since, None, None, rubric, version)
    parts = [_summary(base, dim, min_interactions, min_spread) for dim in by]
    summary = pd.concat([p[0] for p in parts], ignore_index=True)
    trend = pd.concat([p[1] for p in parts], ignore_index=True)
    return Report(
        "Scorecard consistency",
        _subtitle(rubric_text, since, None, None),
        {"summary": summary, "criteria": _criteria(lines, base, list(by)), "trend": trend},
        notes,
    )


def _roles_flagged(con: Any, recording_ids: list[str]) -> set[str]:
    """Those of ``recording_ids`` whose role assignment is flagged for a person to check
    (``roles.RoleResult.flagged``); none where the database has no role assignments."""
    if not recording_ids or "flagged" not in existing_columns(con, "role_assignment"):
        return set()
    found = con.execute("SELECT DISTINCT recording_id FROM role_assignment WHERE flagged AND list_contains(?, recording_id)",
                        [recording_ids]).fetchall()
    return {r[0] for r in found}


def report_scorecards(
    con: Any,
    since: date | datetime | str | None,
    team: str | None = None,
    staff: str | None = None,
    *,
    rubric: str | None = None,
    version: str | None = None,
) -> Report:
    """Scorecards of one rubric version since a date; tables ``summary`` (one row per staff member,
    lowest mean first, then one for everyone), ``scorecards`` (one per interaction), ``criteria``
    (pass rate per criterion, per staff member and for everyone) and ``trend`` (weekly mean per
    staff member)."""
    base, lines, rubric_text, notes = _base(con, since, team, staff, rubric, version)
    failed = lines[lines.status == "fail"].groupby("recording_id").criterion.agg(lambda c: ", ".join(sorted(c)))
    doubted = lines[lines.in_doubt.astype(bool)]
    in_doubt = doubted.groupby("recording_id").criterion.agg(lambda c: ", ".join(sorted(c)))
    flagged = _roles_flagged(con, base.recording_id.tolist())
    cards = base.assign(failed_criteria=base.recording_id.map(failed).fillna(""), in_doubt=base.recording_id.map(in_doubt).fillna(""),
                        roles_flagged=base.recording_id.isin(flagged))
    cards = cards[["recording_id", "started_at", "dated_by", "staff", "team", "channel", "touchpoint", "score", "passed", "auto_failed",
                   "failed_criteria", "in_doubt", "roles_flagged"]]
    if flagged:
        notes.append(f"{len(flagged)} interaction(s) have staff/customer roles flagged for a person to check (told apart with low "
                     "confidence; column roles_flagged): their scores may rest on the wrong person's words; the query flagged_roles says why")
    if len(doubted):
        notes.append(f"{len(doubted)} scorecard line(s) in {doubted.recording_id.nunique()} interaction(s) rest on words whose speaker "
                     "is in doubt (the voice sounds like the other side's; column in_doubt): check them on the interaction page before acting on them")
    everyone = base.assign(all="all")
    per_staff, trend = _summary(base, "staff", min_interactions=3, min_spread=2.0)
    overall, _ = _summary(everyone, "all", min_interactions=1, min_spread=0.0)  # one group: never judged
    summary = pd.concat([per_staff, overall.drop(columns=["rank", "robust_z", "outlier"], errors="ignore")], ignore_index=True)
    no_staff = int(base.staff.isna().sum())
    if no_staff:
        notes.append(f"{no_staff} interaction(s) have no staff id: counted in 'all', not in a staff row")
    return Report(
        "Scorecards",
        _subtitle(rubric_text, since, team, staff),
        {"summary": summary, "scorecards": cards, "criteria": _criteria(lines, everyone, ["staff", "all"]), "trend": trend},
        notes,
    )


def complaints_register(con: Any, since: date | datetime | str | None = None, team: str | None = None) -> pd.DataFrame:
    """The complaints register (``queries.COMPLAINTS_REGISTER``) since a date, for one team or
    all: those not resolved on the call first, oldest first."""
    if not {"tags", "utterances", "recordings"} <= table_names(con):
        raise ConfigError("no tagged interactions are stored yet", fix="process recordings first (parley process)")
    if isinstance(since, str):
        try:
            since = date.fromisoformat(since)
        except ValueError:
            raise ConfigError(f"--since '{since}' is not a date", fix="write it as YYYY-MM-DD") from None
    since_ts = pd.Timestamp(since).to_pydatetime() if since is not None else None
    sql = f"""SELECT * FROM ({COMPLAINTS_REGISTER}) WHERE ($since IS NULL OR started_at >= $since) AND ($team IS NULL OR team = $team)
              ORDER BY resolved_on_call, started_at, recording_id"""
    return con.execute(sql, {"since": since_ts, "team": team}).df()


def report_complaints(con: Any, since: date | datetime | str | None = None, team: str | None = None) -> Report:
    """``parley report complaints``: tables ``complaints`` (the register) and ``summary`` (per
    product and cause: complaints, resolved on the call, escalation asked, open, oldest open)."""
    register = complaints_register(con, since, team)
    keys = register.assign(product=register["product"].fillna(""), cause=register["cause"].fillna(""))
    summary = keys.groupby(["product", "cause"], sort=True).agg(
        complaints=("recording_id", "size"), resolved_on_call=("resolved_on_call", "sum"),
        escalation_requested=("escalation_requested", "sum"), oldest_open_days=("age_days", "max"),
    ).reset_index() if len(keys) else pd.DataFrame(columns=["product", "cause", "complaints", "resolved_on_call", "escalation_requested", "oldest_open_days"])
    summary.insert(4, "open", summary.complaints - summary.resolved_on_call)
    parts = [f"since {pd.Timestamp(since).date()}" if since is not None else "all time"] + ([f"team {team}"] if team else [])
    return Report("Complaints register", ", ".join(parts) + f": {len(register)} complaints, {int((~register.resolved_on_call).sum())} not resolved on the call",
                  {"complaints": register, "summary": summary})


# ---- output -----------------------------------------------------------------------------------


def _side_paths(report: Report, out: Path) -> dict[str, Path]:
    """Main table → ``out``; the others → ``STEM.NAME.SUFFIX`` beside it."""
    names = list(report.tables)
    return {n: out if i == 0 else out.with_name(f"{out.stem}.{n}{out.suffix}") for i, n in enumerate(names)}


def render(report: Report | pd.DataFrame, out_path: str | Path) -> list[Path]:
    """Write ``.csv``, ``.parquet`` (DuckDB COPY) or a self-contained ``.html``; return the files written."""
    out = Path(out_path)
    if isinstance(report, pd.DataFrame):
        report = Report(out.stem, "", {"table": report})
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".html":
        out.write_text(to_html(report), encoding="utf-8")
        return [out]
    if suffix not in (".csv", ".parquet"):
        raise ConfigError(f"cannot write a report as '{out.suffix}'", fix="use a file name ending in .csv, .parquet or .html", path=str(out))
    paths = _side_paths(report, out)
    with duckdb.connect() as con:
        for name, df in report.tables.items():
            con.register("report_table", df)
            fmt = "(FORMAT parquet)" if suffix == ".parquet" else "(FORMAT csv, HEADER true)"
            con.execute(f"COPY report_table TO '{str(paths[name]).replace(chr(39), chr(39) * 2)}' {fmt}")
            con.unregister("report_table")
    return list(paths.values())


def _bar_svg(summary: pd.DataFrame) -> str:
    """Horizontal bars of mean score (0–100) per group, IQR whiskers, outliers in red."""
    rows = summary.dropna(subset=["mean_score"])
    width, left, bar_h = 640, 170, 18
    height = 30 + bar_h * len(rows)
    x = lambda v: left + (width - left - 20) * float(v) / 100.0  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for tick in range(0, 101, 20):
        parts.append(f'<line x1="{x(tick):.1f}" y1="0" x2="{x(tick):.1f}" y2="{height - 20}" stroke="#ddd"/>'
                     f'<text x="{x(tick):.1f}" y="{height - 5}" font-size="10" text-anchor="middle">{tick}</text>')
    for i, r in enumerate(rows.itertuples()):
        y = 4 + i * bar_h
        colour = "#c0392b" if r.outlier else "#2e86c1"
        label = html.escape(f"{r.group} (n={r.interactions})")
        parts.append(f'<text x="{left - 6}" y="{y + 12}" font-size="11" text-anchor="end">{label}</text>'
                     f'<rect x="{left}" y="{y + 2}" width="{x(r.mean_score) - left:.1f}" height="{bar_h - 6}" fill="{colour}">'
                     f'<title>{label}: mean {r.mean_score}</title></rect>')
        if pd.notna(r.q1):
            parts.append(f'<line x1="{x(r.q1):.1f}" y1="{y + 8}" x2="{x(r.q3):.1f}" y2="{y + 8}" stroke="#333"/>')
    return "".join(parts) + "</svg>"


def _line_svg(trend: pd.DataFrame, max_groups: int = 8) -> str:
    """Weekly mean score per group (the largest ``max_groups`` groups), one polyline each."""
    if trend.empty or trend.week.nunique() < 2:
        return ""
    top = trend.groupby("group").interactions.sum().nlargest(max_groups).index
    weeks = sorted(trend.week.unique())
    width, height, pad = 640, 220, 30
    x = lambda w: pad + (width - 2 * pad) * weeks.index(w) / (len(weeks) - 1)  # noqa: E731
    y = lambda v: height - pad - (height - 2 * pad) * float(v) / 100.0  # noqa: E731
    palette = ["#2e86c1", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#f1c40f"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 16 * len(top)}" role="img">',
             f'<line x1="{pad}" y1="{y(0)}" x2="{width - pad}" y2="{y(0)}" stroke="#999"/>']
    for i, group in enumerate(top):
        part = trend[trend.group == group].sort_values("week")
        points = " ".join(f"{x(w):.1f},{y(v):.1f}" for w, v in zip(part.week, part.mean_score))
        colour = palette[i % len(palette)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
                     f'<text x="{pad}" y="{height + 12 + 16 * i}" font-size="11" fill="{colour}">{html.escape(str(group))}</text>')
    first, last = pd.Timestamp(weeks[0]).date(), pd.Timestamp(weeks[-1]).date()
    parts.append(f'<text x="{pad}" y="{height - 8}" font-size="10">{first}</text>'
                 f'<text x="{width - pad}" y="{height - 8}" font-size="10" text-anchor="end">{last}</text>')
    return "".join(parts) + "</svg>"


def to_html(report: Report) -> str:
    """One self-contained page: charts as inline SVG, tables as HTML; no scripts, no links."""
    body = [f"<h1>{html.escape(report.title)}</h1><p>{html.escape(report.subtitle)}</p>"]
    body += [f"<p class='note'>{html.escape(note)}</p>" for note in report.notes]
    summary, trend = report.tables.get("summary"), report.tables.get("trend")
    if summary is not None and "outlier" in summary and not summary.empty:
        for dim, part in summary[summary.dimension != "all"].groupby("dimension", sort=False):
            body.append(f"<h2>Mean score by {html.escape(str(dim))}</h2>{_bar_svg(part.fillna({'outlier': ''}))}")
            if trend is not None:
                body.append(_line_svg(trend[trend.dimension == dim]))
    for name, df in report.tables.items():
        body.append(f"<h2>{html.escape(name)}</h2>" + df.to_html(index=False, na_rep="", escape=True, border=0))
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
             "td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}")
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}</title><style>{style}</style></head><body>{''.join(body)}</body></html>"


def rich_table(df: pd.DataFrame, title: str = "", max_rows: int = 50) -> Any:
    """A ``rich.table.Table`` of the first ``max_rows`` rows, outliers in red."""
    from rich.table import Table

    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col), justify="right" if pd.api.types.is_numeric_dtype(df[col]) else "left")
    for row in df.head(max_rows).itertuples(index=False):
        cells = ["" if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v) for v in row]
        table.add_row(*cells, style="red" if "outlier" in df.columns and getattr(row, "outlier", "") else None)
    return table


def report_command(
    con: Any,
    which: str,
    *,
    since: str | None = None,
    team: str | None = None,
    staff: str | None = None,
    by: Sequence[str] = DIMENSIONS,
    rubric: str | None = None,
    version: str | None = None,
    out: str | Path | None = None,
    console: Any = None,
) -> Report:
    """``parley report scorecards|consistency``: print the main table, and write ``out`` if given."""
    from rich.console import Console

    if which == "scorecards":
        report = report_scorecards(con, since, team, staff, rubric=rubric, version=version)
    elif which == "consistency":
        report = report_consistency(con, since, by, rubric=rubric, version=version)
    elif which == "complaints":
        report = report_complaints(con, since, team)
    else:
        raise ConfigError(f"unknown report '{which}'", fix="use 'scorecards', 'consistency' or 'complaints'")
    console = console or Console()
    console.print(rich_table(report.main, f"{report.title}: {report.subtitle}"))
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    if out is not None:
        for path in render(report, out):
            console.print(f"wrote {path}")
    return report
