"""Taxonomies are YAML data: labels with a description and example utterances.

A file looks like::

    kind: complaint_topic        # the tag kind its labels are written under
    multi_label: true            # several labels may apply to one utterance
    threshold: 0.5               # multi-label only: minimum probability to apply a label
    background: general          # optional: the label for talk that belongs to no touchpoint
                                 # (greetings, thanks, hold); it does not vote for the interaction's label
    labels:
      billing_error:
        description: Wrong or unexpected charges.
        examples: [you've charged me twice, my bill is wrong]

A malformed file raises ``ConfigError`` naming the file, the line and the fix.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import ConfigError

REQUIRED_FILES = ("touchpoints.yaml", "journey_stage.yaml", "complaint_topics.yaml")
COMPLAINT_SETS = ("general", "financial_services")
"""Complaint taxonomies shipped: ``general`` is ``complaint_topics.yaml`` in the taxonomy folder
itself; ``financial_services`` is the ``financial_services/`` folder beside it (product groups
and causes). Any other folder with a ``complaint_topics.yaml`` (and optionally a
``complaint_products.yaml``) may be named instead."""
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "taxonomies"
OUTCOMES = "complaint_outcomes.yaml"
"""What happens to a complaint on the call; read from the taxonomy folder, else the shipped one."""
LABEL_RE = re.compile(r"^[a-z][a-z0-9_]*$")
TOP_KEYS = {"kind", "multi_label", "threshold", "background", "labels"}
LABEL_KEYS = {"description", "examples"}


@dataclass(frozen=True)
class Label:
    name: str
    description: str
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    """One taxonomy file, validated."""

    kind: str
    labels: tuple[Label, ...]
    multi_label: bool
    threshold: float
    path: str
    hash: str
    """sha256 (first 16 hex) of the file's bytes: stored on every tag it produced."""
    background: str | None = None
    """The label for talk that fits no other label (greetings, thanks, hold): utterances get it,
    but it does not vote when the interaction's label is chosen."""

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]


def _fail(path: Path, node: yaml.Node | None, problem: str, fix: str) -> ConfigError:
    line = f" line {node.start_mark.line + 1}:" if node is not None else ""
    return ConfigError(f"{line} {problem}".strip(), fix=fix, path=str(path))


def _scalar(path: Path, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise _fail(path, node, f"{what} must be a non-empty text", f"write {what} as plain text on one line")
    return str(node.value).strip()


def _mapping(path: Path, node: yaml.Node, what: str, allowed: set[str]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"{what} must be a mapping of keys to values", f"indent the keys of {what} under it")
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        name = str(key.value)
        if allowed and name not in allowed:
            raise _fail(path, key, f"unknown key '{name}' in {what}", f"use only {', '.join(sorted(allowed))}")
        if name in out:
            raise _fail(path, key, f"'{name}' appears twice in {what}", "keep one of them")
        out[name] = (key, value)
    return out


def _label(path: Path, key: yaml.Node, node: yaml.Node) -> Label:
    name = str(key.value)
    if not LABEL_RE.match(name):
        raise _fail(path, key, f"label '{name}' is not a lower_snake_case name", "use letters, digits and _ only, e.g. billing_error")
    fields = _mapping(path, node, f"label '{name}'", LABEL_KEYS)
    if "description" not in fields:
        raise _fail(path, key, f"label '{name}' has no description", "add `description: <one line>` under it")
    description = _scalar(path, fields["description"][1], f"the description of '{name}'")
    examples_node = fields.get("examples", (key, None))[1]
    if not isinstance(examples_node, yaml.SequenceNode) or not examples_node.value:
        raise _fail(path, examples_node or key, f"label '{name}' needs a list of examples", "add `examples:` with at least one `- utterance` line")
    examples = tuple(_scalar(path, item, f"an example of '{name}'") for item in examples_node.value)
    return Label(name=name, description=description, examples=examples)


def parse_taxonomy(path: Path) -> Taxonomy:
    """Read and validate one taxonomy file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        root = yaml.compose(raw.decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the taxonomy ({exc.strerror})", fix="restore the file or point taxonomy_dir elsewhere", path=str(path)) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{line}invalid YAML ({exc.problem})", fix="fix the indentation or quoting there", path=str(path)) from exc
    if root is None:
        raise ConfigError("the taxonomy is empty", fix="add `kind:` and `labels:` (see data/taxonomies/touchpoints.yaml)", path=str(path))
    top = _mapping(path, root, "the file", TOP_KEYS)
    for needed in ("kind", "labels"):
        if needed not in top:
            raise _fail(path, root, f"no `{needed}:` key", f"add `{needed}:` at the top level")
    kind = _scalar(path, top["kind"][1], "kind")
    multi_label = _flag(path, top.get("multi_label"))
    threshold = _threshold(path, top.get("threshold"))
    labels_node = top["labels"][1]
    labels = tuple(_label(path, key, value) for key, value in _mapping(path, labels_node, "labels", set()).values())
    if len(labels) < 2 and not multi_label:
        raise _fail(path, labels_node, "a single-label taxonomy needs at least two labels", "add another label or set `multi_label: true`")
    background = None
    if "background" in top:
        node = top["background"][1]
        background = _scalar(path, node, "background")
        if multi_label:
            raise _fail(path, node, "a multi-label taxonomy has no background label", "remove `background:` (it is for single-label taxonomies)")
        if background not in {label.name for label in labels}:
            raise _fail(path, node, f"background '{background}' is not one of this taxonomy's labels", f"add a label '{background}' (with description and examples) or name an existing one")
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return Taxonomy(kind=kind, labels=labels, multi_label=multi_label, threshold=threshold, path=str(path), hash=digest, background=background)


def _flag(path: Path, pair: tuple[yaml.Node, yaml.Node] | None) -> bool:
    if pair is None:
        return False
    value = str(pair[1].value).lower()
    if value not in ("true", "false"):
        raise _fail(path, pair[1], f"multi_label must be true or false, not '{pair[1].value}'", "write `multi_label: true` or `multi_label: false`")
    return value == "true"


def _threshold(path: Path, pair: tuple[yaml.Node, yaml.Node] | None) -> float:
    if pair is None:
        return 0.5
    try:
        value = float(pair[1].value)
    except (TypeError, ValueError):
        value = -1.0
    if not 0.0 < value < 1.0:
        raise _fail(path, pair[1], f"threshold must be a number between 0 and 1, not '{pair[1].value}'", "write e.g. `threshold: 0.5`")
    return value


def complaint_folder(taxonomy_dir: Path, choice: str) -> Path:
    """The folder of the complaint taxonomy ``choice`` (``COMPLAINT_SETS`` or a folder)."""
    taxonomy_dir = Path(taxonomy_dir)
    if choice == "general":
        return taxonomy_dir
    if choice in COMPLAINT_SETS:
        own = taxonomy_dir / choice
        return own if own.is_dir() else SHIPPED / choice
    folder = Path(choice)
    if not (folder / "complaint_topics.yaml").is_file():
        raise ConfigError(
            f"complaint taxonomy '{choice}' is neither {' nor '.join(COMPLAINT_SETS)} nor a folder with complaint_topics.yaml",
            fix="set PARLEY_COMPLAINT_TAXONOMY to general, financial_services or such a folder", path=str(folder),
        )
    return folder


def load_taxonomies(folder: Path, complaints: Path | None = None) -> dict[str, Taxonomy]:
    """Every taxonomy, keyed by file stem: touchpoints and journey_stage from ``folder``;
    complaint_topics (and complaint_products, when there is one) from ``complaints`` (default
    ``folder``); complaint_outcomes from ``folder``, else the shipped one."""
    folder = Path(folder)
    complaints = Path(complaints) if complaints is not None else folder
    out = {}
    for name in REQUIRED_FILES:
        path = (complaints if name.startswith("complaint") else folder) / name
        if not path.is_file():
            raise ConfigError("taxonomy file is missing", fix=f"create {name} (copy it from data/taxonomies/ in the Parley repository)", path=str(path))
        out[path.stem] = parse_taxonomy(path)
    products = complaints / "complaint_products.yaml"
    if products.is_file():
        out[products.stem] = _expect(parse_taxonomy(products), multi_label=False)
    outcomes = folder / OUTCOMES if (folder / OUTCOMES).is_file() else SHIPPED / OUTCOMES
    out[outcomes.stem] = _outcomes(parse_taxonomy(outcomes))
    return out


def _expect(taxonomy: Taxonomy, multi_label: bool) -> Taxonomy:
    if taxonomy.multi_label != multi_label:
        raise ConfigError(f"multi_label must be {str(multi_label).lower()} here", fix=f"write `multi_label: {str(multi_label).lower()}`", path=taxonomy.path)
    return taxonomy


def _outcomes(taxonomy: Taxonomy) -> Taxonomy:
    from .complaints import CUSTOMER_ACTS, STAFF_ACTS

    missing = [name for name in (*STAFF_ACTS, *CUSTOMER_ACTS) if name not in taxonomy.names]
    if missing or taxonomy.background is None:
        raise ConfigError(
            f"complaint outcomes need the labels {', '.join((*STAFF_ACTS, *CUSTOMER_ACTS))} and a background label (missing: {', '.join(missing) or 'background'})",
            fix="restore them (see data/taxonomies/complaint_outcomes.yaml)", path=taxonomy.path,
        )
    return _expect(taxonomy, multi_label=False)
