"""Training: loss goes down, runs are reproducible, strategies touch only their weights, errors are clear."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nokoding.backbones import BackboneNotFoundError
from nokoding.training import CodingClassifier, TrainingArguments, train

FAST = {"epochs": 2, "head_steps": 5, "batch_size": 8, "progress": False}


def _epoch_means(log, stage="encoder"):
    rows = [r for r in log if r["stage"] == stage]
    epochs = sorted({r["epoch"] for r in rows})
    return [np.mean([r["loss"] for r in rows if r["epoch"] == e]) for e in epochs]


@pytest.mark.parametrize("kind,strategy,lr", [("wordpiece", "lora", 3e-3), ("unigram", "full", 1e-3)])
def test_training_reduces_the_loss(tiny_encoders, records, codebook, kind, strategy, lr):
    # no head stage: the encoder stage alone has to bring the loss down
    args = TrainingArguments(epochs=12, head_steps=0, batch_size=4, learning_rate=lr, head_learning_rate=1e-2,
                             progress=False)
    model = train(records, codebook=codebook, backbone=tiny_encoders[kind], strategy=strategy, args=args)
    means = _epoch_means(model.training_log)
    assert len(means) == 12
    # mini-batch losses are noisy: compare the first two epochs with the last two
    assert np.mean(means[-2:]) < 0.8 * np.mean(means[:2])


def test_head_stage_reduces_the_loss(tiny_encoders, records, codebook):
    model = train(records, codebook=codebook, backbone=tiny_encoders["unigram"], strategy="frozen",
                  head_fit="full", head_steps=60, progress=False)
    rows = [r for r in model.training_log if r["stage"] == "heads"]
    assert rows[0]["step"] == 1 and rows[-1]["step"] == 60
    assert rows[-1]["loss"] < 0.5 * rows[0]["loss"]


def test_head_stage_after_tunes_the_encoder_first(tiny_encoders, records, codebook):
    model = train(records, codebook=codebook, backbone=tiny_encoders["wordpiece"], strategy="lora",
                  head_stage="after", **FAST)
    stages = [r["stage"] for r in model.training_log]
    assert stages.index("calibrate") > max(i for i, s in enumerate(stages) if s == "encoder")
    # the heads are rebuilt around the tuned encoder's embeddings: the centre is their mean
    emb = torch.from_numpy(model.embed([r["text"] for r in records] + [
        f"{c.category}, {c.subcategory}: {c.description}" for c in codebook.codes]))
    assert torch.allclose(model.code_head.center, emb.mean(dim=0), atol=1e-5)
    with pytest.raises(ValueError, match="head_stage"):
        TrainingArguments(head_stage="never")


@pytest.mark.parametrize("strategy", ["lora", "full"])
def test_same_seed_same_weights(tiny_encoders, records, codebook, strategy):
    def weights(seed: int) -> dict[str, torch.Tensor]:
        m = train(records, codebook=codebook, backbone=tiny_encoders["wordpiece"], strategy=strategy, seed=seed, **FAST)
        return {k: v.clone() for k, v in m.state_dict().items()}

    a, b, c = weights(0), weights(0), weights(1)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_strategies_change_only_their_weights(tiny_encoders, records, codebook):
    from nokoding.model.coding_model import load_encoder

    base, _ = load_encoder(tiny_encoders["wordpiece"])
    base_state = base.state_dict()

    def changed(strategy: str) -> set[str]:
        m = train(records, codebook=codebook, backbone=tiny_encoders["wordpiece"], strategy=strategy, **FAST)
        state = m.encoder.state_dict()
        return {k for k, v in base_state.items() if not torch.equal(v, state[k.replace(".weight", ".base_layer.weight")
                                                                             .replace(".bias", ".base_layer.bias")]
                                                                        if k not in state else state[k])}

    assert changed("frozen") == set()
    assert changed("lora") == set()  # base weights untouched, only adapters learn
    full = changed("full")
    assert "encoder.layer.0.attention.self.query.weight" in full
    assert "embeddings.word_embeddings.weight" not in full


def test_out_dir_gets_model_log_and_args(tmp_path, tiny_encoders, records, codebook):
    model = train(records, codebook=codebook, backbone=tiny_encoders["unigram"], strategy="lora",
                  out_dir=tmp_path / "m", **FAST)
    lines = (tmp_path / "m" / "training_log.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(x) for x in lines]
    assert rows == model.training_log
    assert {"stage", "epoch", "step", "loss", "lr", "time"} <= set(rows[-1])
    n_examples = len(records) + codebook.n_codes  # quotes + one description per code
    steps_per_epoch = -(-n_examples // FAST["batch_size"])
    assert [r["step"] for r in rows if r["stage"] == "encoder"] == list(range(1, 2 * steps_per_epoch + 1))
    assert [r["epoch"] for r in rows if r["stage"] == "encoder"] == [1] * steps_per_epoch + [2] * steps_per_epoch
    args = json.loads((tmp_path / "m" / "training_args.json").read_text(encoding="utf-8"))
    assert args["strategy"] == "lora" and args["epochs"] == 2 and args["seed"] == 0
    data = json.loads((tmp_path / "m" / "data.json").read_text(encoding="utf-8"))
    assert data["record_examples"] == len(records) and data["description_examples"] == codebook.n_codes


def test_evidence_finds_the_training_segment_itself(tiny_encoders, records, codebook):
    model = train(records, codebook=codebook, backbone=tiny_encoders["wordpiece"], strategy="frozen", **FAST)
    emb = model.embed([records[3]["text"]])[0]
    (best,) = model.evidence.nearest(emb, 1)
    assert best.segment_id == "r3" and best.code_id == records[3]["code_id"]
    assert best.similarity == pytest.approx(1.0, abs=1e-2)  # stored as float16
    assert len(model.evidence) == len(records)  # descriptions are not evidence


def test_unknown_backbone_and_strategy_are_refused(records, codebook, tmp_path):
    with pytest.raises(BackboneNotFoundError, match="unknown backbone 'no-such-bert'"):
        train(records, codebook=codebook, backbone="no-such-bert", **FAST)
    with pytest.raises(BackboneNotFoundError, match="does not exist"):
        train(records, codebook=codebook, backbone=str(tmp_path / "missing"), **FAST)
    with pytest.raises(ValueError, match="strategy 'adapters'"):
        train(records, codebook=codebook, backbone="no-such-bert", strategy="adapters", **FAST)
    with pytest.raises(TypeError):
        train(records, codebook=codebook, backbone="no-such-bert", epochz=3)


def test_classifier_fits_and_predicts_in_codebook_order(tiny_encoders, codebook):
    texts = ["Vi blir målt hver uke.", "Lederen stoler på meg.", "Det er for lite tid.", "Sjefen har tid."]
    clf = CodingClassifier(codebook, backbone=str(tiny_encoders["wordpiece"]), strategy="frozen",
                           args=TrainingArguments(head_steps=100, progress=False), device="cpu")
    clf.fit(texts, [codebook.code_ids[i] for i in range(4)], sentiments=["negative", "positive", "negative", None])
    assert list(clf.classes_) == list(codebook.code_ids)
    proba = clf.predict_proba(texts)
    assert proba.shape == (4, codebook.n_codes) and ((proba >= 0) & (proba <= 1)).all()
    assert list(clf.predict(texts)) == list(codebook.code_ids)  # fits its own training texts
    assert clf.predict_sentiment_proba(texts).sum(axis=1) == pytest.approx(np.ones(4))
    assert clf.predict_category_proba(texts).shape == (4, len(codebook.categories))
    assert clf.transform(texts).shape == (4, clf.model_.config.hidden_size)
    assert clf.get_params()["strategy"] == "frozen"


def test_loo_cosines_leave_the_example_out_of_its_own_prototypes():
    from nokoding.training.trainer import _loo_cosines

    gen = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(7, 5, generator=gen), dim=-1)
    targets = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0]])
    cos, ok = _loo_cosines(z, targets)
    for i in range(7):
        for k in range(3):
            members = [j for j in range(7) if targets[j, k] == 1 and (j != i or targets[i, k] == 0)]
            assert bool(ok[i, k]) == bool(members)
            if members:
                proto = torch.nn.functional.normalize(z[members].sum(dim=0), dim=0)
                assert float(cos[i, k]) == pytest.approx(float(z[i] @ proto), abs=1e-6)


def test_head_fit_calibrate_keeps_the_prototype_ranking(tiny_encoders, records, codebook):
    model = train(records, codebook=codebook, backbone=tiny_encoders["unigram"], strategy="frozen",
                  head_fit="calibrate", head_steps=50, progress=False, evidence=False)
    assert [r["stage"] for r in model.training_log] == ["calibrate"]
    head = model.code_head
    # one shared bias: the ranking of codes is the ranking by cosine to the prototypes
    assert torch.allclose(head.bias, head.bias[0].expand_as(head.bias))
    assert torch.all(model.sentiment_head.bias == 0)
    texts = [r["text"] for r in records]
    emb = torch.from_numpy(model.embed(texts))
    with torch.no_grad():
        logits = head(emb)
    cos = torch.nn.functional.normalize(emb - head.center, dim=-1) @ torch.nn.functional.normalize(head.weight, dim=-1).T
    assert torch.equal(logits.argsort(dim=-1, stable=True), cos.argsort(dim=-1, stable=True))
    assert 1.0 <= float(head.log_scale.detach().exp()) <= 100.0


def test_head_fit_calibrate_needs_cosine_heads():
    with pytest.raises(ValueError, match="cosine"):
        TrainingArguments(head_fit="calibrate", code_head="linear")
    with pytest.raises(ValueError, match="head_fit"):
        TrainingArguments(head_fit="sometimes")
