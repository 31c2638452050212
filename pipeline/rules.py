"""Compliance and quality rules: YAML in ``data/rules/`` → findings with evidence.

A rule looks for phrases (as speech recognition writes them: "maybe" for "may be", a letter or
two off in a long phrase, or running on into the speaker's next utterance; see ``heard.py``),
regular expressions (on the text as transcribed and in canonical form) or meaning (cosine similarity of an utterance's
embedding to example phrases) in the utterances of one interaction, optionally only one role's
and only inside a time window, and expects them to occur (``expect: present``) or not
(``expect: absent``) at least ``min_count`` times. Every rule gives one ``Finding``: for a
present-rule that failed, the evidence is where the phrase should have been (the first, or for a
``last_*`` window the last, utterance of that role in the window). Where a mono recording's
voices left a role in doubt (``Utterance.role_unsure``), a role-bound finding says so in its
detail: ``role_unsure`` (the matches in such utterances), and ``other_side_unsure`` where the
phrase is in words given to the other side whose voice is in doubt and would change the result
(a present-rule that failed; an absent-rule that passed: a prohibited phrase perhaps said). The
finding stands as judged; a reviewer decides.

    rules:
      - name: call_recording_disclosure
        category: compliance            # compliance | quality | vulnerability | conduct
        role: staff                     # staff | customer; omitted = anyone
        window: {first_s: 60}           # or last_s, first_fraction, last_fraction; or both of one end:
                                        # {last_s: 45, last_fraction: 0.5} (the last 45 s, never the first half)
        expect: present                 # present | absent
        min_count: 1
        phrases: ["call is recorded"]   # case, punctuation and word boundaries ignored; nearly (pipeline/heard.py)
        regex: ['\\brecord(ed|ing)\\b']
        meaning: {examples: ["this call may be recorded"], threshold: 0.6}
        recorded: true                  # the phone system's recorded welcome counts too (speaker SYSTEM)

Where a recording opens with the phone system (``recorded.py``: a recorded welcome, the queue's
music: speaker ``SYSTEM``), ``first_*`` windows count from where it ends, when a person first
speaks: a disclosure due in the first minute is due in the staff member's first minute, however
long the customer queued. Its words belong to no role, so a role-bound rule does not read them,
unless the rule says ``recorded: true``: then they count as well (a recording disclosure the
phone system played), and where only they said it the finding's detail says ``by: recorded
welcome`` (a person's match is the evidence wherever there is one). Fractions of the call
(``first_fraction``, ``last_fraction``) are of the time after the opening.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .errors import ConfigError
from .heard import canonical, find_phrase
from .recorded import PHONE_SYSTEM, SYSTEM_SPEAKER
from .records import SIDES, Finding, Utterance

Embed = Callable[[list[str]], np.ndarray]
"""Text encoder: a list of texts → one row per text (normalised here, so any scale will do)."""

ROLES = SIDES
CATEGORIES = ("compliance", "quality", "vulnerability", "conduct")
WINDOW_KEYS = ("first_s", "last_s", "first_fraction", "last_fraction")
RULE_KEYS = {"name", "description", "category", "role", "window", "expect", "min_count", "phrases", "regex", "meaning", "channels", "recorded"}
LINE_KEY = "__line__"


@dataclass(frozen=True)
class Window:
    """Part of the interaction a rule looks at: one or two of ``WINDOW_KEYS`` on the same side
    (first or last), and both must hold: ``{last_s: 45, last_fraction: 0.5}`` is the last 45 s,
    but never the first half of a short call."""

    parts: tuple[tuple[str, float], ...]

    @property
    def side(self) -> str:
        """``first`` or ``last``."""
        return self.parts[0][0].split("_")[0]

    def bounds(self, duration_s: float, opening_s: float = 0.0) -> tuple[float, float]:
        """(start, end) in seconds of this window in an interaction of ``duration_s`` whose
        first ``opening_s`` are the phone system's (a ``first`` window starts after them, and
        fractions are of the rest)."""
        rest = max(duration_s - opening_s, 0.0)
        span = min(value if kind.endswith("_s") else value * rest for kind, value in self.parts)
        if self.side == "first":
            return opening_s, opening_s + min(span, rest)
        return max(duration_s - span, opening_s), duration_s

    def contains(self, utt: Utterance, duration_s: float, opening_s: float = 0.0) -> bool:
        lo, hi = self.bounds(duration_s, opening_s)
        return utt.start < hi and utt.end > lo


@dataclass(frozen=True)
class Rule:
    """One rule, as read from a rule file (see the module docstring for the YAML)."""

    name: str
    category: str
    expect: str = "present"
    role: str | None = None
    window: Window | None = None
    min_count: int = 1
    phrases: tuple[str, ...] = ()
    regex: tuple[re.Pattern[str], ...] = ()
    examples: tuple[str, ...] = ()
    threshold: float = 0.6
    description: str = ""
    source: str = ""
    """``file:line`` the rule came from."""
    channels: tuple[str, ...] = ()
    """Recording channels (phone, video, face-to-face, ...) the rule applies to; empty = all."""
    recorded: bool = False
    """The phone system's recorded welcome (speaker ``SYSTEM``) counts as well as ``role``'s words."""
    patterns: tuple[re.Pattern[str], ...] = field(default=(), repr=False)
    """Phrases and regexes compiled together, phrases first."""


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; every mapping gets ``__line__`` (1-based) for error messages."""

    class _Loader(yaml.SafeLoader):
        pass

    def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
        data = loader.construct_mapping(node, deep=True)
        data[LINE_KEY] = node.start_mark.line + 1
        return data

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"not valid YAML ({problem})", fix="correct the YAML syntax at that line", path=f"{path}{line}") from exc


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = re.findall(r"\w+", phrase.lower())
    return re.compile(r"\b" + r"\W+".join(map(re.escape, words)) + r"\b", re.IGNORECASE)


