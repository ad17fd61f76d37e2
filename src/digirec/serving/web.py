"""Server-rendered web pages: shop front, evaluation dashboard and admin view.

``create_app`` includes :func:`web_router`. The pages are plain HTML rendered by Jinja2 on the
server (they work without JavaScript); ``static/shop.js`` only adds conveniences (click events
before navigating, posting cart / purchase without a reload, a busy state while retraining).
Everything is served locally: no CDN, no web font, no external URL.

Routes
------
``GET /``                     shop front: pick a shopper, filters, explained recommendations,
                              the shopper's profile as a bar chart; anonymous visitors get
                              session recommendations from the items they opened in this browser
                              session (a session cookie, nothing stored on the server)
``GET /item/{item_id}``       product page with similar items and cart / buy buttons
``GET /search?q=``            natural-language product search (English or Chinese)
``GET /dashboard``            benchmark results of ``results_dir`` + the live model
``GET /admin``                model version, event rate, admin actions (key needed)
``POST /web/admin``           admin actions: show manifest and deletions, retrain
``POST /web/events``          same-origin event proxy (see below)
``GET /img/{item_id}.png``    generated product picture (``render_product_image``), cached
``GET /static/{name}``        the stylesheet and script
Every page takes ``lang=en|zh`` (default: the browser's ``Accept-Language``).

The pages are clients of the JSON API: they call the ``/v1`` endpoints in-process (an ASGI
sub-request, so validation, fallbacks and explanations are exactly the API's) rather than
reaching into the serving state.

Events from the shop front
--------------------------
Writing events needs an API key, and a key must never be embedded in a page. The browser
therefore posts events to ``POST /web/events`` on the same origin; the server forwards them to
``POST /v1/events`` with its own (first configured) key. The proxy only accepts ``click``,
``view``, ``cart`` and ``purchase`` for catalogue items, only from the same origin (checked with
``Origin`` / ``Sec-Fetch-Site``, so other sites cannot post through a visitor's browser), and
can be switched off with ``DIGIREC_WEB_EVENTS=false``. The check is no authentication: anyone who
can open the shop can post such events for the shopper they pick (a script can forge an
``Origin``). The shop front is a demonstration and operations tool; a production shop sends its
events from its own backend with its key and turns the proxy off. Admin
actions never use the server's key: the admin types a key into a password field, it is sent with
that one request (never stored in the page or a cookie) and checked like an ``X-API-Key``.

Settings (``DIGIREC_*`` environment variables, read when the app is created)
------------------------------------------------------------------------------
``DIGIREC_RESULTS_DIR``  benchmark result JSON files of the dashboard (default
                         ``benchmarks/results`` when that folder exists)
``DIGIREC_WEB_ENABLED``  serve the pages (default: yes, unless ``read_requires_key`` is set --
                         a service that locks reads should not expose a public shop front)
``DIGIREC_WEB_EVENTS``   accept events through ``/web/events`` (default yes)
"""

from __future__ import annotations

import hashlib
import re
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.concurrency import run_in_threadpool

from digirec import __version__
from digirec import columns as C
from digirec.serving.auth import API_KEY_HEADER, check_key
from digirec.serving.schemas import ID_PATTERN
from digirec.serving.settings import ServeSettings
from digirec.serving.state import ServingError

if TYPE_CHECKING:
    import jinja2

    from digirec.serving.state import Catalogue, ServingState

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
LANGS = ("en", "zh")
#: Events the shop front may post (ratings and custom types go through the API).
WEB_EVENTS = ("click", "view", "cart", "purchase")
SESSION_COOKIE = "digirec_session"
#: Most items remembered for an anonymous browser session (oldest dropped first).
SESSION_ITEMS = 20
#: Picture sizes served (cards use 128 px, the product page 256 px).
IMAGE_SIZES = (128, 256)
_IMAGE_CACHE_SIZE = 4096
_ID_RE = re.compile(ID_PATTERN)
_STATIC_RE = re.compile(r"^[a-z0-9_-]+\.(css|js|svg|png|ico)$")
_STATIC_TYPES = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
}
#: Pages may load only what this service serves (inline SVG needs no exception).
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
#: How far back the admin page reads the event log for the event rate (bounded work).
_RATE_SCAN_EVENTS = 50_000


# ====================================================================== settings
class WebSettings(BaseSettings):
    """Settings of the web pages (``DIGIREC_*`` variables; see the module docstring)."""

    model_config = SettingsConfigDict(env_prefix="DIGIREC_", extra="ignore")

    results_dir: Path | None = Field(
        default=None,
        description="Benchmark result JSON files for /dashboard (default: "
        "benchmarks/results when it exists).",
    )
    web_enabled: bool | None = Field(
        default=None, description="Serve the web pages (default: unless reads require a key)."
    )
    web_events: bool = Field(default=True, description="Accept shop-front events via /web/events.")
    web_k: int = Field(default=12, ge=1, le=100, description="Recommendations shown per list.")
    web_user_choices: int = Field(
        default=40, ge=0, le=1000, description="Most active users offered in the shopper picker."
    )

    def resolved_results_dir(self) -> Path | None:
        if self.results_dir is not None:
            return self.results_dir
        default = Path("benchmarks/results")
        return default if default.is_dir() else None


