"""Bytes → text → normalised text: BOM, CRLF, Windows-1252, UTF-16, NFD, invisible characters."""

from __future__ import annotations

import codecs
import unicodedata
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nokoding.ingest import TranscriptError, TranscriptWarning, normalize_text, read
from nokoding.ingest.encoding import decode_bytes


def _informant_texts(doc):
    return [doc.turn_text(t) for t in doc.turns if t.role == "informant"]


def test_bom_and_crlf_do_not_shift_offsets(fixtures):
    raw = (fixtures / "bom_crlf.txt").read_bytes()
    assert raw.startswith(codecs.BOM_UTF8) and b"\r\n" in raw
    doc = read(fixtures / "bom_crlf.txt")
    assert "\r" not in doc.text and "\ufeff" not in doc.text
    assert doc.text.startswith("I: Hva betyr")
    # offsets point at the words, not one or two characters off
    assert _informant_texts(doc) == [
        "De gir en retning. Men det blir fort mye telling.",
        "Det er større nå enn for fem år siden.",
    ]
    assert doc.warnings == ()


def test_windows_1252_falls_back_with_a_warning_naming_the_file(fixtures):
    path = fixtures / "windows1252.txt"
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    with pytest.warns(TranscriptWarning, match="windows1252.txt"):
        doc = read(path)
    assert any("Windows-1252" in w and "windows1252.txt" in w for w in doc.warnings)
    first = _informant_texts(doc)[0]
    assert "sykefraværsoppfølging – og" in first  # æ and the en dash (0x96) decoded right
    assert "særlig før årsskiftet" in first


def test_nfd_text_becomes_nfc_and_invisible_characters_go(fixtures):
    raw = (fixtures / "nfd.txt").read_text(encoding="utf-8")
    assert "a\u030a" in raw and "\u200b" in raw and "\u00a0" in raw
    doc = read(fixtures / "nfd.txt")
    assert unicodedata.is_normalized("NFC", doc.text)
    assert "\u030a" not in doc.text and "\u200b" not in doc.text and "\u00a0" not in doc.text
    assert _informant_texts(doc)[0].startswith("Målene kommer ovenfra, og vi får lite å si. Jeg synes")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-16-le"])
def test_utf16_with_or_without_bom(codec):
    text = "I: Hva synes du om måltallene?\n\nInformant: Å telle er ikke alt.\n"
    data = text.encode(codec)  # "utf-16" writes a BOM, the -le/-be variants do not
    decoded, _, notes = decode_bytes(data, "x.txt")
    assert decoded.lstrip("\ufeff") == text and notes == ()


def test_utf8_bom_is_consumed():
    decoded, used, _ = decode_bytes(codecs.BOM_UTF8 + "Informant: ø".encode(), "x.txt")
    assert decoded == "Informant: ø" and used == "utf-8-sig"


def test_binary_empty_and_blank_files_raise_naming_the_file(tmp_path, fixtures):
    binary = tmp_path / "opptak.txt"
    binary.write_bytes(b"%PDF-1.7\n\x00\x01\x02\xff\xfe\x00binary")
    with pytest.raises(TranscriptError, match=r"opptak\.txt.*binary"):
        read(binary)
    with pytest.raises(TranscriptError, match=r"empty\.txt.*empty"):
        read(fixtures / "empty.txt")
    with pytest.raises(TranscriptError, match=r"blank\.txt.*whitespace"):
        read(fixtures / "blank.txt")


def test_forced_encoding_reports_the_bad_line(tmp_path):
    path = tmp_path / "feil.txt"
    path.write_bytes(b"I: Hei\nInformant: ja\n" + "Informant: sæ\n".encode("cp1252"))
    with pytest.raises(TranscriptError) as info:
        read(path, encoding="utf-8")
    assert info.value.line == 3 and "feil.txt" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_utf8_file_reads_without_warning(fixtures):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        doc = read(fixtures / "leiar_nynorsk.txt")
    assert doc.warnings == ()


def test_normalisation_rules():
    assert normalize_text("\ufeffa\r\nb\rc") == "a\nb\nc"
    assert normalize_text("a\u2028b\u2029c") == "a\nb\n\nc"
    assert normalize_text("må\u200bl\u00adtall\u00a0og\u202ftid") == "måltall og tid"
    assert normalize_text("a\u030a") == "å" and len(normalize_text("a\u030a")) == 1
    assert normalize_text("tab\there  two  spaces\n\n") == "tab\there  two  spaces\n\n"


@given(st.text())
def test_normalisation_is_idempotent_and_nfc(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert unicodedata.is_normalized("NFC", once)
    assert "\r" not in once and "\ufeff" not in once and "\u00a0" not in once
