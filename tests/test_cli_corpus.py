"""`nokoding corpus` prints what a researcher needs to see of a corpus."""

from __future__ import annotations

from typer.testing import CliRunner

from nokoding.cli import app


def test_corpus_show_counts_segments_per_code(small_corpus):
    result = CliRunner().invoke(app, ["corpus", "show", str(small_corpus)])
    assert result.exit_code == 0, result.output
    assert "tiny_study: 6 coded segments, 4 codes" in result.output
    assert "styring.maling" in result.output
    assert "negative 4" in result.output


def test_corpus_show_unknown_name_exits_with_message():
    result = CliRunner().invoke(app, ["corpus", "show", "no_such_corpus"])
    assert result.exit_code == 2
    assert "unknown corpus" in result.output
