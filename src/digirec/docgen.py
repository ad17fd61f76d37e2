"""Reference pages generated from the code: models (pydantic configs), service settings, CLI.

The user guide links to ``docs/reference/models.md``, ``docs/reference/settings.md`` and
``docs/reference/cli.md``; they are written by ``python -m digirec.docgen docs/reference`` and
``tests/unit/test_docgen.py`` fails when a committed page differs from what the code says, so a
new model, setting or flag cannot go undocumented.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

#: File name -> generator, in the order the index lists them.
PAGES = ("models.md", "settings.md", "cli.md")


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or repr(annotation)
    for noise in ("typing.", "pathlib.", "pydantic.types.", "collections.abc."):
        text = text.replace(noise, "")
    return text.replace("NoneType", "None")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    if isinstance(value, Path):
        return f"`{value}`"
    return f"`{value!r}`"


def _constraints(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for name, symbol in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            bound = getattr(meta, name, None)
            if bound is not None:
                parts.append(f"{symbol} {bound}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _field_rows(model: type[BaseModel], *, key: str = "name") -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        shown = field.alias or name
        if key == "env":
            shown = f"DIGIREC_{name.upper()}"
        rows.append(
            f"| `{shown}` | {_cell(_type_name(field.annotation))} | {_cell(_default(field))} | "
            f"{_cell(_constraints(field))} | {_cell(field.description or '')} |"
        )
    return rows


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "")
    return text.split("\n\n")[0].replace("\n", " ").strip()


def model_reference() -> str:
    """Every registered model with its flags and its configuration fields."""
    from digirec.models.registry import available_models, get_model_class

    lines = [
        "# Model reference",
        "",
        "Generated from the models' pydantic configs by `python -m digirec.docgen docs/reference`;",
        "`tests/unit/test_docgen.py` keeps it in sync. Give settings as JSON, e.g.",
        "`digirec train --model ease --params '{\"lambda\": 300}'` or",
        '`digirec benchmark --params \'{"ease": {"lambda": 300}}\'`; unknown keys are an error.',
        "",
    ]
    for name in available_models():
        cls = get_model_class(name)
        flags = [
            flag
            for flag in ("supports_history", "supports_cold_items", "requires_item_features")
            if getattr(cls, flag, False)
        ]
        lines += [
            f"## `{name}` — {cls.__name__}",
            "",
            _first_paragraph(cls.__doc__),
            "",
            f"Flags: {', '.join(f'`{f}`' for f in flags) or 'none'}.",
            "",
            "| key | type | default | bounds | meaning |",
            "|---|---|---|---|---|",
            *_field_rows(cls.config_class),
            "",
        ]
    return "\n".join(lines)


def settings_reference() -> str:
    """Every ``DIGIREC_*`` setting of the service."""
    from digirec.serving.settings import ServeSettings

    lines = [
        "# Service settings",
        "",
        "Generated from `digirec.serving.settings.ServeSettings` by",
        "`python -m digirec.docgen docs/reference`. Precedence: `digirec serve` flags >",
        "`DIGIREC_*` environment variables > the defaults below.",
        "",
        "| variable | type | default | bounds | meaning |",
        "|---|---|---|---|---|",
        *_field_rows(ServeSettings, key="env"),
        "",
    ]
    return "\n".join(lines)


def _help_text(*args: str) -> str:
    from typer.testing import CliRunner

    from digirec.cli import app

    # A fixed width, so the page does not depend on the terminal that generated it.
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80"}, prog_name="digirec")
    return result.output.rstrip()


def cli_reference() -> str:
    """Every ``digirec`` command's help, exactly as ``digirec COMMAND --help`` prints it."""
    import typer

    from digirec.cli import app

    group = typer.main.get_command(app)
    lines = [
        "# Command-line reference",
        "",
        "Generated from the CLI by `python -m digirec.docgen docs/reference`. Every command",
        "exits 0 on success and 2 with a one-line `error: ...` on bad input.",
        "",
        "```text",
        _help_text(),
        "```",
        "",
    ]
    for name in sorted(group.commands):  # type: ignore[attr-defined]
        lines += [f"## `digirec {name}`", "", "```text", _help_text(name), "```", ""]
    return "\n".join(lines)


def render(page: str) -> str:
    """The text of one generated page (a name from :data:`PAGES`)."""
    generators = {
        "models.md": model_reference,
        "settings.md": settings_reference,
        "cli.md": cli_reference,
    }
    return generators[page]() + "\n"


def write_reference(folder: Path) -> list[Path]:
    """Write every generated page into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for page in PAGES:
        path = folder / page
        path.write_text(render(page), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m digirec.docgen FOLDER``."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path("docs/reference")
    for path in write_reference(folder):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
