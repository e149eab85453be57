"""`nokoding tag`: which files are read or skipped (and why), a run where every input
fails, and the lock on the output folder."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nokoding.codebook import Codebook
from nokoding.tagging import run_lock, tag
from tests.conftest import SMALL_CODEBOOK
from tests.export.fakes import FakeSuggester

pytest.importorskip("docx")

TEXT = "I: Hvordan måles dere?\nInformant: På vedtak. Det er slitsomt.\n"


@pytest.fixture
def codebook() -> Codebook:
    return Codebook.from_dict(SMALL_CODEBOOK)


def _run(inputs, out, codebook):
    return tag(inputs, out_dir=out, suggester=FakeSuggester(codebook), progress=False)


def _checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and ".nokoding" not in p.parts}


def test_every_file_of_a_folder_is_read_or_listed_as_skipped_with_its_reason(tmp_path, codebook):
    folder = tmp_path / "prosjekt"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(TEXT, encoding="utf-8")
    (folder / "rapport.pdf").write_bytes(b"%PDF-1.7\n...")
    (folder / "koder.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "~$a.docx").write_bytes(b"lock")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    (folder / "lyd.m4a").write_bytes(b"\x00")
    (folder / "notat.md").write_text("# notat", encoding="utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "d.txt").write_text(TEXT, encoding="utf-8")
    summary = _run([folder], tmp_path / "out", codebook)
    assert summary.inputs == 4 and len(summary.tagged) == 4
    reasons = {Path(s.path).name: s.error for s in summary.skipped}
    assert sorted(reasons) == [".DS_Store", "koder.xlsx", "lyd.m4a", "notat.md", "rapport.pdf", "~$a.docx"]
    assert "export" in reasons["rapport.pdf"] and ".docx or .txt" in reasons["rapport.pdf"]
    assert "Excel" in reasons["koder.xlsx"] and "lock" in reasons["~$a.docx"]
    assert "recording" in reasons["lyd.m4a"] and "hidden" in reasons[".DS_Store"]
    lines = summary.lines()
    assert lines[0].startswith("documents: 4 of 4 input file(s)") and "6 other file(s) skipped" in lines[0]
    assert sum(line.startswith("skipped: ") for line in lines) == 6
    written = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert {Path(s["path"]).name for s in written["skipped"]} == set(reasons)


def test_a_pdf_or_xlsx_given_by_name_is_refused_with_what_to_do(tmp_path, codebook):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "intervju.pdf").write_bytes(b"%PDF-1.7\nI: tekst i en pdf\n")
    (tmp_path / "intervju.xlsx").write_bytes(b"PK\x03\x04")
    summary = _run([tmp_path / "a.txt", tmp_path / "intervju.pdf", tmp_path / "intervju.xlsx"],
                   tmp_path / "out", codebook)
    errors = {Path(f.path).name: f.error for f in summary.failures}
    assert "export the transcript" in errors["intervju.pdf"] and ".docx or .txt" in errors["intervju.pdf"]
    assert "Excel" in errors["intervju.xlsx"] and "not a readable .docx" not in errors["intervju.xlsx"]
    assert summary.tagged == ["a"]


def test_an_xlsx_renamed_to_docx_is_named_as_a_workbook(tmp_path):
    import zipfile

    from nokoding.ingest import TranscriptError, read

    path = tmp_path / "intervju.docx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(TranscriptError, match="Excel workbook, not a Word document"):
        read(path)


def test_when_every_input_fails_earlier_outputs_are_kept_and_the_error_comes_first(tmp_path, codebook):
    good = tmp_path / "a.txt"
    good.write_text(TEXT, encoding="utf-8")
    out = tmp_path / "out"
    assert _run([good], out, codebook).ok
    before = _checksums(out)
    bad = tmp_path / "b.txt"
    bad.write_bytes(b"")
    summary = _run([bad], out, codebook)
    assert summary.exit_code == 1 and summary.segments == 0
    assert _checksums(out) == before  # segments.csv, .jsonl, .qdpx and summary.json untouched
    lines = summary.lines()
    assert lines[1].startswith(f"failed: {bad}") and "empty" in lines[1]
    assert lines[2].startswith("nothing was written")
    assert not any(line.startswith("check ") for line in lines)


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_holds_it(tmp_path, codebook):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    out = tmp_path / "out"
    with run_lock(out):
        with pytest.raises(ValueError, match=r"another nokoding tag run \(pid \d+.*is writing to"):
            _run([tmp_path / "a.txt"], out, codebook)
    assert _run([tmp_path / "a.txt"], out, codebook).ok  # released afterwards


def test_a_killed_run_does_not_block_the_next_one(tmp_path, codebook):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom nokoding.tagging import run_lock\n"
         f"with run_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match="another nokoding tag run"):
            _run([tmp_path / "a.txt"], out, codebook)
    finally:
        holder.kill()
        holder.wait()
    assert _run([tmp_path / "a.txt"], out, codebook).ok


def test_reading_warnings_reach_the_summary(tmp_path, codebook):
    gallery = Path(__file__).resolve().parent / "fixtures" / "transcripts" / "gallery"
    summary = _run([gallery / "overlapp.vtt", gallery / "srt_tider_uten_timer.srt"], tmp_path / "out", codebook)
    assert summary.ok
    assert any("overlapp.vtt" in w and "overlap in time" in w for w in summary.warnings)
    assert any("srt_tider_uten_timer.srt, line 14: text without a timing line" in w for w in summary.warnings)
