"""Validation of raw tables with precise errors (file, row, field).

Every loader in :mod:`digirec.data.formats` reads its files into pandas frames that already use
the canonical column names of :mod:`digirec.columns`, then hands them to the functions here. The
rules therefore exist once:

* ``user_id`` / ``item_id`` are required, become Python ``str`` values (``"007"`` stays ``"007"``,
  integer ids become ``"7"``) and may not be empty.
* ``timestamp`` accepts unix seconds, unix milliseconds (any value above ``1e11``; Amazon 2023 uses
  them) and ISO-8601 dates or datetimes (naive ones are read as UTC); it becomes float64 seconds,
  NaN when the cell is empty (unknown).
* ``rating`` and ``weight`` must be numbers, a weight >= 0 (a negative rating is kept with a
  note in the report: signed scales exist); an empty cell and the tokens ``NA``,
  ``NaN``, ``null``, ``none`` all mean unknown (NaN); ``event`` must be a non-empty string and
  is lower-cased; unknown event types are kept (the weighting layer decides on them).
* ``price`` accepts numbers and strings such as ``"$12.99"``, ``"1,299.00"`` or a range
  ``"$7.99 - $29.99"`` (the low end); ``in_stock`` accepts booleans, 0/1 and yes/no words.

Bad rows are found with vectorised masks; messages are built only for the rows at fault.
:class:`BadRows` then either raises :class:`~digirec.exceptions.SchemaError` for the first bad
row of the file (``on_bad_rows="error"``) or records one
:class:`~digirec.data.tables.SkippedRow` per bad row in the :class:`~digirec.data.tables.LoadReport`
and leaves it out (``on_bad_rows="skip"``). Nothing else is ever dropped: duplicates and ids that
are missing from a catalogue are kept for :class:`~digirec.data.dataset.Dataset` to decide on.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from digirec.columns import (
    BRAND,
    CATEGORY,
    DESCRIPTION,
    EVENT,
    IMAGE_URL,
    IN_STOCK,
    ITEM_ID,
    MODEL,
    PRICE,
    RATING,
    SOURCE_ROW,
    TIMESTAMP,
    TITLE,
    USER_ID,
    WEIGHT,
)
from digirec.data.events import EVENT_TYPES
from digirec.data.tables import LoadReport, SkippedRow
from digirec.exceptions import ConfigError, SchemaError

OnBadRows = Literal["error", "skip"]
ON_BAD_ROWS: tuple[OnBadRows, ...] = ("error", "skip")

#: Values above this are unix *milliseconds*: 1e11 seconds would be the year 5138.
MS_THRESHOLD = 1e11

#: Cell texts that mean "no value" in attribute columns (never applied to id columns, where
#: "NA" can be a real id).
NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "<na>", "#n/a", "-", "—"})

#: Event types the weighting layer knows by default; others are kept and noted in the report.
KNOWN_EVENTS = frozenset(EVENT_TYPES)

#: Catalogue columns that hold free text; empty strings in them become missing values.
TEXT_COLUMNS = (TITLE, BRAND, MODEL, CATEGORY, DESCRIPTION, IMAGE_URL)

Reason = Callable[[object], str]
#: A column parser: the parsed values and a mask of the bad cells.
ColumnParser = Callable[[pd.Series], tuple[pd.Series, np.ndarray]]

_EPOCH = pd.Timestamp(0, tz="UTC")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "in stock", "in_stock", "available"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "out of stock", "out_of_stock", "unavailable"})

# One price: an optional currency code or symbol, then digits with "," thousands separators only
# where they are unambiguous ("1,299.00"; "12,99" is rejected rather than guessed).
_AMOUNT = r"(?:[A-Za-z]{3}\s*)?[$€£¥]?\s*(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_PRICE_RE = re.compile(
    rf"^\s*{_AMOUNT}\s*(?:[A-Za-z]{{3}})?(?:\s*[-–]\s*{_AMOUNT}\s*(?:[A-Za-z]{{3}})?)?\s*$"
)


def check_on_bad_rows(on_bad_rows: str) -> OnBadRows:
    """Return ``on_bad_rows`` if it is ``"error"`` or ``"skip"``, else raise ConfigError."""
    if on_bad_rows not in ON_BAD_ROWS:
        raise ConfigError(f"on_bad_rows must be one of {ON_BAD_ROWS}, got {on_bad_rows!r}")
    return on_bad_rows  # narrowed to the literal type by the membership test


class BadRows:
    """Collects the bad rows of one file, then raises for the first one or records them all.

    Checks run column by column over the whole frame, so the first bad row of the *file* is only
    known once every check has run: :meth:`resolve` picks it. A row is reported once, for the
    first check that flagged it.

    Parameters
    ----------
    file:
        The file the rows come from (used in messages).
    n_rows:
        Number of rows in the frame being checked.
    on_bad_rows:
        ``"error"`` or ``"skip"``.
    report:
        Receives one :class:`SkippedRow` per bad row under ``"skip"``.
    row_numbers:
        1-based row number in the file of each frame row; defaults to ``1..n_rows``.
    """

    def __init__(
        self,
        file: str,
        n_rows: int,
        on_bad_rows: OnBadRows,
        report: LoadReport,
        row_numbers: np.ndarray | None = None,
    ) -> None:
        self.file = file
        self.on_bad_rows = check_on_bad_rows(on_bad_rows)
        self.report = report
        self.rows = (
            np.arange(1, n_rows + 1, dtype=np.int64)
            if row_numbers is None
            else np.asarray(row_numbers, dtype=np.int64)
        )
        if len(self.rows) != n_rows:
            raise ValueError("row_numbers must have one entry per row")
        self.bad = np.zeros(n_rows, dtype=bool)
        # (positions, field, reason builder, raw values) per flag call; messages come later.
        self._flags: list[tuple[np.ndarray, str | None, Reason, pd.Series | None]] = []
        self._outside: list[SkippedRow] = []

    def flag(
        self,
        mask: np.ndarray | pd.Series,
        field: str | None,
        reason: Reason | str,
        values: pd.Series | None = None,
    ) -> None:
        """Mark the rows where ``mask`` is true as bad because of ``field``.

        ``reason`` is a fixed text or a function of the offending raw value (taken from
        ``values``), called only for the rows that are reported.
        """
        mask_arr = np.asarray(mask, dtype=bool) & ~self.bad
        if not mask_arr.any():
            return
        self.bad |= mask_arr
        build = _fixed(reason) if isinstance(reason, str) else reason
        self._flags.append((np.flatnonzero(mask_arr), field, build, values))

    def add(self, rows: Iterable[SkippedRow]) -> None:
        """Add bad rows that are not in the frame (e.g. JSON lines that could not be parsed)."""
        self._outside.extend(rows)

    def _entry(
        self, pos: int, field: str | None, build: Reason, values: pd.Series | None
    ) -> SkippedRow:
        value = None if values is None else values.iloc[pos]
        return SkippedRow(self.file, int(self.rows[pos]), field, build(value))

    def resolve(self) -> np.ndarray:
        """Raise for the first bad row (``"error"``) or record all of them (``"skip"``).

        Returns
        -------
        numpy.ndarray
            Boolean mask of the frame rows to keep.
        """
        if self.on_bad_rows == "error":
            first = self._first()
            if first is not None:
                raise SchemaError(first.reason, file=first.file, row=first.row, field=first.field)
            return ~self.bad
        entries = list(self._outside)
        for positions, field, build, values in self._flags:
            entries.extend(self._entry(int(p), field, build, values) for p in positions)
        entries.sort(key=lambda s: s.row)
        self.report.skipped.extend(entries)
        return ~self.bad

    def _first(self) -> SkippedRow | None:
        best: SkippedRow | None = min(self._outside, key=lambda s: s.row, default=None)
        for positions, field, build, values in self._flags:
            pos = int(positions[np.argmin(self.rows[positions])])
            if best is None or self.rows[pos] < best.row:
                best = self._entry(pos, field, build, values)
        return best


# --------------------------------------------------------------------------------------------
# Column parsers: each returns (parsed values, mask of bad cells). Missing cells are not bad.
# --------------------------------------------------------------------------------------------


def as_str(values: pd.Series) -> pd.Series:
    """Convert a column to stripped Python strings, keeping missing values missing.

    Integral floats (an int column that picked up a NaN in parquet or JSON) print without
    ``.0`` so ``7.0`` and ``7`` give the same id.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        integral = np.isfinite(arr) & (np.floor(arr) == arr)
        out = values.astype(object)
        out[integral] = [str(int(v)) for v in arr[integral]]
        out[~integral & ~np.isnan(arr)] = [repr(float(v)) for v in arr[~integral & ~np.isnan(arr)]]
        return out.astype(str)
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(str)
    return values.astype(str).str.strip()


