"""Does a faster runtime change the suggestions? fp32 against int8 (or bf16) with the shipped model.

Runs the shipped model (``models/thesis-mrs``, real me5-small weights) through
:func:`nokoding.inference.predict` twice, ``runtime="fp32"`` and ``runtime="int8"`` (dynamic
int8 quantisation of the linear layers) or, with ``--runtime bf16``, ``runtime="bf16"`` (a
bfloat16 copy; fast on CPUs with AMX/AVX-512-BF16), on

* the 113 thesis quotes (``corpora/thesis_mrs``), whose hand coding also gives macro-F1 for
  both runtimes — these quotes are the model's training data, so the F1 values are
  in-sample and only their *difference* between runtimes means anything;
* the segments of the example transcripts in ``corpora/examples`` (text the model has not
  seen; no labels);
* the prose of the thesis's chapter 2 (theory: from the heading "2.1 Det instrumentelle
  perspektivet" to "2.4 Oppsummering teori") and chapter 3 (NAV and the trust reform: from
  "3.1 Partnerskapet i NAV" to "4.0 Metode og design") in ``../shared/seed/thesis.txt``,
  wrapped lines joined and cut into segments by :func:`nokoding.segment` — on topic, not
  interview speech, not training data; no labels. Skipped when the thesis file is not there.

It reports how often the top code, the top category and the sentiment agree, the largest
probability difference, the macro-F1 difference and the seconds each runtime took for all
the texts (after a warm-up), then writes ``benchmarks/results/<runtime>_agreement_cpu.json``
and ``.md`` with the model's fingerprint and the CPU's capabilities — the file
``runtime="auto"`` reads (:mod:`nokoding.inference.auto`). CPU only; a few minutes on 2 cores.

    python benchmarks/bench_int8_agreement.py
    python benchmarks/bench_int8_agreement.py --runtime bf16
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _scores(model: Any, texts: list[str], runtime: str) -> dict[str, np.ndarray]:
    from nokoding.inference import predict
    from nokoding.inference.probabilities import prediction_probabilities

    preds = list(predict(model, texts, device="cpu", runtime=runtime))
    code_p, sent_p = prediction_probabilities(preds)
    if preds and hasattr(model, "code_probabilities"):  # the model's own form (softmax with "no code")
        code_p = model.code_probabilities(np.stack([p.code_logits for p in preds]))
    return {"code": code_p, "category": model.category_probabilities(code_p), "sentiment": sent_p}


SECONDS = {"fp32": 0.0}


def _timed_scores(model: Any, texts: list[str], runtime: str) -> dict[str, np.ndarray]:
    start = time.perf_counter()
    out = _scores(model, texts, runtime)
    SECONDS[runtime] = SECONDS.get(runtime, 0.0) + time.perf_counter() - start
    return out


def compare(model: Any, texts: list[str], runtime: str = "int8") -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Agreement of the fp32 runtime and ``runtime`` on ``texts``: per task, top-label agreement
    and the largest absolute probability difference."""
    fp32, int8 = _timed_scores(model, texts, "fp32"), _timed_scores(model, texts, runtime)
    out: dict[str, Any] = {"n_texts": len(texts)}
    for task in ("code", "category", "sentiment"):
        same = fp32[task].argmax(1) == int8[task].argmax(1)
        out[task] = {
            "top_label_agreement": float(same.mean()),
            "disagreements": int((~same).sum()),
            "max_abs_probability_difference": float(np.abs(fp32[task] - int8[task]).max()),
        }
    return out, fp32, int8


CHAPTERS = {
    "thesis_chapter2_prose": ("2.1 Det instrumentelle perspektivet", "2.4 Oppsummering teori"),
    "thesis_chapter3_prose": ("3.1 Partnerskapet i NAV", "4.0 Metode og design"),
}


