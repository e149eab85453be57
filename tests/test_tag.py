"""`nokoding tag`: batch runs with failures, resume, --force, checks, untouched inputs, the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nokoding.codebook import Codebook
from nokoding.export.qdpx import read_qdpx
from nokoding.export.tabular import read_csv, read_jsonl
from nokoding.tagging import expand_inputs, tag
from tests.conftest import SMALL_CODEBOOK
from tests.export.fakes import FakeSuggester, read_labelled_text, segment_turns

INTERVIEWS = {
    "intervju_01.txt": "I: Hvordan blir dere målt?\nInformant: På antall vedtak, og det stresser 🙂.\n"
                       "I: Og lederen?\nInformant: Hun stoler på oss.\n",
    "intervju_02.txt": "\ufeffIntervjuer: Har dere tid?\r\nKari: Nei, ærlig talt.\r\nKari: Alt går til rapporter.\r\n",
    "intervju_03.txt": "I: Noe mer?\nInformant: «Mål» betyr lite for brukerne, sier jeg.\n",
}


@pytest.fixture
def codebook() -> Codebook:
    return Codebook.from_dict(SMALL_CODEBOOK)


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "intervjuer"
    folder.mkdir()
    for name, text in INTERVIEWS.items():
        (folder / name).write_bytes(text.encode("utf-8"))
    return folder


def run(inputs, out, suggester, **kw):
    return tag(inputs, out_dir=out, suggester=suggester, reader=read_labelled_text,
               segmenter=segment_turns, progress=False, **kw)


def checksums(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_batch_writes_every_informant_segment_once_per_output(tmp_path, corpus, codebook):
    before = checksums(corpus)
    summary = run([corpus], tmp_path / "out", FakeSuggester(codebook))
    assert summary.ok and summary.exit_code == 0
    assert summary.inputs == 3 and summary.tagged == ["intervju_01", "intervju_02", "intervju_03"]
    assert summary.segments == 5
    assert {c.format: (c.ok, c.expected, c.found) for c in summary.checks} == {
        "csv": (True, 5, 5), "jsonl": (True, 5, 5), "qdpx": (True, 15, 15)}
    rows = read_csv(tmp_path / "out" / "segments.csv")
    assert [(r["document"], r["role"]) for r in rows] == [
        ("intervju_01", "informant"), ("intervju_01", "informant"),
        ("intervju_02", "informant"), ("intervju_02", "informant"), ("intervju_03", "informant")]
    assert len(read_jsonl(tmp_path / "out" / "segments.jsonl")) == 5
    book, sources, codings = read_qdpx(tmp_path / "out" / "project.qdpx", like=codebook)
    assert [s.name for s in sources] == summary.tagged
    assert all(s.text[c.start:c.end] == c.text for s in sources for c in codings if c.source == s.guid)
    assert checksums(corpus) == before  # inputs untouched
    report = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert report["ok"] and report["segments"] == 5 and report["documents"] == 3


def test_failed_input_is_recorded_and_the_others_finish(tmp_path, corpus, codebook):
    (corpus / "intervju_00_korrupt.txt").write_bytes(b"I: Hei\n\xff\xfe\x00 ikke utf-8")
    summary = run([corpus, tmp_path / "finnes_ikke.txt"], tmp_path / "out", FakeSuggester(codebook))
    assert summary.exit_code == 1 and not summary.ok
    failed = sorted(Path(f.path).name for f in summary.failures)
    assert failed == ["finnes_ikke.txt", "intervju_00_korrupt.txt"]
    assert any("not UTF-8" in f.error for f in summary.failures)
    assert summary.tagged == ["intervju_01", "intervju_02", "intervju_03"]
    assert all(c.ok for c in summary.checks)
    assert len(read_csv(tmp_path / "out" / "segments.csv")) == 5


def test_resume_skips_finished_documents_and_force_redoes_them(tmp_path, corpus, codebook):
    out = tmp_path / "out"
    first = FakeSuggester(codebook)
    run([corpus / "intervju_01.txt", corpus / "intervju_02.txt"], out, first)
    assert first.calls == [2, 2]
    csv_first = (out / "segments.csv").read_bytes()

    again = FakeSuggester(codebook)
    summary = run([corpus], out, again)
    assert again.calls == [1]  # only intervju_03 is new
    assert summary.resumed == ["intervju_01", "intervju_02"] and summary.tagged == ["intervju_03"]
    assert all(c.ok for c in summary.checks) and summary.segments == 5
    assert (out / "segments.csv").read_bytes().startswith(csv_first[: csv_first.rindex(b"intervju_02")])

    # a changed input is redone even without --force
    (corpus / "intervju_03.txt").write_text("I: Ny?\nInformant: Ja, endret.\n", encoding="utf-8")
    changed = FakeSuggester(codebook)
    summary = run([corpus], out, changed)
    assert changed.calls == [1] and summary.tagged == ["intervju_03"]

    forced = FakeSuggester(codebook)
    summary = run([corpus], out, forced, force=True)
    assert forced.calls == [2, 2, 1] and summary.resumed == [] and len(summary.tagged) == 3


def test_resume_with_other_settings_redoes(tmp_path, corpus, codebook):
    out = tmp_path / "out"
    run([corpus], out, FakeSuggester(codebook))
    other = FakeSuggester(codebook, top_k=2)
    summary = run([corpus], out, other, top_k=2)
    assert other.calls == [2, 2, 1] and summary.resumed == []
    assert "code_3" not in read_csv(out / "segments.csv")[0]
    # the user is told why nothing was resumed, and where the summary went
    assert len(summary.redone) == 3 and all("changed settings: top_k 3 → 2" in r for r in summary.redone)
    assert any(line.startswith("redone instead of resumed:") for line in summary.lines())
    assert f"wrote summary: {out / 'summary.json'}" in summary.lines()
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["redone"] == summary.redone


def test_cli_runtime_reaches_the_model_and_a_changed_runtime_redoes(tmp_path, corpus, codebook, monkeypatch):
    import nokoding.tagging as tag_module

    asked = []

    def fake_suggester(model, top_k, device, runtime):
        asked.append((device, runtime))
        return FakeSuggester(codebook, top_k)

    monkeypatch.setattr(tag_module.run, "model_suggester", fake_suggester)
    monkeypatch.setattr(tag_module.readers, "_default_reader", read_labelled_text)
    monkeypatch.setattr(tag_module.run, "_default_segmenter", lambda roles: segment_turns)
    app = __import__("nokoding.cli", fromlist=["app"]).app
    args = ["tag", str(corpus), "--out", str(tmp_path / "out"), "--format", "csv"]
    for extra in (["--runtime", "int8", "--device", "cpu"], ["--runtime", "int8", "--device", "cpu"], ["--device", "cpu"]):
        result = CliRunner().invoke(app, args + extra)
        assert result.exit_code == 0, result.output
    # the second run resumed everything (no model load); the third, without int8, redid it
    assert asked == [("cpu", "int8"), ("cpu", None)]
    result = CliRunner().invoke(app, args + ["--runtime", "int8", "--device", "cuda"])
    assert result.exit_code == 2 and "int8 is CPU-only" in result.output


def test_default_and_explicit_default_runtime_are_one_run_and_the_summary_names_it(tmp_path, corpus, codebook,
                                                                                monkeypatch):
    # `tag` without --runtime and `tag --runtime fp32` do the same work on a CPU: the second
    # resumes; summary.json says which device and runtime were used; int8 with the default
    # device runs on the CPU even where a GPU exists
    import torch

    import nokoding.tagging as tag_module

    asked = []

    def fake_suggester(model, top_k, device, runtime):
        asked.append(runtime)
        return FakeSuggester(codebook, top_k)

    monkeypatch.setattr(tag_module.run, "model_suggester", fake_suggester)
    monkeypatch.setattr(tag_module.readers, "_default_reader", read_labelled_text)
    monkeypatch.setattr(tag_module.run, "_default_segmenter", lambda roles: segment_turns)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    app = __import__("nokoding.cli", fromlist=["app"]).app
    out = tmp_path / "out"
    args = ["tag", str(corpus), "--out", str(out), "--format", "csv"]
    assert CliRunner().invoke(app, args).exit_code == 0
    settings = json.loads((out / "summary.json").read_text(encoding="utf-8"))["settings"]
    assert (settings["device"], settings["device_used"], settings["runtime"]) == ("auto", "cpu", "fp32")
    result = CliRunner().invoke(app, [*args, "--runtime", "fp32"])
    assert result.exit_code == 0 and asked == [None], result.output  # resumed: no model needed
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU machine
    result = CliRunner().invoke(app, [*args, "--runtime", "int8"])
    assert result.exit_code == 0, result.output
    settings = json.loads((out / "summary.json").read_text(encoding="utf-8"))["settings"]
    assert (settings["device_used"], settings["runtime"]) == ("cpu", "int8") and asked == [None, "int8"]


def test_threshold_limits_qdpx_codings_but_not_csv(tmp_path, corpus, codebook):
    summary = run([corpus], tmp_path / "out", FakeSuggester(codebook), threshold=0.6)
    codings = read_qdpx(tmp_path / "out" / "project.qdpx", like=codebook).codings
    assert summary.codings == len(codings) < 15 and all(c.ok for c in summary.checks)
    rows = read_csv(tmp_path / "out" / "segments.csv")
    assert len(rows) == 5 and all(r["code_3"] for r in rows)
    expected = sum(1 for r in rows for i in (1, 2, 3) if float(r[f"p_{i}"]) >= 0.6)
    assert len(codings) == expected


def test_expand_inputs_folders_globs_duplicates(tmp_path, corpus):
    (corpus / "sub").mkdir()
    (corpus / "sub" / "intervju_01.txt").write_text("I: x\nInformant: y\n", encoding="utf-8")
    (corpus / ".skjult.txt").write_text("I: x\n", encoding="utf-8")
    (corpus / "notater.pdf").write_bytes(b"%PDF")
    files, failures = expand_inputs([corpus, str(corpus / "intervju_0*.txt"), tmp_path / "nei", "*.nope"])
    assert [p.relative_to(corpus).as_posix() for p in files] == [
        "intervju_01.txt", "intervju_02.txt", "intervju_03.txt", "sub/intervju_01.txt"]
    assert [f.path for f in failures] == [str(tmp_path / "nei"), "*.nope"]


def test_same_file_stem_in_two_folders_gets_unique_ids(tmp_path, corpus, codebook):
    (corpus / "sub").mkdir()
    (corpus / "sub" / "intervju_01.txt").write_text("I: x\nInformant: y og z.\n", encoding="utf-8")
    summary = run([corpus], tmp_path / "out", FakeSuggester(codebook))
    assert summary.tagged == ["intervju_01", "intervju_02", "intervju_03", "intervju_01-2"]
    assert summary.ok


def test_bad_arguments_are_rejected_before_any_work(tmp_path, corpus, codebook):
    for kw in ({"formats": ["xlsx"]}, {"top_k": 0}, {"threshold": 1.5}, {"device": "tpu"}, {"runtime": "int4"}, {"roles": ("speaker",)},
               {"runtime": "int8", "device": "cuda"}):
        with pytest.raises(ValueError):
            run([corpus], tmp_path / "out", FakeSuggester(codebook), **kw)
    assert not (tmp_path / "out" / ".nokoding" / "manifest.json").exists()


def test_cli_exits_non_zero_after_finishing_the_rest(tmp_path, corpus, codebook, monkeypatch):
    import nokoding.tagging as tag_module

    (corpus / "intervju_00_korrupt.txt").write_bytes(b"\xff\xfe\x00\x00")
    monkeypatch.setattr(tag_module.run, "model_suggester",
                        lambda model, top_k, device, runtime: FakeSuggester(codebook, top_k))
    monkeypatch.setattr(tag_module.readers, "_default_reader", read_labelled_text)
    monkeypatch.setattr(tag_module.run, "_default_segmenter", lambda roles: segment_turns)
    result = CliRunner().invoke(
        __import__("nokoding.cli", fromlist=["app"]).app,
        ["tag", str(corpus), "--out", str(tmp_path / "out"), "--format", "csv,qdpx", "--top-k", "2"],
    )
    assert result.exit_code == 1, result.output
    assert "intervju_00_korrupt.txt" in result.output and "check csv: ok" in result.output
    assert len(read_csv(tmp_path / "out" / "segments.csv")) == 5
    assert not (tmp_path / "out" / "segments.jsonl").exists()


def test_real_readers_folder_with_a_corrupt_docx(tmp_path, codebook):
    ingest = pytest.importorskip("nokoding.ingest", reason="pending: nokoding.ingest not installed")
    pytest.importorskip("nokoding.segmentation", reason="pending: nokoding.segmentation not installed")
    assert hasattr(ingest, "read")
    folder = tmp_path / "intervjuer"
    folder.mkdir()
    (folder / "a.txt").write_bytes("\ufeffI: Hvordan måles dere?\r\nInformant: På vedtak 🙂. Det er slitsomt.\r\n"
                                   .encode("utf-8"))
    (folder / "b.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Intervjuer>Har dere tid?\n\n"
                                  "00:00:04.000 --> 00:00:09.000\n<v Kari>Nei, det er for lite tid.\n",
                                  encoding="utf-8")
    (folder / "c.docx").write_bytes(b"PK\x03\x04 this is not a real docx")
    before = checksums(folder)
    summary = tag([folder], out_dir=tmp_path / "out", suggester=FakeSuggester(codebook), progress=False)
    assert summary.exit_code == 1
    assert [Path(f.path).name for f in summary.failures] == ["c.docx"]
    assert summary.tagged == ["a", "b"] and summary.segments >= 2
    assert all(c.ok for c in summary.checks), summary.lines()
    _, sources, codings = read_qdpx(tmp_path / "out" / "project.qdpx")
    texts = {s.guid: s.text for s in sources}
    assert all(texts[c.source][c.start:c.end] == c.text for c in codings)
    assert any("På vedtak 🙂" in c.text for c in codings)
    assert checksums(folder) == before


def test_interrupted_run_resumes_from_the_manifest(tmp_path, corpus, codebook):
    class Interrupting(FakeSuggester):
        def __call__(self, segments):
            if len(self.calls) == 1:
                raise KeyboardInterrupt
            return super().__call__(segments)

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run([corpus], out, Interrupting(codebook))
    manifest = json.loads((out / ".nokoding" / "manifest.json").read_text(encoding="utf-8"))
    assert [e["document_id"] for e in manifest["documents"].values()] == ["intervju_01"]
    assert not (out / "segments.csv").exists()
    resumed = FakeSuggester(codebook)
    summary = run([corpus], out, resumed)
    assert resumed.calls == [2, 1] and summary.resumed == ["intervju_01"] and summary.ok


def test_cli_reports_a_missing_model_with_exit_2(tmp_path, corpus):
    result = CliRunner().invoke(
        __import__("nokoding.cli", fromlist=["app"]).app,
        ["tag", str(corpus), "--out", str(tmp_path / "out"), "--model", str(tmp_path / "no_model")],
    )
    assert result.exit_code == 2 and "no_model" in result.output


@pytest.mark.slow
def test_cli_end_to_end_with_a_tiny_model(tmp_path, corpus, codebook):
    """Real readers, segmenter and model code path (a tiny random model; about 20 s on 2 cores)."""
    from nokoding.model import save_pretrained
    from nokoding.model.coding_model import CodingModel
    from nokoding.testing import make_tiny_encoder

    encoder = make_tiny_encoder(tmp_path / "encoder")
    save_pretrained(CodingModel.from_backbone(str(encoder), codebook, strategy="frozen"), tmp_path / "model")
    (corpus / "intervju_00_korrupt.docx").write_bytes(b"PK\x03\x04 not a docx")
    result = CliRunner().invoke(
        __import__("nokoding.cli", fromlist=["app"]).app,
        ["tag", str(corpus), "--model", str(tmp_path / "model"), "--out", str(tmp_path / "out"),
         "--device", "cpu", "--top-k", "2", "--threshold", "0.0"],
    )
    assert result.exit_code == 1, result.output
    assert "intervju_00_korrupt.docx" in result.output
    assert result.output.count(": ok") == 3
    rows = read_csv(tmp_path / "out" / "segments.csv")
    assert {r["document"] for r in rows} == {"intervju_01", "intervju_02", "intervju_03"}
    assert all(r["code_2"] in codebook.code_ids for r in rows)
    assert len(read_qdpx(tmp_path / "out" / "project.qdpx").codings) == 2 * len(rows)


def test_top_k_above_the_codebook_size_lists_every_code_once(tmp_path, corpus, codebook):
    summary = run([corpus], tmp_path / "out", FakeSuggester(codebook, top_k=50), top_k=50)
    n = codebook.n_codes
    header = read_csv(tmp_path / "out" / "segments.csv")[0]
    assert f"code_{n}" in header and f"code_{n + 1}" not in header
    assert any(f"more than the codebook's {n} codes" in w for w in summary.warnings)


def test_reader_notes_name_the_file_once_and_survive_a_resume(tmp_path, codebook, recwarn):
    # a Windows-1252 transcript: the decoding note reaches the summary (not a raw Python
    # warning), names the file once, and is shown again when the run is resumed
    path = tmp_path / "cp1252.txt"
    path.write_bytes("I: Hvordan måles dere?\nInformant: På antall vedtak, og det er slitsomt.\n".encode("cp1252"))
    for _ in range(2):
        summary = tag([path], out_dir=tmp_path / "out", suggester=FakeSuggester(codebook), progress=False,
                      formats=["csv"])
        notes = [w for w in summary.warnings if "not valid UTF-8" in w]
        assert len(notes) == 1 and notes[0].count(str(path)) == 1 and notes[0].startswith(f"{path}: ")
    assert summary.resumed == ["cp1252"]
    assert not [w for w in recwarn if "UTF-8" in str(w.message)]


def test_cli_roles_and_interviewer_labels(tmp_path, codebook):
    # default: informant turns only (a title without a speaker is not coded); --role unknown
    # adds it; --interviewer names an interviewer whose label the reader does not know
    from nokoding.cli import app

    path = tmp_path / "intervju.txt"
    path.write_text("Intervju 7, mars 2022\n\nKari: Hvordan blir dere målt?\n\nOla: På antall vedtak, hver uke.\n\n"
                    "Kari: Og lederen din?\n\nOla: Hun stoler på oss.\n", encoding="utf-8")
    import nokoding.tagging as tag_module

    def run_cli(out, *extra):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(tag_module.run, "model_suggester",
                       lambda model, top_k, device, runtime: FakeSuggester(codebook, top_k))
            result = CliRunner().invoke(app, ["tag", str(path), "--out", str(tmp_path / out), "--format", "csv",
                                              *extra])
        assert result.exit_code == 0, result.output
        return [(r["speaker"], r["role"]) for r in read_csv(tmp_path / out / "segments.csv")]

    inferred = run_cli("a")  # Kari asks the questions: inferred interviewer
    assert inferred and {s for s, _ in inferred} == {"Ola"}
    assert ("", "unknown") in run_cli("b", "--role", "informant", "--role", "unknown")
    assert {s for s, _ in run_cli("c", "--interviewer", "Ola")} == {"Kari"}
    result = CliRunner().invoke(app, ["tag", str(path), "--out", str(tmp_path / "e"), "--interviewer", "Nobody"])
    assert result.exit_code == 1  # the file fails, named, instead of coding the questions too
    assert "--interviewer Nobody matches no speaker label (labels here: Kari, Ola)" in result.output
    result = CliRunner().invoke(app, ["tag", str(path), "--out", str(tmp_path / "d"), "--role", "speaker"])
    assert result.exit_code == 2 and "unknown role(s) ['speaker']" in result.output


def test_resume_follows_the_model_files_not_how_the_model_was_named(tmp_path, corpus, codebook, monkeypatch):
    import nokoding.tagging as tag_module

    calls = []

    def fake_suggester(model, top_k, device, runtime):
        calls.append(model)
        return FakeSuggester(codebook, top_k)

    monkeypatch.setattr(tag_module.run, "model_suggester", fake_suggester)
    model = tmp_path / "mymodel"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"first training")
    out = tmp_path / "out"
    kw = dict(out_dir=out, reader=read_labelled_text, segmenter=segment_turns, progress=False, formats=["csv"])
    tag([corpus], model=str(model), **kw)
    summary = tag([corpus], model=f"{model}/", **kw)  # same folder, other spelling: resumed
    assert len(summary.resumed) == 3 and len(calls) == 1
    settings = json.loads((out / "summary.json").read_text(encoding="utf-8"))["settings"]
    assert settings["model"] == f"{model}/" and settings["model_key"].startswith("sha256:")
    assert settings["top_k"] == 3 and settings["formats"] == ["csv"] and settings["roles"] == ["informant"]
    (model / "weights.bin").write_bytes(b"retrained")  # `nokoding train --out mymodel` again
    summary = tag([corpus], model=str(model), **kw)
    assert summary.resumed == [] and len(summary.tagged) == 3 and len(calls) == 2


def test_outputs_left_from_an_earlier_run_are_named(tmp_path, corpus, codebook):
    out = tmp_path / "out"
    run([corpus / "intervju_01.txt"], out, FakeSuggester(codebook), formats=["csv", "qdpx"])
    summary = run([corpus / "intervju_02.txt"], out, FakeSuggester(codebook), formats=["jsonl"])
    stale = [w for w in summary.warnings if "from an earlier run" in w]
    assert len(stale) == 2 and any("segments.csv" in w for w in stale) and any("project.qdpx" in w for w in stale)


def test_output_folder_that_is_a_file_and_cuda_without_gpu_are_refused_early(tmp_path, corpus, codebook):
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match="output folder .*afile is a file"):
        run([corpus], afile, FakeSuggester(codebook))
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            tag([corpus], out_dir=tmp_path / "out", device="cuda", progress=False)
        assert not (tmp_path / "out").exists()


def test_cli_onnx_runtime_is_refused_up_front_on_a_gpu_or_without_its_extra(tmp_path, corpus, monkeypatch):
    import importlib.util

    app = __import__("nokoding.cli", fromlist=["app"]).app
    args = ["tag", str(corpus), "--out", str(tmp_path / "out"), "--format", "csv", "--runtime", "onnx"]
    result = CliRunner().invoke(app, args + ["--device", "cuda"])
    assert result.exit_code == 2 and "onnx is CPU-only" in result.output
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    result = CliRunner().invoke(app, args + ["--device", "cpu"])
    assert result.exit_code == 2 and "pip install 'nokoding[onnx]'" in result.output
    assert not (tmp_path / "out" / "segments.csv").exists()
