"""``digirec demo``, ``digirec report`` and ``digirec serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from digirec.cli.app import app
from digirec.cli.common import (
    SYNTH,
    FormatOpt,
    say,
)

#: Why ``digirec serve --workers 2`` is refused, and how to scale out instead (docs/deployment.md,
#: "Several instances", says the same).
WORKERS_REFUSED = (
    "only --workers 1 is supported: real-time events, model swaps and retrains live in one "
    "process. To scale out, run several `digirec serve` instances behind a load balancer, each "
    "with its own --state-dir (a retrain removes every other bundle under state_dir/bundles), "
    "all sharing one PostgreSQL store, and send every write (events, catalogue, users, privacy, "
    "admin) to one instance; see 'Several instances' in docs/deployment.md"
)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the demo writes its files.")] = Path(
        "demo-output"
    ),
    n_users: Annotated[int, typer.Option("--n-users", min=50)] = 2000,
    n_items: Annotated[int, typer.Option("--n-items", min=50)] = 600,
) -> None:
    """Run the main job on the embedded shop.

    Synthetic shop -> benchmark -> bundle -> example recommendations.
    """
    from digirec.demo import run_demo

    run_demo(out, n_users=n_users, n_items=n_items, echo=typer.echo, progress=say)


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
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the report's text: en or zh.")
    ] = "en",
) -> None:
    """Write an HTML report of benchmark results.

    Self-contained: tables and SVG charts.
    """
    from digirec.evaluation.report import find_result_files, write_report

    if lang not in ("en", "zh"):
        raise typer.BadParameter(f"must be en or zh, got {lang!r}", param_hint="--lang")
    paths: list[Path] = []
    for path in results:
        if path.is_dir():
            paths.extend(find_result_files(path))
        elif path.is_file():
            paths.append(path)
        else:
            raise typer.BadParameter(f"no such file or folder: {path}", param_hint="--results")
    written, problems = write_report(paths, out, title=title, lang=lang)
    for problem in problems:
        say(f"skipped {problem}")
    say(f"wrote {written} ({len(paths) - len(problems)} result file(s))")


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
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help=(
                "Worker processes; only 1 is supported (real-time state is per process). Scale "
                "out with instances: see 'Several instances' in docs/deployment.md."
            ),
        ),
    ] = 1,
) -> None:
    """Run the recommendation service.

    FastAPI + uvicorn; needs the `serve` extra.
    """
    import secrets

    try:
        import uvicorn

        from digirec.serving.app import create_app
        from digirec.serving.settings import ServeSettings
        from digirec.store import open_store
    except ModuleNotFoundError as exc:
        from digirec.exceptions import MissingExtraError

        raise MissingExtraError(exc.name or "fastapi", "serve") from None

    if workers > 1:
        # Each worker would hold its own real-time histories (one worker would not see the
        # events another accepted) and its own retrains (pruning bundles the other serves).
        raise typer.BadParameter(WORKERS_REFUSED, param_hint="--workers")
    flags: dict[str, Any] = {
        "bundle_path": bundle,
        "database_url": database,
        "api_keys": api_key or None,
        "state_dir": state_dir,
        "read_requires_key": read_requires_key or None,
    }
    from pydantic import ValidationError

    from digirec.exceptions import ConfigError

    try:
        settings = ServeSettings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise ConfigError(f"invalid service settings ({where}): {message}") from None
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
        say(f"no API key configured; generated one for this run: {generated}")
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
            say(
                f"seeded the store from {seed_from_data}: {report.n_items} items, "
                f"{report.n_users} users, {report.n_events} events"
            )
        else:
            say("the store already holds data: --seed-from-data skipped")
    from digirec.serving.http_protocol import CoalescingHttpToolsProtocol

    # One socket write per response (serving/http_protocol.py); uvloop when installed.
    uvicorn.run(
        create_app(settings, store=store),
        host=host,
        port=port,
        log_level=log_level,
        http=CoalescingHttpToolsProtocol,
    )
