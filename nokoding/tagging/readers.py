"""Reading and segmenting one transcript for a tagging run, and the run summary's notes about it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from nokoding.document import Document, Segment

__all__ = ["document_notes", "transcript_reader"]


def _default_reader(path: Path, interviewer: tuple[str, ...] = (), informant: tuple[str, ...] = ()) -> Document:
    import warnings

    from nokoding.ingest import TranscriptWarning, read

    with warnings.catch_warnings():
        # the same notes are in document.warnings and reach the run summary once
        warnings.simplefilter("ignore", TranscriptWarning)
        if informant:
            from nokoding.ingest import DEFAULT_INFORMANT_LABELS

            document = read(path, interviewer=interviewer or None,
                            informant_labels=[*DEFAULT_INFORMANT_LABELS, *informant])
        else:
            document = read(path, interviewer=interviewer or None)
    if interviewer and not any(t.role == "interviewer" for t in document.turns):
        # otherwise every speaker, the interviewer too, would be coded as an informant
        from nokoding.ingest import TranscriptError

        labels = sorted({t.speaker for t in document.turns if t.speaker})
        raise TranscriptError(path, f"--interviewer {', '.join(interviewer)} matches no speaker label "
                                    f"(labels here: {', '.join(labels) or 'none'})")
    return document


def transcript_reader(interviewer: Sequence[str] = (), informant: Sequence[str] = ()) -> Callable[[Path], Document]:
    """The reader :func:`tag` uses: :func:`nokoding.ingest.read` (format by extension), with
    ``interviewer`` speaker labels when given (every other labelled speaker is then an
    informant; see :mod:`nokoding.ingest.roles`; a file where none of them speaks fails with a
    :class:`~nokoding.ingest.TranscriptError` naming its labels), and ``informant`` labels
    added to the default informant labels (they are then read as speaker labels too).
    Picklable, for the Ray engine."""
    import functools

    if not interviewer and not informant:
        return _default_reader
    return functools.partial(_default_reader, interviewer=tuple(interviewer), informant=tuple(informant))


def document_notes(path: Path | str, document: Document, segments: Sequence[Segment], roles: Sequence[str]) -> list[str]:
    """The run summary's warnings for one tagged document: reader notes, each naming the file
    once, and a note when it has no segment of ``roles``."""
    notes = [w if w.startswith(f"{path}: ") else f"{path}: {w}" for w in document.warnings]
    if not segments:
        notes.append(f"{path}: no {'/'.join(roles)} segments to code")
    return notes


def _default_segmenter(roles: Sequence[str]) -> Callable[[Document], list[Segment]]:
    from nokoding.segmentation import segment

    wanted = tuple(roles)
    return lambda document: list(segment(document, roles=wanted))  # type: ignore[arg-type]
