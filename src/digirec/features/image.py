"""Product images: precomputed vectors, synthetic product pictures and a small CNN.

Three pieces, one per way a shop can bring images into a model:

* :func:`load_image_vectors` reads vectors computed elsewhere (a CLIP or ResNet run over the
  product photos) and aligns them with ``item_idx``;
* :func:`render_product_image` draws a small synthetic picture of a product from its catalogue
  row -- the shape says the category (a phone is a tall rounded slab, headphones an arc with ear
  cups ...), the colour says the brand / ``image_color`` -- so image models can be developed and
  tested on the synthetic shop without any photo;
* :class:`SmallImageCNN` is a tiny convolutional encoder meant to be trained jointly with a
  recommender loss (the two-tower model's image tower).

``torch`` is imported when this module is; :mod:`digirec.features` itself does not import it.
"""

from __future__ import annotations

import colorsys
import json
import logging
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import nn

from digirec import columns as C
from digirec.data.idmap import IdMap
from digirec.exceptions import SchemaError

__all__ = [
    "IMAGE_COLOR",
    "SHAPES",
    "ImageVectors",
    "SmallImageCNN",
    "images_to_tensor",
    "load_image_vectors",
    "product_shape",
    "render_product_image",
    "render_product_images",
]

logger = logging.getLogger(__name__)

#: Catalogue column with a ``#rrggbb`` product colour (the synthetic shop has it).
IMAGE_COLOR = "image_color"

_VECTOR_COLUMNS = ("vector", "embedding", "image_vector", "image_embedding")
_ID_KEYS = (C.ITEM_ID, "ids", "id")


# ============================================================================ (a) vectors
@dataclass
class ImageVectors:
    """Image vectors aligned with ``item_idx``.

    Attributes
    ----------
    vectors:
        ``(n_items, dim)`` float32; row ``i`` belongs to ``item_idx == i``; zeros where the
        file has no vector for the item.
    mask:
        ``(n_items,)`` bool, ``True`` where the file had a vector.
    unknown_ids:
        Ids in the file that the item map does not know (ignored, reported here).
    n_duplicates:
        Repeated ids in the file (the first vector is kept).
    """

    vectors: NDArray[np.float32]
    mask: NDArray[np.bool_]
    unknown_ids: list[str] = field(default_factory=list)
    n_duplicates: int = 0

    @property
    def coverage(self) -> float:
        """Share of catalogue items that have a vector."""
        return float(self.mask.mean()) if self.mask.size else 0.0


def _read_ids_file(path: Path) -> list[str]:
    if path.suffix == ".json":
        return [str(x) for x in json.loads(path.read_text(encoding="utf-8"))]
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def _find_ids_file(path: Path) -> Path:
    stem = path.with_suffix("")
    candidates = [
        stem.with_name(stem.name + ".ids.txt"),
        stem.with_name(stem.name + "_ids.txt"),
        stem.with_name(stem.name + ".ids.json"),
        stem.with_name(stem.name + "_ids.json"),
        path.parent / "ids.txt",
        path.parent / "item_ids.txt",
    ]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    names = ", ".join(c.name for c in candidates)
    raise SchemaError(f"no ids file found next to the vectors (looked for {names})", file=str(path))


def _read_parquet(path: Path) -> tuple[list[str], NDArray[np.float32]]:
    frame = pd.read_parquet(path)
    if C.ITEM_ID not in frame.columns:
        raise SchemaError("required column is missing", file=str(path), field=C.ITEM_ID)
    ids = frame[C.ITEM_ID].astype(str).tolist()
    list_cols = [c for c in _VECTOR_COLUMNS if c in frame.columns]
    if list_cols:
        cells = frame[list_cols[0]].tolist()
        lengths = {len(c) for c in cells if c is not None}
        if len(lengths) > 1:
            raise SchemaError(
                f"vectors have different lengths {sorted(lengths)}",
                file=str(path),
                field=list_cols[0],
            )
        dim = lengths.pop() if lengths else 0
        vectors = np.zeros((len(cells), dim), dtype=np.float32)
        for i, cell in enumerate(cells):
            if cell is not None:
                vectors[i] = np.asarray(cell, dtype=np.float32)
        return ids, vectors
    numeric = [
        c for c in frame.columns if c != C.ITEM_ID and pd.api.types.is_numeric_dtype(frame[c])
    ]
    if not numeric:
        raise SchemaError(
            f"no vector column: expected one of {list(_VECTOR_COLUMNS)} or numeric columns",
            file=str(path),
        )
    return ids, frame[numeric].to_numpy(dtype=np.float32)


