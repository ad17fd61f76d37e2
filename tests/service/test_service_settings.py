"""One settings tree with extra="forbid" (issue 12): a misspelt keyword or DIGIREC_* variable
is an error naming it (and the closest real name); the CLI turns it into exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from digirec.serving.settings import ServeSettings, check_environment, known_variables


def test_misspelt_keyword_is_an_error() -> None:
    with pytest.raises(ValidationError, match="max_kk"):
        ServeSettings(max_kk=3)  # type: ignore[call-arg]


def test_misspelt_environment_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGIREC_EXPLAN", "false")
    with pytest.raises(ValidationError, match=r"DIGIREC_EXPLAN \(did you mean DIGIREC_EXPLAIN\?\)"):
        ServeSettings()
    monkeypatch.delenv("DIGIREC_EXPLAN")
    monkeypatch.setenv("DIGIREC_EXPLAIN", "false")
    assert ServeSettings().explain is False


def test_known_variables_cover_the_other_settings() -> None:
    known = known_variables()
    # The web pages' settings and the tools' variables are part of the same tree.
    assert {"DIGIREC_WEB_EVENTS", "DIGIREC_RESULTS_DIR", "DIGIREC_MAX_MEMORY_GB"} <= known
    check_environment({"DIGIREC_TEST_POSTGRES_URL": "x", "DIGIREC_MAX_K": "5", "PATH": "/bin"})
    with pytest.raises(ValueError, match="DIGIREC_DATABSE_URL"):
        check_environment({"DIGIREC_DATABSE_URL": "sqlite:///x"})


def test_cli_reports_a_bad_setting_with_exit_code_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    env = {**os.environ, "DIGIREC_MAX_KK": "3"}
    out = subprocess.run(
        [sys.executable, "-m", "digirec.cli", "serve", "--bundle", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "DIGIREC_MAX_KK (did you mean DIGIREC_MAX_K?)" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr
