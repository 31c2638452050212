"""``parley eval sentiment``, ``complaints`` and ``taxonomy``: measure the taggers on labelled CSVs.

Each prints a per-class table and then, last, one JSON line (accuracy, macro_f1, n, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from ..errors import ConfigError
from .evaluate import evaluate_complaints, evaluate_sentiment, evaluate_taxonomy, read_labelled, taxonomy_from_examples
from .options import TaggingOptions
from .taxonomy import parse_taxonomy


def print_report(result: dict[str, Any]) -> None:
    """The per-class table, then the whole result as one JSON line."""
    typer.echo(f"{'label':<40} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}")
    for label, row in result["per_class"].items():
        typer.echo(f"{label:<40} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>7.3f} {row['support']:>8}")
    typer.echo(f"accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  n {result['n']}")
    typer.echo(json.dumps(result, sort_keys=True))


def fail(exc: ConfigError) -> None:
    """Print the one-line error (file, problem, fix) and exit with status 2."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


def register(eval_app: typer.Typer, options: Callable[[], TaggingOptions] = TaggingOptions) -> None:
    """Add the ``sentiment``, ``complaints`` and ``taxonomy`` commands; ``options`` builds the TaggingOptions (from settings)."""

    @eval_app.command("sentiment")
    def sentiment_cmd(
        data: Path = typer.Option(..., "--data", help="CSV with a text and a negative/neutral/positive label column."),
        text_col: str = typer.Option("text", "--text-col", help="Column holding the utterance text."),
        label_col: str = typer.Option("sentiment", "--label-col", help="Column holding negative/neutral/positive."),
    ) -> None:
        """Score the sentiment tagger on your own labelled CSV."""
        try:
            result = evaluate_sentiment(options(), read_labelled(data, text_col, label_col))
        except ConfigError as exc:
            fail(exc)
        print_report({**result, "data": str(data)})

    @eval_app.command("complaints")
    def complaints_cmd(
        data: Path = typer.Option(..., "--data", help="CSV with a text and a yes/no complaint column."),
        text_col: str = typer.Option("text", "--text-col", help="Column holding the utterance text."),
        label_col: str = typer.Option("complaint", "--label-col", help="Column holding yes (a complaint) or no."),
    ) -> None:
        """Score the complaint detector on your own labelled CSV (yes/no per utterance)."""
        try:
            result = evaluate_complaints(options(), read_labelled(data, text_col, label_col))
        except ConfigError as exc:
            fail(exc)
        print_report({**result, "data": str(data)})

    @eval_app.command("taxonomy")
    def taxonomy_cmd(
        taxonomy: Optional[Path] = typer.Option(None, "--taxonomy", help="Taxonomy YAML to measure (labels in the CSV are its labels)."),
        from_examples: Optional[Path] = typer.Option(None, "--from-examples", help="Labelled CSV to build a taxonomy from, K examples per label."),
        shots: int = typer.Option(10, "--shots", help="Examples per label taken from --from-examples."),
        seed: int = typer.Option(0, "--seed", help="Random seed for picking the examples."),
        data: Optional[Path] = typer.Option(None, "--data", help="CSV to score on; with --from-examples and no --data: the rows not picked."),
        text_col: str = typer.Option("text", "--text-col", help="Column holding the utterance text."),
        label_col: str = typer.Option("label", "--label-col", help="Column holding the label."),
    ) -> None:
        """Score a taxonomy (a YAML file, or one built from K examples per label) on labelled data."""
        if (taxonomy is None) == (from_examples is None):
            raise typer.BadParameter("give exactly one of --taxonomy YAML or --from-examples CSV")
        try:
            if taxonomy is not None:
                if data is None:
                    raise typer.BadParameter("--taxonomy needs --data CSV to score on")
                result = evaluate_taxonomy(options(), parse_taxonomy(taxonomy), read_labelled(data, text_col, label_col))
                extra: dict[str, Any] = {"taxonomy": str(taxonomy)}
            else:
                tax, rest = taxonomy_from_examples(read_labelled(from_examples, text_col, label_col), shots, seed, str(from_examples))
                rows = read_labelled(data, text_col, label_col) if data is not None else rest
                result = evaluate_taxonomy(options(), tax, rows, use_training=False)
                extra = {"from_examples": str(from_examples), "shots": shots, "seed": seed, "labels": len(tax.labels)}
        except ConfigError as exc:
            fail(exc)
        print_report({**result, **extra, "data": str(data or from_examples)})