def prose_segments(thesis: Path, first: str, end: str) -> list[str]:
    """Segments of the thesis prose between the heading lines ``first`` and ``end`` (see the
    module docstring); ``[]`` without the file."""
    from nokoding.segmentation import segment

    if not thesis.is_file():
        return []
    lines = [line.strip() for line in thesis.read_text(encoding="utf-8").splitlines()]
    start = lines.index(first)
    stop = lines.index(end, start)
    text = " ".join(line for line in lines[start + 1 : stop] if line)
    return [s.text for s in segment(text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="thesis-mrs")
    parser.add_argument("--runtime", default="int8", choices=("int8", "bf16"))
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks/results")
    args = parser.parse_args(argv)

    import torch

    from nokoding import corpora, load_model
    from nokoding.evaluate.metrics import macro_f1
    from nokoding.evaluate.splits import record_code_id
    from nokoding.inference.auto import model_fingerprint
    from nokoding.inference.cpu import cpu_capabilities
    from nokoding.inference.int8 import SMOOTHING_ALPHA, Int8Linear, calibration_texts
    from nokoding.inference.runtime import prepare_model
    from nokoding.ingest import read
    from nokoding.segmentation import segment

    model = load_model(args.model)
    codebook = model.codebook
    records = corpora.load_records("thesis_mrs")
    texts = [r["text"] for r in records]
    rt = args.runtime
    _scores(model, texts[:8], "fp32"), _scores(model, texts[:8], rt)  # warm-up: prepared copies, not timed
    thesis, fp32, int8 = compare(model, texts, rt)

    code_ids = list(codebook.code_ids)
    gold_code = np.array([code_ids.index(record_code_id(r, codebook)) for r in records])
    gold_cat = np.array(codebook.code_to_category())[gold_code]
    labels = list(codebook.sentiment_labels)
    has_sent = np.array([r.get("sentiment") in labels for r in records])
    gold_sent = np.array([labels.index(r["sentiment"]) if ok else -1 for r, ok in zip(records, has_sent, strict=True)])
    f1 = {}
    for task, gold, mask in (("code", gold_code, slice(None)), ("category", gold_cat, slice(None)),
                             ("sentiment", gold_sent, has_sent)):
        a = macro_f1(gold[mask], fp32[task].argmax(1)[mask])
        b = macro_f1(gold[mask], int8[task].argmax(1)[mask])
        f1[task] = {"fp32": a, rt: b, f"{rt}_minus_fp32_points": 100 * (b - a)}
    thesis["macro_f1_in_sample"] = f1

    example_texts = [s.text for doc in read(ROOT / "corpora/examples") for s in segment(doc)]
    examples, _, _ = compare(model, example_texts, rt)
    thesis_txt = ROOT.parent / "shared" / "seed" / "thesis.txt"
    chapters = {}
    for key, (first, end) in CHAPTERS.items():
        prose = prose_segments(thesis_txt, first, end)
        if prose:
            chapters[key] = compare(model, prose, rt)[0]

    import os

    result = {
        "command": "python benchmarks/bench_int8_agreement.py" + ("" if rt == "int8" else f" --runtime {rt}"),
        "runtime": rt,
        "model": args.model,
        "model_fingerprint": model_fingerprint(model),
        "seconds_all_texts": {k: round(SECONDS[k], 2) for k in ("fp32", rt)},
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "quantized_engine": torch.backends.quantized.engine, "threads": torch.get_num_threads(),
                    "cpu": cpu_capabilities().as_dict(), "load_average_1min_end": round(os.getloadavg()[0], 2)},
        "thesis_quotes": thesis,
        "example_transcripts": examples,
        **chapters,
    }
    if rt == "int8":
        quantised = prepare_model(model, torch.device("cpu"), "int8")
        result["int8"] = {"alpha": SMOOTHING_ALPHA, "calibration_texts": len(calibration_texts(model)),
                          "int8_layers": sum(isinstance(m, Int8Linear) for m in quantised.modules()),
                          "activation_scales": "one per token"}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    from nokoding.atomic import atomic_write_text

    atomic_write_text(args.out_dir / f"{rt}_agreement_cpu.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(args.out_dir / f"{rt}_agreement_cpu.md", _markdown(result))
    sys.stdout.write(_markdown(result))
    return 0


def _markdown(r: dict[str, Any]) -> str:
    rt = r.get("runtime", "int8")
    what = (("int8 = the encoder's linear layers smoothed (SmoothQuant, α = "
             f"{r['int8']['alpha']}, calibrated on the model's {r['int8']['calibration_texts']} training "
             "segments) and dynamically quantised: 7-bit weights with one scale per output row, 8-bit "
             "activations with one scale per token, so a segment's result does not depend on its batch "
             "(`nokoding.inference.int8`).") if rt == "int8" else
            "bf16 = a bfloat16 copy of the model (weights and activations; logits returned as float32).")
    cpu = r["machine"].get("cpu", {})
    secs = r.get("seconds_all_texts", {})
    lines = [
        f"# {rt} against fp32 — the shipped model on CPU",
        "",
        what,
        "",
        (f"Command: `{r['command']}`; model `{r['model']}` (fingerprint `{r.get('model_fingerprint')}`); "
         f"torch {r['machine']['torch']}, quantized engine `{r['machine']['quantized_engine']}`, "
         f"{r['machine']['threads']} threads; CPU {cpu.get('model')} ({', '.join(cpu.get('flags', []))})."
         + (f" Time for all texts (after a warm-up): fp32 {secs.get('fp32')} s, {rt} {secs.get(rt)} s "
            f"(1-min load average at the end {r['machine'].get('load_average_1min_end')})." if secs else "")),
        "",
        "| texts | n | top code agrees | top category agrees | sentiment agrees | largest code-probability difference |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, name in (("thesis_quotes", "thesis quotes (training data)"),
                      ("example_transcripts", "example transcript segments (unseen)"),
                      ("thesis_chapter2_prose", "thesis chapter 2 prose segments (unseen)"),
                      ("thesis_chapter3_prose", "thesis chapter 3 prose segments (unseen)")):
        if key not in r:
            continue
        x = r[key]
        lines.append(f"| {name} | {x['n_texts']} | {x['code']['top_label_agreement']:.1%} | "
                     f"{x['category']['top_label_agreement']:.1%} | {x['sentiment']['top_label_agreement']:.1%} | "
                     f"{x['code']['max_abs_probability_difference']:.4f} |")
    lines += ["", "Macro-F1 against the thesis coding (in-sample: only the difference means anything):", "",
              f"| task | fp32 | {rt} | {rt} − fp32 (points) |", "|---|---:|---:|---:|"]
    for task, v in r["thesis_quotes"]["macro_f1_in_sample"].items():
        lines.append(f"| {task} | {v['fp32']:.3f} | {v[rt]:.3f} | {v[f'{rt}_minus_fp32_points']:+.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
