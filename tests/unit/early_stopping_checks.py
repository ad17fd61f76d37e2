"""A check the torch models share: early stopping's choice is learned state, not config."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from digirec.data.dataset import Dataset
from digirec.models.base import Recommender


def check_fit_leaves_the_config_alone(
    make: Callable[[dict[str, Any]], Recommender],
    params: dict[str, Any],
    train: Dataset,
    valid: Dataset,
) -> None:
    """Issue 12: the epoch early stopping chose is learned state, never written into
    ``config``, so a second ``fit(train, valid)`` may train as long as the first (it is not
    capped). ``make`` builds the model from a setting; ``params`` must stop early."""
    model = make(params)
    before = model.config.model_dump()
    model.fit(train, valid)
    first = model.history_  # type: ignore[attr-defined]
    assert first is not None
    # The test needs a best epoch before the last (else a cap could not show).
    assert first.best_epoch < first.n_epochs, first
    assert model.config.model_dump() == before
    assert model.get_config()["epochs"] == first.best_epoch  # the refit's setting
    model.fit(train, valid)
    second = model.history_  # type: ignore[attr-defined]
    assert second is not None and model.config.model_dump() == before
    assert second.n_epochs == first.n_epochs > first.best_epoch
    assert [r.metric for r in second.records] == [r.metric for r in first.records]
    # What a capped second fit would have trained: no more than the first's best epoch.
    capped = make(model.get_config()).fit(train, valid).history_  # type: ignore[attr-defined]
    assert capped is not None and capped.n_epochs <= first.best_epoch < second.n_epochs
