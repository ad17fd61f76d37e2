"""HTTP error handling of the service: every error body is ``{"error": {"code", "message",
"field"?}}``; unexpected exceptions are logged server-side and answered with a generic 500 that
reveals nothing about the internals."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from digirec.serving.errors import ServingError

log = logging.getLogger("digirec.serving")


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    """The service's error body with ``status``."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return JSONResponse({"error": detail}, status_code=status)


#: Parts pydantic adds to an error location for the member of a union that failed
#: (``float``, ``str``, ``function-after[...]``): not request fields.
_UNION_TAG = re.compile(r"^(float|int|str|bool|none|[a-z-]+\[.*\]|constrained-[a-z]+)$")


def field_path(loc: tuple[Any, ...]) -> str | None:
    """``("body", "events", 3, "timestamp")`` -> ``"events[3].timestamp"``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, str) and _UNION_TAG.match(part):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None


#: Error codes of the HTTP errors FastAPI / Starlette raise themselves. 400: a body FastAPI
#: cannot read at all (not UTF-8); a readable body that is not JSON is 422 ``invalid_json``.
_HTTP_CODES = {
    400: "invalid_body",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
#: The methods an ``Allow`` header can name, in its order.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path (a 405's ``Allow``).

    Asks each route whether it would fully match the request with another method (routes
    and included routers alike answer ``matches``), so nothing depends on how routers nest.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Answer :class:`ServingError`, validation errors, HTTP errors and anything unexpected
    with the service's error body."""

    @app.exception_handler(ServingError)
    async def _serving(_: Request, exc: ServingError) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message, exc.field)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        code = "invalid_json" if first.get("type") == "json_invalid" else "validation_error"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem(s))"
        return error_response(422, code, message, field_path(tuple(first.get("loc", ()))))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        response = error_response(
            exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), message
        )
        # Keep the protocol headers (405 Allow, 401 WWW-Authenticate ...).
        response.headers.update(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # Starlette's Allow names the methods of the first route matching the path only;
            # a path served by several routes (GET, PUT and DELETE /v1/items/{id}) allows all.
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Full details go to the server log only; the client learns nothing about internals.
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", "internal server error")
