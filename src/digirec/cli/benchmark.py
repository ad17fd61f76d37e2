"""``digirec benchmark`` and ``digirec learning-curve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from digirec.cli.app import app
from digirec.cli.common import (
    DEFAULT_BENCHMARK_MODELS,
    PROTOCOLS,
    BadRowsOpt,
    DataOpt,
    DuplicatesOpt,
    EncodingOpt,
    EventWeightsOpt,
    FormatOpt,
    GridOpt,
    HalfLifeOpt,
    MarkdownOpt,
    ModelsOpt,
    NoTuneOpt,
    OutOpt,
    ParamsOpt,
    SepOpt,
    UnknownEventsOpt,
    check_grid_with_tune,
    data_flags,
    load_dataset,
    parse_json,
    parse_ks,
    parse_models,
    per_model_json,
    say,
    write_outputs,
)
from digirec.cli.engine import EngineOpt, SparkMasterOpt, check_engine

#: Models of ``--protocol cold-items`` without ``--models``.
DEFAULT_COLD_ITEMS_MODELS = "pop,random,contentknn,twotower"


@app.command()
def benchmark(
    data: DataOpt,
    fmt: FormatOpt = "auto",
    models: ModelsOpt = None,
    k: Annotated[str, typer.Option("--k", help="Cut-offs, e.g. 10,20.")] = "10,20",
    out: OutOpt = None,
    markdown: MarkdownOpt = None,
    params: ParamsOpt = None,
    grid: GridOpt = None,
    no_tune: NoTuneOpt = False,
    on_bad_rows: BadRowsOpt = "error",
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="leave-one-out (default) | cold-items | cold-users | ml100k-folds "
            "(--data is then the MovieLens-100K folder with the official u1..u5 folds).",
        ),
    ] = PROTOCOLS[0],
    cold_fraction: Annotated[
        float,
        typer.Option(
            "--cold-fraction",
            help="cold-items / cold-users: share of the items / users held out for test "
            "(and, of the rest, for validation).",
        ),
    ] = 0.1,
    random_state: Annotated[
        int, typer.Option("--random-state", help="Seed of the cold-start draws.")
    ] = 42,
    cold_candidates: Annotated[
        str,
        typer.Option(
            "--cold-candidates",
            help="cold-items: the headline view, 'all' (rank every item) or 'cold' (rank the "
            "held-out items only); both views are in the JSON under results[*].views.",
        ),
    ] = "all",
    event_weights: EventWeightsOpt = None,
    half_life_days: HalfLifeOpt = None,
    duplicates: DuplicatesOpt = None,
    unknown_events: UnknownEventsOpt = "error",
    sep: SepOpt = None,
    encoding: EncodingOpt = None,
    target_event: Annotated[
        str | None,
        typer.Option(
            "--target-event",
            help="Next-event protocol, e.g. 'purchase': the target is each user's last "
            "purchase, the history every event before it (see docs/benchmark.md).",
        ),
    ] = None,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = None,
) -> None:
    """Benchmark models with intervals.

    Tune on validation, refit on train + validation, report test (leave-one-out by default).
    """
    if protocol not in PROTOCOLS:
        raise typer.BadParameter(
            f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}",
            param_hint="--protocol",
        )
    if protocol in ("cold-items", "cold-users") and not 0.0 < cold_fraction < 1.0:
        raise typer.BadParameter(
            f"must be in (0, 1), got {cold_fraction}", param_hint="--cold-fraction"
        )
    if cold_candidates not in ("all", "cold"):
        raise typer.BadParameter(
            f"must be 'all' or 'cold', got {cold_candidates!r}", param_hint="--cold-candidates"
        )
    # The rating track also knows its bias baseline and least-squares blend.
    extra = ("baseline", "blend") if protocol == "ml100k-folds" else ()
    model_names = parse_models(models, extra) if models is not None else None
    check_grid_with_tune(grid, no_tune)
    if protocol == "ml100k-folds":
        fixed = parse_json(params, "--params") if params else {}
        grids = parse_json(grid, "--grid") if grid else None
        _benchmark_rating_folds(data, model_names, not no_tune, fixed, grids, out, markdown)
        return
    # New items: the content models and their two baselines. contentknn is the cold-start
    # default where new items compete with the whole catalogue (view "all"); see
    # docs/benchmark.md, "Cold items: results and the default".
    default = DEFAULT_COLD_ITEMS_MODELS if protocol == "cold-items" else DEFAULT_BENCHMARK_MODELS
    names = model_names or parse_models(default)
    fixed = per_model_json(params, "--params", names)
    grids = per_model_json(grid, "--grid", names) or None
    ks = parse_ks(k)
    if target_event is not None and protocol != "leave-one-out":
        raise typer.BadParameter(
            f"--target-event is its own protocol; it does not combine with --protocol {protocol}",
            param_hint="--target-event",
        )
    check_engine(engine, spark_master, names)
    flags = data_flags(
        event_weights=event_weights,
        half_life_days=half_life_days,
        duplicates=duplicates,
        unknown_events=unknown_events,
        sep=sep,
        encoding=encoding,
    )
    if engine == "spark":
        if protocol != "leave-one-out" or target_event is not None:
            raise typer.BadParameter(
                "the spark engine runs the leave-one-out protocol only", param_hint="--engine"
            )
        from digirec.cli.engine import benchmark_command

        benchmark_command(
            data, fmt, on_bad_rows, names, spark_master=spark_master, ks=ks, tune=not no_tune,
            params=fixed, grids=grids, out=out, markdown=markdown,
            load_options=flags,
        )  # fmt: skip
        return
    dataset = load_dataset(
        data,
        fmt,
        on_bad_rows,
        **flags,
        # The protocol rule: a pair's first occurrence is its target (the next-purchase
        # protocol combines training events itself and defaults to the training rule).
        default_duplicates="first" if target_event is None else "max",
        keep_all_events=target_event is not None,
    )
    from digirec.evaluation.provenance import provenance

    if target_event is None:
        _note_leak(dataset.extras["load"]["duplicates"], f"--protocol {protocol}")
    if target_event is not None:
        from digirec.evaluation.next_purchase import next_purchase_markdown, run_next_purchase

        document = run_next_purchase(
            dataset,
            names,
            target_event=target_event.strip().lower(),
            duplicates=dataset.extras["load"]["duplicates"],
            ks=ks,
            tune=not no_tune,
            params=fixed,
            grids=grids,
            progress=say,
        )
        document["provenance"] = provenance(dataset)
        write_outputs(document, next_purchase_markdown(document), out, markdown)
        return
    if protocol == "leave-one-out":
        from digirec.evaluation.benchmark import run_benchmark, to_markdown

        document = run_benchmark(
            dataset, names, ks=ks, tune=not no_tune, params=fixed, grids=grids, progress=say
        )
        table = to_markdown(document)
    else:
        from digirec.evaluation.coldstart import (
            cold_start_markdown,
            run_cold_items,
            run_cold_users,
        )

        common: dict[str, Any] = {
            "fraction": cold_fraction,
            "random_state": random_state,
            "ks": ks,
            "tune": not no_tune,
            "params": fixed,
            "grids": grids,
            "progress": say,
        }
        if protocol == "cold-items":
            document = run_cold_items(dataset, names, cold_candidates=cold_candidates, **common)
        else:
            document = run_cold_users(dataset, names, **common)
        table = cold_start_markdown(document)
    document["provenance"] = provenance(dataset)
    write_outputs(document, table, out, markdown)


def _note_leak(rule: str, protocol: str) -> None:
    """Say that a rule other than ``first`` weights training pairs past the held-out targets."""
    if rule != "first":
        # The split is the protocol's (first occurrences); the weights are not cut at it.
        say(
            f"note: under {protocol}, --duplicates {rule} weights a training pair "
            "with all its events, also those after the user's held-out targets; "
            "--target-event purchase compares event rules without that leak"
        )


def _benchmark_rating_folds(
    data: str,
    models: list[str] | None,
    tune: bool,
    params: Any,
    grids: Any,
    out: Path | None,
    markdown: Path | None,
) -> None:
    """``--protocol ml100k-folds``: the rating protocol on the official MovieLens-100K folds."""
    try:
        # Imported here: the module is optional in this build, and importing it must not slow
        # down (or break) every other command.
        from digirec.evaluation.rating_folds import rating_folds_markdown, run_rating_folds
    except ModuleNotFoundError as exc:
        if exc.name != "digirec.evaluation.rating_folds":
            raise
        raise typer.BadParameter(
            "ml100k-folds needs digirec.evaluation.rating_folds, which this version of digirec "
            "does not include yet",
            param_hint="--protocol",
        ) from None
    path = Path(data)
    if not path.is_dir():
        raise typer.BadParameter(
            f"ml100k-folds needs the MovieLens-100K folder (with u1.base .. u5.test), got {data}",
            param_hint="--data",
        )
    # An empty list lets the rating protocol choose its own default models.
    document = run_rating_folds(
        path, models or [], tune=tune, params=params, grids=grids, progress=say
    )
    write_outputs(document, rating_folds_markdown(document), out, markdown)


@app.command("learning-curve")
def learning_curve(
    data: DataOpt,
    fmt: FormatOpt = "auto",
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated model names.")
    ] = "pop,ease",
    fractions: Annotated[
        str,
        typer.Option(
            "--fractions",
            help="Shares of each user's training history to keep (most recent), each in (0, 1].",
        ),
    ] = "0.1,0.25,0.5,0.75,1.0",
    out: OutOpt = None,
    markdown: MarkdownOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write the curve: .svg (the chart alone) or .html (the full digirec report).",
        ),
    ] = None,
    params: ParamsOpt = None,
    grid: GridOpt = None,
    no_tune: NoTuneOpt = False,
    on_bad_rows: BadRowsOpt = "error",
    event_weights: EventWeightsOpt = None,
    half_life_days: HalfLifeOpt = None,
    duplicates: DuplicatesOpt = None,
    unknown_events: UnknownEventsOpt = "error",
    sep: SepOpt = None,
    encoding: EncodingOpt = None,
) -> None:
    """Accuracy as each user's history grows.

    Test NDCG@10 / Recall@10 at each share of each user's training history (the benchmark's
    leave-one-out split; the data flags as in ``digirec benchmark``).
    """
    from digirec.evaluation.learning_curve import (
        learning_curve_markdown,
        learning_curve_svg,
        parse_fractions,
        run_learning_curve,
    )

    try:
        shares = parse_fractions(fractions)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fractions") from None
    if plot is not None and plot.suffix.lower() not in (".svg", ".html", ".htm"):
        raise typer.BadParameter("must end in .svg or .html", param_hint="--plot")
    names = parse_models(models)
    check_grid_with_tune(grid, no_tune)
    fixed = per_model_json(params, "--params", names)
    grids = per_model_json(grid, "--grid", names) or None
    flags = data_flags(
        event_weights=event_weights,
        half_life_days=half_life_days,
        duplicates=duplicates,
        unknown_events=unknown_events,
        sep=sep,
        encoding=encoding,
    )
    # The benchmark's protocol and its rule: a pair's first occurrence is its target.
    dataset = load_dataset(data, fmt, on_bad_rows, **flags, default_duplicates="first")
    _note_leak(dataset.extras["load"]["duplicates"], "learning-curve")
    document = run_learning_curve(
        dataset,
        names,
        fractions=shares,
        tune=not no_tune,
        params=fixed,
        grids=grids,
        progress=say,
    )
    from digirec.evaluation.provenance import provenance

    document["provenance"] = provenance(dataset)
    write_outputs(document, learning_curve_markdown(document), out, markdown)
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        if plot.suffix.lower() == ".svg":
            plot.write_text(learning_curve_svg(document), encoding="utf-8")
        else:
            from digirec.evaluation.report import ResultFile, render_report

            page = render_report(
                [ResultFile(name=f"{dataset.name}-learning-curve", document=document)],
                title=f"digirec learning curve: {dataset.name}",
            )
            plot.write_text(page, encoding="utf-8")
        say(f"wrote {plot}")
