"""Shopper sessions of the shop front: a signed cookie bound to one shopper, rate-limited.

``POST /web/events`` writes events with the server's own key, so it must not take a user id
from whoever posts. The shop page issues a session when it shows a shopper's page
(:meth:`ShopperSessions.issue`); the event proxy accepts an event for a user only when the
request carries a valid, unexpired session cookie *for that user*
(:meth:`ShopperSessions.verify`). ``Origin`` / ``Referer`` headers are no authentication (a
script sets them at will) and are not consulted here.

The cookie value is ``<user_id>.<issued_at>.<nonce>.<mac>`` where ``mac`` is an HMAC-SHA256 of
the first three parts under the server's secret (``DIGIREC_WEB_SESSION_SECRET``, or a random
secret per process: sessions then end with a restart). Each session (nonce) may post at most
``per_minute`` events in any minute (a token bucket), so a stolen cookie cannot flood the log.

The web views call these two functions::

    from digirec.serving.shopper import shopper_sessions
    shopper_sessions(request).issue(response, user_id)    # shop page for a chosen shopper
    shopper_sessions(request).verify(request, user_id)    # event proxy, before forwarding
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from digirec.serving.errors import ServingError

#: Name of the session cookie.
SHOPPER_COOKIE = "digirec_shopper"


class ShopperSessionError(ServingError):
    """A missing, forged, expired or mismatched session (403) or too many events (429)."""


class _Bucket:
    """A token bucket: ``capacity`` tokens, refilled at ``capacity`` per ``period`` seconds."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, capacity: float, now: float) -> None:
        self.tokens = capacity
        self.stamp = now


class RateLimiter:
    """Per-key token buckets (``per_minute`` requests per minute, bursts up to that number).

    Bounded memory: the least recently used buckets beyond ``max_keys`` are dropped (a dropped
    key starts again with a full bucket, which only ever errs towards allowing).
    """

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> tuple[bool, float]:
        """Take one token for ``key``: ``(allowed, seconds until the next token)``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
                while len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
                bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True, 0.0
            return False, (1.0 - bucket.tokens) / self.rate


class ShopperSessions:
    """Issue and check signed shopper-session cookies.

    Parameters
    ----------
    secret:
        HMAC key; ``None`` draws a random one (sessions end with the process).
    ttl_s:
        Lifetime of a session in seconds.
    per_minute:
        Most events one session may post per minute.
    secure:
        Set the cookie's ``Secure`` flag (behind HTTPS).
    """

    def __init__(
        self,
        secret: bytes | None = None,
        *,
        ttl_s: float = 8 * 3600.0,
        per_minute: int = 60,
        secure: bool = False,
    ) -> None:
        self._secret = secret if secret else secrets.token_bytes(32)
        self.ttl_s = float(ttl_s)
        self.secure = secure
        self.limiter = RateLimiter(per_minute)

    def _mac(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()

    def token(self, user_id: str, *, now: float | None = None) -> str:
        """A new cookie value for ``user_id`` (the user id is everything before the last three
        dots, so ids that contain dots stay unambiguous)."""
        issued = int(time.time() if now is None else now)
        payload = f"{user_id}.{issued}.{secrets.token_hex(8)}"
        return f"{payload}.{self._mac(payload)}"

    def issue(self, response: Any, user_id: str) -> None:
        """Set the session cookie for ``user_id`` on a Starlette ``response``."""
        response.set_cookie(
            SHOPPER_COOKIE,
            self.token(user_id),
            max_age=int(self.ttl_s),
            httponly=True,
            samesite="strict",
            secure=self.secure,
            path="/",
        )

    def user_of(self, value: str | None, *, now: float | None = None) -> tuple[str, str]:
        """``(user_id, nonce)`` of a valid cookie value; raises :class:`ShopperSessionError`."""
        if not value:
            raise ShopperSessionError(
                403, "shopper_session_required", "open the shopper's page first (no session)"
            )
        parts = value.rsplit(".", 3)
        if len(parts) != 4:
            raise ShopperSessionError(403, "invalid_shopper_session", "malformed session")
        user_id, issued, nonce, mac = parts
        if not hmac.compare_digest(mac, self._mac(f"{user_id}.{issued}.{nonce}")):
            raise ShopperSessionError(403, "invalid_shopper_session", "session signature invalid")
        try:
            age = (time.time() if now is None else now) - int(issued)
        except ValueError:
            raise ShopperSessionError(403, "invalid_shopper_session", "malformed session") from None
        if not -60.0 <= age <= self.ttl_s:
            raise ShopperSessionError(403, "shopper_session_expired", "the session has expired")
        return user_id, nonce

    def verify(self, request: Any, user_id: str, *, now: float | None = None) -> None:
        """Allow one event for ``user_id`` or raise :class:`ShopperSessionError`.

        The request must carry a valid cookie issued for exactly ``user_id``, and the
        session must be under its rate limit.
        """
        owner, nonce = self.user_of(request.cookies.get(SHOPPER_COOKIE), now=now)
        if not hmac.compare_digest(owner.encode(), user_id.encode()):
            raise ShopperSessionError(
                403, "shopper_mismatch", "the session belongs to another shopper"
            )
        allowed, wait = self.limiter.allow(nonce)
        if not allowed:
            raise ShopperSessionError(
                429,
                "rate_limited",
                f"too many events from this session; retry in {wait:.0f} s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )


def shopper_sessions(request: Any) -> ShopperSessions:
    """The app's :class:`ShopperSessions` (built by ``create_app``)."""
    sessions: ShopperSessions = request.app.state.shopper_sessions
    return sessions
