"""Checks of the hand-coded reference corpus ``corpora/thesis_mrs``.

The corpus is the ground truth other parts of nokoding are measured against, so these tests
check it against its source, the seed thesis (chapter 5 of "Mål- og resultatstyring i NAV",
MBA thesis, Nord universitet, 2022), and against its own codebook and datasheet. They read
the files with plain json/yaml and do not import nokoding.

The seed is found via the environment variable NOKODING_SEED or at ../shared/seed/thesis.txt
relative to the repository root; tests that need it are skipped when it is absent.
"""

from __future__ import annotations

import collections
import difflib
import json
import os
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpora" / "thesis_mrs"
SEGMENTS = CORPUS / "segments.jsonl"
CODEBOOK = CORPUS / "codebook.yaml"
DATASHEET = CORPUS / "DATASHEET.md"

FIELDS = {
    "id", "text", "category", "subcategory", "code_id", "section", "line_start", "line_end",
    "speaker", "role", "gender", "group", "sentiment", "sentiment_confidence", "sentiment_note",
}
ROLES = {"leder", "medarbeider", "toppleder", "unknown"}
GENDERS = {"kvinne", "mann", None}
SENTIMENTS = {"negative", "neutral", "positive", "mixed"}
CONFIDENCES = {"high", "medium", "low"}
QUOTE_CHARS = "“”«»\"„"
ARTEFACT = re.compile(r"^\s*(\d{1,3}|https?://\S+)\s*$")  # page number or footnote URL line
NEAR = 0.8  # difflib ratio from which two quotes count as near-identical


# ---------------------------------------------------------------- helpers


def seed_path() -> Path:
    env = os.environ.get("NOKODING_SEED")
    return Path(env) if env else REPO.parent / "shared" / "seed" / "thesis.txt"


def norm(text: str) -> str:
    """Whitespace-normalised text without quotation marks."""
    return " ".join("".join(ch for ch in text if ch not in QUOTE_CHARS).split())


def joined(lines: list[str], start: int, end: int) -> str:
    """Seed lines start..end (1-based, inclusive) as running text, page artefacts removed."""
    kept = [ln for ln in lines[start - 1 : end] if ln.strip() and not ARTEFACT.match(ln)]
    return norm(" ".join(kept))


def similar(a: str, b: str) -> bool:
    """Near-identical quotes: difflib ratio >= NEAR, or one is an excerpt of the other."""
    a, b = norm(a).lower(), norm(b).lower()
    if a in b or b in a:
        return True
    m = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return m.real_quick_ratio() >= NEAR and m.quick_ratio() >= NEAR and m.ratio() >= NEAR


def markdown_table(md: str, heading: str) -> list[list[str]]:
    """Body rows (cells stripped) of the first Markdown table under ``## heading``."""
    lines = md.split("\n")
    try:
        k = next(i for i, ln in enumerate(lines) if ln.strip() == f"## {heading}")
    except StopIteration:
        raise AssertionError(f"DATASHEET.md has no heading '## {heading}'") from None
    rows: list[list[str]] = []
    started = False
    for ln in lines[k + 1 :]:
        if ln.startswith("#"):
            break
        if ln.strip().startswith("|"):
            started = True
            rows.append([c.strip() for c in ln.strip().strip("|").split("|")])
        elif started:
            break
    assert len(rows) >= 2, f"no table under '## {heading}'"
    return [r for r in rows[2:]]  # drop header and separator


def first_line_number(cell: str) -> int:
    m = re.match(r"\s*(\d+)", cell)
    assert m, f"no line number in cell {cell!r}"
    return int(m.group(1))


def line_span(cell: str) -> tuple[int, int]:
    nums = [int(n) for n in re.findall(r"\d+", cell)]
    return nums[0], nums[-1]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def records() -> list[dict]:
    with SEGMENTS.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def codebook() -> dict:
    return yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def codes(codebook) -> dict[str, dict]:
    out = {}
    for cat in codebook["categories"]:
        for sub in cat["subcategories"]:
            out[sub["id"]] = {"category": cat["name"], "subcategory": sub["name"],
                              "section": sub["section"], "lines": sub["lines"]}
    return out


@pytest.fixture(scope="module")
def seed() -> list[str]:
    path = seed_path()
    if not path.is_file():
        pytest.skip(f"seed thesis not found at {path}; set NOKODING_SEED to its path")
    return path.read_text(encoding="utf-8").split("\n")


