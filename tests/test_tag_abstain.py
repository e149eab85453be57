"""`nokoding tag` counts the segments with no code suggested and still writes every segment."""

from __future__ import annotations

import dataclasses
import json

from nokoding.codebook import Codebook
from nokoding.export.tabular import read_csv
from nokoding.tagging import tag
from tests.conftest import SMALL_CODEBOOK
from tests.export.fakes import FakeSuggester, read_labelled_text, segment_turns


class AbstainingSuggester(FakeSuggester):
    """FakeSuggester that suggests no code for segments mentioning the weather."""

    def one(self, seg):
        s = super().one(seg)
        if "været" in seg.text:
            return dataclasses.replace(s, codes=(), abstained=True, abstain_reason="no_code", no_code_probability=0.9)
        return s


def test_summary_counts_abstained_segments(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("I: Hei!\nInformant: Fint været i dag.\nI: Og målene?\n"
                                  "Informant: Vi måles på antall vedtak.\n", encoding="utf-8")
    summary = tag([folder], out_dir=tmp_path / "out", suggester=AbstainingSuggester(Codebook.from_dict(SMALL_CODEBOOK)),
                  reader=read_labelled_text, segmenter=segment_turns, progress=False)
    assert summary.ok and summary.segments == 2 and summary.abstained == 1
    assert "(1 with no code suggested)" in "\n".join(summary.lines())
    assert json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))["abstained"] == 1
    rows = read_csv(tmp_path / "out" / "segments.csv")
    assert len(rows) == 2  # the uncoded segment is still in the output, once
