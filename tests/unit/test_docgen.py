"""The generated reference pages under docs/reference match the code they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from digirec.docgen import PAGES, render

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"


@pytest.mark.parametrize("page", PAGES)
def test_committed_reference_page_is_current(page: str) -> None:
    committed = (REFERENCE / page).read_text(encoding="utf-8")
    assert committed == render(page), (
        f"docs/reference/{page} is out of date: run `python -m digirec.docgen docs/reference`"
    )


def test_model_reference_lists_every_registered_model_and_field() -> None:
    from digirec.models.registry import available_models, get_model_class

    text = render("models.md")
    for name in available_models():
        assert f"## `{name}`" in text
        for field_name, field in get_model_class(name).config_class.model_fields.items():
            assert f"| `{field.alias or field_name}` |" in text


def test_settings_reference_lists_every_environment_variable() -> None:
    from digirec.serving.settings import ServeSettings

    text = render("settings.md")
    for name in ServeSettings.model_fields:
        assert f"`DIGIREC_{name.upper()}`" in text
