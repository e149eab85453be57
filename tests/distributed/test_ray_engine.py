"""`tag_ray`: the local engine on Ray gives the local run's outputs, survives bad inputs and
dead actors, and resumes finished documents.

The tests marked slow start a private Ray instance (2 CPUs, no dashboard) once for the
module and run a tiny random model; together about 2–3 minutes on 2 shared cores, most of
it spent starting actor processes (torch import, model load).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nokoding.codebook import Codebook
from nokoding.distributed.ray_engine import ActorStartError, _actor_cpus, tag_ray
from nokoding.distributed.stages import (
    SuggestActor,
    decode_tagged,
    plan_row,
    read_stage,
)
from nokoding.tagging import tag
from tests.conftest import REPO, SMALL_CODEBOOK
from tests.export.fakes import FakeSuggester, read_labelled_text, segment_turns

FIXTURES = REPO / "tests" / "fixtures" / "transcripts"
TRANSCRIPTS = [
    FIXTURES / "medarbeider_bokmal.txt", FIXTURES / "teams_leder.vtt", FIXTURES / "intervju.srt",
    FIXTURES / "leiar_nynorsk.txt", FIXTURES / "zoom_medarbeider.vtt", FIXTURES / "windows1252.txt",
    REPO / "corpora" / "examples" / "intervju_medarbeider_01.txt",
    REPO / "corpora" / "examples" / "intervju_leder_02.vtt",
]
OUTPUTS = ("segments.csv", "segments.jsonl", "project.qdpx")
CREATED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


# ----------------------------------------------------------------------------- no Ray needed
def test_importing_the_distributed_package_does_not_import_ray():
    code = ("import sys, nokoding.tagging, nokoding.cli, nokoding.distributed; "
            "from nokoding.distributed import tag_ray; print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


def test_read_stage_reports_an_unreadable_file_and_reads_a_good_one(tmp_path):
    good, bad = tmp_path / "intervju.txt", tmp_path / "skadet.txt"
    good.write_text("I: Hvordan blir dere målt?\nInformant: På antall vedtak.\n", encoding="utf-8")
    bad.write_bytes(b"I: Hei\nInformant: \xff\xfe\n")
    kw = {"roles": ("informant",), "reader": read_labelled_text, "segmenter": segment_turns}
    ok = read_stage(plan_row(0, good, "intervju"), **kw)
    failed = read_stage(plan_row(1, bad, "skadet"), **kw)
    assert ok["status"] == "read" and ok["n_segments"] == 1 and len(ok["sha256"]) == 64
    assert failed["status"] == "failed" and failed["error"] == "not UTF-8 (byte 18)"  # the path is not repeated
    missing = read_stage(plan_row(2, tmp_path / "borte.txt", "borte"), **kw)
    assert missing["status"] == "failed" and "No such file" in missing["error"]


def test_actor_tags_each_document_and_records_a_suggester_error(tmp_path):
    codebook = Codebook.from_dict(SMALL_CODEBOOK)
    files = []
    for name, words in (("a", "Vi blir målt hver dag."), ("b", "Lederen stoler på oss.")):
        files.append(tmp_path / f"{name}.txt")
        files[-1].write_text(f"I: Spørsmål?\nInformant: {words}\n", encoding="utf-8")
    rows = [read_stage(plan_row(i, f, f.stem), roles=("informant",), reader=read_labelled_text,
                       segmenter=segment_turns) for i, f in enumerate(files)]

    class FailsOnB(FakeSuggester):
        def __call__(self, segments):
            if segments[0].document_id == "b":
                raise RuntimeError("out of memory")
            return super().__call__(segments)

    actor = SuggestActor("unused", 3, suggester_factory=lambda: FailsOnB(codebook))
    a, b = (actor.tag_row(r) for r in rows)
    assert a["status"] == "tagged" and b["status"] == "failed"
    assert b["error"] == "suggestions failed: RuntimeError: out of memory"
    tagged = decode_tagged(a)
    assert [s.text for s in tagged.segments] == ["Vi blir målt hver dag."]
    assert tagged.suggestions[0] == FakeSuggester(codebook).one(tagged.segments[0])


def test_pool_too_big_for_the_cluster_is_refused_before_it_could_hang():
    assert _actor_cpus(2.0, 2, None, 0.5) == 0.75  # shrunk to leave room for a reader
    assert _actor_cpus(16.0, 4, None, 0.5) == 1.0
    with pytest.raises(ValueError, match="2 CPUs: 2 actor"):
        _actor_cpus(2.0, 2, 1.0, 0.5)
    with pytest.raises(ValueError, match="0.5 CPUs"):
        _actor_cpus(0.5, 1, None, 0.5)


@pytest.mark.parametrize("bad", [{"num_actors": 0}, {"batch_size": 0}, {"top_k": 0}, {"formats": "pdf"},
                                 {"gpus_per_actor": -1}, {"threads_per_actor": 0}])
def test_bad_options_are_refused_before_any_work(tmp_path, bad):
    with pytest.raises(ValueError):
        tag_ray([FIXTURES / "medarbeider_bokmal.txt"], out_dir=tmp_path / "out", **bad)
    assert not (tmp_path / "out" / ".nokoding" / "manifest.json").exists()


# ----------------------------------------------------------------------------- on Ray
@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from nokoding.model import save_pretrained
    from nokoding.model.coding_model import CodingModel
    from nokoding.testing import make_tiny_encoder

    root = tmp_path_factory.mktemp("tiny")
    encoder = make_tiny_encoder(root / "encoder")
    codebook = Codebook.from_dict(SMALL_CODEBOOK)
    return save_pretrained(CodingModel.from_backbone(str(encoder), codebook, strategy="frozen"), root / "model")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus") / "intervjuer"
    folder.mkdir()
    for f in TRANSCRIPTS:
        shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "intervju_skadet.docx"
    path.write_bytes(b"PK\x03\x04 not a docx")
    return path


def local_tag(inputs, out: Path, model: Path):
    """A local run with torch on one thread, like each actor (``threads_per_actor=1``): fp32
    sums depend on the thread count in their last bits, so equal counts give equal bytes."""
    from nokoding.inference.runtime import configure_threads

    before = configure_threads()
    configure_threads(1)
    try:
        return tag(inputs, out_dir=out, model=str(model), device="cpu", progress=False, created=CREATED)
    finally:
        configure_threads(before)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, tiny_model, corpus, corrupt):
    out = tmp_path_factory.mktemp("local") / "out"
    summary = local_tag([corpus, corrupt], out, tiny_model)
    assert summary.tagged and summary.segments > 20
    return out, summary


def options(model: Path) -> dict:
    return {"model": str(model), "device": "cpu", "progress": False, "created": CREATED, "threads_per_actor": 1}


def assert_same_outputs(ray_out: Path, local_out: Path) -> None:
    for name in OUTPUTS:
        assert (ray_out / name).read_bytes() == (local_out / name).read_bytes(), name
    docs = sorted(p.name for p in (local_out / ".nokoding" / "documents").iterdir())
    assert sorted(p.name for p in (ray_out / ".nokoding" / "documents").iterdir()) == docs
    for name in docs:
        assert (ray_out / ".nokoding/documents" / name).read_bytes() == \
               (local_out / ".nokoding/documents" / name).read_bytes()
    manifest = [json.loads((o / ".nokoding" / "manifest.json").read_text("utf-8")) for o in (ray_out, local_out)]
    assert manifest[0] == manifest[1]


@pytest.mark.slow
def test_ray_writes_the_local_runs_bytes_and_reports_the_corrupt_input(ray_local, tmp_path, tiny_model, corpus,
                                                                        corrupt, local_run):
    local_out, local = local_run
    summary = tag_ray([corpus, corrupt], out_dir=tmp_path / "out", num_actors=2, batch_size=2,
                      **options(tiny_model))
    assert_same_outputs(tmp_path / "out", local_out)
    assert summary.tagged == local.tagged and len(summary.tagged) == len(TRANSCRIPTS)
    assert summary.failures == local.failures
    assert [f.path for f in summary.failures] == [str(corrupt)] and "docx" in summary.failures[0].error
    assert summary.segments == local.segments
    assert [(c.format, c.ok, c.expected, c.found) for c in summary.checks] == \
           [(c.format, True, c.expected, c.found) for c in local.checks]
    assert summary.ray.documents == len(TRANSCRIPTS) and summary.ray.segments == summary.segments
    assert summary.ray.threads_per_actor == 1 and summary.ray.batches >= len(TRANSCRIPTS) // 2
    written = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert written["tagged"] == local.tagged and written["failures"][0]["path"] == str(corrupt)


@pytest.mark.slow
def test_ray_resumes_a_local_run_and_a_rerun_starts_no_actor(ray_local, tmp_path, tiny_model, corpus, corrupt,
                                                             local_run):
    local_out, local = local_run
    out = tmp_path / "out"
    first = sorted(corpus.iterdir())[:3]  # an interrupted local run: three documents finished
    local_tag(first, out, tiny_model)
    summary = tag_ray([corpus, corrupt], out_dir=out, **options(tiny_model))
    assert summary.resumed == [p.stem for p in first]
    assert summary.ray.documents == len(TRANSCRIPTS) - 3
    assert sorted(summary.tagged + summary.resumed) == sorted(local.tagged)
    assert_same_outputs(out, local_out)

    again = tag_ray([corpus], out_dir=out, **options(tiny_model))
    assert sorted(again.resumed) == sorted(local.tagged) and again.tagged == []
    assert again.ray.actors == 0 and again.ok  # nothing left to tag: Ray was not even used

    changed = tag_ray([corpus], out_dir=out, **{**options(tiny_model), "top_k": 2})
    assert changed.resumed == [] and sorted(changed.tagged) == sorted(local.tagged)
    assert sorted(r.split(" (")[0] for r in changed.redone) == sorted(local.tagged)  # and why
    assert all(r.endswith("(changed settings: top_k 3 → 2)") for r in changed.redone)


@pytest.mark.slow
def test_a_killed_actor_is_replaced_and_its_batch_retried(ray_local, tmp_path, tiny_model, corpus, corrupt,
                                                          local_run):
    local_out, local = local_run
    marker = tmp_path / "crashed_pid"
    model = str(tiny_model)

    def crash_once():  # the model's own suggester, in an actor that dies on its first batch
        from nokoding.tagging import model_suggester

        suggest = model_suggester(model, top_k=3, device="cpu")

        def run(segments):
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                os._exit(1)
            return suggest(segments)

        return run

    summary = tag_ray([corpus, corrupt], out_dir=tmp_path / "out", num_actors=2, batch_size=2,
                      suggester_factory=crash_once, codebook=Codebook.from_yaml(tiny_model / "codebook.yaml"),
                      **options(tiny_model))
    crashed = marker.read_text()
    assert crashed and not any(w.endswith(f":{crashed}") for w in summary.ray.workers)
    assert summary.tagged == local.tagged and summary.failures == local.failures
    assert all(c.ok for c in summary.checks)
    assert_same_outputs(tmp_path / "out", local_out)


@pytest.mark.slow
def test_a_document_that_keeps_killing_its_actor_fails_alone_and_the_rest_is_finished(ray_local, tmp_path, tiny_model,
                                                                              corpus):
    import threading

    model = str(tiny_model)

    def dies_on_teams_leder():
        from nokoding.tagging import model_suggester

        suggest = model_suggester(model, top_k=3, device="cpu")

        def run(segments):
            if segments[0].document_id == "teams_leder":
                os._exit(1)
            return suggest(segments)

        return run

    result = {}

    def go():  # retries are bounded: the run must end, not retry forever
        result["summary"] = tag_ray([corpus], out_dir=tmp_path / "out", batch_size=2, max_retries=1,
                                    suggester_factory=dies_on_teams_leder,
                                    codebook=Codebook.from_yaml(tiny_model / "codebook.yaml"),
                                    **options(tiny_model))

    worker = threading.Thread(target=go, daemon=True)
    worker.start()
    worker.join(timeout=300)
    assert not worker.is_alive(), "a poisoned batch was retried without end"
    summary = result["summary"]
    assert [(Path(f.path).stem, f.error) for f in summary.failures] == [
        ("teams_leder", "no result: the model process died 2 time(s) while tagging this document "
                        "(see the Ray logs); rerun to retry it")]
    assert sorted(summary.tagged) == sorted(p.stem for p in TRANSCRIPTS if p.stem != "teams_leder")
    assert all(c.ok for c in summary.checks)
    from nokoding.export.tabular import read_csv

    assert {r["document"] for r in read_csv(tmp_path / "out" / "segments.csv")} == set(summary.tagged)


def test_cli_refuses_an_unknown_engine(tmp_path):
    from typer.testing import CliRunner

    from nokoding.cli import app

    result = CliRunner().invoke(app, ["tag", str(FIXTURES / "medarbeider_bokmal.txt"), "--out", str(tmp_path / "o"),
                                      "--engine", "spark"])
    assert result.exit_code == 2 and "unknown engine 'spark'" in result.output


@pytest.mark.slow
def test_cli_tags_on_ray_with_the_requested_pool(ray_local, tmp_path, tiny_model):
    from typer.testing import CliRunner

    from nokoding.cli import app
    from nokoding.export.tabular import read_csv

    result = CliRunner().invoke(app, ["tag", *map(str, TRANSCRIPTS[:2]), "--out", str(tmp_path / "o"),
                                      "--model", str(tiny_model), "--engine", "ray", "--num-actors", "1"])
    assert result.exit_code == 0, result.output
    assert "ray (existing): 1 actor(s) x 1 CPU; 2 document(s)" in result.output
    assert {r["document"] for r in read_csv(tmp_path / "o" / "segments.csv")} == {p.stem for p in TRANSCRIPTS[:2]}


@pytest.mark.slow
def test_actors_that_cannot_start_stop_the_run_with_a_clear_error(ray_local, tmp_path, tiny_model):
    def cannot_load():
        raise RuntimeError("the model folder is not mounted on this node")

    with pytest.raises(ActorStartError, match="not mounted on this node"):
        tag_ray(TRANSCRIPTS[:1], out_dir=tmp_path / "out", suggester_factory=cannot_load,
                codebook=Codebook.from_yaml(tiny_model / "codebook.yaml"), **options(tiny_model))
