"""Scorecards: a rubric (YAML in ``data/rubrics/``) applied to one interaction's facts.

A rubric has an id, a version, a pass mark and sections of weighted criteria. Each criterion
tests one fact:

- ``rule:NAME``: the finding of that rule passed;
- ``tag:KIND`` or ``tag:ROLE.KIND`` (interaction-level tag, e.g. ``tag:customer.sentiment_trajectory``)
  with ``pass_if: {labels: [...]}``, ``{not_labels: [...]}`` or ``{min: .., max: ..}`` on its score;
- ``metric:NAME`` or ``metric:ROLE.NAME`` (conversation dynamics, e.g. ``metric:staff.talk_ratio``)
  with ``pass_if: {min: .., max: ..}`` (inclusive).

A criterion whose fact is missing is "n/a" and left out; the others are scaled to 100. A failed
``auto_fail: true`` criterion makes the score 0. ``score`` is pure; ``rescore`` recomputes stored
interactions under a (new) rubric version and leaves other versions' rows in place.
"""

from __future__ import annotations

import hashlib
import json
import math
from numbers import Real
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import ConfigError
from .governance.chain import seal
from .records import Finding, Tag
from .rules import LINE_KEY, checked_mapping, read_yaml
from .store import json_text, table_names

FACT_KINDS = ("rule", "tag", "metric")
PASS_IF_KEYS = {"labels", "not_labels", "min", "max"}
CRITERION_KEYS = {"id", "fact", "weight", "auto_fail", "pass_if", "description"}
SCORECARD_TABLES = ("scorecards", "scorecard_lines")
SCORECARD_KEY = ("recording_id", "rubric_id", "rubric_version")
"""The store replaces scorecard rows by this key, so other rubric versions survive."""


@dataclass(frozen=True)
class Criterion:
    """One weighted test of one fact."""

    id: str
    section: str
    fact: str
    weight: float = 1.0
    auto_fail: bool = False
    pass_if: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def fact_kind(self) -> str:
        return self.fact.split(":", 1)[0]

    @property
    def fact_name(self) -> str:
        return self.fact.split(":", 1)[1]


@dataclass(frozen=True)
class Rubric:
    id: str
    version: str
    criteria: tuple[Criterion, ...]
    section_weights: Mapping[str, float]
    pass_mark: float = 70.0
    name: str = ""
    hash: str = ""
    """sha256 (first 16 hex) of the rubric file, to spot an edit without a version change."""

    def points(self) -> dict[str, float]:
        """Criterion id → nominal points out of 100 (section share × criterion share)."""
        total = sum(self.section_weights.values())
        out = {}
        for section, weight in self.section_weights.items():
            members = [c for c in self.criteria if c.section == section]
            inner = sum(c.weight for c in members)
            for c in members:
                out[c.id] = 100.0 * weight / total * c.weight / inner
        return out


@dataclass(frozen=True)
class TagFact:
    label: str
    score: float | None = None
    evidence: tuple[int, ...] = ()


