"""The text workflow of the README, step by step: the data
formats, init-config, train recording the label names, evaluate on .jsonl and
.conllu files, loading a model with its label names and naming its
predictions; older run folders (no label names recorded); and the README's
section run as written."""
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy
import pytest
from cli_runner import cli

from thinc_fast.config import Config, registry
from thinc_fast.datasets.text import (label_names, make_tagger_docs, make_textcat_docs,
                                      read_conllu, read_jsonl, read_labelled, write_conllu,
                                      write_jsonl)
from thinc_fast.errors import DataError, UserError
from thinc_fast.training import (DEFAULT_CONFIG, evaluate, load_labels, load_model,
                                 predict_labels, train)
from thinc_fast.training.labels import record_labels, text_eval_data
from thinc_fast.training.text_configs import TAGGER_CONFIG, TEXTCAT_CONFIG

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Text models: a classifier and a tagger trained on your files"


def readme_blocks():
    """(language, text) of each fenced block in the README's text section."""
    text = README.read_text(encoding="utf8")
    assert SECTION in text, "the README has no text workflow section"
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(\w*)\n(.*?)```", body, re.S)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Small train/test files of both kinds (the test files share the training vocabulary)."""
    folder = tmp_path_factory.mktemp("corpus")
    docs, labels = make_textcat_docs(60, n_classes=3, seed=0, max_len=12)
    write_jsonl(folder / "train.jsonl", docs[:45], labels[:45])
    write_jsonl(folder / "test.jsonl", docs[45:], labels[45:])
    docs, tags = make_tagger_docs(40, n_tags=4, seed=0, max_len=10)
    write_conllu(folder / "train.conllu", docs[:30], tags[:30])
    write_conllu(folder / "test.conllu", docs[30:], tags[30:])
    return folder


def _train(config_text, data, out, **overrides):
    cfg = out.parent / f"{out.name}.cfg"
    cfg.write_text(config_text)
    settings = {"data.path": str(data), "training.max_epochs": 2, **overrides}
    train(cfg, out, overrides=settings, show_progress=False, log=lambda line: None)
    return out


@pytest.fixture(scope="module")
def runs(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    return {"textcat": _train(TEXTCAT_CONFIG, corpus / "train.jsonl", folder / "textcat"),
            "tagger": _train(TAGGER_CONFIG, corpus / "train.conllu", folder / "tagger")}


# ----------------------------------------------------------- 1. the data


def test_readme_shows_both_formats_and_they_load(tmp_path):
    """The README's tiny examples of each format are what the loaders read."""
    blocks = dict(readme_blocks())
    jsonl, conllu = tmp_path / "tiny.jsonl", tmp_path / "tiny.conllu"
    jsonl.write_text(blocks["json"])
    conllu.write_text(blocks["conllu"])
    docs, labels, _ = read_jsonl(jsonl)
    assert docs[0] == ["a", "gripping", ",", "well", "acted", "film"] and labels == ["pos", "neg"]
    sentences, tags, _ = read_conllu(conllu)
    assert sentences == [["The", "dog", "barks"]] and tags == [["DET", "NOUN", "VERB"]]
    assert "\t" in blocks["conllu"]  # real tabs, as CoNLL-U needs


def test_label_names_are_the_loaders_columns(corpus):
    """label_names gives the names of the columns of the Y a [data] section's
    loader builds; record_labels writes them into the config."""
    for text, file, column in ((TEXTCAT_CONFIG, "train.jsonl", None),
                               (TAGGER_CONFIG, "train.conllu", "upos")):
        config = Config().from_str(text)
        config["data"]["path"] = str(corpus / file)
        data = registry.resolve({"data": config["data"]})["data"]
        names = label_names(config["data"])
        assert names == sorted(names) and len(names) in (3, 4)
        _, Y = read_labelled(corpus / file, names, **({"column": column} if column else {}))
        Y = numpy.concatenate(Y) if isinstance(Y, list) else Y
        train_Y = numpy.concatenate(data[1]) if isinstance(data[1], list) else data[1]
        assert Y.shape[1] == train_Y.shape[1] == len(names)
        record_labels(config)
        assert config["data"]["labels"] == names
    config = Config().from_str(TAGGER_CONFIG)
    config["data"]["labels"] = ["T3", "T2", "T1", "T0"]  # set: kept, in its order
    assert label_names(config["data"]) == ["T3", "T2", "T1", "T0"]
    record_labels(config)
    assert config["data"]["labels"] == ["T3", "T2", "T1", "T0"]
    config = Config().from_str(DEFAULT_CONFIG)  # arrays: nothing recorded
    record_labels(config)
    assert "labels" not in config["data"]


# ------------------------------------------------------- 2. init-config


def test_init_config_text_configs_have_a_labels_setting(tmp_path, corpus):
    """[data] labels = null in both text configs; a list set there fixes the
    classes and their column order, and the run keeps it."""
    for kind in ("textcat", "tagger"):
        text = cli("init-config", "--model", kind).stdout
        data = Config().from_str(text)["data"]
        assert "labels" in data and data["labels"] is None, kind
    order = ["class2", "class0", "class1"]
    out = _train(TEXTCAT_CONFIG, corpus / "train.jsonl", tmp_path / "run",
                 **{"data.labels": order})
    assert load_labels(out) == order
    _, Y = read_labelled(corpus / "test.jsonl", order)
    _, gold, _ = read_jsonl(corpus / "test.jsonl")
    assert [order[i] for i in Y.argmax(axis=1)] == gold


# ------------------------------------------------------------- 3. train


def test_cli_train_records_the_label_names(tmp_path, corpus):
    for data, kind, names in ((corpus / "train.jsonl", "textcat", ["class0", "class1", "class2"]),
                              (corpus / "train.conllu", "tagger", ["T0", "T1", "T2", "T3"])):
        cfg, out = tmp_path / f"{kind}.cfg", tmp_path / kind
        cli("init-config", "--model", kind, cfg)
        cli("train", cfg, "--data", data, "-o", out, "-q", "--set", "training.max_epochs=1")
        for where in (out, out / "model-best", out / "model-last"):
            config = Config().from_str((where / "config.cfg").read_text())
            assert config["data"]["labels"] == names, where


# ---------------------------------------------------------- 4. evaluate


def test_cli_evaluates_jsonl_and_conllu_files(runs, corpus):
    """Every document of the file, with the model's labels: the numbers the
    Python evaluate gives on the same documents."""
    for kind, name, what in (("textcat", "test.jsonl", "all 15 documents"),
                             ("tagger", "test.conllu", "tokens (10 sentences)")):
        folder = runs[kind] / "model-best"
        model = load_model(folder)
        X, Y = read_labelled(corpus / name, load_labels(folder),
                             **({"column": "upos"} if kind == "tagger" else {}))
        accuracy, loss = evaluate(model, X, Y)
        result = cli("evaluate", runs[kind], corpus / name)
        assert f"accuracy {accuracy:.4f}, loss {loss:.4f} on" in result.stdout, result.stdout
        assert what in result.stdout and str(corpus / name) in result.stdout


def test_cli_evaluate_names_file_line_and_label_the_model_never_saw(runs, corpus, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text((corpus / "test.jsonl").read_text().splitlines()[0] + "\n"
                   '{"text": "w1 w2", "label": "class7"}\n{"text": "w3", "label": "class7"}\n')
    result = cli("evaluate", runs["textcat"], bad, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{bad}:2: label 'class7' is not one of the model's labels" in result.stderr
    assert "2 of the file's 3 documents" in result.stderr
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tw\t_\tT0\t_\t_\t_\t_\t_\t_\n2\tv\t_\tNOUN\t_\t_\t_\t_\t_\t_\n")
    result = cli("evaluate", runs["tagger"], bad, check=False)
    assert result.returncode == 1 and f"{bad}:2: label 'NOUN'" in result.stderr
    assert "1 of the file's 2 tokens" in result.stderr


def test_cli_evaluate_refuses_a_file_of_the_other_kind(runs, corpus, tmp_path):
    result = cli("evaluate", runs["textcat"], corpus / "test.conllu", check=False)
    assert result.returncode == 1
    assert "the model in" in result.stderr and "is a text classifier" in result.stderr
    assert "evaluate it on a .jsonl file" in result.stderr
    result = cli("evaluate", runs["tagger"], corpus / "test.jsonl", check=False)
    assert result.returncode == 1 and "evaluate it on a .conllu file" in result.stderr
    rng = numpy.random.default_rng(0)
    numpy.savez(tmp_path / "d.npz", X=rng.standard_normal((20, 3)).astype("f"),
                Y=numpy.arange(20) % 2)
    cfg = tmp_path / "npz.cfg"
    cli("init-config", cfg)
    cli("train", cfg, "--data", tmp_path / "d.npz", "-o", tmp_path / "arrays", "-q",
        "--set", "training.max_epochs=1")
    result = cli("evaluate", tmp_path / "arrays", corpus / "test.jsonl", check=False)
    assert result.returncode == 1 and "trained on arrays" in result.stderr
    assert "evaluate it on an .npz file" in result.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_labels(tmp_path / "arrays") is None  # integer classes: no names, no note


# ------------------------------------------------ 5. load and predict


def test_load_labels_and_predict_labels(runs, corpus):
    model, labels = load_model(runs["textcat"]), load_labels(runs["textcat"])
    assert labels == ["class0", "class1", "class2"]
    docs, _, _ = read_jsonl(corpus / "test.jsonl")
    named = predict_labels(model, docs, labels)
    assert named == [labels[i] for i in model.predict(docs).argmax(axis=1)]
    assert predict_labels(model, [" ".join(docs[0])], labels) == named[:1]  # a string is split
    assert predict_labels(model, [], labels) == []
    tagger, tags = load_model(runs["tagger"]), load_labels(runs["tagger"] / "model-last")
    assert tags == ["T0", "T1", "T2", "T3"]
    sentences, _, _ = read_conllu(corpus / "test.conllu")
    named = predict_labels(tagger, sentences, tags)
    assert [len(t) for t in named] == [len(s) for s in sentences]
    assert named[0] == [tags[i] for i in tagger.predict(sentences[:1])[0].argmax(axis=1)]
    with pytest.raises(TypeError, match="needs the model's label names"):
        predict_labels(model, docs, None)
    with pytest.raises(ValueError, match="document 1 must be a non-empty string"):
        predict_labels(model, [["a"], []], labels)
    with pytest.raises(ValueError, match="the model predicts 3 columns but 2 labels"):
        predict_labels(model, docs, labels[:2])


def test_old_run_folders_load_and_recover_their_labels(runs, corpus, tmp_path):
    """A run saved before label names were recorded: the model loads and predicts
    as before; its names come back from its training files, with a warning,
    and when those are gone load_labels warns and gives None."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(runs["textcat"], old)
    for cfg in old.rglob("config.cfg"):
        text = cfg.read_text()
        cfg.write_text(re.sub(r"(?m)^labels = .*\n", "", text))
    model = load_model(old)
    docs, _, _ = read_jsonl(corpus / "test.jsonl")
    assert model.predict(docs).shape == (15, 3)
    with pytest.warns(UserWarning, match="records no label names.*class0"):
        assert load_labels(old) == ["class0", "class1", "class2"]
    result = cli("evaluate", old, corpus / "test.jsonl")
    assert "Warning:" in result.stderr and "records no label names" in result.stderr
    assert "on all 15 documents" in result.stdout
    # the training file named in the config is gone
    for cfg in old.rglob("config.cfg"):
        cfg.write_text(cfg.read_text().replace(str(corpus / "train.jsonl"),
                                               str(tmp_path / "moved.jsonl")))
    with pytest.warns(UserWarning, match="cannot be read to recover them"):
        assert load_labels(old) is None
    with pytest.warns(UserWarning), pytest.raises(UserError, match="label names are not known"):
        text_eval_data(old / "model-best", corpus / "test.jsonl", model)


def test_read_labelled_errors(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("x")
    with pytest.raises(DataError, match="expected a .jsonl .* or .conllu"):
        read_labelled(path, ["a"])


# ---------------------------------------------- the README, as written


def test_readme_text_workflow_runs_as_written(tmp_path):
    """Every bash and python block of the README's text section, in order, in
    an empty folder (`thinc-fast` run as `python -m thinc_fast`); the printed
    output has the form the README shows."""
    outputs = []
    shown = []
    for language, text in readme_blocks():
        if language == "bash":
            out = ""
            for line in text.strip().splitlines():
                command = re.sub(r"^thinc-fast ", f"{sys.executable} -m thinc_fast ", line)
                result = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True,
                                        text=True, timeout=300)
                assert result.returncode == 0, (line, result.stdout, result.stderr)
                out += result.stdout
            outputs.append(out)
        elif language == "python":
            script = tmp_path / "block.py"
            script.write_text(text)
            result = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                                    capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, (text, result.stderr)
            outputs.append(result.stdout)
        elif language == "":
            shown.append((len(outputs) - 1, text))
    assert len(shown) == 2
    # evaluate: the same lines, up to the scores
    index, text = shown[0]
    got = outputs[index].splitlines()
    assert len(got) == len(text.splitlines())
    for want, line in zip(text.splitlines(), got):
        pattern = re.escape(re.sub(r"\d\.\d{4}", "NUMBER", want)).replace("NUMBER", r"\d\.\d{4}")
        assert re.fullmatch(pattern, line), (want, line)
    scores = [float(x) for x in re.findall(r"accuracy (\d\.\d+)", outputs[index])]
    assert scores[0] > 0.85 and scores[1] > 0.9, outputs[index]
    # predict: the label names exactly, and as many lines
    index, text = shown[1]
    assert outputs[index].splitlines()[0] == text.splitlines()[0]
    assert len(outputs[index].splitlines()) == len(text.splitlines())
