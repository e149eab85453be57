"""`nokoding segment` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nokoding.cli import app
from nokoding.ingest import read
from nokoding.segmentation import segment

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts"


def _records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_prints_one_json_object_per_segment():
    path = FIXTURES / "medarbeider_bokmal.txt"
    result = CliRunner().invoke(app, ["segment", str(path)])
    assert result.exit_code == 0, result.output
    records = _records(result.stdout)
    doc = read(path)
    expected = segment(doc)
    assert [r["text"] for r in records] == [s.text for s in expected]
    for r in records:
        assert doc.text[r["start"] : r["end"]] == r["text"]
        assert r["role"] == "informant" and r["id"] == f"medarbeider_bokmal#{r['index']}"
    assert records[0]["context"] == "Kan du starte med å fortelle litt om hva du jobber med?"
    assert records[0]["start_time"] == 18.0 and records[0]["source"] == str(path)
    assert "æ" in result.stdout or "å" in result.stdout  # not \\u-escaped


def test_options_all_speakers_limits_and_format():
    path = FIXTURES / "teams_leder.vtt"
    base = ["segment", str(path), "--format", "vtt"]
    informant = _records(CliRunner().invoke(app, base).stdout)
    everyone = _records(CliRunner().invoke(app, [*base, "--all-speakers"]).stdout)
    assert {r["role"] for r in informant} == {"informant"}
    assert {r["role"] for r in everyone} == {"informant", "interviewer"}
    short = _records(CliRunner().invoke(app, [*base, "--max-sentences", "1", "--max-tokens", "6"]).stdout)
    assert len(short) > len(informant) and all(len(r["text"].split()) <= 6 for r in short)
    flipped = _records(CliRunner().invoke(app, [*base, "--interviewer", "Tor Eriksen"]).stdout)
    assert {r["speaker"] for r in flipped} == {"Ingrid Berg"}


def test_bad_files_are_reported_and_the_rest_still_printed(tmp_path):
    result = CliRunner().invoke(
        app, ["segment", str(FIXTURES / "malformed.vtt"), str(FIXTURES / "intervju.srt")]
    )
    assert result.exit_code == 1
    assert {r["document_id"] for r in _records(result.stdout)} == {"intervju"}
    assert "malformed.vtt, line 8, cue 2" in result.stderr
    assert "1 of 2 files could not be read" in result.stderr


def test_usage_errors():
    runner = CliRunner()
    assert runner.invoke(app, ["segment", str(FIXTURES / "intervju.srt"), "--format", "pdf"]).exit_code == 2
    assert runner.invoke(app, ["segment", str(FIXTURES / "intervju.srt"), "--max-tokens", "0"]).exit_code == 2
    assert runner.invoke(app, ["segment"]).exit_code == 2


def test_overlapping_cues_are_marked_in_each_record():
    path = FIXTURES / "gallery" / "overlapp.vtt"
    result = CliRunner().invoke(app, ["segment", str(path), "--all-speakers"])
    assert result.exit_code == 0
    assert [(r["text"], r["overlap"]) for r in _records(result.stdout)] == [
        ("Hvordan var det da dere", True), ("Det var tungt.", True), ("fikk nye mål?", False)]
    assert "overlap in time" in result.stderr