@dataclass
class Facts:
    """What a scorecard may test: rule findings, interaction tags and dynamics metrics."""

    findings: dict[str, Finding] = field(default_factory=dict)
    tags: dict[str, TagFact] = field(default_factory=dict)
    """``kind`` and ``role.kind`` → the interaction tag (the highest-scoring one per key)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """``scope.name`` (scope = all/staff/customer, the dynamics table's ``scope``) and, for
    ``all``, plain ``name`` → value."""


@dataclass
class ScoreLine:
    section: str
    criterion: str
    fact: str
    status: str
    """pass, fail or n/a."""
    weight: float
    """Points this criterion was worth out of 100 (after leaving out n/a criteria)."""
    points: float
    auto_fail: bool
    value: str | None
    evidence: dict[str, Any]


@dataclass
class Scorecard:
    rubric_id: str
    rubric_version: str
    rubric_hash: str
    score: float | None
    """0–100; 0 when auto-failed; None when no criterion applied."""
    raw_score: float | None
    """The score before any auto-fail."""
    passed: bool
    auto_failed: bool
    pass_mark: float
    lines: list[ScoreLine]


def _criterion(raw: Any, section: str, where: str) -> Criterion:
    bad = checked_mapping(raw, CRITERION_KEYS, where, "criterion", "write '- id: ...' with fact, weight and pass_if below")
    cid, fact = raw.get("id"), raw.get("fact")
    if not isinstance(cid, str) or not cid:
        raise bad("criterion without an id", "add id: a_short_name")
    if not isinstance(fact, str) or fact.split(":", 1)[0] not in FACT_KINDS or ":" not in fact:
        raise bad(f"criterion {cid}: fact {fact!r} is not rule:/tag:/metric:NAME", "write e.g. fact: rule:call_recording_disclosure")
    weight = raw.get("weight", 1)
    if not isinstance(weight, (int, float)) or weight <= 0:
        raise bad(f"criterion {cid}: weight {weight!r} is not a positive number", "write weight: 1 (or more)")
    pass_if = {k: v for k, v in (raw.get("pass_if") or {}).items() if k != LINE_KEY}
    if set(pass_if) - PASS_IF_KEYS:
        raise bad(f"criterion {cid}: pass_if keys {sorted(set(pass_if) - PASS_IF_KEYS)} are unknown", f"use {sorted(PASS_IF_KEYS)}")
    kind = fact.split(":", 1)[0]
    if kind == "rule" and pass_if:
        raise bad(f"criterion {cid}: a rule fact takes no pass_if", "remove pass_if; the rule's own pass/fail is used")
    if kind != "rule" and not pass_if:
        raise bad(f"criterion {cid}: a {kind} fact needs pass_if", "add e.g. pass_if: {max: 20} or pass_if: {labels: [improving]}")
    if kind == "metric" and set(pass_if) - {"min", "max"}:
        raise bad(f"criterion {cid}: a metric takes only min/max", "write pass_if: {min: 0.3, max: 0.7}")
    return Criterion(cid, section, fact, float(weight), bool(raw.get("auto_fail", False)), pass_if, str(raw.get("description", "")))


def load_rubric(path: str | Path) -> Rubric:
    """Read and check a rubric file; errors name file:line and the fix."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("rubric file not found", fix="pass an existing YAML file, e.g. data/rubrics/contact_centre.yaml", path=str(path))
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("a rubric must be a mapping", fix="start with 'id:', 'version:' and 'sections:'", path=f"{path}:1")
    for key in ("id", "version", "sections"):
        if data.get(key) in (None, ""):
            raise ConfigError(f"the rubric has no '{key}'", fix=f"add a top-level '{key}:'", path=f"{path}:1")
    if not isinstance(data["sections"], list) or not data["sections"]:
        raise ConfigError("'sections' must be a non-empty list", fix="list sections as '- name: ...' with criteria", path=f"{path}:{data[LINE_KEY]}")
    criteria: list[Criterion] = []
    weights: dict[str, float] = {}
    for sec in data["sections"]:
        line = sec.get(LINE_KEY, 1) if isinstance(sec, dict) else 1
        name, weight = (sec.get("name"), sec.get("weight", 1)) if isinstance(sec, dict) else (None, None)
        if not isinstance(name, str) or name in weights or not isinstance(sec.get("criteria"), list) or not sec["criteria"]:
            raise ConfigError("a section needs a unique name and a non-empty criteria list", fix="write '- name: Compliance' and 'criteria:' below", path=f"{path}:{line}")
        if not isinstance(weight, (int, float)) or weight <= 0:
            raise ConfigError(f"section {name}: weight {weight!r} is not a positive number", fix="write weight: 1 (or more)", path=f"{path}:{line}")
        weights[name] = float(weight)
        for raw in sec["criteria"]:
            criteria.append(_criterion(raw, name, f"{path}:{raw.get(LINE_KEY, line) if isinstance(raw, dict) else line}"))
    ids = [c.id for c in criteria]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ConfigError(f"criterion ids {dup} are used twice", fix="give every criterion its own id", path=str(path))
    pass_mark = data.get("pass_mark", 70)
    if not isinstance(pass_mark, (int, float)) or not 0 <= pass_mark <= 100:
        raise ConfigError(f"pass_mark {pass_mark!r} is not within 0-100", fix="write pass_mark: 70", path=f"{path}:1")
    return Rubric(
        id=str(data["id"]),
        version=str(data["version"]),
        criteria=tuple(criteria),
        section_weights=weights,
        pass_mark=float(pass_mark),
        name=str(data.get("name", "")),
        hash=hashlib.sha256(path.read_bytes()).hexdigest()[:16],
    )


def load_rubrics(directory: str | Path) -> list[Rubric]:
    """Every rubric in ``directory/*.yaml``; the pipeline scores each interaction with each.

    Each rubric id may appear once: two versions of one rubric in the folder would both score
    every new interaction, and which one reports call current would depend on the clock."""
    paths = sorted(Path(directory).glob("*.yaml"))
    rubrics = [load_rubric(p) for p in paths]
    if not rubrics:
        raise ConfigError("no rubric files (*.yaml) found", fix="point rubrics_dir at a folder like data/rubrics", path=str(directory))
    seen: dict[str, tuple[Path, Rubric]] = {}
    for path, rubric in zip(paths, rubrics):
        if rubric.id in seen:
            first, other = seen[rubric.id]
            raise ConfigError(
                f"rubric '{rubric.id}' is in the folder twice: {first.name} (version {other.version}) and {path.name} (version {rubric.version})",
                fix="keep one file per rubric id: replace the old version's file with the new one (its scorecards stay in the database)",
                path=str(directory),
            )
        seen[rubric.id] = (path, rubric)
    return rubrics


def check_rubric_in_folder(path: str | Path, folder: str | Path) -> Rubric:
    """The rubric at ``path``, which must be the file the configured rubrics folder holds for its
    id: new recordings are scored from the folder, so a rubric applied from anywhere else would
    be current only until the next recording arrived (its scores would flip back)."""
    rubric = load_rubric(path)
    folder = Path(folder)
    in_folder = {r.id: (p, r) for p, r in ((p, load_rubric(p)) for p in sorted(folder.glob("*.yaml")))}
    here = in_folder.get(rubric.id)
    if here is None or Path(here[0]).resolve() != Path(path).resolve():
        now = f"version {here[1].version} ({here[0].name})" if here else "no version"
        raise ConfigError(
            f"{path} (rubric '{rubric.id}' version {rubric.version}) is not in the rubrics folder {folder}, which holds {now} of it: new recordings would still be scored with that",
            fix=f"copy it into {folder} in place of the old file (or point PARLEY_RUBRICS at its folder), then run `parley rescore --rubric {folder / Path(path).name}`",
            path=str(path),
        )
    return rubric


def facts_from(findings: Iterable[Finding], tags: Iterable[Tag], dynamics: Iterable[Mapping[str, Any]]) -> Facts:
    """Build ``Facts`` from findings, tags (interaction-level ones are used) and dynamics rows
    (dicts with ``scope``, or ``role``, and metric columns)."""
    facts = Facts(findings={f.rule: f for f in findings})
    for tag in sorted((t for t in tags if t.utterance_index is None), key=lambda t: -(t.score or 0.0)):
        fact = TagFact(tag.label, tag.score, tuple(tag.evidence or ()))
        for key in ([f"{tag.role}.{tag.kind}"] if tag.role else []) + [tag.kind]:
            facts.tags.setdefault(key, fact)
    for row in dynamics:
        role = row.get("scope") or row.get("role") or "all"
        for name, value in row.items():
            if name in ("scope", "role", "recording_id", "run_id") or isinstance(value, bool) or not isinstance(value, Real):
                continue
            if math.isnan(value):
                continue
            facts.metrics[f"{role}.{name}"] = float(value)
            if role == "all":
                facts.metrics[name] = float(value)
    return facts


def _judge(c: Criterion, facts: Facts) -> tuple[str, str | None, dict[str, Any]]:
    """(status, value, evidence) of one criterion."""
    if c.fact_kind == "rule":
        f = facts.findings.get(c.fact_name)
        if f is None:
            return "n/a", None, {}
        ev = {"utterance_index": f.utterance_index, "start": f.start, "end": f.end, "matched": f.matched, "score": f.score}
        # the evidence's speaker in doubt (its voice is the other side's), or the line perhaps said
        # in words given to the other side: the line stands as judged, with that beside it for a reviewer
        ev.update({k: f.detail[k] for k in ("role_unsure", "other_side_unsure") if k in f.detail})
        return ("pass" if f.passed else "fail"), ("passed" if f.passed else "failed"), ev
    if c.fact_kind == "tag":
        t = facts.tags.get(c.fact_name)
        if t is None:
            return "n/a", None, {}
        ok = _within(t.score, c.pass_if) if {"min", "max"} & set(c.pass_if) else True
        ok = ok and t.label in c.pass_if.get("labels", [t.label]) and t.label not in c.pass_if.get("not_labels", [])
        return ("pass" if ok else "fail"), t.label, {"label": t.label, "score": t.score, "evidence": list(t.evidence)}
    value = facts.metrics.get(c.fact_name)
    if value is None:
        return "n/a", None, {}
    return ("pass" if _within(value, c.pass_if) else "fail"), f"{value:g}", {"value": value, **dict(c.pass_if)}


def _within(value: float | None, bounds: Mapping[str, Any]) -> bool:
    if value is None:
        return False
    return bounds.get("min", -math.inf) <= value <= bounds.get("max", math.inf)


def score(rubric: Rubric, facts: Facts) -> Scorecard:
    """Apply ``rubric`` to one interaction's ``facts``: 0–100 and one line per criterion."""
    points = rubric.points()
    judged = [(c, *_judge(c, facts)) for c in rubric.criteria]
    applicable = sum(points[c.id] for c, status, _, _ in judged if status != "n/a")
    lines = []
    for c, status, value, evidence in judged:
        weight = 100.0 * points[c.id] / applicable if status != "n/a" else 0.0
        lines.append(ScoreLine(c.section, c.id, c.fact, status, round(weight, 4), round(weight if status == "pass" else 0.0, 4), c.auto_fail, value, evidence))
    raw = round(sum(line.points for line in lines), 2) if applicable else None
    auto_failed = any(line.auto_fail and line.status == "fail" for line in lines)
    final = 0.0 if auto_failed and raw is not None else raw
    passed = final is not None and not auto_failed and final >= rubric.pass_mark
    return Scorecard(rubric.id, rubric.version, rubric.hash, final, raw, passed, auto_failed, rubric.pass_mark, lines)


def finding_rows(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Rows of table ``findings`` (without recording_id/run_id)."""
    return [
        {
            "rule": f.rule,
            "category": f.detail.get("category"),
            "passed": f.passed,
            "utterance_index": f.utterance_index,
            "start_s": f.start,
            "end_s": f.end,
            "matched": f.matched,
            "score": f.score,
            "detail": json_text(f.detail),
        }
        for f in findings
    ]


def card_rows(cards: Iterable[Scorecard], scored_at: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """Rows of tables ``scorecards`` and ``scorecard_lines`` (without recording_id/run_id)."""
    scored_at = scored_at or datetime.now(timezone.utc).replace(tzinfo=None)
    out: dict[str, list[dict[str, Any]]] = {"scorecards": [], "scorecard_lines": []}
    for card in cards:
        key = {"rubric_id": card.rubric_id, "rubric_version": card.rubric_version}
        out["scorecards"].append(
            {**key, "rubric_hash": card.rubric_hash, "score": card.score, "raw_score": card.raw_score, "passed": card.passed,
             "auto_failed": card.auto_failed, "pass_mark": card.pass_mark, "scored_at": scored_at}
        )
        out["scorecard_lines"] += [
            {**key, "section": ln.section, "criterion": ln.criterion, "fact": ln.fact, "status": ln.status, "weight": ln.weight,
             "points": ln.points, "auto_fail": ln.auto_fail, "value": ln.value, "evidence": json_text(ln.evidence)}
            for ln in card.lines
        ]
    return out


def scorecard_rows(findings: Iterable[Finding], cards: Iterable[Scorecard]) -> dict[str, list[dict[str, Any]]]:
    """Rows for tables ``findings``, ``scorecards`` and ``scorecard_lines`` of one recording.

    The store adds recording_id and run_id; it must replace scorecard rows by ``SCORECARD_KEY``
    (recording_id, rubric_id, rubric_version), not by recording alone.
    """
    return {"findings": finding_rows(findings), **card_rows(cards)}


def _stored_facts(con: Any) -> dict[str, tuple[str, Facts]]:
    """recording_id → (run_id, Facts) from the stored findings, interaction tags and dynamics.

    A table that does not exist yet (its stage is not installed) contributes nothing.
    """
    tables = table_names(con)
    found: dict[str, tuple[str, list, list, list]] = {}

    def slot(rec: str, run: str) -> tuple[str, list, list, list]:
        return found.setdefault(rec, (run, [], [], []))

    for rec, run, rule, passed, idx, start, end, matched, sc, detail in con.execute(
        "SELECT recording_id, run_id, rule, passed, utterance_index, start_s, end_s, matched, score, detail FROM findings"
    ).fetchall():
        slot(rec, run)[1].append(Finding(rule, bool(passed), idx, start, end, matched, sc, json.loads(detail) if detail else {}))
    if "tags" in tables:
        for rec, run, kind, label, sc, role, evidence in con.execute(
            "SELECT recording_id, run_id, kind, label, score, role, evidence FROM tags WHERE utterance_index IS NULL"
        ).fetchall():
            slot(rec, run)[2].append(Tag(kind, label, sc, None, role, evidence=list(evidence or [])))
    if "dynamics" in tables:
        for row in con.execute("SELECT * FROM dynamics").df().to_dict("records"):
            slot(row["recording_id"], row["run_id"])[3].append(row)
    return {rec: (run, facts_from(f, t, d)) for rec, (run, f, t, d) in found.items()}


def rescore(con: Any, rubric_path: str | Path) -> int:
    """Score every stored interaction with the rubric at ``rubric_path``; return how many.

    Uses stored findings, interaction tags and dynamics (rules are not re-run). Rows of this
    rubric id and version are replaced in one transaction; other versions stay. Each row keeps
    the run_id of the data it was computed from.
    """
    rubric = load_rubric(rubric_path)
    stored = _stored_facts(con)
    scored_at = datetime.now(timezone.utc).replace(tzinfo=None)
    frames: dict[str, list[dict[str, Any]]] = {t: [] for t in SCORECARD_TABLES}
    for rec, (run, facts) in sorted(stored.items()):
        for table, rows in card_rows([score(rubric, facts)], scored_at).items():
            frames[table] += [{"recording_id": rec, "run_id": run, **row} for row in rows]
    con.execute("BEGIN TRANSACTION")
    try:
        touched = set(stored)
        for table in SCORECARD_TABLES:
            touched |= {r for (r,) in con.execute(f"SELECT DISTINCT recording_id FROM {table} WHERE rubric_id = ? AND rubric_version = ?", [rubric.id, rubric.version]).fetchall()}
            con.execute(f"DELETE FROM {table} WHERE rubric_id = ? AND rubric_version = ?", [rubric.id, rubric.version])
            if frames[table]:
                df = pd.DataFrame(frames[table])  # noqa: F841 - read by DuckDB below
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM df")
        seal(con, sorted(touched), "rescore", changed=SCORECARD_TABLES)  # the tamper-evident chain
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return len(stored)
