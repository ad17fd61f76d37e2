"""Dataset: id maps, chronologically ordered interactions and the one users x items matrix.

``Dataset`` is the single place where external ids become internal indices and where the
users x items CSR matrix is built. Every model and every evaluation reads interactions through
it, so there is exactly one orientation (rows = users, columns = items) and one ordering rule:
each user's events are sorted by timestamp with a stable sort, ties keep the source file order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from digirec import columns as C
from digirec.data.events import (
    TRAINING_DUPLICATES,
    DuplicatePolicy,
    EventWeights,
    check_duplicates,
)
from digirec.data.idmap import IdMap, IdType
from digirec.data.schema import Table, validate_table
from digirec.data.tables import LoadReport, RawData
from digirec.exceptions import SchemaError

#: Column names other libraries use, mapped onto digirec's (RecTools' ``Columns.Datetime`` is
#: ``"datetime"``; ``Columns.User``/``Item``/``Weight`` already match).
COLUMN_ALIASES: dict[str, str] = {
    "datetime": C.TIMESTAMP,
    "ts": C.TIMESTAMP,
    "time": C.TIMESTAMP,
    "date": C.TIMESTAMP,
    "user": C.USER_ID,
    "userid": C.USER_ID,
    "item": C.ITEM_ID,
    "itemid": C.ITEM_ID,
    "event_type": C.EVENT,
}

#: The ``file`` named in errors about an in-memory frame; rows are 1-based positions.
FRAME_SOURCE = "DataFrame"


@dataclass(frozen=True)
class DatasetStats:
    """Counts that describe how a dataset was built (nothing is dropped without a count here).

    Attributes
    ----------
    n_raw_interactions:
        Rows given (after the loader's own bad-row handling).
    n_duplicates_merged:
        Rows folded into another row of the same (user, item) pair by ``duplicates``.
    duplicates:
        The repeated-pair rule.
    n_unknown_events_skipped:
        Rows dropped because their event type had no weight (``unknown_events="skip"``).
    skipped_events:
        Those rows per event type.
    raw_events:
        Rows per event type before merging (what the log holds).
    notes:
        Column aliases mapped and similar remarks.
    """

    n_raw_interactions: int
    n_duplicates_merged: int
    duplicates: str
    n_unknown_events_skipped: int = 0
    skipped_events: dict[str, int] = field(default_factory=dict)
    raw_events: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Dataset:
    """Interactions with id maps and optional item / user feature tables.

    Attributes
    ----------
    user_map, item_map:
        External id <-> internal index maps. The item map may hold catalogue items that have no
        interaction (cold items); they are ranked like every other item.
    interactions:
        One row per kept interaction with columns ``user_idx``, ``item_idx``, ``weight``,
        ``timestamp`` (NaN when unknown), ``source_row`` and, when present, ``rating`` and
        ``event``. Rows are grouped by user and, within a user, in chronological order.
        ``source_row`` is the row's position in the caller's frame (or the read order of the
        files), so ``frame.iloc[ds.interactions["source_row"]]`` finds the original rows.
    items:
        Catalogue table aligned with ``item_map``: row ``i`` describes ``item_idx == i``
        (columns ``item_id`` + attributes), or ``None``.
    users:
        User attribute table aligned with ``user_map`` likewise, or ``None``.
    """

    user_map: IdMap
    item_map: IdMap
    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    name: str = "dataset"
    stats: DatasetStats | None = None
    extras: dict[str, object] = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_raw(
        cls,
        raw: RawData,
        *,
        event_weights: EventWeights | None = None,
        duplicates: DuplicatePolicy = TRAINING_DUPLICATES,
        include_catalog_items: bool = False,
    ) -> Dataset:
        """Build a dataset from loader output (already validated by the loader).

        Parameters
        ----------
        raw:
            Output of :func:`digirec.data.load.load_data` or the synthetic shop.
        event_weights:
            How event types / explicit weights / time decay become weights (default weights),
            and what happens to event types without a weight.
        duplicates:
            How the events of one (user, item) pair combine, after chronological ordering:
            ``"max"`` (default, the training rule) keeps the pair's first occurrence as its
            position in time, with the largest weight of its events and that event's type (a
            view then a purchase counts as a purchase); ``"sum"`` likewise with the summed
            weights; ``"first"`` keeps the first occurrence with its own weight (the
            leave-one-out protocol: the target is a pair's first occurrence); ``"last"`` the
            last occurrence; ``"keep"`` keeps all rows (the matrix then sums them).
        include_catalog_items:
            Also index catalogue items that have no interaction (needed to recommend new items by
            content); the benchmark protocol ranks interacted items only.
        """
        return cls._build(
            raw.interactions,
            items=raw.items,
            users=raw.users,
            name=raw.name,
            event_weights=event_weights,
            duplicates=duplicates,
            include_catalog_items=include_catalog_items,
            extras=dict(raw.extras),
        )

    @classmethod
    def from_interactions(
        cls,
        interactions: pd.DataFrame,
        *,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        name: str = "dataset",
        event_weights: EventWeights | None = None,
        duplicates: DuplicatePolicy = TRAINING_DUPLICATES,
        include_catalog_items: bool = False,
        extras: dict[str, object] | None = None,
    ) -> Dataset:
        """Build a dataset from a caller's interactions frame, validated like a file.

        The frame goes through the file loaders' validator
        (:func:`digirec.data.schema.validate_table`): ``timestamp`` may be datetime64 (any
        unit, naive = UTC), ISO-8601 strings, or unix seconds / milliseconds; empty or NaN ids,
        unparseable times and negative or non-numeric ``weight`` / ``rating`` raise
        :class:`~digirec.exceptions.SchemaError` naming the row (1-based position in the
        frame) and the field. Common column aliases (:data:`COLUMN_ALIASES`, e.g. RecTools'
        ``datetime``, ``user``, ``item``) are renamed, with a note in ``stats.notes``; an
        alias next to its canonical column is refused. Integer id columns give integer ids
        back from ``recommend`` (see :class:`~digirec.data.idmap.IdMap`). ``items`` /
        ``users`` are validated as catalogue / users tables. Other parameters as in
        :meth:`from_raw`.
        """
        frame, notes, id_types = validate_frame(interactions, "interactions")
        items_frame = validate_frame(items, "items")[0] if items is not None else None
        users_frame = validate_frame(users, "users")[0] if users is not None else None
        return cls._build(
            frame,
            items=items_frame,
            users=users_frame,
            name=name,
            event_weights=event_weights,
            duplicates=duplicates,
            include_catalog_items=include_catalog_items,
            extras=extras,
            notes=notes,
            id_types=id_types,
        )

    @classmethod
    def _build(
        cls,
        interactions: pd.DataFrame,
        *,
        items: pd.DataFrame | None,
        users: pd.DataFrame | None,
        name: str,
        event_weights: EventWeights | None,
        duplicates: DuplicatePolicy,
        include_catalog_items: bool,
        extras: dict[str, object] | None,
        notes: Sequence[str] = (),
        id_types: Mapping[str, IdType] | None = None,
    ) -> Dataset:
        """Map ids, weight, order and merge validated canonical frames."""
        duplicates = check_duplicates(duplicates)
        for col in (C.USER_ID, C.ITEM_ID):
            if col not in interactions.columns:
                raise SchemaError("required column is missing", field=col)
        weights_rule = event_weights or EventWeights()
        frame = interactions.reset_index(drop=True)
        n_raw = len(frame)
        raw_events: dict[str, int] = {}
        if C.EVENT in frame.columns:
            counts = frame[C.EVENT].value_counts(dropna=False)
            raw_events = {str(k): int(v) for k, v in counts.items()}
        weight = weights_rule.row_weights(frame)
        skipped_events: dict[str, int] = {}
        skip = weights_rule.unknown_events == "skip"
        unknown = weights_rule.unknown_mask(frame) if skip else None
        if unknown is not None and unknown.any():
            counts = frame.loc[unknown, C.EVENT].astype(str).value_counts()
            skipped_events = {str(k): int(v) for k, v in counts.items()}
            if C.SOURCE_ROW not in frame.columns:
                frame[C.SOURCE_ROW] = np.arange(n_raw, dtype=np.int64)
            frame = frame.loc[~unknown].reset_index(drop=True)
            weight = weight[~unknown]
        n_rows = len(frame)
        # One hash pass per id column: pandas' codes, in order of first appearance, are the
        # indices IdMap.from_values gives, without a Python string per row (10M-row logs).
        user_codes, user_uniques = pd.factorize(frame[C.USER_ID].astype(str))
        item_codes, item_uniques = pd.factorize(frame[C.ITEM_ID].astype(str))
        source_row = (
            frame[C.SOURCE_ROW].to_numpy(dtype=np.int64)
            if C.SOURCE_ROW in frame.columns
            else np.arange(n_rows, dtype=np.int64)
        )
        timestamp = (
            frame[C.TIMESTAMP].to_numpy(dtype=np.float64)
            if C.TIMESTAMP in frame.columns
            else np.full(n_rows, np.nan)
        )

        types = dict(id_types or {})
        user_map = IdMap(user_uniques, kind="user", id_type=types.get(C.USER_ID, "str"))
        if users is not None and include_catalog_items:
            user_map = user_map.extend(users[C.USER_ID].astype(str))
        item_map = IdMap(item_uniques, kind="item", id_type=types.get(C.ITEM_ID, "str"))
        if items is not None and include_catalog_items:
            item_map = item_map.extend(items[C.ITEM_ID].astype(str))
        user_idx = np.asarray(user_codes, dtype=np.int64)
        item_idx = np.asarray(item_codes, dtype=np.int64)

        # Stable chronological order inside each user: by timestamp (unknown last), then by the
        # source file order. np.lexsort sorts by the last key first.
        ts_key = np.where(np.isnan(timestamp), np.inf, timestamp)
        order = np.lexsort((source_row, ts_key, user_idx))
        table = pd.DataFrame(
            {
                C.USER_IDX: user_idx[order],
                C.ITEM_IDX: item_idx[order],
                C.WEIGHT: weight[order],
                C.TIMESTAMP: timestamp[order],
                C.SOURCE_ROW: source_row[order],
            }
        )
        for optional in (C.RATING, C.EVENT):
            if optional in frame.columns:
                table[optional] = frame[optional].to_numpy()[order]
        table, n_merged = merge_duplicates(table, duplicates)

        return cls(
            user_map=user_map,
            item_map=item_map,
            interactions=table,
            items=_align(items, C.ITEM_ID, item_map),
            users=_align(users, C.USER_ID, user_map),
            name=name,
            stats=DatasetStats(
                n_raw,
                n_merged,
                duplicates,
                n_unknown_events_skipped=int(sum(skipped_events.values())),
                skipped_events=skipped_events,
                raw_events=raw_events,
                notes=tuple(notes),
            ),
            extras=extras or {},
        )

    # ------------------------------------------------------------------ views
    @property
    def n_users(self) -> int:
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)

    @property
    def n_interactions(self) -> int:
        return len(self.interactions)

    @cached_property
    def user_idx(self) -> NDArray[np.int64]:
        return np.asarray(self.interactions[C.USER_IDX], dtype=np.int64)

    @cached_property
    def item_idx(self) -> NDArray[np.int64]:
        return np.asarray(self.interactions[C.ITEM_IDX], dtype=np.int64)

    def user_item_matrix(self, *, binary: bool = False) -> sp.csr_matrix:
        """The users x items CSR matrix (float32). Repeated pairs sum their weights.

        ``binary=True`` gives 1.0 for every observed pair. This is the only place digirec builds
        an interaction matrix.
        """
        values = (
            np.ones(self.n_interactions, dtype=np.float32)
            if binary
            else self.interactions[C.WEIGHT].to_numpy(dtype=np.float32)
        )
        matrix = sp.csr_matrix(
            (values, (self.user_idx, self.item_idx)),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return matrix

    def subset(self, mask: NDArray[np.bool_]) -> Dataset:
        """The same id maps and feature tables with only the masked interaction rows."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n_interactions,):
            raise ValueError(f"mask must have shape ({self.n_interactions},), got {mask.shape}")
        return Dataset(
            user_map=self.user_map,
            item_map=self.item_map,
            interactions=self.interactions[mask].reset_index(drop=True),
            items=self.items,
            users=self.users,
            name=self.name,
            stats=self.stats,
            extras=self.extras,
        )

    def item_column(self, column: str) -> NDArray[np.object_] | None:
        """Values of one catalogue column aligned with ``item_idx`` (``None`` if absent)."""
        if self.items is None or column not in self.items.columns:
            return None
        return np.asarray(self.items[column], dtype=object)

    def item_codes(self, column: str) -> NDArray[np.int64] | None:
        """Integer codes of a categorical catalogue column by ``item_idx`` (-1 = missing)."""
        values = self.item_column(column)
        if values is None:
            return None
        codes, _ = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64)

    def describe(self) -> dict[str, object]:
        """Summary statistics: counts, density, per-user / per-item distribution, time span."""
        per_user = np.bincount(self.user_idx, minlength=self.n_users)
        per_item = np.bincount(self.item_idx, minlength=self.n_items)
        ts = self.interactions[C.TIMESTAMP].to_numpy(dtype=np.float64)
        known = ts[~np.isnan(ts)]
        info: dict[str, object] = {
            "name": self.name,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_interactions": self.n_interactions,
            "density": self.n_interactions / max(1, self.n_users * self.n_items),
            "interactions_per_user": _distribution(per_user),
            "interactions_per_item": _distribution(per_item),
            "n_items_without_interactions": int((per_item == 0).sum()),
            "time_span": None,
        }
        if known.size:
            start = pd.Timestamp(known.min(), unit="s").isoformat()
            end = pd.Timestamp(known.max(), unit="s").isoformat()
            info["time_span"] = {
                "start": start,
                "end": end,
                "days": float((known.max() - known.min()) / 86_400.0),
            }
        if self.stats is not None:
            info["n_raw_interactions"] = self.stats.n_raw_interactions
            info["n_duplicates_merged"] = self.stats.n_duplicates_merged
            info["duplicates_policy"] = self.stats.duplicates
            if self.stats.raw_events:
                info["raw_events"] = dict(self.stats.raw_events)
            info["n_unknown_events_skipped"] = self.stats.n_unknown_events_skipped
            if self.stats.skipped_events:
                info["skipped_events"] = dict(self.stats.skipped_events)
            if self.stats.notes:
                info["notes"] = list(self.stats.notes)
        if C.EVENT in self.interactions.columns:
            # After merging: with "max" / "sum" the label of each pair's strongest event.
            counts = self.interactions[C.EVENT].value_counts(dropna=False)
            info["events"] = {str(k): int(v) for k, v in counts.items()}
        return info


