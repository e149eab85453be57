"""Hand-coded corpora: the thesis corpus shipped in ``corpora/`` and corpora in any folder.

A corpus is a folder with ``codebook.yaml`` (read by :class:`nokoding.codebook.Codebook`)
and ``segments.jsonl`` (one hand-coded segment per line: ``id, text, code_id, category,
subcategory, sentiment, group, …``; see ``corpora/thesis_mrs/DATASHEET.md``).

Instead of its own ``codebook.yaml``, a corpus may have ``corpus.yaml`` naming another
corpus's codebook, so that one codebook stays the single source of truth::

    codebook: ../thesis_mrs/codebook.yaml   # relative to the corpus folder
    kind: written                           # statements written as training examples

Every record of a ``kind: written`` corpus is marked ``"source": "written"`` (written
examples, not informants' words; :func:`nokoding.training.train` weights them with
``written_weight`` and the evaluation never tests on them). A record whose ``code_id`` is
``null`` is a segment to which no code applies (a "no code" example); the field itself must
be present.

Names resolve, in order, to ``$NOKODING_CORPORA/<name>``, then ``<repo>/corpora/<name>``;
anything containing a path separator, or an existing folder, is taken as a path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nokoding.codebook import Codebook

if TYPE_CHECKING:  # pragma: no cover
    import datasets

__all__ = ["CorpusError", "corpus_dir", "corpus_kind", "list_corpora", "load", "load_codebook", "load_records"]

#: The folder of corpora shipped with the repository.
SHIPPED_CORPORA = Path(__file__).resolve().parents[2] / "corpora"

REQUIRED_FIELDS = ("id", "text")
#: The ``kind`` values of ``corpus.yaml``.
KINDS = ("coded", "written")


class CorpusError(ValueError):
    """A corpus cannot be found or one of its files is malformed (names the file and line)."""


def list_corpora() -> list[str]:
    """Names of the corpora that :func:`corpus_dir` can find (folders with a codebook)."""
    roots = [Path(p) for p in os.environ.get("NOKODING_CORPORA", "").split(os.pathsep) if p]
    roots.append(SHIPPED_CORPORA)
    names = {
        d.name
        for root in roots
        if root.is_dir()
        for d in root.iterdir()
        if _is_corpus(d)
    }
    return sorted(names)


def _is_corpus(folder: Path) -> bool:
    return (folder / "codebook.yaml").is_file() or (folder / "corpus.yaml").is_file()


def _settings(folder: Path) -> dict[str, Any]:
    """``corpus.yaml`` of a corpus folder (``{}`` without one), checked."""
    path = folder / "corpus.yaml"
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise CorpusError(f"{path}: invalid YAML ({err})") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a mapping with 'codebook' and 'kind'")
    kind = data.get("kind", "coded")
    if kind not in KINDS:
        raise CorpusError(f"{path}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if "codebook" in data and not isinstance(data["codebook"], str):
        raise CorpusError(f"{path}: 'codebook' must be a path to a codebook .yaml file")
    return data


def _codebook_path(folder: Path) -> Path:
    settings = _settings(folder)
    if "codebook" not in settings:
        return folder / "codebook.yaml"
    path = (folder / settings["codebook"]).resolve()
    if not path.is_file():
        raise CorpusError(f"{folder / 'corpus.yaml'}: codebook {settings['codebook']!r} not found ({path})")
    return path


def corpus_kind(name_or_path: str | os.PathLike[str]) -> str:
    """``"written"`` for a corpus of written training statements, else ``"coded"``."""
    return str(_settings(corpus_dir(name_or_path)).get("kind", "coded"))


def corpus_dir(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a corpus name (``"thesis_mrs"``) or folder path to its folder.

    Raises:
        CorpusError: if nothing is found; the message lists the known corpora.
    """
    raw = str(name_or_path)
    candidate = Path(raw).expanduser()
    if os.sep in raw or candidate.is_dir():
        if _is_corpus(candidate):
            return candidate
        raise CorpusError(
            f"{candidate}: not a corpus folder (needs codebook.yaml or corpus.yaml, and segments.jsonl)")
    roots = [Path(p) for p in os.environ.get("NOKODING_CORPORA", "").split(os.pathsep) if p]
    roots.append(SHIPPED_CORPORA)
    for root in roots:
        if _is_corpus(root / raw):
            return root / raw
    raise CorpusError(f"unknown corpus {raw!r}; known corpora: {', '.join(list_corpora()) or 'none'}")


def load_codebook(name_or_path: str | os.PathLike[str]) -> Codebook:
    """The codebook of a corpus, or of a ``.yaml`` codebook file given directly.

    Raises:
        CorpusError: if the corpus, or the ``.yaml`` file, is not found.
        nokoding.codebook.CodebookError: if the codebook is malformed.
    """
    path = Path(str(name_or_path)).expanduser()
    if path.suffix in {".yaml", ".yml"}:
        if not path.is_file():
            raise CorpusError(f"{path}: no such codebook file")
        return Codebook.from_yaml(path)
    return Codebook.from_yaml(_codebook_path(corpus_dir(name_or_path)))