@pytest.fixture(scope="module")
def chapters(seed) -> dict[str, tuple[int, int]]:
    """1-based line ranges of chapters 5 and 6, found by their headings."""
    def head(pattern: str) -> int:
        hits = [i + 1 for i, ln in enumerate(seed) if re.match(pattern, ln.strip())]
        assert len(hits) == 1, f"heading {pattern!r} found {len(hits)} times"
        return hits[0]
    c5, c6, c7 = head(r"5\.0 Empiri$"), head(r"6\.0 Analyse$"), head(r"7\.0 Konklusjon$")
    return {"5": (c5, c6 - 1), "6": (c6, c7 - 1)}


@pytest.fixture(scope="module")
def datasheet() -> str:
    return DATASHEET.read_text(encoding="utf-8")


# ---------------------------------------------------------------- codebook


def slug(name: str) -> str:
    return name.lower().replace("å", "a").replace("ø", "o").replace("æ", "ae").replace(" ", "_")


def test_codebook_has_5_categories_and_22_codes_with_stable_ids(codebook):
    cats = codebook["categories"]
    assert [c["id"] for c in cats] == ["mrs", "ledelse", "kompetanse", "brukermedvirkning", "politikk"]
    assert set(codebook["sentiment_labels"]) == SENTIMENTS
    subs = [(c, s) for c in cats for s in c["subcategories"]]
    assert len(subs) == 22
    ids = [s["id"] for _, s in subs]
    assert len(set(ids)) == 22
    for cat, sub in subs:
        assert sub["id"] == f"{cat['id']}.{slug(sub['name'])}"
        assert sub["id"].isascii()
        assert sub["section"].startswith(cat["section"] + ".")
    for node in cats + [s for _, s in subs]:
        assert len(node["description"].split()) >= 10, node["id"]


def test_codebook_is_in_thesis_order_without_overlap(codebook):
    spans = []
    for cat in codebook["categories"]:
        spans.append(cat["lines"])
        spans.extend(s["lines"] for s in cat["subcategories"])
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert a0 <= a1 < b0 <= b1


def test_codebook_line_ranges_run_from_heading_to_next_heading(codebook, seed):
    nodes = [(c, c["name"]) for c in codebook["categories"]]
    nodes += [(s, s["name"]) for c in codebook["categories"] for s in c["subcategories"]]
    for node, name in nodes:
        start, end = node["lines"]
        heading = seed[start - 1].strip()
        assert heading.startswith(node["section"] + " ") and name in heading, (node["id"], heading)
        nxt = seed[end].strip()  # the line after the range is the next numbered heading
        assert re.match(r"[5-6]\.\d", nxt), (node["id"], nxt)


# ---------------------------------------------------------------- records


def test_records_have_exactly_the_schema_fields_and_valid_values(records):
    assert records, "segments.jsonl is empty"
    for r in records:
        assert set(r) == FIELDS, r.get("id")
        assert isinstance(r["text"], str) and r["text"].strip()
        assert isinstance(r["line_start"], int) and isinstance(r["line_end"], int)
        assert r["line_start"] <= r["line_end"]
        assert r["role"] in ROLES, r["id"]
        assert r["gender"] in GENDERS, r["id"]
        assert r["sentiment"] in SENTIMENTS, r["id"]
        assert r["sentiment_confidence"] in CONFIDENCES, r["id"]
        assert r["speaker"] is None or (isinstance(r["speaker"], str) and r["speaker"])
        assert re.fullmatch(r"g\d{3}", r["group"]), r["id"]
        if r["sentiment_confidence"] == "high":
            assert r["sentiment_note"] is None, r["id"]
        else:
            assert isinstance(r["sentiment_note"], str) and r["sentiment_note"].strip(), r["id"]


def test_ids_are_unique_and_follow_thesis_order(records):
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids)
    assert ids == [f"thesis_mrs-{k:03d}" for k in range(1, len(ids) + 1)]
    starts = [r["line_start"] for r in records]
    assert starts == sorted(starts)


def test_text_is_clean_single_spaced_and_unquoted(records):
    for r in records:
        t = r["text"]
        assert t == " ".join(t.split()), r["id"]
        assert t[0] not in QUOTE_CHARS and t[-1] not in QUOTE_CHARS, r["id"]
        assert not ARTEFACT.match(t), r["id"]


