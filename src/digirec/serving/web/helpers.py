"""Request helpers of the web pages: ids, prices, same-origin checks, the session cookie,
redirect targets and in-process calls to the JSON API."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from digirec.serving.auth import API_KEY_HEADER
from digirec.serving.schemas import ID_PATTERN
from digirec.serving.settings import ServeSettings

#: Events the shop front may post (ratings and custom types go through the API).
WEB_EVENTS = ("click", "view", "cart", "purchase")
SESSION_COOKIE = "digirec_session"
#: Most items remembered for an anonymous browser session (oldest dropped first).
SESSION_ITEMS = 20
_ID_RE = re.compile(ID_PATTERN)

#: Pages may load only what this service serves (inline SVG needs no exception), plus
#: ``https:`` pictures named by the catalogue's ``image_url``.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: https:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def valid_id(value: str | None) -> str | None:
    return value if value and _ID_RE.fullmatch(value) else None


def parse_price(value: str | None) -> float | None:
    """A price typed into a filter: empty or invalid -> no bound."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if np.isfinite(number) and number >= 0 else None


def same_origin(request: Request) -> bool:
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


def session_items(request: Request) -> list[str]:
    raw = request.cookies.get(SESSION_COOKIE, "")
    return [i for i in raw.split("~") if valid_id(i)][-SESSION_ITEMS:]


def with_session_item(items: list[str], item_id: str) -> list[str]:
    return [*(i for i in items if i != item_id), item_id][-SESSION_ITEMS:]


def set_session(response: Response, items: list[str]) -> None:
    # A session cookie (no Max-Age): "this browser session" ends when the browser closes.
    response.set_cookie(SESSION_COOKIE, "~".join(items), httponly=True, samesite="lax", path="/")


def safe_next(value: str | None, fallback: str) -> str:
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


# ====================================================================== API sub-requests
class Api:
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


def server_key(settings: ServeSettings) -> str | None:
    keys = settings.key_values()
    return keys[0] if keys else None


def error_text(body: Any, fallback: str) -> str:
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return str(body["error"].get("message") or fallback)
    return fallback


def json_error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return JSONResponse({"error": detail}, status_code=status)


async def read_body(request: Request, is_json: bool) -> dict[str, Any] | None:
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


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


# ====================================================================== admin tickets
#: The cookie naming an admin result ticket (path ``/admin`` only).
ADMIN_TICKET_COOKIE = "digirec_admin_ticket"
#: How long an admin ticket (the result of one admin POST) can be shown again.
ADMIN_TICKET_SECONDS = 120.0


class AdminTickets:
    """Results of admin POSTs kept for a short while, for POST -> redirect -> GET.

    A ticket is a random token (``secrets.token_urlsafe``) mapped to what the action produced
    (the unlocked view, a retrain result or an error). Only the admin who typed the key holds
    the token (an HttpOnly, SameSite=Strict cookie on ``/admin``); it expires after
    :data:`ADMIN_TICKET_SECONDS`, so the manifest and the deletions are not left open.
    Bounded memory: at most ``max_tickets`` live tickets, the oldest dropped first.
    """

    def __init__(self, max_tickets: int = 256) -> None:
        self.max_tickets = max_tickets
        self._lock = threading.Lock()
        self._tickets: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    def issue(self, result: dict[str, Any], now: float | None = None) -> str:
        import secrets

        token = secrets.token_urlsafe(24)
        stamp = time.monotonic() if now is None else now
        with self._lock:
            self._tickets[token] = (stamp + ADMIN_TICKET_SECONDS, dict(result))
            while len(self._tickets) > self.max_tickets:
                self._tickets.popitem(last=False)
        return token

    def get(self, token: str | None, now: float | None = None) -> dict[str, Any] | None:
        if not token:
            return None
        stamp = time.monotonic() if now is None else now
        with self._lock:
            hit = self._tickets.get(token)
            if hit is None:
                return None
            if hit[0] < stamp:
                del self._tickets[token]
                return None
            return dict(hit[1])


# ====================================================================== money
#: Symbols shown before an amount, by ISO code (others are written as the code).
_CURRENCY_SYMBOLS = {"USD": "$", "CNY": "¥", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_money(value: Any, currency: str, lang: str = "en", *, whole: bool = False) -> str:
    """A price with the catalogue's currency: ``$1,059.99`` / ``US$1,059.99`` in Chinese (so a
    Chinese reader never takes a dollar price for yuan), ``1,059.99 SEK`` for other codes."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    amount = f"{number:,.0f}" if whole else f"{number:,.2f}"
    code = currency.upper()
    symbol = _CURRENCY_SYMBOLS.get(code)
    if symbol is None:
        return f"{amount} {code}"
    if lang == "zh" and code == "USD":
        return f"US${amount}"
    return f"{symbol}{amount}"
