"""`codebook import x.csv --like Y` keeps Y's ids, as it does for a .qdc.

A codebook exported as Taguette CSV and read back with ``--like`` must keep the ids of the
codes a model was trained on; otherwise a category whose id is not the slug of its name
(the thesis's ``mrs`` for "Mål- og resultatstyring") comes back under a new id.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from nokoding import corpora
from nokoding.cli import app
from nokoding.codebook import Codebook


@pytest.mark.parametrize("fmt,suffix", [
    ("qdc", ".qdc"),
    ("taguette", ".csv"),
])
def test_import_with_like_keeps_the_reference_ids(tmp_path, fmt, suffix):
    thesis = corpora.load_codebook("thesis_mrs")
    exported = tmp_path / f"codebook{suffix}"
    runner = CliRunner()
    result = runner.invoke(app, ["codebook", "export", "--corpus", "thesis_mrs", "--format", fmt,
                                 "--out", str(exported)])
    assert result.exit_code == 0, result.output
    back_path = tmp_path / "back.yaml"
    result = runner.invoke(app, ["codebook", "import", str(exported), "--like", "thesis_mrs",
                                 "--out", str(back_path)])
    assert result.exit_code == 0, result.output
    back = Codebook.from_yaml(back_path)
    assert [c.pair for c in back.codes] == [c.pair for c in thesis.codes]
    assert [c.id for c in back.codes] == [c.id for c in thesis.codes]
    assert [c.id for c in back.categories] == [c.id for c in thesis.categories]
