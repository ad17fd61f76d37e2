"""Fixtures of the web page tests: the service test shop, result files for the dashboard, test
clients, a real uvicorn server on a free loopback port and a headless Chromium (Playwright).

The shop, bundle and seeded SQLite database are built as in ``tests/service`` (its helpers are
imported from there). Browser tests skip with a clear reason when ``/usr/bin/chromium`` or the
``playwright`` package is missing; they never download a browser.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "fastapi", reason="the web tests need the serve extra: pip install -e '.[serve]'"
)
pytest.importorskip("sqlalchemy", reason="the web tests need the serve extra")
pytest.importorskip("jinja2", reason="the web pages need jinja2")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import Shop, make_settings, train
from web_helpers import ORIGIN, benchmark_document, rating_folds_document

from digirec.artifacts import save_bundle
from digirec.data.synth import SynthConfig, generate_shop
from digirec.evaluation.served import evaluate_for_bundle
from digirec.serving.app import create_app
from digirec.store import open_store

#: The system Chromium (``DIGIREC_TEST_CHROMIUM`` points elsewhere; Playwright's own browser
#: downloads are never used).
CHROMIUM = Path(os.environ.get("DIGIREC_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module", autouse=True)
def _single_thread_blas() -> Iterator[None]:
    """One BLAS thread (two shared cores: a multi-threaded OpenBLAS mostly spins)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        yield


# ---------------------------------------------------------------------- data
@pytest.fixture(scope="session")
def web_shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """The service tests' shop (300 users, 150 items) and an EASE bundle trained on it."""
    raw = generate_shop(SynthConfig(n_users=300, n_items=150, random_state=11))
    dataset, model = train(raw)
    bundle = save_bundle(model, dataset, tmp_path_factory.mktemp("web-bundle") / "ease")
    evaluate_for_bundle(model, dataset, bundle)  # the dashboard's held-out score
    return Shop(raw=raw, dataset=dataset, model=model, bundle=bundle)


@pytest.fixture(scope="session")
def web_template_db(web_shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("web-db") / "template.db"
    store = open_store(f"sqlite:///{path}")
    store.import_raw(web_shop.raw)
    store.close()
    return path


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder: one full benchmark, one speed benchmark, one unreadable file."""
    folder = tmp_path_factory.mktemp("results")
    (folder / "webshop.json").write_text(json.dumps(benchmark_document()))
    speed = {"config": {"n_items": 10}, "results": [{"index": "exact", "p50_ms": 1.5}]}
    (folder / "speed.json").write_text(json.dumps(speed))
    (folder / "broken.json").write_text("{not json")
    (folder / "ratings.json").write_text(json.dumps(rating_folds_document()))
    # Same data set and protocol as webshop.json: the section titles must still differ.
    (folder / "webshop_again.json").write_text(json.dumps(benchmark_document()))
    return folder


# ---------------------------------------------------------------------- apps
def _fresh_db(template: Path, folder: Path) -> str:
    target = folder / "store.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def build_app(
    shop: Shop, database_url: str, state_dir: Path, results: Path | None, **overrides: Any
) -> FastAPI:
    """``create_app`` with the web settings taken from the environment at creation time."""
    previous = os.environ.get("DIGIREC_RESULTS_DIR")
    if results is not None:
        os.environ["DIGIREC_RESULTS_DIR"] = str(results)
    try:
        return create_app(make_settings(shop, database_url, state_dir, **overrides))
    finally:
        if previous is None:
            os.environ.pop("DIGIREC_RESULTS_DIR", None)
        else:
            os.environ["DIGIREC_RESULTS_DIR"] = previous


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_web_client(
    web_shop: Shop, web_template_db: Path, results_dir: Path, tmp_path: Path
) -> Iterator[ClientFactory]:
    """Started test clients on a fresh copy of the seeded database (settings overridable).

    The clients send ``Origin: http://testserver`` like a browser on the service's own pages.
    """
    clients: list[TestClient] = []
    url = _fresh_db(web_template_db, tmp_path)

    def factory(**overrides: Any) -> TestClient:
        app = build_app(web_shop, url, tmp_path / "state", results_dir, **overrides)
        client = TestClient(app, headers=ORIGIN)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def web_client(make_web_client: ClientFactory) -> TestClient:
    return make_web_client()


@pytest.fixture(scope="module")
def shared_client(
    web_shop: Shop,
    web_template_db: Path,
    results_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TestClient]:
    """One client for the read-only tests of a module (starting an app costs ~0.5 s)."""
    folder = tmp_path_factory.mktemp("web-shared")
    app = build_app(web_shop, _fresh_db(web_template_db, folder), folder / "state", results_dir)
    with TestClient(app, headers=ORIGIN) as client:
        yield client


# ---------------------------------------------------------------------- live server + browser
@pytest.fixture(scope="module")
def live_server(
    web_shop: Shop,
    web_template_db: Path,
    results_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A real uvicorn server in a thread, on a free loopback port; yields its base URL."""
    import uvicorn

    folder = tmp_path_factory.mktemp("web-live")
    app = build_app(web_shop, _fresh_db(web_template_db, folder), folder / "state", results_dir)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # port 0: the OS picks a free port; the bound socket is kept
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from the system (``/usr/bin/chromium``) driven by Playwright."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need {CHROMIUM} (apt-get install -y chromium chromium-driver)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser tests need playwright: pip install playwright"
    )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies = own anonymous session) and page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(20_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``open_page(width, height, locale)``: a fresh context (own cookies) at that size."""
    contexts: list[Any] = []

    def factory(width: int = 1400, height: int = 1000, locale: str = "en-US") -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        # Generous: eight engineers share two cores here, and a dashboard can take seconds.
        context.set_default_timeout(90_000)
        context.set_default_navigation_timeout(90_000)
        contexts.append(context)
        return context.new_page()

    yield factory
    for context in contexts:
        context.close()
