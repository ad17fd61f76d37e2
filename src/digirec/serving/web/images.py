"""Product pictures: PNG encoding and a bounded cache of rendered images."""

from __future__ import annotations

import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

#: Picture sizes served (cards use 128 px, the product page 256 px).
IMAGE_SIZES = (128, 256)
IMAGE_CACHE_SIZE = 4096


def encode_png(image: np.ndarray) -> bytes:
    """Encode a ``(3, h, w)`` or ``(h, w, 3)`` uint8 image as a PNG (no imaging library)."""
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 3 and array.shape[0] == 3 and array.shape[2] != 3:
        array = array.transpose(1, 2, 0)
    height, width = array.shape[:2]
    # Filter type 0 ("none") before every row, then one deflate stream.
    raw = b"".join(b"\x00" + array[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


# ====================================================================== image cache
class ImageCache:
    """Rendered product PNGs, least recently used dropped first (bounded memory)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._data: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()

    def get(self, key: tuple[Any, ...], make: Callable[[], bytes]) -> bytes:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                return hit
        png = make()
        with self._lock:
            self._data[key] = png
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return png
