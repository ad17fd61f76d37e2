"""Cold-start protocols: items and users that training never saw (DESIGN.md section 3).

Both protocols are additional views next to leave-one-out, never replacements, and follow the
same discipline: hyperparameters are chosen on a validation split built from the warm data
only, the chosen setting is refit on all warm data, and the held-out test part is scored once
with full ranking over **all** items (the user's input history excluded, ties broken by the
model's fixed item permutation).

``cold-items``
    A random ``fraction`` of the items is held out with **all** their interactions. Validation
    holds out a further ``fraction`` of the remaining items in the same way. Every user with a
    held-out interaction ranks all items (training history excluded); the held-out interactions
    are the targets. ``Dataset.subset`` keeps the full item index space, so a cold item keeps
    its catalogue row and a content model can score it; a model without
    ``supports_cold_items`` is still run as the honest baseline (popularity gives a cold item 0).

``cold-users``
    A random ``fraction`` of the users is held out with all their interactions (validation: a
    further ``fraction`` of the remaining users). Two slices per model, no retraining:

    ``history``
        each held-out user's chronological history except the last interaction is given
        through :meth:`~digirec.models.base.Recommender.recommend_from_history`; the last
        interaction is the target (next item, as in leave-one-out). A model without
        ``supports_history`` ranks through its own ``recommend`` path for that (training-less)
        user, with the given history items excluded as in every protocol.
    ``attributes``
        nothing is given but what the data set knows about the user (its row in the user map
        and the user attribute table): the model's ``recommend`` path for a user without
        training interactions; all the user's interactions are targets.

    Tuning picks the setting by the ``history`` slice on the validation users. A validation user
    has no training row that an early-stopping model could be scored on, so each fit stops early
    on the last interaction of every *training* user (leave-one-out inside the training users,
    which never sees a cold user), and the chosen model is refit on all warm users with
    :meth:`~digirec.models.base.Recommender.refit`.

Documents keep the benchmark shape (``results[*].test`` holds the headline slice, so every table
and report works) and add the slice metrics where :mod:`digirec.evaluation.report` renders
them: ``results[*].cold_items`` or ``results[*].cold_users`` (history slice) plus
``results[*].cold_users_attributes``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec import __version__
from digirec import columns as C
from digirec.data.dataset import Dataset
from digirec.data.split import (
    SplitMasks,
    cold_items,
    cold_users,
    leave_one_out,
    position_in_user,
)
from digirec.evaluation.evaluate import evaluate_model, metrics_of_recommendations
from digirec.evaluation.metrics import PAD
from digirec.evaluation.stats import (
    N_RESAMPLES,
    UserSample,
    confidence_intervals,
    paired_differences,
    user_sample,
)
from digirec.exceptions import ConfigError
from digirec.models.base import Recommender
from digirec.training.tuning import (
    TUNING_GRIDS,
    TUNING_METRIC,
    Trial,
    grid_size,
    tune_and_refit,
)

__all__ = [
    "CANDIDATE_VIEWS",
    "COLD_BASELINES",
    "COLD_ITEMS",
    "COLD_USERS",
    "PROTOCOLS",
    "cold_start_markdown",
    "history_split",
    "run_cold_items",
    "run_cold_users",
    "score_history_slice",
]

Progress = Callable[[str], None]

COLD_ITEMS = "cold-items"
COLD_USERS = "cold-users"
#: The cold-start protocols of this module.
PROTOCOLS = (COLD_ITEMS, COLD_USERS)
#: Seed offset of the validation draw, so validation never reuses the test draw's sequence.
_VALID_SEED_OFFSET = 1


# ====================================================================== cold items
#: ``--cold-candidates`` views of the cold-items protocol.
CANDIDATE_VIEWS = ("all", "cold")
#: Models every other model is compared with (paired over users) when they are in the run.
COLD_BASELINES = ("random", "contentknn")


def run_cold_items(
    dataset: Dataset,
    models: Sequence[str],
    *,
    fraction: float = 0.1,
    random_state: int = 42,
    ks: Sequence[int] = (10, 20),
    tune: bool = True,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    progress: Progress | None = None,
    cold_candidates: str = "all",
) -> dict[str, Any]:
    """Run the cold-items protocol for each model and return the results document.

    Parameters
    ----------
    dataset:
        The full data set (all interactions).
    models:
        Registered model names.
    fraction:
        Share of the items held out for test (and, of the remaining items, for validation).
    random_state:
        Seed of the item draws (and of the bootstrap).
    ks:
        Cut-offs (``10`` is always added: the tuning metric is ``ndcg@10``).
    tune:
        Search each model's grid on the validation cold items; otherwise use ``params``.
    params:
        Fixed settings per model; with ``tune`` they are the base that the grid overrides.
    grids:
        Override the default search space per model.
    progress:
        Called with one line per step.
    cold_candidates:
        The headline view: ``"all"`` ranks every item of the catalogue (warm ones included:
        the shop's question "does the new item make the user's top 10?"); ``"cold"`` ranks the
        held-out items only ("which of the new items suits the user?"). Both views are
        computed and stored under ``views``; this one is ``test`` and is also the view that
        the validation search ranks in (validation cold items only, or every item).

    Returns
    -------
    dict
        The benchmark document (``protocol="cold-items"``); each result also carries
        ``cold_items`` = its test metrics plus ``n_users`` and ``n_targets``, ``test_ci95``
        (95% bootstrap intervals over users, :func:`digirec.evaluation.stats.confidence_intervals`),
        ``vs_baselines`` (paired differences against ``random`` / ``contentknn`` when they are
        in the run, :func:`digirec.evaluation.stats.paired_differences`) and ``views`` = the
        same per view.
    """
    if cold_candidates not in CANDIDATE_VIEWS:
        raise ConfigError(
            f"cold_candidates must be one of {', '.join(CANDIDATE_VIEWS)}, got {cold_candidates!r}"
        )
    say = progress or (lambda _msg: None)
    params = params or {}
    ks = tuple(sorted({*ks, 10}))
    test_cold = cold_items(dataset, fraction, random_state)
    warm = ~test_cold.mask
    valid_cold = cold_items(dataset, fraction, random_state + _VALID_SEED_OFFSET, within=warm)
    masks = SplitMasks(train=warm & ~valid_cold.mask, valid=valid_cold.mask, test=test_cold.mask)
    train, valid = dataset.subset(masks.train), dataset.subset(masks.valid)
    warm_data, test = dataset.subset(warm), dataset.subset(masks.test)
    item_categories = dataset.item_codes("category")
    test_users = np.unique(test.user_idx)
    candidates = {
        "valid": _item_mask(dataset.n_items, valid_cold.held_out),
        "test": _item_mask(dataset.n_items, test_cold.held_out),
    }
    say(
        f"{dataset.name}: {len(test_cold.held_out)} of {dataset.n_items} items cold for test "
        f"({test.n_interactions} targets, {len(test_users)} users); "
        f"{len(valid_cold.held_out)} cold for validation ({valid.n_interactions} targets); "
        f"headline view: {cold_candidates}"
    )

    def view_mask(part: str, view: str) -> NDArray[np.bool_] | None:
        return candidates[part] if view == "cold" else None

    results: list[dict[str, Any]] = []
    per_user: dict[str, dict[str, UserSample]] = {}
    for name in models:
        grid = _grid(name, tune, grids)
        say(f"[{name}] {_tuning_line(tune, grid)} on validation cold items ({cold_candidates})")

        def score_cold_items(fitted: Recommender) -> dict[str, float]:
            _, reco, truth = _view_reco(fitted, valid, view_mask("valid", cold_candidates), max(ks))
            return _metrics(reco, truth, ks, dataset.n_items, None, None)

        # The protocol's one runner: grid on validation (this view's scoring), refit on warm.
        run = tune_and_refit(
            name, train, valid, warm_data, tune=tune, params=params, grids=grids, ks=ks,
            progress=say, score=score_cold_items,
        )  # fmt: skip
        trials, best = run.search.trials, run.search.best
        model, fit_seconds = run.model, run.fit_seconds
        views: dict[str, dict[str, Any]] = {}
        per_user[name] = {}
        for view in CANDIDATE_VIEWS:
            users, reco, truth = _view_reco(model, test, view_mask("test", view), max(ks))
            metrics = _metrics(reco, truth, ks, dataset.n_items, warm_data, item_categories)
            sample = user_sample(users, reco, truth, ks=ks, n_items=dataset.n_items)
            per_user[name][view] = sample
            views[view] = {
                "test": metrics,
                "n_users": len(test_users),
                "n_targets": test.n_interactions,
                "test_ci95": confidence_intervals(sample),
            }
        say(
            f"[{name}] cold items {TUNING_METRIC}: all {views['all']['test'][TUNING_METRIC]:.4f}"
            f", cold-only {views['cold']['test'][TUNING_METRIC]:.4f}"
        )
        headline = views[cold_candidates]
        results.append(
            {
                "model": name,
                "params": best.params,
                "valid": best.valid,
                "test": headline["test"],
                "test_ci95": headline["test_ci95"],
                "fit_seconds": fit_seconds,
                **_timings(trials),
                "tuning": _trials(trials) if tune else [],
                "supports_cold_items": bool(model.supports_cold_items),
                "cold_items": {
                    **headline["test"],
                    "n_users": len(test_users),
                    "n_targets": test.n_interactions,
                },
                "views": views,
            }
        )
    # Paired comparisons with the baselines, once every model's per-user values are known.
    for result in results:
        for view in CANDIDATE_VIEWS:
            result["views"][view]["vs_baselines"] = {
                baseline: paired_differences(
                    per_user[result["model"]][view], per_user[baseline][view]
                )
                for baseline in COLD_BASELINES
                if baseline in per_user and baseline != result["model"]
            }
        result["vs_baselines"] = result["views"][cold_candidates]["vs_baselines"]
    split = {
        **_split_counts(masks),
        "n_cold_items": len(test_cold.held_out),
        "n_valid_cold_items": len(valid_cold.held_out),
    }
    document = _document(dataset, COLD_ITEMS, split, ks, tune, fraction, random_state, results)
    document["cold_candidates"] = cold_candidates
    document["n_bootstrap"] = N_RESAMPLES
    return document


def _item_mask(n_items: int, items: NDArray[np.int64]) -> NDArray[np.bool_]:
    mask = np.zeros(n_items, dtype=bool)
    mask[np.asarray(items, dtype=np.int64)] = True
    return mask


def _view_reco(
    model: Recommender,
    holdout: Dataset,
    candidates: NDArray[np.bool_] | None,
    k: int,
    batch_size: int = 1024,
) -> tuple[NDArray[np.int64], NDArray[np.int64], sp.csr_matrix]:
    """The users with a held-out interaction, their top-``k`` lists and their truth rows.

    ``candidates`` restricts the ranking (the ``cold`` view); ``None`` ranks every item. The
    model's own seen items (its training matrix) are excluded either way.
    """
    truth = holdout.user_item_matrix(binary=True)
    users = np.flatnonzero(np.diff(truth.indptr) > 0).astype(np.int64)
    reco, _ = model.recommend_idx(users, k, candidates=candidates, batch_size=batch_size)
    return users, reco, truth[users]


# ====================================================================== cold users
def history_split(
    dataset: Dataset, rows: NDArray[np.bool_]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Split the rows of whole users into a given history and a next-item target.

    Each user's last interaction is the target and everything before it is the given history --
    a new user (or a session) whose events so far arrive at a model that never trained on them,
    asked for the next item as in leave-one-out. A user with one interaction has nothing to
    give and no target left; the row counts as history.

    Parameters
    ----------
    dataset:
        The data set (rows grouped by user in chronological order).
    rows:
        Mask of the rows of the users to split; it must hold every row of each such user
        (as :func:`digirec.data.split.cold_users` does).

    Returns
    -------
    history, targets
        Two disjoint masks whose union is ``rows``.
    """
    rows = np.asarray(rows, dtype=bool)
    position, count = position_in_user(dataset)
    history = rows & ((position < count - 1) | (count == 1))
    return history, rows & ~history


def run_cold_users(
    dataset: Dataset,
    models: Sequence[str],
    *,
    fraction: float = 0.1,
    random_state: int = 42,
    ks: Sequence[int] = (10, 20),
    tune: bool = True,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    grids: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the cold-users protocol for each model and return the results document.

    Parameters are those of :func:`run_cold_items`, with users in place of items.

    Returns
    -------
    dict
        The benchmark document (``protocol="cold-users"``). Each result holds ``test`` and
        ``cold_users`` = the history slice and ``cold_users_attributes`` = the attributes slice,
        each with ``n_users`` and ``n_targets``; ``valid`` is the history slice on the
        validation users.
    """
    say = progress or (lambda _msg: None)
    params = params or {}
    ks = tuple(sorted({*ks, 10}))
    test_cold = cold_users(dataset, fraction, random_state)
    warm = ~test_cold.mask
    valid_cold = cold_users(dataset, fraction, random_state + _VALID_SEED_OFFSET, within=warm)
    masks = SplitMasks(train=warm & ~valid_cold.mask, valid=valid_cold.mask, test=test_cold.mask)
    train, warm_data = dataset.subset(masks.train), dataset.subset(warm)
    # Early stopping inside a fit: each training user's last interaction (never a cold user's).
    inner = leave_one_out(train)
    fit_part, stop_part = train.subset(~inner.test), train.subset(inner.test)
    valid_history, valid_targets = history_split(dataset, masks.valid)
    test_history, test_targets = history_split(dataset, masks.test)
    test_all = dataset.subset(masks.test)
    item_categories = dataset.item_codes("category")
    say(
        f"{dataset.name}: {len(test_cold.held_out)} of {dataset.n_users} users cold for test "
        f"({int(test_history.sum())} history / {int(test_targets.sum())} target interactions); "
        f"{len(valid_cold.held_out)} cold for validation"
    )

    results: list[dict[str, Any]] = []
    for name in models:
        grid = _grid(name, tune, grids)
        say(f"[{name}] {_tuning_line(tune, grid)} on validation cold users (history slice)")

        def score_cold_users(fitted: Recommender) -> dict[str, float]:
            return score_history_slice(fitted, dataset, valid_history, valid_targets, ks=ks)

        # The protocol's one runner: fits stop early on the training users' last events, the
        # grid is scored on the validation users' history slice, the winner refit on warm users.
        run = tune_and_refit(
            name, fit_part, stop_part, warm_data, tune=tune, params=params, grids=grids, ks=ks,
            progress=say, score=score_cold_users,
        )  # fmt: skip
        trials, best = run.search.trials, run.search.best
        model, fit_seconds = run.model, run.fit_seconds
        history_metrics = score_history_slice(
            model,
            dataset,
            test_history,
            test_targets,
            ks=ks,
            train=warm_data,
            item_categories=item_categories,
        )
        # The attributes slice is the model's ordinary path for a known user id without
        # training rows (its seen row is empty): exactly what `model.recommend([user])` ranks.
        attribute_metrics = evaluate_model(
            model, test_all, ks=ks, train=warm_data, item_categories=item_categories
        )
        attribute_metrics.update(
            n_users=len(np.unique(test_all.user_idx)), n_targets=test_all.n_interactions
        )
        say(
            f"[{name}] cold users {TUNING_METRIC}: history "
            f"{history_metrics[TUNING_METRIC]:.4f}, attributes "
            f"{attribute_metrics[TUNING_METRIC]:.4f}"
        )
        results.append(
            {
                "model": name,
                "params": best.params,
                "valid": best.valid,
                "test": history_metrics,
                "fit_seconds": fit_seconds,
                **_timings(trials),
                "tuning": _trials(trials) if tune else [],
                "supports_history": bool(model.supports_history),
                "cold_users": history_metrics,
                "cold_users_attributes": attribute_metrics,
            }
        )
    split = {
        **_split_counts(masks),
        "n_cold_users": len(test_cold.held_out),
        "n_valid_cold_users": len(valid_cold.held_out),
        "n_history": int(test_history.sum()),
        "n_targets": int(test_targets.sum()),
    }
    return _document(dataset, COLD_USERS, split, ks, tune, fraction, random_state, results)


def score_history_slice(
    model: Recommender,
    dataset: Dataset,
    history: NDArray[np.bool_],
    targets: NDArray[np.bool_],
    *,
    ks: Sequence[int] = (10, 20),
    train: Dataset | None = None,
    item_categories: NDArray[np.int64] | None = None,
    batch_size: int = 512,
) -> dict[str, float]:
    """Metrics of users known only by a given history (no retraining).

    Each user with at least one target row gets its ``history`` rows, in chronological order,
    through the public :meth:`~digirec.models.base.Recommender.recommend_from_history` (external
    ids in, external ids out); a model without ``supports_history`` ranks through its own
    ``recommend`` path for that user with the history items excluded. All items are ranked.

    Parameters
    ----------
    model:
        A fitted model sharing ``dataset``'s id maps.
    dataset:
        The full data set; ``history`` and ``targets`` are masks over its rows.
    history, targets:
        The given interactions and the interactions to find.
    ks:
        Cut-offs.
    train:
        The model's training data, for novelty and ARP (optional).
    item_categories:
        Category code per item for intra-list diversity (optional).
    batch_size:
        Users per call (bounds the dense score matrix).

    Returns
    -------
    dict[str, float]
        The keys of :func:`~digirec.evaluation.evaluate.evaluate_model` plus ``n_users`` and
        ``n_targets``.
    """
    truth = dataset.subset(targets).user_item_matrix(binary=True)
    users = np.flatnonzero(np.diff(truth.indptr) > 0).astype(np.int64)
    given = dataset.subset(history).user_item_matrix(binary=True)
    max_k = max(ks)
    if model.supports_history:
        reco = _reco_from_histories(model, dataset, history, users, max_k, batch_size)
    else:
        reco, _ = model.recommend_idx(users, max_k, seen=given, batch_size=batch_size)
    metrics = _metrics(reco, truth[users], ks, dataset.n_items, train, item_categories)
    metrics.update(n_users=len(users), n_targets=int(truth[users].nnz))
    return metrics


def _reco_from_histories(
    model: Recommender,
    dataset: Dataset,
    history: NDArray[np.bool_],
    users: NDArray[np.int64],
    k: int,
    batch_size: int,
) -> NDArray[np.int64]:
    """Top-``k`` item indices per user through the public history API.

    The histories go in as external ids and the frame comes back in external ids; the only
    conversions are through the data set's id maps, here at the boundary.
    """
    given = dataset.interactions[history]
    # Rows are grouped by user in chronological order, so each group is the ordered history.
    item_lists = given.groupby(C.USER_IDX, sort=False)[C.ITEM_IDX].agg(list)
    user_ids = dataset.user_map.to_external(users)
    reco = np.full((len(users), k), PAD, dtype=np.int64)
    for start in range(0, len(users), batch_size):
        batch_idx = users[start : start + batch_size]
        batch_ids = [str(u) for u in user_ids[start : start + batch_size]]
        histories = {
            user_id: dataset.item_map.to_external(item_lists.get(int(u), [])).tolist()
            for user_id, u in zip(batch_ids, batch_idx, strict=True)
        }
        frame = model.recommend_from_history(histories, k, on_unknown="raise")
        row_of = {user_id: start + row for row, user_id in enumerate(batch_ids)}
        rows = np.fromiter((row_of[u] for u in frame[C.USER_ID]), dtype=np.int64, count=len(frame))
        cols = frame[C.RANK].to_numpy(dtype=np.int64) - 1
        reco[rows, cols] = dataset.item_map.to_internal(frame[C.ITEM_ID].tolist())
    return reco


def _metrics(
    reco: NDArray[np.int64],
    truth: sp.csr_matrix,
    ks: Sequence[int],
    n_items: int,
    train: Dataset | None,
    item_categories: NDArray[np.int64] | None,
) -> dict[str, float]:
    """The metric set of :func:`~digirec.evaluation.evaluate.evaluate_model` for a given
    ``reco`` (the same keys, so slices and the main table line up)."""
    return metrics_of_recommendations(
        reco, truth, ks=ks, n_items=n_items, train=train, item_categories=item_categories
    )


# ====================================================================== shared helpers
def _grid(
    name: str, tune: bool, grids: Mapping[str, Mapping[str, Sequence[Any]]] | None
) -> Mapping[str, Sequence[Any]]:
    if not tune:
        return {}
    return (grids or {}).get(name, TUNING_GRIDS.get(name, {}))


def _tuning_line(tune: bool, grid: Mapping[str, Sequence[Any]]) -> str:
    return f"tuning {grid_size(grid)} setting(s)" if tune else "fixed setting"


def _timings(trials: Sequence[Trial]) -> dict[str, float]:
    """As in the leave-one-out document: the chosen setting's fit on the tuning part and the
    whole search (``fit_seconds`` is the final refit only). ``trials`` are best first."""
    return {
        "train_seconds": trials[0].fit_seconds,
        "tuning_seconds": sum(t.fit_seconds for t in trials),
    }


def _trials(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    return [
        {
            "params": t.params,
            "valid": {TUNING_METRIC: t.valid[TUNING_METRIC]},
            "fit_seconds": t.fit_seconds,
        }
        for t in trials
    ]


def _split_counts(masks: SplitMasks) -> dict[str, int]:
    return {
        "n_train": int(masks.train.sum()),
        "n_valid": int(masks.valid.sum()),
        "n_test": int(masks.test.sum()),
    }


def _document(
    dataset: Dataset,
    protocol: str,
    split: Mapping[str, int],
    ks: Sequence[int],
    tune: bool,
    fraction: float,
    random_state: int,
    results: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "dataset": {
            "name": dataset.name,
            "n_users": dataset.n_users,
            "n_items": dataset.n_items,
            "n_interactions": dataset.n_interactions,
        },
        "protocol": protocol,
        "split": dict(split),
        "ks": list(ks),
        "tuned": tune,
        "tuning_metric": TUNING_METRIC,
        "cold_fraction": fraction,
        "random_state": random_state,
        "digirec_version": __version__,
        "results": results,
    }


# ====================================================================== markdown
def cold_start_markdown(document: Mapping[str, Any]) -> str:
    """Markdown of a cold-start document: the benchmark table of the headline slice (via
    :func:`digirec.evaluation.benchmark.to_markdown`), then one table per slice with its user and
    target counts."""
    from digirec.evaluation.benchmark import to_markdown

    split = document.get("split", {})
    protocol = document.get("protocol")
    if protocol == COLD_ITEMS:
        note = (
            f"{split.get('n_cold_items', '?')} cold items ({document.get('cold_fraction')} of "
            f"the items, seed {document.get('random_state')}) with all their interactions "
            f"held out; the first table is the headline view "
            f"(`--cold-candidates {document.get('cold_candidates', 'all')}`)."
        )
        parts = [to_markdown(document), note, ""]
        for view in CANDIDATE_VIEWS:
            parts.append(_view_table(document, view))
        return "\n".join(parts)
    note = (
        f"{split.get('n_cold_users', '?')} cold users ({document.get('cold_fraction')} of "
        f"the users, seed {document.get('random_state')}) with all their interactions held "
        "out; the table shows the history slice."
    )
    slices = [
        ("cold_users", "Cold users, history up to the last item given"),
        ("cold_users_attributes", "Cold users, attributes only (no history)"),
    ]
    parts = [to_markdown(document), note, ""]
    for key, title in slices:
        parts.append(_slice_table(document, key, title))
    return "\n".join(parts)


_VIEW_TITLES = {
    "all": "Cold items ranked among **all** items (`--cold-candidates all`)",
    "cold": "Cold items ranked among the **held-out items only** (`--cold-candidates cold`)",
}


def _interval(value: float | None, ci: Sequence[float] | None) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    if not ci or not all(np.isfinite(c) for c in ci):
        return f"{value:.4f}"
    return f"{value:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]"


def _view_table(document: Mapping[str, Any], view: str) -> str:
    """One view's table: NDCG@10 / Recall@10 / NDCG@20 with 95% intervals and the paired
    NDCG@10 differences against the baselines ("better" only when the interval excludes 0)."""
    rows = [r for r in document.get("results", []) if view in r.get("views", {})]
    if not rows:
        return ""
    baselines = [b for b in COLD_BASELINES if any(r["model"] == b for r in rows)]
    header = ["model", "ndcg@10 [95% CI]", "recall@10 [95% CI]", "ndcg@20 [95% CI]"]
    header += [f"Δ ndcg@10 vs {b} [95% CI]" for b in baselines]
    mark = " (headline)" if document.get("cold_candidates") == view else ""
    lines = [
        f"#### {_VIEW_TITLES[view]}{mark}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * len(header)) + "|",
    ]
    for r in rows:
        block = r["views"][view]
        test, ci = block["test"], block.get("test_ci95", {})
        cells = [str(r["model"])]
        for metric in ("ndcg@10", "recall@10", "ndcg@20"):
            cells.append(_interval(test.get(metric), ci.get(metric)))
        for b in baselines:
            paired = block.get("vs_baselines", {}).get(b, {}).get("ndcg@10")
            if paired is None:
                cells.append("–")
                continue
            lo, hi = paired["ci95"]
            better = " **better**" if lo > 0 else (" worse" if hi < 0 else "")
            cells.append(f"{paired['diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]{better}")
        lines.append("| " + " | ".join(cells) + " |")
    users = rows[0]["views"][view]
    lines += [
        "",
        f"{users.get('n_users', '?')} users, {users.get('n_targets', '?')} targets; intervals: "
        f"{document.get('n_bootstrap', 1000)} bootstrap resamples of the users (paired for Δ).",
    ]
    return "\n".join(lines) + "\n"


_SLICE_COLUMNS = ("ndcg@10", "recall@10", "precision@10", "hit_rate@10", "ndcg@20", "recall@20")


def _slice_table(document: Mapping[str, Any], key: str, title: str) -> str:
    rows = [r for r in document.get("results", []) if isinstance(r.get(key), Mapping)]
    if not rows:
        return ""
    header = ["model", *_SLICE_COLUMNS, "users", "targets"]
    lines = [
        f"#### {title}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * len(header)) + "|",
    ]
    for r in rows:
        values = r[key]
        cells = [str(r["model"])]
        for metric in _SLICE_COLUMNS:
            value = values.get(metric)
            cells.append("–" if value is None or not np.isfinite(value) else f"{value:.4f}")
        cells += [str(values.get("n_users", "–")), str(values.get("n_targets", "–"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