def load_records(name_or_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The hand-coded segments of a corpus as a list of dicts, in file order.

    Every record has at least ``id``, ``text`` and ``code_id`` (a code of the corpus
    codebook, or ``null`` for a segment with no code); ``sentiment`` (if present) is one of
    the codebook's sentiment labels; ``group`` defaults to the record's id (records of one
    group are one quote filed under several codes). Records of a ``kind: written`` corpus
    get ``"source": "written"``.

    Raises:
        CorpusError: naming ``segments.jsonl`` and the line of a malformed record, an unknown
            code or sentiment, or a duplicate id.
    """
    folder = corpus_dir(name_or_path)
    codebook = Codebook.from_yaml(_codebook_path(folder))
    written = _settings(folder).get("kind") == "written"
    path = folder / "segments.jsonl"
    if not path.is_file():
        raise CorpusError(f"{folder}: missing segments.jsonl")
    known_codes = set(codebook.code_ids)
    known_sentiments = set(codebook.sentiment_labels)
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise CorpusError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None
            if not isinstance(rec, dict):
                raise CorpusError(f"{path}:{lineno}: expected a JSON object")
            missing = [f for f in REQUIRED_FIELDS if not rec.get(f)] + (["code_id"] if "code_id" not in rec else [])
            if missing:
                raise CorpusError(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            if rec["code_id"] is not None and rec["code_id"] not in known_codes:
                raise CorpusError(f"{path}:{lineno}: code {rec['code_id']!r} is not in the codebook")
            sentiment = rec.get("sentiment")
            if sentiment is not None and sentiment not in known_sentiments:
                raise CorpusError(f"{path}:{lineno}: unknown sentiment {sentiment!r}")
            if rec["id"] in seen:
                raise CorpusError(f"{path}:{lineno}: duplicate id {rec['id']!r}")
            seen.add(rec["id"])
            rec.setdefault("group", rec["id"])
            if written:
                rec["source"] = "written"
            if rec["code_id"] is None:
                rec["category"] = rec["subcategory"] = rec["category_id"] = None
            else:
                code = codebook.code(rec["code_id"])
                rec.setdefault("category", code.category)
                rec.setdefault("subcategory", code.subcategory)
                rec["category_id"] = code.category_id
            records.append(rec)
    if not records:
        raise CorpusError(f"{path}: no records")
    return records


def load(name_or_path: str | os.PathLike[str] = "thesis_mrs") -> datasets.Dataset:
    """A corpus as a :class:`datasets.Dataset` whose label features follow the codebook.

    Columns: ``id`` (str), ``text`` (str), ``code`` (ClassLabel over ``Codebook.code_ids``;
    -1 for a segment with no code), ``category`` (ClassLabel over ``Codebook.category_ids``;
    -1 likewise), ``sentiment`` (ClassLabel over ``Codebook.sentiment_labels``; -1 where a
    record has none), ``group`` (str),
    plus the string fields ``section``, ``speaker``, ``role`` where the corpus has them.
    The codebook is attached as ``dataset.info.description`` (its name) and can be read
    with :func:`load_codebook`.

    Raises:
        CorpusError: see :func:`load_records`.
    """
    import datasets

    codebook = load_codebook(name_or_path)
    records = load_records(name_or_path)
    optional = [f for f in ("section", "speaker", "role") if any(f in r for r in records)]
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "text": datasets.Value("string"),
            "code": datasets.ClassLabel(names=list(codebook.code_ids)),
            "category": datasets.ClassLabel(names=list(codebook.category_ids)),
            "sentiment": datasets.ClassLabel(names=list(codebook.sentiment_labels)),
            "group": datasets.Value("string"),
            **{f: datasets.Value("string") for f in optional},
        }
    )
    columns: dict[str, list[Any]] = {name: [] for name in features}
    for rec in records:
        columns["id"].append(rec["id"])
        columns["text"].append(rec["text"])
        coded = rec["code_id"] is not None
        columns["code"].append(codebook.index(rec["code_id"]) if coded else -1)
        columns["category"].append(codebook.category_index(rec["category_id"]) if coded else -1)
        sentiment = rec.get("sentiment")
        columns["sentiment"].append(codebook.sentiment_labels.index(sentiment) if sentiment else -1)
        columns["group"].append(str(rec["group"]))
        for f in optional:
            value = rec.get(f)
            columns[f].append(None if value is None else str(value))
    info = datasets.DatasetInfo(
        description=f"nokoding corpus {codebook.name}: {codebook.title}", features=features
    )
    return datasets.Dataset.from_dict(columns, info=info)