# ====================================================================== translations
#: UI labels. Explanations come from the API in both languages (``text`` / ``text_zh``).
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "site": "digirec shop",
        "skip": "Skip to content",
        "nav": "Main",
        "shop": "Shop",
        "dashboard": "Evaluation",
        "admin": "Admin",
        "switch_lang": "中文",
        "switch_lang_name": "Switch to Chinese",
        "search": "Search",
        "search_label": "Search products",
        "search_hint": "e.g. phone under 3000, 3000元以下的手机",
        "shopper": "Shopper",
        "anonymous": "Anonymous (this browser session)",
        "show": "Show",
        "recs_for": "Recommended for {user}",
        "recs_anonymous": "Recommended for you",
        "filters": "Filters",
        "category": "Category",
        "brand": "Brand",
        "any": "Any",
        "min_price": "Min price",
        "max_price": "Max price",
        "apply": "Apply filters",
        "clear_filters": "Clear",
        "price": "Price",
        "in_stock": "In stock",
        "out_of_stock": "Out of stock",
        "why": "Why",
        "source": "Source",
        "src_personalised": "personalised for this shopper",
        "src_session": "from the items opened in this session",
        "src_similar_items": "similar items",
        "src_popular_in_category": "popular in the category (fallback)",
        "src_popular": "popular right now (fallback: nothing known yet)",
        "add_to_cart": "Add to cart",
        "buy": "Buy now",
        "done_cart": "Added to the cart.",
        "done_purchase": "Purchased. The recommendations are updated.",
        "done_click": "Noted.",
        "see_updated": "See the updated recommendations",
        "event_failed": "That did not work",
        "pick_shopper": "Pick a shopper on the shop page to record purchases for them; "
        "anonymous carts live in this browser session only.",
        "similar": "Similar items",
        "profile": "Shopper profile",
        "profile_brands": "Brands",
        "profile_categories": "Categories",
        "profile_price_bands": "Price bands",
        "profile_note": "Share of this shopper's weighted activity.",
        "no_profile": "No profile yet for this shopper.",
        "no_items": "No items match.",
        "model_version": "model version",
        "version": "Model version",
        "not_found": "Not found",
        "item_not_found": "There is no item {item}.",
        "results_for": "Results for “{q}”",
        "understood": "Understood as",
        "personalised_search": "Ranked with this shopper's taste.",
        "session_items": "Items opened in this session: {n}.",
        "clear_session": "Forget this session",
        "session_empty": "Open a few products: recommendations follow what you look at.",
        "eval_title": "Evaluation dashboard",
        "live_model": "Live model",
        "results_from": "Benchmark results from {dir}",
        "no_results_dir": "No results folder is configured (set DIGIREC_RESULTS_DIR).",
        "no_result_files": "No result files in {dir}.",
        "unreadable": "Files that could not be read",
        "admin_title": "Administration",
        "event_rate": "Events per minute, last hour",
        "events_last_hour": "{n} events in the last hour ({rate:.2f} per minute).",
        "events_truncated": "(at least: only the latest {n} events were scanned)",
        "admin_key": "Admin key",
        "admin_key_hint": "Sent with this request only; never stored.",
        "show_admin": "Show manifest and deletions",
        "retrain": "Retrain now",
        "retraining": "Retraining…",
        "retrained": "Retrained: now serving version {version} ({model}, {n} interactions, "
        "{secs:.2f} s; {purged} deletion(s) purged).",
        "manifest": "Manifest",
        "deletions": "Deletion requests",
        "no_deletions": "No deletion requests.",
        "deletion_id": "Deletion",
        "user": "User",
        "status": "Status",
        "purge": "Purge",
        "requested": "Requested",
        "purged_in": "Purged in version",
        "n_events": "Events deleted",
        "key_required": "Enter the admin key.",
        "model": "Model",
        "trained_at": "Trained at",
        "users": "Users",
        "items_label": "Items",
        "catalogue_items": "Catalogue items",
        "store": "Store",
        "config": "Config",
        "footer": "Pages served by the digirec service; API under /v1 (docs at /docs).",
        "image_alt": "Picture of {title}",
    },
    "zh": {
        "site": "digirec 数码商城",
        "skip": "跳到正文",
        "nav": "主导航",
        "shop": "商城",
        "dashboard": "评估",
        "admin": "管理",
        "switch_lang": "English",
        "switch_lang_name": "切换到英文",
        "search": "搜索",
        "search_label": "搜索商品",
        "search_hint": "例如：3000元以下的手机",
        "shopper": "顾客",
        "anonymous": "匿名（本次浏览会话）",
        "show": "查看",
        "recs_for": "为 {user} 推荐",
        "recs_anonymous": "为您推荐",
        "filters": "筛选",
        "category": "品类",
        "brand": "品牌",
        "any": "全部",
        "min_price": "最低价格",
        "max_price": "最高价格",
        "apply": "应用筛选",
        "clear_filters": "清除",
        "price": "价格",
        "in_stock": "有货",
        "out_of_stock": "缺货",
        "why": "推荐理由",
        "source": "来源",
        "src_personalised": "为该顾客个性化推荐",
        "src_session": "根据本次会话打开的商品",
        "src_similar_items": "相似商品",
        "src_popular_in_category": "品类热门（兜底）",
        "src_popular": "当前热门（兜底：暂无该顾客的信息）",
        "add_to_cart": "加入购物车",
        "buy": "立即购买",
        "done_cart": "已加入购物车。",
        "done_purchase": "购买成功，推荐已更新。",
        "done_click": "已记录。",
        "see_updated": "查看更新后的推荐",
        "event_failed": "操作失败",
        "pick_shopper": "在商城页面选择顾客后即可为其记录购买；匿名购物车只保存在本次浏览会话中。",
        "similar": "相似商品",
        "profile": "顾客画像",
        "profile_brands": "品牌",
        "profile_categories": "品类",
        "profile_price_bands": "价格段",
        "profile_note": "占该顾客加权行为的比例。",
        "no_profile": "该顾客暂无画像。",
        "no_items": "没有符合条件的商品。",
        "model_version": "模型版本",
        "version": "模型版本",
        "not_found": "未找到",
        "item_not_found": "没有商品 {item}。",
        "results_for": "“{q}”的搜索结果",
        "understood": "理解为",
        "personalised_search": "已按该顾客的偏好排序。",
        "session_items": "本次会话已打开 {n} 件商品。",
        "clear_session": "清除本次会话",
        "session_empty": "打开几件商品，推荐会随您的浏览而变化。",
        "eval_title": "评估看板",
        "live_model": "线上模型",
        "results_from": "基准结果来自 {dir}",
        "no_results_dir": "未配置结果目录（设置 DIGIREC_RESULTS_DIR）。",
        "no_result_files": "{dir} 中没有结果文件。",
        "unreadable": "无法读取的文件",
        "admin_title": "管理",
        "event_rate": "最近一小时每分钟事件数",
        "events_last_hour": "最近一小时 {n} 个事件（每分钟 {rate:.2f} 个）。",
        "events_truncated": "（至少：只扫描了最近的 {n} 个事件）",
        "admin_key": "管理密钥",
        "admin_key_hint": "仅随本次请求发送，不会保存。",
        "show_admin": "查看清单与删除请求",
        "retrain": "立即重新训练",
        "retraining": "正在重新训练…",
        "retrained": "重新训练完成：当前版本 {version}（{model}，{n} 条交互，{secs:.2f} 秒；"
        "清除 {purged} 个删除请求）。",
        "manifest": "模型清单",
        "deletions": "删除请求",
        "no_deletions": "没有删除请求。",
        "deletion_id": "删除编号",
        "user": "用户",
        "status": "状态",
        "purge": "清除方式",
        "requested": "申请时间",
        "purged_in": "清除于版本",
        "n_events": "删除事件数",
        "key_required": "请输入管理密钥。",
        "model": "模型",
        "trained_at": "训练时间",
        "users": "用户数",
        "items_label": "商品数",
        "catalogue_items": "目录商品数",
        "store": "存储",
        "config": "配置",
        "footer": "页面由 digirec 服务提供；API 位于 /v1（文档见 /docs）。",
        "image_alt": "{title} 的图片",
    },
}


