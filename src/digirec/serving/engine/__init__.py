"""The serving engine: everything the service does between a parsed request and a response
model, with no FastAPI (or Starlette) import anywhere, so it is usable and testable without
the web framework (``tests/unit/test_serving_layout.py`` checks it in a fresh interpreter).

Modules
-------
``catalogue``   the served catalogue aligned with the model's items, new items' attribute
                neighbours, the one filter rule (:class:`Catalogue`, :class:`FilterMask`)
``ranking``     the one ranking path: exact, category-block and ANN selection, re-ranking
                (:class:`RankingEngine`, :class:`AnnScorer`, :class:`Ranked`, the sources)
``snapshot``    a loaded bundle (:class:`ModelSnapshot`), what a request serves from
                (:class:`Current`), finding bundles on disk
``realtime``    events since the served model was trained, and their replay after a restart
``retrain``     training on the store's data, writing and pruning retrained bundles
``profile``     user profiles from the store, cached for explanations
``search``      the product search over the current catalogue
``explain``     the adapter between ranked lists and :mod:`digirec.explain`
``evidence``    the counts behind reasons: co-purchases and the trending window
``state``       :class:`ServingState`, the facade one service process holds

Nothing is imported here: import the module you need.
"""
