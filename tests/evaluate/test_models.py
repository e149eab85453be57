"""Fine-tuned strategies through the same interface, the frozen-encoder embedder, and
``evaluate_model`` on a saved model — all on a tiny random encoder (seconds, no download)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nokoding.evaluate import LabelledCorpusError, evaluate_corpus, evaluate_model
from nokoding.evaluate.strategies import EncoderEmbedder
from nokoding.testing import make_tiny_encoder

from .conftest import make_records, write_corpus

FAST = {"epochs": 1, "head_steps": 3, "batch_size": 8, "deterministic": False}


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    return make_tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny-unigram", "unigram", max_position_embeddings=64)


@pytest.fixture(scope="module")
def saved_model(tiny_encoder, tmp_path_factory):
    from nokoding.codebook import Codebook
    from nokoding.training import train

    from .conftest import CODEBOOK

    out = tmp_path_factory.mktemp("model") / "tiny-model"
    train(make_records(per_code=3), codebook=Codebook.from_dict(CODEBOOK), backbone=str(tiny_encoder),
          strategy="frozen", out_dir=out, epochs=0, head_steps=3, progress=False, evidence=False)
    return out


def test_embedder_embeds_each_text_once_and_keeps_order(tiny_encoder):
    emb = EncoderEmbedder(str(tiny_encoder), text_prefix="query: ")
    a = emb.embed(["første tekst", "andre tekst"])
    cached = dict(emb._cache)
    b = emb.embed(["andre tekst", "første tekst"])
    assert a.shape[0] == 2 and np.array_equal(a[::-1], b)
    assert emb._cache.keys() == cached.keys()  # nothing embedded twice


def test_embedder_does_not_truncate_long_texts(tiny_encoder):
    emb = EncoderEmbedder(str(tiny_encoder))
    long_a = " ".join(["måling"] * 200) + " slutt på teksten om tillit"
    long_b = " ".join(["måling"] * 200) + " helt annen avslutning om styring ovenfra"
    a, b = emb.embed([long_a, long_b])
    assert not np.allclose(a, b)  # the ends, past the 64-token window, still count


def test_fine_tuned_strategies_sit_in_the_same_table(tiny_encoder, tmp_path):
    corpus = write_corpus(tmp_path / "tiny", make_records(per_code=3))
    report = evaluate_corpus(corpus, backbone=str(tiny_encoder), strategies=["majority", "frozen", "lora+desc"],
                             folds=2, repeats=2, strategy_repeats={"lora+desc": 1}, train_options=FAST,
                             out_dir=tmp_path / "out")
    methods = report["methods"]
    assert list(methods) == ["majority", "frozen", "lora+desc"]
    assert methods["frozen"]["repeats"] == 2 and methods["lora+desc"]["repeats"] == 1
    assert methods["lora+desc"]["fine_tuned"] and methods["lora+desc"]["uses_descriptions"]
    for task in ("category", "code", "sentiment"):
        assert methods["lora+desc"]["metrics"][task] is not None
    md = (tmp_path / "out" / "tiny.md").read_text(encoding="utf-8")
    assert "| lora+desc | 1 |" in md
    assert report["environment"]["backbone"]["train_options"]["epochs"] == 1


def test_int8_runtime_is_scored_on_the_same_fitted_models(tiny_encoder, monkeypatch):
    # `nokoding evaluate --also-runtime int8`: one fit per fold serves both rows, and the
    # second row's probabilities really come from the quantised model
    from nokoding.codebook import Codebook
    from nokoding.evaluate.cv import run_cv
    from nokoding.evaluate.strategies import EvalContext, FineTunedEstimator

    from .conftest import CODEBOOK

    fits, runtimes_seen = [], []
    real_fit, real_predict = FineTunedEstimator.fit, FineTunedEstimator.predict_proba

    def fit(self, recs):
        fits.append(1)
        real_fit(self, recs)
        # the fold's int8 copy calibrates on the fold's own training texts, as a trained model does
        assert set(self.model.calibration_texts()) == {r["text"] for r in recs}  # one per segment
        return self

    monkeypatch.setattr(FineTunedEstimator, "fit", fit)
    monkeypatch.setattr(FineTunedEstimator, "predict_proba",
                        lambda self, texts: (runtimes_seen.append(self.runtime), real_predict(self, texts))[1])
    codebook = Codebook.from_dict(CODEBOOK)
    ctx = EvalContext(codebook, backbone=str(tiny_encoder), train_options=FAST)
    result = run_cv(make_records(per_code=3), codebook, ["majority", "frozen"], n_folds=2, n_repeats=1,
                    context=ctx, runtimes=["int8"])
    assert list(result.methods) == ["majority", "frozen", "frozen@int8"]  # baselines get no variant
    assert len(fits) == 2 and runtimes_seen == ["fp32", "int8", "fp32", "int8"]
    fp32, int8 = result.methods["frozen"], result.methods["frozen@int8"]
    assert fp32.fit_seconds == int8.fit_seconds
    assert int8.params["runtime"] == "int8" and "runtime" not in fp32.params
    assert not np.array_equal(fp32.code_probs[0], int8.code_probs[0])
    np.testing.assert_allclose(fp32.code_probs[0], int8.code_probs[0], atol=0.1)
    with pytest.raises(ValueError, match="unknown evaluation runtime 'bf8'"):
        run_cv(make_records(per_code=3), codebook, ["majority"], n_folds=2, n_repeats=1, runtimes=["bf8"])


def test_evaluate_model_on_a_labelled_jsonl(saved_model, tmp_path):
    lines = [
        {"text": "vi måler tallene hver uke", "code_id": "mal.maling", "sentiment": "negative"},
        {"text": "det er travelt og lite tid", "category": "Mål", "subcategory": "Tid"},
        {"text": "jeg stoler på lederen", "category": "led", "subcategory": "Tillit", "sentiment": "positive"},
        {"text": "detaljstyring ovenfra", "code_id": "led.styring", "sentiment": ""},
    ]
    path = tmp_path / "held_out.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    report = evaluate_model(saved_model, path, out_dir=tmp_path / "out")
    assert report["kind"] == "saved-model"
    m = report["methods"]["tiny-model"]
    assert m["metrics"]["code"]["n_units"]["mean"] == 4
    assert m["metrics"]["sentiment"]["n_units"]["mean"] == 2  # two lines have no sentiment
    assert m["metrics"]["code"]["accuracy"]["std"] is None
    assert (tmp_path / "out" / "held_out.md").is_file() and (tmp_path / "out" / "held_out.json").is_file()


def test_evaluate_model_names_the_bad_line(saved_model, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok", "code_id": "mal.tid"}\n\n{"text": "x", "code_id": "no.such"}\n',
                    encoding="utf-8")
    with pytest.raises(LabelledCorpusError, match=r"bad\.jsonl:3: code 'no.such'"):
        evaluate_model(saved_model, path)


def test_cli_evaluate_model(saved_model, tmp_path):
    from nokoding.cli import app

    corpus = write_corpus(tmp_path / "tiny", make_records(per_code=2))
    result = CliRunner().invoke(app, ["evaluate", "--model", str(saved_model), "--corpus", str(corpus),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "out" / "tiny.json").read_text(encoding="utf-8"))
    assert data["corpus"]["n_units"] == 4 * 2 + 2


def test_cli_also_runtime_is_refused_with_a_saved_model(saved_model, tmp_path):
    from nokoding.cli import app

    result = CliRunner().invoke(app, ["evaluate", "--model", str(saved_model), "--also-runtime", "int8",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "--also-runtime goes with cross-validation" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_evaluate_model_on_held_out_csv(saved_model, tmp_path):
    # held-out data: one example per code is fine; a code outside the model's codebook is
    # named with its row, without advice about training
    from nokoding.cli import app

    held = tmp_path / "held.csv"
    held.write_text("text,code\nvi blir målt hver måned,Mål/Måling\nlederen stoler på oss,Ledelse/Tillit\n",
                    encoding="utf-8")
    ok = CliRunner().invoke(app, ["evaluate", "--model", str(saved_model), "--data", str(held),
                                  "--out", str(tmp_path / "out")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "out" / "held.json").is_file()

    held.write_text(held.read_text(encoding="utf-8") + "helt nytt tema,Økonomi/Budsjett\n", encoding="utf-8")
    bad = CliRunner().invoke(app, ["evaluate", "--model", str(saved_model), "--data", str(held),
                                   "--out", str(tmp_path / "out2")])
    assert bad.exit_code == 1
    assert "unknown-code" in bad.output and "held.csv" in bad.output and "Økonomi" in bad.output
    assert "before training" not in bad.output and "too-few-examples" not in bad.output


def test_an_extra_runtime_without_a_fine_tuned_method_is_refused_before_any_work():
    # `--also-runtime int8 --strategy majority` would silently produce no int8 row
    from nokoding.codebook import Codebook
    from nokoding.evaluate.cv import run_cv

    from .conftest import CODEBOOK

    codebook = Codebook.from_dict(CODEBOOK)
    with pytest.raises(ValueError, match="only scored for fine-tuned methods"):
        run_cv(make_records(per_code=3), codebook, ["majority", "prototype"], n_folds=2, n_repeats=1, runtimes=["int8"])
    with pytest.raises(ValueError, match="unknown evaluation runtime 'fp32'"):
        run_cv(make_records(per_code=3), codebook, ["frozen"], n_folds=2, n_repeats=1, runtimes=["fp32"])


def test_a_per_method_repeat_count_outside_1_to_n_repeats_is_refused():
    # `--strategy-repeats majority=5 --repeats 3` must fail before any fold runs
    from nokoding.codebook import Codebook
    from nokoding.evaluate.cv import run_cv

    from .conftest import CODEBOOK

    codebook = Codebook.from_dict(CODEBOOK)
    for bad in (0, 3):
        with pytest.raises(ValueError, match="repeats for 'majority' must be between 1 and 2"):
            run_cv(make_records(per_code=3), codebook, ["majority"], n_folds=2, n_repeats=2, repeats={"majority": bad})
