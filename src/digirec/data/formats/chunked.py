"""Chunked reading of large generic interactions files (CSV/TSV and Parquet).

A file of tens of millions of rows is read, validated and typed a block of
:data:`CHUNK_ROWS` rows at a time, so it never exists as one raw all-text frame next to its
validated copy: only validated, typed chunks are kept, then joined once. Every chunk goes
through the one validator (:func:`digirec.data.schema.validate_table`) with its rows' numbers
in the file, so the first bad row raised (``"error"``) and the rows listed (``"skip"``) are
those of a whole-file read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from digirec.columns import INTERACTION_COLUMNS, USER_ID
from digirec.data.formats._common import open_text, read_delimited, require_file, sniff_content
from digirec.data.schema import OnBadRows, infer_attribute_column, validate_table
from digirec.data.tables import LoadReport, SkippedRow
from digirec.exceptions import SchemaError

__all__ = ["CHUNK_ROWS", "validate_interactions_in_chunks"]

#: Rows read, validated and typed at a time (tests lower it to cross chunk boundaries).
CHUNK_ROWS = 1_000_000

_Chunk = tuple[pd.DataFrame, np.ndarray, list[SkippedRow]]


def _iter_csv_chunks(
    path: Path, report: LoadReport, sep: str, encoding: str, n_rows: int
) -> Iterator[_Chunk]:
    """A delimited file as frames of about ``n_rows`` records, with file row numbers.

    Each block of lines (header prepended) goes through :func:`read_delimited`, so blank,
    short and over-long lines are treated exactly as in a whole-file read; row numbers are
    shifted by the records of the blocks before. A block ends at a line boundary outside
    quotes, so a quoted cell spanning lines stays in one block.
    """
    file = str(path)
    require_file(path)
    sniff_content(path, report)  # refuses Parquet/JSON/zip content with a precise message
    report.files.append(file)
    try:
        with open_text(path, encoding) as handle:
            header = handle.readline()
            if header and not header.endswith("\n"):
                header += "\n"
            offset = 0
            while True:
                lines: list[str] = []
                quotes = 0
                records = 0  # lines that end a record (outside quotes), blank ones included
                for line in handle:
                    lines.append(line)
                    quotes += line.count('"')
                    if quotes % 2 == 0:
                        records += 1
                        if len(lines) >= n_rows:
                            break
                if not lines and offset:
                    return
                scratch = LoadReport()
                text = header + "".join(lines)
                n_lines = len(lines)
                del lines
                frame, rows, malformed = read_delimited(
                    path, scratch, sep=sep, encoding=encoding, text=text
                )
                del text
                report.n_rows_read += scratch.n_rows_read
                report.notes.extend(scratch.notes)
                shifted = [SkippedRow(m.file, m.row + offset, m.field, m.reason) for m in malformed]
                yield frame, rows + offset, shifted
                # Counted here, not by the parser: a blank last line of a block is no row to
                # pandas, but it is one of the file's rows.
                offset += records
                if n_lines < n_rows:
                    return
    except UnicodeDecodeError as exc:
        raise SchemaError(f"cannot decode file as {encoding}: {exc}", file=file) from exc


def _iter_parquet_chunks(path: Path, report: LoadReport, n_rows: int) -> Iterator[_Chunk]:
    """A Parquet file as frames of at most ``n_rows`` rows (pyarrow record batches)."""
    import pyarrow.parquet as pq

    require_file(path)
    report.files.append(str(path))
    try:
        parquet = pq.ParquetFile(path)
        empty = parquet.schema_arrow.empty_table().to_pandas()
        batches = parquet.iter_batches(batch_size=n_rows)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise SchemaError(f"cannot read Parquet file: {exc}", file=str(path)) from exc
    offset = 0
    while True:
        try:
            batch = next(batches, None)
        except Exception as exc:  # a corrupt row group surfaces while iterating
            raise SchemaError(f"cannot read Parquet file: {exc}", file=str(path)) from exc
        if batch is None:
            break
        frame = batch.to_pandas()
        report.n_rows_read += len(frame)
        yield frame, np.arange(offset + 1, offset + len(frame) + 1, dtype=np.int64), []
        offset += len(frame)
    if not offset:
        yield empty, np.zeros(0, dtype=np.int64), []


def validate_interactions_in_chunks(
    path: Path,
    on_bad_rows: OnBadRows,
    report: LoadReport,
    kind: Literal["csv", "parquet"],
    *,
    sep: str,
    encoding: str = "utf-8-sig",
) -> pd.DataFrame:
    """Read and validate an interactions file chunk by chunk.

    Parameters
    ----------
    path:
        The CSV/TSV (``kind="csv"``, optionally gzipped) or Parquet file.
    on_bad_rows, report:
        As in :func:`~digirec.data.schema.validate_table`.
    kind:
        ``"csv"`` or ``"parquet"``.
    sep, encoding:
        Field separator and text encoding of a CSV file.

    Returns
    -------
    pandas.DataFrame
        The validated rows, as :func:`~digirec.data.schema.validate_table` returns them for
        the whole file. Columns beyond the canonical ones of a CSV file are typed from the
        whole column once the chunks are joined (a chunk alone could see only numbers in a
        column that holds text further down).

    Raises
    ------
    SchemaError
        Unreadable file, no columns, a missing required column, or (``"error"``) a bad row.
    """
    chunks = (
        _iter_csv_chunks(path, report, sep, encoding, CHUNK_ROWS)
        if kind == "csv"
        else _iter_parquet_chunks(path, report, CHUNK_ROWS)
    )
    parts: list[pd.DataFrame] = []
    for frame, rows, bad_lines in chunks:
        if frame.empty and not len(frame.columns) and not bad_lines:
            raise SchemaError("file has no columns", file=str(path), field=USER_ID)
        parts.append(
            validate_table(
                "interactions", frame, str(path), on_bad_rows, report,
                row_numbers=rows, extra_bad=bad_lines,
            )
        )  # fmt: skip
        del frame
    joined = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True, sort=False)
    del parts
    if kind == "csv":
        for column in joined.columns:
            if column not in INTERACTION_COLUMNS:
                joined[column] = infer_attribute_column(joined[column])
    return joined
