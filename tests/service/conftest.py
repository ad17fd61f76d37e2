"""Fixtures of the service tests: a small synthetic shop, a trained bundle, seeded stores on
SQLite and PostgreSQL, and FastAPI test clients.

PostgreSQL tests need ``DIGIREC_TEST_POSTGRES_URL`` (``scripts/start_test_postgres.sh`` prints
it; ``.ci/run`` exports it) and skip with that reason otherwise. Each test gets a fresh database
copied from a seeded template (SQLite: a file copy; PostgreSQL: ``CREATE DATABASE ...
TEMPLATE``), so seeding costs once per session.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "fastapi", reason="the service tests need the serve extra: pip install -e '.[serve]'"
)
pytest.importorskip("sqlalchemy", reason="the service tests need the serve extra")
pytest.importorskip("pydantic_settings", reason="the service tests need the serve extra")

from fastapi.testclient import TestClient
from service_helpers import Shop, make_settings, train

from digirec.artifacts import save_bundle
from digirec.data.synth import SynthConfig, generate_shop
from digirec.serving.app import create_app
from digirec.store import Store, open_store

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres"),
]
POSTGRES_ENV = "DIGIREC_TEST_POSTGRES_URL"


@pytest.fixture(scope="module", autouse=True)
def _single_thread_blas() -> Iterator[None]:
    """One BLAS thread: on two shared cores a multi-threaded OpenBLAS mostly spins (EASE fits,
    TF-IDF SVDs ran 20x slower under load). Module scope: restored for other test folders."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        yield


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    raw = generate_shop(SynthConfig(n_users=300, n_items=150, random_state=11))
    dataset, model = train(raw)
    bundle = save_bundle(model, dataset, tmp_path_factory.mktemp("bundle") / "ease")
    return Shop(raw=raw, dataset=dataset, model=model, bundle=bundle)


# ---------------------------------------------------------------------- databases
def _postgres_base() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set (run scripts/start_test_postgres.sh)")
    return url


def _pg_admin(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def sqlite_template(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    store = open_store(f"sqlite:///{path}")
    store.import_raw(shop.raw)
    store.close()
    return path


@pytest.fixture(scope="session")
def postgres_template(shop: Shop) -> Iterator[str]:
    base = _postgres_base()
    name = f"digirec_tpl_{uuid.uuid4().hex[:10]}"
    with _pg_admin(base) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    store = open_store(_with_database(base, name))
    store.import_raw(shop.raw)
    store.close()  # a template must have no open connection
    yield name
    with _pg_admin(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh seeded database of the backend named by the ``backend`` param (default sqlite)."""
    backend = getattr(request, "param", None) or _backend_of(request)
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "store.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    base = _postgres_base()
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"digirec_t_{uuid.uuid4().hex[:10]}"
    with _pg_admin(base) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    yield _with_database(base, name)
    with _pg_admin(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _backend_of(request: pytest.FixtureRequest) -> str:
    if "backend" in request.fixturenames:
        return str(request.getfixturevalue("backend"))
    return "sqlite"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrise a test over SQLite and PostgreSQL."""
    return str(request.param)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    yield opened
    opened.close()


# ---------------------------------------------------------------------- apps
ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(shop: Shop, database_url: str, tmp_path: Path) -> Iterator[ClientFactory]:
    """Factory of started test clients on this test's database (settings overridable)."""
    clients: list[TestClient] = []

    def factory(*, raise_server_exceptions: bool = True, **overrides: Any) -> TestClient:
        settings = make_settings(shop, database_url, tmp_path / "state", **overrides)
        client = TestClient(create_app(settings), raise_server_exceptions=raise_server_exceptions)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()
