"""Codebooks of any depth, and flat code lists, as nokoding's two levels (category → code).

nokoding's model has a category head and a code head, so every codebook becomes exactly two
levels. The rules are the same as the REFI-QDA importer's
(:func:`nokoding.export._refi.codebook_from_codes`), so a codebook brought as a ``.qdc``, a
``.qdpx``, a YAML tree or inferred from a CSV file gives the same categories and codes:

* **Hierarchy of any depth.** A top-level code that has children is a *category*. Every
  codable code below it is a *code* of that category; a code deeper than the second level
  keeps its path below the category, joined with ``" / "``, as its subcategory name
  (``Styring → Tid → Ventetid`` becomes category ``Styring``, code ``Tid / Ventetid``).
  Intermediate codes are codable too (``Tid`` is its own code beside ``Tid / Ventetid``),
  unless a tree marks them ``codable: false``. The category itself is not a code: a
  segment coded only with the top-level code has no code for the code head to learn
  (importers report it as ``coded-on-category``).
* **Flat list.** Top-level codes without children all go into **one** category,
  :data:`FLAT_CATEGORY` (``"Uncategorised"``). One category per code was rejected: the
  category head would merely repeat the code head. With one category the category head is
  trivial and all learning happens in the code head, which is what a flat codebook means.
* **Order and ids.** Categories and codes keep the order of first appearance (in the file,
  or in the data for an inferred codebook); codes are grouped under their category. Ids are
  slugs of the names (``"Mål og tid"`` → ``"mal_og_tid"``; code ids
  ``"<category id>.<subcategory slug>"``), made unique with ``_2``, ``_3`` ….

Code *references* in data (a CSV ``code`` cell) are resolved by :class:`CodeResolver`:
a code id, a subcategory name (if it is unique in the codebook), or a path
``"Category/Subcategory"`` or ``"Category > Subcategory"`` (deeper paths
``"Category > Mid > Leaf"`` name the code ``"Mid / Leaf"``). Matching ignores case, Unicode
normalisation form and extra spaces.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nokoding.codebook import (
    DEFAULT_SENTIMENT_LABELS,
    Category,
    Code,
    Codebook,
    CodebookError,
)
from nokoding.coded.base import nfc
from nokoding.export._refi import DEFAULT_FLAT_CATEGORY, slugify, unique_id

__all__ = [
    "FLAT_CATEGORY",
    "CodeResolver",
    "UnknownCodeError",
    "codebook_from_paths",
    "codebook_from_tree",
    "load_codebook_file",
    "split_code_path",
    "with_reference_ids",
]

#: The one category that collects the codes of a flat code list (shared with the REFI-QDA importer).
FLAT_CATEGORY: str = DEFAULT_FLAT_CATEGORY

#: Separators of a code path in a data cell: ``>`` if present, else ``/``.
_SEP_RE = re.compile(r"\s*[/>]\s*")


class UnknownCodeError(KeyError):
    """A code reference matches no code of the codebook, or more than one.

    ``rule`` is ``"unknown-code"``, ``"ambiguous-code"`` or ``"coded-on-category"``;
    ``str(err)`` is the message (what was given, and what to write instead).
    """

    def __init__(self, message: str, rule: str = "unknown-code") -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule

    def __str__(self) -> str:
        return self.message


def split_code_path(value: str) -> tuple[str, ...]:
    """Split a code reference into its path of names.

    ``"Styring > Tid > Ventetid"`` → ``("Styring", "Tid", "Ventetid")``. If the text has
    ``" > "`` (with spaces, as Taguette tags written by nokoding), only that separates, so
    names may hold ``>`` and ``/`` (``"Mål <2025> > Tid"``); else a bare ``>`` does (names
    may contain ``/``); else ``/``. Parts are stripped and NFC-normalised; empty parts are
    dropped.
    """
    value = nfc(value).strip()
    if " > " in value:
        parts = value.split(" > ")
    else:
        parts = value.split(">") if ">" in value else value.split("/")
    return tuple(p.strip() for p in parts if p.strip())


def _key(name: str) -> str:
    """Matching key: NFC, case-folded, whitespace collapsed, path separators unified."""
    parts = _SEP_RE.split(nfc(name).strip())
    return "/".join(" ".join(p.split()).casefold() for p in parts if p.strip())


@dataclass(frozen=True)
class _Entry:
    path: tuple[str, ...]
    description: str = ""
    codable: bool = True


def _build(
    entries: Sequence[_Entry],
    *,
    name: str,
    origin: str,
    category_descriptions: Mapping[str, str] | None = None,
    sentiment_labels: Sequence[str] = DEFAULT_SENTIMENT_LABELS,
    title: str = "",
    source: str = "",
) -> tuple[Codebook, dict[tuple[str, ...], str]]:
    """Apply the module's two-level rules to a list of code paths (see the module docstring)."""
    category_descriptions = dict(category_descriptions or {})
    parents = {e.path[0] for e in entries if len(e.path) >= 2}
    groups: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for e in entries:
        if not e.path:
            continue
        if len(e.path) == 1:
            if e.path[0] in parents:
                groups.setdefault(e.path[0], [])
                if e.description:
                    category_descriptions.setdefault(e.path[0], e.description)
                continue
            if e.codable:
                groups.setdefault(FLAT_CATEGORY, []).append((e.path[0], e.description, e.path))
            continue
        groups.setdefault(e.path[0], [])
        if e.codable:
            groups[e.path[0]].append((" / ".join(e.path[1:]), e.description, e.path))
    categories: list[Category] = []
    codes: list[Code] = []
    mapping: dict[tuple[str, ...], str] = {}
    cat_taken: set[str] = set()
    code_taken: set[str] = set()
    for cat_name, subs in groups.items():
        cat_id = unique_id(slugify(cat_name), cat_taken)
        categories.append(Category(cat_id, cat_name, category_descriptions.get(cat_name, "")))
        seen: dict[str, str] = {}
        for sub_name, desc, path in subs:
            if sub_name in seen:
                mapping[path] = seen[sub_name]
                continue
            code_id = unique_id(f"{cat_id}.{slugify(sub_name)}", code_taken)
            seen[sub_name] = code_id
            codes.append(Code(code_id, cat_name, sub_name, cat_id, desc))
            mapping[path] = code_id
    if not codes:
        raise CodebookError(f"{origin}: no codable codes")
    try:
        cb = Codebook(name=name, categories=tuple(categories), codes=tuple(codes),
                      sentiment_labels=tuple(sentiment_labels), title=title, source=source)
    except CodebookError as err:
        raise CodebookError(f"{origin}: {err}") from None
    return cb, mapping


