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
        "amazon2018, amazon2023, movielens, minionerec, rees46, taobao.",
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


#: The repeated-pair rules the CLI offers (``keep`` is a library-only option).
CLI_DUPLICATES = ("max", "sum", "first", "last")

EventWeightsOpt = Annotated[
    str | None,
    typer.Option(
        "--event-weights",
        help='Weights per event type as JSON, e.g. \'{"wishlist": 3, "purchase": 20}\'; '
        "merged with the defaults (view 1, click 2, wishlist 3, cart 4, purchase 8, rating 1).",
    ),
]
HalfLifeOpt = Annotated[
    float | None,
    typer.Option(
        "--half-life-days", min=0.001, help="Time decay: an event this many days old counts half."
    ),
]
DuplicatesOpt = Annotated[
    str | None,
    typer.Option(
        "--duplicates",
        help="How the events of one (user, item) pair combine: max (strongest event; the "
        "training default), sum, first (the benchmark default: a pair's first occurrence is "
        "its target), last.",
        show_default=False,
    ),
]
UnknownEventsOpt = Annotated[
    str,
    typer.Option(
        "--unknown-events",
        help="Event types without a weight: error, skip (dropped and counted) or weight=W.",
    ),
]
SepOpt = Annotated[
    str | None,
    typer.Option("--sep", help="Field separator of CSV files (default ',', tab for .tsv; '\\t')."),
]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="Text encoding of CSV files (default utf-8).")
]


def data_flags(
    *,
    event_weights: str | None,
    half_life_days: float | None,
    duplicates: str | None,
    unknown_events: str,
    sep: str | None,
    encoding: str | None,
) -> dict[str, Any]:
    """The data flags a command passes on to :func:`load_raw` / :func:`load_dataset`, gathered
    once so the local and the Spark path of a command read the same options."""
    return {
        "event_weights": event_weights,
        "half_life_days": half_life_days,
        "duplicates": duplicates,
        "unknown_events": unknown_events,
        "sep": sep,
        "encoding": encoding,
    }


def load_raw(
    data: str,
    fmt: str,
    on_bad_rows: str,
    *,
    event_weights: str | None = None,
    half_life_days: float | None = None,
    duplicates: str | None = None,
    default_duplicates: str = "max",
    unknown_events: str = "error",
    sep: str | None = None,
    encoding: str | None = None,
) -> tuple[Any, Any, str, str]:
    """The raw tables (digirec's loaders and validation), the event-weight rule, the
    repeated-pair rule and the resolved format, from the CLI's data flags.

    The one reader of those flags: :func:`load_dataset` builds the Dataset from it here, and
    ``digirec train --engine spark`` prepares the same tables on Spark instead.
    """
    from digirec.data.events import EventWeights

    if on_bad_rows not in ("error", "skip"):
        raise typer.BadParameter("must be 'error' or 'skip'", param_hint="--on-bad-rows")
    rule_name = duplicates if duplicates is not None else default_duplicates
    if rule_name not in CLI_DUPLICATES:
        raise typer.BadParameter(
            f"{rule_name!r} is not one of {', '.join(CLI_DUPLICATES)}", param_hint="--duplicates"
        )
    weights: dict[str, Any] = {}
    if event_weights:
        weights = parse_json(event_weights, "--event-weights")
        if not isinstance(weights, dict):
            raise typer.BadParameter(
                "must be a JSON object such as '{\"purchase\": 20}'", param_hint="--event-weights"
            )
    rule = EventWeights.from_options(
        weights, unknown_events=unknown_events, half_life_days=half_life_days
    )
    if data == SYNTH:
        from digirec.data.synth import generate_shop

        raw = generate_shop()
        resolved = SYNTH
    else:
        from digirec.data.load import detect_format, load_data

        resolved = detect_format(data) if fmt == "auto" else fmt
        raw = load_data(
            data,
            format=resolved,
            on_bad_rows=on_bad_rows,  # type: ignore[arg-type]
            sep=sep,
            encoding=encoding,
        )
    if raw.report.n_skipped or raw.report.notes:
        say(raw.report.summary())
    return raw, rule, rule_name, resolved


