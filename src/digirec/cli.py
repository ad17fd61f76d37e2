"""The ``digirec`` command line: benchmark, learning-curve, train, recommend, similar, info,
synth, demo, report, serve."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from digirec.exceptions import DigirecError

app = typer.Typer(
    name="digirec",
    help="digirec: recommendations for digital and consumer-electronics shops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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
        help="auto|csv|parquet|jsonl|lcrec|rechorus|amazon2014|amazon2018|amazon2023|movielens|minionerec",
    ),
]
BadRowsOpt = Annotated[
    str,
    typer.Option(
        "--on-bad-rows", help="'error' stops at the first bad row; 'skip' reports and skips."
    ),
]


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _load_dataset(
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
        _say(raw.report.summary())
    weights_kwargs: dict[str, Any] = {}
    if event_weights:
        weights_kwargs["weights"] = _parse_json(event_weights, "--event-weights")
    if half_life_days is not None:
        weights_kwargs["half_life_days"] = half_life_days
    return Dataset.from_raw(
        raw,
        event_weights=EventWeights(**weights_kwargs),
        include_catalog_items=include_catalog_items,
    )


def _parse_json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{option} is not valid JSON: {exc}") from None


def _parse_ks(text: str) -> list[int]:
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


def _parse_models(models: str, extra: Sequence[str] = ()) -> list[str]:
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


def _write_outputs(document: Any, text: str, out: Path | None, markdown: Path | None) -> None:
    typer.echo(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2))
        _say(f"wrote {out}")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(text)
        _say(f"wrote {markdown}")


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
) -> None:
    """Benchmark models: tune on validation, refit, report test (leave-one-out by default)."""
    if protocol not in PROTOCOLS:
        raise typer.BadParameter(
            f"unknown protocol {protocol!r}; choose one of: {', '.join(PROTOCOLS)}",
            param_hint="--protocol",
        )
    if protocol in ("cold-items", "cold-users") and not 0.0 < cold_fraction < 1.0:
        raise typer.BadParameter(
            f"must be in (0, 1), got {cold_fraction}", param_hint="--cold-fraction"
        )
    # The rating track also knows its bias baseline and least-squares blend.
    extra = ("baseline", "blend") if protocol == "ml100k-folds" else ()
    model_names = _parse_models(models, extra) if models is not None else None
    fixed = _parse_json(params, "--params") if params else {}
    grids = _parse_json(grid, "--grid") if grid else None
    if protocol == "ml100k-folds":
        _benchmark_rating_folds(data, model_names, not no_tune, fixed, grids, out, markdown)
        return
    names = model_names or _parse_models(DEFAULT_BENCHMARK_MODELS)
    ks = _parse_ks(k)
    dataset = _load_dataset(data, fmt, on_bad_rows)
    if protocol == "leave-one-out":
        from digirec.evaluation.benchmark import run_benchmark, to_markdown

        document = run_benchmark(
            dataset, names, ks=ks, tune=not no_tune, params=fixed, grids=grids, progress=_say
        )
        table = to_markdown(document)
    else:
        from digirec.evaluation.coldstart import (
            cold_start_markdown,
            run_cold_items,
            run_cold_users,
        )

        runner = run_cold_items if protocol == "cold-items" else run_cold_users
        document = runner(
            dataset,
            names,
            fraction=cold_fraction,
            random_state=random_state,
            ks=ks,
            tune=not no_tune,
            params=fixed,
            grids=grids,
            progress=_say,
        )
        table = cold_start_markdown(document)
    _write_outputs(document, table, out, markdown)


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
        path, models or [], tune=tune, params=params, grids=grids, progress=_say
    )
    _write_outputs(document, rating_folds_markdown(document), out, markdown)


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
) -> None:
    """Learning curve: test NDCG@10 / Recall@10 as each user's training history grows."""
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
    names = _parse_models(models)
    fixed = _parse_json(params, "--params") if params else {}
    grids = _parse_json(grid, "--grid") if grid else None
    dataset = _load_dataset(data, fmt, on_bad_rows)
    document = run_learning_curve(
        dataset,
        names,
        fractions=shares,
        tune=not no_tune,
        params=fixed,
        grids=grids,
        progress=_say,
    )
    _write_outputs(document, learning_curve_markdown(document), out, markdown)
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
        _say(f"wrote {plot}")


