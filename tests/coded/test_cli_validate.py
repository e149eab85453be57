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


def test_codings_a_person_made_as_nokoding_are_counted_on_request(tmp_path):
    from tests.coded.conftest import NOKO, Project, Sel

    p = Project()
    text = p.sources[0][1]
    p.selections = [Sel(0, text.index(w), text.index(w) + len(w), [c], NOKO)
                    for w, c in (("Vi måles", "Styring/Måling"), ("antall vedtak", "Styring/Måling"),
                                 ("det tar tid", "Styring/Tid"), ("hver uke", "Styring/Tid"))]
    path = p.write(tmp_path / "study.qdpx")
    refused = CliRunner().invoke(_app(), ["validate", "--data", str(path), "--format", "text"])
    assert refused.exit_code == 1 and "human-codings-as-nokoding" in refused.output
    assert "--include-unmarked-nokoding" in refused.output
    counted = CliRunner().invoke(_app(), ["validate", "--data", str(path), "--format", "json",
                                          "--include-unmarked-nokoding", "--min-examples", "2"])
    data = json.loads(counted.output)
    assert counted.exit_code == 0 and data["n_records"] == 4 and data["unused_codes"]
    assert "human-codings-as-nokoding" not in [f["rule"] for f in data["findings"]]


def test_train_refuses_codings_made_as_nokoding_and_says_why(tmp_path):
    from nokoding.cli import app
    from tests.coded.conftest import NOKO, Project, Sel

    p = Project()
    text = p.sources[0][1]
    p.selections = [Sel(0, text.index(w), text.index(w) + len(w), ["Styring/Måling"], NOKO)
                    for w in ("Vi måles", "antall vedtak")]
    path = p.write(tmp_path / "study.qdpx")
    result = CliRunner().invoke(app, ["train", "--data", str(path), "--out", str(tmp_path / "model")])
    assert result.exit_code == 1 and "training refused" in result.output
    assert "human-codings-as-nokoding" in result.output and "--include-unmarked-nokoding" in result.output
    assert not (tmp_path / "model").exists()
