"""Build ``segments.jsonl`` of the written corpus from ``parts/*.jsonl``.

Run from the repository root::

    python corpora/thesis_mrs_written/build.py            # check, filter, write segments.jsonl + SIMILARITY.md
    python corpora/thesis_mrs_written/build.py --sample   # also draw the blind audit sample (audit/blind_sample.jsonl)

Steps:

1. Every record of the parts is checked against ``BRIEF.md`` §7 (fields, codes of the thesis
   codebook, labels); a bad record stops the build with its file and line.
2. ``category`` and ``subcategory`` are filled from ``../thesis_mrs/codebook.yaml`` (the one
   source of truth for codes); no-code records have ``code_id: null``.
3. Every statement is compared with all thesis quotes (``../thesis_mrs/segments.jsonl``):
   cosine similarity of character-5-gram count vectors (lower-cased, whitespace collapsed).
   A statement whose similarity to any quote reaches :data:`THRESHOLD` is dropped and listed
   in ``SIMILARITY.md`` with its nearest quote. The report also gives, as a reference, how
   similar the thesis quotes are to each other (different quotes on the same themes).
4. The kept records are written to ``segments.jsonl`` (atomically), in part order.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.preprocessing import normalize

HERE = Path(__file__).resolve().parent
THESIS = HERE.parent / "thesis_mrs"
sys.path.insert(0, str(HERE.parents[1]))

from nokoding.codebook import Codebook  # noqa: E402

#: Statements at or above this 5-gram cosine similarity to any thesis quote are dropped.
#: Chosen from the reference distribution printed in SIMILARITY.md (each thesis quote's
#: similarity to its nearest *other* quote: different informants on the same themes, in
#: the same register; median about 0.20, 95th percentile about 0.34): a statement is
#: dropped when it shares as much wording with some quote as the closest few per cent of
#: pairs of different real quotes do. Conservative on purpose: it also drops statements
#: that are close by chance.
THRESHOLD = 0.30
#: Share of the records drawn for the blind label audit.
AUDIT_SHARE = 0.20
AUDIT_SEED = 20261202

SENTIMENTS = {"negative", "neutral", "positive", "mixed"}
ROLES = {"medarbeider", "leder", "toppleder"}
SECTORS = {"nav", "kommune", "skole", "helse", "politi", "stat"}
REGISTERS = {"spoken", "short", "written"}
LANGUAGES = {"nb", "nn"}
FIELDS = ("id", "text", "code_id", "sentiment", "role", "sector", "register", "language", "pair", "rule", "note")


class BuildError(ValueError):
    """A part file has a malformed record (message names the file and line)."""


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip()


def read_parts(codebook: Codebook) -> list[dict]:
    known = set(codebook.code_ids)
    records: list[dict] = []
    seen: set[str] = set()
    for path in sorted((HERE / "parts").glob("*.jsonl")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.relative_to(HERE)}:{lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise BuildError(f"{where}: invalid JSON ({err.msg})") from None
            checks = [
                (isinstance(rec.get("id"), str) and rec["id"], "missing id"),
                (isinstance(rec.get("text"), str) and rec["text"].strip(), "missing text"),
                (rec.get("code_id") is None or rec.get("code_id") in known, f"unknown code {rec.get('code_id')!r}"),
                (rec.get("sentiment") in SENTIMENTS, f"unknown sentiment {rec.get('sentiment')!r}"),
                (rec.get("role") in ROLES, f"unknown role {rec.get('role')!r}"),
                (rec.get("sector") in SECTORS, f"unknown sector {rec.get('sector')!r}"),
                (rec.get("register") in REGISTERS, f"unknown register {rec.get('register')!r}"),
                (rec.get("language") in LANGUAGES, f"unknown language {rec.get('language')!r}"),
                (rec.get("id") not in seen, f"duplicate id {rec.get('id')!r}"),
                (rec.get("code_id") is not None or rec.get("sentiment") == "neutral", "no-code record must be neutral"),
            ]
            for ok, message in checks:
                if not ok:
                    raise BuildError(f"{where}: {message}")
            seen.add(rec["id"])
            out = {k: rec.get(k) for k in FIELDS}
            out["text"] = re.sub(r"\s+", " ", rec["text"]).strip()
            code = codebook.code(rec["code_id"]) if rec["code_id"] else None
            out["category"] = code.category if code else None
            out["subcategory"] = code.subcategory if code else None
            out["source"] = "written"
            out["part"] = path.stem
            records.append(out)
    return records


def similarity(texts: list[str], quotes: list[str]) -> np.ndarray:
    """Cosine similarity of character-5-gram counts, texts × quotes."""
    vec = CountVectorizer(analyzer="char", ngram_range=(5, 5), lowercase=False)
    vec.fit([norm(t) for t in texts + quotes])
    a = normalize(vec.transform([norm(t) for t in texts]))
    b = normalize(vec.transform([norm(q) for q in quotes]))
    return (a @ b.T).toarray()


def write_jsonl(path: Path, rows: list[dict]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def reference_distribution(quotes: list[dict]) -> np.ndarray:
    """Each thesis quote's highest similarity to a quote of another group (another utterance)."""
    texts = [q["text"] for q in quotes]
    sim = similarity(texts, texts)
    groups = [q.get("group", q["id"]) for q in quotes]
    best = []
    for i in range(len(texts)):
        others = [sim[i, j] for j in range(len(texts)) if groups[j] != groups[i]]
        best.append(max(others))
    return np.array(best)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", action="store_true", help="draw the blind audit sample too")
    args = parser.parse_args(argv)

    codebook = Codebook.from_yaml(THESIS / "codebook.yaml")
    records = read_parts(codebook)
    quotes = [json.loads(line) for line in (THESIS / "segments.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    sim = similarity([r["text"] for r in records], [q["text"] for q in quotes])
    best = sim.max(axis=1)
    nearest = sim.argmax(axis=1)
    ref = reference_distribution(quotes)

    kept, dropped = [], []
    for rec, s, j in zip(records, best, nearest, strict=True):
        rec["max_quote_similarity"] = round(float(s), 3)
        (dropped if s >= THRESHOLD else kept).append((rec, quotes[j]))
    write_jsonl(HERE / "segments.jsonl", [r for r, _ in kept])

    lines = [
        "# Similarity of the written statements to the thesis quotes",
        "",
        "Made by `python corpora/thesis_mrs_written/build.py`. Measure: cosine similarity of",
        "character-5-gram count vectors (lower-cased, whitespace collapsed) between each written",
        f"statement and each of the {len(quotes)} thesis quotes; a statement's figure is its highest.",
        "",
        "| | n | max | 99th pct | 95th pct | median |",
        "|---|---|---|---|---|---|",
        f"| written statements vs quotes | {len(records)} | {best.max():.3f} | {np.percentile(best, 99):.3f} | "
        f"{np.percentile(best, 95):.3f} | {np.median(best):.3f} |",
        f"| reference: thesis quote vs nearest other quote | {len(ref)} | {ref.max():.3f} | "
        f"{np.percentile(ref, 99):.3f} | {np.percentile(ref, 95):.3f} | {np.median(ref):.3f} |",
        "",
        f"Threshold: {THRESHOLD:.2f} (statements at or above it are dropped). Kept {len(kept)}, dropped {len(dropped)}.",
        "",
    ]
    if dropped:
        lines += ["## Dropped", "", "| id | similarity | statement | nearest quote |", "|---|---|---|---|"]
        for rec, q in dropped:
            lines.append(f"| {rec['id']} | {rec['max_quote_similarity']:.3f} | {rec['text'][:120]} | {q['id']}: {q['text'][:120]} |")
        lines.append("")
    top = sorted(kept, key=lambda rq: -rq[0]["max_quote_similarity"])[:10]
    lines += ["## The ten most similar kept statements", "", "| id | similarity | statement | nearest quote |", "|---|---|---|---|"]
    for rec, q in top:
        lines.append(f"| {rec['id']} | {rec['max_quote_similarity']:.3f} | {rec['text'][:120]} | {q['id']}: {q['text'][:120]} |")
    (HERE / "SIMILARITY.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    kept_recs = [r for r, _ in kept]
    by_code = Counter(r["code_id"] or "(no code)" for r in kept_recs)
    print(f"kept {len(kept_recs)}, dropped {len(dropped)}; max similarity kept {max(r['max_quote_similarity'] for r in kept_recs):.3f}; "
          f"reference 99th pct {np.percentile(ref, 99):.3f}, max {ref.max():.3f}")
    for code in [*codebook.code_ids, "(no code)"]:
        rs = [r for r in kept_recs if (r["code_id"] or "(no code)") == code]
        if not rs:
            print(f"{code:40s} 0")
            continue
        words = [len(r["text"].split()) for r in rs]
        sent = Counter(r["sentiment"] for r in rs)
        print(f"{code:40s} {by_code[code]:4d} nn {sum(r['language'] == 'nn' for r in rs) / len(rs):.0%} "
              f"words {min(words)}-{max(words)} " + " ".join(f"{k[:3]} {v}" for k, v in sorted(sent.items())))

    if args.sample:
        rng = random.Random(AUDIT_SEED)
        sample = rng.sample(kept_recs, round(AUDIT_SHARE * len(kept_recs)))
        (HERE / "audit").mkdir(exist_ok=True)
        write_jsonl(HERE / "audit" / "blind_sample.jsonl", [{"id": r["id"], "text": r["text"]} for r in sample])
        print(f"audit sample: {len(sample)} records -> audit/blind_sample.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main())