def _tuned_model(name: str, dataset: Any, settings: dict[str, Any]) -> Any:
    """The benchmark's choice for ``name`` on ``dataset``, refit on all of it.

    The last two events of each user are split off as in the benchmark; the model's grid is
    searched on the validation event (test events stay in the training part only for the final
    refit), and the winner is refit on everything with ``Recommender.refit``.
    """
    from digirec.data.split import leave_one_out
    from digirec.training.tuning import grid_search

    masks = leave_one_out(dataset)
    search = grid_search(
        name,
        dataset.subset(masks.train),
        dataset.subset(masks.valid),
        base_params=settings,
        keep_best_model=True,
        on_trial=lambda t: _say(f"[{name}] valid ndcg@10={t.valid['ndcg@10']:.4f} {t.params}"),
    )
    assert search.best_model is not None
    _say(f"[{name}] chose {search.best.params}")
    return search.best_model.refit(dataset)


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
    event_weights: Annotated[
        str | None, typer.Option("--event-weights", help='e.g. \'{"view": 1, "purchase": 8}\'')
    ] = None,
    half_life_days: Annotated[
        float | None, typer.Option("--half-life-days", help="Time decay of event weights.")
    ] = None,
    tune: Annotated[
        bool,
        typer.Option(
            "--tune/--no-tune",
            help="Choose the setting on a leave-one-out validation split (the model's grid, "
            "early stopping, hybrid weights), then refit on all interactions.",
        ),
    ] = False,
) -> None:
    """Train a model on all interactions and write a servable bundle."""
    import time

    from digirec.artifacts import save_bundle
    from digirec.models.registry import create_model

    dataset = _load_dataset(
        data,
        fmt,
        on_bad_rows,
        include_catalog_items=include_catalog_items,
        event_weights=event_weights,
        half_life_days=half_life_days,
    )
    settings = _parse_json(params, "--params") if params else {}
    if model in settings and isinstance(settings[model], dict):
        settings = settings[model]
    start = time.perf_counter()
    if tune:
        recommender = _tuned_model(model, dataset, settings)
    else:
        recommender = create_model(model, settings).fit(dataset)
    seconds = time.perf_counter() - start
    save_bundle(recommender, dataset, out, extra={"fit_seconds": seconds, "data": str(data)})
    _say(f"trained {model} on {dataset.n_interactions} interactions in {seconds:.1f}s -> {out}")


@app.command()
def recommend(
    bundle: Annotated[
        Path, typer.Option("--bundle", help="Bundle directory from `digirec train`.")
    ],
    users: Annotated[str, typer.Option("--users", help="Comma-separated external user ids.")],
    k: Annotated[int, typer.Option("--k", min=1, max=1000)] = 10,
    include_seen: Annotated[
        bool, typer.Option("--include-seen", help="Do not exclude items the user already has.")
    ] = False,
    category: Annotated[
        list[str] | None, typer.Option("--category", help="Only these categories (repeatable).")
    ] = None,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", help="Only these brands (repeatable).")
    ] = None,
    min_price: Annotated[float | None, typer.Option("--min-price")] = None,
    max_price: Annotated[float | None, typer.Option("--max-price")] = None,
    in_stock: Annotated[bool, typer.Option("--in-stock", help="Only items in stock.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON records.")] = False,
) -> None:
    """Print top-k recommendations for known users, with business filters."""
    from digirec.artifacts import ItemFilter, load_bundle

    loaded = load_bundle(bundle)
    item_filter = ItemFilter(
        categories=category or None,
        brands=brand or None,
        min_price=min_price,
        max_price=max_price,
        in_stock=True if in_stock else None,
    )
    user_ids = [u.strip() for u in users.split(",") if u.strip()]
    frame = loaded.recommend(user_ids, k, filter_seen=not include_seen, item_filter=item_filter)
    _print_frame(frame, as_json)


@app.command()
def similar(
    bundle: Annotated[
        Path, typer.Option("--bundle", help="Bundle directory from `digirec train`.")
    ],
    items: Annotated[str, typer.Option("--items", help="Comma-separated external item ids.")],
    k: Annotated[int, typer.Option("--k", min=1, max=1000)] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print the items most similar to the given items."""
    from digirec.artifacts import load_bundle

    loaded = load_bundle(bundle)
    frame = loaded.model.similar_items([i.strip() for i in items.split(",") if i.strip()], k)
    _print_frame(frame, as_json)


def _print_frame(frame: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(frame.to_json(orient="records", force_ascii=False))
    else:
        typer.echo(frame.to_string(index=False) if len(frame) else "(no items qualify)")


@app.command()
def info(
    data: DataOpt,
    fmt: FormatOpt = "auto",
    on_bad_rows: BadRowsOpt = "error",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print data-set statistics: users, items, density, per-user / per-item counts, time span."""
    dataset = _load_dataset(data, fmt, on_bad_rows)
    stats = dataset.describe()
    if as_json:
        typer.echo(json.dumps(stats, indent=2, default=str))
        return
    for key, value in stats.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
            typer.echo(f"{key:32s} {inner}")
        else:
            typer.echo(f"{key:32s} {_fmt(value)}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@app.command()
def synth(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for interactions/items/users files.")
    ] = Path("demo-output/shop"),
    n_users: Annotated[int, typer.Option("--n-users", min=1)] = 2000,
    n_items: Annotated[int, typer.Option("--n-items", min=10)] = 600,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    file_format: Annotated[str, typer.Option("--file-format", help="csv|parquet|jsonl")] = "csv",
) -> None:
    """Generate the synthetic electronics shop and write it in digirec's generic format."""
    from digirec.data.synth import SynthConfig, generate_shop, write_shop

    shop = generate_shop(SynthConfig(n_users=n_users, n_items=n_items, random_state=seed))
    paths = write_shop(shop, out, fmt=file_format)  # type: ignore[arg-type]
    for kind, path in paths.items():
        typer.echo(f"{kind:14s} {path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the demo writes its files.")] = Path(
        "demo-output"
    ),
    n_users: Annotated[int, typer.Option("--n-users", min=50)] = 2000,
    n_items: Annotated[int, typer.Option("--n-items", min=50)] = 600,
) -> None:
    """The main job on the embedded default: shop -> benchmark -> bundle -> recommendations."""
    from digirec.demo import run_demo

    run_demo(out, n_users=n_users, n_items=n_items, echo=typer.echo, progress=_say)


