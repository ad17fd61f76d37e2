"""Helpers for the loader tests: write small files in the exact upstream formats."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from digirec.exceptions import SchemaError


def datasets_dir() -> Path:
    """The shared real data sets: ``$DIGIREC_DATASETS`` or ``<repo>/../shared/datasets``."""
    env = os.environ.get("DIGIREC_DATASETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "datasets"


def real_dataset(name: str) -> Path:
    """Path of one real data set, skipping the test with a reason when it is absent."""
    path = datasets_dir() / name
    if not path.is_dir():
        pytest.skip(f"real data set {name!r} not found at {path} (set DIGIREC_DATASETS)")
    return path


def write_text(path: Path, text: str, *, gz: bool = False, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` (gzip-compressed when ``gz``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wt", encoding=encoding) as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding=encoding)
    return path


def write_lines(path: Path, lines: Iterable[str], *, gz: bool = False) -> Path:
    """Write one line per element (each already serialised)."""
    return write_text(path, "".join(f"{line}\n" for line in lines), gz=gz)


def json_lines(objects: Iterable[object]) -> list[str]:
    """JSON-serialise each object on its own line."""
    return [json.dumps(o) for o in objects]


def assert_schema_error(
    excinfo: pytest.ExceptionInfo[SchemaError],
    file: Path | str,
    row: int | None,
    field: str | None,
) -> None:
    """The error names this file, row and field (attributes and rendered message)."""
    err = excinfo.value
    assert err.file == str(file)
    assert err.row == row
    assert err.field == field
    message = str(err)
    assert str(file) in message
    if row is not None:
        assert f"row {row}" in message
    if field is not None:
        assert f"field {field!r}" in message
