"""The retention policy (``data/retention.yaml``, ``PARLEY_RETENTION_POLICY``): how long each part of
a recording is kept, by channel or team, longer where a complaint or a failed rule was found.

Periods run from the day the interaction started (``started_at``; else when it was received).
A period is ``N`` plus ``d`` (days), ``w`` (weeks), ``m`` (calendar months) or ``y`` (calendar
years), or ``forever``. Parts: ``record`` (everything: metadata, transcript, analysis, audio),
``audio`` and ``transcript``; each defaults to ``record`` and is never longer than it. The analysis
(tags, findings, scorecards) is kept as long as the record: it decides how long that is.
The first rule whose ``when`` matches sets the periods (else ``default``); then each ``longer``
reason that applies can only lengthen them.
"""

from __future__ import annotations

import calendar
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..rules import LINE_KEY, checked_mapping, read_yaml
from .erasure import PARTS

MATCH_KEYS = ("channel", "team", "site", "direction")
"""Recording metadata a rule may match on."""
REASONS = ("complaint", "failed_rule")
_PERIOD = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$")


@dataclass(frozen=True)
class Period:
    """``count`` ``unit`` (d, w, m, y); ``count`` None: forever."""

    count: int | None
    unit: str = "d"

    def due(self, start: date) -> date | None:
        """The first day on which something kept for this period from ``start`` may go (None: never)."""
        if self.count is None:
            return None
        if self.unit == "d":
            return start + timedelta(days=self.count)
        if self.unit == "w":
            return start + timedelta(weeks=self.count)
        months = self.count * (12 if self.unit == "y" else 1)
        year, month = divmod(start.month - 1 + months, 12)
        year, month = start.year + year, month + 1
        return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))

    def __str__(self) -> str:
        return "forever" if self.count is None else f"{self.count}{self.unit}"


def parse_period(value: Any, bad) -> Period:
    if isinstance(value, str) and value.strip().lower() == "forever":
        return Period(None)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Period(value, "d")
    found = _PERIOD.match(str(value)) if isinstance(value, str) else None
    if not found:
        raise bad(f"period {value!r} is not a length of time", "write it like 90d, 26w, 18m, 6y or forever")
    return Period(int(found.group(1)), found.group(2))


@dataclass(frozen=True)
class Periods:
    """How long each part is kept."""

    values: dict[str, Period]

    def due(self, start: date) -> dict[str, date | None]:
        return {part: period.due(start) for part, period in self.values.items()}


@dataclass
class Rule:
    name: str
    when: dict[str, tuple[str, ...]]
    periods: dict[str, Period]

    def matches(self, rec: dict[str, Any]) -> bool:
        return all((rec.get(k) or "") in values for k, values in self.when.items())


@dataclass
class Policy:
    default: dict[str, Period]
    rules: list[Rule] = field(default_factory=list)
    longer: dict[str, dict[str, Period]] = field(default_factory=dict)
    failed_categories: tuple[str, ...] = ("compliance",)
    path: Path | None = None
    digest: str = ""

    def periods(self, rec: dict[str, Any], reasons: set[str]) -> tuple[str, dict[str, Period]]:
        """(why, {part: period}) for a recording (a dict of its metadata) with ``reasons`` found."""
        rule = next((r for r in self.rules if r.matches(rec)), None)
        base = rule.periods if rule else self.default
        why = [rule.name if rule else "default"]
        chosen = _clamped({part: base.get(part, base["record"]) for part in PARTS})
        for reason in REASONS:
            if reason in reasons and reason in self.longer:
                extra = self.longer[reason]
                candidate = dict(chosen)
                for part in PARTS:
                    longer = extra.get(part, extra.get("record"))
                    if longer is not None and _later(longer.due(_START), chosen[part].due(_START)):
                        candidate[part] = longer
                candidate = _clamped(candidate)
                if candidate != chosen:  # the reason made a difference
                    chosen = candidate
                    why.append(reason)
        return " + ".join(why), chosen


