"""The queries behind the pages, always limited to what the user may see.

Every function takes an open read-only DuckDB connection and ``scope``: None (everything) or the
one team a team lead may see. Stages that are not wired yet leave tables missing;
``ensure_tables`` gives the connection empty temporary stand-ins so the pages still render.
Scorecard aggregates reuse ``pipeline.reports`` (the same numbers as `parley report`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

import pandas as pd

from .. import reports
from ..dynamics import seconds_apart
from ..errors import ConfigError
from ..queries import existing_columns
from ..store import table_names

STAND_INS = {
    "tags": "recording_id VARCHAR, run_id VARCHAR, utterance_index INTEGER, kind VARCHAR, label VARCHAR, score DOUBLE, role VARCHAR, model VARCHAR, model_version VARCHAR, taxonomy_hash VARCHAR, evidence INTEGER[], detail JSON",
    "findings": "recording_id VARCHAR, run_id VARCHAR, rule VARCHAR, category VARCHAR, passed BOOLEAN, utterance_index INTEGER, start_s DOUBLE, end_s DOUBLE, matched VARCHAR, score DOUBLE, detail JSON",
    "scorecards": "recording_id VARCHAR, run_id VARCHAR, rubric_id VARCHAR, rubric_version VARCHAR, rubric_hash VARCHAR, score DOUBLE, raw_score DOUBLE, passed BOOLEAN, auto_failed BOOLEAN, pass_mark DOUBLE, scored_at TIMESTAMP",
    "scorecard_lines": "recording_id VARCHAR, run_id VARCHAR, rubric_id VARCHAR, rubric_version VARCHAR, section VARCHAR, criterion VARCHAR, fact VARCHAR, status VARCHAR, weight DOUBLE, points DOUBLE, auto_fail BOOLEAN, value VARCHAR, evidence JSON",
    "redactions": "recording_id VARCHAR, run_id VARCHAR, utterance_index INTEGER, type VARCHAR, start_s DOUBLE, end_s DOUBLE, channel INTEGER, char_start INTEGER, char_end INTEGER",
}
SENTIMENT_VALUE = "CASE label WHEN 'positive' THEN 1.0 WHEN 'negative' THEN -1.0 ELSE 0.0 END"
AT = "coalesce(r.started_at, r.received_at, r.processed_at)"


def ensure_tables(con: Any) -> None:
    """Create empty temporary tables for analysis tables this database does not have yet."""
    have = table_names(con) | table_names(con, "temp")  # stand-ins made before on this connection too
    for name, columns in STAND_INS.items():
        if name not in have:
            con.execute(f"CREATE TEMP TABLE {name} ({columns})")


def rows(con: Any, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Run ``sql`` with the ``$name`` parameters it uses; rows as dicts."""
    used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}
    cur = con.execute(sql, used)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


@dataclass
class Filters:
    """The overview's filters; empty strings mean 'any'."""

    since: str = ""
    until: str = ""
    team: str = ""
    site: str = ""
    channel: str = ""
    touchpoint: str = ""

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Filters:
        out = cls(**{f.name: (query.get(f.name) or "").strip() for f in fields(cls)})
        for name in ("since", "until"):
            value = getattr(out, name)
            if value:
                try:
                    date.fromisoformat(value)
                except ValueError as exc:
                    raise ConfigError(f"'{value}' is not a date", fix="write dates as YYYY-MM-DD") from exc
        return out

    def where(self, scope: str | None) -> tuple[str, dict[str, Any]]:
        """SQL condition over ``recordings r`` (and its touchpoint ``tp``) and its parameters."""
        conds, params = ["true"], {}
        if scope is not None:
            conds.append("r.team = $scope")
            params["scope"] = scope
        for name in ("team", "site", "channel"):
            if getattr(self, name):
                conds.append(f"r.{name} = ${name}")
                params[name] = getattr(self, name)
        if self.touchpoint:
            conds.append("tp.label = $touchpoint")
            params["touchpoint"] = self.touchpoint
        if self.since:
            conds.append(f"{AT} >= CAST($since AS DATE)")
            params["since"] = self.since
        if self.until:
            conds.append(f"{AT} < CAST($until AS DATE) + INTERVAL 1 DAY")
            params["until"] = self.until
        return " AND ".join(conds), params


