"""``--engine`` of ``digirec train`` and ``digirec benchmark``: checks and the Spark runs.

``local`` is this process (or, under ``torchrun``, one rank of a DistributedDataParallel run:
the trainer finds the launcher's environment itself). ``spark`` prepares the data and fits ALS
on Spark (:mod:`digirec.engines.spark`) and writes / scores the same bundle and metrics as the
local path.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from digirec.cli.common import load_raw, say
from digirec.engines import ENGINES

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local (this process; run it under torchrun for DistributedDataParallel) or spark "
        "(data preparation and ALS on Spark; --model als).",
    ),
]
SparkMasterOpt = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="Spark master URL with --engine spark: local[N], spark://host:7077, "
        "k8s://https://host:443 (default local[*]).",
        show_default=False,
    ),
]


def check_engine(engine: str, spark_master: str | None, models: list[str]) -> None:
    """Usage errors (exit 2) for an unknown engine, a model it cannot train, or a stray flag."""
    if engine not in ENGINES:
        raise typer.BadParameter(
            f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}",
            param_hint="--engine",
        )
    if engine != "spark":
        if spark_master is not None:
            raise typer.BadParameter("needs --engine spark", param_hint="--spark-master")
        return
    from digirec.engines.spark import SPARK_MODELS

    unsupported = [m for m in models if m not in SPARK_MODELS]
    if unsupported:
        raise typer.BadParameter(
            f"the spark engine trains {', '.join(sorted(SPARK_MODELS))} only, not "
            f"{', '.join(unsupported)}; use --engine local for "
            f"{'it' if len(unsupported) == 1 else 'them'}",
            param_hint="--engine",
        )


def train_on_spark(
    raw: Any,
    rule: Any,
    *,
    model: str,
    settings: dict[str, Any],
    out: Path,
    data: str,
    data_format: str,
    spark_master: str | None,
    duplicates: str,
    include_catalog_items: bool,
) -> None:
    """Prepare on Spark, fit MLlib ALS, write a normal bundle (no Spark needed to serve it)."""
    from digirec.artifacts import save_bundle
    from digirec.engines.spark import prepare, spark_model_name, spark_session
    from digirec.models.registry import create_model

    name = spark_model_name(model)
    recommender = create_model(name, settings)  # a bad setting fails before Spark starts
    start = time.perf_counter()
    spark = spark_session(spark_master)
    session_seconds = time.perf_counter() - start
    prepared = prepare(
        spark,
        raw,
        event_weights=rule,
        duplicates=duplicates,  # type: ignore[arg-type]
        include_catalog_items=include_catalog_items,
    )
    dataset = prepared.dataset
    start = time.perf_counter()
    recommender.fit(dataset)
    seconds = time.perf_counter() - start
    master = spark.sparkContext.master
    # The training spec a retrain reuses, as the local path writes it.
    training = {
        "source": data,
        "format": data_format,
        "event_weights": rule.model_dump(mode="json"),
        "duplicates": duplicates,
        "include_catalog_items": include_catalog_items,
    }
    save_bundle(
        recommender,
        dataset,
        out,
        extra={
            "fit_seconds": seconds,
            "data": data,
            "training": training,
            "engine": {
                "name": "spark",
                "master": master,
                "seconds": {"session": session_seconds, **prepared.seconds, "fit": seconds},
            },
        },
    )
    from digirec.evaluation.served import evaluate_for_bundle

    # The held-out score of this recipe on this data (refits on Spark), as the local path does.
    evaluate_for_bundle(recommender, dataset, out)
    say(
        f"trained {name} on Spark ({master}) on {dataset.n_interactions} interactions: "
        f"prepare {prepared.seconds['prepare'] + prepared.seconds['collect']:.1f}s, "
        f"fit {seconds:.1f}s -> {out}"
    )


def benchmark_on_spark(
    raw: Any,
    rule: Any,
    models: list[str],
    *,
    duplicates: str,
    spark_master: str | None,
    **benchmark_args: Any,
) -> dict[str, Any]:
    """The leave-one-out benchmark with the data prepared and split on Spark.

    The split comes from Spark's window functions (the same masks as ``leave_one_out``, which
    the tests check); the models are fitted by MLlib; ranking and metrics are digirec's
    (:func:`digirec.evaluation.benchmark.run_benchmark`), so the numbers compare with a local
    run.
    """
    from digirec.engines.spark import prepare, spark_model_name, spark_session
    from digirec.evaluation.benchmark import run_benchmark

    names = [spark_model_name(m) for m in models]
    start = time.perf_counter()
    spark = spark_session(spark_master)
    session_seconds = time.perf_counter() - start
    prepared = prepare(
        spark,
        raw,
        event_weights=rule,
        duplicates=duplicates,  # type: ignore[arg-type]
        split=True,
    )
    say(
        f"prepared on Spark ({spark.sparkContext.master}): "
        + ", ".join(f"{k} {v:.1f}s" for k, v in prepared.seconds.items())
    )
    document = run_benchmark(prepared.dataset, names, masks=prepared.masks, **benchmark_args)
    document["engine"] = {
        "name": "spark",
        "master": spark.sparkContext.master,
        "seconds": {"session": session_seconds, **prepared.seconds},
    }
    return document


def benchmark_command(
    data: str,
    fmt: str,
    on_bad_rows: str,
    models: list[str],
    *,
    spark_master: str | None,
    ks: list[int],
    tune: bool,
    params: dict[str, Any],
    grids: dict[str, Any] | None,
    out: Path | None,
    markdown: Path | None,
    load_options: dict[str, Any],
) -> None:
    """``digirec benchmark --engine spark``: load, prepare and split on Spark, fit on Spark,
    rank and score with digirec's code; ``--params`` / ``--grid`` keyed by the CLI's name."""
    from digirec.cli.common import write_outputs
    from digirec.engines.spark import spark_model_name
    from digirec.evaluation.benchmark import to_markdown

    raw, rule, duplicates, _ = load_raw(
        data, fmt, on_bad_rows, default_duplicates="first", **load_options
    )
    document = benchmark_on_spark(
        raw,
        rule,
        models,
        duplicates=duplicates,
        spark_master=spark_master,
        ks=ks,
        tune=tune,
        params={spark_model_name(k): v for k, v in params.items()},
        grids={spark_model_name(k): v for k, v in grids.items()} if grids else None,
        progress=say,
    )
    write_outputs(document, to_markdown(document), out, markdown)
