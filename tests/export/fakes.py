"""Deterministic stand-ins for the reader, segmenter and model, written for the export and tag tests.

They let the exporters and :func:`nokoding.tagging.tag` be tested without a trained model: the
fake suggester derives probabilities from a SHA-256 of the segment text, so the same text
always gets the same codes, in any process.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from nokoding.codebook import Codebook
from nokoding.document import Document, Segment, SpeakerTurn
from nokoding.export.tagged import TaggedDocument
from nokoding.suggestions import CodeScore, Evidence, Suggestion

ROLES = {"I": "interviewer", "Intervjuer": "interviewer"}


def build_document(doc_id: str, turns: Sequence[tuple[str, str]], *, source: Path | None = None) -> Document:
    """A normalised document from ``(speaker, words)`` pairs, written ``"speaker: words\\n"``.

    Speakers "I"/"Intervjuer" are interviewers, every other label an informant.
    """
    text = ""
    spans = []
    for speaker, words in turns:
        text += f"{speaker}: "
        start = len(text)
        text += words
        spans.append(SpeakerTurn(speaker, ROLES.get(speaker, "informant"), start, len(text)))  # type: ignore[arg-type]
        text += "\n"
    return Document(id=doc_id, text=text, turns=tuple(spans), source=source, format="txt")


def segment_turns(document: Document) -> list[Segment]:
    """One segment per speaker turn; informant segments carry the preceding question as context."""
    out = []
    question = None
    for i, turn in enumerate(document.turns):
        words = document.turn_text(turn)
        out.append(
            Segment(
                document_id=document.id, index=i, text=words, start=turn.start, end=turn.end,
                speaker=turn.speaker, role=turn.role, start_time=None if i else 0.0, end_time=None,
                context=question if turn.role != "interviewer" else None, turn_index=i,
            )
        )
        question = words if turn.role == "interviewer" else question
    return out


def read_labelled_text(path: str | os.PathLike[str]) -> Document:
    """A tiny transcript reader: UTF-8 (BOM allowed), CRLF → LF, lines ``Speaker: words``.

    Raises:
        ValueError: for bytes that are not UTF-8 or a line without ``:`` (names the file, line).
    """
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 (byte {err.start})") from None
    turns = []
    for n, line in enumerate(raw.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        speaker, sep, words = line.partition(": ")
        if not sep:
            raise ValueError(f"{path}: line {n}: no speaker label")
        turns.append((speaker, words))
    return build_document(path.stem, turns, source=path)


class FakeSuggester:
    """Scores every code from a hash of the segment text; records how many segments it saw."""

    def __init__(self, codebook: Codebook, top_k: int = 3) -> None:
        self.codebook = codebook
        self.top_k = top_k
        self.calls: list[int] = []

    def __call__(self, segments: Sequence[Segment]) -> list[Suggestion]:
        self.calls.append(len(segments))
        return [self.one(seg) for seg in segments]

    def one(self, seg: Segment) -> Suggestion:
        digest = hashlib.sha256(seg.text.encode("utf-8")).digest()
        probs = [digest[i] / 255 for i in range(self.codebook.n_codes)]
        order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))[: self.top_k]
        codes = tuple(
            CodeScore(self.codebook.codes[i].id, self.codebook.codes[i].category,
                      self.codebook.codes[i].subcategory, probs[i])
            for i in order
        )
        cats: dict[str, float] = {}
        for p, code in zip(probs, self.codebook.codes):
            cats[code.category_id] = max(cats.get(code.category_id, 0.0), p)
        labels = self.codebook.sentiment_labels
        raw = [digest[20 + i] + 1 for i in range(len(labels))]
        sent = {lab: r / sum(raw) for lab, r in zip(labels, raw)}
        best = max(sent, key=lambda k: sent[k])
        evidence = (Evidence(f"train#{digest[30] % 7}", "et eksempel", codes[0].code_id, 0.5),)
        return Suggestion(seg.text, codes, cats, best, sent, evidence, seg)


def tag_documents(documents: Sequence[Document], suggester: FakeSuggester) -> list[TaggedDocument]:
    """Segment with :func:`segment_turns`, keep non-interviewer segments, suggest."""
    out = []
    for doc in documents:
        segs = [s for s in segment_turns(doc) if s.role != "interviewer"]
        out.append(TaggedDocument(doc, tuple(segs), tuple(suggester(segs))))
    return out
