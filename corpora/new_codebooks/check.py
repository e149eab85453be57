"""Count table and keyword-overlap check for the new_codebooks studies.

Usage: ``python corpora/new_codebooks/check.py [STUDY ...]`` (default: every study folder).

For each study it prints codes, training/test statements per code, the nynorsk and spoken
shares and the shortest/longest statement in words, then every test statement that shares a
content word (5 letters or more, compared on its first 5 letters, a crude stem) with at least
``MIN_TRAIN`` training statements of its own code.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent
MIN_TRAIN = 2
STEM = 5
STOP = set(
    """altså akkurat alle allerede andre annen annet aldri bare begge blant blir ble bruke
    bruker burde bør både eller etter fordi foran fleire flere fortsatt første føler gjøre
    gjere gjer gjerne ganske hadde hvert hvilke hvordan ikkje ikke inntil kanskje kunne
    kvifor kvar korleis liksom mange mellom mykje mye noen nokre nokon noko ingen nesten
    nettopp også rundt samme same selve sjølv selv siden sånn slik skulle their there
    under ville være vere vore vært veldig verkeleg virkelig akkurat egentlig eigentleg
    tenke tenkjer synes syns hvis viss litt heile hele fikk fekk ting kommer kjem""".split()
)
WORD = re.compile(r"[a-zæøåéü]+")


def stems(text: str) -> set[str]:
    """Crude stems (first STEM letters) of the content words of 5+ letters in ``text``."""
    return {w[:STEM] for w in WORD.findall(text.lower()) if len(w) >= 5 and w not in STOP}


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def check(study: Path) -> int:
    cb = yaml.safe_load((study / "codebook.yaml").read_text(encoding="utf-8"))
    codes = [s["id"] for c in cb["categories"] for s in c["subcategories"]]
    train, test = load(study / "train.jsonl"), load(study / "test.jsonl")
    rows = train + test
    assert all(r["code_id"] in codes for r in rows), f"{study.name}: unknown code_id"
    assert len({r["id"] for r in rows}) == len(rows), f"{study.name}: repeated id"
    assert len({r["text"] for r in rows}) == len(rows), f"{study.name}: repeated text"
    ntr, nte = Counter(r["code_id"] for r in train), Counter(r["code_id"] for r in test)
    lens = [len(r["text"].split()) for r in rows]
    nn = sum(r["language"] == "nn" for r in rows) / len(rows)
    spoken = sum(r["register"] == "spoken" for r in rows) / len(rows)
    per_code = " ".join(f"{c.split('.', 1)[1]}={ntr[c]}/{nte[c]}" for c in codes)
    print(
        f"| {study.name} | {len(codes)} | {per_code} | {len(train)}/{len(test)} | "
        f"{nn:.0%} | {spoken:.0%} | {min(lens)}–{max(lens)} |"
    )
    freq = {c: Counter() for c in codes}
    for r in train:
        freq[r["code_id"]].update(stems(r["text"]))
    hits = 0
    for r in test:
        shared = sorted(s for s in stems(r["text"]) if freq[r["code_id"]][s] >= MIN_TRAIN)
        if shared:
            hits += 1
            print(f"    overlap {r['id']} ({r['code_id']}): {', '.join(shared)}")
    return hits


def main(argv: list[str]) -> None:
    studies = [ROOT / a for a in argv] or sorted(p for p in ROOT.iterdir() if (p / "codebook.yaml").exists())
    print("| study | codes | train/test per code | train/test | nn | spoken | words |")
    print("|---|---|---|---|---|---|---|")
    total = sum(check(s) for s in studies)
    print(f"test statements with a frequent own-code training word: {total}")


if __name__ == "__main__":
    main(sys.argv[1:])
