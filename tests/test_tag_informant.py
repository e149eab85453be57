"""`nokoding tag --informant LABEL`: informant labels the reader does not know by default,
for the local engine, in the resume settings, and passed on by the Ray engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nokoding.codebook import Codebook
from nokoding.export.tabular import read_csv
from tests.conftest import SMALL_CODEBOOK
from tests.export.fakes import FakeSuggester

TRANSCRIPT = (
    "I: Hvordan blir dere målt?\n"
    "ola: På antall vedtak, hver uke.\n"
    "I: Og lederen din?\n"
    "ola: Hun stoler på oss, tror jeg.\n"
)


@pytest.fixture
def codebook() -> Codebook:
    return Codebook.from_dict(SMALL_CODEBOOK)


def _run_cli(tmp_path: Path, codebook: Codebook, out: str, *extra: str) -> tuple[int, str]:
    from nokoding.cli import app
    import nokoding.tagging as tag_module

    path = tmp_path / "intervju.txt"
    if not path.exists():
        path.write_text(TRANSCRIPT, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tag_module.run, "model_suggester", lambda model, top_k, device, runtime: FakeSuggester(codebook, top_k))
        result = CliRunner().invoke(app, ["tag", str(path), "--out", str(tmp_path / out), "--format", "csv", *extra])
    return result.exit_code, result.output


def test_informant_option_makes_an_unknown_label_an_informant(tmp_path, codebook):
    code, output = _run_cli(tmp_path, codebook, "without")
    assert code == 0, output
    rows = read_csv(tmp_path / "without" / "segments.csv")
    assert rows == []  # 'ola:' lines are read as the interviewer's words: nothing to code

    code, output = _run_cli(tmp_path, codebook, "with", "--informant", "ola")
    assert code == 0, output
    rows = read_csv(tmp_path / "with" / "segments.csv")
    assert [(r["speaker"], r["role"], r["text"]) for r in rows] == [
        ("ola", "informant", "På antall vedtak, hver uke."),
        ("ola", "informant", "Hun stoler på oss, tror jeg."),
    ]
    settings = json.loads((tmp_path / "with" / "summary.json").read_text(encoding="utf-8"))["settings"]
    assert settings["informant"] == ["ola"]


def test_informant_option_is_part_of_the_resume_settings(tmp_path, codebook):
    assert _run_cli(tmp_path, codebook, "out", "--informant", "ola")[0] == 0
    code, output = _run_cli(tmp_path, codebook, "out", "--informant", "ola")
    assert code == 0 and "resumed" in output
    code, output = _run_cli(tmp_path, codebook, "out")  # without it the run is not the same
    assert code == 0 and "redone instead of resumed" in output


def test_run_settings_record_informant_only_when_given():
    from nokoding.tagging import run_settings

    assert "informant" not in run_settings("m", 3, ["informant"], None)
    assert run_settings("m", 3, ["informant"], None, informant=["P", "ola"])["informant"] == ["P", "ola"]


def test_ray_engine_takes_the_informant_option():
    import inspect

    pytest.importorskip("ray")
    from nokoding.distributed import tag_ray

    assert "informant" in inspect.signature(tag_ray).parameters
