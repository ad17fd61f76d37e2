"""``make demo`` / ``digirec demo``: the whole path on the embedded synthetic electronics shop.

Generates the shop, writes it in the generic CSV format, loads it back through the real loader,
benchmarks the baselines with validation tuning, trains the validation winner on all data into a
bundle, and prints example recommendations next to what each shopper was planted to like.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from digirec import columns as C

DEMO_MODELS = ("pop", "itemknn", "ease", "als", "bpr")


def run_demo(
    out: Path,
    *,
    n_users: int = 2000,
    n_items: int = 600,
    echo: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
) -> dict[str, object]:
    """Run the demo and return the paths it wrote and the chosen model."""
    from digirec.artifacts import ItemFilter, load_bundle, save_bundle
    from digirec.data.dataset import Dataset
    from digirec.data.load import load_data
    from digirec.data.synth import SynthConfig, generate_shop, write_shop
    from digirec.evaluation.benchmark import run_benchmark, to_markdown
    from digirec.evaluation.served import evaluate_for_bundle
    from digirec.models.registry import create_model

    out.mkdir(parents=True, exist_ok=True)
    shop = generate_shop(SynthConfig(n_users=n_users, n_items=n_items))
    shop_dir = out / "shop"
    write_shop(shop, shop_dir, fmt="csv")
    echo(f"1. wrote the synthetic electronics shop to {shop_dir}")

    raw = load_data(shop_dir, format="csv")
    # The protocol's rule: each pair's first occurrence is a target (training uses "max").
    dataset = Dataset.from_raw(raw, include_catalog_items=True, duplicates="first")
    echo(
        f"2. loaded {dataset.n_users} users, {dataset.n_items} items, "
        f"{dataset.n_interactions} interactions (first occurrence of each user-item pair)"
    )

    document = run_benchmark(dataset, DEMO_MODELS, progress=progress)
    (out / "benchmark.json").write_text(json.dumps(document, indent=2))
    table = to_markdown(document)
    (out / "benchmark.md").write_text(table)
    echo("3. leave-one-out benchmark (tuned on validation, scored on test):\n")
    echo(table)

    winner = max(document["results"], key=lambda r: r["valid"]["ndcg@10"])
    model = create_model(winner["model"], winner["params"])
    full = Dataset.from_raw(raw, include_catalog_items=True, duplicates="sum")
    model.fit(full)
    bundle_dir = out / "bundle"
    save_bundle(model, full, bundle_dir, extra={"data": str(shop_dir)})
    evaluate_for_bundle(model, full, bundle_dir)  # held-out score for the dashboard
    echo(f"4. trained {winner['model']} (best on validation) on all data -> {bundle_dir}\n")

    bundle = load_bundle(bundle_dir)
    users = shop.users
    assert users is not None
    examples = users.sort_values(C.USER_ID).head(3)
    for _, user in examples.iterrows():
        uid = str(user[C.USER_ID])
        echo(
            f"user {uid}: budget {float(user['budget']):.0f}, likes brands "
            f"{user['preferred_brands']}, categories {user['preferred_categories']}"
        )
        recs = bundle.recommend([uid], k=5)
        _echo_recs(recs, echo)
        category = str(user["preferred_categories"]).split("|")[0]
        filtered = bundle.recommend(
            [uid],
            k=3,
            item_filter=ItemFilter(categories=[category], max_price=float(user["budget"])),
        )
        echo(f"  filtered to {category} under {float(user['budget']):.0f}:")
        _echo_recs(filtered, echo)
        echo("")
    echo(
        f"Try: digirec recommend --bundle {bundle_dir} --users {examples[C.USER_ID].iloc[0]} --k 10"
    )
    return {"shop": shop_dir, "bundle": bundle_dir, "model": winner["model"]}


def _echo_recs(recs: pd.DataFrame, echo: Callable[[str], None]) -> None:
    if recs.empty:
        echo("    (no items qualify)")
    for _, row in recs.iterrows():
        echo(
            f"    {int(row[C.RANK])}. {row.get(C.TITLE, row[C.ITEM_ID])} "
            f"[{row.get(C.CATEGORY, '')}, {row.get(C.PRICE, float('nan')):.0f}] "
            f"score {row[C.SCORE]:.3f}"
        )
