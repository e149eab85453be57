#!/usr/bin/env python3
"""Helper for the hand-coded ``thesis_mrs`` corpus: find quote candidates in the seed thesis
and regenerate the count tables of ``DATASHEET.md``.

The corpus itself (``segments.jsonl``) is hand-coded; this script only makes the extraction
reproducible and checkable. It reads the seed thesis (plain-text PDF extraction, every printed
line followed by a blank line, page numbers on lines of their own) and offers five commands::

    python corpora/thesis_mrs/extract_quotes.py candidates [--start 2433 --end 4068]
        every span between a quotation mark that opens and the next one that closes, with the
        1-based seed line numbers of both marks and anomalies (unclosed quote, stray closing
        mark, wrong-direction closing mark);
    python corpora/thesis_mrs/extract_quotes.py marks
        the independent second pass: raw counts of each kind of quotation mark per chapter-5
        section (a Markdown table);
    python corpora/thesis_mrs/extract_quotes.py check
        compares the candidates of chapter 5 with ``segments.jsonl`` and the exclusion list below:
        every candidate must be a record or an excluded non-informant quote, and vice versa;
    python corpora/thesis_mrs/extract_quotes.py tables
        the count tables (per category, subcategory, role, sentiment) generated from
        ``segments.jsonl``, in the format ``DATASHEET.md`` uses;
    python corpora/thesis_mrs/extract_quotes.py chapter6
        every quote span of chapter 6 with the most similar record (difflib ratio), to find
        quotes that chapter 6 adds.

The seed is found via the environment variable ``NOKODING_SEED`` or at
``../shared/seed/thesis.txt`` relative to the repository root. Source: Mål- og resultatstyring
i NAV (MBA thesis, Nord universitet, 2022), chapter 5.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SEGMENTS = HERE / "segments.jsonl"

#: Chapter 5 ("5.0 Empiri" up to the line before "6.0 Analyse"), 1-based and inclusive.
CHAPTER5 = (2433, 4068)
#: Chapter 6 ("6.0 Analyse" up to the line before "7.0 Konklusjon").
CHAPTER6 = (4069, 5223)

OPENERS = "“«\""
CLOSERS = "”»\""
QUOTE_CHARS = "“”«»\"„"
ASCII_Q = '"'

#: Quote-mark spans in chapter 5 that are not informants' speech (seed line of the opening mark).
EXCLUDED = {
    3017: "literature: Burns (1978) definition of leadership",
    3883: "literature: Store norske leksikon definition of 'regel'",
    3906: "cross-reference to the subsection title “innsikt i arbeidshverdagen”",
    3922: "literature: Wikipedia definition of 'handlingsrom'",
}

#: Page artefacts: a page number alone on a line, or a footnote URL.
_ARTEFACT = re.compile(r"^\s*(\d{1,3}|https?://\S+)\s*$")


def seed_path() -> Path:
    """Return the seed thesis path (``$NOKODING_SEED`` or ``<repo>/../shared/seed/thesis.txt``)."""
    env = os.environ.get("NOKODING_SEED")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "seed" / "thesis.txt")


def load_lines(path: Path | None = None) -> list[str]:
    """Read the seed thesis as a list of lines (index 0 = seed line 1). Raises FileNotFoundError."""
    return (path or seed_path()).read_text(encoding="utf-8").split("\n")


def is_artefact(line: str) -> bool:
    """True for a page-number line or a footnote-URL line (not part of running text)."""
    return bool(_ARTEFACT.match(line))


def stream(lines: list[str], start: int, end: int) -> tuple[str, list[int]]:
    """Join seed lines ``start..end`` (1-based, inclusive) into running text.

    Blank lines and page artefacts are dropped, whitespace runs collapse to one space.
    Returns the text and, for every character, the 1-based seed line it comes from.
    """
    out: list[str] = []
    where: list[int] = []
    for no in range(start, end + 1):
        line = lines[no - 1]
        if not line.strip() or is_artefact(line):
            continue
        words = line.split()
        piece = " ".join(words)
        if out:
            out.append(" ")
            where.append(no)
        out.append(piece)
        where.extend([no] * len(piece))
    return "".join(out), where


def normalise(text: str) -> str:
    """Whitespace-normalised text without quotation marks (the form the tests compare)."""
    return " ".join("".join(ch for ch in text if ch not in QUOTE_CHARS).split())


@dataclass
class Candidate:
    """One quote-mark span: opening/closing seed lines, marks, inner text and anomaly flags."""

    open_line: int
    close_line: int | None
    open_mark: str
    close_mark: str | None
    text: str
    flags: list[str] = field(default_factory=list)


def _closes(text: str, i: int) -> bool:
    """Decide whether a '“' at ``text[i]`` inside an open quote is a wrong-direction closing mark.

    It closes when followed (after optional space) by '.', ',', ';', ':' that is not the start of
    an ellipsis, or by the end of the text.
    """
    rest = text[i + 1 :].lstrip(" ")
    if not rest:
        return True
    return rest[0] in ".,;:" and not rest.startswith("..")


def find_quotes(lines: list[str], start: int, end: int) -> list[Candidate]:
    """Find quote spans in seed lines ``start..end`` with a small state machine.

    Openers: “ « ". Closers: ” » " and a '“' that looks like a closing mark (see ``_closes``).
    A new opener inside an open quote closes nothing; the open quote is reported as unclosed
    (flag ``unclosed``) and the new one starts. A closer outside a quote is reported as a
    candidate with flag ``stray-close`` (text = the sentence before it).
    """
    text, where = stream(lines, start, end)
    found: list[Candidate] = []
    open_at: int | None = None
    for i, ch in enumerate(text):
        if open_at is None:
            if ch in OPENERS:
                open_at = i
            elif ch in "”»":
                sentence_start = max(text.rfind(". ", 0, i), text.rfind("”", 0, i)) + 1
                found.append(
                    Candidate(where[sentence_start], where[i], "", ch,
                              text[sentence_start:i].strip(), ["stray-close"])
                )
            continue
        opener = text[open_at]
        is_close = ch in "”»" or (ch == '"' and opener == '"') or (ch == "“" and _closes(text, i))
        if is_close:
            flags = ["wrong-direction-close"] if ch == "“" else []
            found.append(Candidate(where[open_at], where[i], opener, ch,
                                   text[open_at + 1 : i].strip(), flags))
            open_at = None
        elif ch in "“«":
            found.append(Candidate(where[open_at], None, opener, None,
                                   text[open_at + 1 : i].strip(), ["unclosed"]))
            open_at = i
    if open_at is not None:
        found.append(Candidate(where[open_at], None, text[open_at], None,
                               text[open_at + 1 :].strip(), ["unclosed"]))
    return found


def chapter5_sections(codebook: Path = HERE / "codebook.yaml") -> list[tuple[str, int, int]]:
    """Return (label, first line, last line) covering chapter 5 without gaps, in thesis order.

    Category introductions and subcategories take their line ranges from ``codebook.yaml``;
    the stretches between them (5.0, the category summaries 5.x.n Oppsummering) are labelled
    ``other``. Requires PyYAML.
    """
    import yaml

    data = yaml.safe_load(codebook.read_text(encoding="utf-8"))
    spans: list[tuple[str, int, int]] = []
    for cat in data["categories"]:
        spans.append((cat["section"], *cat["lines"]))
        spans.extend((sub["section"], *sub["lines"]) for sub in cat["subcategories"])
    out: list[tuple[str, int, int]] = []
    pos = CHAPTER5[0]
    for label, a, b in spans:
        if a > pos:
            out.append(("other", pos, a - 1))
        out.append((label, a, b))
        pos = b + 1
    if pos <= CHAPTER5[1]:
        out.append(("other", pos, CHAPTER5[1]))
    return out


def load_segments(path: Path = SEGMENTS) -> list[dict]:
    """Read ``segments.jsonl`` (one JSON object per line)."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _cmd_candidates(args: argparse.Namespace) -> int:
    lines = load_lines()
    for c in find_quotes(lines, args.start, args.end):
        flag = f"  [{', '.join(c.flags)}]" if c.flags else ""
        print(f"{c.open_line}-{c.close_line} {c.open_mark}…{c.close_mark}{flag}\n    {c.text}")
    return 0