def _fixed(text: str) -> Reason:
    """A reason builder that ignores the value."""

    def build(_value: object) -> str:
        return text

    return build


def is_missing(values: pd.Series) -> np.ndarray:
    """True where a cell is NaN/None or a blank string."""
    missing = values.isna().to_numpy(dtype=bool)
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        text = values.astype(str).str.strip()
        missing = missing | (text == "").fillna(True).to_numpy(dtype=bool)
    return np.asarray(missing, dtype=bool)


def clean_ids(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Ids as stripped ``str`` values and the mask of empty ones."""
    text = as_str(values)
    empty = values.isna().to_numpy(dtype=bool) | (text == "").fillna(True).to_numpy(dtype=bool)
    return text, np.asarray(empty, dtype=bool)


def _seconds(parsed: pd.Series) -> np.ndarray:
    """Datetime column (any unit, naive = UTC) as float seconds since the epoch."""
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize("UTC")
    seconds = (parsed - _EPOCH) / pd.Timedelta(seconds=1)
    return np.asarray(seconds.to_numpy(dtype=float, na_value=np.nan), dtype=np.float64)


def parse_timestamp_column(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse a timestamp column to float64 seconds since the epoch.

    Parameters
    ----------
    values:
        Numbers (unix seconds, or milliseconds when above ``1e11``), ISO-8601 strings, numeric
        strings, or a datetime column.

    Returns
    -------
    (pandas.Series, numpy.ndarray)
        float64 seconds (NaN where the cell is empty) and a boolean mask of unparseable cells.
    """
    index = values.index
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return pd.Series(_seconds(values), index=index), np.zeros(len(values), dtype=bool)
    if pd.api.types.is_bool_dtype(values.dtype):
        out = np.full(len(values), np.nan)
        return pd.Series(out, index=index), ~values.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(values.dtype):
        seconds = values.to_numpy(dtype=float, na_value=np.nan, copy=True)
        missing = np.isnan(seconds)
        bad = ~missing & ~np.isfinite(seconds)
    else:
        missing = is_missing(values)
        text = as_str(values)
        seconds = pd.to_numeric(text, errors="coerce").to_numpy(
            dtype=float, na_value=np.nan, copy=True
        )
        # Non-numeric text: try ISO-8601 (only on those cells, the rare case for big files).
        rest = ~missing & np.isnan(seconds)
        if rest.any():
            parsed = pd.to_datetime(text[rest], format="ISO8601", utc=True, errors="coerce")
            seconds[rest] = _seconds(parsed)
            rest_bad = rest.copy()
            rest_bad[rest] = np.isnan(seconds[rest])
        else:
            rest_bad = rest
        bad = rest_bad | (~missing & ~rest & ~np.isfinite(seconds))
        seconds[missing] = np.nan
    seconds = np.where(np.abs(seconds) > MS_THRESHOLD, seconds / 1000.0, seconds)
    seconds[bad] = np.nan
    return pd.Series(seconds, index=index, dtype=np.float64), bad


def parse_timestamp(value: object) -> float:
    """Parse one timestamp (see :func:`parse_timestamp_column`); raise ValueError if bad."""
    return _parse_one(parse_timestamp_column, value, "a timestamp")


def _parse_one(parse: ColumnParser, value: object, what: str) -> float:
    """Parse one value with a column parser; ValueError naming ``what`` if it is bad."""
    parsed, bad = parse(pd.Series([value], dtype=object))
    if bad[0]:
        raise ValueError(f"cannot parse {value!r} as {what}")
    return float(parsed.iloc[0])


def parse_number_column(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse a numeric column (rating, weight) to float64; empty cells give NaN.

    Returns the values and a mask of cells that are present but not finite numbers.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(np.nan, index=values.index), ~values.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        missing = np.isnan(numbers)
    else:
        text = as_str(values)
        # "NA", "NaN", "null" and an empty cell all mean "unknown", the same way in every
        # numeric column (a real number is never spelt like that).
        missing = is_missing(values) | text.str.lower().isin(NA_TOKENS - {"-"}).to_numpy(dtype=bool)
        numbers = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
    bad = ~missing & ~np.isfinite(numbers)
    numbers = numbers.copy()
    numbers[missing | bad] = np.nan
    return pd.Series(numbers, index=values.index, dtype=np.float64), bad


def parse_price_column(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse prices: numbers or strings like ``"$12.99"``, ``"1,299"``, ``"$5 - $9"`` (low end).

    Empty cells and tokens such as ``"none"`` or ``"n/a"`` give NaN. Negative, infinite or
    unparseable prices are flagged bad, and so are booleans (``False`` is no price of 0).
    This is the one price rule; code that only needs the numbers calls :func:`coerce_prices`.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(np.nan, index=values.index, dtype=np.float64), ~values.isna().to_numpy(
            dtype=bool
        )
    if pd.api.types.is_numeric_dtype(values.dtype):
        prices = values.to_numpy(dtype=float, na_value=np.nan).copy()
        missing = np.isnan(prices)
    else:
        text = as_str(values)
        missing = values.isna().to_numpy() | text.str.lower().isin(NA_TOKENS).to_numpy(dtype=bool)
        low = text.str.extract(_PRICE_RE, expand=True)[0]
        prices = pd.to_numeric(low.str.replace(",", "", regex=False), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        # Numeric objects (e.g. JSON floats) that the regex does not render (1e3): take as is.
        # Booleans are not numbers here (pandas would read True as 1).
        is_bool = np.fromiter(
            (isinstance(v, bool | np.bool_) for v in values.to_numpy(dtype=object)),
            dtype=bool,
            count=len(values),
        )
        numeric = pd.to_numeric(values.where(~missing & ~is_bool), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
        prices = np.where(np.isnan(prices), numeric, prices)
        prices[is_bool] = np.nan
    bad = ~missing & ~(np.isfinite(prices) & (prices >= 0))
    prices[missing | bad] = np.nan
    return pd.Series(prices, index=values.index, dtype=np.float64), bad


def coerce_prices(
    values: pd.Series | Sequence[object] | NDArray[Any],
) -> NDArray[np.float64]:
    """Prices as a float64 array, NaN where a price is missing or not a valid price.

    The one place a price column becomes numbers (catalogue filters, explanations, search,
    features, the store's item frame all call it): the rule of :func:`parse_price_column`
    (``"$1,299.00"`` -> 1299.0, ``"$5 - $9"`` -> 5.0, ``"n/a"`` / ``None`` / ``""`` -> NaN)
    without its bad-cell mask, so a negative, infinite, boolean or unparseable price is NaN
    and never passes a price filter.

    Parameters
    ----------
    values
        A price column: a pandas Series, a numpy array or a sequence of cells.

    Returns
    -------
    numpy.ndarray
        A new float64 array of the same length.
    """
    # pandas infers the dtype of a sequence: floats with None give a float column.
    if isinstance(values, pd.Series):
        series = values
    elif isinstance(values, np.ndarray):
        series = pd.Series(values)
    else:
        series = pd.Series(list(values))
    prices = parse_price_column(series)[0].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.array(prices, dtype=np.float64, copy=True)


def parse_price(value: object) -> float:
    """Parse one price (see :func:`parse_price_column`); NaN if empty, ValueError if bad."""
    return _parse_one(parse_price_column, value, "a price")


def parse_bool_column(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse booleans (True/False, 1/0, yes/no, in stock/out of stock).

    Returns a ``bool`` column when no value is missing, else a nullable ``boolean`` column.
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.astype("boolean" if values.isna().any() else bool), np.zeros(
            len(values), dtype=bool
        )
    text = as_str(values).str.lower()
    missing = values.isna().to_numpy() | text.isin(NA_TOKENS - {"-"}).to_numpy(dtype=bool)
    # Numbers: 1.0 and 0.0 (e.g. a float column) are booleans too.
    text = text.str.replace(r"^([01])\.0*$", r"\1", regex=True)
    is_true = text.isin(_TRUE).to_numpy(dtype=bool)
    is_false = text.isin(_FALSE).to_numpy(dtype=bool)
    bad = ~missing & ~is_true & ~is_false
    out = pd.Series(pd.array(np.where(is_true, True, False), dtype="boolean"), index=values.index)
    out[missing | bad] = pd.NA
    if not (missing | bad).any():
        return out.astype(bool), bad
    return out, bad


def parse_list_text(value: object) -> list[str]:
    """Parse a list written as JSON or Python text (``"[1, 2]"``, ``"['a', 'b']"``).

    Lists and tuples pass through; elements become ``str`` (integers without ``.0``). Empty or
    missing values give ``[]``. Anything else raises ValueError.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple | np.ndarray):
        items: Sequence[object] = list(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            parsed = json.loads(text)
        except ValueError:
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
                raise ValueError(f"cannot parse {_short(value)!r} as a list") from exc
        if not isinstance(parsed, list | tuple):
            raise ValueError(f"cannot parse {_short(value)!r} as a list")
        items = parsed
    else:
        raise ValueError(f"cannot parse {_short(value)!r} as a list")
    return [_id_text(v) for v in items]


def _id_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def text_from_listlike(value: object, sep: str = " ") -> str | None:
    """Free text from a value that may be a list or Python-list text (Amazon descriptions).

    Non-empty pieces are stripped and joined with ``sep``; plain text passes through; empty
    results give ``None``.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    pieces: list[object]
    if isinstance(value, list | tuple | np.ndarray):
        pieces = list(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                parsed = None
            if isinstance(parsed, list | tuple):
                return text_from_listlike(list(parsed), sep)
        return text or None
    else:
        return str(value)
    joined = sep.join(s for s in (str(p).strip() for p in pieces if p is not None) if s)
    return joined or None


def _short(value: object, limit: int = 60) -> object:
    """Long values shortened for messages."""
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 3] + "..."
    return value


def _reason(kind: str) -> Reason:
    return lambda value: f"cannot parse {_short(value)!r} as {kind}"


# --------------------------------------------------------------------------------------------
# Table validators
# --------------------------------------------------------------------------------------------


def _require(df: pd.DataFrame, column: str, file: str, names: Mapping[str, str]) -> None:
    if column not in df.columns:
        raise SchemaError(
            f"missing required column (found: {', '.join(map(str, df.columns)) or 'none'})",
            file=file,
            field=names.get(column, column),
        )


def _check_ids(df: pd.DataFrame, column: str, bad: BadRows, names: Mapping[str, str]) -> pd.Series:
    ids, empty = clean_ids(df[column])
    bad.flag(empty, names.get(column, column), "missing or empty value")
    return ids


#: The kinds of table :func:`validate_table` checks.
Table = Literal["interactions", "items", "users"]

#: ``check(df, bad, names)``: flag the bad cells of ``df`` and return the typed frame.
_Check = Callable[[pd.DataFrame, BadRows, Mapping[str, str]], pd.DataFrame]
#: ``finish(frame, df, file, report)``: final typing and notes on the good rows.
_Finish = Callable[[pd.DataFrame, pd.DataFrame, str, LoadReport], pd.DataFrame]


def validate_table(
    table: Table,
    df: pd.DataFrame,
    file: str,
    on_bad_rows: OnBadRows,
    report: LoadReport,
    *,
    row_numbers: np.ndarray | None = None,
    field_names: Mapping[str, str] | None = None,
    extra_bad: Iterable[SkippedRow] = (),
    checks: BadRows | None = None,
) -> pd.DataFrame:
    """Check and type an interactions, catalogue or users frame read from one file.

    Parameters
    ----------
    table:
        ``"interactions"``: ``user_id`` and ``item_id`` are required and non-empty;
        ``timestamp`` is parsed (added as NaN if absent), ``event`` must be non-empty and is
        lower-cased (types outside the known ones are kept and noted), ``rating`` and ``weight``
        must be numbers. Returns ``user_id``, ``item_id``, ``timestamp``, then ``event``,
        ``rating``, ``weight`` where present, then the other columns; ``source_row`` is added
        by :func:`concat_interactions`.
        ``"items"``: ``item_id`` is required and non-empty; ``price`` is parsed (unparseable ->
        bad row); ``in_stock`` becomes bool; empty text in title/brand/model/category/
        description/image_url becomes missing. Duplicate item ids are kept (and counted in the
        report notes); which one wins is the Dataset's decision.
        ``"users"``: ``user_id`` is required and non-empty; attributes are kept as they are;
        duplicates are kept and noted.
        Other columns are kept in every table.
    df:
        Raw frame with canonical column names.
    file:
        Source file, for messages.
    on_bad_rows:
        ``"error"`` raises :class:`SchemaError` for the first bad row; ``"skip"`` records every
        bad row in ``report`` and leaves it out.
    report:
        The load report to update.
    row_numbers:
        1-based row (or line) number of each frame row in the file; default ``1..len(df)``.
    field_names:
        Canonical name -> name in the source file, so messages name the file's own field
        (e.g. ``{"timestamp": "unixReviewTime"}``).
    extra_bad:
        Bad rows found while reading that are not in ``df`` (e.g. unparseable JSON lines).
    checks:
        A :class:`BadRows` for ``df`` on which the loader already flagged format-specific
        problems; the checks here add to it, so the first bad row of the file is still the one
        reported. When given, ``row_numbers`` is taken from it.

    Returns
    -------
    pandas.DataFrame
        The good rows, typed, index reset.

    Raises
    ------
    SchemaError
        A required column is missing, or (with ``"error"``) a row is bad.
    """
    required, check, finish = _RULES[table]
    names = dict(field_names or {})
    for column in required:
        _require(df, column, file, names)
    df = df.reset_index(drop=True)
    bad = checks if checks is not None else BadRows(file, len(df), on_bad_rows, report, row_numbers)
    bad.add(extra_bad)
    frame = check(df, bad, names)
    keep = bad.resolve()
    return finish(frame.loc[keep].reset_index(drop=True), df, file, report)


def _check_interactions(df: pd.DataFrame, bad: BadRows, names: Mapping[str, str]) -> pd.DataFrame:
    """Typed interaction columns (``timestamp`` NaN when absent), then the other columns."""
    out: dict[str, pd.Series] = {
        USER_ID: _check_ids(df, USER_ID, bad, names),
        ITEM_ID: _check_ids(df, ITEM_ID, bad, names),
    }
    if TIMESTAMP in df.columns:
        stamps, wrong = parse_timestamp_column(df[TIMESTAMP])
        bad.flag(wrong, names.get(TIMESTAMP, TIMESTAMP), _reason("a timestamp"), df[TIMESTAMP])
        out[TIMESTAMP] = stamps
    else:
        out[TIMESTAMP] = pd.Series(np.nan, index=df.index, dtype=np.float64)
    if EVENT in df.columns:
        events, empty = clean_ids(df[EVENT])
        bad.flag(empty, names.get(EVENT, EVENT), "empty event")
        out[EVENT] = events.str.lower()
    for column in (RATING, WEIGHT):
        if column in df.columns:
            numbers, wrong = parse_number_column(df[column])
            field = names.get(column, column)
            bad.flag(wrong, field, _reason("a number"), df[column])
            if column == WEIGHT:
                # A negative weight would make an interaction count against the item.
                negative = (numbers < 0).to_numpy(dtype=bool)
                bad.flag(negative, field, lambda v: f"{v!r} is negative (must be >= 0)", df[column])
            out[column] = numbers
    frame = pd.DataFrame(out)
    for column in df.columns:
        if column not in frame.columns:
            frame[column] = df[column]
    return frame


def _finish_interactions(
    frame: pd.DataFrame, df: pd.DataFrame, file: str, report: LoadReport
) -> pd.DataFrame:
    """Note unknown event types and rows without a timestamp."""
    if EVENT in frame.columns:
        counts = frame[EVENT].value_counts()
        other = counts[~counts.index.isin(KNOWN_EVENTS)]
        if len(other):
            listed = ", ".join(f"{name!r} x {n}" for name, n in other.items())
            report.notes.append(
                f"{file}: event types outside {sorted(KNOWN_EVENTS)} kept: {listed}"
            )
    if RATING in frame.columns:
        n_negative = int((frame[RATING] < 0).sum())
        if n_negative:
            # Signed scales (Jester's -10..10, centred ratings) are real: kept, and said.
            report.notes.append(
                f"{file}: {n_negative} row(s) have a negative rating (kept: explicit-rating "
                "models learn ratings as given; implicit models do not read ratings)"
            )
    n_unknown_time = int(frame[TIMESTAMP].isna().sum()) if TIMESTAMP in df.columns else 0
    if n_unknown_time:
        report.notes.append(f"{file}: {n_unknown_time} row(s) have no timestamp (kept as NaN)")
    return frame


def _check_items(df: pd.DataFrame, bad: BadRows, names: Mapping[str, str]) -> pd.DataFrame:
    """Catalogue with checked ids, parsed ``price`` / ``in_stock`` and blank text missing."""
    frame = df.copy()
    frame[ITEM_ID] = _check_ids(df, ITEM_ID, bad, names)
    if PRICE in df.columns:
        prices, wrong = parse_price_column(df[PRICE])
        bad.flag(
            wrong,
            names.get(PRICE, PRICE),
            lambda v: (
                f"cannot parse {_short(v)!r} as a price "
                "(expected a non-negative number such as 12.99 or '$12.99')"
            ),
            df[PRICE],
        )
        frame[PRICE] = prices
    if IN_STOCK in df.columns:
        flags, wrong = parse_bool_column(df[IN_STOCK])
        bad.flag(wrong, names.get(IN_STOCK, IN_STOCK), _reason("a boolean"), df[IN_STOCK])
        frame[IN_STOCK] = flags
    for column in TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = _clean_text(frame[column])
    return frame


def _finish_items(
    frame: pd.DataFrame, df: pd.DataFrame, file: str, report: LoadReport
) -> pd.DataFrame:
    """``in_stock`` as bool when nothing is missing; duplicate item ids noted."""
    if IN_STOCK in frame.columns and not frame[IN_STOCK].isna().any():
        frame[IN_STOCK] = frame[IN_STOCK].astype(bool)
    _note_duplicates(frame, ITEM_ID, file, report)
    return frame


def _check_users(df: pd.DataFrame, bad: BadRows, names: Mapping[str, str]) -> pd.DataFrame:
    """Users with checked ids; attributes as they are."""
    frame = df.copy()
    frame[USER_ID] = _check_ids(df, USER_ID, bad, names)
    return frame


def _finish_users(
    frame: pd.DataFrame, df: pd.DataFrame, file: str, report: LoadReport
) -> pd.DataFrame:
    """Duplicate user ids noted."""
    _note_duplicates(frame, USER_ID, file, report)
    return frame


def _note_duplicates(frame: pd.DataFrame, column: str, file: str, report: LoadReport) -> None:
    """Note how many rows repeat an id of ``column`` (they are kept)."""
    n_dup = int(frame[column].duplicated().sum())
    if n_dup:
        report.notes.append(f"{file}: {n_dup} duplicate {column} row(s) kept")


#: Per table: required columns, cell checks, finishing step.
_RULES: dict[Table, tuple[tuple[str, ...], _Check, _Finish]] = {
    "interactions": ((USER_ID, ITEM_ID), _check_interactions, _finish_interactions),
    "items": ((ITEM_ID,), _check_items, _finish_items),
    "users": ((USER_ID,), _check_users, _finish_users),
}


def _clean_text(values: pd.Series) -> pd.Series:
    """Text column with blank strings as missing values."""
    if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return values
    text = values.astype(str).str.strip()
    return text.where(text != "")


def concat_interactions(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate validated interaction frames in read order and add ``source_row``.

    ``source_row`` (int64, 0-based) is the position of each row in the order the rows were read
    across all files: the stable tie-breaker for equal (or unknown) timestamps.
    """
    frames = [f for f in frames if len(f.columns)]
    if frames:
        frame = pd.concat(frames, ignore_index=True, sort=False)
    else:
        frame = pd.DataFrame({USER_ID: pd.Series(dtype=str), ITEM_ID: pd.Series(dtype=str)})
    if TIMESTAMP not in frame.columns:
        frame[TIMESTAMP] = np.nan
    frame[TIMESTAMP] = frame[TIMESTAMP].astype(np.float64)
    frame[USER_ID] = frame[USER_ID].astype(str)
    frame[ITEM_ID] = frame[ITEM_ID].astype(str)
    frame[SOURCE_ROW] = np.arange(len(frame), dtype=np.int64)
    return frame


def infer_attribute_column(values: pd.Series) -> pd.Series:
    """Type a text attribute column read from CSV: NA tokens -> missing; numbers -> float/int.

    A column becomes numeric only when every present value is a number and none has a leading
    zero, so zip codes and ids like ``"007"`` stay text.
    """
    if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return values
    text = values.astype(str).str.strip()
    missing = values.isna() | text.str.lower().isin(NA_TOKENS)
    text = text.where(~missing)
    present = text.dropna()
    if present.empty:
        return text
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all() and not present.str.match(r"^[+-]?0\d").any():
        parsed = pd.to_numeric(text, errors="coerce")
        # Integers only when written as integers ("3", not "3.0") and nothing is missing.
        written_as_int = not present.str.contains(r"[.eE]").any()
        if written_as_int and not missing.any() and parsed.abs().max() < 2**53:
            return parsed.astype(np.int64)
        return parsed.astype(np.float64)
    return text