def codebook_from_paths(
    paths: Iterable[Sequence[str]],
    *,
    name: str = "inferred",
    origin: str = "<data>",
    sentiment_labels: Sequence[str] = DEFAULT_SENTIMENT_LABELS,
    source: str = "",
) -> tuple[Codebook, dict[tuple[str, ...], str]]:
    """Infer a codebook from the code paths used in coded data.

    Args:
        paths: code paths in order of first use, e.g. ``[("Styring", "Tid"), ("Tillit",)]``
            (see :func:`split_code_path`); repeats are fine.
        name: the codebook name.
        origin: the data file, for messages.
        sentiment_labels: the sentiment label set of the codebook.
        source: free text stored in :attr:`Codebook.source`.

    Returns:
        ``(codebook, mapping)`` where ``mapping`` sends every path that names a code to its
        code id. A one-element path naming a category of other paths (``("Styring",)`` beside
        ``("Styring", "Tid")``) is not a code and has no entry.

    Raises:
        CodebookError: if no path names a code.
    """
    seen: dict[tuple[str, ...], None] = {}
    for p in paths:
        seen.setdefault(tuple(nfc(x).strip() for x in p), None)
    return _build([_Entry(p) for p in seen], name=name, origin=origin,
                  sentiment_labels=sentiment_labels, source=source)


_CHILD_KEYS = ("codes", "children", "subcategories")


