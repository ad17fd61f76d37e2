"""``digirec info`` and ``digirec synth``: look at and generate data."""

from __future__ import annotations

import json
import time
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
    load_dataset,
)


@app.command()
def info(
    data: DataOpt,
    fmt: FormatOpt = "auto",
    on_bad_rows: BadRowsOpt = "error",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    event_weights: EventWeightsOpt = None,
    half_life_days: HalfLifeOpt = None,
    duplicates: DuplicatesOpt = None,
    unknown_events: UnknownEventsOpt = "error",
    sep: SepOpt = None,
    encoding: EncodingOpt = None,
) -> None:
    """Print data-set statistics.

    Users, items, density, per-user / per-item counts, event types, time span; then the
    seconds taken to load and to describe the data and the peak memory of the process
    (``peak_rss_mb``: the operating system's high-water mark of resident memory).
    """
    started = time.perf_counter()
    # The training view of the data (--duplicates max by default): `events` counts each
    # pair's strongest event, `raw_events` every row of the log.
    dataset = load_dataset(
        data,
        fmt,
        on_bad_rows,
        event_weights=event_weights,
        half_life_days=half_life_days,
        duplicates=duplicates,
        unknown_events=unknown_events,
        sep=sep,
        encoding=encoding,
        require_interactions=False,
    )
    loaded = time.perf_counter()
    stats = dataset.describe()
    stats["seconds"] = {
        "load": round(loaded - started, 3),
        "describe": round(time.perf_counter() - loaded, 3),
    }
    stats["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if as_json:
        typer.echo(json.dumps(stats, indent=2, default=str))
        return
    for key, value in stats.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
            typer.echo(f"{key:32s} {inner}")
        else:
            typer.echo(f"{key:32s} {_fmt(value)}")


def peak_rss_mb(who: int | None = None) -> float:
    """Peak resident memory in MiB of this process (or of ``resource.RUSAGE_CHILDREN``).

    ``ru_maxrss`` is in KiB on Linux and in bytes on macOS.
    """
    import resource
    import sys

    usage = resource.getrusage(resource.RUSAGE_SELF if who is None else who)
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0
    return float(usage.ru_maxrss) / scale


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
    n_items: Annotated[int, typer.Option("--n-items", min=24)] = 600,
    n_events: Annotated[
        int | None,
        typer.Option(
            "--n-events",
            min=1,
            help="Target number of events (about; sets the sessions per user). "
            "Default: about 47 per user.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    file_format: Annotated[
        str | None,
        typer.Option(
            "--file-format",
            help="csv|parquet|jsonl. Default: csv up to 100k users, parquet above.",
        ),
    ] = None,
) -> None:
    """Generate the synthetic electronics shop.

    Writes catalogue, users and events in digirec's generic format. The event log is
    simulated and written block by block of users, so a million users and ten million events
    need a few GB of memory, not the whole log at once.
    """
    from digirec.data.synth import USERS_PER_CHUNK, SynthConfig, write_synthetic_shop

    fmt = file_format or ("csv" if n_users <= USERS_PER_CHUNK else "parquet")
    if fmt not in ("csv", "parquet", "jsonl"):
        raise typer.BadParameter(
            f"{fmt!r} is not one of csv, parquet, jsonl", param_hint="--file-format"
        )
    written = write_synthetic_shop(
        SynthConfig(n_users=n_users, n_items=n_items, random_state=seed),
        out,
        fmt,  # type: ignore[arg-type]
        n_events=n_events,
    )
    for kind, path in written.paths.items():
        typer.echo(f"{kind:14s} {path}")
    typer.echo(
        f"{'events':14s} {written.n_events} ({n_users} users, {written.n_items} items, "
        f"{written.config.mean_sessions_per_user:g} sessions per user on average)"
    )