def _cmd_marks(_: argparse.Namespace) -> int:
    lines = load_lines()
    segs = load_segments()
    by_section = collections.Counter(s["section"] for s in segs)
    print("| section | “ | ” | « | » | \" | opening marks (“ « \") | records |")
    print("|---|---|---|---|---|---|---|---|")
    tot = collections.Counter()
    for sec, a, b in chapter5_sections():
        chunk = "\n".join(lines[a - 1 : b])
        cnt = {m: chunk.count(m) for m in "“”«»\""}
        opening = cnt["“"] + cnt["«"] + cnt['"']
        tot.update(cnt)
        tot["opening"] += opening
        tot["records"] += by_section.get(sec, 0)
        if opening or by_section.get(sec) or sec != "other":
            print(f"| {sec} ({a}–{b}) | {cnt['“']} | {cnt['”']} | {cnt['«']} | {cnt['»']} | "
                  f"{cnt[ASCII_Q]} | {opening} | {by_section.get(sec, 0)} |")
    print(f"| total | {tot['“']} | {tot['”']} | {tot['«']} | {tot['»']} | {tot[ASCII_Q]} | "
          f"{tot['opening']} | {tot['records']} |")
    return 0


def _cmd_check(_: argparse.Namespace) -> int:
    lines = load_lines()
    segs = load_segments()
    cands = find_quotes(lines, *CHAPTER5)
    rec_norm = [normalise(s["text"]) for s in segs]
    used: set[int] = set()
    problems = 0
    for c in cands:
        if c.open_line in EXCLUDED and "stray-close" not in c.flags:
            print(f"excluded {c.open_line}: {EXCLUDED[c.open_line]}")
            continue
        n = normalise(c.text)
        hits = [k for k, r in enumerate(rec_norm) if n and (n in r or r in n)
                and segs[k]["line_start"] <= (c.close_line or c.open_line)
                and segs[k]["line_end"] >= c.open_line]
        if hits:
            used.update(hits)
            if c.flags:
                print(f"note {c.open_line}: {c.flags} -> {[segs[k]['id'] for k in hits]}")
        else:
            problems += 1
            print(f"UNMATCHED candidate {c.open_line}-{c.close_line} {c.flags}: {c.text[:70]}")
    for k, s in enumerate(segs):
        if k not in used:
            problems += 1
            print(f"RECORD WITHOUT CANDIDATE {s['id']} ({s['line_start']}): {s['text'][:70]}")
    print(f"{len(cands)} candidates, {len(segs)} records, {problems} problems")
    return 1 if problems else 0


