"""``digirec info`` and ``digirec synth``: look at and generate data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from digirec.cli.app import app
from digirec.cli.common import (
    BadRowsOpt,
    DataOpt,
    FormatOpt,
    load_dataset,
)


@app.command()
def info(
    data: DataOpt,
    fmt: FormatOpt = "auto",
    on_bad_rows: BadRowsOpt = "error",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Print data-set statistics.

    Users, items, density, per-user / per-item counts, event types, time span.
    """
    dataset = load_dataset(data, fmt, on_bad_rows)
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
    """Generate the synthetic electronics shop.

    Writes catalogue, users and events in digirec's generic format.
    """
    from digirec.data.synth import SynthConfig, generate_shop, write_shop

    shop = generate_shop(SynthConfig(n_users=n_users, n_items=n_items, random_state=seed))
    paths = write_shop(shop, out, fmt=file_format)  # type: ignore[arg-type]
    for kind, path in paths.items():
        typer.echo(f"{kind:14s} {path}")