# ====================================================================== small helpers
def _lang(request: Request, lang: str | None) -> str:
    """``lang`` when valid, else the browser's preference (Chinese or English)."""
    if lang in LANGS:
        return lang
    accept = request.headers.get("accept-language", "").lower()
    return "zh" if accept.startswith("zh") else "en"


def _valid_id(value: str | None) -> str | None:
    return value if value and _ID_RE.fullmatch(value) else None


def _price(value: str | None) -> float | None:
    """A price typed into a filter: empty or invalid -> no bound."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if np.isfinite(number) and number >= 0 else None


def _same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from one of our own pages (CSRF defence).

    ``Sec-Fetch-Site`` (sent by current browsers) must not say cross-site, and an ``Origin``
    (or, without one, a ``Referer``) must name this host: browsers send ``Origin`` with every
    form post and ``fetch`` POST. Only the host is compared: behind a TLS proxy the scheme the
    app sees differs from the browser's. This stops other sites from posting through a
    visitor's browser; it is no authentication (see the module docstring).
    """
    site = request.headers.get("sec-fetch-site")
    if site in ("cross-site", "same-site"):
        return False
    host = request.headers.get("host", "")
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return False
    return urlsplit(origin).netloc == host


def _session_items(request: Request) -> list[str]:
    raw = request.cookies.get(SESSION_COOKIE, "")
    return [i for i in raw.split("~") if _valid_id(i)][-SESSION_ITEMS:]


def _with_session_item(items: list[str], item_id: str) -> list[str]:
    return [*(i for i in items if i != item_id), item_id][-SESSION_ITEMS:]


def _set_session(response: Response, items: list[str]) -> None:
    # A session cookie (no Max-Age): "this browser session" ends when the browser closes.
    response.set_cookie(SESSION_COOKIE, "~".join(items), httponly=True, samesite="lax", path="/")


def _safe_next(value: str | None, fallback: str) -> str:
    """A redirect target on this site only (a path, never ``//host`` or a scheme).

    Only printable ASCII without spaces is accepted: browsers drop tabs and newlines from
    URLs, which would turn ``/\t/evil.example`` into ``//evil.example``.
    """
    if (
        value
        and value.startswith("/")
        and not value.startswith("//")
        and all(33 <= ord(ch) < 127 and ch != "\\" for ch in value)
    ):
        return value
    return fallback


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


