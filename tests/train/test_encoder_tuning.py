"""Contrastive tuning of the encoder across codebooks: the loss, the studies, the
leave-one-study-out split, a tuning run on a tiny encoder, and its adapters as a backbone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nokoding.codebook import Codebook
from nokoding.training.encoder_tuning import (
    EncoderTuningArguments,
    TuningStudy,
    leave_one_study_out,
    loso_splits,
    study_from_records,
    supervised_contrastive_loss,
    tune_encoder,
)

REPO = Path(__file__).resolve().parents[2]


def _codebook(name: str, codes: list[tuple[str, str, str]]) -> Codebook:
    return Codebook.from_dict({
        "name": name,
        "categories": [{"id": name, "name": name.title(), "description": f"Studien {name}.",
                        "subcategories": [{"id": f"{name}.{cid}", "name": cname, "description": desc}
                                          for cid, cname, desc in codes]}],
    })


@pytest.fixture
def two_studies() -> list[tuple[Codebook, list[dict]]]:
    skole = _codebook("skole", [("kanal", "Kanaler", "Hvordan beskjeder når fram."),
                                ("tid", "Tid", "Lærerens tid og grenser.")])
    skole_rows = [
        ("Meldingene i appen drukner i alt det andre.", "skole.kanal"),
        ("Ukeplanen kommer på papir, og den blir borte i sekken.", "skole.kanal"),
        ("Foreldre sender e-post sent på kvelden.", "skole.kanal"),
        ("Jeg svarer ikke på telefonen etter klokka fire.", "skole.tid"),
        ("Det er for mange møter etter skoletid.", "skole.tid"),
        ("Helgene går med til å rette prøver.", "skole.tid"),
        ("Dette passer ikke under noen kode.", None),
    ]
    vakt = _codebook("vakt", [("turnus", "Turnus", "Vaktplan og hvile."),
                              ("team", "Team", "Samarbeid på vakta."),
                              ("leder", "Leder", "Ledelse av avdelingen.")])
    vakt_rows = [
        ("Tre nattevakter på rad, og så dagvakt.", "vakt.turnus"),
        ("Vi får ikke hvile mellom vaktene.", "vakt.turnus"),
        ("Kollegene stiller opp når det brenner.", "vakt.team"),
        ("Vi hjelper hverandre med tunge løft.", "vakt.team"),
        ("Lederen er aldri på avdelingen.", "vakt.leder"),
        ("Sjefen lytter til oss på møtene.", "vakt.leder"),
    ]
    return [(skole, [{"id": f"s{i}", "text": t, "code_id": c} for i, (t, c) in enumerate(skole_rows)]),
            (vakt, [{"id": f"v{i}", "text": t, "code_id": c} for i, (t, c) in enumerate(vakt_rows)])]


def test_loss_is_lower_when_codes_are_separated():
    labels = torch.tensor([0, 0, 1, 1])
    together = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    assert supervised_contrastive_loss(together, labels, 0.1) < supervised_contrastive_loss(mixed, labels, 0.1)
    # no member has a positive: nothing to learn, and no NaN
    assert float(supervised_contrastive_loss(together, torch.tensor([0, 1, 2, 3]), 0.1)) == 0.0


def test_study_groups_statements_by_code_and_skips_uncoded(two_studies):
    codebook, rows = two_studies[0]
    study = study_from_records("skole", codebook, rows)
    assert study.codes == ("skole.kanal", "skole.tid")
    assert study.n_statements == 6  # the uncoded record is left out
    assert "Lærerens tid og grenser." in study.anchors["skole.tid"]


def test_unknown_code_is_named_with_study_and_record(two_studies):
    codebook, rows = two_studies[0]
    bad = rows[:2] + [{"id": "x9", "text": "Noe annet.", "code_id": "skole.nope"}]
    with pytest.raises(ValueError, match=r"'skole', record 3 \(x9\).*skole\.nope"):
        study_from_records("skole", codebook, bad)


def _named(name: str) -> TuningStudy:
    return TuningStudy(name=name, codes=("a", "b"), statements={"a": ("x",), "b": ("y",)}, anchors={"a": "A", "b": "B"})


def test_leave_one_study_out_never_tunes_on_the_scored_study():
    studies = [_named(n) for n in ("a", "b", "thesis_mrs", "d")]
    splits = dict(loso_splits(studies))
    assert set(splits) == {"a", "b", "thesis_mrs", "d"}
    for held_out, tuning in splits.items():
        names = [s.name for s in tuning]
        assert held_out not in names
        assert sorted(names) == sorted(n for n in splits if n != held_out)
    with pytest.raises(KeyError, match="nope"):
        leave_one_study_out(studies, "nope")
    with pytest.raises(ValueError, match="unique"):
        leave_one_study_out([*studies, _named("a")], "a")


def test_benchmark_folds_share_no_statement_with_the_scored_study():
    """On the real corpora: no statement of a held-out study (train or test, real thesis quotes
    included) is a tuning statement of its fold."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_new_codebooks import load_studies
    finally:
        sys.path.pop(0)
    studies = load_studies(None)
    if len(studies) < 3:
        pytest.skip("the new_codebooks corpus is not there")
    tuning = [study_from_records(s["name"], s["codebook"], s["train"]) for s in studies]
    for study in studies:
        held = {r["text"] for r in study["train"]} | {t["text"] for t in study["test"]}
        tuned_on = {t for s in leave_one_study_out(tuning, study["name"]) for v in s.statements.values() for t in v}
        assert not held & tuned_on, study["name"]
    thesis = next((s for s in studies if s["name"] == "thesis_mrs"), None)
    if thesis is not None:  # real quotes are never tuning data, in any fold
        quotes = {t["text"] for t in thesis["test"]}
        everything = {t for s in tuning for v in s.statements.values() for t in v}
        assert not quotes & everything


