"""Official Amazon Reviews dumps: 2014, 2018 and 2023 (McAuley lab), gzipped or plain.

``PATH`` is a reviews file or a directory holding one reviews file and, optionally, the matching
metadata file:

=====  ===============================================  ================================
year   reviews                                          metadata
=====  ===============================================  ================================
2014   ``reviews_<Cat>_5.json.gz`` / ``reviews_<Cat>.json.gz``  ``meta_<Cat>.json.gz``
2018   ``<Cat>_5.json.gz`` / ``<Cat>.json.gz``          ``meta_<Cat>.json.gz``
2023   ``<Cat>.jsonl(.gz)``                             ``meta_<Cat>.jsonl(.gz)``
=====  ===============================================  ================================

Given a reviews file, only the metadata file of the same category (same folder) is used;
``items=`` names another one. Every review is one interaction with ``event="rating"``:

* 2014/2018: ``user_id`` = ``reviewerID``, ``item_id`` = ``asin``, ``rating`` = ``overall``,
  ``timestamp`` = ``unixReviewTime`` (seconds).
* 2023: ``user_id`` = ``user_id``, ``item_id`` = ``parent_asin`` (the id that joins to the
  metadata), ``rating`` = ``rating``, ``timestamp`` = ``timestamp`` (milliseconds -> seconds).

The catalogue gets ``title``, ``brand`` (2023: ``store``), ``category`` (the most specific
element of the first category path; 2023 falls back to ``main_category`` when the path is
empty), ``category_path`` (the path joined with " > "), ``price`` (2018 strings such as
``"$12.99"`` are parsed; ranges give the low end), ``description`` (list joined with spaces),
``image_url`` (first image) and the relation lists ``also_bought``, ``also_viewed``,
``bought_together`` (lists of str ids, empty when absent). Metadata items without reviews are
kept (the report notes how many). 2014 metadata lines are Python dict literals: each line is
tried as JSON first, then with :func:`ast.literal_eval`.

Messages name the line number and the file's own field (``unixReviewTime``, ``parent_asin``).
A line that is not JSON is a bad row with no field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from digirec.columns import (
    BRAND,
    CATEGORY,
    DESCRIPTION,
    EVENT,
    IMAGE_URL,
    ITEM_ID,
    PRICE,
    RATING,
    TIMESTAMP,
    TITLE,
    USER_ID,
)
from digirec.data.formats import rechorus
from digirec.data.formats._common import (
    LoadRequest,
    first_line,
    iter_json_lines,
    optional_file,
    reject_option,
    require_file,
    strip_suffixes,
)
from digirec.data.schema import (
    OnBadRows,
    concat_interactions,
    parse_list_text,
    text_from_listlike,
    validate_table,
)
from digirec.data.tables import LoadReport, RawData, SkippedRow
from digirec.exceptions import SchemaError

Version = Literal["amazon2014", "amazon2018", "amazon2023"]
VERSIONS: tuple[Version, ...] = ("amazon2014", "amazon2018", "amazon2023")
REVIEW_EVENT = "rating"
JSON_ENDINGS = (".json", ".json.gz", ".jsonl", ".jsonl.gz")

CATEGORY_PATH = "category_path"
ALSO_BOUGHT = "also_bought"
ALSO_VIEWED = "also_viewed"
BOUGHT_TOGETHER = "bought_together"
MAIN_CATEGORY = "main_category"
FEATURES = "features"

#: Review fields of each version, in canonical order: user, item, rating, time.
REVIEW_FIELDS: dict[Version, dict[str, str]] = {
    "amazon2014": {
        USER_ID: "reviewerID",
        ITEM_ID: "asin",
        RATING: "overall",
        TIMESTAMP: "unixReviewTime",
    },
    "amazon2018": {
        USER_ID: "reviewerID",
        ITEM_ID: "asin",
        RATING: "overall",
        TIMESTAMP: "unixReviewTime",
    },
    "amazon2023": {
        USER_ID: "user_id",
        ITEM_ID: "parent_asin",
        RATING: "rating",
        TIMESTAMP: "timestamp",
    },
}

#: Catalogue column -> metadata field of each version (for messages).
META_FIELDS: dict[Version, dict[str, str]] = {
    "amazon2014": {ITEM_ID: "asin", IMAGE_URL: "imUrl", CATEGORY: "categories"},
    "amazon2018": {ITEM_ID: "asin", IMAGE_URL: "image", CATEGORY: "category"},
    "amazon2023": {ITEM_ID: "parent_asin", BRAND: "store", IMAGE_URL: "images"},
}


def sniff_version(path: Path) -> Version | None:
    """Guess the Amazon version of a reviews file from the keys of its first line.

    ``parent_asin`` -> 2023; ``reviewerID`` + ``unixReviewTime`` with ``verified`` or ``style``
    -> 2018 (those keys first appear in the 2018 dump); without them -> 2014. Anything else
    (including metadata files) -> ``None``. Force the format when the guess is wrong.
    """
    if not path.is_file() or not path.name.lower().endswith(JSON_ENDINGS):
        return None
    try:
        obj = json.loads(first_line(path))
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    if "parent_asin" in obj and "user_id" in obj:
        return "amazon2023"
    if "reviewerID" in obj and "asin" in obj:
        return "amazon2018" if ("verified" in obj or "style" in obj) else "amazon2014"
    return None


def category_name(reviews: Path) -> str:
    """Category of a reviews file: ``reviews_Cell_Phones_5.json.gz`` -> ``Cell_Phones``."""
    name = strip_suffixes(reviews.name)
    name = name.removeprefix("reviews_")
    return re.sub(r"_5$", "", name)


def review_candidates(directory: Path) -> list[Path]:
    """Files in ``directory`` that may be reviews dumps (JSON, not ``meta_*``)."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.name.lower().endswith(JSON_ENDINGS) and not p.name.startswith("meta_")
    )