# ====================================================================== catalogue views
@dataclass(frozen=True)
class _CatalogueView:
    """Display data derived from one catalogue (rebuilt when the catalogue object changes)."""

    categories: list[tuple[str, str]]  # (value, Chinese label)
    brands: list[tuple[str, str]]
    category_zh: dict[str, str]
    brand_zh: dict[str, str]


class _Views:
    """The display data of the latest catalogue (one entry: catalogues are replaced whole)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: Any = None
        self._view: _CatalogueView | None = None

    def get(self, catalogue: Catalogue) -> _CatalogueView:
        with self._lock:
            if self._key is catalogue and self._view is not None:
                return self._view
        view = _build_view(catalogue)
        with self._lock:
            self._key, self._view = catalogue, view
        return view


def _zh_map(frame: Any, column: str, zh_column: str) -> dict[str, str]:
    if column not in frame.columns or zh_column not in frame.columns:
        return {}
    pairs = frame[[column, zh_column]].dropna().drop_duplicates(subset=[column])
    return {str(a): str(b) for a, b in zip(pairs[column], pairs[zh_column], strict=True)}


def _build_view(catalogue: Catalogue) -> _CatalogueView:
    frame = catalogue.frame

    def values(column: str) -> list[str]:
        if column not in frame.columns:
            return []
        return sorted({str(v) for v in frame[column].dropna().unique()})

    category_zh = _zh_map(frame, C.CATEGORY, "category_zh")
    brand_zh = _zh_map(frame, C.BRAND, "brand_zh")
    return _CatalogueView(
        categories=[(c, category_zh.get(c, c)) for c in values(C.CATEGORY)],
        brands=[(b, brand_zh.get(b, b)) for b in values(C.BRAND)],
        category_zh=category_zh,
        brand_zh=brand_zh,
    )


def _item_card(
    catalogue: Catalogue, view: _CatalogueView, item: Mapping[str, Any], lang: str
) -> dict[str, Any]:
    """What a product card shows: API fields, plus Chinese names from the catalogue."""
    item_id = str(item["item_id"])
    row = catalogue.positions.get(item_id)
    title = item.get("title") or (catalogue.value(row, C.TITLE) if row is not None else None)
    brand = item.get("brand") or (catalogue.value(row, C.BRAND) if row is not None else None)
    category = item.get("category") or (
        catalogue.value(row, C.CATEGORY) if row is not None else None
    )
    price = item.get("price")
    in_stock = item.get("in_stock")
    if row is not None:
        price = price if price is not None else catalogue.value(row, C.PRICE)
        in_stock = in_stock if in_stock is not None else catalogue.value(row, C.IN_STOCK)
    if lang == "zh" and row is not None:
        title = catalogue.value(row, "title_zh") or title
    explanation = item.get("explanation") or None
    reason = None
    if explanation:
        reason = explanation.get("text_zh") if lang == "zh" else explanation.get("text")
        reason = reason or explanation.get("text")
    return {
        "item_id": item_id,
        "title": str(title or item_id),
        "brand": (view.brand_zh.get(str(brand), brand) if lang == "zh" else brand)
        if brand
        else None,
        "category": (view.category_zh.get(str(category), category) if lang == "zh" else category)
        if category
        else None,
        "category_value": category,
        "price": None if price is None else float(price),
        "in_stock": None if in_stock is None else bool(in_stock),
        "reason": reason,
        "reason_kind": explanation.get("kind") if explanation else None,
    }


# ====================================================================== API sub-requests
class _Api:
    """In-process calls to the JSON API (ASGI sub-requests, no network)."""

    def __init__(self, request: Request) -> None:
        self.app = request.app

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        key: str | None = None,
    ) -> tuple[int, Any]:
        import httpx

        headers = {API_KEY_HEADER: key} if key else {}
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://digirec.local") as c:
            response = await c.request(
                method,
                path,
                params={k: v for k, v in (params or {}).items() if v not in (None, "", [])},
                json=json,
                headers=headers,
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body


def _server_key(settings: ServeSettings) -> str | None:
    keys = settings.key_values()
    return keys[0] if keys else None


def _error_text(body: Any, fallback: str) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return str(body["error"].get("message") or fallback)
    return fallback


# ====================================================================== image cache
class _ImageCache:
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


# ====================================================================== event rate
def event_rate(state: ServingState, now: float | None = None) -> dict[str, Any]:
    """Events per minute over the last hour, from the store's event log.

    Reads at most the latest :data:`_RATE_SCAN_EVENTS` events (event ids grow with time), so
    the page stays fast on a large log; ``truncated`` says the count is then a lower bound.
    """
    import pandas as pd

    now = time.time() if now is None else now
    store = state.store
    newest = store.max_event_id()
    frame = store.interactions_frame(after_id=max(0, newest - _RATE_SCAN_EVENTS))
    counts = np.zeros(60, dtype=np.int64)
    truncated = False
    if len(frame):
        stamps = frame[C.TIMESTAMP]
        if not np.issubdtype(stamps.dtype, np.number):
            stamps = pd.to_datetime(stamps, utc=True).astype("int64") / 1e9
        seconds = np.asarray(stamps, dtype=float)
        age = now - seconds
        recent = age[(age >= 0) & (age < 3600)]
        minutes = 59 - np.floor(recent / 60).astype(np.int64)
        np.add.at(counts, minutes, 1)
        truncated = newest > _RATE_SCAN_EVENTS and bool(len(recent) == len(frame))
    total = int(counts.sum())
    return {
        "per_minute": counts.tolist(),
        "total": total,
        "rate": total / 60.0,
        "truncated": truncated,
        "scanned": _RATE_SCAN_EVENTS,
    }


# ====================================================================== the router
def web_router(settings: ServeSettings, web: WebSettings | None = None) -> APIRouter:
    """The pages' routes (an empty router when the pages are switched off)."""
    web = web if web is not None else WebSettings()
    router = APIRouter(include_in_schema=False)
    enabled = web.web_enabled if web.web_enabled is not None else not settings.read_requires_key
    if not enabled:
        return router
    pages = _Pages(settings, web)
    pages.add_routes(router)
    return router