def merge_duplicates(table: pd.DataFrame, policy: DuplicatePolicy) -> tuple[pd.DataFrame, int]:
    """Apply the repeated-pair rule to a chronologically ordered interactions table.

    Returns the merged table (rows in the same order) and the number of rows folded away. For
    ``"max"`` and ``"sum"`` the kept row is the pair's first occurrence (its place in time),
    its ``weight`` the max / sum over the pair's rows and its ``event`` / ``rating`` those of
    the pair's strongest row (the first of equal weights).
    """
    table = table.reset_index(drop=True)  # idxmax below returns positions
    if policy == "keep" or len(table) == 0:
        return table, 0
    n_item_codes = int(table[C.ITEM_IDX].max()) + 1
    pair = table[C.USER_IDX].to_numpy(np.int64) * n_item_codes + table[C.ITEM_IDX].to_numpy(
        np.int64
    )
    pair_series = pd.Series(pair)
    if policy == "last":
        keep = ~pair_series.duplicated(keep="last").to_numpy()
        out = table[keep]
    elif policy in ("first", "sum", "max"):
        keep = ~pair_series.duplicated(keep="first").to_numpy()
        out = table[keep].copy()
        if policy != "first":
            grouped = table.groupby(pair, sort=False)[C.WEIGHT]
            agg = grouped.agg(policy)
            out[C.WEIGHT] = agg.loc[pair[keep]].to_numpy()
            # The label of the strongest event travels with the weight, so `info` shows the
            # purchases that a first-occurrence view would hide.
            strongest = grouped.idxmax().loc[pair[keep]].to_numpy()
            for column in (C.EVENT, C.RATING):
                if column in table.columns:
                    out[column] = table[column].to_numpy()[strongest]
    else:
        raise ValueError(f"unknown duplicates policy {policy!r}")
    return out.reset_index(drop=True), int(len(table) - len(out))


