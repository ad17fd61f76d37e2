"""Options and helpers shared by the command modules: data loading, JSON and list parsing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

SYNTH = "synth"

DataOpt = Annotated[
    str,
    typer.Option(
        "--data",
        help="Data file or directory, or 'synth' for the embedded synthetic electronics shop.",
    ),
]
FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        help="auto (detect from the files), csv, parquet, jsonl, lcrec, rechorus, amazon2014, "
        "amazon2018, amazon2023, movielens, minionerec.",
    ),
]
BadRowsOpt = Annotated[
    str,
    typer.Option(
        "--on-bad-rows", help="'error' stops at the first bad row; 'skip' reports and skips."
    ),
]


def say(message: str) -> None:
    typer.echo(message, err=True)


def load_dataset(
    data: str,
    fmt: str = "auto",
    on_bad_rows: str = "error",
    *,
    include_catalog_items: bool = False,
    event_weights: str | None = None,
    half_life_days: float | None = None,
) -> Any:
    """Load a data set from the CLI arguments into a :class:`Dataset`, reporting skipped rows."""
    from digirec.data.dataset import Dataset
    from digirec.data.events import EventWeights

    if on_bad_rows not in ("error", "skip"):
        raise typer.BadParameter("--on-bad-rows must be 'error' or 'skip'")
    if data == SYNTH:
        from digirec.data.synth import generate_shop

        raw = generate_shop()
    else:
        from digirec.data.load import load_data

        raw = load_data(data, format=fmt, on_bad_rows=on_bad_rows)  # type: ignore[arg-type]
    if raw.report.n_skipped or raw.report.notes:
        say(raw.report.summary())
    weights_kwargs: dict[str, Any] = {}
    if event_weights:
        weights_kwargs["weights"] = parse_json(event_weights, "--event-weights")
    if half_life_days is not None:
        weights_kwargs["half_life_days"] = half_life_days
    return Dataset.from_raw(
        raw,
        event_weights=EventWeights(**weights_kwargs),
        include_catalog_items=include_catalog_items,
    )


def parse_json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{option} is not valid JSON: {exc}") from None


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise typer.BadParameter("--k needs positive integers")
    return ks


#: Benchmark protocols (``--protocol``); the first is the default.
PROTOCOLS = ("leave-one-out", "cold-items", "cold-users", "ml100k-folds")
# The hybrid last: it reuses the searches of its components (EASE, iALS, SASRec) done before it.
DEFAULT_BENCHMARK_MODELS = "pop,itemknn,ease,als,bpr,sasrec,hybrid"

ModelsOpt = Annotated[
    str | None,
    typer.Option(
        "--models",
        help=f"Comma-separated model names (default: {DEFAULT_BENCHMARK_MODELS}; "
        "for ml100k-folds the rating protocol's own default).",
        show_default=False,
    ),
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the results JSON here.")]
MarkdownOpt = Annotated[
    Path | None, typer.Option("--markdown", help="Write a markdown table here.")
]
ParamsOpt = Annotated[
    str | None,
    typer.Option("--params", help='Per-model settings, e.g. \'{"ease": {"lambda": 300}}\'.'),
]
GridOpt = Annotated[
    str | None,
    typer.Option(
        "--grid", help='Override search spaces, e.g. \'{"ease": {"lambda": [50, 100]}}\'.'
    ),
]
NoTuneOpt = Annotated[
    bool, typer.Option("--no-tune", help="Use --params / defaults; no validation search.")
]


def parse_models(models: str, extra: Sequence[str] = ()) -> list[str]:
    """Model names from ``--models``; unknown names are a usage error listing the known ones.

    ``extra`` are names a protocol accepts besides the registry (the rating track's bias
    baseline and blend).
    """
    from digirec.models.registry import available_models

    known = [*available_models(), *extra]
    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise typer.BadParameter("--models names no model", param_hint="--models")
    unknown = [m for m in names if m not in known]
    if unknown:
        raise typer.BadParameter(f"unknown model(s) {unknown}; available: {known}")
    return names


def write_outputs(document: Any, text: str, out: Path | None, markdown: Path | None) -> None:
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2))
        say(f"wrote {out}")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(text)
        say(f"wrote {markdown}")