def checked_mapping(raw: Any, allowed: set[str], where: str, what: str, example: str) -> Callable[[str, str], ConfigError]:
    """Check that ``raw`` (one item of a YAML file) is a mapping with only ``allowed`` keys; return
    the ``bad(problem, fix)`` error factory that names its ``file:line``."""

    def bad(problem: str, fix: str) -> ConfigError:
        return ConfigError(problem, fix=fix, path=where)

    if not isinstance(raw, dict):
        raise bad(f"a {what} must be a mapping", example)
    unknown = set(raw) - allowed - {LINE_KEY}
    if unknown:
        raise bad(f"unknown key(s) {sorted(unknown)}", f"use only {sorted(allowed)}")
    return bad


def _parse_rule(raw: Any, where: str) -> Rule:
    bad = checked_mapping(raw, RULE_KEYS, where, "rule", "write each rule as '- name: ...' with its keys below")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise bad(f"rule name {name!r} is missing or not snake_case", "give the rule a name like 'call_recording_disclosure'")
    category = raw.get("category", "quality")
    if category not in CATEGORIES:
        raise bad(f"rule {name}: category {category!r} is unknown", f"use one of {list(CATEGORIES)}")
    expect = raw.get("expect", "present")
    if expect not in ("present", "absent"):
        raise bad(f"rule {name}: expect {expect!r} is unknown", "use 'present' or 'absent'")
    role = raw.get("role")
    if role is not None and role not in ROLES:
        raise bad(f"rule {name}: role {role!r} is unknown", "use 'staff' or 'customer', or leave role out")
    min_count = raw.get("min_count", 1)
    if not isinstance(min_count, int) or min_count < 1:
        raise bad(f"rule {name}: min_count {min_count!r} is not a positive integer", "write min_count: 1 (or more)")
    window = _parse_window(raw.get("window"), name, bad)
    phrases = raw.get("phrases") or []
    regexes = raw.get("regex") or []
    meaning = raw.get("meaning") or {}
    if not isinstance(phrases, list) or not all(isinstance(p, str) and re.search(r"\w", p) for p in phrases):
        raise bad(f"rule {name}: phrases must be a list of strings with words in them", "write phrases: [\"this call is recorded\"]")
    if not isinstance(regexes, list) or not all(isinstance(p, str) for p in regexes):
        raise bad(f"rule {name}: regex must be a list of strings", "write regex: ['\\\\bguarantee']")
    try:
        compiled = tuple(re.compile(p, re.IGNORECASE) for p in regexes)
    except re.error as exc:
        raise bad(f"rule {name}: regular expression {exc.pattern!r} is invalid ({exc})", "fix the regex (quote it with single quotes in YAML)") from exc
    examples, threshold = _parse_meaning(meaning, name, bad)
    channels = raw.get("channels") or []
    if not isinstance(channels, list) or not all(isinstance(c, str) and c for c in channels):
        raise bad(f"rule {name}: channels must be a list of channel names", "write channels: [phone, video], or leave it out for all channels")
    if not (phrases or regexes or examples):
        raise bad(f"rule {name} has nothing to match", "add phrases, regex or meaning.examples")
    recorded = raw.get("recorded", False)
    if not isinstance(recorded, bool):
        raise bad(f"rule {name}: recorded {recorded!r} is not true or false",
                  "write recorded: true (the phone system's recorded welcome counts too) or leave it out")
    phrase_patterns = tuple(_phrase_pattern(p) for p in phrases)
    return Rule(
        name=name,
        category=category,
        expect=expect,
        role=role,
        window=window,
        min_count=min_count,
        phrases=tuple(phrases),
        regex=compiled,
        examples=examples,
        threshold=threshold,
        description=str(raw.get("description", "")),
        source=where,
        patterns=phrase_patterns + compiled,
        channels=tuple(channels),
        recorded=recorded,
    )