CURRENT = """
     cur AS (SELECT rubric_id, arg_max(rubric_version, scored_at) AS rubric_version FROM scorecards
             WHERE rubric_id = (SELECT arg_max(rubric_id, scored_at) FROM scorecards) GROUP BY 1)"""
"""The rubric scored most recently, at its latest version: the one the pages aggregate."""

INTERACTION_FACTS = f"""
WITH tp AS (SELECT recording_id, arg_max(label, coalesce(score, 0)) AS label FROM tags
            WHERE kind = 'touchpoint' AND utterance_index IS NULL GROUP BY 1),
     cp AS (SELECT recording_id, bool_or(label = 'yes') AS complaint FROM tags
            WHERE kind = 'complaint' AND utterance_index IS NULL GROUP BY 1),
     se AS (SELECT recording_id, avg({SENTIMENT_VALUE}) AS sentiment FROM tags
            WHERE kind = 'sentiment' AND role = 'customer' AND utterance_index IS NOT NULL GROUP BY 1),
     {CURRENT},
     sc AS (SELECT s.recording_id, s.score, s.passed, s.auto_failed FROM scorecards s JOIN cur USING (rubric_id, rubric_version)),
     facts AS (
        SELECT r.id, r.staff_id, r.team, r.site, r.channel, {AT} AS started, r.duration_s,
               tp.label AS touchpoint, cp.complaint, se.sentiment, sc.score, sc.passed, sc.auto_failed
        FROM recordings r
        LEFT JOIN tp ON tp.recording_id = r.id LEFT JOIN cp ON cp.recording_id = r.id
        LEFT JOIN se ON se.recording_id = r.id LEFT JOIN sc ON sc.recording_id = r.id
        WHERE {{where}})
"""
RATE = "avg(CASE WHEN {c} THEN 1.0 WHEN NOT {c} THEN 0.0 END)"
GROUP_STATS = f"""count(*) AS interactions, avg(score) AS mean_score, stddev_samp(score) AS std,
       quantile_cont(score, 0.25) AS q1, quantile_cont(score, 0.5) AS median, quantile_cont(score, 0.75) AS q3,
       {RATE.format(c='passed')} AS pass_rate, {RATE.format(c='complaint')} AS complaint_rate"""
DIMENSIONS = {"team": "team", "site": "site", "channel": "channel", "touchpoint": "touchpoint", "staff": "staff_id"}


def overview(con: Any, scope: str | None, filters: Filters) -> dict[str, Any]:
    """Headline figures, a weekly series and the filter choices."""
    where, params = filters.where(scope)
    head = INTERACTION_FACTS.format(where=where)
    found = rows(con, head + f"""SELECT date_trunc('week', started)::DATE AS week, count(*) AS interactions,
                                      {RATE.format(c='complaint')} AS complaint_rate, avg(score) AS mean_score, avg(sentiment) AS sentiment,
                                      sum(duration_s) / 3600 AS hours, grouping(date_trunc('week', started)::DATE) AS total
                                  FROM facts GROUP BY GROUPING SETS ((date_trunc('week', started)::DATE), ()) ORDER BY total, week""", **params)
    totals = found[-1]  # the () grouping set: every interaction
    weekly = [r for r in found[:-1] if r["week"] is not None]
    scoped = "r.team = $scope" if scope is not None else "true"
    choices = {
        name: [r["v"] for r in rows(con, f"SELECT DISTINCT {name} AS v FROM recordings r WHERE {scoped} AND {name} IS NOT NULL ORDER BY 1", scope=scope)]
        for name in ("team", "site", "channel")
    }
    choices["touchpoint"] = [r["v"] for r in rows(con, f"SELECT DISTINCT t.label AS v FROM tags t JOIN recordings r ON r.id = t.recording_id WHERE {scoped} AND t.kind = 'touchpoint' AND t.utterance_index IS NULL ORDER BY 1", scope=scope)]
    return {"totals": totals, "weekly": weekly, "choices": choices}


def rubric_label(con: Any) -> str | None:
    """'rubric ID version V' of the rubric the pages aggregate, or None when nothing is scored."""
    found = rows(con, f"WITH {CURRENT.strip()} SELECT rubric_id, rubric_version FROM cur")
    return f"rubric {found[0]['rubric_id']} version {found[0]['rubric_version']}" if found else None


