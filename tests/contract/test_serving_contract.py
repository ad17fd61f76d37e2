"""The public model contract serving relies on, for every registered model (issue 12):
``score_users`` / ``score_histories`` / ``score_similar`` agree with the ranked public API,
``forget_users`` erases every per-user row, the ``personalised`` flag, and the factor protocol
reproduces the model's own scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import Planted

from digirec.models.base import Recommender, factor_model


def _copy(fitted: Recommender, tmp_path: Path) -> Recommender:
    # forget_users mutates: work on a loaded copy, never on the session's fitted model.
    return Recommender.load(fitted.save(tmp_path / "copy"))


def test_score_users_backs_recommend(fitted: Recommender, planted: Planted) -> None:
    users = planted.user_ids[:5]
    rows = fitted.user_map_.to_internal(users)
    scores = fitted.score_users(rows)
    assert scores.shape == (len(users), fitted.n_items) and scores.dtype == np.float32
    frame = fitted.recommend(users, k=5, filter_seen=False)
    for user, row in zip(users, scores, strict=True):
        got = frame[frame["user_id"] == user]
        idx = fitted.item_map_.to_internal(got["item_id"].tolist())
        np.testing.assert_allclose(got["score"].to_numpy(), row[idx], rtol=1e-5, atol=1e-6)
        # The list is the top of the vector (equal scores aside).
        assert np.isclose(got["score"].iloc[0], row.max(), rtol=1e-5, atol=1e-6)


def test_score_histories_backs_recommend_from_history(
    fitted: Recommender, planted: Planted
) -> None:
    if not fitted.supports_history:
        with pytest.raises(Exception, match="history"):
            fitted.score_histories([[0, 1]])
        return
    items = planted.cluster_items(0)[:4]
    idx = fitted.item_map_.to_internal(items).tolist()
    scores = fitted.score_histories([idx])[0]
    frame = fitted.recommend_from_history([items], k=5, filter_seen=False)
    got = fitted.item_map_.to_internal(frame["item_id"].tolist())
    np.testing.assert_allclose(frame["score"].to_numpy(), scores[got], rtol=1e-4, atol=1e-5)


def test_score_similar_backs_similar_items(fitted: Recommender, planted: Planted) -> None:
    item = planted.item_ids[0]
    row = int(fitted.item_map_.to_internal([item])[0])
    scores = fitted.score_similar([row])[0]
    frame = fitted.similar_items([item], k=3)
    got = fitted.item_map_.to_internal(frame["similar_item_id"].tolist())
    np.testing.assert_allclose(frame["score"].to_numpy(), scores[got], rtol=1e-4, atol=1e-5)


def test_score_similar_columns_are_the_full_rows_columns(fitted: Recommender) -> None:
    """``score_similar(rows, columns)`` (what explanations call) equals the full rows' columns."""
    rng = np.random.default_rng(0)
    rows = rng.choice(fitted.n_items, size=min(4, fitted.n_items), replace=False)
    columns = rng.choice(fitted.n_items, size=min(7, fitted.n_items), replace=False)
    full = fitted.score_similar(rows)
    part = fitted.score_similar(rows, columns)
    assert part.shape == (len(rows), len(columns)) and part.dtype == np.float32
    np.testing.assert_allclose(part, full[:, columns], rtol=1e-5, atol=1e-6)


def _per_user(model: Recommender) -> dict[str, np.ndarray]:
    """Every learned array with one row per user (a leak detector that reads no names)."""
    n_users, out = model.n_users, {}
    for name, value in vars(model).items():
        if not name.endswith("_"):
            continue
        if sp.issparse(value) and value.shape[0] == n_users:
            out[name] = np.asarray(value.tocsr().toarray())
        elif isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == n_users:
            out[name] = np.array(value)
    return out


def _blank(row: np.ndarray) -> bool:
    values = np.asarray(row, dtype=np.float64)
    return bool(np.all((values == 0) | (values == -1)))


def test_forget_users_erases_every_per_user_row(
    fitted: Recommender, planted: Planted, tmp_path: Path
) -> None:
    model = _copy(fitted, tmp_path)
    user = planted.user_ids[3]
    row = int(model.user_map_.to_internal([user])[0])
    before = _per_user(model)
    assert before["seen_"][row].any()
    other = row + 1
    other_before = {name: value[other].copy() for name, value in before.items()}
    model.forget_users([row])
    after = _per_user(model)
    assert set(after) == set(before)
    for name, value in after.items():
        # Erased (zero, or the padding value of a sequence) or untouched because it was blank.
        assert _blank(value[row]), f"{model.name}: {name} still holds the forgotten user"
        np.testing.assert_array_equal(value[other], other_before[name], err_msg=name)
    # Copy-on-write: the arrays the fitted model holds are not the ones that were zeroed.
    assert fitted.seen_[row].nnz > 0


def test_personalised_flag(fitted: Recommender) -> None:
    assert fitted.personalised == (fitted.name not in ("pop", "catpop", "random"))
    if not fitted.personalised:
        assert fitted.non_personal_source in ("popular", "popular_in_category")


def test_factor_protocol_matches_the_scores(fitted: Recommender, planted: Planted) -> None:
    factors = factor_model(fitted)
    if factors is None:
        pytest.skip(f"{fitted.name} is not a factor model")
    items = factors.factor_item_vectors()
    rows = fitted.user_map_.to_internal(planted.user_ids[:6])
    vectors, offsets = factors.factor_user_queries(rows)
    np.testing.assert_allclose(
        vectors @ items.T + offsets[:, None], fitted.score_users(rows), rtol=1e-4, atol=1e-4
    )
    history = fitted.item_map_.to_internal(planted.cluster_items(1)[:3]).tolist()
    vector, offset = factors.factor_history_query(history)
    np.testing.assert_allclose(
        items @ vector + offset, fitted.score_histories([history])[0], rtol=1e-3, atol=1e-3
    )
