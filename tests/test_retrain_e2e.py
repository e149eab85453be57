"""Retraining on a researcher's own codebook, end to end (issue 8).

A small study written for this test — five codes in two categories, Norwegian, the
subcategory name "Tid" under both categories, 60 coded informant answers in four interviews —
goes through every step a researcher takes:

QDA project (.qdpx, written by nokoding's own REFI-QDA writer) → ``load_coded_data`` →
``validate`` → ``train`` (tiny random encoder) → save / load → ``evaluate_model`` on the held-out
interview → ``nokoding tag --model`` on a new transcript → ``nokoding next``.

The codebook's code ids, names and order must survive every step.

About the project file: :func:`nokoding.export.qdpx.write_qdpx` writes *model suggestions* and
attributes every coding to the REFI-QDA user ``nokoding``; it has no option to choose the user.
The study's codings are written as suggestions with probability 1.0 and the project is then
re-attributed to a human coder (``Kari``) by rewriting its ``<Users>`` entry and the
``creatingUser`` attributes — which is what a project exported from a QDA tool by a human
coder looks like — and imported with ``coders=["Kari"]``.
"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from nokoding.codebook import Codebook
from nokoding.coded import load_coded_data, validate
from nokoding.document import Document, Segment
from nokoding.export.qdc import write_qdc
from nokoding.export.qdpx import read_qdpx, write_qdpx
from nokoding.export.tagged import TaggedDocument
from nokoding.ingest import from_text
from nokoding.segmentation import segment
from nokoding.suggestions import CodeScore, Suggestion
from nokoding.testing import make_tiny_encoder

# ------------------------------------------------------------------------------------ study
STUDY = {
    "name": "hjemmetjenesten",
    "title": "Hjemmetjenesten under målstyring (a study written for this test)",
    "categories": [
        {"id": "arbeidshverdag", "name": "Arbeidshverdag", "description": "Hvordan en vanlig arbeidsdag er.",
         "subcategories": [
             {"id": "arbeidshverdag.tid", "name": "Tid",
              "description": "Tidspress og knapp tid hos brukerne."},
             {"id": "arbeidshverdag.dokumentasjon", "name": "Dokumentasjon",
              "description": "Journalføring, rapportering og skjema."},
             {"id": "arbeidshverdag.samarbeid", "name": "Samarbeid",
              "description": "Samarbeid med kolleger, fastlege og andre faggrupper."},
         ]},
        {"id": "ledelse", "name": "Ledelse", "description": "Forholdet til lederne.",
         "subcategories": [
             {"id": "ledelse.tid", "name": "Tid", "description": "Lederens tid og tilgjengelighet."},
             {"id": "ledelse.tillit", "name": "Tillit", "description": "Tillit, handlingsrom og kontroll."},
         ]},
    ],
}

ANSWERS: dict[str, list[str]] = {
    "arbeidshverdag.tid": [
        "Vi har bare ti minutter hos hver bruker, og det holder sjelden.",
        "Kjørelista er så full at jeg ofte må hoppe over lunsjen.",
        "Når en bruker trenger mer hjelp enn planlagt, blir resten av dagen forsinket.",
        "Det er stress fra morgenen av, for vedtakene gir oss knapt tid til å hilse.",
        "Jeg rekker ikke å sette meg ned og prate med de eldre lenger.",
        "På kveldsvakta er vi for få, så hvert besøk blir kortere enn det burde.",
        "Vi løper fra dør til dør, og klokka styrer alt vi gjør.",
        "Tiden i bilen mellom brukerne regnes ikke med, så vi ligger alltid etter.",
        "Ofte går jeg hjem en halvtime for sent fordi besøkene tar lengre tid.",
        "Det er tungt å gå fra en bruker som egentlig trengte at jeg ble litt til.",
        "Vi har ikke tid til å lære opp de nye skikkelig når lista er så lang.",
        "Helgene er verst, da skal vi rekke dobbelt så mange besøk.",
    ],
    "arbeidshverdag.dokumentasjon": [
        "Etter hvert besøk må alt journalføres på nettbrettet før vi kjører videre.",
        "Rapporteringen tar nesten en time hver dag, tid som burde gått til brukerne.",
        "Skjemaene er laget for kontoret, ikke for oss som står hjemme hos folk.",
        "Hvis vi glemmer å kvittere ut et tiltak, får vi avvik i systemet.",
        "Jeg skriver det samme tre steder fordi fagsystemene ikke snakker sammen.",
        "Avviksmeldingene hoper seg opp, og ingen har oversikt over dem.",
        "Dokumentasjonen er viktig, men den er blitt et mål i seg selv.",
        "Vi må registrere hver medisinutdeling med klokkeslett og signatur.",
        "Nettbrettet henger seg opp, og da må vi skrive notatene på papir etterpå.",
        "Tilsynet sjekker mest om papirene er i orden, ikke hvordan brukeren har det.",
        "Hver uke skal vi fylle ut kvalitetsindikatorer som vi aldri får se resultatene av.",
        "Jeg bruker kvelden på å rette opp i journalnotater som ble for korte.",
    ],
    "arbeidshverdag.samarbeid": [
        "Vi har et godt samarbeid med fastlegen, han svarer raskt på meldinger.",
        "På morgenmøtet fordeler vi brukerne og hjelper hverandre når noen blir syke.",
        "Kollegene mine stiller alltid opp hvis jeg står fast hjemme hos en bruker.",
        "Samarbeidet med sykehuset svikter når pasientene skrives ut på fredag ettermiddag.",
        "Fysioterapeuten og vi planlegger treningen sammen, og det gir resultater.",
        "Vi deler erfaringer i lunsjen, og det er der jeg lærer mest.",
        "Det er vanskelig å få tak i pårørende, så vi lager avtaler via kommunen.",
        "Når ergoterapeuten er med på hjemmebesøk, løser vi problemene på stedet.",
        "Natt- og dagvakta snakker for lite sammen, så beskjeder blir borte.",
        "Vi har faste team, og da kjenner vi både brukerne og hverandre godt.",
        "Jeg ringer ofte apoteket for å avklare medisinlistene sammen med dem.",
        "Tverrfaglige møter en gang i måneden gjør at vi drar i samme retning.",
    ],
    "ledelse.tid": [
        "Avdelingslederen sitter i møter hele dagen, så vi får sjelden snakket med henne.",
        "Lederen vår har ansvar for åtti ansatte og har ikke tid til hver enkelt.",
        "Når jeg trenger en avklaring, må jeg vente til neste uke for å få en samtale.",
        "Medarbeidersamtalen ble avlyst to ganger fordi sjefen hadde for mye å gjøre.",
        "Den nye lederen setter av en time hver fredag der vi kan komme innom.",
        "Lederne bruker mesteparten av tiden på budsjett og turnus, ikke på oss.",
        "Vi ser nesten aldri lederen ute i feltet, hun er bundet til kontoret.",
        "Sjefen svarer på e-post sent på kvelden, det sier noe om arbeidsmengden hennes.",
        "Før hadde vi en fagleder med tid til veiledning, men den stillingen er borte.",
        "Lederen prøver å være tilgjengelig, men telefonen ringer hele tiden.",
        "Det tar lang tid før lederen rekker å følge opp det vi melder fra om.",
        "Personalmøtene er korte fordi lederen må rekke et nytt møte rett etterpå.",
    ],
    "ledelse.tillit": [
        "Lederen stoler på at vi gjør gode vurderinger hjemme hos brukerne.",
        "Vi får lov til å endre rekkefølgen på besøkene når vi ser at det trengs.",
        "Jeg føler meg trygg på at sjefen står bak meg hvis noe går galt.",
        "Det er lite detaljstyring, vi får handlingsrom til å bruke faget vårt.",
        "Når vi sier fra om for mye arbeid, blir vi tatt på alvor.",
        "Lederen kontrollerer hvert minutt på kjørelista, og det føles som mistillit.",
        "Vi blir spurt til råds før endringer i turnusen, og det setter jeg pris på.",
        "Jeg har tillit til at ledelsen prioriterer riktig når budsjettet er stramt.",
        "Sjefen gir oss ansvar for egne brukere og blander seg ikke inn i alt.",
        "Etter omorganiseringen føler mange at ledelsen ikke lenger lytter til oss.",
        "Det er en åpen kultur, vi kan innrømme feil uten å bli hengt ut.",
        "Lederen har gitt oss frihet til å prøve ut nye måter å jobbe på.",
    ],
}
#: Answers the coder filed under a second code as well (one passage, two codes).
SECOND_CODE = {
    "Rapporteringen tar nesten en time hver dag, tid som burde gått til brukerne.": "arbeidshverdag.tid",
    "Lederen kontrollerer hvert minutt på kjørelista, og det føles som mistillit.": "arbeidshverdag.tid",
}
QUESTIONS = (
    "Kan du fortelle om en vanlig dag på jobb?",
    "Hvordan opplever du det?",
    "Hva tenker du om ledelsen?",
    "Kan du gi et eksempel?",
    "Er det noe mer du vil si om det?",
)
N_INTERVIEWS = 4
CODER = "Kari"


def interviews() -> list[tuple[str, list[tuple[str, tuple[str, ...]]]]]:
    """Four interviews of 15 answers: three of each code per interview, codes interleaved."""
    out = []
    for k in range(N_INTERVIEWS):
        answers = []
        for j in range(3):
            for code, texts in ANSWERS.items():
                text = texts[3 * k + j]
                answers.append((text, (code, SECOND_CODE[text]) if text in SECOND_CODE else (code,)))
        out.append((f"intervju_{k + 1}", answers))
    return out


def transcript(answers: list[str]) -> str:
    """An interview transcript: interviewer questions and informant answers, one turn each."""
    turns = []
    for i, answer in enumerate(answers):
        turns.append(f"Intervjuer: {QUESTIONS[i % len(QUESTIONS)]}")
        turns.append(f"Informant: {answer}")
    return "\n\n".join(turns) + "\n"


def pairs(codebook: Codebook) -> list[tuple[str, str, str]]:
    return [(c.id, c.category, c.subcategory) for c in codebook.codes]


def coded_segments(doc: Document, answers: list[tuple[str, tuple[str, ...]]]) -> list[Segment]:
    segs = segment(doc)
    assert [s.text for s in segs] == [a for a, _ in answers], "one segment per informant answer"
    return segs


def write_study_project(path: Path, codebook: Codebook) -> Path:
    """The study as a .qdpx project by nokoding's writer (codings as probability-1.0 suggestions)."""
    tagged = []
    for doc_id, answers in interviews():
        doc = from_text(transcript([a for a, _ in answers]), id=doc_id)
        segs = coded_segments(doc, answers)
        sugs = []
        for seg, (_, codes) in zip(segs, answers, strict=True):
            scores = tuple(CodeScore(c, codebook.code(c).category, codebook.code(c).subcategory, 1.0) for c in codes)
            sugs.append(Suggestion(text=seg.text, codes=scores, categories={}, sentiment="neutral",
                                   sentiment_probabilities={}, segment=seg))
        tagged.append(TaggedDocument(doc, tuple(segs), tuple(sugs)))
    return write_qdpx(path, tagged, codebook, top_k=2, project_name="Hjemmetjenesten")