def group_stats(con: Any, scope: str | None, dims: dict[str, str], extra_where: str = "true", **params: Any) -> list[dict[str, Any]]:
    """Score statistics of every group of each dimension (``dims``: name -> facts column), scored interactions only."""
    where, base = Filters().where(scope)
    parts = " UNION ALL ".join(f"SELECT '{name}' AS dimension, CAST({col} AS VARCHAR) AS grp, * FROM facts WHERE {col} IS NOT NULL" for name, col in dims.items())
    sql = INTERACTION_FACTS.format(where=where) + f"""
        SELECT dimension, grp AS "group", {GROUP_STATS}, any_value(team) AS team
        FROM ({parts}) g WHERE score IS NOT NULL AND {extra_where} GROUP BY ALL ORDER BY dimension, mean_score, "group" """
    return rows(con, sql, **base, **params)


def flag_outliers(groups: list[dict[str, Any]], min_interactions: int = 3, min_spread: float = 2.0) -> None:
    """Set ``outlier`` ('low', 'high' or '') and ``robust_z`` on groups, as `parley report consistency` does."""
    for g in groups:
        g["outlier"], g["robust_z"] = "", None
    judged = [g for g in groups if g["interactions"] >= min_interactions and g["mean_score"] is not None]
    if len(judged) < 3:
        return
    z, flag = reports._outliers(pd.Series([g["mean_score"] for g in judged]), min_spread)
    for g, zi, fi in zip(judged, z, flag):
        g["robust_z"], g["outlier"] = float(zi), str(fi)


def criteria_rates(con: Any, scope: str | None, by: str, extra_where: str = "true", **params: Any) -> list[dict[str, Any]]:
    """Pass rate per criterion (n/a left out) per value of ``by`` (a recordings column or SQL expression)."""
    sql = f"""WITH {CURRENT.strip()}
        SELECT {by} AS grp, l.section, l.criterion, count(*) AS applicable, avg(CASE WHEN l.status = 'pass' THEN 1.0 ELSE 0.0 END) AS pass_rate
        FROM scorecard_lines l JOIN cur USING (rubric_id, rubric_version) JOIN recordings r ON r.id = l.recording_id
        WHERE l.status <> 'n/a' AND ($scope IS NULL OR r.team = $scope) AND {extra_where}
        GROUP BY ALL ORDER BY 2, 3"""
    return rows(con, sql, scope=scope, **params)


def staff_table(con: Any, scope: str | None) -> dict[str, Any]:
    """One row per staff member: interactions, mean, spread, pass rate, per-criterion pass rates, weekly trend."""
    rubric = rubric_label(con)
    if rubric is None:
        return {"rubric": None, "staff": [], "criteria": []}
    staff = group_stats(con, scope, {"staff": "staff_id"})
    flag_outliers(staff)
    where, params = Filters().where(scope)
    trend: dict[str, list[float]] = {}
    for r in rows(con, INTERACTION_FACTS.format(where=where) + "SELECT staff_id, date_trunc('week', started) AS week, avg(score) AS s FROM facts WHERE score IS NOT NULL AND staff_id IS NOT NULL GROUP BY ALL ORDER BY 1, 2", **params):
        trend.setdefault(r["staff_id"], []).append(r["s"])
    crit = criteria_rates(con, scope, "r.staff_id")
    criteria = sorted({c["criterion"] for c in crit})
    rates = {(c["grp"], c["criterion"]): c["pass_rate"] for c in crit}
    out = [{**s, "trend": trend.get(s["group"], []), "criteria": [rates.get((s["group"], c)) for c in criteria]} for s in sorted(staff, key=lambda s: s["group"])]
    return {"rubric": rubric, "staff": out, "criteria": criteria}