def _read_npz(path: Path) -> tuple[list[str], NDArray[np.float32]]:
    with np.load(path, allow_pickle=False) as z:
        id_key = next((k for k in _ID_KEYS if k in z.files), None)
        vec_key = next((k for k in ("vectors", *_VECTOR_COLUMNS) if k in z.files), None)
        if id_key is None or vec_key is None:
            raise SchemaError(
                f"an .npz needs an ids array {list(_ID_KEYS)} and a vectors array; has {z.files}",
                file=str(path),
            )
        return [str(x) for x in z[id_key].tolist()], z[vec_key].astype(np.float32)


def load_image_vectors(
    path: str | Path, item_map: IdMap, *, ids_path: str | Path | None = None
) -> ImageVectors:
    """Read precomputed image vectors and align them with ``item_idx``.

    Supported files:

    * ``.npy`` -- an ``(n, dim)`` array plus an ids file, one id per line (``ids_path``, or
      found next to it: ``<name>.ids.txt``, ``<name>_ids.txt``, ``<name>.ids.json``,
      ``ids.txt``, ``item_ids.txt``);
    * ``.npz`` -- arrays ``item_id`` (or ``ids``) and ``vectors`` (or ``embedding``);
    * ``.parquet`` -- an ``item_id`` column and either one list column (``vector``,
      ``embedding``, ``image_vector``, ``image_embedding``) or numeric columns, one per
      dimension, in file order.

    Parameters
    ----------
    path:
        The vectors file.
    item_map:
        The dataset's item id map (``Dataset.item_map``).
    ids_path:
        Ids file for a ``.npy`` array.

    Returns
    -------
    ImageVectors
        Vectors aligned with ``item_idx`` (missing items are zero rows, ``mask`` False), and the
        ids the map does not know.

    Raises
    ------
    SchemaError
        The file is missing, has an unknown suffix, or ids and vectors do not match.
    """
    path = Path(path)
    if not path.exists():
        raise SchemaError("path not found", file=str(path))
    suffix = path.suffix.lower()
    if suffix == ".npy":
        vectors = np.load(path, allow_pickle=False).astype(np.float32)
        ids = _read_ids_file(Path(ids_path) if ids_path is not None else _find_ids_file(path))
    elif suffix == ".npz":
        ids, vectors = _read_npz(path)
    elif suffix in (".parquet", ".pq"):
        ids, vectors = _read_parquet(path)
    else:
        raise SchemaError(
            f"unsupported image vector file {suffix!r}: use .npy (+ ids), .npz or .parquet",
            file=str(path),
        )
    if vectors.ndim != 2 or len(ids) != vectors.shape[0]:
        raise SchemaError(
            f"{len(ids)} ids for vectors of shape {vectors.shape}: need one id per row",
            file=str(path),
        )
    idx, known = item_map.to_internal_masked(ids)
    unknown = pd.unique(pd.Series(ids, dtype=object)[~known]).tolist()
    if unknown:
        logger.warning(
            "%d image vector id(s) are not in the catalogue, e.g. %s", len(unknown), unknown[:5]
        )
    out = np.zeros((len(item_map), vectors.shape[1]), dtype=np.float32)
    mask = np.zeros(len(item_map), dtype=bool)
    rows = np.flatnonzero(known)
    # Keep the first vector of a repeated id: assign in reverse so the first write wins.
    out[idx[rows[::-1]]] = vectors[rows[::-1]]
    mask[idx[rows]] = True
    n_dup = int(rows.size - np.unique(idx[rows]).size)
    return ImageVectors(out, mask, [str(u) for u in unknown], n_dup)