def as_human_coder(src: Path, dst: Path, name: str) -> Path:
    """Copy a nokoding-written project with its codings re-attributed to the user ``name``."""
    with zipfile.ZipFile(src) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    root = etree.fromstring(members["project.qde"])
    ns = root.nsmap[None]
    user = next(u for u in root.iter(f"{{{ns}}}User") if u.get("name") == "nokoding")
    old = user.get("guid")
    new = "2b7e151c-6a3d-4f5e-8d1a-0c9b8a7f6e5d"
    user.set("guid", new)
    user.set("name", name)
    user.set("id", name.lower())
    for el in root.iter():
        for attr in ("creatingUser", "creatingUserGUID"):
            if el.get(attr) == old:
                el.set(attr, new)
    members["project.qde"] = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return dst


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("study")
    codebook = Codebook.from_dict(STUDY)
    raw = write_study_project(root / "suggestions.qdpx", codebook)
    project = as_human_coder(raw, root / "study.qdpx", CODER)
    encoder = make_tiny_encoder(root / "tiny-encoder", max_position_embeddings=64)
    return {"root": root, "codebook": codebook, "raw": raw, "project": project, "encoder": encoder}


# ------------------------------------------------------------------------------------ tests
def test_study_survives_export_import_train_evaluate_tag_and_next(study, tmp_path):
    from nokoding.cli import app
    from nokoding.evaluate import evaluate_model
    from nokoding.export.tabular import read_csv
    from nokoding.model import load_model
    from nokoding.training import train

    codebook: Codebook = study["codebook"]
    ids, names = codebook.code_ids, pairs(codebook)

    # nokoding's own suggestions are not training data by default
    assert load_coded_data(study["raw"]).records == []

    # 1. import the coder's project: the codebook comes back with the same ids, names and order
    coded = load_coded_data(study["project"], coders=[CODER])
    assert coded.codebook.code_ids == ids and pairs(coded.codebook) == names
    assert len({r["group"] for r in coded.records}) == 60 and len(coded.records) == 62
    assert {r["coder"] for r in coded.records} == {CODER}
    by_text = {}
    for r in coded.records:
        by_text.setdefault(r["text"], set()).add(r["code_id"])
    for _, answers in interviews():
        for text, codes in answers:
            assert by_text[text] == set(codes)

    # 2. validate: trainable (warnings only: no sentiment in a REFI-QDA project)
    report = validate(coded)
    assert report.ok, report.to_text()
    assert report.codebook.code_ids == ids
    assert {f.rule for f in report.warnings} <= {"no-sentiment", "too-few-examples"}

    # 3. train on three interviews, hold the fourth out
    train_records = [r for r in coded.records if r["document"] != "intervju_4"]
    held_out = [r for r in coded.records if r["document"] == "intervju_4"]
    model_dir = tmp_path / "model"
    model = train(train_records, codebook=coded.codebook, backbone=str(study["encoder"]), strategy="lora",
                  epochs=2, progress=False, out_dir=model_dir)
    assert model.codebook.code_ids == ids
    loaded = load_model(model_dir)
    assert loaded.codebook.code_ids == ids and pairs(loaded.codebook) == names
    assert loaded.config.code_ids == ids
    assert len(loaded.evidence) == len({r["group"] for r in train_records})

    # 4. evaluate on the held-out interview
    gold = tmp_path / "intervju_4.jsonl"
    gold.write_text("".join(json.dumps({"id": r["id"], "text": r["text"], "code_id": r["code_id"],
                                        "group": r["group"]}, ensure_ascii=False) + "\n" for r in held_out),
                    encoding="utf-8")
    result = evaluate_model(model_dir, gold, out_dir=tmp_path / "eval")
    assert [c["id"] for c in result["labels"]["code"]] == list(ids)
    assert [c["name"] for c in result["labels"]["code"]] == [c.label for c in codebook.codes]
    metrics = result["methods"]["model"]["metrics"]["code"]
    assert 0.0 <= metrics["top3_accuracy"]["mean"] <= 1.0
    assert (tmp_path / "eval" / "intervju_4.md").is_file()

    # 5. tag a new transcript with the retrained model
    new = tmp_path / "ny" / "intervju_ny.txt"
    new.parent.mkdir()
    fresh = ["Vi har altfor lite tid hos hver bruker om morgenen.",
             "Sjefen har sjelden tid til oss fordi hun sitter i møter.",
             "Journalføringen på nettbrettet tar mye av dagen.",
             "Lederen stoler på vurderingene våre."]
    new.write_text(transcript(fresh), encoding="utf-8")
    out = tmp_path / "tagged"
    res = CliRunner().invoke(app, ["tag", str(new), "--out", str(out), "--model", str(model_dir),
                                   "--format", "csv,jsonl,qdpx", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    rows = read_csv(out / "segments.csv")
    assert [r["text"] for r in rows] == fresh
    study_pairs = {(c.id, c.category, c.subcategory) for c in codebook.codes}
    for r in rows:
        for k in (1, 2, 3):
            assert (r[f"code_{k}"], r[f"category_{k}"], r[f"subcategory_{k}"]) in study_pairs
    tagged = read_qdpx(out / "project.qdpx")
    assert tagged.codebook.code_ids == ids and pairs(tagged.codebook) == names
    assert Codebook.from_yaml(out / ".nokoding" / "codebook.yaml").code_ids == ids
    # the tagged project goes back into the QDA tool; its codings are nokoding's, not a coder's
    back = load_coded_data(out / "project.qdpx", include_nokoding=True)
    assert back.codebook.code_ids == ids and {r["coder"] for r in back.records} == {"nokoding"}

    # 6. what to code next: the held-out interview and the new one, never the training segments
    corpus = tmp_path / "uncoded"
    corpus.mkdir()
    for doc_id, answers in interviews():
        if doc_id in ("intervju_1", "intervju_4"):
            (corpus / f"{doc_id}.txt").write_text(transcript([a for a, _ in answers]), encoding="utf-8")
    (corpus / "intervju_ny.txt").write_text(transcript(fresh), encoding="utf-8")
    csv_out = tmp_path / "neste.csv"
    res = CliRunner().invoke(app, ["next", "--model", str(model_dir), "--corpus", str(corpus),
                                               "--n", "5", "--out", str(csv_out), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert "15 already coded" in res.output  # intervju_1 was trained on
    with csv_out.open(encoding="utf-8-sig", newline="") as fh:
        picks = list(csv.DictReader(fh))
    assert len(picks) == 5
    trained_texts = {r["text"] for r in train_records}
    for p in picks:
        assert p["document"] in ("intervju_4", "intervju_ny") and p["text"] not in trained_texts
        assert p["top_code"] in ids
        assert (p["top_code"], p["top_category"], p["top_subcategory"]) in study_pairs


def test_cli_train_on_a_qdpx_project_and_on_a_csv_with_a_qdc_codebook(study, tmp_path):
    from nokoding.cli import app
    from nokoding.model import load_model

    codebook: Codebook = study["codebook"]
    out = tmp_path / "from-qdpx"
    res = CliRunner().invoke(app, ["train", "--data", str(study["project"]), "--coder", CODER, "--out", str(out),
                                   "--backbone", str(study["encoder"]), "--strategy", "lora", "--epochs", "1",
                                   "-q"])
    assert res.exit_code == 0, res.output
    assert f"saved {out}" in res.output
    model = load_model(out)
    assert model.codebook.code_ids == codebook.code_ids and pairs(model.codebook) == pairs(codebook)
    data = json.loads((out / "data.json").read_text(encoding="utf-8"))
    assert data["source"] == str(study["project"]) and data["record_examples"] == 60

    # a spreadsheet whose codes first appear in another order: the .qdc fixes the order
    sheet = tmp_path / "study.csv"
    with sheet.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["tekst", "kode", "dokument"])
        for doc_id, answers in reversed(interviews()):
            for text, codes in reversed(answers):
                for code in codes:
                    c = codebook.code(code)
                    w.writerow([text, f"{c.category}/{c.subcategory}", doc_id])
    qdc = write_qdc(codebook, tmp_path / "study.qdc")
    out2 = tmp_path / "from-csv"
    res = CliRunner().invoke(app, ["train", "--data", str(sheet), "--codebook", str(qdc), "--out", str(out2),
                                   "--backbone", str(study["encoder"]), "--strategy", "frozen", "-q"])
    assert res.exit_code == 0, res.output
    assert load_model(out2).codebook.code_ids == codebook.code_ids


def test_cli_train_refuses_bad_data_with_the_validation_report(study, tmp_path):
    from nokoding.cli import app

    bad = tmp_path / "bad.csv"
    bad.write_text("text,code\n"
                   "Vi har for lite tid hos brukerne.,Arbeidshverdag/Tid\n"
                   "Kjørelista er altfor full.,Arbeidshverdag/Tid\n"
                   "Lederen stoler på oss.,Ledelse/Tillit\n", encoding="utf-8")
    out = tmp_path / "m"
    res = CliRunner().invoke(app, ["train", "--data", str(bad), "--out", str(out),
                                   "--backbone", str(study["encoder"]), "-q"])
    assert res.exit_code == 1, res.output
    assert "REFUSED" in res.output and "too-few-examples" in res.output and "Tillit" in res.output
    assert "training refused" in res.output
    assert not out.exists()

    # codes of the given codebook that the data never uses refuse training too
    qdc = write_qdc(study["codebook"], tmp_path / "study.qdc")
    res = CliRunner().invoke(app, ["train", "--data", str(bad), "--codebook", str(qdc), "--out", str(out),
                                   "--backbone", str(study["encoder"]), "-q"])
    assert res.exit_code == 1 and "Dokumentasjon" in res.output
    assert not out.exists()

    res = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "missing.qdpx"), "--out", str(out)])
    assert res.exit_code == 2 and "not found" in res.output


