"""The serving state of one service process: a facade over the engine's parts (no FastAPI:
see :mod:`digirec.serving.engine`).

:class:`ServingState` owns one immutable :class:`~digirec.serving.engine.snapshot.Current` (a
model snapshot plus the catalogue aligned with its items), the real-time histories
(:mod:`~digirec.serving.engine.realtime`), the counts behind reasons
(:mod:`~digirec.serving.engine.evidence`: co-purchases, the trending window), the profile cache
and the product search; it ranks
through the :class:`~digirec.serving.engine.ranking.RankingEngine`, explains through
:mod:`~digirec.serving.engine.explain` and retrains through
:mod:`~digirec.serving.engine.retrain`. Every swap of ``current`` is one reference assignment
under the state's lock.

Privacy
-------
:meth:`ServingState.forget_user` removes a user from everything this process holds: real-time
events, the model's rows of that user (training row, weighted row, user factors -- zeroed, the
id stays in the frozen id map until the retrain) and their contribution to the popularity
fallback. The user is then served as unknown. :meth:`ServingState.retrain` rebuilds the model
from the store (where the user's events are gone) and marks the deletions it covers purged.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from digirec import columns as C
from digirec.artifacts import Bundle, ItemFilter, load_bundle
from digirec.serving.engine.analytics import event_rate
from digirec.serving.engine.catalogue import VIA_ATTRIBUTES, VIA_MODEL, Catalogue, FilterMask
from digirec.serving.engine.evidence import ServingEvidence
from digirec.serving.engine.explain import chronological_history, explain_ranked
from digirec.serving.engine.profile import ProfileCache, user_profile
from digirec.serving.engine.ranking import (
    NO_RERANK,
    PERSONALISED,
    SESSION,
    SIMILAR_ITEMS,
    Ranked,
    RankingEngine,
    Rerank,
)
from digirec.serving.engine.realtime import (
    RealtimeEvent,
    RealtimeHistories,
    bundle_watermark,
    stored_events,
)
from digirec.serving.engine.retrain import RetrainResult, prune_bundles, train_bundle
from digirec.serving.engine.search import CatalogueSearch
from digirec.serving.engine.snapshot import Current, ModelSnapshot, bundle_to_load
from digirec.serving.errors import ServingError
from digirec.serving.settings import ServeSettings
from digirec.store.base import DeletionRecord, Store, StoredEvent

log = logging.getLogger("digirec.serving")


class ServingState:
    """Loaded model, catalogue, real-time histories and retraining of one service process.

    Parameters
    ----------
    settings:
        Service settings (bundle path, state folder, limits).
    store:
        The opened store.
    """

    def __init__(self, settings: ServeSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.ranking = RankingEngine()
        self._lock = threading.RLock()
        self._retrain_lock = threading.Lock()
        self._current: Current | None = None
        self._realtime = RealtimeHistories(settings.history_limit, self._lock)
        self._search = CatalogueSearch(settings)
        self._purge_threads: list[threading.Thread] = []
        #: Event batches refused since start because they named a deleted user.
        self.n_refused_batches = 0
        #: Operational problems since start (corrupt bundles, failed removals), newest last.
        self.problems: list[str] = []
        #: Called with the seconds of every finished retrain (the app's metrics).
        self.on_retrain: list[Callable[[float], None]] = []
        # Per-user profiles for explanations, keyed by (model version, last real-time event id).
        self._profiles = ProfileCache(self._lock)
        #: Co-purchase and trending counts behind the reasons (built in :meth:`start`).
        self.evidence = ServingEvidence(
            store,
            purchase_events=settings.purchase_events,
            trending_window_days=settings.trending_window_days,
            trending_refresh_s=settings.trending_refresh_s,
        )

    # ------------------------------------------------------------------ lifecycle
    @property
    def current(self) -> Current:
        """What a request serves from (a 503 :class:`ServingError` before a model is loaded)."""
        current = self._current
        if current is None:
            raise ServingError(503, "not_ready", "no model is loaded yet")
        return current

    @property
    def is_loaded(self) -> bool:
        """Whether a model is loaded."""
        return self._current is not None

    def start(self) -> None:
        """Load the newest bundle, align the catalogue, replay real-time events, re-forget."""
        path, version = bundle_to_load(self.settings, self._problem)
        bundle = load_bundle(path)
        snapshot = ModelSnapshot(
            bundle, version, str(path), ann_threshold=self.settings.ann_threshold
        )
        watermark = bundle_watermark(self.store, bundle, path)
        with self._lock:
            catalogue = Catalogue.build(
                snapshot.model, bundle.items, self.store.items_frame(), snapshot.popularity
            )
            self._current = Current(snapshot, catalogue)
            self._realtime.clear()
        # Deletions the loaded bundle predates: forget those users again.
        covered = int(bundle.manifest.get("deletion_seq", 0))
        pending_immediate = False
        for record in self.store.deletions(after_seq=covered):
            snapshot.forget(record.user_id)
            pending_immediate |= record.status == "pending" and record.purge == "immediate"
        # Co-purchases from every purchase in the store (deleted users' events are gone).
        with self.evidence.rebuilding() as rebuild:
            rebuild.finish()
        replay = self.store.interactions_frame(after_id=watermark)
        self.record_events(stored_events(replay))
        log.info(
            "serving %s v%d from %s (%d real-time events replayed)",
            snapshot.model.name,
            version,
            path,
            len(replay),
        )
        if pending_immediate:  # a purge interrupted by a restart: finish it
            self.purge_in_background()
        self._warm_up()

    def _warm_up(self) -> None:
        """Serve one explained list before readiness: lazy imports, the explainer's catalogue
        view and the profile featuriser are built now, not in the first shopper's request
        (seconds on a loaded machine)."""
        started = time.perf_counter()
        try:
            snapshot = self.current.snapshot
            seen = snapshot.model.seen_.tocsr()
            if not seen.nnz:
                return
            row = int(np.argmax(np.diff(seen.indptr)))
            user_id = str(snapshot.model.user_map_.to_external(np.asarray([row]))[0])
            ranked = self.recommend_user(user_id, 10, ItemFilter())
            self.explain(ranked)
            self.cached_profile(user_id)
        except Exception:  # a warm-up failure must not stop the service; requests will tell
            log.exception("warm-up failed")
        log.info("warm-up in %.2f s", time.perf_counter() - started)

    def _problem(self, message: str) -> None:
        """Log an operational problem and keep it for ``/v1/model`` (the latest 20)."""
        log.error("%s", message)
        with self._lock:
            self.problems = [*self.problems[-19:], message]

    def wait_for_purges(self, timeout: float = 60.0) -> None:
        """Join background purge threads (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        for thread in list(self._purge_threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ real time
    def record_events(self, events: Sequence[StoredEvent]) -> None:
        """Append committed events to their users' real-time histories (and count their
        purchases in the co-purchase counts)."""
        self._realtime.record(events)
        self.evidence.record(events)

    @property
    def n_realtime_users(self) -> int:
        """Users with real-time events held in memory."""
        return self._realtime.n_users

    def count_refused(self, n_users: int) -> None:
        """Count a batch refused because of deleted users (the store keeps the durable count
        of refused events per tombstone; this one feeds ``/metrics``)."""
        with self._lock:
            self.n_refused_batches += 1

    def realtime_events(self, user_id: str) -> list[RealtimeEvent]:
        """The user's events since the served model was trained, oldest first (lock-free:
        see :meth:`RealtimeHistories.events`)."""
        return self._realtime.events(user_id)

    def event_rate(self, now: float | None = None) -> dict[str, Any]:
        """Events per minute over the last hour (the operator's page; bounded store read)."""
        return event_rate(self.store, now)

    def deletion_records(self) -> list[DeletionRecord]:
        """Every deletion request with its status (the operator's page)."""
        return list(self.store.deletions())

    def knows_item(self, item_id: str) -> bool:
        """Whether the served catalogue has ``item_id``."""
        return item_id in self.current.catalogue.positions

    # ------------------------------------------------------------------ public recommenders
    def recommend_user(
        self,
        user_id: str,
        k: int,
        item_filter: ItemFilter,
        *,
        exclude_seen: bool = True,
        exclude_purchased: bool = True,
        rerank: Rerank = NO_RERANK,
    ) -> Ranked:
        """Top-``k`` for a user: personalised when the model or real-time events know them,
        else popular (popular_in_category under a category filter)."""
        current = self.current
        snap, cat = current.snapshot, current.catalogue
        candidates = FilterMask(cat, item_filter)
        user_row = snap.user_row(user_id)
        trained = snap.training_items(user_row)
        recent = self.realtime_events(user_id)
        recent_rows = self.ranking.rows_of(current, [e.item_id for e in recent])
        exclude = np.zeros(cat.n_rows, dtype=bool)
        excluded = np.empty(0, dtype=np.int64)
        if exclude_seen:
            excluded = np.concatenate([trained, recent_rows])
        elif exclude_purchased:
            bought = [
                item for item, event in self.store.user_item_events(user_id) if event == "purchase"
            ]
            excluded = self.ranking.rows_of(current, bought)
        exclude[excluded] = True
        history, weights = self.ranking.weighted_history(current, user_row, recent)
        model = snap.model
        fixed_source = snap.source
        if not history and (user_row is None or not len(trained)):
            return self.ranking.popular(current, k, item_filter, candidates.get(), exclude, rerank)
        if recent and model.supports_history:
            rows, vals, applied = self.ranking.personal(
                current, k, candidates, exclude, excluded, rerank, history=history, weights=weights
            )
        elif user_row is not None:
            rows, vals, applied = self.ranking.personal(
                current, k, candidates, exclude, excluded, rerank, user_row=user_row
            )
        else:  # only real-time events and a model that cannot fold them in
            return self.ranking.popular(current, k, item_filter, candidates.get(), exclude, rerank)
        source = fixed_source if fixed_source is not None else PERSONALISED
        return Ranked(source, current, rows, vals, history, user_id, reranked=applied)

    def recommend_session(
        self,
        item_ids: Sequence[str],
        k: int,
        item_filter: ItemFilter,
        *,
        exclude_seen: bool = True,
        rerank: Rerank = NO_RERANK,
    ) -> Ranked:
        """Top-``k`` for an anonymous session given as item ids (oldest first)."""
        current = self.current
        cat = current.catalogue
        candidates = FilterMask(cat, item_filter)
        rows = self.ranking.rows_of(current, item_ids)
        ignored = [i for i in item_ids if i not in cat.positions]
        exclude = np.zeros(cat.n_rows, dtype=bool)
        excluded = rows if exclude_seen else np.empty(0, dtype=np.int64)
        exclude[excluded] = True
        history = self.ranking.model_idx(current, rows)
        model = current.snapshot.model
        if not history or not model.supports_history:
            ranked = self.ranking.popular(
                current, k, item_filter, candidates.get(), exclude, rerank, history
            )
            ranked.ignored_item_ids = ignored
            return ranked
        source = current.snapshot.source or SESSION
        out, vals, applied = self.ranking.personal(
            current, k, candidates, exclude, excluded, rerank, history=history
        )
        return Ranked(
            source,
            current,
            out,
            vals,
            history,
            reranked=applied,
            ignored_item_ids=ignored,
            # A new item is scored through its neighbour, but only what the shopper viewed
            # may be cited ("Because you viewed X").
            citable_rows=[int(r) for r in rows if r < cat.n_model_items],
        )

    def similar(self, item_id: str, k: int, item_filter: ItemFilter) -> Ranked:
        """Items similar to one item (new items: their attribute neighbour and its neighbours)."""
        current = self.current
        cat = current.catalogue
        row = cat.positions.get(item_id)
        if row is None:
            raise ServingError(404, "unknown_item", f"unknown item id {item_id!r}", "item_id")
        candidates = self.ranking.mask(cat, item_filter)
        exclude = np.zeros(cat.n_rows, dtype=bool)
        exclude[row] = True
        anchor = int(cat.proxies[row])
        if anchor < 0:
            category = cat.value(row, C.CATEGORY)
            scoped = (
                dataclasses.replace(item_filter, categories=[category]) if category else item_filter
            )
            return self.ranking.popular(
                current, k, scoped, self.ranking.mask(cat, scoped), exclude, NO_RERANK
            )
        scores = current.snapshot.score_similar(anchor)
        strategy = VIA_MODEL
        if anchor != row:  # a new item: its neighbour is the closest match
            finite = scores[np.isfinite(scores)]
            scores[anchor] = (float(finite.max()) if finite.size else 0.0) + 1.0
            strategy = VIA_ATTRIBUTES
        source = current.snapshot.source or SIMILAR_ITEMS
        rows, vals, _ = self.ranking.select(
            current, self.ranking.extend(current, scores), k, candidates, exclude, NO_RERANK
        )
        return Ranked(source, current, rows, vals, [anchor], strategy=strategy)

    def trending(self, k: int, item_filter: ItemFilter) -> Ranked:
        """Top-``k`` catalogue items by distinct users with an event in the trending window
        ending now (only items with one; the filters and availability rule as everywhere)."""
        current = self.current
        return self.ranking.trending(current, k, item_filter, self.evidence.trending())

    def user_scores(self, user_id: str) -> NDArray[np.float32] | None:
        """Unfiltered scores of every catalogue row for a user (``None`` if nothing is known)."""
        current = self.current
        snap = current.snapshot
        user_row = snap.user_row(user_id)
        recent = self.realtime_events(user_id)
        history, weights = self.ranking.weighted_history(current, user_row, recent)
        if recent and history and snap.model.supports_history:
            return self.ranking.extend(current, snap.score_history(history, weights))
        if user_row is not None and len(snap.training_items(user_row)):
            return self.ranking.extend(current, snap.score_user(user_row))
        return None

    # ------------------------------------------------------------------ catalogue writes
    def upsert_item(self, record: dict[str, Any]) -> tuple[bool, str, str | None]:
        """Apply a committed catalogue write; returns ``(created, via, neighbour item id)``."""
        with self._lock:
            current = self.current
            catalogue, created, via, proxy = current.catalogue.with_item(
                record, current.snapshot.popularity
            )
            self._current = Current(current.snapshot, catalogue)
            self._search.invalidate()
        neighbour = None
        if via == VIA_ATTRIBUTES:
            neighbour = str(catalogue.frame[C.ITEM_ID].iat[proxy])
        return created, via, neighbour

    def remove_item(self, item_id: str) -> bool:
        """Apply a committed catalogue deletion: a model item stays as a hidden row (the
        model still has it until the retrain), a new item is hidden too. ``False`` when the
        served catalogue does not have it."""
        with self._lock:
            current = self.current
            row = current.catalogue.positions.get(item_id)
            if row is None:
                return False
            record = {C.ITEM_ID: item_id, C.HIDDEN: True}
            catalogue, _, _, _ = current.catalogue.with_item(record, current.snapshot.popularity)
            self._current = Current(current.snapshot, catalogue)
            self._search.invalidate()
        return True

    # ------------------------------------------------------------------ privacy
    def forget_user(self, user_id: str) -> None:
        """Remove a user from every in-memory structure at once (the store is done already)."""
        with self._lock:
            self._profiles.forget(user_id)
            # An event committed before the deletion (and deleted with it) may still be on its
            # way to record_events: anything of this user up to here is dropped there.
            self._realtime.forget(user_id, self.store.max_event_id())
            self.current.snapshot.forget(user_id)
            self.evidence.forget_user(user_id)

    def purge_in_background(self) -> threading.Thread:
        """Retrain now in a background thread (``purge=immediate``)."""

        def run() -> None:
            try:
                self.retrain(reason="privacy purge")
            except Exception as exc:  # the deletion stays pending for the next retrain
                log.exception("background purge retrain failed")
                self._problem(f"privacy purge retrain failed ({type(exc).__name__}: {exc})")

        thread = threading.Thread(target=run, name="digirec-purge", daemon=True)
        self._purge_threads = [t for t in self._purge_threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    # ------------------------------------------------------------------ retrain + swap
    def retrain(self, *, reason: str = "admin") -> RetrainResult:
        """Train on the store's data with the served model's config and swap atomically.

        Requests running during the fit keep serving the old snapshot; the swap is a single
        reference assignment. Deletions committed before the data snapshot are marked purged
        with the new model version; later ones are forgotten in the new snapshot.
        """
        with self._retrain_lock:
            retrain_started = time.perf_counter()
            old = self.current.snapshot
            # Co-purchases are rebuilt from the same data snapshot; purchases and deletions
            # committed meanwhile are replayed on the new counts.
            with self.evidence.rebuilding() as rebuild:
                trained = train_bundle(self.settings, self.store, old, reason=reason)
                rebuild.finish(trained.data.interactions)
            model, dataset, data = trained.model, trained.dataset, trained.data
            snapshot = ModelSnapshot(
                Bundle(model, dataset.items, trained.manifest),
                trained.version,
                str(trained.path),
                ann_threshold=self.settings.ann_threshold,
            )
            with self._lock:
                # Deletions committed while training: the new model still has those users.
                for record in self.store.deletions(after_seq=data.deletion_seq):
                    snapshot.forget(record.user_id)
                catalogue = Catalogue.build(
                    model, dataset.items, self.store.items_frame(), snapshot.popularity
                )
                self._realtime.drop_trained(data.event_ids)
                self._current = Current(snapshot, catalogue)
                self._search.invalidate()
            purged = self.store.mark_purged(
                up_to_seq=data.deletion_seq, model_version=trained.version
            )
            prune_bundles(self.settings.state_dir, trained.path, self._problem)
            log.info(
                "retrained %s -> v%d (%s), %d deletions purged",
                trained.name,
                trained.version,
                reason,
                purged,
            )
            for callback in self.on_retrain:
                callback(time.perf_counter() - retrain_started)
            return RetrainResult(
                model_version=trained.version,
                model=trained.name,
                path=str(trained.path),
                n_users=dataset.n_users,
                n_items=dataset.n_items,
                n_interactions=dataset.n_interactions,
                fit_seconds=trained.fit_seconds,
                purged_deletions=purged,
            )

    # ------------------------------------------------------------------ search / profile
    def search_engine(self) -> tuple[Current, Any]:
        """The product search over the current catalogue (built on first use per catalogue)."""
        current = self.current
        return current, self._search.engine(current)

    def profile(self, user_id: str) -> dict[str, Any]:
        """The user's profile built from their events in the store (features/profile.py)."""
        return user_profile(self.store, self.current.catalogue, user_id)

    def cached_profile(self, user_id: str) -> dict[str, Any] | None:
        """The user's profile for explanations, cached until their next event (or ``None``)."""
        recent = self.realtime_events(user_id)
        key = (self.current.snapshot.version, recent[-1].event_id if recent else 0)
        return self._profiles.get(user_id, key, lambda: self.profile(user_id))

    # ------------------------------------------------------------------ explanations
    def explain(self, ranked: Ranked) -> list[dict[str, Any]]:
        """One explanation per ranked row (:func:`~digirec.serving.engine.explain.explain_ranked`):
        a reason is never missing and never invented."""
        return explain_ranked(
            ranked,
            self.store,
            self.cached_profile,
            co_purchases=self.evidence.co_purchases,
            co_purchase_min_count=self.settings.co_purchase_min_count,
        )

    def _chronological_history(self, ranked: Ranked) -> tuple[list[int], list[str | None] | None]:
        """The whole history the model scored, oldest first, with each item's event type."""
        return chronological_history(self.store, ranked)
