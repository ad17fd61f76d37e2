"""Canonical column names used across digirec.

Library code refers to these constants, never to string literals, so a column is renamed in one
place. External ids (``user_id``, ``item_id``) are strings; internal indices (``user_idx``,
``item_idx``) are contiguous ints owned by :class:`digirec.data.idmap.IdMap`.
"""

from __future__ import annotations

USER_ID = "user_id"
ITEM_ID = "item_id"
USER_IDX = "user_idx"
ITEM_IDX = "item_idx"
EVENT = "event"
WEIGHT = "weight"
RATING = "rating"
TIMESTAMP = "timestamp"
SCORE = "score"
RANK = "rank"

# Optional catalogue columns understood by filters, features and explanations.
TITLE = "title"
BRAND = "brand"
MODEL = "model"
CATEGORY = "category"
PRICE = "price"
DESCRIPTION = "description"
IMAGE_URL = "image_url"
IN_STOCK = "in_stock"
#: A catalogue item the shop hid: never recommended (the service's catalogue API sets it).
HIDDEN = "hidden"

#: Row position in the source file; the tie-breaker that keeps "file order" for equal timestamps.
SOURCE_ROW = "source_row"

INTERACTION_COLUMNS = (USER_ID, ITEM_ID, TIMESTAMP, EVENT, RATING, WEIGHT)
RECOMMENDATION_COLUMNS = (USER_ID, ITEM_ID, SCORE, RANK)