@app.command()
def report(
    results: Annotated[
        list[Path],
        typer.Option(
            "--results",
            help="A benchmark results JSON, or a folder of them (repeatable).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Where to write the HTML report.")] = Path(
        "report.html"
    ),
    title: Annotated[str, typer.Option("--title", help="Title of the report.")] = (
        "digirec benchmark report"
    ),
) -> None:
    """Write a self-contained HTML report (tables and SVG charts) of benchmark results."""
    from digirec.evaluation.report import find_result_files, write_report

    paths: list[Path] = []
    for path in results:
        if path.is_dir():
            paths.extend(find_result_files(path))
        elif path.is_file():
            paths.append(path)
        else:
            raise typer.BadParameter(f"no such file or folder: {path}", param_hint="--results")
    written, problems = write_report(paths, out, title=title)
    for problem in problems:
        _say(f"skipped {problem}")
    _say(f"wrote {written} ({len(paths) - len(problems)} result file(s))")


@app.command()
def serve(
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Bundle directory to serve (env DIGIREC_BUNDLE_PATH)."),
    ] = None,
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="sqlite:///PATH or postgresql://user:pw@host:port/db (env DIGIREC_DATABASE_URL).",
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    api_key: Annotated[
        list[str] | None,
        typer.Option("--api-key", help="Accepted X-API-Key (repeatable; env DIGIREC_API_KEYS)."),
    ] = None,
    seed_from_data: Annotated[
        str | None,
        typer.Option(
            "--seed-from-data",
            help="When the store is empty, load this data set (or 'synth') into it first.",
        ),
    ] = None,
    fmt: FormatOpt = "auto",
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Folder for retrained bundles.")
    ] = None,
    read_requires_key: Annotated[
        bool, typer.Option("--read-requires-key", help="Require the API key for reads too.")
    ] = False,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Run the recommendation service (FastAPI + uvicorn; needs the `serve` extra)."""
    import secrets

    try:
        import uvicorn

        from digirec.serving.app import create_app
        from digirec.serving.settings import ServeSettings
        from digirec.store import open_store
    except ModuleNotFoundError as exc:
        from digirec.exceptions import MissingExtraError

        raise MissingExtraError(exc.name or "fastapi", "serve") from None

    flags: dict[str, Any] = {
        "bundle_path": bundle,
        "database_url": database,
        "api_keys": api_key or None,
        "state_dir": state_dir,
        "read_requires_key": read_requires_key or None,
    }
    settings = ServeSettings(**{k: v for k, v in flags.items() if v is not None})
    if settings.bundle_path is None:
        raise typer.BadParameter("give --bundle (or set DIGIREC_BUNDLE_PATH)")
    from digirec.artifacts import MANIFEST_FILE

    if not (Path(settings.bundle_path) / MANIFEST_FILE).exists():
        raise typer.BadParameter(
            f"{settings.bundle_path} is not a model bundle (train one with `digirec train`)"
        )
    if not settings.key_values():
        # Secure by default: writes always need a key, so make one rather than open them up.
        generated = secrets.token_urlsafe(24)
        settings = ServeSettings(**{**settings.model_dump(), "api_keys": [generated]})
        _say(f"no API key configured; generated one for this run: {generated}")
    store = open_store(settings.database_url)
    if seed_from_data is not None:
        if store.is_empty():
            if seed_from_data == SYNTH:
                from digirec.data.synth import generate_shop

                raw = generate_shop()
            else:
                from digirec.data.load import load_data

                raw = load_data(seed_from_data, format=fmt)
            report = store.import_raw(raw)
            _say(
                f"seeded the store from {seed_from_data}: {report.n_items} items, "
                f"{report.n_users} users, {report.n_events} events"
            )
        else:
            _say("the store already holds data: --seed-from-data skipped")
    uvicorn.run(create_app(settings, store=store), host=host, port=port, log_level=log_level)


def main() -> None:
    """Console entry point: digirec errors become one clear line and exit status 2."""
    try:
        app()
    except DigirecError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