class _Pages:
    """Route handlers and the shared machinery they use (templates, caches, settings)."""

    def __init__(self, settings: ServeSettings, web: WebSettings) -> None:
        self.settings = settings
        self.web = web
        self.results_dir = web.resolved_results_dir()
        self.views = _Views()
        self.images = _ImageCache(_IMAGE_CACHE_SIZE)
        self._env: jinja2.Environment | None = None
        self._static_version = self._fingerprint_static()

    # ------------------------------------------------------------------ rendering
    @property
    def env(self) -> jinja2.Environment:
        if self._env is None:  # built on first use: no template work at import / app creation
            import jinja2

            self._env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                autoescape=jinja2.select_autoescape(["html"]),
                # A missing label or variable is a bug: fail loudly (tests render every page).
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
        return self._env

    @staticmethod
    def _fingerprint_static() -> str:
        digest = hashlib.sha256(__version__.encode())
        for path in sorted(STATIC.glob("*")):
            if path.is_file():
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:10]

    def render(
        self,
        request: Request,
        template: str,
        lang: str,
        user: str | None = None,
        status: int = 200,
        switch_path: str | None = None,
        **context: Any,
    ) -> HTMLResponse:
        labels = LABELS[lang]
        path = switch_path or request.url.path

        def link(target: str, **params: Any) -> str:
            """A URL on this site that keeps the shopper and language unless overridden."""
            query: dict[str, Any] = {"user": user, "lang": lang}
            query.update(params)
            kept = {k: v for k, v in query.items() if v not in (None, "")}
            return target + ("?" + urlencode(kept, doseq=True) if kept else "")

        # The language switch reloads the same page; one-off parameters are not repeated.
        switch = {
            k: v for k, v in request.query_params.items() if k not in ("lang", "notice", "reset")
        }
        switch["lang"] = "en" if lang == "zh" else "zh"
        html = self.env.get_template(template).render(
            t=labels,
            lang=lang,
            html_lang="zh-CN" if lang == "zh" else "en",
            user=user,
            link=link,
            path=path,
            lang_switch_url=path + "?" + urlencode(switch),
            static=lambda name: f"/static/{name}?v={self._static_version}",
            version=__version__,
            **{"q": None, **context},
        )
        response = HTMLResponse(html, status_code=status)
        response.headers.update(_SECURITY_HEADERS)
        return response

    def state(self, request: Request) -> ServingState:
        state: ServingState = request.app.state.serving
        return state

    # ------------------------------------------------------------------ routes
    def add_routes(self, router: APIRouter) -> None:
        router.add_api_route("/", self.shop, methods=["GET"], response_class=HTMLResponse)
        router.add_api_route(
            "/item/{item_id}", self.item_page, methods=["GET"], response_class=HTMLResponse
        )
        router.add_api_route("/search", self.search, methods=["GET"], response_class=HTMLResponse)
        router.add_api_route(
            "/dashboard", self.dashboard, methods=["GET"], response_class=HTMLResponse
        )
        router.add_api_route("/admin", self.admin, methods=["GET"], response_class=HTMLResponse)
        router.add_api_route("/web/admin", self.admin_action, methods=["POST"])
        router.add_api_route("/web/events", self.post_event, methods=["POST"])
        router.add_api_route("/img/{item_id}.png", self.image, methods=["GET"])
        router.add_api_route("/static/{name}", self.static_file, methods=["GET"])

    # ------------------------------------------------------------------ shop front
    async def shop(
        self,
        request: Request,
        user: str | None = None,
        lang: str | None = None,
        category: str | None = None,
        brand: str | None = None,
        min_price: str | None = None,
        max_price: str | None = None,
        notice: str | None = None,
        reset: str | None = None,
    ) -> HTMLResponse:
        """The shop front: a shopper picker, filters, recommendations and the profile.

        ``reset=1`` forgets the anonymous session (the cookie lives in the browser only).
        """
        lang = _lang(request, lang)
        labels = LABELS[lang]
        uid = _valid_id(user)
        state = self.state(request)
        current = state.current
        view = self.views.get(current.catalogue)
        filters: dict[str, Any] = {
            "category": category if category in dict(view.categories) else None,
            "brand": brand if brand in dict(view.brands) else None,
            "min_price": _price(min_price),
            "max_price": _price(max_price),
        }
        if (
            filters["min_price"] is not None
            and filters["max_price"] is not None
            and filters["min_price"] > filters["max_price"]
        ):
            filters["min_price"], filters["max_price"] = filters["max_price"], filters["min_price"]
        api = _Api(request)
        session = [] if reset else _session_items(request)
        error = None
        profile_charts: list[dict[str, str]] = []
        if uid is not None:
            status, body = await api.call(
                "GET",
                f"/v1/users/{uid}/recommendations",
                params={"k": self.web.web_k, "explain": "true", **filters},
                key=_server_key(self.settings),
            )
            profile_status, profile = await api.call(
                "GET", f"/v1/users/{uid}/profile", key=_server_key(self.settings)
            )
            if profile_status == 200 and isinstance(profile, Mapping):
                profile_charts = _profile_charts(profile, view, lang)
        else:
            status, body = await api.call(
                "POST",
                "/v1/recommendations/session",
                params={"explain": "true"},
                json={"item_ids": session, "k": self.web.web_k, **filters},
                key=_server_key(self.settings),
            )
        cards: list[dict[str, Any]] = []
        source = model_version = None
        if status == 200 and isinstance(body, Mapping):
            cards = [
                _item_card(current.catalogue, view, item, lang) for item in body.get("items", [])
            ]
            source = body.get("source")
            model_version = body.get("model_version")
        else:
            error = _error_text(body, labels["event_failed"])
        choices = self._user_choices(state)
        if uid is not None and uid not in choices:
            choices = [uid, *choices]
        response = self.render(
            request,
            "shop.html",
            lang,
            uid,
            title=labels["site"],
            cards=cards,
            source=source,
            model_version=model_version,
            error=error,
            choices=choices,
            view=view,
            filters=filters,
            profile_charts=profile_charts,
            session=session,
            notice=notice if notice in WEB_EVENTS else None,
        )
        if reset:
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _user_choices(self, state: ServingState) -> list[str]:
        """The most active users of the served model (by distinct items in training)."""
        n = self.web.web_user_choices
        snapshot = state.current.snapshot
        seen = snapshot.model.seen_.tocsr()
        counts = np.diff(seen.indptr)
        order = np.argsort(-counts, kind="stable")
        ids = snapshot.model.user_map_.to_external(order[: n + len(snapshot.forgotten)])
        return [str(u) for u in ids if str(u) not in snapshot.forgotten][:n]

    async def item_page(
        self,
        request: Request,
        item_id: str,
        user: str | None = None,
        lang: str | None = None,
        notice: str | None = None,
    ) -> HTMLResponse:
        """A product with its similar items and cart / buy buttons."""
        lang = _lang(request, lang)
        labels = LABELS[lang]
        uid = _valid_id(user)
        state = self.state(request)
        current = state.current
        view = self.views.get(current.catalogue)
        row = current.catalogue.positions.get(item_id) if _valid_id(item_id) else None
        if row is None:
            return self.render(
                request,
                "message.html",
                lang,
                uid,
                status=404,
                title=labels["not_found"],
                message=labels["item_not_found"].format(item=item_id),
            )
        item = _item_card(current.catalogue, view, {"item_id": item_id}, lang)
        description = current.catalogue.value(row, "description")
        if lang == "zh":
            description = current.catalogue.value(row, "description_zh") or description
        status, body = await _Api(request).call(
            "GET",
            f"/v1/items/{item_id}/similar",
            params={"k": 8, "explain": "true"},
            key=_server_key(self.settings),
        )
        similar = []
        if status == 200 and isinstance(body, Mapping):
            similar = [_item_card(current.catalogue, view, i, lang) for i in body.get("items", [])]
        response = self.render(
            request,
            "item.html",
            lang,
            uid,
            title=item["title"],
            item=item,
            description=description,
            similar=similar,
            notice=notice if notice in WEB_EVENTS else None,
            events_enabled=self.web.web_events,
        )
        if uid is None:
            # Anonymous: opening a product counts for this browser session's recommendations.
            _set_session(response, _with_session_item(_session_items(request), item_id))
        return response

    async def search(
        self,
        request: Request,
        q: str | None = None,
        user: str | None = None,
        lang: str | None = None,
    ) -> HTMLResponse:
        """Product search through ``/v1/search`` (English or Chinese queries)."""
        lang = _lang(request, lang)
        labels = LABELS[lang]
        uid = _valid_id(user)
        current = self.state(request).current
        view = self.views.get(current.catalogue)
        query = (q or "").strip()[:500]
        cards: list[dict[str, Any]] = []
        understood = error = None
        personalised = False
        if query:
            status, body = await _Api(request).call(
                "GET",
                "/v1/search",
                params={"q": query, "user_id": uid, "k": self.web.web_k},
                key=_server_key(self.settings),
            )
            if status == 200 and isinstance(body, Mapping):
                cards = [_item_card(current.catalogue, view, i, lang) for i in body["items"]]
                constraints = body.get("constraints") or {}
                understood = constraints.get("message_zh" if lang == "zh" else "message")
                personalised = bool(body.get("personalised"))
            else:
                error = _error_text(body, labels["event_failed"])
        return self.render(
            request,
            "search.html",
            lang,
            uid,
            title=labels["results_for"].format(q=query) if query else labels["search"],
            q=query,
            cards=cards,
            understood=understood,
            personalised=personalised,
            error=error,
        )

    # ------------------------------------------------------------------ events proxy
    async def post_event(self, request: Request) -> Response:
        """Record a shop-front event with the server's key (JSON from JS, or a plain form).

        Known shopper: forwarded to ``POST /v1/events``. Anonymous: kept in the session cookie
        only (nothing is stored on the server without a user id).
        """
        is_json = request.headers.get("content-type", "").startswith("application/json")
        if not self.web.web_events:
            return _json_error(403, "web_events_disabled", "events from the web pages are off")
        if not _same_origin(request):
            return _json_error(403, "cross_origin", "events are accepted from this site only")
        data = await _read_body(request, is_json)
        if data is None:
            return _json_error(422, "invalid_body", "expected a JSON object or a form")
        item_id = _valid_id(str(data.get("item_id") or ""))
        event = str(data.get("event") or "")
        raw_user = str(data.get("user_id") or "")
        user_id = _valid_id(raw_user)
        if event not in WEB_EVENTS:
            return _json_error(422, "invalid_event", f"event must be one of {WEB_EVENTS}", "event")
        if item_id is None or not self.state(request).knows_item(item_id):
            return _json_error(422, "unknown_item", "unknown item id", "item_id")
        if raw_user and user_id is None:
            return _json_error(422, "invalid_user", "invalid user id", "user_id")
        session = _session_items(request)
        result: dict[str, Any] = {"event": event, "item_id": item_id, "user_id": user_id}
        if user_id is None:
            session = _with_session_item(session, item_id)
            result.update(stored=False, session_items=len(session))
        else:
            key = _server_key(self.settings)
            if key is None:
                return _json_error(503, "no_key", "no API key is configured on this server")
            status, body = await _Api(request).call(
                "POST",
                "/v1/events",
                json={"events": [{"user_id": user_id, "item_id": item_id, "event": event}]},
                key=key,
            )
            if status != 200:
                return JSONResponse(body, status_code=status)
            result.update(stored=True, event_id=body.get("last_event_id"))
        response: Response
        if is_json:
            response = JSONResponse(result)
        else:
            fallback = f"/item/{item_id}"
            target = _safe_next(str(data.get("next") or ""), fallback)
            # ``next`` is the page the form was on (it carries the shopper and language).
            sep = "&" if "?" in target else "?"
            response = RedirectResponse(
                target + sep + urlencode({"notice": event}), status_code=303
            )
        if user_id is None:
            _set_session(response, session)
        return response

    # ------------------------------------------------------------------ dashboard
    async def dashboard(
        self, request: Request, lang: str | None = None, user: str | None = None
    ) -> HTMLResponse:
        """Benchmark results of ``results_dir`` and the live model's facts."""
        from digirec.evaluation.report import (
            find_result_files,
            load_results,
            render_sections,
            render_toc,
        )

        lang = _lang(request, lang)
        labels = LABELS[lang]
        status, model = await _Api(request).call("GET", "/v1/model", key=_server_key(self.settings))
        manifest = self.state(request).current.snapshot.manifest
        files: list[Any] = []
        problems: list[str] = []
        if self.results_dir is not None:
            paths = find_result_files(self.results_dir)
            files, problems = await run_in_threadpool(load_results, paths)
        return self.render(
            request,
            "dashboard.html",
            lang,
            _valid_id(user),  # kept in the links back to the shop
            title=labels["eval_title"],
            model=model if status == 200 else None,
            fit_seconds=manifest.get("fit_seconds"),
            dataset=manifest.get("dataset") or {},
            results_dir=str(self.results_dir) if self.results_dir is not None else None,
            sections=render_sections(files) if files else "",
            toc=render_toc(files) if len(files) > 1 else "",
            n_files=len(files),
            problems=problems,
        )

    # ------------------------------------------------------------------ admin
    async def admin(
        self, request: Request, lang: str | None = None, user: str | None = None
    ) -> HTMLResponse:
        """The public part of the admin view; actions need the admin key."""
        return await self._admin_page(request, _lang(request, lang), user=_valid_id(user))

    async def _admin_page(
        self,
        request: Request,
        lang: str,
        *,
        unlocked: bool = False,
        error: str | None = None,
        retrained: str | None = None,
        status: int = 200,
        user: str | None = None,
    ) -> HTMLResponse:
        from digirec.evaluation.report import svg_column_chart

        labels = LABELS[lang]
        state = self.state(request)
        api_status, model = await _Api(request).call(
            "GET", "/v1/model", key=_server_key(self.settings)
        )
        rate = await run_in_threadpool(event_rate, state)
        ticks = {0: "-60 min", 30: "-30 min", 59: "now"}
        chart = svg_column_chart(
            labels["event_rate"],
            rate["per_minute"],
            chart_id="event-rate",
            x_labels=ticks,
            width=900,
            summary=labels["events_last_hour"].format(n=rate["total"], rate=rate["rate"]),
        )
        deletions: list[dict[str, Any]] = []
        manifest: str | None = None
        if unlocked:
            import json

            manifest = json.dumps(state.current.snapshot.manifest, indent=2, default=str)
            records = await run_in_threadpool(state.store.deletions)
            deletions = [
                {
                    "deletion_id": r.deletion_id,
                    "user_id": r.user_id,
                    "status": r.status,
                    "purge": r.purge,
                    "n_events_deleted": r.n_events_deleted,
                    "requested_at": _when(r.requested_at),
                    "model_version": r.model_version,
                }
                for r in sorted(records, key=lambda r: -r.seq)[:200]
            ]
        response = self.render(
            request,
            "admin.html",
            lang,
            user,
            status=status,
            switch_path="/admin",
            title=labels["admin_title"],
            model=model if api_status == 200 else None,
            rate=rate,
            rate_chart=chart,
            unlocked=unlocked,
            manifest=manifest,
            deletions=deletions,
            error=error,
            retrained=retrained,
        )
        # The page may show deletions and the manifest: keep it out of every cache.
        response.headers["Cache-Control"] = "no-store"
        return response

    async def admin_action(self, request: Request) -> Response:
        """``action=show`` (manifest and deletions) or ``action=retrain``, with the typed key."""
        if not _same_origin(request):
            return _json_error(
                403, "cross_origin", "admin actions are accepted from this site only"
            )
        data = await _read_body(request, False) or {}
        lang = str(data["lang"]) if data.get("lang") in LANGS else _lang(request, None)
        labels = LABELS[lang]
        key = str(data.get("key") or "")
        action = data.get("action")
        if not key:
            return await self._admin_page(request, lang, error=labels["key_required"], status=401)
        try:
            check_key(self.settings, key)
        except ServingError as exc:
            return await self._admin_page(request, lang, error=exc.message, status=exc.status)
        retrained = None
        error = None
        if action == "retrain":
            status, body = await _Api(request).call("POST", "/v1/admin/retrain", key=key)
            if status == 200 and isinstance(body, Mapping):
                retrained = labels["retrained"].format(
                    version=body["model_version"],
                    model=body["model"],
                    n=body["n_interactions"],
                    secs=body["fit_seconds"],
                    purged=body["purged_deletions"],
                )
            else:
                error = _error_text(body, labels["event_failed"])
        return await self._admin_page(
            request, lang, unlocked=True, error=error, retrained=retrained
        )

    # ------------------------------------------------------------------ assets
    def image(self, request: Request, item_id: str, size: int = IMAGE_SIZES[0]) -> Response:
        """A generated picture of a catalogue item (shape by category, colour by brand)."""
        if size not in IMAGE_SIZES:
            return Response(status_code=404)
        state = self.state(request)
        catalogue = state.current.catalogue
        row = catalogue.positions.get(item_id) if _valid_id(item_id) else None
        if row is None:
            return Response(status_code=404)
        record = {
            column: catalogue.value(row, column) for column in (C.CATEGORY, C.BRAND, "image_color")
        }
        key = (item_id, size, *record.values())

        def make() -> bytes:
            from digirec.features.image import render_product_image

            return encode_png(render_product_image(record, size))

        png = self.images.get(key, make)
        return Response(
            png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"}
        )

    def static_file(self, name: str) -> Response:
        """One file of ``static/`` (a fixed set of names and types; no paths)."""
        match = _STATIC_RE.fullmatch(name)
        path = STATIC / name
        if match is None or not path.is_file():
            return Response(status_code=404)
        return Response(
            path.read_bytes(),
            media_type=_STATIC_TYPES[match.group(1)],
            headers={"Cache-Control": "public, max-age=86400", **_SECURITY_HEADERS},
        )


