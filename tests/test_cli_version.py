"""`nokoding --version` names the installed version (what a bug report needs)."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

from nokoding.cli import app


def test_version_flag_prints_the_installed_version_and_exits():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"nokoding {version('nokoding')}"


def test_commands_still_run_after_the_root_callback():
    result = CliRunner().invoke(app, ["corpus", "show", "no_such_corpus"])
    assert result.exit_code == 2 and "unknown corpus" in result.output
