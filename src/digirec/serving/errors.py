"""Errors of the service: one exception type that the app turns into a JSON error body.

No FastAPI import here: the serving engine raises :class:`ServingError` and the app's handler
answers ``{"error": {"code", "message", "field"?}}`` with its ``status`` and ``headers``.
"""

from __future__ import annotations

from digirec.exceptions import DigirecError


class ServingError(DigirecError):
    """A request the service cannot serve; the app turns it into a 4xx/5xx JSON error.

    Parameters
    ----------
    status:
        HTTP status.
    code:
        Stable machine-readable error code.
    message:
        Readable explanation.
    field:
        The offending request field (``events[3].timestamp``), when there is one.
    headers:
        Extra response headers (``Retry-After``, ``WWW-Authenticate`` ...).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})
