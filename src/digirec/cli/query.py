"""``digirec recommend`` and ``digirec similar``: query a trained bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from digirec.cli.app import app


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
    """Print top-k recommendations for users.

    Known users only; business filters (category, brand, price, stock) apply.
    """
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