_START = date(2000, 1, 1)
"""Periods compare by where they end from one start."""


def _clamped(periods: dict[str, Period]) -> dict[str, Period]:
    """Nothing outlives the record it belongs to."""
    return {part: periods["record"] if _later(p.due(_START), periods["record"].due(_START)) else p for part, p in periods.items()}


def _later(a: date | None, b: date | None) -> bool:
    """a ends later than b (None: never ends)."""
    if a is None:
        return b is not None
    return b is not None and a > b


def _periods(raw: dict, bad, where: str, need_record: bool) -> dict[str, Period]:
    out = {part: parse_period(raw[part], bad) for part in PARTS if part in raw}
    if need_record and "record" not in out:
        raise bad(f"{where} has no 'record' period", "give at least record: (how long the whole record is kept), e.g. record: 3y")
    return out


def load_policy(path: str | Path) -> Policy:
    """Read and check a retention policy file; a mistake fails with its file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"there is no retention policy at {path}", fix="create it (see data/retention.yaml in the Parley checkout) or set PARLEY_RETENTION_POLICY", path=path)
    raw = read_yaml(path)
    where = lambda item: f"{path}:{item.get(LINE_KEY, 1) if isinstance(item, dict) else 1}"  # noqa: E731
    bad = checked_mapping(raw, {"default", "rules", "longer"}, where(raw), "retention policy", "write default:, rules: and longer: at the top level")
    if not isinstance(raw.get("default"), dict):
        raise bad("the policy has no 'default' periods", "add default: with record: (and audio:, transcript: if shorter)")
    dbad = checked_mapping(raw["default"], set(PARTS), where(raw["default"]), "default", "write default: with record:, audio:, transcript:")
    policy = Policy(default=_periods(raw["default"], dbad, "default", True), path=path, digest=hashlib.sha256(path.read_bytes()).hexdigest()[:16])
    names = set()
    for item in raw.get("rules") or []:
        rbad = checked_mapping(item, {"name", "when", *PARTS}, where(item), "rule", "write each rule as '- name: ...' with when: and periods")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or name in names:
            raise rbad(f"rule name {name!r} is missing or used twice", "give every rule its own name")
        names.add(name)
        when = item.get("when")
        if not isinstance(when, dict) or not (set(when) - {LINE_KEY}):
            raise rbad(f"rule '{name}' has no 'when'", f"match on one or more of {', '.join(MATCH_KEYS)}, e.g. when: {{channel: face-to-face}}")
        checked_mapping(when, set(MATCH_KEYS), where(when), "when", f"match on {', '.join(MATCH_KEYS)}")
        matchers = {k: tuple(str(v) for v in (when[k] if isinstance(when[k], list) else [when[k]])) for k in when if k != LINE_KEY}
        periods = _periods(item, rbad, f"rule '{name}'", True)
        policy.rules.append(Rule(name, matchers, periods))
    longer = raw.get("longer") or {}
    checked_mapping(longer, set(REASONS), where(longer) if isinstance(longer, dict) else where(raw), "longer", f"use {', '.join(REASONS)}")
    for reason in REASONS:
        if reason not in longer:
            continue
        item = longer[reason]
        ibad = checked_mapping(item, {*PARTS, *(["categories"] if reason == "failed_rule" else [])}, where(item), reason, "give the periods (record:, audio:, ...)")
        policy.longer[reason] = _periods(item, ibad, reason, False)
        if not policy.longer[reason]:
            raise ibad(f"'{reason}' gives no period", "add record: (and audio:, ... if different)")
        if reason == "failed_rule" and "categories" in item:
            cats = item["categories"]
            if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
                raise ibad("categories must be a list of rule categories", "e.g. categories: [compliance, conduct]")
            policy.failed_categories = tuple(cats)
    return policy
