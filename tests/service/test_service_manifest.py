"""The typed bundle manifest (issue 12): one writer, one reader, unknown keys refused, and a
retrain that reuses the served bundle's training spec; corrupt bundles and failed removals are
reported in ``/v1/model``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import AUTH, MODEL_NAME, MODEL_PARAMS, Shop, make_settings

from digirec.artifacts import MANIFEST_FILE, load_bundle, read_manifest, save_bundle
from digirec.data.events import EventWeights
from digirec.exceptions import ConfigError
from digirec.models.registry import create_model
from digirec.serving.app import create_app
from digirec.serving.engine.retrain import build_training_dataset
from digirec.store import open_store

#: A spec far from the defaults: views count for nothing, a 30-day half-life, "sum" pairs.
WEIGHTS = EventWeights(
    weights={
        "view": 0.0,
        "click": 0.5,
        "cart": 2.0,
        "purchase": 6.0,
        "rating": 1.0,
        "wishlist": 1.0,
    },
    half_life_days=30.0,
)
DUPLICATES = "sum"


def test_unknown_manifest_keys_are_refused_by_writer_and_reader(shop: Shop, tmp_path: Path) -> None:
    bundle = load_bundle(shop.bundle)
    with pytest.raises(ConfigError, match="trainig"):
        save_bundle(bundle.model, shop.dataset, tmp_path / "b", extra={"trainig": {}})
    copy = tmp_path / "copy"
    shutil.copytree(shop.bundle, copy)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["training"] = {"duplicate": "max"}  # misspelt
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ConfigError, match=r"(?s)manifest\.json.*training\.duplicate"):
        read_manifest(copy)


@pytest.fixture
def spec_bundle(shop: Shop, tmp_path: Path) -> Path:
    """A bundle trained with a non-default training spec (what `digirec train
    --event-weights ... --half-life-days 30 --duplicates sum` records)."""
    dataset = build_training_dataset(
        shop.raw.interactions,
        items=shop.raw.items,
        users=shop.raw.users,
        event_weights=WEIGHTS,
        duplicates=DUPLICATES,
    )
    model = create_model(MODEL_NAME, dict(MODEL_PARAMS)).fit(dataset)
    training = {
        "source": "test-shop",
        "event_weights": WEIGHTS.model_dump(mode="json"),
        "duplicates": DUPLICATES,
        "include_catalog_items": True,
    }
    return save_bundle(model, dataset, tmp_path / "spec", extra={"training": training})


def test_retrain_reuses_the_training_spec(
    shop: Shop, spec_bundle: Path, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(shop, database_url, tmp_path / "state", bundle_path=spec_bundle)
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/model").json()["training"]["duplicates"] == DUPLICATES
        assert client.post("/v1/admin/retrain", headers=AUTH).status_code == 200
        retrained = client.app.state.serving.current.snapshot
        manifest = retrained.bundle.spec
    assert manifest.training is not None
    assert manifest.training.duplicates == DUPLICATES
    assert manifest.training.event_weights == WEIGHTS
    # An independent rebuild with the spec scores like the retrained model; the defaults
    # build another matrix (so the test fails if the spec were dropped).
    store = open_store(database_url)
    try:
        snap = store.snapshot()
    finally:
        store.close()
    with_spec = build_training_dataset(
        snap.interactions,
        items=snap.items,
        users=snap.users,
        event_weights=WEIGHTS,
        duplicates=DUPLICATES,
    )
    default = build_training_dataset(snap.interactions, items=snap.items, users=snap.users)
    assert (with_spec.user_item_matrix() != default.user_item_matrix()).nnz > 0
    model = create_model(MODEL_NAME, dict(MODEL_PARAMS)).fit(with_spec)
    users = list(range(40))
    np.testing.assert_allclose(
        retrained.model.score_users(users), model.score_users(users), rtol=1e-5, atol=1e-6
    )


def test_corrupt_bundles_and_failed_removals_show_in_model_info(
    shop: Shop, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir = tmp_path / "state"
    broken = state_dir / "bundles" / "v00009"
    broken.mkdir(parents=True)
    (broken / MANIFEST_FILE).write_text("{not json")
    settings = make_settings(shop, database_url, state_dir)
    with TestClient(create_app(settings)) as client:
        problems = client.get("/v1/model").json()["problems"]
        assert any("v00009" in p and "corrupt" in p for p in problems), problems
        real_rmtree = shutil.rmtree
        calls: list[Path] = []

        def failing_rmtree(path: Path, *args: object, **kwargs: object) -> None:
            if kwargs.get("ignore_errors"):  # the retrain's own scratch folder
                real_rmtree(path, ignore_errors=True)
                return
            calls.append(Path(path))
            raise PermissionError(13, "Permission denied", str(path))

        # The second retrain must remove the first one's bundle, and cannot.
        assert client.post("/v1/admin/retrain", headers=AUTH).status_code == 200
        monkeypatch.setattr("digirec.serving.engine.retrain.shutil.rmtree", failing_rmtree)
        assert client.post("/v1/admin/retrain", headers=AUTH).status_code == 200
        problems = client.get("/v1/model").json()["problems"]
    assert calls and any("could not remove" in p for p in problems), problems
