"""One loader per input format.

Each module reads one family of files and returns :class:`~digirec.data.tables.RawData`
through the shared validators of :mod:`digirec.data.schema`:

=================  ==========================================================================
module             format names
=================  ==========================================================================
``generic``        ``csv`` (also TSV), ``parquet``, ``jsonl``
``lcrec``          ``lcrec`` (LC-Rec ``X.inter.json`` + id maps)
``rechorus``       ``rechorus`` (ReChorus ``train.csv`` / ``dev.csv`` / ``test.csv``)
``amazon``         ``amazon2014``, ``amazon2018``, ``amazon2023`` (official review dumps)
``movielens``      ``movielens`` (ml-100k, ml-1m / ml-10m, ml-latest / ml-20m / ml-25m)
``minionerec``     ``minionerec`` (MiniOneRec ``X.item.json`` + history->next CSVs)
=================  ==========================================================================

Every loader takes a :class:`~digirec.data.formats._common.LoadRequest` (path, ``on_bad_rows``,
``items``, ``users``, ``name``) and returns ``RawData``; formats with variants also take the
variant (``generic.load_generic(request, kind)``, ``amazon.load_amazon(request, version)``).
:func:`digirec.data.load.load_data` builds the request and dispatches to them.
"""
