"""The compiled-parameter route answers every query exactly as FastAPI's own route does, and
the coalescing transport sends one write per event-loop step."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from digirec.serving.handlers import install_error_handlers
from digirec.serving.http_protocol import CoalescingTransport
from digirec.serving.routes._compiled import CompiledParamsRoute
from digirec.serving.routes._shared import Category, Diversity, Explain, K, MaxPrice, MinPrice


async def endpoint(
    request: Request,
    user_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:@-]{1,128}$")],
    category: Category = None,
    k: K = None,
    min_price: MinPrice = None,
    max_price: MaxPrice = None,
    in_stock: bool | None = None,
    exclude_seen: bool = True,
    diversity: Diversity = 0.0,
    explain: Explain = None,
    label: Annotated[str, Query(max_length=5)] = "x",
) -> Response:
    values = {
        "user_id": user_id,
        "category": category,
        "k": k,
        "min_price": min_price,
        "max_price": max_price,
        "in_stock": in_stock,
        "exclude_seen": exclude_seen,
        "diversity": diversity,
        "explain": explain,
        "label": label,
        "path": request.url.path,
    }
    return JSONResponse({name: repr(value) for name, value in values.items()})


def _app(route_class: type[APIRoute]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.router.add_api_route(
        "/u/{user_id}", endpoint, methods=["GET"], route_class_override=route_class
    )
    return app


QUERIES = [
    "",
    "k=10&category=Phones&max_price=189",
    "category=Phones&category=TVs&category=Phones",
    "k=3&k=7",  # the last value wins, as in FastAPI
    "k=abc",
    "k=",
    "k=1.5",
    "min_price=-1",
    "min_price=5&max_price=-2&diversity=2",
    "in_stock=yes&exclude_seen=0&explain=false",
    "in_stock=maybe",
    "diversity=0.25&label=abcdef",
    "unknown=1&k=4",
    "category=",
    "max_price=nan",
    "max_price=inf",
    "exclude_seen=true&exclude_seen=false",
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("user", ["alice", "bad%20id", "a" * 129])
def test_compiled_route_answers_as_fastapis_route(query: str, user: str) -> None:
    plain = TestClient(_app(APIRoute))
    compiled = TestClient(_app(CompiledParamsRoute))
    url = f"/u/{user}?{query}"
    want, got = plain.get(url), compiled.get(url)
    assert got.status_code == want.status_code, (url, want.text, got.text)
    assert got.json() == want.json(), url


def test_compiled_route_keeps_the_openapi_parameters() -> None:
    plain = _app(APIRoute).openapi()["paths"]["/u/{user_id}"]["get"]["parameters"]
    compiled = _app(CompiledParamsRoute).openapi()["paths"]["/u/{user_id}"]["get"]["parameters"]
    assert compiled == plain


def test_a_route_with_dependencies_keeps_fastapis_handler() -> None:
    from fastapi import Depends

    calls: list[str] = []

    def dependency(request: Request) -> None:
        calls.append(request.url.path)

    app = FastAPI()
    app.router.add_api_route(
        "/d/{user_id}",
        endpoint,
        methods=["GET"],
        dependencies=[Depends(dependency)],
        route_class_override=CompiledParamsRoute,
    )
    assert TestClient(app).get("/d/abc?k=2").status_code == 200
    assert calls == ["/d/abc"]


def test_dependencies_of_an_include_still_run() -> None:
    """A read key is added when the router is included: the compiled route must not skip it."""
    from fastapi import APIRouter, Depends, HTTPException

    def need_key(request: Request) -> None:
        if request.headers.get("X-Key") != "k":
            raise HTTPException(401, "key")

    router = APIRouter()
    router.add_api_route(
        "/u/{user_id}", endpoint, methods=["GET"], route_class_override=CompiledParamsRoute
    )
    locked, open_ = FastAPI(), FastAPI()
    locked.include_router(router, dependencies=[Depends(need_key)])
    open_.include_router(router)
    assert TestClient(locked).get("/u/alice?k=2").status_code == 401
    assert TestClient(locked).get("/u/alice?k=2", headers={"X-Key": "k"}).status_code == 200
    assert TestClient(open_).get("/u/alice?k=2").status_code == 200


class _RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def test_writes_of_one_loop_step_leave_as_one_write() -> None:
    async def scenario() -> _RecordingTransport:
        real = _RecordingTransport()
        transport = CoalescingTransport(real, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(memoryview(b"body"))
        transport.write(b"")
        assert real.writes == [] and transport.get_write_buffer_size() == 23
        await asyncio.sleep(0)
        assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        transport.write(b"chunk-1")
        await asyncio.sleep(0)
        transport.write(b"chunk-2")
        await asyncio.sleep(0)
        assert real.writes[1:] == [b"chunk-1", b"chunk-2"]  # separate steps, separate writes
        assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
        transport.write(b"last")
        transport.close()  # sends what is pending first
        assert real.writes[-1] == b"last" and real.closed
        return real

    real = asyncio.run(scenario())
    assert len(real.writes) == 4

    async def aborted() -> _RecordingTransport:
        real = _RecordingTransport()
        transport = CoalescingTransport(real, asyncio.get_running_loop())
        transport.write(b"dropped")
        transport.abort()
        await asyncio.sleep(0)
        return real

    dropped = asyncio.run(aborted())
    assert dropped.aborted and dropped.writes == []