def test_cli_evaluate_takes_coded_data(study, tmp_path):
    from nokoding.cli import app
    from nokoding.training import train

    coded = load_coded_data(study["project"], coders=[CODER])
    model_dir = tmp_path / "model"
    train([r for r in coded.records if r["document"] != "intervju_4"], codebook=coded.codebook,
          backbone=str(study["encoder"]), strategy="frozen", progress=False, out_dir=model_dir)
    # a held-out CSV named by code paths: read against the model's codebook
    held = tmp_path / "intervju_4.csv"
    with held.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "code"])
        for r in coded.records:
            if r["document"] == "intervju_4":
                w.writerow([r["text"], f"{r['category']}/{r['subcategory']}"])
    res = CliRunner().invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(held),
                                   "--out", str(tmp_path / "eval"), "-q"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "eval" / "intervju_4.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in report["labels"]["code"]] == list(study["codebook"].code_ids)
    assert report["corpus"]["name"] == "intervju_4" and report["corpus"]["n_units"] == 15

    # a code the model does not know refuses the evaluation with the report
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("text,code\nVi får ikke nok opplæring.,Kompetanse/Kurs\n"
                     "Lederen stoler på oss.,Ledelse/Tillit\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["evaluate", "--model", str(model_dir), "--data", str(wrong),
                                   "--out", str(tmp_path / "eval2"), "-q"])
    assert res.exit_code == 1 and "unknown-code" in res.output
    res = CliRunner().invoke(app, ["evaluate", "--data", str(held), "--corpus", "thesis_mrs"])
    assert res.exit_code == 2 and "either --corpus or --data" in res.output

    # without --model: cross-validation on the project, named after it
    res = CliRunner().invoke(app, ["evaluate", "--data", str(study["project"]), "--coder", CODER,
                                   "--strategy", "majority", "--strategy", "tfidf-lr", "--folds", "3",
                                   "--repeats", "1", "--out", str(tmp_path / "cv"), "-q"])
    assert res.exit_code == 0, res.output
    cv = json.loads((tmp_path / "cv" / "study.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in cv["labels"]["code"]] == list(study["codebook"].code_ids)
    assert set(cv["methods"]) == {"majority", "tfidf-lr"}
