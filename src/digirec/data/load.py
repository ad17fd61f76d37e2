"""Public entry point of ingestion: :func:`load_data` and :func:`detect_format`.

Every format returns :class:`~digirec.data.tables.RawData` whose ``interactions`` frame always
has ``user_id`` and ``item_id`` (Python ``str``), ``timestamp`` (float64 seconds since the
epoch, NaN when the format has no time) and ``source_row`` (int64, the read order across
files), plus ``event``, ``rating`` and ``weight`` where the source has them. Bad rows either
raise :class:`~digirec.exceptions.SchemaError` naming file, row and field, or, with
``on_bad_rows="skip"``, are listed in ``report.skipped``; nothing else is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal

from digirec.data.formats import (
    amazon,
    generic,
    lcrec,
    minionerec,
    movielens,
    rechorus,
    shoplogs,
)
from digirec.data.formats._common import LoadRequest
from digirec.data.schema import check_on_bad_rows
from digirec.data.tables import RawData
from digirec.exceptions import ConfigError, SchemaError

FORMATS = (
    "auto",
    "csv",
    "parquet",
    "jsonl",
    "lcrec",
    "rechorus",
    "amazon2014",
    "amazon2018",
    "amazon2023",
    "movielens",
    "minionerec",
    "rees46",
    "taobao",
)

Loader = Callable[[LoadRequest], RawData]

#: Formats whose files are delimited text read with ``sep`` / ``encoding``.
TEXT_OPTION_FORMATS = ("csv", "rees46", "taobao")

_LOADERS: dict[str, Loader] = {
    "csv": partial(generic.load_generic, kind="csv"),
    "parquet": partial(generic.load_generic, kind="parquet"),
    "jsonl": partial(generic.load_generic, kind="jsonl"),
    "lcrec": lcrec.load_lcrec,
    "rechorus": rechorus.load_rechorus,
    "amazon2014": partial(amazon.load_amazon, version="amazon2014"),
    "amazon2018": partial(amazon.load_amazon, version="amazon2018"),
    "amazon2023": partial(amazon.load_amazon, version="amazon2023"),
    "movielens": movielens.load_movielens,
    "minionerec": minionerec.load_minionerec,
    "rees46": shoplogs.load_rees46,
    "taobao": shoplogs.load_taobao,
}

Sniffer = Callable[[Path], bool]

#: Preprocessed layouts recognised from a single file, first match wins.
_FILE_SNIFFERS: tuple[tuple[str, Sniffer], ...] = (
    ("lcrec", lcrec.sniff),
    ("movielens", movielens.sniff),
    ("rechorus", rechorus.sniff),
    ("minionerec", lambda p: p.suffix == ".csv" and minionerec.sniff(p)),
    ("rees46", shoplogs.sniff_rees46),
    ("taobao", shoplogs.sniff_taobao),
)

#: Preprocessed layouts recognised from a folder, first match wins.
_DIR_SNIFFERS: tuple[tuple[str, Sniffer], ...] = (
    ("lcrec", lcrec.sniff),
    ("rechorus", rechorus.sniff),
    ("movielens", movielens.sniff),
    ("minionerec", minionerec.sniff),
)


def _unknown(path: Path, why: str) -> SchemaError:
    names = ", ".join(f for f in FORMATS if f != "auto")
    return SchemaError(f"{why}; pass format= one of: {names}", file=str(path))


def _first_match(path: Path, sniffers: tuple[tuple[str, Sniffer], ...]) -> str | None:
    """The format of the first sniffer that recognises ``path``, or ``None``."""
    return next((fmt for fmt, sniff in sniffers if sniff(path)), None)


def _detect_file(path: Path) -> str | None:
    """Format of a single file: preprocessed layouts, then Amazon dumps, then generic tables."""
    return _first_match(path, _FILE_SNIFFERS) or amazon.sniff_version(path) or generic.kind_of(path)


def _detect_dir(path: Path) -> str | None:
    """Format of a folder: preprocessed layouts, generic ``interactions.*``, Amazon dumps."""
    found = _first_match(path, _DIR_SNIFFERS)
    if found is not None:
        return found
    for kind in ("csv", "parquet", "jsonl"):
        if generic.find_table(path, "interactions", kind) is not None:
            return kind
    reviews = amazon.review_candidates(path)
    versions = {amazon.sniff_version(p) for p in reviews} - {None}
    if len(versions) == 1:
        return versions.pop()
    return None


def detect_format(path: str | Path) -> str:
    """Guess the format of a file or directory from the files present.

    Rules, first match wins:

    * a ``*.inter.json`` file -> ``lcrec``;
    * ``train.csv`` with the tab header ``user_id  item_id  time`` -> ``rechorus``;
    * ``u.data``, ``ratings.dat``, or ``ratings.csv`` with a ``userId`` header -> ``movielens``;
    * a ``*.item.json`` with a CSV whose header has ``history_item_id`` -> ``minionerec``;
    * a CSV with the REES46 header (``event_time,event_type,product_id,...``) -> ``rees46``;
      a headerless file of ``user,item,category,pv|buy|cart|fav,time`` rows -> ``taobao``;
    * ``interactions.<csv|tsv|parquet|jsonl>`` in a folder -> that generic format;
    * a reviews file (``.json``/``.jsonl``, gzipped or not): the keys of its first line decide:
      ``parent_asin`` -> ``amazon2023``; ``reviewerID`` with ``verified`` or ``style`` ->
      ``amazon2018`` (keys the 2018 dump introduced); otherwise ``amazon2014``. This is a
      heuristic: pass ``format=`` to override it;
    * any other ``.csv``/``.tsv``/``.parquet``/``.jsonl`` file -> that generic format.

    Parameters
    ----------
    path:
        A data file or a folder.

    Returns
    -------
    str
        One of :data:`FORMATS` other than ``"auto"``.

    Raises
    ------
    SchemaError
        The path does not exist, or no rule matches (the message lists the formats).
    """
    path = Path(path)
    if not path.exists():
        raise SchemaError("path not found", file=str(path))
    found = _detect_dir(path) if path.is_dir() else _detect_file(path)
    if found is None:
        raise _unknown(path, "cannot detect the data format")
    return found


def load_data(
    path: str | Path,
    format: str = "auto",
    on_bad_rows: Literal["error", "skip"] = "error",
    *,
    items: str | Path | None = None,
    users: str | Path | None = None,
    name: str | None = None,
    sep: str | None = None,
    encoding: str | None = None,
) -> RawData:
    """Load interactions (and catalogue / users where present) from any supported format.

    Parameters
    ----------
    path:
        A data file or folder (see :func:`detect_format` and the format modules in
        :mod:`digirec.data.formats`).
    format:
        One of :data:`FORMATS`; ``"auto"`` detects it.
    on_bad_rows:
        ``"error"`` (default) raises :class:`SchemaError` for the first bad row, naming file,
        row and field; ``"skip"`` leaves bad rows out and lists each in ``report.skipped``.
    items, users:
        Catalogue / users file overriding the one found with the data (generic formats: any
        csv/parquet/jsonl table; other formats: a file in that format's own layout). Formats
        without such a file raise :class:`~digirec.exceptions.ConfigError`.
    name:
        Data set name; defaults to the folder or file name.
    sep, encoding:
        Field separator and text encoding of delimited files (generic CSV and the shop logs);
        other formats refuse them.

    Returns
    -------
    RawData
        Interactions, optional items and users frames, the load report and format extras.

    Raises
    ------
    SchemaError
        Missing files or columns, unreadable files, undetectable format, or a bad row under
        ``on_bad_rows="error"``.
    ConfigError
        Unknown ``format`` or ``on_bad_rows`` value, or an unsupported override.
    """
    path = Path(path)
    policy = check_on_bad_rows(on_bad_rows)
    if format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; expected one of: {', '.join(FORMATS)}")
    if not path.exists():
        raise SchemaError("path not found", file=str(path))
    resolved = detect_format(path) if format == "auto" else format
    if (sep is not None or encoding is not None) and resolved not in TEXT_OPTION_FORMATS:
        raise ConfigError(
            f"--sep / --encoding apply to {', '.join(TEXT_OPTION_FORMATS)}, "
            f"not to format {resolved!r}"
        )
    if sep is not None and len(sep) != 1 and sep != "\\t":
        raise ConfigError(f"--sep must be one character, got {sep!r}")
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ConfigError(f"unknown --encoding {encoding!r}") from None
    request = LoadRequest(
        path,
        policy,
        items=Path(items) if items is not None else None,
        users=Path(users) if users is not None else None,
        name=name,
        sep="\t" if sep == "\\t" else sep,
        encoding=encoding,
    )
    return _LOADERS[resolved](request)
