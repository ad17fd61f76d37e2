"""Product pictures: PNG encoding and a bounded cache of rendered images."""

from __future__ import annotations

import hashlib
import re
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
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


# ====================================================================== product pictures
#: Catalogue columns a picture is drawn from (missing ones read as empty).
PICTURE_COLUMNS = ("title", "category", "subcategory", "brand", "color", "image_color",
                   "image_url", "image_path")  # fmt: skip
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".webp": "image/webp", ".gif": "image/gif", ".svg": "image/svg+xml"}  # fmt: skip

#: Colour words of product titles (longest first when matching) -> body colour.
COLOUR_WORDS: dict[str, str] = {
    "space gray": "#5f6368", "space grey": "#5f6368", "rose gold": "#e0b0a0",
    "midnight": "#1f2a44", "starlight": "#efe6d8", "graphite": "#41424c", "titanium": "#8a8680",
    "black": "#222326", "white": "#f4f4f2", "silver": "#c7c9cc", "gray": "#8d9196",
    "grey": "#8d9196", "blue": "#2f6fd6", "navy": "#1f3a68", "green": "#3f8f5a",
    "red": "#c8362f", "pink": "#e79bb5", "gold": "#d4af37", "beige": "#d9c7a7",
    "purple": "#7d55c7", "violet": "#7d55c7", "yellow": "#f2c94c", "orange": "#ef8a2c",
    "teal": "#2a9d8f", "brown": "#7b5a3c", "cream": "#f3ead3",
}  # fmt: skip
_COLOUR_RE = re.compile(
    r"\b(" + "|".join(sorted((re.escape(c) for c in COLOUR_WORDS), key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_HEX_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def body_colour(record: Mapping[str, Any]) -> str:
    """The colour a product is drawn in: the catalogue's ``color`` word, else the colour named
    in the title ("..., White" is white whatever else says), else ``image_color``, else a
    colour hashed from the brand (stable across runs)."""
    for text in (_text(record.get("color")), _text(record.get("title"))):
        match = _COLOUR_RE.search(text)
        if match:
            return COLOUR_WORDS[match.group(1).lower()]
    hex_colour = _text(record.get("image_color"))
    if _HEX_RE.match(hex_colour):
        return hex_colour.lower()
    digest = hashlib.sha256(_text(record.get("brand")).encode()).digest()
    return "#{:02x}{:02x}{:02x}".format(*(64 + b % 128 for b in digest[:3]))


#: (keywords in the sub-type / category / title, lower case) -> shape, first match wins: the
#: specific sub-types come before the category fallbacks.
SHAPES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("phone case", "case"), "phone_case"),
    (("screen protector",), "screen_protector"),
    (("earbud", "true wireless", "buds"), "earbuds"),
    (("gaming headset", "headset"), "headset"),
    (("vr headset", "vr "), "vr"),
    (("over-ear", "on-ear", "wired headphones", "headphone"), "headphones"),
    (("camera lens", "lens"), "lens"),
    (("camera batter", "battery"), "battery"),
    (("power bank",), "power_bank"),
    (("charger",), "charger"),
    (("dock", "hub"), "dock"),
    (("monitor arm",), "monitor_arm"),
    (("tv mount", "mount"), "tv_mount"),
    (("streaming",), "streaming_stick"),
    (("keyboard",), "keyboard"),
    (("mice", "mouse"), "mouse"),
    (("controller", "gamepad"), "gamepad"),
    (("handheld console",), "handheld"),
    (("console",), "console"),
    (("video game", "game"), "game_box"),
    (("software", "office", "utilit", "creative"), "software"),
    (("smartwatch", "watch"), "watch"),
    (("smart speaker",), "smart_speaker"),
    (("speaker",), "portable_speaker"),
    (("tablet",), "tablet"),
    (("laptop", "ultrabook", "notebook"), "laptop"),
    (("tv",), "tv"),
    (("monitor",), "monitor"),
    (("camera",), "camera"),
    (("smartphone", "phone"), "phone"),
    (("cable",), "cable"),
)


def product_shape(record: Mapping[str, Any]) -> str:
    """The drawing of a product: by sub-type first, then category, then title words."""
    for field in ("subcategory", "category", "title"):
        text = f" {_text(record.get(field)).lower()} "
        if not text.strip():
            continue
        for words, shape in SHAPES:
            if any(word in text for word in words):
                return shape
    return "box"


def _luma(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _draw(shape: str, body: str, edge: str) -> str:
    """SVG elements of one shape on a 160 x 160 canvas (body colour, outline colour)."""
    b = f'fill="{body}" stroke="{edge}" stroke-width="3"'
    screen = 'fill="#1d2a3a"'
    drawings = {
        "phone": f'<rect x="52" y="20" width="56" height="120" rx="10" {b}/>'
        f'<rect x="58" y="30" width="44" height="96" rx="3" {screen}/>',
        "phone_case": f'<rect x="50" y="18" width="60" height="124" rx="14" {b}/>'
        f'<rect x="58" y="28" width="20" height="26" rx="6" fill="#222" opacity=".85"/>',
        "screen_protector": f'<rect x="52" y="20" width="56" height="120" rx="10" '
        f'fill="#dfeaf2" stroke="{edge}" stroke-width="2" opacity=".9"/>'
        '<path d="M60 40 L96 28 M60 70 L100 56" stroke="#fff" stroke-width="4"/>',
        "tablet": f'<rect x="28" y="24" width="104" height="112" rx="10" {b}/>'
        f'<rect x="36" y="32" width="88" height="96" rx="3" {screen}/>',
        "laptop": f'<rect x="34" y="34" width="92" height="62" rx="5" {b}/>'
        f'<rect x="40" y="40" width="80" height="50" {screen}/>'
        f'<path d="M18 104 H142 L134 116 H26 Z" {b}/>',
        "monitor": f'<rect x="18" y="26" width="124" height="80" rx="4" {b}/>'
        f'<rect x="24" y="32" width="112" height="66" {screen}/>'
        f'<rect x="74" y="106" width="12" height="20" {b}/><rect x="52" y="126" width="56" '
        f'height="8" rx="3" {b}/>',
        "monitor_arm": f'<path d="M40 140 V100 L90 60 L120 70" fill="none" stroke="{body}" '
        f'stroke-width="10" stroke-linecap="round"/><rect x="104" y="40" width="40" height="56" '
        f'rx="3" fill="none" stroke="{edge}" stroke-width="3" stroke-dasharray="6 4"/>'
        f'<rect x="26" y="136" width="30" height="8" {b}/>',
        "tv": f'<rect x="10" y="30" width="140" height="84" rx="3" {b}/>'
        f'<rect x="15" y="35" width="130" height="74" {screen}/>'
        f'<path d="M40 114 L32 132 M120 114 L128 132" stroke="{edge}" stroke-width="5"/>',
        "tv_mount": f'<rect x="40" y="40" width="80" height="70" rx="4" fill="none" '
        f'stroke="{body}" stroke-width="10"/><path d="M80 110 V140" stroke="{body}" '
        f'stroke-width="10"/><rect x="60" y="136" width="40" height="10" {b}/>',
        "streaming_stick": f'<rect x="30" y="66" width="80" height="30" rx="8" {b}/>'
        f'<rect x="110" y="74" width="22" height="14" rx="2" fill="#9aa0a6"/>',
        "headphones": f'<path d="M36 96 V76 A44 44 0 0 1 124 76 V96" fill="none" '
        f'stroke="{edge}" stroke-width="8"/><rect x="26" y="84" width="26" height="46" rx="10" '
        f'{b}/><rect x="108" y="84" width="26" height="46" rx="10" {b}/>',
        "headset": f'<path d="M36 96 V76 A44 44 0 0 1 124 76 V96" fill="none" '
        f'stroke="{edge}" stroke-width="8"/><rect x="26" y="84" width="26" height="46" rx="10" '
        f'{b}/><rect x="108" y="84" width="26" height="46" rx="10" {b}/>'
        f'<path d="M40 124 Q50 146 78 144" fill="none" stroke="{edge}" stroke-width="5"/>'
        f'<circle cx="80" cy="144" r="5" fill="{edge}"/>',
        "earbuds": f'<rect x="44" y="92" width="72" height="44" rx="20" {b}/>'
        f'<ellipse cx="62" cy="62" rx="14" ry="18" {b}/><rect x="58" y="72" width="8" '
        f'height="22" rx="4" {b}/><ellipse cx="98" cy="62" rx="14" ry="18" {b}/>'
        f'<rect x="94" y="72" width="8" height="22" rx="4" {b}/>',
        "vr": f'<rect x="24" y="56" width="112" height="52" rx="22" {b}/>'
        '<rect x="40" y="70" width="32" height="24" rx="10" fill="#1d2a3a"/>'
        '<rect x="88" y="70" width="32" height="24" rx="10" fill="#1d2a3a"/>'
        f'<path d="M24 80 H10 M136 80 H150" stroke="{edge}" stroke-width="6"/>',
        "camera": f'<rect x="20" y="48" width="120" height="78" rx="10" {b}/>'
        f'<rect x="34" y="38" width="34" height="14" rx="3" {b}/>'
        '<circle cx="86" cy="88" r="28" fill="#2b2f36"/><circle cx="86" cy="88" r="16" '
        'fill="#4b6a88"/><circle cx="80" cy="82" r="4" fill="#dfe9f3"/>',
        "lens": f'<rect x="40" y="36" width="80" height="96" rx="10" {b}/>'
        f'<rect x="36" y="52" width="88" height="14" fill="{edge}" opacity=".5"/>'
        '<ellipse cx="80" cy="36" rx="40" ry="10" fill="#2b2f36"/>'
        '<ellipse cx="80" cy="36" rx="26" ry="6" fill="#4b6a88"/>',
        "battery": f'<rect x="46" y="30" width="68" height="104" rx="6" {b}/>'
        f'<rect x="66" y="22" width="28" height="10" rx="2" fill="{edge}"/>'
        '<path d="M84 58 L70 86 H86 L76 112" fill="none" stroke="#f2c94c" stroke-width="6"/>',
        "power_bank": f'<rect x="44" y="24" width="72" height="112" rx="14" {b}/>'
        '<circle cx="80" cy="56" r="4" fill="#3fb950"/><circle cx="80" cy="68" r="4" '
        'fill="#3fb950"/><circle cx="80" cy="80" r="4" fill="#8c959f"/>'
        '<rect x="70" y="124" width="20" height="6" rx="2" fill="#2b2f36"/>',
        "charger": f'<rect x="48" y="52" width="64" height="70" rx="10" {b}/>'
        f'<rect x="62" y="28" width="8" height="26" fill="{edge}"/>'
        f'<rect x="90" y="28" width="8" height="26" fill="{edge}"/>'
        '<rect x="70" y="102" width="20" height="8" rx="2" fill="#2b2f36"/>',
        "dock": f'<rect x="24" y="64" width="112" height="40" rx="8" {b}/>'
        + "".join(
            f'<rect x="{x}" y="78" width="12" height="10" rx="2" fill="#2b2f36"/>'
            for x in (38, 58, 78, 98, 114)
        ),
        "keyboard": f'<rect x="12" y="56" width="136" height="54" rx="6" {b}/>'
        + "".join(
            f'<rect x="{20 + 15 * i}" y="{64 + 14 * j}" width="11" height="10" rx="2" '
            f'fill="{edge}" opacity=".55"/>'
            for i in range(8)
            for j in range(3)
        ),
        "mouse": f'<rect x="54" y="30" width="52" height="96" rx="26" {b}/>'
        f'<path d="M80 30 V64" stroke="{edge}" stroke-width="3"/>'
        f'<rect x="76" y="42" width="8" height="14" rx="4" fill="{edge}"/>',
        "gamepad": f'<path d="M30 66 Q80 50 130 66 L146 116 Q150 130 134 128 L110 108 H50 '
        f'L26 128 Q10 130 14 116 Z" {b}/><path d="M44 84 H64 M54 74 V94" stroke="{edge}" '
        'stroke-width="6"/><circle cx="106" cy="80" r="6" fill="#c8362f"/>'
        '<circle cx="118" cy="92" r="6" fill="#2f6fd6"/>',
        "console": f'<rect x="22" y="58" width="116" height="52" rx="8" {b}/>'
        f'<path d="M22 88 H138" stroke="{edge}" stroke-width="3"/>'
        '<circle cx="118" cy="74" r="4" fill="#3fb950"/>',
        "handheld": f'<rect x="12" y="52" width="136" height="60" rx="26" {b}/>'
        '<rect x="46" y="58" width="68" height="48" rx="3" fill="#1d2a3a"/>'
        f'<circle cx="30" cy="82" r="7" fill="{edge}"/><circle cx="130" cy="82" r="7" '
        f'fill="{edge}"/>',
        "game_box": f'<rect x="42" y="18" width="76" height="124" rx="4" {b}/>'
        '<rect x="42" y="18" width="76" height="18" fill="#2f6fd6"/>'
        '<circle cx="80" cy="90" r="24" fill="#ffffff" opacity=".75"/>',
        "software": f'<rect x="38" y="30" width="84" height="100" rx="4" {b}/>'
        '<circle cx="80" cy="80" r="30" fill="#d0d7de" stroke="#8c959f" stroke-width="2"/>'
        '<circle cx="80" cy="80" r="8" fill="#ffffff" stroke="#8c959f" stroke-width="2"/>',
        "watch": f'<rect x="62" y="14" width="36" height="132" rx="10" fill="{edge}" '
        f'opacity=".55"/><rect x="46" y="46" width="68" height="68" rx="16" {b}/>'
        '<rect x="54" y="54" width="52" height="52" rx="10" fill="#1d2a3a"/>'
        '<path d="M80 64 V80 L90 88" stroke="#dfe9f3" stroke-width="3" fill="none"/>',
        "smart_speaker": f'<rect x="50" y="26" width="60" height="112" rx="26" {b}/>'
        f'<ellipse cx="80" cy="34" rx="24" ry="6" fill="{edge}" opacity=".5"/>'
        + "".join(
            f'<circle cx="{x}" cy="{y}" r="2" fill="{edge}" opacity=".6"/>'
            for x in (66, 74, 82, 90)
            for y in (70, 82, 94, 106)
        ),
        "portable_speaker": f'<rect x="20" y="56" width="120" height="56" rx="28" {b}/>'
        '<circle cx="52" cy="84" r="16" fill="#2b2f36"/><circle cx="108" cy="84" r="16" '
        'fill="#2b2f36"/>',
        "cable": f'<path d="M30 120 C30 40 130 120 130 40" fill="none" stroke="{body}" '
        f'stroke-width="9"/><rect x="20" y="116" width="20" height="26" rx="3" {b}/>'
        f'<rect x="120" y="18" width="20" height="26" rx="3" {b}/>',
        "box": f'<path d="M80 24 L132 50 V110 L80 136 L28 110 V50 Z" {b}/>'
        f'<path d="M28 50 L80 76 L132 50 M80 76 V136" fill="none" stroke="{edge}" '
        'stroke-width="3"/>',
    }
    return drawings.get(shape, drawings["box"])


def product_svg(record: Mapping[str, Any]) -> str:
    """A drawn product picture (SVG, 160 x 160): the shape of the sub-type and the colour of
    :func:`body_colour`. Light bodies get a darker outline so a white product stays visible."""
    body = body_colour(record)
    edge = "#6e7781" if _luma(body) > 150 else "#1b1f24"
    shape = product_shape(record)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 160 160" width="160" '
        f'height="160" data-shape="{shape}" data-colour="{body}">'
        '<rect width="160" height="160" rx="12" fill="#eef2f6"/>'
        f"{_draw(shape, body, edge)}</svg>"
    )


def local_image(record: Mapping[str, Any], folder: Path | None) -> tuple[Path, str] | None:
    """A catalogue image file: ``image_path`` / ``image_url`` naming a file inside ``folder``
    (relative names only; ``..`` or absolute paths never leave the folder)."""
    if folder is None:
        return None
    root = folder.resolve()
    for column in ("image_path", "image_url"):
        name = _text(record.get(column))
        if not name or "://" in name or name.startswith(("/", "\\")):
            continue
        path = (root / name).resolve()
        media_type = _IMAGE_TYPES.get(path.suffix.lower())
        if media_type and path.is_relative_to(root) and path.is_file():
            return path, media_type
    return None


def remote_image(record: Mapping[str, Any]) -> str | None:
    """An ``https://`` picture URL from the catalogue (shown as it is; the page's CSP allows
    ``https:`` images for it), else ``None``."""
    url = _text(record.get("image_url"))
    return url if url.startswith("https://") and " " not in url and '"' not in url else None
