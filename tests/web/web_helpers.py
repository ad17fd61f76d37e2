"""Helpers of the web tests: a results document, HTML parsing, screenshots."""

from __future__ import annotations

import os
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: Where screenshots go (``DIGIREC_TEST_SCREENSHOTS`` overrides; gitignored by default).
SCREENSHOTS = Path(
    os.environ.get("DIGIREC_TEST_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots")
)
#: Posts from our own pages carry this Origin (the TestClient's host).
ORIGIN = {"origin": "http://testserver"}


def benchmark_document() -> dict[str, Any]:
    """A small results document in the benchmark's shape, with every optional part."""

    def metrics(ndcg: float, recall: float, coverage: float, gini: float) -> dict[str, float]:
        return {
            "ndcg@10": ndcg,
            "recall@10": recall,
            "ndcg@20": ndcg * 1.2,
            "recall@20": recall * 1.5,
            "mrr@20": ndcg * 0.8,
            "coverage@10": coverage,
            "gini@10": gini,
            "novelty@10": 5.0 + coverage,
            "arp@10": 100 * gini,
            "diversity@10": 0.7,
            "brand_exposure@10": 0.3 + coverage / 10,
        }

    models = [
        ("pop", metrics(0.02, 0.04, 0.01, 0.99), 0.01),
        ("ease", metrics(0.05, 0.09, 0.80, 0.85), 2.5),
        ("als", metrics(0.045, 0.095, 0.40, 0.70), 1.2),
    ]
    results = []
    for name, test, fit in models:
        results.append(
            {
                "model": name,
                "params": {"random_state": 42},
                "valid": {"ndcg@10": test["ndcg@10"] * 1.1},
                "test": test,
                "fit_seconds": fit,
                "tuning": [{"params": {}, "valid": {"ndcg@10": 0.01}, "fit_seconds": fit}],
                "cold_items": {"ndcg@10": test["ndcg@10"] / 4, "n_users_evaluated": 40},
                "learning_curve": [
                    {"fraction": f, "ndcg@10": test["ndcg@10"] * f} for f in (0.25, 0.5, 1.0)
                ],
                "brand_share": {"Apple": 0.4, "Samsung": 0.35, "Sony": 0.25},
            }
        )
    return {
        "dataset": {
            "name": "web-test-shop",
            "n_users": 300,
            "n_items": 150,
            "n_interactions": 3000,
            "item_popularity": [int(300 / (i + 1)) for i in range(150)],
        },
        "protocol": "leave-one-out",
        "split": {"n_train": 2400, "n_valid": 300, "n_test": 300},
        "ks": [10, 20],
        "tuned": True,
        "tuning_metric": "ndcg@10",
        "results": results,
        "cold_users": {"pop": {"ndcg@10": 0.01}, "ease": {"ndcg@10": 0.02}},
    }


def rating_folds_document() -> dict[str, Any]:
    """A rating-prediction results document (the shape of the ML-100K u1-u5 folds file)."""

    def folds(rmse: float, valid: float) -> list[dict[str, Any]]:
        return [
            {
                "fold": f,
                "rmse": rmse + 0.001 * f,
                "mae": rmse * 0.79,
                "valid_rmse": valid + 0.001 * f,
            }
            for f in range(1, 6)
        ]

    rows = [("baseline", 0.9412, 0.0052, 0.93), ("autorec", 0.8879, 0.0049, 0.89)]
    return {
        "dataset": {"name": "ratings-shop", "path": "/srv/secret/place/ratings", "n_folds": 5},
        "protocol": "rating-folds",
        "tuned": True,
        "results": [
            {
                "model": name,
                "grid": {"reg": [0.1, 1.0, 10.0], "n_factors": [16, 32]},
                "folds": folds(rmse, valid),
                "test": {"rmse": rmse, "mae": round(rmse * 0.79, 4), "rmse_std": sd, "mae_std": sd},
                "fit_seconds": 0.5,
                "tune_seconds": 3.0,
            }
            for name, rmse, sd, valid in rows
        ],
    }


def card_ids(html: str, list_id: str = "recommendations") -> list[str]:
    """Item ids of the cards in the ``<ol id=list_id>`` of a page, in order."""
    match = re.search(rf'<ol class="cards" id="{list_id}">(.*?)</ol>', html, re.S)
    if match is None:
        return []
    return re.findall(r'<li class="card[^"]*" data-item-id="([^"]+)"', match.group(1))


def explanations(html: str) -> list[str]:
    """The explanation texts of a page's cards."""
    found = re.findall(r'<p class="explanation"[^>]*>(.*?)</p>', html, re.S)
    plain = [unescape(re.sub(r"<[^>]+>", "", text)) for text in found]
    return [re.split(r"[:：]", text, maxsplit=1)[-1].strip() for text in plain]


class Elements(HTMLParser):
    """Collects start tags with their attributes, and label targets (accessibility checks)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def of(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    """Save a screenshot under ``test-artifacts/screenshots`` (gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
