"""`nokoding validate`: report and exit status (0 ok, 1 training refused, 2 unreadable)."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from nokoding.cli import validate_cmd


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # a group, as in the real CLI
        pass

    validate_cmd.register(app)
    return app


def _write(path, rows):
    path.write_text("text;code;sentiment;coder\n" + "".join(f"{t};{c};{s};{k}\n" for t, c, s, k in rows),
                    encoding="utf-8")
    return path


GOOD = [(f"sitat {c} {i}", c, "neutral", "Anna") for c in ("A/B", "A/C") for i in range(5)]


def test_ok_data_exits_0_and_prints_the_table(tmp_path):
    path = _write(tmp_path / "d.csv", GOOD)
    result = CliRunner().invoke(_app(), ["validate", "--data", str(path)])
    assert result.exit_code == 0, result.output
    assert "a.b" in result.output and "OK" in result.output


def test_refused_data_exits_1_and_json_lists_the_errors(tmp_path):
    path = _write(tmp_path / "d.csv", GOOD + [("ensom", "A/D", "neutral", "Anna"), ("annen", "A/B", "neutral", "Bo")])
    result = CliRunner().invoke(_app(), ["validate", "--data", str(path), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert [f["location"] for f in data["findings"] if f["severity"] == "error"] == ["a.d"]
    # only Bo's codings: the inferred codebook has his one code, with 1 example; the text form names it
    result = CliRunner().invoke(_app(), ["validate", "--data", str(path), "--coder", "Bo", "--format", "text"])
    assert result.exit_code == 1 and "ERROR [a.b] too-few-examples" in result.output
    assert "a.c" not in result.output and result.output.rstrip().endswith("(0 warning(s))")


def test_unreadable_input_exits_2_with_the_file_named(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("kolonne\nx\n", encoding="utf-8")
    result = CliRunner().invoke(_app(), ["validate", "--data", str(path)])
    assert result.exit_code == 2 and "d.csv" in result.output