# ============================================================================ (b) rendering
#: Shape names in the order of the category keywords that select them (first match wins).
SHAPES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("headphones", ("headphone", "earbud", "earphone", "headset", "耳机")),
    ("watch", ("watch", "wearable", "band", "手表")),
    ("phone", ("phone", "mobile", "手机")),
    ("tablet", ("tablet", "ipad", "平板")),
    ("laptop", ("laptop", "notebook", "computer", "笔记本")),
    ("monitor", ("monitor", "display", "显示器")),
    ("tv", ("tv", "television", "电视")),
    ("camera", ("camera", "相机")),
    ("game", ("game", "console", "gaming", "游戏")),
    ("speaker", ("speaker", "audio", "soundbar", "音箱")),
    ("software", ("software", "movie", "music", "book", "软件")),
    ("accessory", ("accessor", "cable", "charger", "case", "card", "配件")),
)

_BACKGROUND = np.array([236, 236, 236], dtype=np.float64)
_DARK = np.array([35, 35, 40], dtype=np.float64)


def product_shape(category: object) -> str:
    """The shape drawn for a category name (``"other"`` when no keyword matches)."""
    if category is None or (isinstance(category, float) and np.isnan(category)):
        return "other"
    text = str(category).lower()
    for shape, keywords in SHAPES:
        if any(k in text for k in keywords):
            return shape
    return "other"


def _hash_rgb(text: str) -> NDArray[np.float64]:
    """A stable saturated colour for any string (brand without an image colour)."""
    h = zlib.crc32(text.encode("utf-8")) / 0xFFFFFFFF
    r, g, b = colorsys.hsv_to_rgb(h, 0.75, 0.85)
    return np.array([r, g, b]) * 255.0


def _parse_rgb(value: object) -> NDArray[np.float64] | None:
    if not isinstance(value, str):
        return None
    text = value.strip().lstrip("#")
    if len(text) != 6:
        return None
    try:
        return np.array([int(text[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float64)
    except ValueError:
        return None


class _Canvas:
    """A tiny rasteriser over the unit square (x to the right, y downwards)."""

    def __init__(self, size: int) -> None:
        coords = (np.arange(size) + 0.5) / size
        self.y, self.x = np.meshgrid(coords, coords, indexing="ij")
        self.rgb = np.broadcast_to(_BACKGROUND, (size, size, 3)).copy()

    def box(self, cx: float, cy: float, w: float, h: float, r: float = 0.0) -> NDArray[np.bool_]:
        # Signed distance of a rounded rectangle: <= 0 inside.
        qx = np.abs(self.x - cx) - (w / 2 - r)
        qy = np.abs(self.y - cy) - (h / 2 - r)
        outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
        inside = np.minimum(np.maximum(qx, qy), 0)
        return (outside + inside - r) <= 0

    def disc(self, cx: float, cy: float, r: float) -> NDArray[np.bool_]:
        return np.hypot(self.x - cx, self.y - cy) <= r

    def ring(self, cx: float, cy: float, r_out: float, r_in: float) -> NDArray[np.bool_]:
        d = np.hypot(self.x - cx, self.y - cy)
        return (d <= r_out) & (d >= r_in)

    def paint(self, mask: NDArray[np.bool_], color: NDArray[np.float64]) -> None:
        self.rgb[mask] = color


def _draw(canvas: _Canvas, shape: str, body: NDArray[np.float64]) -> None:
    c = canvas
    shade = body * 0.55 + _DARK * 0.45  # screens, lenses, buttons: a darker tone of the body
    if shape == "phone":
        c.paint(c.box(0.5, 0.5, 0.42, 0.84, 0.08), body)
        c.paint(c.box(0.5, 0.47, 0.34, 0.66, 0.02), shade)
    elif shape == "tablet":
        c.paint(c.box(0.5, 0.5, 0.66, 0.86, 0.06), body)
        c.paint(c.box(0.5, 0.5, 0.56, 0.74, 0.01), shade)
    elif shape == "laptop":
        c.paint(c.box(0.5, 0.4, 0.7, 0.46, 0.02), body)
        c.paint(c.box(0.5, 0.4, 0.6, 0.36), shade)
        c.paint(c.box(0.5, 0.7, 0.92, 0.1, 0.03), body)
    elif shape == "monitor":
        c.paint(c.box(0.5, 0.38, 0.86, 0.54, 0.02), body)
        c.paint(c.box(0.5, 0.38, 0.78, 0.46), shade)
        c.paint(c.box(0.5, 0.74, 0.1, 0.2), body)
        c.paint(c.box(0.5, 0.86, 0.44, 0.06, 0.02), body)
    elif shape == "tv":
        c.paint(c.box(0.5, 0.45, 0.96, 0.56, 0.01), _DARK)
        c.paint(c.box(0.5, 0.45, 0.9, 0.5), body)
        c.paint(c.box(0.2, 0.8, 0.06, 0.14), _DARK)
        c.paint(c.box(0.8, 0.8, 0.06, 0.14), _DARK)
    elif shape == "headphones":
        arc = c.ring(0.5, 0.55, 0.36, 0.27) & (c.y <= 0.55)
        c.paint(arc, body)
        c.paint(c.box(0.17, 0.64, 0.2, 0.32, 0.08), body)
        c.paint(c.box(0.83, 0.64, 0.2, 0.32, 0.08), body)
        c.paint(c.box(0.17, 0.64, 0.08, 0.2, 0.03), shade)
        c.paint(c.box(0.83, 0.64, 0.08, 0.2, 0.03), shade)
    elif shape == "camera":
        c.paint(c.box(0.5, 0.56, 0.84, 0.56, 0.06), body)
        c.paint(c.box(0.3, 0.25, 0.22, 0.1, 0.02), body)
        c.paint(c.disc(0.52, 0.56, 0.21), _DARK)
        c.paint(c.disc(0.52, 0.56, 0.13), shade)
    elif shape == "watch":
        c.paint(c.box(0.5, 0.5, 0.26, 0.96), _DARK)
        c.paint(c.box(0.5, 0.5, 0.5, 0.5, 0.12), body)
        c.paint(c.box(0.5, 0.5, 0.36, 0.36, 0.08), shade)
    elif shape == "game":
        c.paint(c.box(0.5, 0.52, 0.88, 0.42, 0.18), body)
        c.paint(c.box(0.27, 0.52, 0.16, 0.05), _DARK)
        c.paint(c.box(0.27, 0.52, 0.05, 0.16), _DARK)
        c.paint(c.disc(0.7, 0.46, 0.05), _DARK)
        c.paint(c.disc(0.78, 0.58, 0.05), _DARK)
    elif shape == "speaker":
        c.paint(c.box(0.5, 0.5, 0.52, 0.9, 0.08), body)
        c.paint(c.disc(0.5, 0.64, 0.18), _DARK)
        c.paint(c.disc(0.5, 0.26, 0.08), _DARK)
    elif shape == "software":
        c.paint(c.disc(0.5, 0.5, 0.42), body)
        c.paint(c.disc(0.5, 0.5, 0.09), _BACKGROUND)
        c.paint(c.ring(0.5, 0.5, 0.2, 0.16), shade)
    elif shape == "accessory":
        c.paint(c.ring(0.42, 0.58, 0.3, 0.22) & (c.x <= 0.5), body)
        c.paint(c.box(0.66, 0.3, 0.3, 0.2, 0.03), body)
        c.paint(c.box(0.66, 0.8, 0.3, 0.2, 0.03), body)
        c.paint(c.box(0.5, 0.3, 0.1, 0.08), body)
        c.paint(c.box(0.5, 0.8, 0.1, 0.08), body)
    else:
        diamond = (np.abs(c.x - 0.5) + np.abs(c.y - 0.5)) <= 0.4
        c.paint(diamond, body)


def render_product_image(
    item_row: Mapping[str, Any] | pd.Series, size: int = 32
) -> NDArray[np.uint8]:
    """Draw a small synthetic picture of a product.

    The shape follows the category (:func:`product_shape`: phones, tablets, laptops, monitors,
    TVs, headphones, cameras, watches, game pads, speakers, discs for software, cables for
    accessories, a diamond otherwise); the body colour is the row's ``image_color`` (``#rrggbb``)
    or, without one, a colour hashed from the brand. A small square in the top-left corner
    always carries the brand's hashed colour, so two brands stay apart even where the body
    colours are close.

    Parameters
    ----------
    item_row:
        A catalogue row (``Series`` or mapping) with ``category`` and optionally ``brand`` and
        ``image_color``.
    size:
        Width and height in pixels (at least 16).

    Returns
    -------
    numpy.ndarray
        ``(3, size, size)`` uint8, channels first (the layout torch convolutions take).
    """
    if size < 16:
        raise ValueError("size must be at least 16 pixels")
    row = dict(item_row)
    brand = row.get(C.BRAND)
    brand_text = (
        "" if brand is None or (isinstance(brand, float) and np.isnan(brand)) else str(brand)
    )
    body = _parse_rgb(row.get(IMAGE_COLOR))
    if body is None:
        body = _hash_rgb(brand_text or "unknown")
    canvas = _Canvas(size)
    _draw(canvas, product_shape(row.get(C.CATEGORY)), body)
    if brand_text:
        canvas.paint(canvas.box(0.07, 0.07, 0.1, 0.1), _hash_rgb(brand_text))
    img = np.clip(np.rint(canvas.rgb), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def render_product_images(items: pd.DataFrame, size: int = 32) -> NDArray[np.uint8]:
    """:func:`render_product_image` for every catalogue row: ``(n_items, 3, size, size)``."""
    rows = items.to_dict(orient="records")
    out = np.zeros((len(rows), 3, size, size), dtype=np.uint8)
    for i, row in enumerate(rows):
        out[i] = render_product_image(row, size)
    return out


# ============================================================================ (c) CNN
def images_to_tensor(images: NDArray[np.uint8] | torch.Tensor) -> torch.Tensor:
    """uint8 images ``(n, 3, h, w)`` to float32 in ``[-0.5, 0.5]`` (centred for the convs)."""
    tensor = torch.as_tensor(images)
    if tensor.dtype == torch.uint8:
        return tensor.float().div_(255.0).sub_(0.5)
    return tensor.float()


class SmallImageCNN(nn.Module):
    """A tiny image encoder: three conv blocks, pooling, a linear projection to ``dim``.

    Meant to be trained from scratch together with a recommender loss on small product
    pictures (32x32 renders or thumbnails); not a photo model. The last pooling keeps a 2x2
    grid instead of one average, because the layout (tall vs wide, where the dark parts are)
    is what tells product shapes apart.

    Parameters
    ----------
    dim:
        Embedding size.
    width:
        Channels of the first conv (doubled in each later block).
    in_channels:
        Image channels.
    dropout:
        Dropout before the projection.
    """

    def __init__(
        self, dim: int = 32, *, width: int = 16, in_channels: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.dim = dim
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * width * 4, dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embed a batch: ``(n, c, h, w)`` (uint8 or float) -> ``(n, dim)`` float."""
        if images.dtype == torch.uint8:
            images = images_to_tensor(images)
        out: torch.Tensor = self.head(self.features(images))
        return out