def staff_detail(con: Any, scope: str | None, staff_id: str) -> dict[str, Any] | None:
    """A staff member's interactions and their criteria pass rates beside their team's; None if not visible."""
    found = rows(con, "SELECT team, count(*) AS n FROM recordings r WHERE staff_id = $staff AND ($scope IS NULL OR team = $scope) GROUP BY 1 ORDER BY 2 DESC", staff=staff_id, scope=scope)
    if not found:
        return None
    team = found[0]["team"]
    where, params = Filters().where(scope)
    interactions = rows(con, INTERACTION_FACTS.format(where=where + " AND r.staff_id = $staff") + "SELECT * FROM facts ORDER BY started DESC NULLS LAST LIMIT 500", staff=staff_id, **params)
    if interactions:  # scorecard lines (current rubric versions) whose evidence's speaker is in doubt
        doubted = rows(con, f"""WITH {CURRENT} SELECT l.recording_id, count(*) AS n FROM scorecard_lines l JOIN cur USING (rubric_id, rubric_version)
                                WHERE list_contains($ids, l.recording_id) AND {reports.IN_DOUBT.format(evidence='l.evidence')} GROUP BY 1""",
                       ids=[i["id"] for i in interactions])
        counts = {d["recording_id"]: d["n"] for d in doubted}
        flagged = set()
        if "flagged" in existing_columns(con, "role_assignment"):  # roles a person should check (roles.RoleResult.flagged)
            flagged = {f["recording_id"] for f in rows(con, "SELECT recording_id FROM role_assignment WHERE flagged AND list_contains($ids, recording_id)",
                                                        ids=[i["id"] for i in interactions])}
        for i in interactions:
            i["lines_in_doubt"] = counts.get(i["id"], 0)
            i["roles_flagged"] = i["id"] in flagged
    rates = criteria_rates(con, scope, "CASE WHEN r.staff_id = $staff THEN 'staff' ELSE 'team' END", "r.team IS NOT DISTINCT FROM $team", staff=staff_id, team=team)
    by_criterion: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rates:
        row = by_criterion.setdefault((r["section"], r["criterion"]), {"section": r["section"], "criterion": r["criterion"], "staff": None, "team": None})
        row[r["grp"]] = r["pass_rate"]
    compare = [{**r, "diff": None if r["staff"] is None or r["team"] is None else r["staff"] - r["team"]} for r in by_criterion.values()]
    return {"staff_id": staff_id, "team": team, "interactions": interactions, "compare": compare}


def consistency(con: Any, scope: str | None) -> dict[str, Any]:
    """Score spread per team, site, channel and touchpoint (and staff), with outliers flagged."""
    rubric = rubric_label(con)
    if rubric is None:
        return {"rubric": None, "dimensions": {}}
    groups = group_stats(con, scope, DIMENSIONS)
    dims: dict[str, list[dict[str, Any]]] = {name: [] for name in DIMENSIONS}
    for g in groups:
        dims[g["dimension"]].append(g)
    for part in dims.values():
        flag_outliers(part)
        for g in part:
            g["iqr"] = None if g["q1"] is None else g["q3"] - g["q1"]
    return {"rubric": rubric, "dimensions": dims}