def test_every_record_code_exists_in_the_codebook(records, codes):
    for r in records:
        code = codes.get(r["code_id"])
        assert code is not None, (r["id"], r["code_id"])
        assert (r["category"], r["subcategory"], r["section"]) == (
            code["category"], code["subcategory"], code["section"]), r["id"]


def test_every_code_has_at_least_one_record(records, codes):
    assert set(codes) == {r["code_id"] for r in records}


def test_text_occurs_in_seed_at_its_lines_inside_its_section(records, codes, seed):
    for r in records:
        a, b = r["line_start"], r["line_end"]
        lo, hi = codes[r["code_id"]]["lines"]
        assert lo <= a <= b <= hi, f"{r['id']} lines {a}-{b} outside section {lo}-{hi}"
        text = norm(r["text"])
        assert text in joined(seed, a, b), f"{r['id']} not found at seed lines {a}-{b}"
        if a < b:  # the range is tight: the first and the last line are both needed
            assert text not in joined(seed, a + 1, b), f"{r['id']} line_start too early"
            assert text not in joined(seed, a, b - 1), f"{r['id']} line_end too late"


def test_groups_join_near_identical_quotes_under_different_codes(records):
    groups = collections.defaultdict(list)
    for r in records:
        groups[r["group"]].append(r)
    for gid, members in groups.items():
        if len(members) > 1:
            assert len({m["code_id"] for m in members}) == len(members), gid
            for x in members[1:]:
                assert similar(members[0]["text"], x["text"]), (gid, x["id"])


def test_no_near_duplicates_across_groups(records):
    for i, x in enumerate(records):
        for y in records[i + 1 :]:
            if x["group"] != y["group"] and min(len(x["text"]), len(y["text"])) >= 20:
                assert not similar(x["text"], y["text"]), (x["id"], y["id"])


def test_every_quote_mark_in_chapter5_is_a_record_or_a_documented_exclusion(
        records, seed, chapters, datasheet):
    covered = [(r["line_start"], r["line_end"]) for r in records]
    covered += [line_span(row[0]) for row in markdown_table(datasheet, "Quotation marks not in the corpus")]
    start, end = chapters["5"]
    missing = [no for no in range(start, end + 1)
               if any(q in seed[no - 1] for q in QUOTE_CHARS)
               and not any(a <= no <= b for a, b in covered)]
    assert not missing, f"chapter-5 lines with quotation marks but no record: {missing}"


def test_chapter6_quotes_are_in_the_corpus_or_listed_in_the_datasheet(records, seed, chapters, datasheet):
    listed = {first_line_number(row[0]) for row in markdown_table(datasheet, "Chapter 6 re-quotes")}
    start, end = chapters["6"]
    kept = [(no, ln) for no, ln in enumerate(seed[start - 1 : end], start)
            if ln.strip() and not ARTEFACT.match(ln)]
    text = " ".join(" ".join(ln.split()) for _, ln in kept)
    where: list[int] = []
    for k, (no, ln) in enumerate(kept):
        where.extend([no] * (len(" ".join(ln.split())) + (1 if k else 0)))
    for m in re.finditer(r"[“«\"]([^“”«»\"]{40,}?)[”»\"]", text):
        quote = m.group(1)
        if any(similar(quote, r["text"]) for r in records):
            continue
        assert where[m.start()] in listed, f"chapter-6 quote at line {where[m.start()]} not documented"


# ---------------------------------------------------------------- datasheet


@pytest.mark.parametrize("heading,key", [
    ("Counts per category", lambda r: (r["category"],)),
    ("Counts per subcategory", lambda r: (r["category"], r["subcategory"])),
    ("Counts per role", lambda r: (r["role"],)),
    ("Counts per sentiment", lambda r: (r["sentiment"],)),
])
def test_datasheet_count_tables_equal_the_file(records, datasheet, heading, key):
    rows = markdown_table(datasheet, heading)
    table: dict[tuple[str, ...], int] = {}
    for row in rows:
        *labels, n = row
        if labels[0].lower() == "total":
            assert int(n) == len(records), heading
            continue
        table[tuple(labels)] = int(n)
    actual = collections.Counter(key(r) for r in records)
    expected = {k: v for k, v in table.items() if v}  # a listed label with 0 records is allowed
    assert expected == dict(actual), heading
