"""The service's store: catalogue, users and event log (SQLite by default, PostgreSQL by URL).

``open_store(url)`` returns a :class:`Store`; SQLAlchemy is imported only then (the ``serve``
extra), so ``import digirec.store`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from digirec.store.base import (
    EVENT_ID,
    DeletionRecord,
    EventRecord,
    ImportReport,
    Store,
    StoredEvent,
    StoreSnapshot,
)

if TYPE_CHECKING:
    from digirec.store.sql import SQLStore

__all__ = [
    "EVENT_ID",
    "DeletionRecord",
    "EventRecord",
    "ImportReport",
    "SQLStore",
    "Store",
    "StoreSnapshot",
    "StoredEvent",
    "open_store",
]


def open_store(url: str, *, create: bool = True) -> Store:
    """Open (and by default create the tables of) the store at ``url``.

    Parameters
    ----------
    url:
        ``sqlite:///path/to.db`` (embedded, the default of the service), a bare file path, or
        ``postgresql://user:password@host:port/database``.
    create:
        Create missing tables.
    """
    try:
        from digirec.store.sql import SQLStore
    except ModuleNotFoundError as exc:
        from digirec.exceptions import MissingExtraError

        raise MissingExtraError(exc.name or "sqlalchemy", "serve") from None
    return SQLStore(url, create=create)


def __getattr__(name: str) -> Any:
    if name == "SQLStore":
        from digirec.store.sql import SQLStore

        return SQLStore
    raise AttributeError(f"module 'digirec.store' has no attribute {name!r}")
