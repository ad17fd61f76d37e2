"""A route whose path and query parameters are validated by one compiled pydantic model.

FastAPI validates a request's parameters one field at a time in Python (``solve_dependencies``:
alias look-up, multidict read, a validation call and its error handling per field). For the
user-list route, with 13 query parameters, ``solve_dependencies`` was 10.6 % of the server's
py-spy samples at 100k items, and a copy of the route reading ``request.query_params`` by hand
served 19-51 % more requests per second (three pairs of 4-second wrk runs, same URL, on a
loaded machine: 595/709, 469/710, 685/884 req/s). :class:`CompiledParamsRoute` keeps the
route's declaration -- the endpoint's signature, hence its OpenAPI parameters, defaults and
constraints -- and builds from those same fields one pydantic model, validated in a single
pydantic-core call. Errors are raised as FastAPI's ``RequestValidationError`` with FastAPI's
locations (``("query", "k")``), so the service's 422 body is the same.

Only routes whose parameters are path and query parameters (plus ``request``) are compiled; a
route with dependencies (a read key, when reads require one -- also when they come from an
``include_router``), headers, cookies or a body keeps FastAPI's own handler.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class CompiledParamsRoute(APIRoute):
    """An ``APIRoute`` that validates its path and query parameters with one pydantic model
    (module docstring). The endpoint must return a ``Response``."""

    def get_route_handler(self) -> Handler:
        dependant = _effective_dependant(self)
        if dependant is None or (
            dependant.dependencies
            or dependant.header_params
            or dependant.cookie_params
            or dependant.body_params
            or dependant.background_tasks_param_name
            or dependant.response_param_name
            or dependant.security_scopes_param_name
            or dependant.http_connection_param_name
        ):
            return super().get_route_handler()
        return _compiled_handler(self.name, dependant)


def _effective_dependant(route: APIRoute) -> Dependant | None:
    """The dependant FastAPI runs for ``route``: its own, or, for a route of an included
    router, the one with the include's dependencies (a read key) that FastAPI passes through
    its route context while it builds the included route's handler. ``None`` when this FastAPI
    does not say, and then the route keeps FastAPI's handler: compiling without knowing the
    include's dependencies could skip an authentication check."""
    try:
        from fastapi.routing import _effective_route_context_var
    except ImportError:
        return None
    context = _effective_route_context_var.get()
    if context is None:
        return route.dependant
    if context.original_route is not route:
        return None
    dependant: Dependant = context.dependant
    return dependant


def _field_definition(info: FieldInfo, alias: str) -> tuple[Any, FieldInfo]:
    """The field as a model field: same annotation, constraints (``metadata``), default."""
    annotation = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]  # type: ignore[assignment]
    default = ... if info.is_required() else info.default
    return annotation, Field(default, alias=alias)


def _is_sequence(info: FieldInfo) -> bool:
    from fastapi._compat import field_annotation_is_sequence

    return bool(field_annotation_is_sequence(info.annotation))


def _compiled_handler(name: str, dependant: Dependant) -> Handler:
    path_fields = list(dependant.path_params)
    query_fields = list(dependant.query_params)
    definitions: dict[str, Any] = {}
    where: dict[str, str] = {}
    for kind, fields in (("path", path_fields), ("query", query_fields)):
        for field in fields:
            definitions[field.name] = _field_definition(field.field_info, field.alias)
            where[field.alias] = kind
    model: type[BaseModel] = create_model(
        f"{name}_params",
        __config__=ConfigDict(extra="ignore", populate_by_name=False),
        **definitions,
    )
    sequences = {f.alias for f in query_fields if _is_sequence(f.field_info)}
    scalars = [f.alias for f in query_fields if f.alias not in sequences]
    request_name = dependant.request_param_name
    endpoint = dependant.call
    assert endpoint is not None
    is_async = inspect.iscoroutinefunction(endpoint)

    async def handler(request: Request) -> Response:
        raw: dict[str, Any] = dict(request.path_params)
        query = request.query_params
        if query:
            for alias in scalars:
                value = query.get(alias)
                if value is not None:
                    raw[alias] = value
            for alias in sequences:
                values = query.getlist(alias)
                if values:
                    raw[alias] = values
        try:
            parsed = model.model_validate(raw)
        except ValidationError as exc:
            raise RequestValidationError(
                [
                    {**error, "loc": (where.get(str(error["loc"][0]), "query"), *error["loc"])}
                    for error in exc.errors(include_url=False)
                ]
            ) from None
        kwargs = dict(parsed)  # field name -> value: the endpoint's parameter names
        if request_name is not None:
            kwargs[request_name] = request
        result = (
            await endpoint(**kwargs) if is_async else await run_in_threadpool(endpoint, **kwargs)
        )
        if not isinstance(result, Response):
            raise TypeError(f"{name} must return a Response under CompiledParamsRoute")
        return result

    return handler