def validate_frame(
    frame: pd.DataFrame, table: Table
) -> tuple[pd.DataFrame, list[str], dict[str, IdType]]:
    """Check a caller's frame with the file validator; map column aliases.

    Returns the validated frame, notes on renamed columns, and the id type (``"int"`` for an
    integer id column) of ``user_id`` / ``item_id``.

    Raises
    ------
    SchemaError
        Not a DataFrame, an alias next to its canonical column, or a bad row (1-based
        position, field).
    """
    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"expected a pandas DataFrame of {table}, got {type(frame).__name__}")
    notes: list[str] = []
    renames: dict[str, str] = {}
    columns = [str(c) for c in frame.columns]
    for column in columns:
        target = COLUMN_ALIASES.get(column.strip().lower())
        if target is None or column == target:
            continue
        if target in columns or target in renames.values():
            raise SchemaError(
                f"both {column!r} and {target!r} are present; drop one (digirec reads "
                f"{column!r} as {target!r})",
                file=FRAME_SOURCE,
                field=column,
            )
        renames[column] = target
        notes.append(f"{table}: column {column!r} read as {target!r}")
    renamed = frame.rename(columns=renames) if renames else frame
    renamed = renamed.reset_index(drop=True)
    report = LoadReport()
    checked = validate_table(table, renamed, FRAME_SOURCE, "error", report)
    notes.extend(report.notes)
    id_types = {col: _id_type(renamed, col) for col in (C.USER_ID, C.ITEM_ID)}
    return checked, notes, id_types