def _parse_window(raw: Any, name: str, bad: Callable[[str, str], ConfigError]) -> Window | None:
    if raw is None:
        return None
    keys = [k for k in (raw if isinstance(raw, dict) else {}) if k != LINE_KEY]
    example = "write e.g. window: {first_s: 60}, window: {last_fraction: 0.2} or window: {last_s: 45, last_fraction: 0.5}"
    if not 1 <= len(keys) <= 2 or any(k not in WINDOW_KEYS for k in keys):
        raise bad(f"rule {name}: window {keys or raw!r} is not one or two of {list(WINDOW_KEYS)}", example)
    if len(keys) == 2 and (keys[0].split("_")[0] != keys[1].split("_")[0] or keys[0].endswith("_s") == keys[1].endswith("_s")):
        raise bad(f"rule {name}: window {keys} must be seconds and a fraction from the same end (first or last)", example)
    parts = []
    for key in keys:
        value = raw[key]
        limit = 1.0 if key.endswith("fraction") else float("inf")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= limit:
            raise bad(f"rule {name}: window {key} = {value!r} is out of range", "use seconds > 0, or a fraction in (0, 1]")
        parts.append((key, float(value)))
    return Window(tuple(parts))


def _parse_meaning(raw: Any, name: str, bad: Callable[[str, str], ConfigError]) -> tuple[tuple[str, ...], float]:
    if not raw:
        return (), 0.6
    examples = raw.get("examples") if isinstance(raw, dict) else None
    threshold = raw.get("threshold", 0.6) if isinstance(raw, dict) else None
    if not isinstance(examples, list) or not examples or not all(isinstance(e, str) for e in examples):
        raise bad(f"rule {name}: meaning needs a list of example phrases", "write meaning: {examples: [\"...\"], threshold: 0.6}")
    if not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise bad(f"rule {name}: meaning threshold {threshold!r} is not between 0 and 1", "use a cosine similarity such as 0.6")
    return tuple(examples), float(threshold)


