"""The serving layout (issue 12, items 1 and 4): ``serving/engine`` has no FastAPI or Starlette
import anywhere, ``serving/routes`` has one module per resource, each with its APIRouter(s), every
API route comes from a routes module (``app.py`` only wires), and serving, ``explain.py`` and
``artifacts.py`` use the models' public contract only (checked statically with ``ast``)."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import digirec
from digirec.models import registry

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


# ---------------------------------------------------------------- the model contract, statically
# Serving (and the bundle and explanation layers it uses) talks to a model only through the public
# contract of ``digirec.models.base``: it never imports a concrete model, never dispatches on a
# model's class, never calls a protected hook and never finds learned state by attribute name.
PACKAGE = SRC / "digirec"
MODELS = PACKAGE / "models"
#: The modules of the contract; everything else under ``models/`` is a concrete model.
CONTRACT_MODULES = {"digirec.models", "digirec.models.base", "digirec.models.registry"}


def _serving_files() -> list[Path]:
    files = sorted((PACKAGE / "serving").rglob("*.py"))
    return [*files, PACKAGE / "explain.py", PACKAGE / "artifacts.py"]


@functools.cache
def _model_knowledge() -> tuple[set[str], set[str], set[str]]:
    """(concrete model class names, protected model method names, learned attribute names)."""
    classes: set[str] = set()
    hooks: set[str] = set()
    learned: set[str] = set()
    for path in sorted(MODELS.rglob("*.py")):
        tree = ast.parse(path.read_text())
        contract = path.name in ("base.py", "registry.py", "__init__.py")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and not contract:
                classes.add(node.name)
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        name = item.name
                        if name.startswith("_") and not name.startswith("__"):
                            hooks.add(name)
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and node.attr.endswith("_")
                and not node.attr.startswith("_")
            ):
                learned.add(node.attr)
    return classes, hooks, learned


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts)


def _resolve(module: str | None, level: int, here: str) -> str:
    if not level:
        return module or ""
    base = here.split(".")[:-level]
    return ".".join([*base, *([module] if module else [])])


def _last_name(node: ast.expr) -> str:
    """``model`` for ``model``, ``self.model``, ``self._model``, ``bundle.model``..."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def contract_violations(source: str, module: str) -> list[str]:
    """Every place in ``source`` that reaches past the public model contract."""
    classes, hooks, learned = _model_knowledge()
    registered = set(registry.available_models())
    tree = ast.parse(source)
    found: list[str] = []

    def add(node: ast.AST, what: str) -> None:
        found.append(f"{module}:{getattr(node, 'lineno', 0)}: {what}")

    def name_hint(text: str) -> bool:
        return re.search(r"model|name|type|kind|class", text, re.IGNORECASE) is not None

    for node in ast.walk(tree):
        # Imports: no concrete model module, no model class from anywhere.
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("digirec.models.") and alias.name not in CONTRACT_MODULES:
                    add(node, f"imports the concrete model module {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            source_module = _resolve(node.module, node.level, module)
            if source_module.startswith("digirec.models") and source_module not in CONTRACT_MODULES:
                add(node, f"imports from the concrete model module {source_module}")
            for alias in node.names:
                if alias.name in classes:
                    add(node, f"imports the model class {alias.name}")
                elif source_module == "digirec.models" and (
                    f"digirec.models.{alias.name}" not in CONTRACT_MODULES
                ):
                    add(node, f"imports the concrete model module {alias.name}")
        # A model class named anywhere (isinstance, issubclass, a type annotation, a call).
        elif isinstance(node, ast.Name) and node.id in classes:
            add(node, f"names the model class {node.id}")
        elif isinstance(node, ast.Attribute):
            if node.attr in classes:
                add(node, f"names the model class {node.attr}")
            elif node.attr == "__class__":
                add(node, "dispatches on __class__")
            elif node.attr == "__name__" and isinstance(node.value, ast.Call):
                if _last_name(node.value.func) == "type" and not found_in_error(tree, node):
                    add(node, "dispatches on type(...).__name__")
            elif node.attr == "__dict__" and _last_name(node.value) != "self":
                add(node, "reads another object's __dict__")
            elif node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = _last_name(node.value)
                if "model" in owner.lower():
                    add(node, f"reaches into a model: {ast.unparse(node)}")
                elif node.attr in hooks and owner not in ("self", "cls"):
                    add(node, f"calls the protected model hook {ast.unparse(node)}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            target = node.value.split(":")[-1].split(".")[-1]
            if target in classes:
                add(node, f"names the model class {node.value!r} in a string")
            if node.value.startswith("digirec.models.") and (
                node.value.split(":")[0] not in CONTRACT_MODULES
            ):
                add(node, f"names the concrete model module {node.value!r}")
        elif isinstance(node, ast.Call):
            func = _last_name(node.func)
            if isinstance(node.func, ast.Name) and func in ("vars", "dir", "setattr", "delattr"):
                add(node, f"{func}() finds attributes by name")
            elif isinstance(node.func, ast.Name) and func in ("getattr", "hasattr"):
                attr = node.args[1] if len(node.args) > 1 else None
                if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                    if attr.value.startswith("_") and not attr.value.startswith("__"):
                        add(node, f"{func}() of the protected {attr.value!r}")
                elif not _is_constant_name(attr):
                    add(node, f"{func}() with a computed attribute name")
            elif func in ("startswith", "endswith") and isinstance(node.func, ast.Attribute):
                for arg in node.args:
                    value = arg.value if isinstance(arg, ast.Constant) else None
                    if isinstance(value, str) and _erases_by_name(value, learned):
                        add(node, f"tests a name with {func}({value!r})")
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            texts = [ast.unparse(o) for o in operands]
            for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
                constant = left if isinstance(left, ast.Constant) else right
                other = right if constant is left else left
                if not (isinstance(constant, ast.Constant) and isinstance(constant.value, str)):
                    continue
                word = constant.value
                if isinstance(op, ast.In | ast.NotIn) and constant is left:
                    if _erases_by_name(word, learned):
                        add(node, f"erases by attribute name: {' '.join(texts)}")
                elif (
                    isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn)
                    and word in registered
                    and name_hint(ast.unparse(other))
                ):
                    add(node, f"dispatches on the model name {word!r}")
    return found


def _is_constant_name(node: ast.expr | None) -> bool:
    """A module constant such as ``C.USER_ID`` or ``EVENT_ID`` (a column name, not a lookup)."""
    name = _last_name(node) if node is not None else ""
    return bool(name) and name.isupper()


def found_in_error(tree: ast.AST, node: ast.AST) -> bool:
    """``type(exc).__name__`` inside an f-string (an error message) is no dispatch."""
    for parent in ast.walk(tree):
        if isinstance(parent, ast.JoinedStr) and any(n is node for n in ast.walk(parent)):
            return True
    return False


def _erases_by_name(word: str, learned: set[str]) -> bool:
    """A word that picks learned model state by its attribute name (``"user"``, ``"_"``)."""
    if word == "_":
        return True
    return (
        len(word) >= 3
        and re.fullmatch(r"[a-z_]+", word) is not None
        and any(word in name for name in learned)
    )


def test_model_knowledge_is_found() -> None:
    classes, hooks, learned = _model_knowledge()
    assert {"ALSModel", "SASRecModel", "EASEModel", "MFModel", "HybridModel"} <= classes
    assert "Recommender" not in classes and "FactorModel" not in classes
    assert {"_fit", "_score_users", "_score_histories", "_similar_scores"} <= hooks
    assert {"user_factors_", "item_factors_"} & learned


@pytest.mark.parametrize(
    ("snippet", "finding"),
    [
        ("from digirec.models.als import ALSModel\n", "concrete model module"),
        ("import digirec.models.sasrec\n", "concrete model module"),
        ("from ...models import als\n", "concrete model module"),
        ("from digirec.models import sasrec\n", "concrete model module"),
        ("from digirec import ALSModel\n", "model class ALSModel"),
        ("ok = isinstance(model, ALSModel)\n", "model class ALSModel"),
        ("ok = isinstance(m, als.ALSModel)\n", "model class ALSModel"),
        ("cls = get('digirec.models.als:ALSModel')\n", "model class"),
        ("if type(model).__name__ == 'EASEModel':\n    pass\n", "type(...).__name__"),
        ("ok = model.__class__ is X\n", "__class__"),
        ("if bundle.model_name == 'sasrec':\n    pass\n", "model name 'sasrec'"),
        ("s = self.model._score_users(rows)\n", "reaches into a model"),
        ("s = model._similar_scores(rows)\n", "reaches into a model"),
        ("s = snapshot.recommender._score_histories(h)\n", "protected model hook"),
        ("s = self._model._fit(d, None)\n", "reaches into a model"),
        ("s = getattr(rec, '_fit')\n", "protected '_fit'"),
        ("s = getattr(rec, name)\n", "computed attribute name"),
        ("for name in vars(m):\n    pass\n", "vars()"),
        ("setattr(m, 'user_factors_', z)\n", "setattr()"),
        ("for n, v in m.__dict__.items():\n    if 'user' in n:\n        v[:] = 0\n", "__dict__"),
        ("if 'user' in name:\n    pass\n", "erases by attribute name"),
        ("if name.endswith('_'):\n    pass\n", "endswith('_')"),
    ],
)
def test_the_contract_checker_finds(snippet: str, finding: str) -> None:
    found = contract_violations(snippet, "digirec.serving.engine.x")
    assert any(finding in f for f in found), (snippet, found)


def test_the_contract_checker_allows_the_public_contract() -> None:
    ok = (
        "from digirec.models.base import FactorModel, Recommender, factor_model\n"
        "from digirec.models.registry import create_model\n"
        "scores = model.score_users(rows)\n"
        "scores = self.model.score_histories(h)\n"
        "model.forget_users(rows)\n"
        "if model.personalised:\n    pass\n"
        "x = self._cache\nself._lock.acquire()\n"
        "u = getattr(rec, C.USER_ID)\n"
        "if 'store_event_watermark' in bundle.manifest:\n    pass\n"
        "if source == 'popular':\n    pass\n"
        "raise ValueError(f'failed ({type(exc).__name__})')\n"
    )
    assert contract_violations(ok, "digirec.serving.engine.x") == []


def test_serving_uses_only_the_public_model_contract() -> None:
    files = _serving_files()
    assert len(files) > 20 and all(f.is_file() for f in files)
    found = [
        hit for path in files for hit in contract_violations(path.read_text(), _module_name(path))
    ]
    assert found == [], "\n".join(found)


def test_web_pages_are_views_over_the_engine() -> None:
    """serving/web/ renders; it reads the store only through the engine (ServingState)."""
    import ast

    web = Path(__file__).resolve().parents[2] / "src" / "digirec" / "serving" / "web"
    found = []
    for path in sorted(web.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "store":
                found.append(f"{path.name}:{node.lineno} .store")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("digirec.store"):
                found.append(f"{path.name}:{node.lineno} imports {node.module}")
    assert not found, found
