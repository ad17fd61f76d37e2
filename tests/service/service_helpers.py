"""Shared helpers of the service tests (constants, the test shop, the reference training)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from digirec.data.dataset import Dataset
from digirec.data.tables import RawData
from digirec.models.base import Recommender
from digirec.models.registry import create_model
from digirec.serving.engine.retrain import build_training_dataset
from digirec.serving.settings import ServeSettings

API_KEY = "test-key-0123456789"
AUTH = {"X-API-Key": API_KEY}
MODEL_NAME = "ease"
MODEL_PARAMS: dict[str, Any] = {"lambda": 50.0}


@dataclass(frozen=True)
class Shop:
    """The test shop, the dataset and model of the served bundle."""

    raw: RawData
    dataset: Dataset
    model: Recommender
    bundle: Path

    @property
    def items(self) -> pd.DataFrame:
        assert self.raw.items is not None
        return self.raw.items


def train(raw: RawData, drop_user: str | None = None) -> tuple[Dataset, Recommender]:
    """The model a service retrain builds, on ``raw`` (optionally without one user)."""
    interactions = raw.interactions
    users = raw.users
    if drop_user is not None:
        interactions = interactions[interactions["user_id"] != drop_user]
        users = None if users is None else users[users["user_id"] != drop_user]
    dataset = build_training_dataset(interactions, items=raw.items, users=users)
    return dataset, create_model(MODEL_NAME, dict(MODEL_PARAMS)).fit(dataset)


def make_settings(
    shop: Shop, database_url: str, state_dir: Path, **overrides: Any
) -> ServeSettings:
    values: dict[str, Any] = {
        "bundle_path": shop.bundle,
        "database_url": database_url,
        "state_dir": state_dir,
        "api_keys": [API_KEY],
        # TF-IDF: no neural model to load in tests.
        "search_encoder": "tfidf",
        **overrides,
    }
    return ServeSettings(**values)


def known_user(shop: Shop, rank: int = 0) -> str:
    """A user with a rich training history (``rank``-th most active)."""
    counts = shop.raw.interactions.groupby("user_id").size().sort_values(ascending=False)
    return str(counts.index[rank])


def seen_items(shop: Shop, user_id: str) -> set[str]:
    frame = shop.raw.interactions
    return set(frame.loc[frame["user_id"] == user_id, "item_id"].astype(str))


# ---------------------------------------------------------------------- a real server
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start `digirec serve` on a free loopback port; always stopped (or killed) on exit."""
    port = _free_port()
    command = [sys.executable, "-m", "digirec.cli", "serve", *args, "--port", str(port)]
    full_env = {**os.environ, "DIGIREC_SEARCH_ENCODER": "tfidf", "OPENBLAS_NUM_THREADS": "1"}
    full_env.update(env or {})
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited early:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield process, base
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
