"""MovieLens (GroupLens): ml-100k, ml-1m / ml-10m, and ml-latest / ml-20m / ml-25m layouts.

The variant is chosen by the ratings file present in the folder:

* ``u.data`` (ml-100k): tab-separated ``user item rating timestamp``, no header;
  ``u.item`` is pipe-separated latin-1 ``id|title|release_date|video_release_date|imdb_url``
  followed by one 0/1 flag per genre (names and order in ``u.genre``); ``u.user`` is
  ``id|age|gender|occupation|zip``. The official folds ``u1..u5.base/test`` go to
  ``extras["folds"]`` and ``ua/ub`` to ``extras["ab_splits"]`` as ``(base, test)`` path pairs.
* ``ratings.dat`` (ml-1m, ml-10m): ``::``-separated ``user::item::rating::timestamp``;
  ``movies.dat`` latin-1 ``id::title::Genre|Genre``; ``users.dat`` (ml-1m only)
  ``id::gender::age::occupation::zip`` with occupation codes mapped to their names.
* ``ratings.csv`` (ml-latest, ml-20m, ml-25m): ``userId,movieId,rating,timestamp`` with a
  header; ``movies.csv`` ``movieId,title,genres``.

Every rating is one interaction (``event="rating"``, ``rating`` kept). Items get ``title``,
``category`` (the first genre), ``genres`` (names joined with ``|``) and, for ml-100k,
``release_date`` and ``imdb_url``; the ``unknown`` / ``(no genres listed)`` genre counts as no
genre. Users get ``age`` (int), ``gender``, ``occupation`` and ``zip`` (text).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from digirec.columns import CATEGORY, EVENT, ITEM_ID, RATING, TIMESTAMP, TITLE, USER_ID
from digirec.data.formats._common import (
    LoadRequest,
    read_delimited,
    read_optional,
    require_file,
)
from digirec.data.schema import (
    BadRows,
    OnBadRows,
    concat_interactions,
    validate_table,
)
from digirec.data.tables import LoadReport, RawData, SkippedRow
from digirec.exceptions import SchemaError

Variant = Literal["100k", "1m", "latest"]
RATING_EVENT = "rating"
GENRES = "genres"
RELEASE_DATE = "release_date"
IMDB_URL = "imdb_url"
AGE, GENDER, OCCUPATION, ZIP = "age", "gender", "occupation", "zip"
NO_GENRE = frozenset({"unknown", "(no genres listed)"})

RATINGS_FILE: dict[Variant, str] = {"100k": "u.data", "1m": "ratings.dat", "latest": "ratings.csv"}
ITEMS_FILE: dict[Variant, str] = {"100k": "u.item", "1m": "movies.dat", "latest": "movies.csv"}
USERS_FILE: dict[Variant, str | None] = {"100k": "u.user", "1m": "users.dat", "latest": None}

#: ml-100k genre order, used when ``u.genre`` is absent.
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip

#: ml-1m occupation codes (from the ml-1m README).
ML1M_OCCUPATIONS = {
    "0": "other", "1": "academic/educator", "2": "artist", "3": "clerical/admin",
    "4": "college/grad student", "5": "customer service", "6": "doctor/health care",
    "7": "executive/managerial", "8": "farmer", "9": "homemaker", "10": "K-12 student",
    "11": "lawyer", "12": "programmer", "13": "retired", "14": "sales/marketing",
    "15": "scientist", "16": "self-employed", "17": "technician/engineer",
    "18": "tradesman/craftsman", "19": "unemployed", "20": "writer",
}  # fmt: skip


def variant_of(path: Path) -> Variant | None:
    """The MovieLens variant of a folder (or of its ratings file), or ``None``."""
    if path.is_file():
        for variant, ratings in RATINGS_FILE.items():
            if path.name == ratings and (variant != "latest" or _has_latest_header(path)):
                return variant
        return None
    if not path.is_dir():
        return None
    for variant, ratings in RATINGS_FILE.items():
        candidate = path / ratings
        if candidate.is_file() and (variant != "latest" or _has_latest_header(candidate)):
            return variant
    return None


def sniff(path: Path) -> bool:
    """Whether ``path`` is a MovieLens folder or ratings file."""
    return variant_of(path) is not None


def _has_latest_header(path: Path) -> bool:
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        header = handle.readline().strip().split(",")
    return header[:2] == ["userId", "movieId"]


def _read_colons(
    path: Path, report: LoadReport, names: list[str], encoding: str = "latin-1"
) -> tuple[pd.DataFrame, np.ndarray, list[SkippedRow]]:
    """Read a ``::``-separated file with the fast C parser (the separator becomes ``\\x1f``)."""
    try:
        text = require_file(path).read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read file: {exc}", file=str(path)) from exc
    return read_delimited(
        path, report, sep="\x1f", header=False, names=names, text=text.replace("::", "\x1f")
    )


def read_ratings(
    path: Path, variant: Variant, on_bad_rows: OnBadRows, report: LoadReport
) -> pd.DataFrame:
    """Read a ratings file into validated interactions (``event="rating"``)."""
    names = [USER_ID, ITEM_ID, RATING, TIMESTAMP]
    field_names: dict[str, str] = {}
    if variant == "100k":
        frame, rows, bad = read_delimited(path, report, sep="\t", header=False, names=names)
    elif variant == "1m":
        frame, rows, bad = _read_colons(path, report, names)
    else:
        frame, rows, bad = read_delimited(path, report)
        field_names = {USER_ID: "userId", ITEM_ID: "movieId"}
        frame = frame.rename(columns={v: k for k, v in field_names.items()})
    frame[EVENT] = RATING_EVENT
    return validate_table(
        "interactions",
        frame,
        str(path),
        on_bad_rows,
        report,
        row_numbers=rows,
        field_names=field_names,
        extra_bad=bad,
    )


def read_genre_names(path: Path) -> list[str]:
    """Genre names in flag order from ``u.genre`` (``name|index`` lines)."""
    if not path.is_file():
        return list(ML100K_GENRES)
    names: list[tuple[int, str]] = []
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.strip():
            name, _, index = line.rpartition("|")
            names.append((int(index), name))
    return [name for _, name in sorted(names)]


def _genre_columns(genre_lists: list[list[str]]) -> tuple[list[str | None], list[str | None]]:
    """(first genre, '|'-joined genres) per item, leaving out the "no genre" markers."""
    firsts: list[str | None] = []
    joined: list[str | None] = []
    for genres in genre_lists:
        real = [g for g in genres if g and g not in NO_GENRE]
        firsts.append(real[0] if real else None)
        joined.append("|".join(real) if real else None)
    return firsts, joined


def read_items(
    path: Path, variant: Variant, on_bad_rows: OnBadRows, report: LoadReport
) -> pd.DataFrame:
    """Read the movie file of a variant into a validated catalogue."""
    file = str(path)
    field_names: dict[str, str] = {}
    if variant == "100k":
        genre_names = read_genre_names(path.parent / "u.genre")
        names = [ITEM_ID, TITLE, RELEASE_DATE, "video_release_date", IMDB_URL, *genre_names]
        frame, rows, malformed = read_delimited(
            path, report, sep="|", header=False, names=names, encoding="latin-1"
        )
        checks = BadRows(file, len(frame), on_bad_rows, report, rows)
        flags = np.zeros((len(frame), len(genre_names)), dtype=bool)
        for j, genre in enumerate(genre_names):
            values = frame[genre].fillna("").astype(str).str.strip()
            checks.flag(
                ~values.isin(["0", "1"]).to_numpy(dtype=bool),
                genre,
                lambda v: f"genre flag must be 0 or 1, got {v!r}",
                values,
            )
            flags[:, j] = (values == "1").to_numpy(dtype=bool)
        genre_lists = [[genre_names[j] for j in np.flatnonzero(row)] for row in flags]
        frame = frame.drop(columns=[*genre_names, "video_release_date"])
    else:
        if variant == "1m":
            frame, rows, malformed = _read_colons(path, report, [ITEM_ID, TITLE, GENRES])
        else:
            frame, rows, malformed = read_delimited(path, report)
            field_names = {ITEM_ID: "movieId"}
            frame = frame.rename(columns={"movieId": ITEM_ID})
        checks = BadRows(file, len(frame), on_bad_rows, report, rows)
        raw = frame[GENRES] if GENRES in frame.columns else pd.Series("", index=frame.index)
        genre_lists = [str(g).split("|") for g in raw.fillna("")]
    frame[CATEGORY], frame[GENRES] = _genre_columns(genre_lists)
    for column in frame.columns:
        if column != ITEM_ID:
            text = frame[column].astype(str).str.strip()
            frame[column] = text.where(text != "")
    return validate_table(
        "items",
        frame,
        file,
        on_bad_rows,
        report,
        field_names=field_names,
        extra_bad=malformed,
        checks=checks,
    )


def read_users(
    path: Path, variant: Variant, on_bad_rows: OnBadRows, report: LoadReport
) -> pd.DataFrame:
    """Read ``u.user`` / ``users.dat`` into validated users (age as int)."""
    file = str(path)
    if variant == "100k":
        names = [USER_ID, AGE, GENDER, OCCUPATION, ZIP]
        frame, rows, malformed = read_delimited(
            path, report, sep="|", header=False, names=names, encoding="latin-1"
        )
    else:
        names = [USER_ID, GENDER, AGE, OCCUPATION, ZIP]
        frame, rows, malformed = _read_colons(path, report, names)
        code = frame[OCCUPATION].fillna("").astype(str).str.strip()
        frame[OCCUPATION] = code.map(ML1M_OCCUPATIONS).fillna(code)
        frame = frame[[USER_ID, AGE, GENDER, OCCUPATION, ZIP]]
    checks = BadRows(file, len(frame), on_bad_rows, report, rows)
    age_text = frame[AGE].fillna("").astype(str).str.strip()
    checks.flag(
        ~age_text.str.fullmatch(r"\d+").to_numpy(dtype=bool),
        AGE,
        lambda v: f"cannot parse {v!r} as an integer age",
        age_text,
    )
    frame[AGE] = pd.to_numeric(age_text, errors="coerce")
    for column in (GENDER, OCCUPATION, ZIP):
        text = frame[column].fillna("").astype(str).str.strip()
        frame[column] = text.where(text != "")
    users = validate_table(
        "users", frame, file, on_bad_rows, report, extra_bad=malformed, checks=checks
    )
    users[AGE] = users[AGE].astype(np.int64)
    return users


def _fold_pairs(directory: Path, names: list[str]) -> list[tuple[Path, Path]]:
    pairs = [(directory / f"{n}.base", directory / f"{n}.test") for n in names]
    return [(b, t) for b, t in pairs if b.is_file() and t.is_file()]


def load_movielens(request: LoadRequest) -> RawData:
    """Load a MovieLens folder (see the module docstring).

    ``items=`` / ``users=`` name a movie / user file of the same variant to use instead.
    """
    path, on_bad_rows = request.path, request.on_bad_rows
    directory = path.parent if path.is_file() else path
    variant = variant_of(path)
    if variant is None:
        raise SchemaError(
            "no MovieLens ratings file (u.data, ratings.dat, or ratings.csv with userId)",
            file=str(path),
        )
    report = LoadReport()
    interactions = read_ratings(directory / RATINGS_FILE[variant], variant, on_bad_rows, report)
    catalogue = read_optional(
        request.items,
        directory / ITEMS_FILE[variant],
        lambda p: read_items(p, variant, on_bad_rows, report),
    )
    users_name = USERS_FILE[variant]
    people = read_optional(
        request.users,
        directory / users_name if users_name else None,
        lambda p: read_users(p, variant, on_bad_rows, report),
    )
    extras: dict[str, object] = {}
    if variant == "100k":
        folds = _fold_pairs(directory, [f"u{i}" for i in range(1, 6)])
        if folds:
            extras["folds"] = folds
        ab_splits = _fold_pairs(directory, ["ua", "ub"])
        if ab_splits:
            extras["ab_splits"] = ab_splits
    return RawData(
        name=request.name or directory.name,
        interactions=concat_interactions([interactions]),
        items=catalogue,
        users=people,
        report=report,
        extras=extras,
    )
