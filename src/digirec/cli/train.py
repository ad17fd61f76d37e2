"""``digirec train``: fit a model (optionally tuned) and write a bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from digirec.cli.app import app
from digirec.cli.common import (
    BadRowsOpt,
    DataOpt,
    DuplicatesOpt,
    EncodingOpt,
    EventWeightsOpt,
    FormatOpt,
    HalfLifeOpt,
    SepOpt,
    UnknownEventsOpt,
    data_flags,
    load_dataset,
    parse_json,
    say,
)
from digirec.cli.engine import EngineOpt, SparkMasterOpt, check_engine


def _tuned_model(name: str, dataset: Any, settings: dict[str, Any]) -> Any:
    """The benchmark's choice for ``name`` on ``dataset``, refit on all of it.

    The last two events of each user are split off as in the benchmark; the model's grid is
    searched on the validation event (test events stay in the training part only for the final
    refit), and the winner is refit on everything with ``Recommender.refit``.
    """
    from digirec.data.split import leave_one_out
    from digirec.training.tuning import tune_and_refit

    masks = leave_one_out(dataset)
    run = tune_and_refit(
        name,
        dataset.subset(masks.train),
        dataset.subset(masks.valid),
        dataset,
        params={name: settings},
        progress=say,
    )
    say(f"[{name}] chose {run.search.best.params}")
    return run.model


@app.command()
def train(
    data: DataOpt,
    model: Annotated[str, typer.Option("--model", help="Registered model name.")] = "ease",
    out: Annotated[Path, typer.Option("--out", help="Bundle directory to write.")] = Path(
        "artifacts/model"
    ),
    fmt: FormatOpt = "auto",
    params: Annotated[str | None, typer.Option("--params", help="Model settings as JSON.")] = None,
    on_bad_rows: BadRowsOpt = "error",
    include_catalog_items: Annotated[
        bool, typer.Option(help="Index catalogue items without interactions.")
    ] = True,
    event_weights: EventWeightsOpt = None,
    half_life_days: HalfLifeOpt = None,
    duplicates: DuplicatesOpt = None,
    unknown_events: UnknownEventsOpt = "error",
    sep: SepOpt = None,
    encoding: EncodingOpt = None,
    tune: Annotated[
        bool,
        typer.Option(
            "--tune/--no-tune",
            help="Choose the setting on a leave-one-out validation split (the model's grid, "
            "early stopping, hybrid weights), then refit on all interactions.",
        ),
    ] = False,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Train a model and write a servable bundle.

    Fits on all interactions (optionally tuned on a validation split first).
    """
    import time

    check_engine(engine, spark_master, [model])
    flags = data_flags(
        event_weights=event_weights,
        half_life_days=half_life_days,
        duplicates=duplicates,
        unknown_events=unknown_events,
        sep=sep,
        encoding=encoding,
    )
    if engine == "spark":
        _train_on_spark(
            data, model, out, fmt, params, on_bad_rows, include_catalog_items, tune,
            spark_master,
            flags,
        )  # fmt: skip
        return

    from digirec.artifacts import save_bundle
    from digirec.models.registry import create_model

    dataset = load_dataset(
        data,
        fmt,
        on_bad_rows,
        include_catalog_items=include_catalog_items,
        **flags,
    )
    settings = parse_json(params, "--params") if params else {}
    if model in settings and isinstance(settings[model], dict):
        settings = settings[model]
    start = time.perf_counter()
    if tune:
        recommender = _tuned_model(model, dataset, settings)
    else:
        recommender = create_model(model, settings).fit(dataset)
    seconds = time.perf_counter() - start
    load = dataset.extras["load"]
    # The training spec a retrain reuses: same event weights, pair rule and decay.
    training = {
        "source": str(data),
        "format": load["format"],
        "event_weights": load["event_weights"],
        "duplicates": load["duplicates"],
        "include_catalog_items": include_catalog_items,
    }
    from digirec.engines import torch_dist
    from digirec.evaluation.served import evaluate_for_bundle, holdout_evaluation

    # Under torchrun every rank trained the same model; rank 0 alone writes the bundle.
    if torch_dist.is_main_process():
        save_bundle(
            recommender,
            dataset,
            out,
            extra={"fit_seconds": seconds, "data": str(data), "training": training},
        )
        # The held-out score of this recipe on this data, shown on the dashboard.
        evaluate_for_bundle(recommender, dataset, out)
        say(f"trained {model} on {dataset.n_interactions} interactions in {seconds:.1f}s -> {out}")
    else:
        holdout_evaluation(recommender, dataset)  # its refit is collective: every rank joins
    torch_dist.shutdown()


def _train_on_spark(
    data: str,
    model: str,
    out: Path,
    fmt: str,
    params: str | None,
    on_bad_rows: str,
    include_catalog_items: bool,
    tune: bool,
    spark_master: str | None,
    load_options: dict[str, Any],
) -> None:
    """``--engine spark``: data preparation and ALS on Spark, the same bundle out."""
    from digirec.cli.common import load_raw
    from digirec.cli.engine import train_on_spark

    if tune:
        raise typer.BadParameter(
            "--tune is not available with --engine spark: pass the setting with --params "
            "(digirec benchmark --engine spark --models als --grid ... chooses one)",
            param_hint="--tune",
        )
    settings = parse_json(params, "--params") if params else {}
    if model in settings and isinstance(settings[model], dict):
        settings = settings[model]
    raw, rule, duplicates, resolved = load_raw(data, fmt, on_bad_rows, **load_options)
    train_on_spark(
        raw,
        rule,
        model=model,
        settings=settings,
        out=out,
        data=str(data),
        data_format=resolved,
        spark_master=spark_master,
        duplicates=duplicates,
        include_catalog_items=include_catalog_items,
    )
