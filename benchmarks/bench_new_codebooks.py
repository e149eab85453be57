"""How well does ``nokoding train`` learn a new codebook from a few examples per code?

For every study under ``corpora/new_codebooks/`` (a folder with ``codebook.yaml``,
``train.jsonl`` and ``test.jsonl``; see its ``DATASHEET.md``) this trains a model with
:func:`nokoding.train` and the given settings (default: the defaults of ``nokoding train``)
once on 10 training statements per code and once on all of them, and scores the top
suggested code of every test statement against its label. The thesis codebook joins as one
more study when its written corpus is there: trained on the written statements
(``corpora/thesis_mrs_written``, no-code statements left out), tested on the 113 real
thesis quotes (a quote filed under several codes counts as right if the top code is any of
them); its category accuracy and code top-3 are printed too.

It prints a table per size (accuracy per study, mean over the written studies, training
seconds) and writes ``benchmarks/results/new_codebooks.json`` and ``.md``.

    python benchmarks/bench_new_codebooks.py                 # all studies, 10 and all per code
    python benchmarks/bench_new_codebooks.py --study skole_heim --sizes 10
    python benchmarks/bench_new_codebooks.py --strategy frozen --out /tmp/frozen
    python benchmarks/bench_new_codebooks.py --backbone me5-small-coding --out /tmp/coding

The leave-one-study-out comparison of the untuned and the coding-tuned encoder (which must
not see the scored study) is ``benchmarks/bench_encoder_tuning.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "corpora" / "new_codebooks"
THESIS = ROOT / "corpora" / "thesis_mrs"
WRITTEN = ROOT / "corpora" / "thesis_mrs_written"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def subsample(records: list[dict[str, Any]], per_code: int | None, seed: int) -> list[dict[str, Any]]:
    """At most ``per_code`` records of each code (a seeded random choice), in file order."""
    if per_code is None:
        return list(records)
    by_code: dict[str, list[int]] = defaultdict(list)
    for i, rec in enumerate(records):
        by_code[rec["code_id"]].append(i)
    rng = random.Random(seed)
    keep = {i for idx in by_code.values() for i in rng.sample(idx, min(per_code, len(idx)))}
    return [rec for i, rec in enumerate(records) if i in keep]


def load_studies(names: list[str] | None) -> list[dict[str, Any]]:
    """The studies to run: written studies, then the thesis study (when its data is there)."""
    from nokoding.codebook import Codebook

    studies = []
    for folder in sorted(p for p in STUDIES.iterdir() if (p / "codebook.yaml").is_file()):
        if not ((folder / "train.jsonl").is_file() and (folder / "test.jsonl").is_file()):
            continue
        studies.append({
            "name": folder.name,
            "codebook": Codebook.from_yaml(folder / "codebook.yaml"),
            "train": read_jsonl(folder / "train.jsonl"),
            "test": [{"text": r["text"], "codes": [r["code_id"]]} for r in read_jsonl(folder / "test.jsonl")],
            "written": True,
        })
    if (WRITTEN / "segments.jsonl").is_file():
        quotes = read_jsonl(THESIS / "segments.jsonl")
        codes_of: dict[str, list[str]] = defaultdict(list)
        text_of: dict[str, str] = {}
        for q in quotes:
            group = q.get("group", q["id"])
            codes_of[group].append(q["code_id"])
            text_of.setdefault(group, q["text"])
        studies.append({
            "name": "thesis_mrs",
            "codebook": Codebook.from_yaml(THESIS / "codebook.yaml"),
            "train": [{"id": r["id"], "text": r["text"], "code_id": r["code_id"]}
                      for r in read_jsonl(WRITTEN / "segments.jsonl") if r.get("code_id")],
            "test": [{"text": text_of[g], "codes": codes_of[g]} for g in text_of],
            "written": False,
        })
    if names:
        unknown = sorted(set(names) - {s["name"] for s in studies})
        if unknown:
            raise SystemExit(f"unknown study {', '.join(unknown)}; known: {', '.join(s['name'] for s in studies)}")
        studies = [s for s in studies if s["name"] in names]
    return studies


def run_study(study: dict[str, Any], per_code: int | None, strategy: str, seed: int,
              backbone: str = "me5-small") -> dict[str, Any]:
    from nokoding import suggest_codes, train

    records = subsample(study["train"], per_code, seed)
    started = time.perf_counter()
    model = train(records, codebook=study["codebook"], backbone=backbone, strategy=strategy, seed=seed)
    seconds = time.perf_counter() - started
    suggestions = suggest_codes([t["text"] for t in study["test"]], model=model, top_k=3, evidence_k=0, device="cpu")
    top1 = top3 = cat = 0
    for sug, item in zip(suggestions, study["test"], strict=True):
        ids = [c.code_id for c in sug.codes]
        gold = set(item["codes"])
        top1 += bool(ids) and ids[0] in gold
        top3 += bool(gold & set(ids))
        cat += bool(ids) and ids[0].split(".")[0] in {g.split(".")[0] for g in gold}
    n = len(study["test"])
    return {
        "study": study["name"], "per_code": per_code or "all", "codes": len(study["codebook"].code_ids),
        "train": len(records), "test": n, "top1": top1 / n, "top3": top3 / n, "category": cat / n,
        "train_seconds": round(seconds, 1),
    }


def table(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| study | codes | per code | train | test | top-1 acc. | top-3 acc. | category acc. | train s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['study']} | {r['codes']} | {r['per_code']} | {r['train']} | {r['test']} | {r['top1']:.3f} | "
                     f"{r['top3']:.3f} | {r['category']:.3f} | {r['train_seconds']} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", action="append", help="run only this study (repeatable)")
    parser.add_argument("--sizes", default="10,all", help="training statements per code, comma-separated ('all')")
    parser.add_argument("--strategy", default="lora", help="training strategy (default: nokoding train's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backbone", default="me5-small", help="backbone name or folder (default: me5-small)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "new_codebooks"),
                        help="output path without suffix (.json and .md are written)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sizes = [None if s.strip() == "all" else int(s) for s in args.sizes.split(",")]
    studies = load_studies(args.study)
    if not studies:
        raise SystemExit(f"no study found under {STUDIES}")
    rows = []
    for size in sizes:
        for study in studies:
            row = run_study(study, size, args.strategy, args.seed, args.backbone)
            rows.append(row)
            print(f"{row['study']:28s} per code {row['per_code']!s:>4}: top-1 {row['top1']:.3f} top-3 {row['top3']:.3f} "
                  f"({row['test']} test, {row['train']} train, {row['train_seconds']} s)", flush=True)
    summary = []
    for size in sizes:
        written = [r for r in rows if r["per_code"] == (size or "all") and r["study"] != "thesis_mrs"]
        if written:
            summary.append({"per_code": size or "all", "studies": len(written),
                            "mean_top1": sum(r["top1"] for r in written) / len(written),
                            "max_train_seconds": max(r["train_seconds"] for r in written)})
    result = {
        "command": "python benchmarks/bench_new_codebooks.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "strategy": args.strategy, "backbone": args.backbone, "seed": args.seed, "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "rows": rows, "summary": summary,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md = ["# New codebooks: accuracy of the top suggested code", "", f"Command: `{result['command']}`", "",
          f"Strategy `{args.strategy}`, backbone `{args.backbone}`, seed {args.seed}; load average at the end {result['load_average'][0]:.1f} "
          f"on {result['cpu_count']} cores.", "", *table(rows), ""]
    for s in summary:
        md.append(f"- {s['per_code']} per code: mean top-1 over {s['studies']} written studies **{s['mean_top1']:.3f}**; "
                  f"longest training {s['max_train_seconds']} s")
    out.with_suffix(".md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md[6:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