def _cmd_chapter6(_: argparse.Namespace) -> int:
    import difflib

    lines = load_lines()
    segs = load_segments()
    rec_norm = [normalise(s["text"]).lower() for s in segs]
    for c in find_quotes(lines, *CHAPTER6):
        n = normalise(c.text).lower()
        best = max(range(len(segs)),
                   key=lambda k: difflib.SequenceMatcher(None, n, rec_norm[k], autojunk=False).ratio())
        ratio = difflib.SequenceMatcher(None, n, rec_norm[best], autojunk=False).ratio()
        contained = bool(n) and (n in rec_norm[best] or rec_norm[best] in n)
        print(f"{c.open_line}-{c.close_line} best={segs[best]['id']} ratio={ratio:.2f}"
              f"{' contained' if contained else ''}{' ' + str(c.flags) if c.flags else ''}: {c.text[:60]}")
    return 0


def count_tables(segs: list[dict]) -> dict[str, list[tuple[str, ...]]]:
    """Rows of the four DATASHEET count tables, in codebook order where there is one."""
    def ordered(key) -> list[tuple[str, ...]]:
        seen: dict[tuple[str, ...], int] = {}
        for s in segs:
            k = key(s)
            seen[k] = seen.get(k, 0) + 1
        return [(*k, str(v)) for k, v in seen.items()]

    role_order = ["leder", "toppleder", "medarbeider", "unknown"]
    sent_order = ["negative", "neutral", "positive", "mixed"]
    roles = collections.Counter(s["role"] for s in segs)
    sents = collections.Counter(s["sentiment"] for s in segs)
    return {
        "category": ordered(lambda s: (s["category"],)),
        "subcategory": ordered(lambda s: (s["category"], s["subcategory"])),
        "role": [(r, str(roles[r])) for r in role_order if roles[r]],
        "sentiment": [(r, str(sents[r])) for r in sent_order],
    }


def _cmd_tables(_: argparse.Namespace) -> int:
    segs = load_segments()
    t = count_tables(segs)
    heads = {
        "category": ("Counts per category", "| label | records |"),
        "subcategory": ("Counts per subcategory", "| category | subcategory | records |"),
        "role": ("Counts per role", "| label | records |"),
        "sentiment": ("Counts per sentiment", "| label | records |"),
    }
    for key, (title, header) in heads.items():
        print(f"## {title}\n\n{header}\n|{'---|' * header.count(' | ')}---|")
        for row in t[key]:
            print("| " + " | ".join(row) + " |")
        print(f"| total |{' |' * (header.count(' | ') - 1)} {len(segs)} |\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("candidates", help="list quote-mark spans with seed line numbers")
    c.add_argument("--start", type=int, default=CHAPTER5[0])
    c.add_argument("--end", type=int, default=CHAPTER5[1])
    sub.add_parser("marks", help="raw quotation-mark counts per chapter-5 section")
    sub.add_parser("check", help="candidates of chapter 5 vs segments.jsonl")
    sub.add_parser("tables", help="DATASHEET count tables from segments.jsonl")
    sub.add_parser("chapter6", help="chapter-6 quote spans matched against the records")
    args = p.parse_args(argv)
    return {"candidates": _cmd_candidates, "marks": _cmd_marks,
            "check": _cmd_check, "tables": _cmd_tables, "chapter6": _cmd_chapter6}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