def test_recipe_rejects_bad_values():
    with pytest.raises(ValueError, match="codes_per_step"):
        EncoderTuningArguments(codes_per_step=1)
    with pytest.raises(ValueError, match="positive pair"):
        EncoderTuningArguments(statements_per_code=1, use_descriptions=False)


@pytest.fixture
def tuned_tiny(tiny_encoders, two_studies):
    studies = [study_from_records(cb.name, cb, rows) for cb, rows in two_studies]
    rows: list[dict] = []
    tuned = tune_encoder(studies, backbone=tiny_encoders["unigram"], steps=4, top_layers=1, learning_rate=5e-2,
                         lora_r=4, lora_alpha=8, progress=rows.append)
    return tuned, rows, studies


def test_tuning_runs_and_changes_only_the_adapted_embeddings(tuned_tiny, tiny_encoders):
    from nokoding.backbones import load_backbone, spec_from_directory
    from nokoding.model.pooling import masked_mean

    tuned, rows, _ = tuned_tiny
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and tuned.log == rows
    assert all(np.isfinite(r["loss"]) for r in rows)
    assert {r["study"] for r in rows} <= {"skole", "vakt"}
    texts = ["Lederen er aldri der.", "Appen virker ikke i dag, og ingen får beskjed."]
    with_adapters = tuned.embed(texts)
    without = tuned.embed(texts, adapters=False)
    assert with_adapters.shape == without.shape == (2, 32)
    assert not np.allclose(with_adapters, without, atol=1e-4)
    # the cached lower blocks + base top block reproduce the plain base encoder
    tokenizer, base = load_backbone(spec_from_directory(tiny_encoders["unigram"]))
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        plain = masked_mean(base(**enc).last_hidden_state, enc["attention_mask"]).numpy()
    np.testing.assert_allclose(without, plain, atol=1e-5)


def test_stored_adapters_load_as_a_backbone(tuned_tiny, tiny_encoders, tmp_path):
    from nokoding.backbones import BackboneIntegrityError, load_backbone, spec_from_directory
    from nokoding.backbones.coding import prepare_tuned_backbone
    from nokoding.model.pooling import masked_mean

    tuned, _, _ = tuned_tiny
    folder = tuned.save(tmp_path / "adapter")
    record = json.loads((folder / "tuning.json").read_text(encoding="utf-8"))
    assert record["recipe"]["steps"] == 4 and [s["name"] for s in record["studies"]] == ["skole", "vakt"]
    assert (folder / "adapter_model.safetensors").stat().st_size < 200_000  # adapters only, no base weights

    base = spec_from_directory(tiny_encoders["unigram"])
    spec = prepare_tuned_backbone(base, folder, name="tiny-coding", cache_dir=tmp_path / "cache")
    assert spec.sha256 != base.sha256 and spec.path.is_dir()
    again = prepare_tuned_backbone(base, folder, name="tiny-coding", cache_dir=tmp_path / "cache")
    assert again == spec  # merged once, then reused

    texts = ["Lederen er aldri der.", "Vi hjelper hverandre på natta."]
    tokenizer, encoder = load_backbone(spec_from_directory(spec.path))
    base_tok, base_enc = load_backbone(base)
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        merged = masked_mean(encoder(**enc).last_hidden_state, enc["attention_mask"]).numpy()
        plain = masked_mean(base_enc(**enc).last_hidden_state, enc["attention_mask"]).numpy()
    assert not np.allclose(merged, plain, atol=1e-4)
    np.testing.assert_allclose(merged, tuned.embed(texts), atol=1e-4)

    other = base.__class__(name=base.name, path=base.path, sha256="0" * 64)
    with pytest.raises(BackboneIntegrityError, match="tuned on base weights"):
        prepare_tuned_backbone(other, folder, name="tiny-coding", cache_dir=tmp_path / "cache2")
