"""The quickstart in docs/quickstart.md runs as written, through the public namespace only."""

from __future__ import annotations

import re
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"


def _python_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", QUICKSTART.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "the quickstart has exactly one Python block"
    return blocks[0]


def test_quickstart_is_short_and_uses_only_the_public_namespace() -> None:
    code = _python_block()
    assert len([line for line in code.splitlines() if line.strip()]) <= 15
    imports = [line for line in code.splitlines() if line.startswith(("import", "from"))]
    assert all(line.split()[1].split(".")[0] in {"numpy", "pandas", "digirec"} for line in imports)
    assert "digirec." not in " ".join(imports)  # no deep module imports


def test_quickstart_runs_and_recommends(capsys) -> None:  # type: ignore[no-untyped-def]
    namespace: dict[str, object] = {}
    exec(compile(_python_block(), str(QUICKSTART), "exec"), namespace)
    top = namespace["top"]
    assert list(top.columns[:4]) == ["user_id", "item_id", "score", "rank"]  # type: ignore[attr-defined]
    assert set(top["user_id"]) == {0, 1} or set(top["user_id"]) == {"0", "1"}  # type: ignore[index]
    assert len(top) == 10  # type: ignore[arg-type]
    assert "ndcg@10" in capsys.readouterr().out


def test_readme_python_block_runs_from_any_folder(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    readme = QUICKSTART.parents[1] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    assert "from digirec." not in blocks[0] and "import digirec." not in blocks[0]
    monkeypatch.chdir(tmp_path)  # no path relative to the repository
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(readme), "exec"), namespace)
    assert namespace["model"].is_fitted  # type: ignore[attr-defined]