def _id_type(frame: pd.DataFrame, column: str) -> IdType:
    """``"int"`` when the caller's id column holds integers (so results can give ints back)."""
    if column not in frame.columns:
        return "str"
    values = frame[column]
    if pd.api.types.is_bool_dtype(values.dtype):
        return "str"
    if pd.api.types.is_integer_dtype(values.dtype):
        return "int"
    if pd.api.types.is_float_dtype(values.dtype):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        return "int" if bool(np.all(np.isfinite(arr) & (np.floor(arr) == arr))) else "str"
    return "str"


def _align(table: pd.DataFrame | None, id_col: str, id_map: IdMap) -> pd.DataFrame | None:
    """Reorder a feature table so row i describes internal index i (missing rows are empty)."""
    if table is None:
        return None
    frame = table.copy()
    frame[id_col] = frame[id_col].astype(str)
    frame = frame.drop_duplicates(subset=id_col, keep="first").set_index(id_col)
    aligned = frame.reindex(pd.Index(id_map.external_ids, name=id_col)).reset_index()
    if id_map.id_type == "int":
        # The same type as the ids models return, so results merge with the catalogue.
        aligned[id_col] = id_map.to_external(np.arange(len(id_map)))
    return aligned


def _distribution(counts: NDArray[np.int64]) -> dict[str, float]:
    if counts.size == 0:
        return {"min": 0, "median": 0, "mean": 0, "max": 0}
    return {
        "min": int(counts.min()),
        "median": float(np.median(counts)),
        "mean": float(counts.mean()),
        "max": int(counts.max()),
    }
