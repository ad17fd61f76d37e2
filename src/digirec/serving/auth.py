"""API-key authentication (``X-API-Key`` header).

Write, delete and admin endpoints always need a key; read endpoints only when
``read_requires_key`` is set. Keys are compared in constant time. With no key configured the
protected endpoints refuse every request (secure by default): ``digirec serve`` prints a
generated key when none is given.
"""

from __future__ import annotations

import hmac

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from digirec.serving.settings import ServeSettings
from digirec.serving.state import ServingError

API_KEY_HEADER = "X-API-Key"

#: Declares the header in the OpenAPI docs; checking is done below (auto_error off, so the
#: error body has the service's own format).
api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


def _settings(request: Request) -> ServeSettings:
    settings: ServeSettings = request.app.state.settings
    return settings


def check_key(settings: ServeSettings, presented: str | None) -> None:
    """Raise a 401 :class:`ServingError` unless ``presented`` is one of the configured keys."""
    keys = settings.key_values()
    if not keys:
        raise ServingError(
            401, "unauthorized", "no API key is configured on this server (set DIGIREC_API_KEYS)"
        )
    if not presented:
        raise ServingError(401, "unauthorized", f"missing {API_KEY_HEADER} header")
    given = presented.encode()
    # Compare against every key (no early exit) so timing does not reveal which one matched.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode())
    if not matched:
        raise ServingError(401, "unauthorized", f"invalid {API_KEY_HEADER}")


def require_key(request: Request, key: str | None = Security(api_key_scheme)) -> None:
    """Dependency of write / delete / admin endpoints."""
    check_key(_settings(request), key)


def read_key(request: Request, key: str | None = Security(api_key_scheme)) -> None:
    """Dependency of read endpoints: checks the key only when reads require one."""
    settings = _settings(request)
    if settings.read_requires_key:
        check_key(settings, key)