def find_files(path: Path) -> tuple[Path, Path | None, list[str]]:
    """The reviews file, its metadata file (or ``None``) and notes about unused meta files."""
    if path.is_dir():
        candidates = review_candidates(path)
        if not candidates:
            raise SchemaError("no reviews file (*.json[.gz] / *.jsonl[.gz]) found", file=str(path))
        if len(candidates) > 1:
            names = ", ".join(p.name for p in candidates)
            raise SchemaError(f"several reviews files ({names}); pass one as PATH", file=str(path))
        reviews = candidates[0]
    else:
        reviews = require_file(path)
    if reviews.name.startswith("meta_"):
        raise SchemaError(
            "this is a metadata file; pass the reviews file (or the folder)", file=str(reviews)
        )
    wanted = f"meta_{category_name(reviews)}"
    meta = next(
        (
            reviews.parent / f"{wanted}{end}"
            for end in JSON_ENDINGS
            if (reviews.parent / f"{wanted}{end}").is_file()
        ),
        None,
    )
    notes = [
        f"{p}: metadata file not used (its name does not match {reviews.name})"
        for p in sorted(reviews.parent.glob("meta_*"))
        if meta is None or p != meta
    ]
    return reviews, meta, notes


def read_reviews(
    path: Path, version: Version, on_bad_rows: OnBadRows, report: LoadReport
) -> pd.DataFrame:
    """Read a reviews dump into validated interactions (``event="rating"``)."""
    fields = REVIEW_FIELDS[version]
    columns: dict[str, list[object]] = {canonical: [] for canonical in fields}
    numbers: list[int] = []
    bad_lines: list[SkippedRow] = []
    pairs = list(fields.items())
    for number, obj in iter_json_lines(path, report, bad_lines):
        numbers.append(number)
        for canonical, source in pairs:
            columns[canonical].append(obj.get(source))
    frame = pd.DataFrame(columns)
    frame[EVENT] = REVIEW_EVENT
    return validate_table(
        "interactions",
        frame,
        str(path),
        on_bad_rows,
        report,
        row_numbers=np.asarray(numbers, dtype=np.int64),
        field_names=fields,
        extra_bad=bad_lines,
    )


# ------------------------------------------------------------------------------------------
# Metadata: one extractor per version turns a parsed line into catalogue fields.
# ------------------------------------------------------------------------------------------


def _category_path(path: object) -> tuple[str | None, str | None]:
    parts = [str(p).strip() for p in path if str(p).strip()] if isinstance(path, list) else []
    if not parts:
        return None, None
    return parts[-1], " > ".join(parts)


def _ids(value: object) -> list[str]:
    try:
        return parse_list_text(value)
    except ValueError:
        return []