def _tree_entries(nodes: Any, prefix: tuple[str, ...], origin: str, out: list[_Entry]) -> None:
    if nodes is None:
        return
    if isinstance(nodes, Mapping) and not any(k in nodes for k in ("name", *_CHILD_KEYS)):
        # {"Styring": ["Tid", "Måling"], "Tillit": null} — names as keys
        nodes = [{"name": k, "codes": v} for k, v in nodes.items()]
    if not isinstance(nodes, list):
        raise CodebookError(f"{origin}: expected a list of codes under {' > '.join(prefix) or 'the top'}")
    for i, node in enumerate(nodes):
        where = f"{origin}: {' > '.join(prefix) or 'top level'}, entry {i + 1}"
        if isinstance(node, (str, int, float)):
            out.append(_Entry((*prefix, nfc(str(node)).strip())))
            continue
        if not isinstance(node, Mapping):
            raise CodebookError(f"{where}: a code is a name or a mapping with 'name'")
        if "name" not in node and len(node) == 1:
            ((k, v),) = node.items()
            node = {"name": k, "codes": v}
        if not str(node.get("name") or "").strip():
            raise CodebookError(f"{where}: a code needs a 'name'")
        path = (*prefix, nfc(str(node["name"])).strip())
        codable = node.get("codable", node.get("isCodable", True))
        out.append(_Entry(path, str(node.get("description") or "").strip(), bool(codable)))
        children = next((node[k] for k in _CHILD_KEYS if k in node), None)
        _tree_entries(children, path, origin, out)


def codebook_from_tree(
    data: Any, *, name: str = "codebook", origin: str = "<tree>", source: str = ""
) -> Codebook:
    """A codebook from a tree of codes of any depth, or a flat list of code names.

    Accepted shapes (YAML or JSON-like): a list of code names (flat); a list of mappings
    ``{name, description?, codable?, codes|children|subcategories: [...]}`` nested to any
    depth; names as keys (``{"Styring": ["Tid", "Måling"]}``); or a mapping with top-level
    ``codes`` plus optional ``name``, ``title`` and ``sentiment_labels``. The module's
    two-level rules apply.

    Raises:
        CodebookError: naming ``origin`` and the entry, for a malformed entry or a tree
            without codable codes.
    """
    meta: Mapping[str, Any] = {}
    if isinstance(data, Mapping) and "codes" in data and "name" in data and not isinstance(data["name"], Mapping):
        meta, data = data, data["codes"]
    elif isinstance(data, Mapping) and set(data) == {"codes"}:
        data = data["codes"]
    entries: list[_Entry] = []
    _tree_entries(data, (), origin, entries)
    cb, _ = _build(
        entries,
        name=str(meta.get("name") or name),
        origin=origin,
        sentiment_labels=tuple(meta.get("sentiment_labels") or DEFAULT_SENTIMENT_LABELS),
        title=str(meta.get("title") or ""),
        source=source or str(meta.get("source") or ""),
    )
    return cb


