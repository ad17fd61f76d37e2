"""API-key authentication and authorisation (``X-API-Key`` header), with per-key rate limits.

Each configured key carries scopes (:data:`~digirec.serving.settings.SCOPES`): ``read``
(recommendations, search, profile, model info, catalogue reads), ``events`` (``POST
/v1/events``), ``catalogue`` (item and user writes), ``admin`` (retrain, privacy deletions and
their status). A bare key has every scope. An endpoint's dependency names its scope: a missing
or wrong key answers 401 with ``WWW-Authenticate``, a valid key without the scope 403. Read
endpoints check a key only when ``read_requires_key`` is set. Keys are compared in constant
time. With no key configured the protected endpoints refuse every request (secure by
default): ``digirec serve`` prints a generated key when none is given.

Every authenticated request takes one token from its key's bucket
(``rate_limit_per_minute``); beyond it the answer is 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from digirec.serving.errors import ServingError
from digirec.serving.settings import ServeSettings
from digirec.serving.shopper import RateLimiter

API_KEY_HEADER = "X-API-Key"
_CHALLENGE = {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'}

#: Declares the header in the OpenAPI docs; checking is done below (auto_error off, so the
#: error body has the service's own format).
api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


class KeyRing:
    """The configured keys with their scopes and one rate limiter shared by all of them."""

    def __init__(self, settings: ServeSettings) -> None:
        self._keys = [(key.encode(), scopes) for key, scopes in settings.scoped_keys()]
        self.limiter = RateLimiter(settings.rate_limit_per_minute)

    def scopes_of(self, presented: str | None) -> frozenset[str]:
        """Scopes of ``presented``; raises a 401 :class:`ServingError` for no or a bad key."""
        if not self._keys:
            raise ServingError(
                401,
                "unauthorized",
                "no API key is configured on this server (set DIGIREC_API_KEYS)",
                headers=_CHALLENGE,
            )
        if not presented:
            raise ServingError(
                401, "unauthorized", f"missing {API_KEY_HEADER} header", headers=_CHALLENGE
            )
        given = presented.encode()
        # Compare against every key (no early exit) so timing does not reveal which one matched.
        found: frozenset[str] | None = None
        for key, scopes in self._keys:
            if hmac.compare_digest(given, key):
                found = scopes
        if found is None:
            raise ServingError(401, "unauthorized", f"invalid {API_KEY_HEADER}", headers=_CHALLENGE)
        return found

    def check(self, presented: str | None, scope: str) -> None:
        """Authorise one request needing ``scope``: 401 / 403 / 429 as :class:`ServingError`."""
        scopes = self.scopes_of(presented)
        if scope not in scopes:
            raise ServingError(
                403, "forbidden", f"this API key lacks the {scope!r} scope", API_KEY_HEADER
            )
        assert presented is not None
        # The bucket is keyed by a digest: the limiter's memory never holds a key in clear.
        allowed, wait = self.limiter.allow(hashlib.sha256(presented.encode()).hexdigest())
        if not allowed:
            raise ServingError(
                429,
                "rate_limited",
                f"rate limit of this API key exceeded; retry in {math.ceil(wait)} s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )


def key_ring(request: Request) -> KeyRing:
    """The app's :class:`KeyRing` (built by ``create_app``)."""
    ring: KeyRing = request.app.state.key_ring
    return ring


def check_key(settings: ServeSettings, presented: str | None, scope: str = "admin") -> None:
    """Raise unless ``presented`` is a configured key with ``scope`` (no rate limit: for the
    web admin page, which checks a typed-in key once per action)."""
    ring = KeyRing(settings)
    if scope not in ring.scopes_of(presented):
        raise ServingError(403, "forbidden", f"this API key lacks the {scope!r} scope")


def require_scope(scope: str) -> Callable[..., Coroutine[Any, Any, None]]:
    """A dependency that admits only keys with ``scope`` (always checked)."""

    async def dependency(request: Request, key: str | None = Security(api_key_scheme)) -> None:
        # A coroutine: a check this small costs less than the thread-pool hop FastAPI makes
        # for a plain-function dependency.
        key_ring(request).check(key, scope)

    dependency.__name__ = f"require_{scope}"
    return dependency


async def read_key(request: Request, key: str | None = Security(api_key_scheme)) -> None:
    """Dependency of read endpoints: checks the key only when reads require one."""
    settings: ServeSettings = request.app.state.settings
    if settings.read_requires_key:
        key_ring(request).check(key, "read")
