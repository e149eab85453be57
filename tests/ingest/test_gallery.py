"""The fixture gallery: one small transcript per supported layout, each with its expected
speakers, roles, segment texts and warnings (``<file>.expected.json`` beside it)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from nokoding.ingest import read
from nokoding.segmentation import ROLES, segment

GALLERY = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts" / "gallery"
CASES = sorted(p for p in GALLERY.iterdir() if p.suffix not in (".py", ".json"))


def test_the_gallery_is_complete():
    assert len(CASES) >= 20
    assert all((GALLERY / f"{p.name}.expected.json").is_file() for p in CASES)
    assert {p.suffix for p in CASES} == {".txt", ".docx", ".vtt", ".srt"}


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_gallery_transcript_is_read_as_expected(path: Path):
    if path.suffix == ".docx":
        pytest.importorskip("docx")
    expected = json.loads((GALLERY / f"{path.name}.expected.json").read_text(encoding="utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = read(path)
    segments = segment(doc, roles=ROLES)
    assert {t.speaker: t.role for t in doc.turns} == expected["speakers"]
    got = [[s.speaker, s.role, s.text] + (["overlap"] if s.meta.get("overlap") else []) for s in segments]
    assert got == expected["segments"]
    assert all(doc.text[s.start : s.end] == s.text for s in segments)
    # the expected warnings are given, and there is no other (the question-rule note aside)
    notes = [w for w in doc.warnings if "interviewer inferred from questions" not in w]
    for wanted in expected["warnings"]:
        assert any(wanted in w for w in notes), (wanted, notes)
    assert len(notes) == (1 if expected["warnings"] else 0), notes
