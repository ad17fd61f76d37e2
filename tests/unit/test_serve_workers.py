"""``digirec serve --workers 2`` is refused, and its message and docs/deployment.md agree on how to
scale out instead (issue 12, item 6): each instance its own ``--state-dir``, writes to one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digirec.cli.serve import WORKERS_REFUSED
from digirec.serving.engine.snapshot import BUNDLES_DIR

DEPLOYMENT = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_the_cli_refuses_several_workers_with_the_message() -> None:
    pytest.importorskip("uvicorn", reason="needs the serve extra")
    from typer.testing import CliRunner

    from digirec.cli import app

    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--bundle", "missing"])
    assert result.exit_code == 2, result.output
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert "only --workers 1 is supported" in text
    assert "--state-dir" in text and "one instance" in text


def test_message_and_docs_say_the_same() -> None:
    docs = DEPLOYMENT.read_text(encoding="utf-8")
    section = _section(docs, "Several instances")
    flat = " ".join(section.split())
    # The refusal, quoted as the CLI says it.
    assert "`digirec serve --workers 2` is refused (exit 2)" in flat
    assert WORKERS_REFUSED.startswith("only --workers 1 is supported")
    assert '"only --workers 1 is supported"' in flat
    # Each instance its own state dir, because a retrain prunes the other bundles there.
    assert "own --state-dir" in WORKERS_REFUSED and "its own `--state-dir`" in flat
    assert f"state_dir/{BUNDLES_DIR}" in WORKERS_REFUSED
    assert f"removes every other `state_dir/{BUNDLES_DIR}/v*`" in flat
    # Writes to one instance; a shared PostgreSQL store.
    assert "every write" in WORKERS_REFUSED and "to one instance" in WORKERS_REFUSED
    assert "Every write to one instance" in flat
    assert "PostgreSQL" in WORKERS_REFUSED and "One PostgreSQL store for all" in flat
    # The message points at the section, the rest of the page at it too, and nothing there
    # still promises a shared real-time state.
    assert "'Several instances' in docs/deployment.md" in WORKERS_REFUSED
    assert "(#several-instances)" in docs
    assert "open work" not in docs


def test_a_retrain_prunes_other_bundles_in_its_state_dir(tmp_path: Path) -> None:
    """What the docs warn about: one instance's retrain removes what another wrote there."""
    from digirec.serving.engine.retrain import prune_bundles

    root = tmp_path / BUNDLES_DIR
    for name in ("v00002", "v00003"):
        (root / name).mkdir(parents=True)
    problems: list[str] = []
    prune_bundles(tmp_path, root / "v00003", problems.append)
    assert sorted(p.name for p in root.iterdir()) == ["v00003"] and problems == []
