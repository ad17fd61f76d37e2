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

    user_ids = _id_option(users, "--users", "user")
    _check_price_range(min_price, max_price)
    loaded = load_bundle(bundle)
    _check_known_values(loaded.items, "category", category, "--category")
    _check_known_values(loaded.items, "brand", brand, "--brand")
    item_filter = ItemFilter(
        categories=category or None,
        brands=brand or None,
        min_price=min_price,
        max_price=max_price,
        in_stock=True if in_stock else None,
    )
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

    item_ids = _id_option(items, "--items", "item")
    loaded = load_bundle(bundle)
    frame = loaded.model.similar_items(item_ids, k)
    _print_frame(frame, as_json)


def _id_option(text: str, option: str, kind: str) -> list[str]:
    """Comma-separated ids; an empty list is a usage error, not an empty answer."""
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids:
        raise typer.BadParameter(f"names no {kind} id (got {text!r})", param_hint=option)
    return ids


def _check_price_range(min_price: float | None, max_price: float | None) -> None:
    for value, option in ((min_price, "--min-price"), (max_price, "--max-price")):
        if value is not None and value < 0:
            raise typer.BadParameter(f"must be >= 0, got {value:g}", param_hint=option)
    if min_price is not None and max_price is not None and min_price > max_price:
        raise typer.BadParameter(
            f"--min-price {min_price:g} is above --max-price {max_price:g}: no item can qualify",
            param_hint="--min-price",
        )


def _check_known_values(items: Any, column: str, wanted: list[str] | None, option: str) -> None:
    """A filter value the catalogue never holds is a typo, not a filter that nothing passes."""
    if not wanted:
        return
    if items is None or column not in items.columns:
        raise typer.BadParameter(
            f"this bundle's catalogue has no {column!r} column to filter on", param_hint=option
        )
    known = set(items[column].dropna().astype(str))
    unknown = [value for value in wanted if value not in known]
    if unknown:
        import difflib

        hints = []
        for value in unknown:
            close = difflib.get_close_matches(value, sorted(known), n=1)
            hints.append(f"{value!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        listed = ", ".join(sorted(known)[:10]) + (" ..." if len(known) > 10 else "")
        raise typer.BadParameter(
            f"unknown {column}: {', '.join(hints)}; the catalogue has: {listed}",
            param_hint=option,
        )


def _print_frame(frame: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(frame.to_json(orient="records", force_ascii=False))
    else:
        typer.echo(frame.to_string(index=False) if len(frame) else "(no items qualify)")
