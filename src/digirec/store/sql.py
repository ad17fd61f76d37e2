"""One SQL store for SQLite (embedded default) and PostgreSQL, on SQLAlchemy Core.

The two databases differ in three places only, kept together in :class:`_Dialect`:

* **connection setup** -- SQLite runs in WAL mode with ``synchronous=FULL`` (a committed
  transaction survives a power cut, not only a process kill) and a busy timeout, so readers never
  block the writer and concurrent writers wait instead of failing;
* **transactions** -- pysqlite's implicit transaction handling is switched off and digirec emits
  ``BEGIN`` itself: ``BEGIN IMMEDIATE`` for writes (takes the write lock up front, so two writers
  cannot deadlock upgrading a read lock) and a deferred ``BEGIN`` for reads, which in WAL mode
  gives every multi-statement read one consistent snapshot. PostgreSQL reads that need a
  snapshot run at ``REPEATABLE READ``;
* **upserts** -- ``INSERT ... ON CONFLICT DO UPDATE`` through each dialect's ``insert``.

Every public write is one transaction that has committed when the method returns.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from digirec import columns as C
from digirec.data.schema import coerce_prices
from digirec.exceptions import ConfigError, MissingExtraError
from digirec.store.base import (
    CLIENT_EVENT_ID,
    EVENT_ID,
    ITEM_COLUMNS,
    ClientEventIdConflict,
    DeletedUserError,
    DeletionRecord,
    EventRecord,
    PurgeMode,
    Store,
    StoredEvent,
    StoreSnapshot,
    Tombstone,
    event_records,
    json_safe,
    records_of,
)

#: Longest id the store accepts (the service validates a stricter pattern).
MAX_ID_LENGTH = 256

#: Rows per IN (...) list: below SQLite's and PostgreSQL's bound-parameter limits.
_IN_CHUNK = 900

#: PostgreSQL advisory lock between event writers (shared), deletions and snapshots
#: (exclusive): a deletion never races an insert of the same user's events, and a snapshot's
#: watermark never passes an id whose transaction has not committed yet.
_EVENTS_LOCK = 7_164_220_011

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrement needs INTEGER


def _tables(metadata: sa.MetaData) -> dict[str, sa.Table]:
    items = sa.Table(
        "items",
        metadata,
        sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
        sa.Column(C.ITEM_ID, sa.String(MAX_ID_LENGTH), nullable=False, unique=True),
        sa.Column(C.TITLE, sa.Text),
        sa.Column(C.BRAND, sa.String(512)),
        sa.Column(C.CATEGORY, sa.String(512)),
        sa.Column(C.PRICE, sa.Double),
        sa.Column(C.IN_STOCK, sa.Boolean),
        sa.Column(C.DESCRIPTION, sa.Text),
        sa.Column("extra", sa.JSON),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    users = sa.Table(
        "users",
        metadata,
        sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
        sa.Column(C.USER_ID, sa.String(MAX_ID_LENGTH), nullable=False, unique=True),
        sa.Column("attributes", sa.JSON),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    events = sa.Table(
        "events",
        metadata,
        # AUTOINCREMENT: SQLite never hands out an id again, even after the rows holding the
        # largest ids were deleted (a plain INTEGER PRIMARY KEY reuses max+1); PostgreSQL's
        # BIGSERIAL sequence never goes back either.
        sa.Column(EVENT_ID, _BigId, primary_key=True, autoincrement=True),
        sa.Column(C.USER_ID, sa.String(MAX_ID_LENGTH), nullable=False),
        sa.Column(C.ITEM_ID, sa.String(MAX_ID_LENGTH), nullable=False),
        sa.Column(C.EVENT, sa.String(64), nullable=False),
        sa.Column(C.TIMESTAMP, sa.Double),
        sa.Column(C.RATING, sa.Double),
        sa.Column(C.WEIGHT, sa.Double),
        sa.Column("created_at", sa.Double, nullable=False),
        # The client's own id of the event: a retried batch is stored once (NULLs are many).
        sa.Column(CLIENT_EVENT_ID, sa.String(MAX_ID_LENGTH), unique=True),
        # Per-user reads (history, deletion) are the hot path after full scans.
        sa.Index("ix_events_user", C.USER_ID, EVENT_ID),
        # The trending source counts the events of a time window.
        sa.Index("ix_events_time", C.TIMESTAMP),
        sqlite_autoincrement=True,
    )
    tombstones = sa.Table(
        "tombstones",
        metadata,
        sa.Column(C.USER_ID, sa.String(MAX_ID_LENGTH), primary_key=True),
        sa.Column("deleted_at", sa.Double, nullable=False),
        # Refusals are counted for good: lifting (re-creating the user) keeps the row.
        sa.Column("n_refused", sa.BigInteger, nullable=False, default=0),
        sa.Column("lifted_at", sa.Double),
    )
    deletions = sa.Table(
        "deletions",
        metadata,
        sa.Column("seq", _BigId, primary_key=True, autoincrement=True),
        sa.Column("deletion_id", sa.String(64), nullable=False, unique=True),
        # Kept until purged so a restart on an older bundle can still forget the user.
        sa.Column(C.USER_ID, sa.String(MAX_ID_LENGTH), nullable=False),
        sa.Column("purge", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", sa.Double, nullable=False),
        sa.Column("n_events_deleted", sa.BigInteger, nullable=False),
        sa.Column("purged_at", sa.Double),
        sa.Column("model_version", sa.BigInteger),
    )
    meta = sa.Table(
        "service_meta",
        metadata,
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    return {
        "items": items,
        "users": users,
        "events": events,
        "tombstones": tombstones,
        "deletions": deletions,
        "meta": meta,
    }


def normalise_url(url: str) -> str:
    """Database URL with the driver digirec uses (``postgresql+psycopg``, ``sqlite``).

    ``postgres://`` and ``postgresql://`` (as given by most hosting providers) become
    ``postgresql+psycopg://``; a bare file path becomes ``sqlite:///PATH``.
    """
    if "://" not in url:
        return f"sqlite:///{url}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


class _Dialect:
    """The few things SQLite and PostgreSQL do differently."""

    def __init__(self, engine: Engine) -> None:
        self.name = engine.dialect.name
        if self.name not in ("sqlite", "postgresql"):
            raise ConfigError(f"unsupported database {self.name!r}: use SQLite or PostgreSQL")

    def insert(self, table: sa.Table) -> Any:
        if self.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)

    def setup(self, engine: Engine) -> None:
        if self.name != "sqlite":
            return

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Autocommit at the driver level: transactions are begun explicitly below.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("digirec_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class SQLStore(Store):
    """The store on SQLite or PostgreSQL.

    Parameters
    ----------
    url:
        SQLAlchemy URL: ``sqlite:///path/to/digirec.db`` (the parent folder is created) or
        ``postgresql://user:pass@host:port/db`` (needs ``psycopg``: ``pip install
        'digirec[serve]'``).
    create:
        Create missing tables on open.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = normalise_url(url)
        parsed = sa.engine.make_url(self.url)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:"):
                raise ConfigError(
                    "use a file for the SQLite store (an in-memory one is per thread)"
                )
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = sa.create_engine(self.url, **kwargs)
        except ModuleNotFoundError as exc:  # psycopg missing
            raise MissingExtraError(exc.name or "psycopg", "serve") from None
        self._dialect = _Dialect(self.engine)
        self._dialect.setup(self.engine)
        self.backend = self._dialect.name
        self._metadata = sa.MetaData()
        self._t = _tables(self._metadata)
        if create:
            self.create_schema()

    def __repr__(self) -> str:
        return f"SQLStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(digirec_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if snapshot and self.backend == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    # ------------------------------------------------------------------ lifecycle
    def create_schema(self) -> None:
        with self._write() as conn:
            self._migrate(conn)
            self._metadata.create_all(conn, checkfirst=True)

    def _migrate(self, conn: Connection) -> None:
        """Bring an events table of an older digirec up to date (idempotent).

        Older SQLite stores declared ``INTEGER PRIMARY KEY`` without ``AUTOINCREMENT``, which
        reuses ids after a delete: the table is rebuilt with ``AUTOINCREMENT`` (ids kept, the
        counter starts above the largest). Older stores of both kinds lack the
        ``client_event_id`` column (added with its unique index) and the timestamp index of
        the trending source (created).
        """
        inspector = sa.inspect(conn)
        if not inspector.has_table("events"):
            return
        columns = {c["name"] for c in inspector.get_columns("events")}
        if self.backend == "sqlite":
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type='table' AND name='events'"
            ).scalar_one()
            if "AUTOINCREMENT" not in str(sql).upper():
                keep = [c for c in columns if c in self._t["events"].c]
                names = ", ".join(f'"{c}"' for c in keep)
                conn.exec_driver_sql("DROP INDEX IF EXISTS ix_events_user")
                conn.exec_driver_sql("DROP INDEX IF EXISTS ix_events_time")
                conn.exec_driver_sql("ALTER TABLE events RENAME TO events_pre_autoincrement")
                self._t["events"].create(conn)
                conn.exec_driver_sql(
                    f"INSERT INTO events ({names}) SELECT {names} FROM events_pre_autoincrement"
                )
                conn.exec_driver_sql("DROP TABLE events_pre_autoincrement")
                return
        if CLIENT_EVENT_ID not in columns:
            conn.exec_driver_sql(
                f"ALTER TABLE events ADD COLUMN {CLIENT_EVENT_ID} VARCHAR({MAX_ID_LENGTH})"
            )
            conn.exec_driver_sql(
                f"CREATE UNIQUE INDEX IF NOT EXISTS ux_events_{CLIENT_EVENT_ID} "
                f"ON events ({CLIENT_EVENT_ID})"
            )
        # The trending source's window scans (added after the first release).
        conn.exec_driver_sql(
            f'CREATE INDEX IF NOT EXISTS ix_events_time ON events ("{C.TIMESTAMP}")'
        )

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:  # any driver error means "not reachable"
            return False

    def close(self) -> None:
        self.engine.dispose()

    def is_empty(self) -> bool:
        with self._read() as conn:
            for name in ("items", "users", "events"):
                if conn.execute(
                    sa.select(sa.literal(1)).select_from(self._t[name]).limit(1)
                ).first():
                    return False
        return True

    # ------------------------------------------------------------------ catalogue
    def upsert_items(self, items: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[bool]:
        now = time.time()
        rows = []
        for rec in records_of(items):
            item_id = _check_id(rec.pop(C.ITEM_ID, None), C.ITEM_ID)
            row: dict[str, Any] = {C.ITEM_ID: item_id, "updated_at": now}
            for col in ITEM_COLUMNS:
                row[col] = rec.pop(col, None)
            row[C.IN_STOCK] = _opt_bool(row[C.IN_STOCK])
            for col in (C.TITLE, C.BRAND, C.CATEGORY, C.DESCRIPTION):
                row[col] = None if row[col] is None else str(row[col])
            row["extra"] = rec or None
            rows.append(row)
        # The one price rule, on the whole batch at once (NaN: no price).
        prices = coerce_prices([json_safe(row[C.PRICE]) for row in rows])
        for row, price in zip(rows, prices.tolist(), strict=True):
            row[C.PRICE] = None if math.isnan(price) else price
        return self._upsert(self._t["items"], C.ITEM_ID, rows)

    def delete_item(self, item_id: str) -> bool:
        table = self._t["items"]
        with self._write() as conn:
            result = conn.execute(sa.delete(table).where(table.c[C.ITEM_ID] == item_id))
        return bool(result.rowcount)

    def get_item(self, item_id: str) -> dict[str, Any] | None:
        table = self._t["items"]
        with self._read() as conn:
            row = conn.execute(sa.select(table).where(table.c[C.ITEM_ID] == item_id)).mappings()
            first = row.first()
        return None if first is None else _item_dict(first)

    def items_frame(self) -> pd.DataFrame | None:
        with self._read() as conn:
            return self._items_frame(conn)

    def _items_frame(self, conn: Connection) -> pd.DataFrame | None:
        table = self._t["items"]
        rows = conn.execute(sa.select(table).order_by(table.c.seq)).mappings().all()
        if not rows:
            return None
        frame = pd.DataFrame([_item_dict(r) for r in rows])
        frame[C.ITEM_ID] = frame[C.ITEM_ID].astype(object)
        frame[C.PRICE] = coerce_prices(frame[C.PRICE])
        frame[C.IN_STOCK] = frame[C.IN_STOCK].astype("boolean")
        return frame

    # ------------------------------------------------------------------ users
    def upsert_users(self, users: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[bool]:
        now = time.time()
        rows = []
        for rec in records_of(users):
            user_id = _check_id(rec.pop(C.USER_ID, None), C.USER_ID)
            rows.append({C.USER_ID: user_id, "attributes": rec or None, "updated_at": now})
        return self._upsert(self._t["users"], C.USER_ID, rows, clear_tombstones=True)

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        table = self._t["users"]
        with self._read() as conn:
            row = conn.execute(
                sa.select(table.c.attributes).where(table.c[C.USER_ID] == user_id)
            ).first()
        if row is None:
            return None
        return {C.USER_ID: user_id, **(row[0] or {})}

    def users_frame(self) -> pd.DataFrame | None:
        with self._read() as conn:
            return self._users_frame(conn)

    def _users_frame(self, conn: Connection) -> pd.DataFrame | None:
        table = self._t["users"]
        rows = conn.execute(
            sa.select(table.c[C.USER_ID], table.c.attributes).order_by(table.c.seq)
        ).all()
        if not rows:
            return None
        frame = pd.DataFrame([{C.USER_ID: uid, **(attrs or {})} for uid, attrs in rows])
        frame[C.USER_ID] = frame[C.USER_ID].astype(object)
        return frame

    def _upsert(
        self,
        table: sa.Table,
        key: str,
        rows: list[dict[str, Any]],
        *,
        clear_tombstones: bool = False,
    ) -> list[bool]:
        if not rows:
            return []
        # Last write wins inside one batch; report "created" once per new id.
        ids = [r[key] for r in rows]
        with self._write() as conn:
            existing: set[str] = set()
            unique_ids = list(dict.fromkeys(ids))
            for start in range(0, len(unique_ids), _IN_CHUNK):
                chunk = unique_ids[start : start + _IN_CHUNK]
                found = conn.execute(sa.select(table.c[key]).where(table.c[key].in_(chunk)))
                existing.update(r[0] for r in found)
            stmt = self._dialect.insert(table)
            updated = {c: stmt.excluded[c] for c in rows[0] if c != key}
            stmt = stmt.on_conflict_do_update(index_elements=[key], set_=updated)
            deduped = list({r[key]: r for r in rows}.values())
            conn.execute(stmt, deduped)
            if clear_tombstones:
                # Creating a user again is the explicit act that lifts a deletion's tombstone.
                self._lock_events(conn, exclusive=True)
                tomb = self._t["tombstones"]
                for start in range(0, len(unique_ids), _IN_CHUNK):
                    chunk = unique_ids[start : start + _IN_CHUNK]
                    conn.execute(
                        sa.update(tomb)
                        .where(tomb.c[C.USER_ID].in_(chunk), tomb.c.lifted_at.is_(None))
                        .values(lifted_at=time.time())
                    )
        seen: set[str] = set()
        created = []
        for item_id in ids:
            created.append(item_id not in existing and item_id not in seen)
            seen.add(item_id)
        return created

    # ------------------------------------------------------------------ events
    def _lock_events(self, conn: Connection, *, exclusive: bool) -> None:
        """PostgreSQL: the advisory lock of :data:`_EVENTS_LOCK` for this transaction.

        SQLite needs none: ``BEGIN IMMEDIATE`` already serialises every writer.
        """
        if self.backend != "postgresql":
            return
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        conn.execute(sa.text(f"SELECT {function}(:key)"), {"key": _EVENTS_LOCK})

    def add_events(self, events: Sequence[EventRecord] | pd.DataFrame) -> list[StoredEvent]:
        records = event_records(events)
        if not records:
            return []
        now = time.time()
        rows = [
            {
                C.USER_ID: _check_id(e.user_id, C.USER_ID),
                C.ITEM_ID: _check_id(e.item_id, C.ITEM_ID),
                C.EVENT: e.event,
                C.TIMESTAMP: _opt_number(e.timestamp),
                C.RATING: _opt_number(e.rating),
                C.WEIGHT: _opt_number(e.weight),
                "created_at": now,
                CLIENT_EVENT_ID: None
                if e.client_event_id is None
                else _check_id(e.client_event_id, CLIENT_EVENT_ID),
            }
            for e in records
        ]
        try:
            return self._add_rows(records, rows)
        except sa.exc.IntegrityError:
            # Two concurrent retries of one client_event_id (PostgreSQL): the loser's insert
            # hit the unique index after the winner committed; run again, it is a duplicate.
            return self._add_rows(records, rows)

    def _add_rows(
        self, records: list[EventRecord], rows: list[dict[str, Any]]
    ) -> list[StoredEvent]:
        table, tomb = self._t["events"], self._t["tombstones"]
        refused: DeletedUserError | None = None
        existing: dict[str, dict[str, Any]] = {}
        unique_fresh: list[dict[str, Any]] = []
        ids: list[int] = []
        with self._write() as conn:
            self._lock_events(conn, exclusive=False)
            users = list(dict.fromkeys(r[C.USER_ID] for r in rows))
            deleted: set[str] = set()
            for start in range(0, len(users), _IN_CHUNK):
                chunk = users[start : start + _IN_CHUNK]
                found = conn.execute(
                    sa.select(tomb.c[C.USER_ID]).where(
                        tomb.c[C.USER_ID].in_(chunk), tomb.c.lifted_at.is_(None)
                    )
                )
                deleted.update(r[0] for r in found)
            if deleted:
                counts: dict[str, int] = {}
                first: dict[str, int] = {}
                for i, r in enumerate(rows):
                    if r[C.USER_ID] in deleted:
                        counts[r[C.USER_ID]] = counts.get(r[C.USER_ID], 0) + 1
                        first.setdefault(r[C.USER_ID], i)
                for user_id, n in counts.items():
                    conn.execute(
                        sa.update(tomb)
                        .where(tomb.c[C.USER_ID] == user_id)
                        .values(n_refused=tomb.c.n_refused + n)
                    )
                refused = DeletedUserError(list(first), list(first.values()))
            else:
                existing = self._existing_client_ids(conn, rows)
                for i, row in enumerate(rows):
                    prior = existing.get(row[CLIENT_EVENT_ID] or "")
                    if prior is not None and any(
                        prior[c] != row[c] for c in (C.USER_ID, C.ITEM_ID, C.EVENT)
                    ):
                        # Raised inside the transaction: nothing of the batch is stored.
                        raise ClientEventIdConflict(str(row[CLIENT_EVENT_ID]), i)
                fresh = [
                    r
                    for r in rows
                    if r[CLIENT_EVENT_ID] is None or r[CLIENT_EVENT_ID] not in existing
                ]
                # One id per client id inside the batch too (a batch that repeats itself).
                seen_in_batch: set[str] = set()
                for r in fresh:
                    cid = r[CLIENT_EVENT_ID]
                    if cid is not None and cid in seen_in_batch:
                        continue
                    if cid is not None:
                        seen_in_batch.add(cid)
                    unique_fresh.append(r)
                if unique_fresh:
                    # One multi-row INSERT ... RETURNING; ids come back in parameter order.
                    result = conn.execute(
                        sa.insert(table).returning(table.c[EVENT_ID], sort_by_parameter_order=True),
                        unique_fresh,
                    )
                    ids = [int(r[0]) for r in result]
        if refused is not None:
            # The refusal count committed; nothing of the batch was stored.
            raise refused
        # Only reached after the commit: the caller may acknowledge these events now.
        assigned = {id(r): i for r, i in zip(unique_fresh, ids, strict=True)}
        by_client = {
            r[CLIENT_EVENT_ID]: i
            for r, i in zip(unique_fresh, ids, strict=True)
            if r[CLIENT_EVENT_ID]
        }
        out: list[StoredEvent] = []
        for e, row in zip(records, rows, strict=True):
            cid = row[CLIENT_EVENT_ID]
            if id(row) in assigned:
                out.append(_stored(e, assigned[id(row)], duplicate=False))
                continue
            if cid in existing:
                out.append(existing[cid]["stored"])
            else:  # repeated inside this batch
                out.append(_stored(e, by_client[cid], duplicate=True))
        return out

    def _existing_client_ids(
        self, conn: Connection, rows: list[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        table = self._t["events"]
        wanted = list(dict.fromkeys(r[CLIENT_EVENT_ID] for r in rows if r[CLIENT_EVENT_ID]))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            result = conn.execute(
                sa.select(*self._event_columns(), table.c[CLIENT_EVENT_ID]).where(
                    table.c[CLIENT_EVENT_ID].in_(chunk)
                )
            )
            for values in result:
                user, item, ts, kind, rating, weight, event_id, cid = tuple(values)
                found[str(cid)] = {
                    C.USER_ID: user,
                    C.ITEM_ID: item,
                    C.EVENT: kind,
                    "stored": StoredEvent(
                        user_id=user,
                        item_id=item,
                        event=kind,
                        timestamp=float("nan") if ts is None else float(ts),
                        rating=rating,
                        weight=weight,
                        client_event_id=str(cid),
                        event_id=int(event_id),
                        duplicate=True,
                    ),
                }
        return found

    def tombstone(self, user_id: str) -> Tombstone | None:
        tomb = self._t["tombstones"]
        with self._read() as conn:
            row = conn.execute(
                sa.select(tomb.c[C.USER_ID], tomb.c.deleted_at, tomb.c.n_refused).where(
                    tomb.c[C.USER_ID] == user_id, tomb.c.lifted_at.is_(None)
                )
            ).first()
        if row is None:
            return None
        return Tombstone(user_id=row[0], deleted_at=float(row[1]), n_refused=int(row[2]))

    def n_refused_events(self) -> int:
        tomb = self._t["tombstones"]
        with self._read() as conn:
            value = conn.execute(sa.select(sa.func.sum(tomb.c.n_refused))).scalar_one()
        return int(value or 0)

    def user_events(self, user_id: str, *, limit: int | None = None) -> pd.DataFrame:
        table = self._t["events"]
        query = sa.select(*self._event_columns()).where(table.c[C.USER_ID] == user_id)
        if limit is not None:
            query = query.order_by(table.c[EVENT_ID].desc()).limit(limit)
        else:
            query = query.order_by(table.c[EVENT_ID])
        with self._read() as conn:
            rows = conn.execute(query).all()
        if limit is not None:
            rows = rows[::-1]
        return _events_frame(rows)

    def user_item_events(self, user_id: str) -> list[tuple[str, str]]:
        table = self._t["events"]
        query = (
            sa.select(table.c[C.ITEM_ID], table.c[C.EVENT])
            .where(table.c[C.USER_ID] == user_id)
            .order_by(table.c[EVENT_ID])
        )
        # Plain tuples, no DataFrame: on the explain path the frame cost more than the query.
        with self._read() as conn:
            return [(str(item), str(event)) for item, event in conn.execute(query)]

    def interactions_frame(self, *, after_id: int = 0) -> pd.DataFrame:
        with self._read() as conn:
            return self._interactions(conn, after_id)

    def _event_columns(self) -> list[sa.Column[Any]]:
        table = self._t["events"]
        names = (C.USER_ID, C.ITEM_ID, C.TIMESTAMP, C.EVENT, C.RATING, C.WEIGHT, EVENT_ID)
        return [table.c[n] for n in names]

    def _interactions(
        self, conn: Connection, after_id: int, *, upper: int | None = None
    ) -> pd.DataFrame:
        table = self._t["events"]
        query = sa.select(*self._event_columns()).where(table.c[EVENT_ID] > after_id)
        if upper is not None:
            query = query.where(table.c[EVENT_ID] <= upper)
        rows = conn.execute(query.order_by(table.c[EVENT_ID])).all()
        return _events_frame(rows)

    def count_events(self, user_id: str | None = None) -> int:
        table = self._t["events"]
        query = sa.select(sa.func.count()).select_from(table)
        if user_id is not None:
            query = query.where(table.c[C.USER_ID] == user_id)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    def max_event_id(self) -> int:
        table = self._t["events"]
        with self._read() as conn:
            value = conn.execute(sa.select(sa.func.max(table.c[EVENT_ID]))).scalar_one()
        return int(value or 0)

    # ------------------------------------------------------------------ evidence
    def purchase_pairs(self, purchase_events: Sequence[str] = ("purchase",)) -> pd.DataFrame:
        from digirec.evidence import _event_types

        table = self._t["events"]
        types = _event_types(purchase_events)
        query = (
            sa.select(table.c[C.USER_ID], table.c[C.ITEM_ID])
            .where(sa.func.lower(table.c[C.EVENT]).in_(types))
            .distinct()
            .order_by(table.c[C.USER_ID], table.c[C.ITEM_ID])
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame(
            {
                C.USER_ID: np.asarray([r[0] for r in rows], dtype=object),
                C.ITEM_ID: np.asarray([r[1] for r in rows], dtype=object),
            }
        )

    def window_counts(self, start: float, end: float) -> pd.DataFrame:
        from digirec.evidence import N_EVENTS, N_USERS

        table = self._t["events"]
        ts = table.c[C.TIMESTAMP]
        query = (
            sa.select(
                table.c[C.ITEM_ID],
                sa.func.count(sa.distinct(table.c[C.USER_ID])),
                sa.func.count(),
            )
            .where(ts >= float(start), ts <= float(end))
            .group_by(table.c[C.ITEM_ID])
            .order_by(table.c[C.ITEM_ID])
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame(
            {
                C.ITEM_ID: pd.Series([str(r[0]) for r in rows], dtype=object),
                N_USERS: np.asarray([int(r[1]) for r in rows], dtype=np.int64),
                N_EVENTS: np.asarray([int(r[2]) for r in rows], dtype=np.int64),
            }
        )

    # ------------------------------------------------------------------ privacy
    def delete_user(self, user_id: str, *, purge: PurgeMode) -> DeletionRecord:
        events, users, deletions = self._t["events"], self._t["users"], self._t["deletions"]
        now = time.time()
        deletion_id = uuid.uuid4().hex
        tomb = self._t["tombstones"]
        with self._write() as conn:
            # Exclusive: no event insert of this user is in flight while the rows go.
            self._lock_events(conn, exclusive=True)
            n_events = conn.execute(
                sa.delete(events).where(events.c[C.USER_ID] == user_id)
            ).rowcount
            conn.execute(sa.delete(users).where(users.c[C.USER_ID] == user_id))
            # The tombstone refuses later events of the user until they are created again.
            conn.execute(sa.delete(tomb).where(tomb.c[C.USER_ID] == user_id))
            conn.execute(sa.insert(tomb), {C.USER_ID: user_id, "deleted_at": now, "n_refused": 0})
            seq = conn.execute(
                sa.insert(deletions).returning(deletions.c.seq),
                {
                    "deletion_id": deletion_id,
                    C.USER_ID: user_id,
                    "purge": purge,
                    "status": "pending",
                    "requested_at": now,
                    "n_events_deleted": int(n_events or 0),
                },
            ).scalar_one()
        return DeletionRecord(
            deletion_id=deletion_id,
            seq=int(seq),
            user_id=user_id,
            purge=purge,
            status="pending",
            requested_at=now,
            n_events_deleted=int(n_events or 0),
        )

    def get_deletion(self, deletion_id: str) -> DeletionRecord | None:
        table = self._t["deletions"]
        with self._read() as conn:
            row = (
                conn.execute(sa.select(table).where(table.c.deletion_id == deletion_id))
                .mappings()
                .first()
            )
        return None if row is None else _deletion(row)

    def deletions(self, *, after_seq: int = 0, status: str | None = None) -> list[DeletionRecord]:
        table = self._t["deletions"]
        query = sa.select(table).where(table.c.seq > after_seq).order_by(table.c.seq)
        if status is not None:
            query = query.where(table.c.status == status)
        with self._read() as conn:
            return [_deletion(r) for r in conn.execute(query).mappings()]

    def mark_purged(self, *, up_to_seq: int, model_version: int) -> int:
        table = self._t["deletions"]
        with self._write() as conn:
            result = conn.execute(
                sa.update(table)
                .where(table.c.status == "pending", table.c.seq <= up_to_seq)
                .values(status="purged", purged_at=time.time(), model_version=model_version)
            )
        return int(result.rowcount or 0)

    # ------------------------------------------------------------------ snapshot / meta
    def snapshot(self) -> StoreSnapshot:
        deletions, events = self._t["deletions"], self._t["events"]
        upper: int | None = None
        if self.backend == "postgresql":
            # Wait for the event transactions in flight, then read the largest id: every id
            # up to it has committed (or never will), and later ones get larger ids. The
            # snapshot below reads up to that bound, so its watermark is exact.
            with self._write() as conn:
                self._lock_events(conn, exclusive=True)
                upper = int(conn.execute(sa.select(sa.func.max(events.c[EVENT_ID]))).scalar() or 0)
        with self._read(snapshot=True) as conn:
            interactions = self._interactions(conn, 0, upper=upper)
            items = self._items_frame(conn)
            users = self._users_frame(conn)
            seq = conn.execute(sa.select(sa.func.max(deletions.c.seq))).scalar_one()
        return StoreSnapshot(
            interactions=interactions,
            items=items,
            users=users,
            event_ids=np.sort(interactions[EVENT_ID].to_numpy(dtype=np.int64)),
            deletion_seq=int(seq or 0),
        )

    def get_meta(self, key: str) -> str | None:
        table = self._t["meta"]
        with self._read() as conn:
            row = conn.execute(sa.select(table.c.value).where(table.c.key == key)).first()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        table = self._t["meta"]
        stmt = self._dialect.insert(table).values(key=key, value=value)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value})
        with self._write() as conn:
            conn.execute(stmt)


# ---------------------------------------------------------------------- row helpers
def _check_id(value: Any, field: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise ValueError(f"{field} is missing")
    text = str(value)
    if not text or len(text) > MAX_ID_LENGTH:
        raise ValueError(f"{field} must have 1..{MAX_ID_LENGTH} characters")
    return text


def _opt_number(value: Any) -> float | None:
    value = json_safe(value)
    if value is None:
        return None
    return float(value)


def _opt_bool(value: Any) -> bool | None:
    value = json_safe(value)
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "t")
    return bool(value)


def _item_dict(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {C.ITEM_ID: row[C.ITEM_ID]}
    for col in ITEM_COLUMNS:
        out[col] = row[col]
    for key, value in (row["extra"] or {}).items():
        out.setdefault(key, value)
    return out


def _events_frame(rows: Sequence[Any]) -> pd.DataFrame:
    n = len(rows)
    cols = list(zip(*rows, strict=True)) if n else [()] * 7
    frame = pd.DataFrame(
        {
            C.USER_ID: np.asarray(cols[0], dtype=object),
            C.ITEM_ID: np.asarray(cols[1], dtype=object),
            C.TIMESTAMP: np.asarray([np.nan if v is None else v for v in cols[2]], dtype=float),
            C.EVENT: np.asarray(cols[3], dtype=object),
            C.RATING: np.asarray([np.nan if v is None else v for v in cols[4]], dtype=float),
            C.WEIGHT: np.asarray([np.nan if v is None else v for v in cols[5]], dtype=float),
            C.SOURCE_ROW: np.arange(n, dtype=np.int64),
            EVENT_ID: np.asarray(cols[6], dtype=np.int64),
        }
    )
    return frame


def _stored(event: EventRecord, event_id: int, *, duplicate: bool) -> StoredEvent:
    return StoredEvent(
        user_id=event.user_id,
        item_id=event.item_id,
        event=event.event,
        timestamp=event.timestamp,
        rating=event.rating,
        weight=event.weight,
        client_event_id=event.client_event_id,
        event_id=event_id,
        duplicate=duplicate,
    )


def _deletion(row: Any) -> DeletionRecord:
    return DeletionRecord(
        deletion_id=row["deletion_id"],
        seq=int(row["seq"]),
        user_id=row[C.USER_ID],
        purge=row["purge"],
        status=row["status"],
        requested_at=float(row["requested_at"]),
        n_events_deleted=int(row["n_events_deleted"]),
        purged_at=None if row["purged_at"] is None else float(row["purged_at"]),
        model_version=None if row["model_version"] is None else int(row["model_version"]),
    )