# ====================================================================== module helpers
def _json_error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return JSONResponse({"error": detail}, status_code=status)


async def _read_body(request: Request, is_json: bool) -> dict[str, Any] | None:
    """The request's fields from JSON or ``application/x-www-form-urlencoded``."""
    raw = await request.body()
    if is_json:
        import json

        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[-1] for k, v in parsed.items()}


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _profile_charts(
    profile: Mapping[str, Any], view: _CatalogueView, lang: str
) -> list[dict[str, str]]:
    """Three small bar charts of the profile's affinities (top six of each)."""
    from digirec.evaluation.report import svg_bar_chart

    labels = LABELS[lang]
    out = []
    parts: tuple[tuple[str, str, Mapping[str, str]], ...] = (
        ("brands", labels["profile_brands"], view.brand_zh),
        ("categories", labels["profile_categories"], view.category_zh),
        ("price_bands", labels["profile_price_bands"], {}),
    )
    for key, title, names in parts:
        shares = profile.get(key)
        if not isinstance(shares, Mapping) or not shares:
            continue
        top = sorted(shares.items(), key=lambda kv: -float(kv[1]))[:6]
        shown = [names.get(str(k), str(k)) if lang == "zh" else str(k) for k, _ in top]
        svg = svg_bar_chart(
            title,
            shown,
            [float(v) for _, v in top],
            chart_id=f"profile-{key}",
            width=300,
            highlight_best=False,
            percent=True,
        )
        out.append({"title": title, "svg": svg})
    return out
