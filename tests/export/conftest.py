"""Fixtures for the export tests: the small codebook, tagged documents, the REFI-QDA schemas."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nokoding.codebook import Codebook
from tests.conftest import REPO, SMALL_CODEBOOK
from tests.export.fakes import FakeSuggester, build_document, tag_documents


def refi_schema_dir() -> Path | None:
    """``shared/refi-qda`` beside the checkout (or under ``$NOKODING_SHARED``), if present."""
    env = os.environ.get("NOKODING_SHARED")
    for base in ([Path(env)] if env else []) + [REPO.parent / "shared", REPO / "shared"]:
        if (base / "refi-qda" / "Project.xsd").is_file() and (base / "refi-qda" / "Codebook.xsd").is_file():
            return base / "refi-qda"
    return None


@pytest.fixture(scope="session")
def refi_schemas():
    """``(project_schema, codebook_schema)`` as xmlschema objects; skips when the files are absent."""
    folder = refi_schema_dir()
    if folder is None:
        pytest.skip("REFI-QDA schemas not found: put them in ../shared/refi-qda or set NOKODING_SHARED")
    xmlschema = pytest.importorskip("xmlschema", reason="xmlschema is needed to validate REFI-QDA output")
    return xmlschema.XMLSchema(folder / "Project.xsd"), xmlschema.XMLSchema(folder / "Codebook.xsd")


@pytest.fixture
def codebook() -> Codebook:
    return Codebook.from_dict(SMALL_CODEBOOK)


@pytest.fixture
def documents():
    """Two interviews with æøå, emoji outside the BMP (🙂, 👍🏽, a ZWJ family), and multi-line turns."""
    one = build_document(
        "intervju_1",
        [
            ("I", "Hva tenker du om målingene på kontoret?"),
            ("Informant 1", "Ærlig talt 🙂 blir vi målt på alt, også på «øyeblikkelig» hjelp."),
            ("I", "Og tiden med brukerne?"),
            ("Informant 1", "Den går til rapportering 👍🏽.\nVi får for lite tid til å følge opp."),
        ],
    )
    two = build_document(
        "intervju_2",
        [
            ("Intervjuer", "Fortell om lederen din."),
            ("Kari", "Lederen stoler på oss 👨‍👩‍👧, og det betyr mye, \"virkelig\" mye; for å si det sånn."),
        ],
    )
    return [one, two]


@pytest.fixture
def suggester(codebook) -> FakeSuggester:
    return FakeSuggester(codebook, top_k=3)


@pytest.fixture
def tagged(documents, suggester):
    return tag_documents(documents, suggester)
