"""Product search over the served catalogue, built on first use per catalogue version (no
FastAPI: see :mod:`digirec.serving.engine`)."""

from __future__ import annotations

import threading
from typing import Any

from digirec.serving.engine.catalogue import Catalogue
from digirec.serving.engine.snapshot import Current
from digirec.serving.settings import ServeSettings


class CatalogueSearch:
    """The :class:`digirec.search.ProductSearch` of the current catalogue.

    The index is rebuilt lazily after a catalogue change (:meth:`invalidate`); a neural
    encoder is loaded once and reused (its embedding cache makes unchanged items cheap),
    TF-IDF is refitted.
    """

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self._cache: tuple[Catalogue, Any] | None = None
        self._lock = threading.Lock()
        self._encoder: Any = None

    def invalidate(self) -> None:
        """Forget the index (the catalogue changed)."""
        self._cache = None

    def engine(self, current: Current) -> Any:
        """The search engine over ``current.catalogue``."""
        from digirec.features.text import TfidfEncoder
        from digirec.search import ProductSearch

        cached = self._cache
        if cached is not None and cached[0] is current.catalogue:
            return cached[1]
        with self._lock:
            cached = self._cache
            if cached is not None and cached[0] is current.catalogue:
                return cached[1]
            encoder = self._encoder
            if encoder is None and self.settings.search_encoder == "tfidf":
                encoder = TfidfEncoder(dim=128)
            engine = ProductSearch(
                current.catalogue.frame,
                encoder=encoder,
                currency=self.settings.catalogue_currency,
                exchange_rates=self.settings.currency_rates,
            )
            if not isinstance(engine.encoder, TfidfEncoder):
                self._encoder = engine.encoder
            self._cache = (current.catalogue, engine)
        return engine
