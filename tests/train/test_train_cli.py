"""`nokoding train` on a JSON Lines file or a corpus folder, with clear errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nokoding.cli import app
from nokoding.model import load_model


def test_train_from_jsonl_and_codebook(tmp_path, tiny_encoders, records, codebook):
    data = tmp_path / "coded.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    codebook.to_yaml(tmp_path / "codebook.yaml")
    out = tmp_path / "model"
    result = CliRunner().invoke(app, [
        "train", "--data", str(data), "--codebook", str(tmp_path / "codebook.yaml"),
        "--backbone", str(tiny_encoders["wordpiece"]), "--strategy", "lora", "--epochs", "1", "--out", str(out), "-q",
    ])
    assert result.exit_code == 0, result.output
    assert f"saved {out}" in result.output
    model = load_model(out)
    assert model.code_ids == codebook.code_ids and model.config.strategy == "lora"
    assert json.loads((out / "training_args.json").read_text())["epochs"] == 1


def test_train_on_corpus_folder(tmp_path, tiny_encoders, small_corpus):
    out = tmp_path / "m"
    result = CliRunner().invoke(app, ["train", "--corpus", str(small_corpus), "--backbone",
                                      str(tiny_encoders["unigram"]), "--strategy", "frozen", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert load_model(out).codebook.name == "tiny_study"


def test_train_errors_name_the_problem(tmp_path, tiny_encoders, small_corpus):
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--data", str(tmp_path / "x.jsonl"), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "--data needs --codebook" in res.output
    res = runner.invoke(app, ["train", "--corpus", str(small_corpus), "--backbone", "no-such-bert",
                              "--out", str(tmp_path / "m"), "-q"])
    assert res.exit_code == 2 and "unknown backbone 'no-such-bert'" in res.output
    res = runner.invoke(app, ["train", "--corpus", "no_such_corpus", "--out", str(tmp_path / "m"), "-q"])
    assert res.exit_code == 2 and "unknown corpus 'no_such_corpus'" in res.output
    res = runner.invoke(app, ["train", "--corpus", str(small_corpus), "--strategy", "adapters",
                              "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "unknown strategy 'adapters'" in res.output
    assert not (tmp_path / "m").exists()


def test_train_refuses_an_unusable_output_before_training(tmp_path, small_corpus):
    # a file (here: the user's data) as --out is refused at once, not after minutes of training
    data = tmp_path / "coding.csv"
    data.write_text("text,code\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["train", "--corpus", str(small_corpus), "--backbone", "no-such-bert",
                                   "--out", str(data), "-q"])
    assert res.exit_code == 2
    assert "coding.csv exists and is not a nokoding model folder" in res.output
    assert data.read_text(encoding="utf-8") == "text,code\n"
