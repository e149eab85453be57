"""The codebook: categories, subcategories and the one canonical order of codes.

A *code* is the pair (category, subcategory). The thesis this project starts from
(Nord universitet MBA thesis, 2022, chapter 5) files quotes under 5 main categories and
22 subcategories; several subcategory names ("Handlingsrom", "Tid", "Ressurser") repeat under
more than one category, so a subcategory name alone never identifies a code.

:class:`Codebook` is the single source of truth for label order: model heads, datasets,
metrics and exports all index codes by ``Codebook.code_ids``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nokoding.atomic import atomic_write_text

__all__ = ["DEFAULT_SENTIMENT_LABELS", "Category", "Code", "Codebook", "CodebookError", "record_code_id"]

#: Sentiment toward the target-and-measurement regime (see corpora/thesis_mrs/ANNOTATION.md).
DEFAULT_SENTIMENT_LABELS: tuple[str, ...] = ("negative", "neutral", "positive", "mixed")


class CodebookError(ValueError):
    """A codebook file or mapping is malformed (the message names the file and the entry)."""


@dataclass(frozen=True)
class Code:
    """One codable code: a subcategory within its main category.

    Attributes:
        id: stable identifier, ``"<category id>.<subcategory slug>"`` (e.g. ``"mrs.maling"``).
        category: the main category's display name (e.g. ``"Mål- og resultatstyring"``).
        subcategory: the subcategory's display name (e.g. ``"Måling"``).
        category_id: the main category's stable identifier (e.g. ``"mrs"``).
        description: what coders file under this code, in plain words.
        section: where the code is defined (e.g. thesis section ``"5.1.1"``), or ``None``.
    """

    id: str
    category: str
    subcategory: str
    category_id: str
    description: str = ""
    section: str | None = None

    @property
    def pair(self) -> tuple[str, str]:
        """The (category, subcategory) name pair that identifies the code to a researcher."""
        return (self.category, self.subcategory)

    @property
    def label(self) -> str:
        """Human-readable ``"Category / Subcategory"``."""
        return f"{self.category} / {self.subcategory}"


@dataclass(frozen=True)
class Category:
    """A main category (a non-codable parent of codes)."""

    id: str
    name: str
    description: str = ""
    section: str | None = None


@dataclass(frozen=True)
class Codebook:
    """An ordered codebook of categories and codes, plus the sentiment label set.

    The order of :attr:`codes` is the label order of every model head and dataset built
    from this codebook (index ``i`` of a code-logit vector of shape ``(n_codes,)`` is
    ``codes[i]``). Category order is the order of first appearance in :attr:`categories`.

    Construct with :meth:`from_yaml` or :meth:`from_dict`; write with :meth:`to_yaml`.

    Raises:
        CodebookError: on duplicate ids, duplicate (category, subcategory) pairs, codes
            whose category is unknown, or an empty codebook.
    """

    name: str
    categories: tuple[Category, ...]
    codes: tuple[Code, ...]
    sentiment_labels: tuple[str, ...] = DEFAULT_SENTIMENT_LABELS
    title: str = ""
    source: str = ""
    _code_index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.codes:
            raise CodebookError(f"codebook {self.name!r} has no codes")
        cat_ids = [c.id for c in self.categories]
        if len(set(cat_ids)) != len(cat_ids):
            raise CodebookError(f"codebook {self.name!r}: duplicate category ids in {cat_ids}")
        known = set(cat_ids)
        seen_ids: set[str] = set()
        seen_pairs: set[tuple[str, str]] = set()
        for code in self.codes:
            if code.id in seen_ids:
                raise CodebookError(f"codebook {self.name!r}: duplicate code id {code.id!r}")
            if code.pair in seen_pairs:
                raise CodebookError(f"codebook {self.name!r}: duplicate code {code.label!r}")
            if code.category_id not in known:
                raise CodebookError(
                    f"codebook {self.name!r}: code {code.id!r} names unknown category {code.category_id!r}"
                )
            seen_ids.add(code.id)
            seen_pairs.add(code.pair)
        if len(set(self.sentiment_labels)) != len(self.sentiment_labels):
            raise CodebookError(f"codebook {self.name!r}: duplicate sentiment labels")
        self._code_index.update({c.id: i for i, c in enumerate(self.codes)})

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "<dict>") -> Codebook:
        """Build a codebook from the mapping stored in ``codebook.yaml``.

        Expected shape: ``{name, title?, source?, sentiment_labels?, categories: [{id, name,
        description?, section?, subcategories: [{id, name, description?, section?}]}]}``.
        Codes are ordered category by category, subcategories in file order.

        Raises:
            CodebookError: naming ``origin`` and the offending entry when a field is missing.
        """
        if not isinstance(data, Mapping):
            raise CodebookError(f"{origin}: a codebook must be a mapping, got {type(data).__name__}")
        try:
            raw_categories = data["categories"]
        except KeyError:
            raise CodebookError(f"{origin}: missing 'categories'") from None
        categories: list[Category] = []
        codes: list[Code] = []
        for ci, cat in enumerate(raw_categories or []):
            where = f"{origin}: categories[{ci}]"
            try:
                cat_id, cat_name = str(cat["id"]), str(cat["name"])
            except (KeyError, TypeError):
                raise CodebookError(f"{where}: needs 'id' and 'name'") from None
            categories.append(
                Category(cat_id, cat_name, str(cat.get("description") or "").strip(), _opt(cat.get("section")))
            )
            for si, sub in enumerate(cat.get("subcategories") or []):
                try:
                    codes.append(
                        Code(
                            id=str(sub["id"]),
                            category=cat_name,
                            subcategory=str(sub["name"]),
                            category_id=cat_id,
                            description=str(sub.get("description") or "").strip(),
                            section=_opt(sub.get("section")),
                        )
                    )
                except (KeyError, TypeError):
                    raise CodebookError(f"{where}.subcategories[{si}]: needs 'id' and 'name'") from None
        try:
            return cls(
                name=str(data.get("name") or "codebook"),
                categories=tuple(categories),
                codes=tuple(codes),
                sentiment_labels=tuple(data.get("sentiment_labels") or DEFAULT_SENTIMENT_LABELS),
                title=str(data.get("title") or ""),
                source=str(data.get("source") or ""),
            )
        except CodebookError as err:
            raise CodebookError(f"{origin}: {err}") from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> Codebook:
        """Read a codebook from a YAML file (see :meth:`from_dict` for the schema).

        Raises:
            FileNotFoundError: if ``path`` does not exist.
            CodebookError: if the YAML is invalid or the codebook malformed (names the file).
        """
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise CodebookError(f"{path}: invalid YAML: {err}") from None
        return cls.from_dict(data, origin=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The YAML-ready mapping; ``Codebook.from_dict(cb.to_dict()) == cb``."""
        cats = []
        for cat in self.categories:
            entry: dict[str, Any] = {"id": cat.id, "name": cat.name}
            if cat.section:
                entry["section"] = cat.section
            entry["description"] = cat.description
            entry["subcategories"] = [
                {k: v for k, v in (("id", c.id), ("name", c.subcategory), ("section", c.section),
                                   ("description", c.description)) if v is not None}
                for c in self.codes
                if c.category_id == cat.id
            ]
            cats.append(entry)
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "sentiment_labels": list(self.sentiment_labels),
            "categories": cats,
        }

    def to_yaml(self, path: str | os.PathLike[str]) -> Path:
        """Write the codebook as YAML atomically (temporary file, then rename); returns the path."""
        path = Path(path)
        text = yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False, width=100)
        atomic_write_text(path, text)
        return path

    # ----------------------------------------------------------------- label order
    @property
    def code_ids(self) -> tuple[str, ...]:
        """Code ids in label order; shape ``(n_codes,)``."""
        return tuple(c.id for c in self.codes)

    @property
    def category_ids(self) -> tuple[str, ...]:
        """Category ids in order."""
        return tuple(c.id for c in self.categories)

    @property
    def category_names(self) -> tuple[str, ...]:
        """Category display names in order."""
        return tuple(c.name for c in self.categories)

    @property
    def n_codes(self) -> int:
        return len(self.codes)

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[Code]:
        return iter(self.codes)

    def index(self, code_id: str) -> int:
        """Position of ``code_id`` in label order.

        Raises:
            KeyError: naming the unknown id and the codebook.
        """
        try:
            return self._code_index[code_id]
        except KeyError:
            raise KeyError(f"code {code_id!r} is not in codebook {self.name!r}") from None

    def code(self, code_id: str) -> Code:
        """The :class:`Code` with this id (``KeyError`` if unknown)."""
        return self.codes[self.index(code_id)]

    def find(self, category: str, subcategory: str) -> Code:
        """Look a code up by its (category, subcategory) names or ids.

        Raises:
            KeyError: if no code matches the pair.
        """
        for c in self.codes:
            if (c.category == category or c.category_id == category) and c.subcategory == subcategory:
                return c
        raise KeyError(f"no code ({category!r}, {subcategory!r}) in codebook {self.name!r}")

    def category_index(self, category_id: str) -> int:
        """Position of a category id (``KeyError`` if unknown)."""
        try:
            return self.category_ids.index(category_id)
        except ValueError:
            raise KeyError(f"category {category_id!r} is not in codebook {self.name!r}") from None

    def code_to_category(self) -> list[int]:
        """For each code in label order, the index of its category; length ``n_codes``.

        Used to derive category scores from code scores (the hierarchy).
        """
        return [self.category_index(c.category_id) for c in self.codes]

    def codes_in(self, category_id: str) -> tuple[Code, ...]:
        """The codes under one category, in label order."""
        return tuple(c for c in self.codes if c.category_id == category_id)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def record_code_id(record: Mapping[str, Any], codebook: Codebook, where: str = "") -> str:
    """The code id of a record: its ``code_id``, else looked up from ``category`` + ``subcategory``.

    Raises:
        KeyError: naming ``where`` when the record names no code of ``codebook``.
    """
    code_id = record.get("code_id")
    if code_id:
        if str(code_id) not in codebook.code_ids:
            raise KeyError(f"{where}: code {code_id!r} is not in codebook {codebook.name!r}")
        return str(code_id)
    cat, sub = record.get("category"), record.get("subcategory")
    if cat and sub:
        try:
            return codebook.find(str(cat), str(sub)).id
        except KeyError as err:
            raise KeyError(f"{where}: {err.args[0]}") from None
    raise KeyError(f"{where}: record has neither 'code_id' nor 'category' + 'subcategory'")
