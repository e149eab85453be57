"""Word transcripts: paragraphs and tables in document order (docx generated with python-docx)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nokoding.ingest import TranscriptError, read
from nokoding.segmentation import segment

docx = pytest.importorskip("docx")


def _make_docx(path: Path) -> Path:
    d = docx.Document()
    d.add_heading("Intervju 7 – leder (fiktivt eksempel)", level=1)
    d.add_paragraph("I: Hvordan bruker du måltallene i ledelsen av kontoret?")
    d.add_paragraph("")  # empty paragraphs are skipped
    p = d.add_paragraph()
    p.add_run("Leder:").bold = True
    p.add_run(" Jeg bruker dem som et utgangspunkt for samtaler med teamene.")
    p.add_run().add_break()
    p.add_run("Ikke som en fasit.")
    table = d.add_table(rows=3, cols=2)
    for row, (who, said) in zip(
        table.rows,
        [
            ("I", "Hva med handlingsrommet ditt?"),
            ("Leder", "Det er større enn mange tror, f.eks. når vi organiserer oss."),
            ("I", "Og kompetansen?"),
        ],
    ):
        row.cells[0].text = who
        row.cells[1].text = said
    timed = d.add_table(rows=2, cols=3)
    timed.rows[0].cells[0].text = "00:14:02"
    timed.rows[0].cells[1].text = "Leder"
    timed.rows[0].cells[2].text = "Vi har fagdager. Men det er for lite tid."
    merged = timed.rows[1].cells[0].merge(timed.rows[1].cells[2])
    merged.text = "(Opptaket stopper en kort stund.)"
    d.add_paragraph("I: Takk for praten.")
    d.save(str(path))
    return path


def test_docx_paragraphs_and_tables_in_document_order(tmp_path):
    doc = read(_make_docx(tmp_path / "leder_07.docx"))
    assert doc.format == "docx" and doc.id == "leder_07"
    turns = [(t.speaker, t.role, doc.turn_text(t)) for t in doc.turns]
    assert turns == [
        ("", "unknown", "Intervju 7 – leder (fiktivt eksempel)"),
        ("I", "interviewer", "Hvordan bruker du måltallene i ledelsen av kontoret?"),
        ("Leder", "informant", "Jeg bruker dem som et utgangspunkt for samtaler med teamene.\nIkke som en fasit."),
        ("I", "interviewer", "Hva med handlingsrommet ditt?"),
        ("Leder", "informant", "Det er større enn mange tror, f.eks. når vi organiserer oss."),
        ("I", "interviewer", "Og kompetansen?"),
        ("Leder", "informant", "Vi har fagdager. Men det er for lite tid."),
        # a merged row is read once; it is not a labelled row, so it continues the last speaker
        ("Leder", "informant", "(Opptaket stopper en kort stund.)"),
        ("I", "interviewer", "Takk for praten."),
    ]
    assert doc.turns[6].start_time == 14 * 60 + 2
    assert "[00:14:02] Leder: Vi har fagdager." in doc.text


def test_docx_segments_keep_the_invariant(tmp_path):
    doc = read(_make_docx(tmp_path / "leder_07.docx"))
    segs = segment(doc, roles=("informant", "interviewer", "unknown"), max_sentences=1)
    assert segs and all(doc.text[s.start : s.end] == s.text for s in segs)
    assert all(a.end <= b.start for a, b in zip(segs, segs[1:]))
    covered = {i for s in segs for i in range(s.start, s.end)}
    for t in doc.turns:
        assert all(i in covered for i in range(t.start, t.end) if not doc.text[i].isspace())


def test_damaged_and_empty_docx(tmp_path):
    bad = tmp_path / "skadet.docx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(TranscriptError, match=r"skadet\.docx.*not a readable \.docx"):
        read(bad)
    empty = tmp_path / "tom.docx"
    docx.Document().save(str(empty))
    with pytest.raises(TranscriptError, match=r"tom\.docx.*no text"):
        read(empty)
    with pytest.raises(TranscriptError, match="no such file"):
        read(tmp_path / "finnes_ikke.docx")


def test_missing_python_docx_gives_a_clear_error(tmp_path, monkeypatch):
    path = _make_docx(tmp_path / "leder_07.docx")
    monkeypatch.setitem(__import__("sys").modules, "docx", None)  # makes `import docx` fail
    with pytest.raises(TranscriptError, match=r"python-docx.*pip install 'nokoding\[docx\]'"):
        read(path)
