"""The serving layout (issue 12, item 4): ``serving/engine`` has no FastAPI or Starlette import
anywhere, ``serving/routes`` has one module per resource, each with its APIRouter(s), and every
API route comes from a routes module (``app.py`` only wires)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import digirec

SRC = Path(digirec.__file__).resolve().parents[1]
ENGINE = SRC / "digirec" / "serving" / "engine"
ROUTES = SRC / "digirec" / "serving" / "routes"


def _modules(folder: Path, package: str) -> list[str]:
    return sorted(f"{package}.{m.name}" for m in pkgutil.iter_modules([str(folder)]))


def test_engine_imports_no_web_framework() -> None:
    modules = _modules(ENGINE, "digirec.serving.engine")
    expected = {"snapshot", "catalogue", "ranking", "realtime", "retrain", "explain", "state"}
    assert expected <= {m.rsplit(".", 1)[1] for m in modules}, modules
    # A fresh interpreter: this test process may have imported FastAPI already.
    script = (
        "import importlib, json, sys\n"
        f"for name in {['digirec.serving.engine', *modules]!r}:\n"
        "    importlib.import_module(name)\n"
        "web = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette'))\n"
        "print(json.dumps({'web': web, 'engine': [m for m in sys.modules "
        "if m.startswith('digirec.serving.engine.')]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(found["engine"]) >= set(modules)
    assert found["web"] == [], f"the engine pulled in {found['web'][:5]}"


def test_the_old_state_module_is_gone() -> None:
    assert importlib.util.find_spec("digirec.serving.state") is None


def test_each_routes_module_defines_a_router() -> None:
    fastapi = pytest.importorskip("fastapi", reason="needs the serve extra")
    resources = [m for m in _modules(ROUTES, "digirec.serving.routes") if "._" not in m]
    expected = {"health", "recommendations", "events", "catalogue", "users", "search"}
    assert expected | {"privacy", "admin"} <= {m.rsplit(".", 1)[1] for m in resources}
    for name in resources:
        module = importlib.import_module(name)
        routers = [v for v in vars(module).values() if isinstance(v, fastapi.APIRouter)]
        assert routers, f"{name} defines no APIRouter"
        assert all(r.routes for r in routers), f"{name} has an empty router"


def test_every_api_route_comes_from_a_routes_module() -> None:
    pytest.importorskip("fastapi", reason="needs the serve extra")
    from fastapi.routing import APIRoute

    from digirec.serving.app import create_app
    from digirec.serving.settings import ServeSettings

    app = create_app(ServeSettings(bundle_path=Path("/nonexistent")))
    schema = app.openapi()  # built from every included route
    paths = {p for p in schema["paths"] if p.startswith(("/v1/", "/health/", "/metrics"))}
    assert {"/v1/users/{user_id}/recommendations", "/v1/events", "/health/ready"} <= paths
    endpoints = {}
    for name in _modules(ROUTES, "digirec.serving.routes"):
        module = importlib.import_module(name)
        for value in vars(module).values():
            for route in getattr(value, "routes", ()):
                if isinstance(route, APIRoute):
                    endpoints[route.path, frozenset(route.methods)] = route.endpoint.__module__
    declared = {
        (path, frozenset({method.upper()})) for path in paths for method in schema["paths"][path]
    }
    assert declared <= set(endpoints), declared - set(endpoints)
    assert all(m.startswith("digirec.serving.routes.") for m in endpoints.values())
