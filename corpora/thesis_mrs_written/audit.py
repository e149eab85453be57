"""Blind label audit of the written corpus: agreement between the writer's labels and a second coder's.

Run from the repository root after the second coder has labelled ``audit/blind_sample.jsonl``
(text only, drawn by ``build.py --sample``) into ``audit/second_labels.jsonl``
(``{"id", "code_id" (null = no code), "sentiment"}`` per line)::

    python corpora/thesis_mrs_written/audit.py

Prints and writes ``audit/AUDIT.md``: per-item agreement and Cohen's κ for the code (no code
counted as a class of its own), the category and the sentiment toward målstyring, and the
disagreements.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

HERE = Path(__file__).resolve().parent
NONE = "(no code)"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(out: Path = HERE / "audit" / "AUDIT.md") -> int:
    """Compute the agreement, write the report to ``out`` and print its table."""
    first = {r["id"]: r for r in read_jsonl(HERE / "segments.jsonl")}
    sample = read_jsonl(HERE / "audit" / "blind_sample.jsonl")
    second = {r["id"]: r for r in read_jsonl(HERE / "audit" / "second_labels.jsonl")}
    missing = [r["id"] for r in sample if r["id"] not in second]
    if missing:
        print(f"audit/second_labels.jsonl lacks {len(missing)} sampled id(s), e.g. {missing[:3]}", file=sys.stderr)
        return 2
    ids = [r["id"] for r in sample if r["id"] in first]
    a_code = [first[i]["code_id"] or NONE for i in ids]
    b_code = [second[i]["code_id"] or NONE for i in ids]
    a_cat = [c.split(".")[0] for c in a_code]
    b_cat = [c.split(".")[0] for c in b_code]
    a_sent = [first[i]["sentiment"] for i in ids]
    b_sent = [second[i]["sentiment"] for i in ids]

    def row(name: str, a: list[str], b: list[str]) -> str:
        agree = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
        return f"| {name} | {len(a)} | {agree:.3f} | {cohen_kappa_score(a, b):.3f} |"

    lines = [
        "# Blind label audit",
        "",
        f"A random {len(ids)} of the {len(first)} written statements (`build.py --sample`), labelled a",
        "second time by a coder who saw only the statement texts, the codebook",
        "(`../thesis_mrs/codebook.yaml`) and the sentiment guideline (`../thesis_mrs/ANNOTATION.md` §3),",
        "never the writer's labels. Made by `python corpora/thesis_mrs_written/audit.py`.",
        "",
        "| label | n | agreement | Cohen's κ |",
        "|---|---|---|---|",
        row("code (22 codes + no code)", a_code, b_code),
        row("category (5 + no code)", a_cat, b_cat),
        row("sentiment toward målstyring", a_sent, b_sent),
        "",
        "Sentiment pairs (writer → second coder): "
        + ", ".join(f"{x}→{y} {n}" for (x, y), n in sorted(Counter(zip(a_sent, b_sent)).items()) if x != y),
        "",
        "## Code disagreements",
        "",
        "| id | writer | second coder | statement |",
        "|---|---|---|---|",
    ]
    for i, x, y in zip(ids, a_code, b_code, strict=True):
        if x != y:
            lines.append(f"| {i} | {x} | {y} | {first[i]['text'][:110]} |")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[7:12]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