def interaction(con: Any, scope: str | None, recording_id: str) -> dict[str, Any] | None:
    """Everything the interaction page shows; None when the id is unknown or not the user's team."""
    rec = rows(con, "SELECT * FROM recordings r WHERE id = $id AND ($scope IS NULL OR team = $scope) ORDER BY processed_at DESC LIMIT 1", id=recording_id, scope=scope)
    if not rec:
        return None
    rid = {"id": recording_id}
    unsure = "coalesce(role_unsure, false)" if "role_unsure" in existing_columns(con, "utterances") else "false"  # 0013
    utterances = rows(con, f"SELECT idx, speaker, role, {unsure} AS role_unsure, start_s, end_s, text "
                           "FROM utterances WHERE recording_id = $id ORDER BY idx", **rid)
    tags = rows(con, "SELECT utterance_index, kind, label, score, role, evidence FROM tags WHERE recording_id = $id ORDER BY utterance_index NULLS FIRST, kind", **rid)
    findings = rows(con, "SELECT rule, category, passed, utterance_index, start_s, end_s, matched, score, detail FROM findings WHERE recording_id = $id ORDER BY passed, rule", **rid)
    for f in findings:  # evidence whose speaker is in doubt (rules._evaluate): said so beside it
        detail = _json_dict(f.pop("detail"))
        other = _json_dict(detail.get("other_side_unsure"))
        f["unsure_at"] = other.get("utterance_index")
        f["unsure"] = ("role unsure: the voice sounds like the other side's" if detail.get("role_unsure") else
                       "perhaps said in words given to the other side, whose voice is in doubt" if f["unsure_at"] is not None else "")
    cards = rows(con, """SELECT s.* FROM scorecards s JOIN (SELECT rubric_id, arg_max(rubric_version, scored_at) AS rubric_version FROM scorecards GROUP BY 1) c
                         USING (rubric_id, rubric_version) WHERE s.recording_id = $id ORDER BY rubric_id""", **rid)
    lines = rows(con, """SELECT l.* FROM scorecard_lines l JOIN (SELECT rubric_id, arg_max(rubric_version, scored_at) AS rubric_version FROM scorecards GROUP BY 1) c
                         USING (rubric_id, rubric_version) WHERE l.recording_id = $id ORDER BY section, criterion""", **rid)
    redactions = rows(con, "SELECT type, count(*) AS n FROM redactions WHERE recording_id = $id GROUP BY 1 ORDER BY 1", **rid)
    roles = role_assignment(con, recording_id)
    marks: dict[int, list[dict[str, str]]] = {}
    for t in tags:
        if not _marked(t):
            continue
        mark = {"kind": "tag", "text": f"{t['kind'].replace('_', ' ')}: {t['label']}", "cls": _tag_class(t)}
        for idx in ([t["utterance_index"]] if t["utterance_index"] is not None else list(t["evidence"] or [])):
            if mark not in marks.setdefault(idx, []):  # the utterance's own tag and the interaction's evidence: one badge
                marks[idx].append(mark)
    for line in lines:
        evidence = _json_dict(line["evidence"])
        line["utterance_index"] = evidence.get("utterance_index")
        line["unsure"] = bool(evidence.get("role_unsure") or evidence.get("other_side_unsure"))
    for f in findings:
        if f["utterance_index"] is not None:
            marks.setdefault(f["utterance_index"], []).append({"kind": "finding", "text": f"{f['rule']}: {'pass' if f['passed'] else 'FAIL'}", "cls": "pass" if f["passed"] else "fail"})
    for u in utterances:  # its role rests on the words and the other turns: its own voice is more like the other side's
        if u["role_unsure"]:
            marks.setdefault(u["idx"], []).append({"kind": "role", "cls": "unsure", "text": "role unsure: the voice sounds like the other side's"})
    for start, end in voices_at_once(con, recording_id):  # the transcript may hold only one of the two there
        near = [u for u in utterances if u["start_s"] < end and u["end_s"] > start] or sorted(
            utterances, key=lambda u: seconds_apart(start, end, u["start_s"], u["end_s"]))[:1]
        for u in near:
            marks.setdefault(u["idx"], []).append({"kind": "voices", "cls": "voices",
                                                    "text": f"two voices at once {start:.1f}-{end:.1f} s: words may be missing"})
    return {"rec": rec[0], "utterances": utterances, "tags": [t for t in tags if t["utterance_index"] is None], "findings": findings,
            "cards": cards, "lines": lines, "redactions": redactions, "marks": marks, "roles": roles}


def role_assignment(con: Any, recording_id: str) -> dict[str, Any] | None:
    """How the staff and customer were told apart in one interaction (``role_assignment``): the
    method, the staff speakers, the confidence, whether a person should check them and why, and the
    speakers counted with the count's confidence (columns a database written before migration 0010
    lacks read as empty). None when nothing is stored."""
    have = existing_columns(con, "role_assignment")
    if not have:
        return None
    wanted = ["method", "staff_speakers", "confidence", "flagged", "reason", "n_speakers", "matched_staff_id",
              "speaker_count_confidence", "speaker_count_reason", "overlap_note"]
    cols = ", ".join(c if c in have else f"NULL AS {c}" for c in wanted)
    found = rows(con, f"SELECT {cols} FROM role_assignment WHERE recording_id = $id LIMIT 1", id=recording_id)
    return found[0] if found else None


def _json_dict(value: Any) -> dict[str, Any]:
    """A stored JSON object (text or already parsed) as a dict; anything else (NULL, a list) as {}."""
    value = json.loads(value) if isinstance(value, str) else value
    return value if isinstance(value, dict) else {}


def voices_at_once(con: Any, recording_id: str) -> list[tuple[float, float]]:
    """(start, end) of the stretches where two speakers' turns overlap (``queries.TWO_VOICES``)."""
    from ..queries import TWO_VOICES

    found = rows(con, f"SELECT DISTINCT start_s, end_s FROM ({TWO_VOICES}) WHERE recording_id = $id ORDER BY 1", id=recording_id)
    return [(r["start_s"], r["end_s"]) for r in found]


