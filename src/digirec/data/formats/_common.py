"""File-reading helpers shared by the format loaders.

They turn I/O failures into :class:`~digirec.exceptions.SchemaError` naming the file, keep the
1-based row number of every row they return, and hand rows that cannot even be parsed (a CSV
line with too many fields, a JSON line that is not JSON) back as
:class:`~digirec.data.tables.SkippedRow` entries, so that the validators of
:mod:`digirec.data.schema` decide, in one place, whether they raise or are skipped.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

import numpy as np
import pandas as pd

from digirec.data.schema import OnBadRows, infer_attribute_column
from digirec.data.tables import LoadReport, SkippedRow
from digirec.exceptions import ConfigError, SchemaError

_SKIPPED_LINE = re.compile(r"Skipping line (\d+): (.*)")

T = TypeVar("T")


@dataclass(frozen=True)
class LoadRequest:
    """What :func:`~digirec.data.load.load_data` asks a format loader for.

    Attributes
    ----------
    path:
        The data file or folder.
    on_bad_rows:
        ``"error"`` or ``"skip"``.
    items, users:
        Catalogue / users file overriding the one found with the data, or ``None``.
    name:
        Data set name, or ``None`` for the loader's default.
    """

    path: Path
    on_bad_rows: OnBadRows = "error"
    items: Path | None = None
    users: Path | None = None
    name: str | None = None
    #: Field separator of delimited files (``None``: the format's own, e.g. "," or tab).
    sep: str | None = None
    #: Text encoding of delimited files (``None``: UTF-8, a byte-order mark dropped).
    encoding: str | None = None


def require_file(path: Path, what: str = "file") -> Path:
    """Return ``path`` if it is an existing file, else raise SchemaError naming it."""
    if not path.is_file():
        raise SchemaError(f"{what} not found", file=str(path))
    return path


def strip_suffixes(name: str) -> str:
    """File name without ``.gz`` and its data extension (``a.json.gz`` -> ``a``)."""
    if name.endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[0] if "." in name else name


def is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic bytes (so ``.gz`` names are not trusted)."""
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def open_text(path: Path, encoding: str = "utf-8-sig") -> IO[str]:
    """Open a text file that may be gzip-compressed (a UTF-8 byte-order mark is dropped)."""
    require_file(path)
    if is_gzip(path):
        return gzip.open(path, "rt", encoding=encoding)
    return open(path, encoding=encoding)


def first_line(path: Path) -> str:
    """The first non-blank line of a (possibly gzipped) text file, or ``""``."""
    try:
        with open_text(path) as handle:
            for line in handle:
                if line.strip():
                    return line
    except (OSError, UnicodeDecodeError, EOFError):
        return ""
    return ""


def reject_option(fmt: str, option: str, value: object) -> None:
    """Raise ConfigError when an ``items=``/``users=`` override is not supported by ``fmt``."""
    if value is not None:
        raise ConfigError(f"format {fmt!r} does not take `{option}=`: it has no such file")


def optional_file(explicit: Path | None, default: Path | None) -> Path | None:
    """The file to read for an optional table (catalogue, users), or ``None``.

    ``explicit`` if given (a missing one is reported by its reader), else ``default`` when it
    is an existing file.
    """
    if explicit is not None:
        return explicit
    return default if default is not None and default.is_file() else None


def read_optional(
    explicit: Path | None, default: Path | None, read: Callable[[Path], T]
) -> T | None:
    """``read`` the file chosen by :func:`optional_file`, or ``None`` when there is none."""
    path = optional_file(explicit, default)
    return read(path) if path is not None else None


def read_json_object(path: Path, report: LoadReport, keyed_by: str) -> dict[str, object]:
    """Parse a whole JSON file that must hold one object (``keyed_by`` names its keys).

    Adds the file to ``report.files``; a missing file, bad JSON or another top-level value
    raises SchemaError naming the file.
    """
    file = str(require_file(path))
    report.files.append(file)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot parse JSON: {exc}", file=file) from exc
    if not isinstance(data, dict):
        raise SchemaError(f"expected a JSON object keyed by {keyed_by}", file=file)
    return data


def iter_json_entries(
    path: Path, report: LoadReport, keyed_by: str, bad: list[SkippedRow]
) -> Iterator[tuple[int, str, dict[str, object]]]:
    """Yield ``(position, key, fields)`` for each entry of a JSON object of item objects.

    The file is read with :func:`read_json_object`; every entry counts as a read row and its
    1-based position in the object is its row. An entry whose value is not an object is
    appended to ``bad`` (field: the key) instead.
    """
    file = str(path)
    data = read_json_object(path, report, keyed_by)
    for entry, (key, info) in enumerate(data.items(), start=1):
        report.n_rows_read += 1
        if not isinstance(info, dict):
            bad.append(SkippedRow(file, entry, key, "expected an object of item fields"))
            continue
        yield entry, key, info


def default_name(path: Path) -> str:
    """Data set name from a path: the directory name, or the file name without extensions."""
    return path.name if path.is_dir() else strip_suffixes(path.name)


