"""Blind label audit of the new_codebooks studies.

Usage, from the repository root::

    python corpora/new_codebooks/audit.py sample    # draw 20 % of every study's statements -> audit/blind_sample.jsonl
    python corpora/new_codebooks/audit.py score     # compare audit/second_labels.jsonl with the writers' codes -> audit/AUDIT.md

The sample holds only ``id``, ``study`` and ``text``; a second coder who reads only the
studies' codebooks labels each statement with one code of its study (or ``null``) in
``audit/second_labels.jsonl``. ``score`` reports agreement and Cohen's κ over all studies
(codes are study-specific, so κ is computed on the pooled study-qualified labels) and per
study, for training and test statements, and lists the disagreements.
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

HERE = Path(__file__).resolve().parent
SHARE = 0.20
SEED = 20261202


def statements() -> list[dict]:
    """Every statement of every study, with its study and split."""
    rows = []
    for folder in sorted(p for p in HERE.iterdir() if (p / "codebook.yaml").is_file()):
        for split in ("train", "test"):
            for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
                if line.strip():
                    rows.append({**json.loads(line), "study": folder.name, "split": split})
    return rows


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def sample() -> int:
    rng = random.Random(SEED)
    by_study = defaultdict(list)
    for row in statements():
        by_study[row["study"]].append(row)
    drawn = [r for rows in by_study.values() for r in rng.sample(rows, round(SHARE * len(rows)))]
    rng.shuffle(drawn)
    _write_jsonl(HERE / "audit" / "blind_sample.jsonl", [{"id": r["id"], "study": r["study"], "text": r["text"]} for r in drawn])
    print(f"{len(drawn)} statements from {len(by_study)} studies -> audit/blind_sample.jsonl")
    return 0


def score(out: Path = HERE / "audit" / "AUDIT.md") -> int:
    gold = {r["id"]: r for r in statements()}
    drawn = [json.loads(x) for x in (HERE / "audit" / "blind_sample.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    second = {r["id"]: r for r in (json.loads(x) for x in (HERE / "audit" / "second_labels.jsonl").read_text(encoding="utf-8").splitlines() if x.strip())}
    missing = [d["id"] for d in drawn if d["id"] not in second]
    if missing:
        print(f"audit/second_labels.jsonl lacks {len(missing)} sampled id(s), e.g. {missing[:3]}", file=sys.stderr)
        return 2
    ids = [d["id"] for d in drawn]
    a = [gold[i]["code_id"] for i in ids]
    b = [second[i]["code_id"] or "(no code)" for i in ids]

    def line(name: str, keep: list[int]) -> str:
        x, y = [a[k] for k in keep], [b[k] for k in keep]
        agree = sum(p == q for p, q in zip(x, y, strict=True)) / len(x)
        return f"| {name} | {len(x)} | {agree:.3f} | {cohen_kappa_score(x, y):.3f} |"

    everything = list(range(len(ids)))
    rows = [line("all studies", everything),
            line("training statements", [k for k in everything if gold[ids[k]]["split"] == "train"]),
            line("test statements", [k for k in everything if gold[ids[k]]["split"] == "test"])]
    for study in sorted({gold[i]["study"] for i in ids}):
        rows.append(line(study, [k for k in everything if gold[ids[k]]["study"] == study]))
    lines = ["# Blind label audit", "",
             f"{len(ids)} statements (20 % of each study, `audit.py sample`), coded again by a second coder who read",
             "only the studies' codebooks, never the writers' codes. Made by `python corpora/new_codebooks/audit.py score`.",
             "", "| statements | n | agreement | Cohen's κ |", "|---|---|---|---|", *rows, "",
             "## Disagreements", "", "| id | writer | second coder | statement |", "|---|---|---|---|"]
    lines += [f"| {i} | {x} | {y} | {gold[i]['text'][:110]} |" for i, x, y in zip(ids, a, b, strict=True) if x != y]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[5:8 + 3]))
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in {"sample", "score"}:
        sys.exit("usage: python corpora/new_codebooks/audit.py sample|score")
    sys.exit(sample() if command == "sample" else score())