def complaints(con: Any, scope: str | None, since: str = "", open_only: bool = False) -> list[dict[str, Any]]:
    """The complaints register (the same rows as `parley report complaints`) in the user's view."""
    from ..queries import COMPLAINTS_REGISTER

    if since:
        try:
            date.fromisoformat(since)
        except ValueError as exc:
            raise ConfigError(f"'{since}' is not a date", fix="write dates as YYYY-MM-DD") from exc
    sql = f"""SELECT * FROM ({COMPLAINTS_REGISTER}) WHERE ($scope IS NULL OR team = $scope)
              AND ($since IS NULL OR started_at >= CAST($since AS DATE)) AND (NOT $open OR NOT resolved_on_call)
              ORDER BY resolved_on_call, started_at, recording_id"""
    return rows(con, sql, scope=scope, since=since or None, open=open_only)


def _marked(tag: dict[str, Any]) -> bool:
    """Tags worth a badge on their utterance: non-neutral sentiment, complaints and their evidence."""
    if tag["utterance_index"] is not None:
        return tag["kind"] == "complaint_topic" or (tag["kind"] == "complaint" and tag["label"] == "yes") or (tag["kind"] == "sentiment" and tag["label"] in ("negative", "positive"))
    return tag["kind"] in ("complaint", "complaint_topic", "complaint_product", "resolved_on_call", "escalation_requested") and tag["label"] not in ("no", "none")


def _tag_class(tag: dict[str, Any]) -> str:
    if tag["kind"] == "sentiment":
        return {"negative": "neg", "positive": "pos"}.get(tag["label"], "neutral")
    return "complaint" if "complaint" in tag["kind"] else "tag"


def transcript_rows(con: Any, recording_id: str) -> tuple[list[str], list[tuple]]:
    """The transcript as a table (for the interaction's CSV export): with each utterance's role
    confidence, and since migration 0013 whether its role is in doubt and its voice margin."""
    voices = ", role_unsure, voice_margin" if {"role_unsure", "voice_margin"} <= existing_columns(con, "utterances") else ""
    cur = con.execute(f"SELECT idx, speaker, role, role_confidence{voices}, start_s, end_s, text FROM utterances "
                      "WHERE recording_id = ? ORDER BY idx", [recording_id])
    return [d[0] for d in cur.description], cur.fetchall()


def search(con: Any, scope: str | None, q: str, role: str = "", team: str = "", staff: str = "", limit: int = 100) -> list[dict[str, Any]]:
    """Utterances whose (redacted) text holds every word of ``q`` (or a "quoted phrase"), case aside.

    DuckDB's ``fts`` extension cannot be installed offline (it is downloaded on first use), so this
    is an ILIKE search: each term must appear; rows rank by how many times the terms occur.
    """
    terms = [t for t in re.findall(r'"([^"]+)"|(\S+)', q) for t in t if t][:8]
    if not terms:
        return []
    params: dict[str, Any] = {f"t{i}": f"%{_like_escape(t)}%" for i, t in enumerate(terms)}
    conds = [f"u.text ILIKE $t{i} ESCAPE '\\'" for i in range(len(terms))]
    if scope is not None:
        conds.append("r.team = $scope")
        params["scope"] = scope
    for name, value, column in (("role", role, "u.role"), ("team", team, "r.team"), ("staff", staff, "r.staff_id")):
        if value:
            conds.append(f"{column} = ${name}")
            params[name] = value
    hits = " + ".join(f"(length(lower(u.text)) - length(replace(lower(u.text), lower($w{i}), ''))) // length($w{i})" for i in range(len(terms)))
    params.update({f"w{i}": t for i, t in enumerate(terms)})
    unsure = "coalesce(u.role_unsure, false)" if "role_unsure" in existing_columns(con, "utterances") else "false"  # 0013
    sql = f"""SELECT r.id AS recording_id, r.source_name, r.staff_id, r.team, {AT} AS started, u.idx, u.role,
                     {unsure} AS role_unsure, u.start_s, u.text, {hits} AS hits
              FROM utterances u JOIN recordings r ON r.id = u.recording_id
              WHERE {' AND '.join(conds)} ORDER BY hits DESC, started DESC NULLS LAST, u.idx LIMIT {int(limit)}"""
    out = rows(con, sql, **params)
    for row in out:
        row["terms"] = terms
    return out


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