def iter_json_lines(
    path: Path,
    report: LoadReport,
    bad_lines: list[SkippedRow],
    *,
    python_literals: bool = False,
) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield ``(line_number, object)`` for each JSON-object line of a (gzipped) JSON-lines file.

    Blank lines are passed over. A line that is not a JSON object is appended to ``bad_lines``
    (field ``None``) instead of raising, so the caller's validator decides. With
    ``python_literals`` a line that is not JSON is tried as a Python literal (Amazon 2014
    metadata is written with ``str(dict)``, single quotes included). Updates ``report.files``
    and ``report.n_rows_read``.
    """
    file = str(path)
    report.files.append(file)
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                report.n_rows_read += 1
                obj = _parse_line(line, python_literals)
                if isinstance(obj, dict):
                    yield number, obj
                else:
                    reason = (
                        "not a JSON object"
                        if obj is not None
                        else f"cannot parse line as JSON: {line.strip()[:60]!r}"
                    )
                    bad_lines.append(SkippedRow(file, number, None, reason))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read file: {exc}", file=file) from exc


def _parse_line(line: str, python_literals: bool) -> object:
    """The parsed line, or ``None`` when it is neither JSON nor (if allowed) a Python literal."""
    try:
        return json.loads(line)
    except ValueError:
        if not python_literals:
            return None
    try:
        return ast.literal_eval(line.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def columns_from_records(
    records: Sequence[dict[str, object]], keys: Sequence[str]
) -> dict[str, list[object]]:
    """Column lists for ``keys`` (absent keys give ``None``)."""
    return {key: [r.get(key) for r in records] for key in keys}


def read_delimited(
    path: Path,
    report: LoadReport,
    *,
    sep: str = ",",
    header: bool = True,
    names: Sequence[str] | None = None,
    encoding: str = "utf-8-sig",
    text_columns: Sequence[str] | None = None,
    infer_others: bool = False,
    text: str | None = None,
) -> tuple[pd.DataFrame, np.ndarray, list[SkippedRow]]:
    """Read a delimited text file with every cell as text, keeping row numbers exact.

    Parameters
    ----------
    path:
        The file (also used in messages; ``text`` may supply its already decoded content).
    report:
        ``files`` and ``n_rows_read`` are updated; blank lines are noted.
    sep, header, names, encoding:
        As in :func:`pandas.read_csv` (``header`` true means the first line names columns).
    text_columns:
        With ``infer_others``, the columns that stay text; others go through
        :func:`~digirec.data.schema.infer_attribute_column` (NA tokens, numbers).
    infer_others:
        Type the non-text columns (catalogue and user attributes); interactions keep all text
        and are parsed by the validators.
    text:
        File content to parse instead of reading ``path`` (for ``::``-separated MovieLens files).

    A file whose bytes say it is something else is named as such: Parquet (``PAR1``) and JSON
    (``{`` / ``[``) raise with the ``--format`` to use, a zip archive raises, and gzip content
    (``1f 8b``) under a plain name is read decompressed with a note. A line with fewer fields
    than the header is a bad row (it used to be padded with missing values).

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray, list of SkippedRow)
        The rows, the 1-based data-row number of each (header not counted), and the lines that
        had too many fields.
    """
    file = str(path)
    compression: str | None = "infer"
    if text is None:
        require_file(path)
        compression = sniff_content(path, report)
    report.files.append(file)
    source: object = io.StringIO(text) if text is not None else path
    kwargs: dict[str, object] = {
        "compression": compression,
        "sep": sep,
        "header": 0 if header else None,
        "dtype": str,
        # Ids such as "NA" or "null" are real ids: no NA guessing here.
        "keep_default_na": False,
        # Blank lines stay as rows so that row numbers match the file; they are dropped below.
        "skip_blank_lines": False,
        "encoding": encoding,
    }
    if names is not None:
        kwargs["names"] = list(names)
    malformed: list[SkippedRow] = []
    try:
        try:
            frame = pd.read_csv(source, **kwargs)
        except pd.errors.ParserError:
            # Too many fields on some line: read again, letting pandas skip those lines and
            # say which, so they become bad rows with their numbers.
            if isinstance(source, io.StringIO):
                source.seek(0)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frame = pd.read_csv(source, on_bad_lines="warn", **kwargs)
            offset = 1 if header else 0
            for warning in caught:
                for line, why in _SKIPPED_LINE.findall(str(warning.message)):
                    malformed.append(SkippedRow(file, int(line) - offset, None, why.strip()))
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=list(names) if names is not None else [])
    except pd.errors.ParserError as exc:
        raise SchemaError(f"cannot parse file: {exc}", file=file) from exc
    except UnicodeDecodeError as exc:
        raise SchemaError(f"cannot decode file as {encoding}: {exc}", file=file) from exc
    except OSError as exc:
        raise SchemaError(f"cannot read file: {exc}", file=file) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    bad_numbers = {s.row for s in malformed}
    all_rows = np.arange(1, len(frame) + len(malformed) + 1, dtype=np.int64)
    rows = all_rows[~np.isin(all_rows, list(bad_numbers))] if bad_numbers else all_rows
    report.n_rows_read += len(frame) + len(malformed)
    frame, rows = _split_short_rows(
        frame,
        rows,
        file,
        malformed,
        # Field counts of the data records (the header record dropped).
        lambda: _field_counts(path, text, sep, encoding, compression)[1 if header else 0 :],
    )
    frame, rows = _drop_blank_rows(frame, rows, file, report)
    if infer_others:
        keep_text = set(text_columns or ())
        for column in frame.columns:
            if column not in keep_text:
                frame[column] = infer_attribute_column(frame[column])
    return frame, rows, malformed


#: Leading bytes of formats that are often handed to the CSV reader by mistake.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "Parquet data (it starts with the bytes PAR1): pass --format parquet"),
    (b"PK\x03\x04", "a zip archive (or an Excel .xlsx file): unpack it or export CSV"),
    (b"\x89HDF", "an HDF5 file: export it as CSV or Parquet"),
    (b"SQLite format 3", "an SQLite database: export the table as CSV or Parquet"),
)


def sniff_content(path: Path, report: LoadReport) -> str | None:
    """Check the first bytes of a file that is about to be read as delimited text.

    Returns the pandas ``compression`` to use (``"gzip"`` for gzip content, whatever the
    name), or raises SchemaError naming what the file really holds.
    """
    with open(path, "rb") as handle:
        head = handle.read(64)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise SchemaError(f"not delimited text but {what}", file=str(path))
    if head.startswith(b"\x1f\x8b"):
        if not path.name.lower().endswith(".gz"):
            report.notes.append(f"{path}: gzip-compressed content (bytes 1f 8b), read decompressed")
        return "gzip"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start in (b"{", b"["):
        raise SchemaError(
            "not delimited text but JSON (it starts with "
            f"{start.decode()!r}): pass --format jsonl for JSON lines",
            file=str(path),
        )
    # The bytes decide, not the name: a ".csv.gz" that is plain text is read as text.
    return None


def _field_counts(
    path: Path, text: str | None, sep: str, encoding: str, compression: str | None
) -> list[int]:
    """Number of fields of every record of a delimited file (header included; blank = 0)."""
    if text is not None:
        handle: IO[str] = io.StringIO(text)
    elif compression == "gzip":
        handle = gzip.open(path, "rt", encoding=encoding, newline="")  # noqa: SIM115
    else:
        handle = open(path, encoding=encoding, newline="")  # noqa: SIM115
    with handle:
        return [len(record) for record in csv.reader(handle, delimiter=sep)]


def _split_short_rows(
    frame: pd.DataFrame,
    rows: np.ndarray,
    file: str,
    malformed: list[SkippedRow],
    field_counts: Callable[[], list[int]],
) -> tuple[pd.DataFrame, np.ndarray]:
    """Move lines with fewer fields than the header to ``malformed`` (bad rows, with numbers).

    pandas pads a short line with empty cells, which cannot be told from empty fields; a
    short line always ends in an empty cell, so only when some row does are the fields of the
    file counted (one ``csv`` pass). Blank lines (no field) are left to the blank-line rule.
    """
    width = len(frame.columns)
    if frame.empty or width < 2:
        return frame, rows
    last = frame.iloc[:, -1]
    candidates = (last.isna() | (last.astype(str) == "")).to_numpy(dtype=bool)
    if not candidates.any():
        return frame, rows
    try:
        counts = field_counts()
    except (csv.Error, TypeError, UnicodeDecodeError, OSError):
        return frame, rows  # the reader itself succeeded; keep its reading
    short = np.zeros(len(frame), dtype=bool)
    n_fields = np.zeros(len(frame), dtype=np.int64)
    for pos in np.flatnonzero(candidates):
        record = int(rows[pos]) - 1
        if 0 <= record < len(counts) and 0 < counts[record] < width:
            short[pos] = True
            n_fields[pos] = counts[record]
    for pos in np.flatnonzero(short):
        malformed.append(
            SkippedRow(
                file,
                int(rows[pos]),
                str(frame.columns[int(n_fields[pos])]),
                f"the line has {int(n_fields[pos])} field(s), expected {width} (cut short?)",
            )
        )
    if not short.any():
        return frame, rows
    return frame.loc[~short].reset_index(drop=True), rows[~short]


def _drop_blank_rows(
    frame: pd.DataFrame, rows: np.ndarray, file: str, report: LoadReport
) -> tuple[pd.DataFrame, np.ndarray]:
    """Drop rows whose every cell is empty (blank lines), noting how many in the report."""
    if frame.empty or not len(frame.columns):
        return frame, rows
    blank = np.ones(len(frame), dtype=bool)
    for column in frame.columns:
        values = frame[column]
        blank &= (values.isna() | (values.astype(str).str.strip() == "")).to_numpy(dtype=bool)
        if not blank.any():
            return frame, rows
    report.notes.append(f"{file}: ignored {int(blank.sum())} blank line(s)")
    report.n_rows_read -= int(blank.sum())
    return frame.loc[~blank].reset_index(drop=True), rows[~blank]