def load_codebook_file(path: str | os.PathLike[str]) -> Codebook:
    """Read a codebook from a file, whatever its shape.

    * ``.qdc`` — a REFI-QDA codebook (QDA-XML 1.0 or ATLAS.ti's ``0:4`` namespace), through
      :func:`nokoding.export.qdc.read_qdc`;
    * ``.yaml``/``.yml``/``.json`` — nokoding's own codebook schema
      (:meth:`Codebook.from_dict`: categories with ids and subcategories) when the file has
      it, otherwise a tree of any depth or a flat list (:func:`codebook_from_tree`);
    * ``.txt`` — one code per line, as a name or path (``Styring > Tid``); ``#`` starts a
      comment;
    * ``.csv`` — a codebook table such as Taguette's codebook export or
      :func:`nokoding.export.taguette.write_taguette_codebook` (:func:`codebook_from_csv`).

    Raises:
        FileNotFoundError: if the file does not exist.
        CodebookError: for an unreadable or malformed codebook (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: codebook file not found")
    suffix = path.suffix.lower()
    stem = slugify(path.stem)
    if suffix == ".qdc":
        from nokoding.export.qdc import read_qdc

        return read_qdc(path)
    if suffix in {".yaml", ".yml", ".json"}:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise CodebookError(f"{path}: cannot read the codebook: {err}") from None
        if isinstance(data, Mapping) and isinstance(data.get("categories"), list) and all(
            isinstance(c, Mapping) and "id" in c for c in data["categories"]
        ):
            return Codebook.from_dict(data, origin=str(path))
        return codebook_from_tree(data, name=stem, origin=str(path), source=f"imported from {path.name}")
    if suffix == ".txt":
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError as err:
            raise CodebookError(f"{path}: not UTF-8 text: {err}") from None
        paths = [split_code_path(line.split("#", 1)[0]) for line in lines]
        entries: list[_Entry] = []
        seen: set[tuple[str, ...]] = set()
        for p in paths:
            for depth in range(1, len(p) + 1):  # parents of a path are codes of the tree too
                sub = p[:depth]
                if sub not in seen:
                    seen.add(sub)
                    entries.append(_Entry(sub))
        return _build(entries, name=stem, origin=str(path), source=f"imported from {path.name}")[0]
    if suffix == ".csv":
        return codebook_from_csv(path)
    raise CodebookError(f"{path}: unknown codebook format {suffix!r} (use .qdc, .yaml, .yml, .json, .txt or .csv)")


#: Header names of the code column of a codebook CSV (Taguette's three, and ``code``).
_CSV_PATH_COLUMNS = ("tag", "name", "path", "code")
_CSV_DESCRIPTION_COLUMNS = ("description", "beskrivelse")


def codebook_from_csv(path: str | os.PathLike[str], *, like: Codebook | None = None) -> Codebook:
    """A codebook from a CSV table with one code per row (Taguette's codebook format).

    The header must have exactly one column named ``tag``, ``name``, ``path`` or ``code``
    (case-insensitive) holding the code path (``"Politikk > Tid"``, ``"Styring/Tid"`` or a
    plain name, see :func:`split_code_path`), and may have a ``description`` column; other
    columns (Taguette's counts) are ignored, and so are empty rows. The module's two-level
    rules apply; a row naming only a category gives that category's description. Encoding
    as :func:`nokoding.coded.csv_jsonl.decode_text`; delimiter ``,``, ``;`` or tab. With
    ``like`` given, codes and categories whose names match ``like``'s keep its ids (see
    :func:`with_reference_ids`), as ``read_qdc(..., like=...)`` does for a ``.qdc``.

    Raises:
        FileNotFoundError: if the file does not exist.
        CodebookError: for a header without (or with several) code columns, a row with an
            empty code, or no code at all (names the file and line).
    """
    import csv
    import io

    from nokoding.coded.base import CodedDataError
    from nokoding.coded.csv_jsonl import decode_text

    path = Path(path)
    try:
        text, _ = decode_text(path.read_bytes(), origin=str(path))
    except CodedDataError as err:
        raise CodebookError(str(err)) from None
    first = text.splitlines()[0] if text else ""
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [nfc(h).strip().casefold() for h in next(reader, [])]
        hits = [i for i, h in enumerate(header) if h in _CSV_PATH_COLUMNS]
        if len(hits) != 1:
            found = ", ".join(repr(h) for h in header) or "nothing"
            raise CodebookError(
                f"{path}:1: the header needs exactly one code column named tag, name, path or code "
                f"(found: {found})")
        col = hits[0]
        desc_col = next((i for i, h in enumerate(header) if h in _CSV_DESCRIPTION_COLUMNS), None)
        entries: list[_Entry] = []
        seen: set[tuple[str, ...]] = set()
        line = reader.line_num + 1
        for row in reader:
            start_line, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            parts = split_code_path(row[col]) if col < len(row) else ()
            if not parts:
                raise CodebookError(f"{path}:{start_line}: the row has no code name")
            if parts in seen:
                continue
            seen.add(parts)
            desc = row[desc_col].strip() if desc_col is not None and desc_col < len(row) else ""
            entries.append(_Entry(parts, nfc(desc)))
    except csv.Error as err:
        raise CodebookError(f"{path}:{reader.line_num}: unreadable CSV ({err})") from None
    book = _build(entries, name=slugify(path.stem), origin=str(path), source=f"imported from {path.name}")[0]
    return with_reference_ids(book, like, origin=str(path)) if like is not None else book


def with_reference_ids(book: Codebook, like: Codebook, *, origin: str = "<codebook>") -> Codebook:
    """``book`` with the ids (and sections, sentiment labels, name) of ``like`` where names match.

    A category named as one of ``like``'s keeps that category's id; a code whose (category,
    subcategory) names match a code of ``like`` keeps that code's id; everything else keeps
    its own id, made unique against the reference ids. Descriptions missing in ``book`` are
    taken from ``like``. Code and category order stay ``book``'s.
    """
    ref_cats = {c.name: c for c in like.categories}
    ref_codes = {c.pair: c for c in like.codes}
    cat_taken = {ref_cats[c.name].id for c in book.categories if c.name in ref_cats}
    code_taken = {ref_codes[c.pair].id for c in book.codes if c.pair in ref_codes}
    cat_ids: dict[str, str] = {}
    categories = []
    for cat in book.categories:
        ref = ref_cats.get(cat.name)
        cat_ids[cat.id] = ref.id if ref else unique_id(cat.id, cat_taken)
        categories.append(Category(cat_ids[cat.id], cat.name, cat.description or (ref.description if ref else ""),
                                   ref.section if ref else cat.section))
    codes = []
    for code in book.codes:
        ref_code = ref_codes.get(code.pair)
        cat_id = cat_ids[code.category_id]
        code_id = ref_code.id if ref_code else unique_id(f"{cat_id}.{code.id.split('.', 1)[-1]}", code_taken)
        codes.append(Code(code_id, code.category, code.subcategory, cat_id,
                          code.description or (ref_code.description if ref_code else ""),
                          ref_code.section if ref_code else code.section))
    try:
        return Codebook(name=like.name, categories=tuple(categories), codes=tuple(codes),
                        sentiment_labels=like.sentiment_labels, title=like.title, source=book.source)
    except CodebookError as err:
        raise CodebookError(f"{origin}: {err}") from None


class CodeResolver:
    """Resolve code references written in data (id, name or path) to codes of a codebook.

    See the module docstring for what is accepted. Build once per codebook; :meth:`resolve`
    is a dictionary lookup.
    """

    def __init__(self, codebook: Codebook) -> None:
        self.codebook = codebook
        self._by_id = {c.id: c for c in codebook}
        self._by_id_fold = {c.id.casefold(): c for c in codebook}
        self._by_path: dict[str, Code] = {}
        self._by_sub: dict[str, list[Code]] = {}
        for c in codebook:
            sub = _key(c.subcategory)
            self._by_path[f"{_key(c.category)}/{sub}"] = c
            self._by_path[f"{c.category_id.casefold()}/{sub}"] = c
            self._by_sub.setdefault(sub, []).append(c)
        self._categories = {_key(c.name): c for c in codebook.categories}
        self._categories.update({c.id.casefold(): c for c in codebook.categories})

    def resolve_pair(self, category: str, subcategory: str) -> Code:
        """The code with these (category, subcategory) names or ids, compared as in :meth:`resolve`.

        Raises:
            UnknownCodeError: if no code has the pair.
        """
        key = f"{_key(category)}/{_key(subcategory)}"
        if key in self._by_path:
            return self._by_path[key]
        raise UnknownCodeError(f"no code {category!r} / {subcategory!r} in codebook {self.codebook.name!r}")

    def resolve(self, value: str) -> Code:
        """The code ``value`` refers to.

        Raises:
            UnknownCodeError: if nothing matches (with close names as suggestions), if a bare
                subcategory name exists under several categories (``ambiguous-code``), or if
                the value names a category rather than a code (``coded-on-category``).
        """
        raw = nfc(str(value)).strip()
        if raw in self._by_id:
            return self._by_id[raw]
        if raw.casefold() in self._by_id_fold:
            return self._by_id_fold[raw.casefold()]
        key = _key(raw)
        hits = self._by_sub.get(key, [])
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            options = ", ".join(f"'{c.category}/{c.subcategory}'" for c in hits)
            raise UnknownCodeError(
                f"code {raw!r} is ambiguous: it is a subcategory of {len(hits)} categories; "
                f"write the path: {options}", "ambiguous-code")
        if key in self._by_path:
            return self._by_path[key]
        if key in self._categories:
            names = ", ".join(c.subcategory for c in self.codebook.codes_in(self._categories[key].id))
            raise UnknownCodeError(
                f"{raw!r} is a category, not a code; code the segment with one of its codes "
                f"({names})", "coded-on-category")
        choices = [c.id for c in self.codebook] + [f"{c.category}/{c.subcategory}" for c in self.codebook]
        close = difflib.get_close_matches(raw, choices, n=3, cutoff=0.6)
        hint = f" — did you mean {' or '.join(repr(c) for c in close)}?" if close else (
            "; add it to the codebook or correct the name")
        raise UnknownCodeError(f"code {raw!r} is not in codebook {self.codebook.name!r}{hint}")
