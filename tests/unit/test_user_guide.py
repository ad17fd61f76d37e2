"""Issue 9, "No guide": the user guide under docs/ exists, is linked from the README, and each
page covers what the issue asked for (install with every extra, the data format with every
column and event weight, deployment with both stores and a proxy, the generated references).

Before the guide there was docs/benchmark.md only; these checks fail on such a tree.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from digirec import columns as C
from digirec.data.events import DEFAULT_WEIGHTS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")

#: The pages the issue names, by what they hold.
GUIDE_PAGES = (
    "install.md",
    "quickstart.md",
    "data-format.md",
    "benchmark.md",
    "deployment.md",
    "add-a-model.md",
    "reference/models.md",
    "reference/settings.md",
    "reference/cli.md",
)


def _links(page: Path) -> list[str]:
    return [t for t in LINK.findall(page.read_text(encoding="utf-8")) if "://" not in t]


def test_readme_links_the_guide_and_the_guide_links_every_page() -> None:
    assert "docs/README.md" in _links(ROOT / "README.md")
    index = DOCS / "README.md"
    linked = _links(index)
    for page in GUIDE_PAGES:
        assert page in linked, f"docs/README.md does not link {page}"
    for target in linked:
        assert (index.parent / target).is_file(), f"docs/README.md links a missing {target}"


@pytest.mark.parametrize("page", GUIDE_PAGES)
def test_every_relative_link_of_a_guide_page_resolves(page: str) -> None:
    path = DOCS / page
    for target in _links(path):
        assert (path.parent / target).exists(), f"{page} links a missing {target}"


def test_install_names_every_extra_and_that_torch_is_required() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    text = (DOCS / "install.md").read_text(encoding="utf-8")
    for extra in extras:
        assert f"`{extra}`" in text, f"install.md does not describe the {extra!r} extra"
    assert "torch" in text and "required" in text


def test_data_format_documents_every_column_and_default_event_weight() -> None:
    text = (DOCS / "data-format.md").read_text(encoding="utf-8")
    for column in (C.USER_ID, C.ITEM_ID, C.TIMESTAMP, C.EVENT, C.RATING, C.WEIGHT):
        assert f"`{column}`" in text
    for event, weight in DEFAULT_WEIGHTS.items():
        assert re.search(rf"{event} {weight:g}\b", text), f"default weight of {event!r}"
    for rule in ("max", "sum", "first", "last"):
        assert f"`{rule}`" in text
    assert "binary" in text  # the models' weighting setting and its default


def test_deployment_covers_both_stores_the_settings_and_a_proxy() -> None:
    text = (DOCS / "deployment.md").read_text(encoding="utf-8")
    assert "SQLite" in text and "PostgreSQL" in text
    assert "reference/settings.md" in text and "DIGIREC_" in text
    assert re.search(r"proxy", text, re.IGNORECASE)
