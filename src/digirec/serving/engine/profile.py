"""User profiles from the store's events, and their cache for explanations (no FastAPI: see
:mod:`digirec.serving.engine`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pandas as pd

from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.events import EventWeights
from digirec.exceptions import DigirecError
from digirec.serving.engine.catalogue import Catalogue
from digirec.serving.errors import ServingError
from digirec.store.base import EVENT_ID, Store

#: Profiles kept for explanations (least recently used dropped first).
PROFILE_CACHE_SIZE = 10_000


def user_profile(store: Store, catalogue: Catalogue, user_id: str) -> dict[str, Any]:
    """The user's profile built from their events in the store (``features/profile.py``);
    a 404 :class:`ServingError` when the store knows neither the user nor events of them."""
    from digirec.features.catalog import ItemFeatures
    from digirec.features.profile import build_profiles

    events = store.user_events(user_id)
    user = store.get_user(user_id)
    if events.empty and user is None:
        raise ServingError(404, "unknown_user", f"unknown user id {user_id!r}", "user_id")
    users = pd.DataFrame([user if user is not None else {C.USER_ID: user_id}])
    # Only the rows of the user's items, featurised by a featuriser fitted once per
    # catalogue version on the whole catalogue (the same vocabularies and price bands as
    # featurising everything, without reading and encoding 100,000 items per profile).
    positions = catalogue.positions
    mine = [positions[i] for i in pd.unique(events[C.ITEM_ID].astype(str)) if i in positions]
    dataset = Dataset.from_interactions(
        events.drop(columns=[EVENT_ID]),
        items=catalogue.frame.iloc[mine],
        users=users,
        include_catalog_items=True,
        duplicates="keep",
    )
    features = None
    if dataset.items is not None:
        features = ItemFeatures.from_featurizer(
            catalogue.profile_featurizer, dataset.items.reset_index(drop=True)
        )
    profiles = build_profiles(dataset, EventWeights(), now=time.time(), item_features=features)
    return dict(profiles.profile(user_id))


class ProfileCache:
    """Per-user profiles keyed by ``(model version, last real-time event id)``, so a profile
    is rebuilt after the user's next event or a model swap, and never kept across a deletion.

    Parameters
    ----------
    lock:
        The serving state's lock (a deletion forgets the user under it).
    size:
        Most profiles kept.
    """

    def __init__(self, lock: threading.RLock, size: int = PROFILE_CACHE_SIZE) -> None:
        self._lock = lock
        self.size = size
        self._profiles: OrderedDict[str, tuple[tuple[int, int], dict[str, Any] | None]] = (
            OrderedDict()
        )
        self._forget_generation = 0

    def get(
        self, user_id: str, key: tuple[int, int], build: Callable[[], dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The cached profile under ``key``, else ``build()`` (``None`` when it fails)."""
        with self._lock:
            generation = self._forget_generation
            hit = self._profiles.get(user_id)
            if hit is not None and hit[0] == key:
                self._profiles.move_to_end(user_id)
                return hit[1]
        try:
            profile: dict[str, Any] | None = build()
        except (ServingError, DigirecError, ValueError, KeyError):
            profile = None
        with self._lock:
            if generation != self._forget_generation:  # a deletion ran meanwhile: don't cache
                return profile
            self._profiles[user_id] = (key, profile)
            while len(self._profiles) > self.size:
                self._profiles.popitem(last=False)
        return profile

    def forget(self, user_id: str) -> None:
        """Drop a deleted user's profile; a profile being built meanwhile is not cached."""
        with self._lock:
            self._profiles.pop(user_id, None)
            self._forget_generation += 1
