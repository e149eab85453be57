"""Every validation rule, the verdict, and the three report forms."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from nokoding.coded import CodedData, Finding, validate
from nokoding.coded.base import make_record


def _data(codebook, spec, findings=()):
    """Records from ``(text, code_id, extra)`` triples; extra sets document/start/end/coder/sentiment."""
    records = []
    for i, (text, code_id, extra) in enumerate(spec):
        rec = make_record(rid=f"r{i}", text=text, code=codebook.code(code_id), sentiment=extra.get("sentiment"),
                          group=extra.get("group", f"g{i}"), document=extra.get("document"),
                          start=extra.get("start"), end=extra.get("end"), coder=extra.get("coder"),
                          origin=f"data.csv:{i + 2}")
        records.append(rec)
    return CodedData(codebook=codebook, records=records, source=Path("data.csv"), findings=list(findings))


def _balanced(codebook, n=5, sentiment="neutral"):
    return [(f"{code} nr {k}", code, {"sentiment": sentiment}) for code in codebook.code_ids for k in range(n)]


def rules(report, severity=None):
    return [f.rule for f in report.findings if severity is None or f.severity == severity]


def test_clean_balanced_data_is_ok(small_codebook):
    report = validate(_data(small_codebook, _balanced(small_codebook)))
    assert report.ok and report.findings == []
    assert report.code_counts == {c: 5 for c in small_codebook.code_ids}
    assert report.n_records == 20 and report.n_segments == 20 and report.n_with_sentiment == 20


def test_fewer_than_two_examples_refuses_training_and_names_the_code(small_codebook):
    spec = [s for s in _balanced(small_codebook) if s[1] != "ledelse.tid"] + [("én", "ledelse.tid", {})]
    spec = [s for s in spec if s[1] != "ledelse.tillit"]
    report = validate(_data(small_codebook, spec))
    errs = [f for f in report.errors if f.rule == "too-few-examples"]
    assert [f.location for f in errs] == ["ledelse.tid"]
    assert "has 1 segment" in errs[0].message and "remove it from the codebook" in errs[0].message
    assert not report.ok
    # the code with no segment at all is a warning: it is left out, not a reason to refuse
    assert report.unused_codes == ["ledelse.tillit"]


def test_a_code_nobody_used_is_left_out_with_a_warning(small_codebook):
    # Taguette's default tag, or a code of a given codebook the data never uses
    spec = [s for s in _balanced(small_codebook) if s[1] != "ledelse.tillit"]
    coded = _data(small_codebook, spec)
    report = validate(coded)
    assert report.ok and report.unused_codes == ["ledelse.tillit"]
    (warning,) = [f for f in report.findings if f.rule == "unused-code"]
    assert warning.severity == "warning" and "Ledelse / Tillit" in warning.message and "left out" in warning.message
    assert "left out" in report.to_text() and report.to_dict()["unused_codes"] == ["ledelse.tillit"]
    trimmed = coded.without_codes(report.unused_codes)
    assert "ledelse.tillit" not in trimmed.codebook.code_ids
    assert len(trimmed.codebook) == len(small_codebook) - 1 and trimmed.records == coded.records
    assert validate(trimmed).findings == []
    assert coded.codebook is small_codebook  # the input is not changed


def test_no_code_used_at_all_is_refused_not_left_out(small_codebook):
    report = validate(_data(small_codebook, []))
    assert not report.ok and "no-records" in rules(report, "error") and report.unused_codes == []


def test_fewer_than_min_examples_is_a_warning(small_codebook):
    spec = _balanced(small_codebook, n=3)
    report = validate(_data(small_codebook, spec), min_examples=4)
    assert report.ok
    assert rules(report, "warning").count("too-few-examples") == 4
    assert validate(_data(small_codebook, spec), min_examples=3).findings == []


def test_heavy_class_imbalance_is_a_warning_naming_both_codes(small_codebook):
    spec = _balanced(small_codebook, n=2) + [(f"mye {k}", "styring.maling", {"sentiment": "neutral"})
                                              for k in range(30)]
    report = validate(_data(small_codebook, spec), min_examples=2, max_imbalance=10)
    (imb,) = [f for f in report.findings if f.rule == "class-imbalance"]
    assert imb.severity == "warning" and "styring.maling" in imb.message and "16.0" in imb.message
    assert "class-imbalance" not in rules(validate(_data(small_codebook, spec), min_examples=2, max_imbalance=20))


def test_duplicate_segments_are_named(small_codebook):
    spec = _balanced(small_codebook) + [("styring.tid nr 1", "styring.tid", {"sentiment": "neutral"}),
                                        ("styring.tid  nr 1", "styring.maling", {"sentiment": "neutral"})]
    report = validate(_data(small_codebook, spec))
    (dup,) = [f for f in report.findings if f.rule == "duplicate-segment"]
    assert dup.severity == "warning" and "data.csv:8" in dup.location and "data.csv:22" in dup.location
    assert "train/test" in dup.message and report.ok


def test_same_code_from_two_coders_on_one_passage_is_agreement_not_duplicate(small_codebook):
    same = {"document": "d", "start": 0, "end": 5, "group": "d:0:5", "sentiment": "neutral"}
    spec = _balanced(small_codebook) + [("Sitat", "styring.tid", {**same, "coder": "Anna"}),
                                        ("Sitat", "styring.tid", {**same, "coder": "Bjørn"})]
    assert "duplicate-segment" not in rules(validate(_data(small_codebook, spec)))
    spec.append(("Sitat", "styring.tid", {**same, "coder": "Anna"}))
    (dup,) = [f for f in validate(_data(small_codebook, spec)).findings if f.rule == "duplicate-segment"]
    assert "3 times" in dup.message and "merged" in dup.message


def test_empty_segments_are_named_and_not_counted(small_codebook):
    spec = _balanced(small_codebook) + [("   ", "styring.tid", {"sentiment": "neutral"})]
    report = validate(_data(small_codebook, spec))
    (empty,) = [f for f in report.findings if f.rule == "empty-segment"]
    assert empty.location == "data.csv:22" and report.code_counts["styring.tid"] == 5


def test_overlapping_codings_by_the_same_coder_are_named(small_codebook):
    text = "x" * 100
    over = [
        (text[10:50], "styring.tid", {"document": "int1", "start": 10, "end": 50, "coder": "Anna", "group": "a"}),
        (text[40:80], "styring.maling", {"document": "int1", "start": 40, "end": 80, "coder": "Anna", "group": "b"}),
        (text[40:80], "ledelse.tid", {"document": "int1", "start": 40, "end": 80, "coder": "Bjørn", "group": "c"}),
        (text[80:90], "ledelse.tid", {"document": "int1", "start": 80, "end": 90, "coder": "Anna", "group": "d"}),
        (text[10:50], "ledelse.tillit", {"document": "int2", "start": 10, "end": 50, "coder": "Anna", "group": "e"}),
        (text[10:50], "ledelse.tillit", {"document": "int1", "start": 10, "end": 50, "coder": "Anna", "group": "a"}),
    ]
    report = validate(_data(small_codebook, _balanced(small_codebook) + over))
    found = [f for f in report.findings if f.rule == "overlapping-codings"]
    assert len(found) == 1  # only Anna's [10:50] and [40:80] in int1; same selection's two codes don't count
    assert "[10:50]" in found[0].message and "[40:80]" in found[0].message and "Anna" in found[0].message
    assert found[0].severity == "warning"


def test_importer_findings_are_kept_and_errors_refuse(small_codebook):
    f = Finding("error", "unknown-code", "code 'X' is not in the codebook", "data.csv:7")
    report = validate(_data(small_codebook, _balanced(small_codebook), findings=[f]))
    assert not report.ok and report.errors == [f]


def test_no_records_refuses_without_listing_every_code(small_codebook):
    report = validate(_data(small_codebook, []))
    assert rules(report) == ["no-records"] and not report.ok


def test_missing_and_partial_sentiment_are_warnings(small_codebook):
    none = validate(_data(small_codebook, _balanced(small_codebook, sentiment=None)))
    assert rules(none) == ["no-sentiment"] and none.ok
    spec = _balanced(small_codebook)
    spec[0] = (spec[0][0], spec[0][1], {})
    partial = validate(_data(small_codebook, spec))
    assert rules(partial) == ["partial-sentiment"] and "1 of 20" in partial.findings[0].message


def test_report_forms_text_json_and_rich(small_codebook):
    spec = [s for s in _balanced(small_codebook) if s[1] != "ledelse.tid"] + [("én", "ledelse.tid", {})]
    report = validate(_data(small_codebook, spec))
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["n_errors"] == 1
    assert {c["code_id"]: c["segments"] for c in data["codes"]}["ledelse.tid"] == 1
    assert data["findings"][0] == {"severity": "error", "rule": "too-few-examples",
                                   "message": report.errors[0].message, "location": "ledelse.tid"}
    text = report.to_text()
    assert "ERROR [ledelse.tid] too-few-examples" in text and text.rstrip().splitlines()[-1].startswith("REFUSED")
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=200).print(report)
    out = buf.getvalue()
    assert "ledelse.tid" in out and "too-few-examples" in out and "REFUSED" in out


def test_bad_thresholds_are_refused(small_codebook):
    with pytest.raises(ValueError, match="min_examples"):
        validate(_data(small_codebook, []), min_examples=0)
