"""Reading files, folders and lists: formats, ids, failures and the summary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nokoding import Document, TranscriptError
from nokoding import read as top_level_read
from nokoding.ingest import ReadResult, detect_format, read, read_many

EXAMPLES = Path(__file__).resolve().parents[2] / "corpora" / "examples"


def test_top_level_names_are_the_ingest_ones():
    import nokoding.ingest

    assert top_level_read is nokoding.ingest.read
    assert issubclass(TranscriptError, ValueError)


def test_folder_reports_bad_files_and_goes_on(fixtures):
    with pytest.warns(UserWarning):  # the Windows-1252 fixture
        result = read(fixtures)
    assert isinstance(result, ReadResult)
    good = {d.id for d in result}
    bad = {f.path.name for f in result.failures}
    assert bad == {"empty.txt", "blank.txt", "malformed.vtt", "malformed.srt", "no_header.vtt"}
    assert "teams_leder" in good and "intervju" in good and len(result) == 9
    assert all(isinstance(f.error, TranscriptError) for f in result.failures)
    summary = result.summary()
    assert summary.startswith("read 9 of 14 files; 5 failed:")
    assert "malformed.vtt, line 8, cue 2" in summary
    assert not result.ok


def test_single_file_returns_a_document_and_raises(fixtures, tmp_path):
    assert isinstance(read(fixtures / "intervju.srt"), Document)
    with pytest.raises(TranscriptError, match="no such file"):
        read(tmp_path / "mangler.txt")


def test_list_of_paths_ids_are_unique(fixtures, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(fixtures / "leiar_nynorsk.txt", tmp_path / "a" / "intervju.txt")
    shutil.copy(fixtures / "leiar_nynorsk.txt", tmp_path / "b" / "intervju.txt")
    result = read([tmp_path / "a" / "intervju.txt", tmp_path / "b" / "intervju.txt", fixtures / "intervju.srt"])
    assert [d.id for d in result] == ["intervju", "intervju-2", "intervju-3"]
    assert result.ok and result.summary() == "read 3 of 3 files"


def test_folder_skips_other_files_and_can_recurse(fixtures, tmp_path):
    shutil.copy(fixtures / "leiar_nynorsk.txt", tmp_path / "en.txt")
    (tmp_path / "notat.pdf").write_bytes(b"%PDF")
    (tmp_path / "~$en.docx").write_bytes(b"lock")
    (tmp_path / "sub").mkdir()
    shutil.copy(fixtures / "intervju.srt", tmp_path / "sub" / "to.srt")
    flat = read_many(tmp_path)
    assert [d.id for d in flat] == ["en"]
    assert {p.name for p in flat.skipped} == {"notat.pdf", "~$en.docx"}
    deep = read_many(tmp_path, recursive=True)
    assert [d.id for d in deep] == ["en", "to"]


def test_format_by_extension_sniffing_and_override(fixtures, tmp_path):
    assert detect_format("x.VTT") == "vtt" and detect_format("x.docx") == "docx"
    vtt_as_txt = tmp_path / "teams_eksport.txt"
    shutil.copy(fixtures / "teams_leder.vtt", vtt_as_txt)
    assert read(vtt_as_txt).format == "txt"  # extension decides ...
    assert read(vtt_as_txt, format="vtt").format == "vtt"  # ... unless overridden
    unknown = tmp_path / "eksport"
    shutil.copy(fixtures / "intervju.srt", unknown)
    assert detect_format(unknown) == "srt" and read(unknown).format == "srt"
    with pytest.raises(ValueError, match="format"):
        read(fixtures / "intervju.srt", format="pdf")


def test_example_corpus_reads_cleanly():
    result = read(EXAMPLES)
    assert result.ok and [d.id for d in result] == ["intervju_leder_02", "intervju_medarbeider_01"]
    leder, medarbeider = result
    labelled = [t for t in medarbeider.turns if t.speaker]
    assert len(labelled) >= 25 and {t.role for t in labelled} == {"interviewer", "informant"}
    assert all(t.start_time is not None for t in labelled if t.speaker == "I")
    assert sum(len(t.cues) for t in leder.turns) == 20
    assert {t.speaker: t.role for t in leder.turns} == {"Maria Lunde": "interviewer", "Bjørn Aas": "informant"}