def load_rules(directory: str | Path) -> list[Rule]:
    """Every rule in ``directory/*.yaml`` (sorted by file name); raises ``ConfigError`` naming file:line."""
    directory = Path(directory)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError("no rule files (*.yaml) found", fix="point rules_dir at a folder like data/rules", path=str(directory))
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in files:
        data = read_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise ConfigError("the file must have a top-level 'rules:' list", fix="start the file with 'rules:' and list rules below it", path=f"{path}:1")
        for raw in data["rules"]:
            where = f"{path}:{raw.get(LINE_KEY, 1) if isinstance(raw, dict) else 1}"
            rule = _parse_rule(raw, where)
            if rule.name in seen:
                raise ConfigError(f"rule {rule.name} is defined twice (also at {seen[rule.name]})", fix="rename or delete one of them", path=where)
            seen[rule.name] = where
            rules.append(rule)
    return rules


@dataclass
class _Match:
    index: int
    matched: str
    score: float | None


def _similarities(rules: Sequence[Rule], utterances: Sequence[Utterance], embed: Embed | None) -> dict[str, dict[int, float]]:
    """Rule name → best cosine similarity of each utterance to that rule's examples (one embed call)."""
    wanted = [r for r in rules if r.examples]
    if not wanted or not utterances:
        return {}
    if embed is None:
        names = ", ".join(r.name for r in wanted)
        raise ConfigError(f"rules {names} match by meaning but no text encoder was given", fix="pass embed= (the tagging encoder) to evaluate_rules", path=wanted[0].source)
    examples = [e for r in wanted for e in r.examples]
    vectors = np.asarray(embed([u.text for u in utterances] + examples), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = vectors[: len(utterances)] @ vectors[len(utterances) :].T
    out, col = {}, 0
    for rule in wanted:
        best = sims[:, col : col + len(rule.examples)].max(axis=1)
        out[rule.name] = {u.index: round(float(b), 4) for u, b in zip(utterances, best)}
        col += len(rule.examples)
    return out


def _match(rule: Rule, utt: Utterance, sims: dict[int, float] | None, following: Utterance | None = None) -> _Match | None:
    """Phrases and regexes on the text as transcribed and in canonical form (``heard``); then
    phrases nearly as written, in this utterance or running on into ``following`` (the same
    speaker's next utterance, when a pause cut the phrase in two); then meaning."""
    text = utt.text
    forms = (text, canonical(text))
    for pattern in rule.patterns:
        for form in forms:
            hit = pattern.search(form)
            if hit:
                return _Match(utt.index, hit.group(0), None)
    for phrase in rule.phrases:
        heard = find_phrase(phrase, text)
        if heard is None and following is not None and find_phrase(phrase, following.text) is None:
            heard = find_phrase(phrase, f"{text} {following.text}")  # only a phrase that spans the two
        if heard:
            return _Match(utt.index, heard.text, None)
    if sims is not None and sims[utt.index] >= rule.threshold:
        return _Match(utt.index, utt.text, sims[utt.index])
    return None


JOIN_GAP_S = 2.0
"""A phrase may run on from one utterance into the same speaker's next if it starts within this many seconds."""


def _following(candidates: Sequence[Utterance]) -> dict[int, Utterance]:
    """Utterance index -> the next candidate of the same speaker, when it follows closely."""
    out = {}
    for a, b in zip(candidates, candidates[1:]):
        if a.speaker == b.speaker and a.role == b.role and 0 <= b.start - a.end <= JOIN_GAP_S:
            out[a.index] = b
    return out


def _evaluate(rule: Rule, utterances: Sequence[Utterance], duration_s: float, sims: dict[int, float] | None,
              opening_s: float = 0.0) -> Finding:
    def inside(u: Utterance) -> bool:
        return rule.window is None or rule.window.contains(u, duration_s, opening_s)

    # the phone system's words are no person's, whatever the role (a hold's announcements, the
    # welcome); the welcome counts where the rule says so, in any window that starts with the call
    recorded = [u for u in utterances if rule.recorded and u.speaker == SYSTEM_SPEAKER
                and (rule.window is None or rule.window.side == "first")]
    people = [u for u in utterances if u.speaker not in PHONE_SYSTEM and (rule.role is None or u.role == rule.role) and inside(u)]
    candidates = sorted(recorded + people, key=lambda u: u.index)
    by_index = {u.index: u for u in candidates}
    following = _following(candidates)
    matches = [m for u in candidates if (m := _match(rule, u, sims, following.get(u.index))) is not None]
    passed = len(matches) >= rule.min_count if rule.expect == "present" else len(matches) < rule.min_count
    lo, hi = rule.window.bounds(duration_s, opening_s) if rule.window else (0.0, duration_s)
    detail: dict[str, Any] = {
        "category": rule.category,
        "expect": rule.expect,
        "count": len(matches),
        "min_count": rule.min_count,
        "matches": [m.index for m in matches],
        "window": {"role": rule.role, "start": round(lo, 3), "end": round(hi, 3)},
    }
    if rule.role is not None:
        unsure = [m.index for m in matches if by_index[m.index].role_unsure]
        if unsure:  # said there, but whose voice it is is in doubt
            detail["role_unsure"] = unsure
        if passed == (rule.expect == "absent"):  # the other side's words whose voice is in doubt could change the result
            others = [u for u in utterances if u.speaker not in PHONE_SYSTEM and u.role not in (None, rule.role) and u.role_unsure and inside(u)]
            heard = next((m for u in others if (m := _match(rule, u, sims)) is not None), None)
            if heard is not None:
                detail["other_side_unsure"] = {"utterance_index": heard.index, "matched": heard.matched}
    if matches:
        theirs = [m for m in matches if by_index[m.index].speaker != SYSTEM_SPEAKER]
        first = (theirs or matches)[0]  # a person's words are the evidence where a person said it too
        utt = by_index[first.index]
        if not theirs:
            detail["by"] = "recorded welcome"  # only the phone system said it
        return Finding(rule.name, passed, first.index, utt.start, utt.end, first.matched, first.score, detail)
    if rule.expect == "absent":
        return Finding(rule.name, passed, detail=detail)
    # Missing: point at where it should have been said.
    detail["missing"] = True
    if sims is not None and people:
        nearest = max(people, key=lambda u: sims[u.index])
        detail["nearest"] = {"utterance_index": nearest.index, "score": sims[nearest.index]}
    if not people:  # where a person should have said it
        return Finding(rule.name, passed, None, lo, hi, None, None, detail)
    where = people[-1] if rule.window and rule.window.side == "last" else people[0]
    return Finding(rule.name, passed, where.index, where.start, where.end, None, None, detail)


def evaluate_rules(
    rules: Sequence[Rule],
    utterances: list[Utterance],
    *,
    duration_s: float,
    embed: Embed | None,
    channel: str | None = None,
    opening_s: float = 0.0,
) -> list[Finding]:
    """One ``Finding`` per rule that applies to the interaction's ``channel``, in rule order.
    ``opening_s``: where the phone system's opening ends (``recorded.opening_end``): ``first_*``
    windows start there.

    ``utterances`` are matched on their ``text`` (already redacted); ``embed`` is called
    once, with every utterance and example, only when a rule matches by meaning. A rule limited
    to other channels gives no finding (a scorecard counts its criterion as n/a); with the
    channel unknown every rule applies.
    """
    rules = [r for r in rules if not (r.channels and channel and channel not in r.channels)]
    ordered = sorted(utterances, key=lambda u: u.index)
    sims = _similarities(rules, ordered, embed)
    return [_evaluate(rule, ordered, duration_s, sims.get(rule.name), opening_s) for rule in rules]