def load_dataset(
    data: str,
    fmt: str = "auto",
    on_bad_rows: str = "error",
    *,
    include_catalog_items: bool = False,
    event_weights: str | None = None,
    half_life_days: float | None = None,
    duplicates: str | None = None,
    default_duplicates: str = "max",
    unknown_events: str = "error",
    sep: str | None = None,
    encoding: str | None = None,
    require_interactions: bool = True,
    keep_all_events: bool = False,
) -> Any:
    """Load a data set from the CLI arguments into a :class:`Dataset`, reporting skipped rows.

    ``duplicates`` is the ``--duplicates`` flag (``None``: ``default_duplicates``, which is
    ``max`` for training and ``first`` for the benchmark). What was read is recorded in
    ``dataset.extras["load"]`` (path, format, rows read / skipped / merged, the event rules)
    for the benchmark's provenance. ``require_interactions`` refuses an empty data set
    (a header-only file), which no model can be trained on. ``keep_all_events`` builds the
    Dataset with every event (``duplicates="keep"``) for a protocol that combines events per
    training part itself; the rule is then only recorded.
    """
    from digirec.data.dataset import Dataset
    from digirec.exceptions import SchemaError

    raw, rules, rule, resolved = load_raw(
        data,
        fmt,
        on_bad_rows,
        event_weights=event_weights,
        half_life_days=half_life_days,
        duplicates=duplicates,
        default_duplicates=default_duplicates,
        unknown_events=unknown_events,
        sep=sep,
        encoding=encoding,
    )
    dataset = Dataset.from_raw(
        raw,
        event_weights=rules,
        duplicates="keep" if keep_all_events else rule,  # type: ignore[arg-type]
        include_catalog_items=include_catalog_items,
    )
    stats = dataset.stats
    if stats is not None and stats.n_unknown_events_skipped:
        listed = ", ".join(f"{k!r} x {v}" for k, v in stats.skipped_events.items())
        say(f"skipped {stats.n_unknown_events_skipped} event(s) without a weight: {listed}")
    if require_interactions and dataset.n_interactions == 0:
        raise SchemaError(
            f"no interactions to train on ({raw.report.n_rows_read} row(s) read, "
            f"{raw.report.n_skipped} skipped)",
            file=data,
        )
    dataset.extras["load"] = {
        "path": data,
        "format": resolved,
        "on_bad_rows": on_bad_rows,
        "files": list(raw.report.files),
        "n_rows_read": int(raw.report.n_rows_read),
        "n_rows_skipped": int(raw.report.n_skipped),
        "skipped_by_reason": {k: int(v) for k, v in raw.report.skipped_by_reason().items()},
        "n_interactions_raw": int(stats.n_raw_interactions) if stats else len(raw.interactions),
        "n_unknown_events_skipped": int(stats.n_unknown_events_skipped) if stats else 0,
        "n_duplicates_merged": int(stats.n_duplicates_merged) if stats else 0,
        "duplicates": rule,
        "event_weights": rules.model_dump(mode="json"),
        "notes": list(raw.report.notes),
    }
    return dataset


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


def check_grid_with_tune(grid: str | None, no_tune: bool) -> None:
    """``--grid`` is a search space: with ``--no-tune`` nothing would search it."""
    if grid and no_tune:
        raise typer.BadParameter(
            "--grid has no effect with --no-tune (no search runs); drop one of them",
            param_hint="--grid",
        )


def per_model_json(text: str | None, option: str, models: Sequence[str]) -> dict[str, Any]:
    """``--params`` / ``--grid`` of a multi-model command: a JSON object keyed by model name.

    A flat object (``{"lambda": 5}``, which ``train`` accepts), a misspelt model key or a key
    for a model that is not in this run would be ignored without a word: each is a usage
    error naming the key and the models of the run.
    """
    if not text:
        return {}
    value = parse_json(text, option)
    example = '\'{"ease": {"lambda": 300}}\''
    if not isinstance(value, dict):
        raise typer.BadParameter(f"must be a JSON object keyed by model, e.g. {example}")
    import difflib

    from digirec.models.registry import available_models

    registered = set(available_models())
    for key, settings in value.items():
        if key not in models:
            if key in registered:
                why = f"model {key!r} is not in this run (--models {','.join(models)})"
            elif not isinstance(settings, dict):
                why = f"{key!r} is not a model: settings go under the model's name, e.g. {example}"
            else:
                close = difflib.get_close_matches(key, [*models, *registered], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                why = f"unknown model {key!r}{hint} (models in this run: {', '.join(models)})"
            raise typer.BadParameter(why, param_hint=option)
        if not isinstance(settings, dict):
            raise typer.BadParameter(
                f"the settings of {key!r} must be a JSON object, got {settings!r}",
                param_hint=option,
            )
    return value


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