def _first_url(value: object) -> str | None:
    """First image URL from a string, a list of strings, or 2023's list of size dicts."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):  # {"large": [...], ...}
        for key in ("large", "hi_res", "thumb"):
            found = _first_url(value.get(key))
            if found:
                return found
        return None
    if isinstance(value, list):
        for element in value:
            found = _first_url(element)
            if found:
                return found
    return None


def _asin_head(
    obj: dict[str, object], category: str | None, category_path: str | None
) -> dict[str, object]:
    """The leading catalogue fields of a 2014/2018 metadata line (id, title, brand, category)."""
    return {
        ITEM_ID: obj.get("asin"),
        TITLE: obj.get("title"),
        BRAND: obj.get("brand"),
        CATEGORY: category,
        CATEGORY_PATH: category_path,
    }


def _meta_2014(obj: dict[str, object]) -> dict[str, object]:
    categories = obj.get("categories")
    first_path = categories[0] if isinstance(categories, list) and categories else None
    category, category_path = _category_path(first_path)
    related = obj.get("related")
    related = related if isinstance(related, dict) else {}
    return {
        **_asin_head(obj, category, category_path),
        PRICE: obj.get("price"),
        DESCRIPTION: text_from_listlike(obj.get("description")),
        IMAGE_URL: _first_url(obj.get("imUrl")),
        ALSO_BOUGHT: _ids(related.get("also_bought")),
        ALSO_VIEWED: _ids(related.get("also_viewed")),
        BOUGHT_TOGETHER: _ids(related.get("bought_together")),
    }


def _meta_2018(obj: dict[str, object]) -> dict[str, object]:
    category, category_path = _category_path(obj.get("category"))
    image = obj.get("image") or obj.get("imageURLHighRes") or obj.get("imageURL")
    return {
        **_asin_head(obj, category, category_path),
        MAIN_CATEGORY: obj.get("main_cat"),
        PRICE: obj.get("price"),
        DESCRIPTION: text_from_listlike(obj.get("description")),
        FEATURES: text_from_listlike(obj.get("feature"), sep="; "),
        IMAGE_URL: _first_url(image),
        ALSO_BOUGHT: _ids(obj.get("also_buy")),
        ALSO_VIEWED: _ids(obj.get("also_view")),
    }


def _meta_2023(obj: dict[str, object]) -> dict[str, object]:
    category, category_path = _category_path(obj.get("categories"))
    main = obj.get("main_category")
    return {
        ITEM_ID: obj.get("parent_asin"),
        TITLE: obj.get("title"),
        BRAND: obj.get("store"),
        CATEGORY: category if category is not None else main,
        CATEGORY_PATH: category_path,
        MAIN_CATEGORY: main,
        PRICE: obj.get("price"),
        DESCRIPTION: text_from_listlike(obj.get("description")),
        FEATURES: text_from_listlike(obj.get("features"), sep="; "),
        IMAGE_URL: _first_url(obj.get("images")),
        "average_rating": obj.get("average_rating"),
        "rating_number": obj.get("rating_number"),
        BOUGHT_TOGETHER: _ids(obj.get("bought_together")),
    }


_META: dict[Version, Callable[[dict[str, object]], dict[str, object]]] = {
    "amazon2014": _meta_2014,
    "amazon2018": _meta_2018,
    "amazon2023": _meta_2023,
}


def read_meta(
    path: Path, version: Version, on_bad_rows: OnBadRows, report: LoadReport
) -> pd.DataFrame:
    """Read a metadata dump into a validated catalogue (see the module docstring)."""
    extract = _META[version]
    records: list[dict[str, object]] = []
    numbers: list[int] = []
    bad_lines: list[SkippedRow] = []
    literals = version == "amazon2014"
    for number, obj in iter_json_lines(path, report, bad_lines, python_literals=literals):
        numbers.append(number)
        records.append(extract(obj))
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame({ITEM_ID: []})
    for column in ("average_rating", "rating_number"):
        if column in frame.columns:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return validate_table(
        "items",
        frame,
        str(path),
        on_bad_rows,
        report,
        row_numbers=np.asarray(numbers, dtype=np.int64),
        field_names=META_FIELDS[version],
        extra_bad=bad_lines,
    )


def load_amazon(request: LoadRequest, version: Version) -> RawData:
    """Load an official Amazon Reviews dump of ``version`` (see the module docstring).

    ``items=`` names the metadata file explicitly. ``amazon2014`` given a ReChorus folder (a
    ``train.csv`` preprocessed from the 2014 dump) delegates to the ReChorus loader.
    """
    reject_option(version, "users", request.users)
    if version == "amazon2014" and rechorus.sniff(request.path):
        return rechorus.load_rechorus(request)
    reviews, found_meta, notes = find_files(request.path)
    report = LoadReport(notes=[] if request.items is not None else notes)
    on_bad_rows = request.on_bad_rows
    interactions = concat_interactions([read_reviews(reviews, version, on_bad_rows, report)])
    meta = optional_file(request.items, found_meta)
    catalogue = read_meta(meta, version, on_bad_rows, report) if meta is not None else None
    if catalogue is not None:
        n_cold = int((~catalogue[ITEM_ID].isin(interactions[ITEM_ID])).sum())
        if n_cold:
            report.notes.append(f"{meta}: {n_cold} catalogue item(s) have no reviews (kept)")
    return RawData(
        name=request.name or category_name(reviews),
        interactions=interactions,
        items=catalogue,
        report=report,
    )
