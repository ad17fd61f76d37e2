"""Raw shop event logs: REES46 (Open CDP) and Taobao UserBehavior.

Both are multi-event logs (a user views, carts, buys); every row is kept as one event and the
:class:`~digirec.data.dataset.Dataset` decides how the events of a (user, item) pair combine.

``rees46`` (the Kaggle "eCommerce behavior data from multi category store" files, e.g.
``2019-Oct.csv``) has the header
``event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session``:

=================  =========================================================================
file column        digirec
=================  =========================================================================
``event_time``     ``timestamp`` ("2019-10-01 00:00:00 UTC" -> unix seconds)
``event_type``     ``event``: ``view``, ``cart``, ``purchase`` as they are; other types (the
                   full files have ``remove_from_cart``) keep their name and need a weight
                   or ``--unknown-events``
``product_id``     ``item_id``
``user_id``        ``user_id``
``user_session``   ``session`` (kept as an extra column)
``category_code``  catalogue ``category`` (``category_id`` where the code is empty), also
                   ``category_id``
``brand``          catalogue ``brand``
``price``          catalogue ``price`` (the last price seen for the product)
=================  =========================================================================

``taobao`` (Tianchi ``UserBehavior.csv``) has no header; its five columns are
``user_id,item_id,category_id,behavior_type,timestamp`` (unix seconds). ``behavior_type``
``pv`` -> ``view``, ``fav`` -> ``wishlist``, ``cart`` -> ``cart``, ``buy`` -> ``purchase``;
``category_id`` becomes the catalogue ``category``.

A truncated last line (both public heads end in one) has fewer fields than the others: it is a
bad row, so ``on_bad_rows="error"`` stops there and ``"skip"`` leaves it out with a count.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from digirec.columns import BRAND, CATEGORY, EVENT, ITEM_ID, PRICE, TIMESTAMP, USER_ID
from digirec.data.formats._common import (
    LoadRequest,
    default_name,
    first_line,
    read_delimited,
    reject_option,
    require_file,
)
from digirec.data.schema import concat_interactions, validate_table
from digirec.data.tables import LoadReport, RawData
from digirec.exceptions import SchemaError

REES46_COLUMNS = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
TAOBAO_COLUMNS = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")
#: Taobao behaviour codes -> digirec event types.
TAOBAO_EVENTS = {"pv": "view", "fav": "wishlist", "cart": "cart", "buy": "purchase"}
SESSION = "session"
CATEGORY_ID = "category_id"

_TAOBAO_LINE = re.compile(r"^\d+,\d+,\d+,(pv|buy|cart|fav),\d+\s*$")


def sniff_rees46(path: Path) -> bool:
    """Whether ``path`` is a REES46 CSV file (its exact header)."""
    if not path.is_file():
        return False
    header = [h.strip() for h in first_line(path).strip().split(",")]
    return tuple(header) == REES46_COLUMNS


def sniff_taobao(path: Path) -> bool:
    """Whether ``path`` is a Taobao UserBehavior file (no header; pv/buy/cart/fav rows)."""
    return path.is_file() and bool(_TAOBAO_LINE.match(first_line(path)))


def _file(request: LoadRequest, fmt: str) -> Path:
    reject_option(fmt, "items", request.items)
    reject_option(fmt, "users", request.users)
    return require_file(request.path)


def load_rees46(request: LoadRequest) -> RawData:
    """Load a REES46 event file (see the module docstring)."""
    path = _file(request, "rees46")
    report = LoadReport()
    frame, rows, malformed = read_delimited(
        path, report, sep=request.sep or ",", encoding=request.encoding or "utf-8-sig"
    )
    file = str(path)
    missing = [c for c in REES46_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"missing REES46 column(s) (found: {', '.join(frame.columns) or 'none'})",
            file=file,
            field=missing[0],
        )
    events = frame.rename(
        columns={"event_time": TIMESTAMP, "event_type": EVENT, "product_id": ITEM_ID}
    )
    if TIMESTAMP in events.columns:
        # "2019-10-01 00:00:00 UTC": the zone name is not ISO-8601; every stamp is UTC.
        events[TIMESTAMP] = events[TIMESTAMP].str.replace(r"\s*UTC$", "", regex=True)
    events = events.rename(columns={"user_session": SESSION})
    names = {TIMESTAMP: "event_time", EVENT: "event_type", ITEM_ID: "product_id"}
    keep = [c for c in (USER_ID, ITEM_ID, TIMESTAMP, EVENT, SESSION) if c in events.columns]
    checked = validate_table(
        "interactions",
        events[keep],
        file,
        request.on_bad_rows,
        report,
        row_numbers=rows,
        field_names=names,
        extra_bad=malformed,
    )
    catalogue = _rees46_items(frame, rows, file)
    return RawData(
        name=request.name or default_name(path),
        interactions=concat_interactions([checked]),
        items=catalogue,
        report=report,
    )


def _rees46_items(frame: pd.DataFrame, rows: np.ndarray, file: str) -> pd.DataFrame:
    """One catalogue row per product: the last brand / category / price seen in the log."""
    table = pd.DataFrame(
        {
            ITEM_ID: frame["product_id"],
            CATEGORY: frame["category_code"].where(
                frame["category_code"].str.strip() != "", frame["category_id"]
            ),
            CATEGORY_ID: frame["category_id"],
            BRAND: frame["brand"],
            PRICE: frame["price"],
        }
    )
    # A bad row was already reported (or raised) as an event; its product fields are left out
    # of the catalogue here rather than counted twice.
    items = validate_table("items", table, file, "skip", LoadReport(), row_numbers=rows)
    items = items.drop_duplicates(subset=ITEM_ID, keep="last").reset_index(drop=True)
    return items


def load_taobao(request: LoadRequest) -> RawData:
    """Load a Taobao UserBehavior file (see the module docstring)."""
    path = _file(request, "taobao")
    report = LoadReport()
    frame, rows, malformed = read_delimited(
        path,
        report,
        sep=request.sep or ",",
        header=False,
        names=TAOBAO_COLUMNS,
        encoding=request.encoding or "utf-8-sig",
    )
    events = frame.rename(columns={"behavior_type": EVENT})
    events[EVENT] = events[EVENT].map(lambda v: TAOBAO_EVENTS.get(str(v).strip().lower(), v))
    file = str(path)
    checked = validate_table(
        "interactions",
        events[[USER_ID, ITEM_ID, TIMESTAMP, EVENT]],
        file,
        request.on_bad_rows,
        report,
        row_numbers=rows,
        field_names={EVENT: "behavior_type"},
        extra_bad=malformed,
    )
    items = pd.DataFrame({ITEM_ID: frame[ITEM_ID], CATEGORY: frame[CATEGORY_ID]})
    items = validate_table("items", items, file, "skip", LoadReport(), row_numbers=rows)
    items = items.drop_duplicates(subset=ITEM_ID, keep="last").reset_index(drop=True)
    return RawData(
        name=request.name or default_name(path),
        interactions=concat_interactions([checked]),
        items=items,
        report=report,
    )
