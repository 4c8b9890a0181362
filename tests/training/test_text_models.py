"""Text models end to end: the jsonl/CoNLL-U loaders
and their errors, the sequence losses over lists and Ragged, the textcat and
tagger configs trained from the command line and from Python on generated data."""
import json

import numpy
import pytest
from cli_runner import cli

from thinc_fast.api import Adam, Ragged, SequenceCategoricalCrossentropy
from thinc_fast.config import Config, registry
from thinc_fast.datasets import check_training_data
from thinc_fast.datasets.text import (conllu_tagger, jsonl_textcat, make_tagger_docs,
                                      make_textcat_docs, write_conllu, write_jsonl)
from thinc_fast.errors import DataError
from thinc_fast.loss import SummedCrossentropy
from thinc_fast.step import train_step
from thinc_fast.training import train
from thinc_fast.training.batching import count_correct, take
from thinc_fast.training.config import use_data_file
from thinc_fast.training.loop import evaluate
from thinc_fast.training.text_configs import TAGGER_CONFIG, TEXTCAT_CONFIG, text_config


def metrics(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def textcat_file(tmp_path_factory):
    docs, labels = make_textcat_docs(600, n_classes=3, seed=0)
    return write_jsonl(tmp_path_factory.mktemp("textcat") / "train.jsonl", docs, labels)


@pytest.fixture(scope="module")
def tagger_file(tmp_path_factory):
    docs, tags = make_tagger_docs(400, n_tags=5, seed=0)
    return write_conllu(tmp_path_factory.mktemp("tagger") / "train.conllu", docs, tags)


# ------------------------------------------------------------- the command line


def test_cli_trains_the_textcat_config(tmp_path, textcat_file):
    """init-config --model textcat writes a config that trains on a .jsonl file
    well above chance (3 balanced classes: 1/3)."""
    cfg, out = tmp_path / "textcat.cfg", tmp_path / "run"
    cli("init-config", "--model", "textcat", cfg)
    assert cfg.read_text() == TEXTCAT_CONFIG
    result = cli("train", cfg, "--data", textcat_file, "-q", "-o", out,
                 "--set", "training.max_epochs=4")
    best = max(row["dev_acc"] for row in metrics(out))
    print(f"textcat best dev_acc {best:.4f} (chance 0.33)")
    assert best >= 0.85, result.stdout
    assert f"best dev accuracy {best:.4f}" in result.stdout
    evaluated = cli("evaluate", out)
    assert f"accuracy {best:.4f}" in evaluated.stdout


def test_cli_trains_the_tagger_config(tmp_path, tagger_file):
    """init-config --model tagger writes a config that trains on a .conllu file
    well above the majority tag's share of the tokens."""
    cfg, out = tmp_path / "tagger.cfg", tmp_path / "run"
    cli("init-config", "--model", "tagger", cfg)
    assert cfg.read_text() == TAGGER_CONFIG
    cli("train", cfg, "--data", tagger_file, "-q", "-o", out, "--set", "training.max_epochs=5")
    _, _, _, dev_Y = conllu_tagger(str(tagger_file))
    majority = numpy.concatenate(dev_Y).mean(axis=0).max()
    best = max(row["dev_acc"] for row in metrics(out))
    print(f"tagger best dev_acc {best:.4f} (majority tag {majority:.4f})")
    assert best >= 0.85 > majority + 0.4


def test_cli_init_config_prints_the_text_configs():
    assert cli("init-config", "--model", "tagger").stdout == TAGGER_CONFIG
    assert cli("init-config", "--model", "textcat").stdout == TEXTCAT_CONFIG
    assert "Relu.v1" in cli("init-config").stdout


def test_cli_refuses_a_model_that_does_not_fit_the_data(tmp_path, textcat_file, tagger_file):
    cfg = tmp_path / "tagger.cfg"
    cfg.write_text(TAGGER_CONFIG)
    result = cli("train", cfg, "--data", textcat_file, "-q", check=False)
    assert result.returncode == 1
    assert "the model does not fit the data" in result.stderr
    assert "init-config --model textcat" in result.stderr
    result = cli("train", "--data", tagger_file, "-q", check=False)  # the default MLP
    assert result.returncode == 1
    # the fix comes first, the model's own error after it
    assert result.stderr.startswith("Error: the default config: the data are documents (text), "
                                    "but the model takes rows of numbers: write a text model's "
                                    "config with thinc-fast init-config text.cfg --model textcat")
    assert "(The model said: Cannot infer nI" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_names_the_line_of_bad_input(tmp_path):
    cfg, data = tmp_path / "textcat.cfg", tmp_path / "bad.jsonl"
    cfg.write_text(TEXTCAT_CONFIG)
    data.write_text('{"text": "a b", "label": "x"}\n{"text": "c d", "label": "y"\n')
    result = cli("train", cfg, "--data", data, "-q", check=False)
    assert result.returncode == 1
    assert f"{data}:2: not valid JSON" in result.stderr and "Traceback" not in result.stderr


# ------------------------------------------------------------------ Python API


def test_python_api_trains_the_textcat_config(tmp_path, textcat_file):
    """training.train from Python, the config's data path set with --set's dict."""
    cfg = tmp_path / "textcat.cfg"
    cfg.write_text(text_config("textcat"))
    lines = []
    summary = train(cfg, tmp_path / "run", overrides={"data.path": str(textcat_file),
                                                      "training.max_epochs": 3},
                    show_progress=False, log=lines.append)
    assert summary["epochs"] == 3 and summary["best_dev_acc"] >= 0.85, lines


def test_python_api_tagger_model_and_sequence_loss():
    """The tagger built from its config, trained with train_step and the sequence
    losses on lists: the dev tokens' accuracy beats the majority tag."""
    docs, tags = make_tagger_docs(300, n_tags=4, seed=1)
    names = sorted({t for ts in tags for t in ts})
    Y = [numpy.eye(len(names), dtype="f")[[names.index(t) for t in ts]] for ts in tags]
    train_X, train_Y, dev_X, dev_Y = docs[:240], Y[:240], docs[240:], Y[240:]
    model = registry.resolve({"model": Config().from_str(TAGGER_CONFIG)["model"]})["model"]
    model.initialize(X=train_X[:5], Y=train_Y[:5])
    optimizer = Adam(0.002)
    loss = SummedCrossentropy()
    order = numpy.random.default_rng(0).permutation(len(train_X))
    for _ in range(4):
        for start in range(0, len(order), 16):
            idx = order[start:start + 16]
            result = train_step(model, optimizer, take(train_X, idx), take(train_Y, idx), loss)
            assert result.n_examples == len(idx) and result.loss > 0
    guesses = model.predict(dev_X)
    assert isinstance(guesses, list) and [len(g) for g in guesses] == [len(d) for d in dev_X]
    accuracy, dev_loss = evaluate(model, dev_X, dev_Y)
    majority = numpy.concatenate(dev_Y).mean(axis=0).max()
    assert accuracy > majority + 0.3 and dev_loss > 0
    # Thinc's loss object on the same outputs: the gradient per sequence
    d_seq, _ = SequenceCategoricalCrossentropy(normalize=False)(guesses, dev_Y)
    d_sum, _ = loss(guesses, dev_Y)
    for a, b in zip(d_seq, d_sum):
        numpy.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_textcat_predictions_match_thinc():
    """The textcat config's network built with Thinc 9.1.1's layers and given
    the same parameters predicts what thinc_fast's does (the same hashes, the
    same windows, the same reductions)."""
    thinc_layers = pytest.importorskip("thinc.api")
    model = registry.resolve({"model": Config().from_str(TEXTCAT_CONFIG)["model"]})["model"]
    docs, labels = make_textcat_docs(20, seed=3)
    Y = numpy.eye(3, dtype="f")[[int(label[-1]) for label in labels]]
    model.initialize(X=docs[:5], Y=Y[:5])
    L = thinc_layers
    theirs = L.chain(L.strings2arrays(), L.list2ragged(),
                     L.with_array(L.HashEmbed(64, 5000, seed=1, column=0)),
                     L.expand_window(1),
                     L.with_array(L.Maxout(64, nP=3, normalize=True, dropout=0.0)),
                     L.reduce_mean(), L.Softmax())
    theirs.initialize(X=docs[:5], Y=Y[:5])
    ours_nodes = [n for n in model.walk() if n.param_names]
    their_nodes = [n for n in theirs.walk() if n.param_names]
    assert [n.name for n in ours_nodes] == [n.name for n in their_nodes]
    for a, b in zip(ours_nodes, their_nodes):
        for name in a.param_names:
            b.set_param(name, a.get_param(name).copy())
    numpy.testing.assert_allclose(model.predict(docs), theirs.predict(docs), rtol=1e-4,
                                  atol=1e-6)


# --------------------------------------------------------------------- losses


def _ragged_case(seed=0, lengths=(3, 0, 5, 1), n_classes=4):
    rng = numpy.random.default_rng(seed)
    guesses = [rng.dirichlet(numpy.ones(n_classes), size=n).astype("f") for n in lengths]
    labels = [rng.integers(n_classes, size=n) for n in lengths]
    ragged = Ragged(numpy.concatenate(guesses), numpy.asarray(lengths, dtype="i"))
    return guesses, labels, ragged


@pytest.mark.parametrize("normalize", [True, False])
def test_sequence_crossentropy_ragged_equals_lists(normalize):
    guesses, labels, ragged = _ragged_case()
    loss = SequenceCategoricalCrossentropy(normalize=normalize)
    d_list, value_list = loss(guesses, labels)
    for truths in (labels, Ragged(numpy.concatenate(labels), ragged.lengths)):
        d_ragged, value = loss(ragged, truths)
        assert isinstance(d_ragged, Ragged)
        numpy.testing.assert_array_equal(d_ragged.lengths, ragged.lengths)
        numpy.testing.assert_allclose(d_ragged.data, numpy.concatenate(d_list), rtol=1e-6)
        assert value == pytest.approx(value_list, rel=1e-6)
    one_hot = [numpy.eye(4, dtype="f")[t] for t in labels]
    numpy.testing.assert_allclose(loss.get_grad(ragged, one_hot).data,
                                  numpy.concatenate(d_list), rtol=1e-6)
    # Ragged truths with list guesses too
    d_mixed = loss.get_grad(guesses, Ragged(numpy.concatenate(labels), ragged.lengths))
    for a, b in zip(d_mixed, d_list):
        numpy.testing.assert_allclose(a, b, rtol=1e-6)


def test_sequence_crossentropy_ragged_missing_values_and_names():
    guesses, labels, ragged = _ragged_case(seed=1, lengths=(2, 3))
    names = ["a", "b", "c", "d"]
    truths = [[names[i] for i in t] for t in labels]
    truths[1][1] = None
    loss = SequenceCategoricalCrossentropy(names=names, missing_value=None)
    d_list = loss.get_grad(guesses, truths)
    d_ragged = loss.get_grad(ragged, truths)
    numpy.testing.assert_allclose(d_ragged.data, numpy.concatenate(d_list), rtol=1e-6)
    assert not d_ragged.data[3].any()


def test_sequence_crossentropy_ragged_errors():
    guesses, labels, ragged = _ragged_case(lengths=(2, 3))
    loss = SequenceCategoricalCrossentropy()
    with pytest.raises(ValueError, match="same length, got 2 and 1 sequences"):
        loss(ragged, labels[:1])
    with pytest.raises(ValueError, match="sequence 1 has 3 rows of guesses but 2 truths"):
        loss(ragged, [labels[0], labels[1][:2]])
    with pytest.raises(ValueError, match=r"lengths \[2, 2, 1\] differ from the guesses' \[2, 3\]"):
        loss(ragged, Ragged(numpy.concatenate(labels), numpy.asarray([2, 2, 1], dtype="i")))
    with pytest.raises(TypeError, match="must be a Ragged or a list"):
        loss(ragged, numpy.concatenate(labels))
    with pytest.raises(ValueError, match="out of range for 4 classes"):
        loss(ragged, [numpy.asarray([0, 9]), labels[1]])


def test_summed_crossentropy_on_sequences_is_the_rows_summed():
    """The trainer's loss on a tagger's output: each token row scored as if all
    the rows were one array; the gradient in the guesses' form."""
    guesses, labels, ragged = _ragged_case()
    loss = SummedCrossentropy()
    one_hot = [numpy.eye(4, dtype="f")[t] for t in labels]
    d_flat, value_flat = loss(ragged.data, numpy.concatenate(one_hot))
    d_list, value = loss(guesses, one_hot)
    assert [len(d) for d in d_list] == [len(g) for g in guesses]
    numpy.testing.assert_allclose(numpy.concatenate(d_list), d_flat)
    assert value == pytest.approx(value_flat) and loss.get_loss(guesses, one_hot) == value
    d_ragged, value_r = loss(ragged, labels)
    numpy.testing.assert_allclose(d_ragged.data, d_flat)
    assert value_r == pytest.approx(value_flat)
    assert loss([], []) [1] == 0.0


def test_count_correct_and_take():
    P = numpy.asarray([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]], dtype="f")
    T = numpy.asarray([[1, 0], [1, 0], [1, 0]], dtype="f")
    assert count_correct(P, T) == (2, 3)
    assert count_correct(Ragged(P, numpy.asarray([1, 2], dtype="i")), [T[:1], T[1:]]) == (2, 3)
    assert count_correct([], []) == (0, 0)
    with pytest.raises(ValueError, match="3 rows of predictions for 2 rows"):
        count_correct(P, T[:2])
    assert take(["a", "b", "c"], numpy.asarray([1, 1])) == ["b", "b"]
    numpy.testing.assert_array_equal(take(P, numpy.asarray([2])), P[2:])


# -------------------------------------------------------------------- loaders


def test_jsonl_loader(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a  good\\tfilm", "label": "pos"}\n\n'
                    '{"text": "bad", "label": "neg"}\n{"text": "ok then", "label": "pos"}\n'
                    '{"text": "dull", "label": "neg"}\n{"text": "fine", "label": "pos"}\n')
    tX, tY, dX, dY = jsonl_textcat(str(path), dev_fraction=0.4, seed=0)
    assert len(tX) == 3 and len(dX) == 2 and tY.shape == (3, 2) and dY.dtype == numpy.float32
    docs = {" ".join(d): y.argmax() for d, y in zip(tX + dX, list(tY) + list(dY))}
    assert docs["a good film"] == 1 and docs["bad"] == 0  # labels sorted: neg, pos
    dev = tmp_path / "dev.jsonl"
    dev.write_text('{"text": "x y", "label": "pos"}\n')
    tX, tY, dX, dY = jsonl_textcat(str(path), dev_path=str(dev))
    assert len(tX) == 5 and dX == [["x", "y"]] and dY.tolist() == [[0, 1]]
    dev.write_text('{"text": "x y", "label": "neu"}\n')  # a class the training file lacks
    with pytest.raises(DataError, match="label 'neu' is in the dev data but never in the "
                                        "training file"):
        jsonl_textcat(str(path), dev_path=str(dev))
    _, tY, _, dY = jsonl_textcat(str(path), dev_path=str(dev), labels=["pos", "neg", "neu"])
    assert tY[0].tolist() == [1, 0, 0] and dY.tolist() == [[0, 0, 1]]
    data = jsonl_textcat(str(path), dev_path=str(dev), labels=["pos", "neg", "neu"])
    assert check_training_data(data, "cfg") is not None


@pytest.mark.parametrize("line,message", [
    ('{"text": "a", "label": "x"', "not valid JSON"),
    ('["a", "x"]', "expected a JSON object"),
    ('{"txt": "a", "label": "x"}', "missing key 'text'"),
    ('{"text": 3, "label": "x"}', "\"text\" must be a string, got int"),
    ('{"text": "   ", "label": "x"}', "\"text\" has no tokens"),
    ('{"text": "a", "label": true}', "\"label\" must be a string or an int, got True"),
    ('{"text": "a", "label": 1}', "labels mix strings and ints"),
])
def test_jsonl_loader_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "one two", "label": "x"}\n{"text": "three", "label": "y"}\n'
                    + line + "\n")
    with pytest.raises(DataError, match=message) as err:
        jsonl_textcat(str(path))
    assert str(path) in str(err.value)
    if "mix" not in message:
        assert f"{path}:3:" in str(err.value)


def test_jsonl_loader_file_errors(tmp_path):
    with pytest.raises(DataError, match="data file not found"):
        jsonl_textcat(str(tmp_path / "missing.jsonl"))
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "a", "label": "x"}\n{"text": "\xff", "label": "y"}\n')
    with pytest.raises(DataError, match=rf"{path}:2: not UTF-8"):
        jsonl_textcat(str(path))
    path.write_text("\n\n")
    with pytest.raises(DataError, match="no documents"):
        jsonl_textcat(str(path))
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n')
    with pytest.raises(DataError, match="at least two classes"):
        jsonl_textcat(str(path))
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": "y"}\n')
    with pytest.raises(DataError, match=rf"{path}:2: label 'y' is not one of the labels"):
        jsonl_textcat(str(path), labels=["x", "z"])
    with pytest.raises(DataError, match="dev_fraction must be between 0 and 1"):
        jsonl_textcat(str(path), dev_fraction=1.5)
    path.write_text('{"text": "a", "label": "x"}\n')
    with pytest.raises(DataError, match="too few to split"):
        jsonl_textcat(str(path), labels=["x", "y"])


CONLLU = """\
# sent_id = 1
1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_
2\tdog\tdog\tNOUN\tNN\t_\t3\tnsubj\t_\t_
3-4\tdoesn't\t_\t_\t_\t_\t_\t_\t_\t_
3\tdoes\tdo\tAUX\tVBZ\t_\t0\troot\t_\t_
4\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_

1\tRun\trun\tVERB\tVB\t_\t0\troot\t_\t_
1.1\tgone\t_\t_\t_\t_\t_\t_\t_\t_

# sent_id = 3
1\tDogs\tdog\tNOUN\tNNS\t_\t0\troot\t_\t_
2\trun\trun\tVERB\tVBP\t_\t1\tdep\t_\t_
"""


def test_conllu_loader(tmp_path):
    path = tmp_path / "d.conllu"
    path.write_text(CONLLU)
    tX, tY, dX, dY = conllu_tagger(str(path), dev_fraction=0.3, seed=0)
    docs = tX + dX
    assert sorted(map(len, docs)) == [1, 2, 4] and ["The", "dog", "does", "n't"] in docs
    tags = dict(zip(map(tuple, docs), tY + dY))
    # UPOS sorted: AUX DET NOUN PART VERB
    assert tags[("The", "dog", "does", "n't")].argmax(axis=1).tolist() == [1, 2, 0, 3]
    assert all(y.dtype == numpy.float32 and y.shape[1] == 5 for y in tY + dY)
    _, tY, _, _ = conllu_tagger(str(path), dev_path=str(path), column="xpos")
    assert tY[0].shape == (4, 7)
    check_training_data(conllu_tagger(str(path), dev_path=str(path)), "cfg")


@pytest.mark.parametrize("line,message", [
    ("2\tcat\tcat\tNOUN\tNN", "expected 10 tab-separated CoNLL-U columns"),
    ("2 cat cat NOUN NN _ 0 root _ _", "got 1"),
    ("x\tcat\tcat\tNOUN\tNN\t_\t0\troot\t_\t_", "the ID column must be a token number"),
    ("2\tcat\tcat\t_\tNN\t_\t0\troot\t_\t_", "token 'cat' has no UPOS tag"),
    ("2\t\tcat\tNOUN\tNN\t_\t0\troot\t_\t_", "the FORM column is empty"),
])
def test_conllu_loader_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "d.conllu"
    path.write_text("1\tA\ta\tDET\tDT\t_\t0\troot\t_\t_\n" + line + "\n\n"
                    "1\tB\tb\tNOUN\tNN\t_\t0\troot\t_\t_\n")
    with pytest.raises(DataError, match=message) as err:
        conllu_tagger(str(path))
    assert f"{path}:2:" in str(err.value)


def test_conllu_loader_file_errors(tmp_path):
    path = tmp_path / "d.conllu"
    path.write_text("# only a comment\n\n")
    with pytest.raises(DataError, match="no sentences"):
        conllu_tagger(str(path))
    path.write_text(CONLLU)
    with pytest.raises(DataError, match="column must be 'upos' or 'xpos'"):
        conllu_tagger(str(path), column="deprel")


def test_check_training_data_for_documents():
    docs = [["a", "b"], ["c"]]
    tags = [numpy.eye(2, dtype="f")[[0, 1]], numpy.eye(2, dtype="f")[[1]]]
    rows = numpy.eye(2, dtype="f")
    assert check_training_data((docs, rows, docs, rows), "cfg")[0] is docs
    assert check_training_data((docs, tags, docs, tags), "cfg")[1] is tags
    cases = [
        ((docs, rows[:1], docs, rows), "train_X has 2 documents but train_Y has 1"),
        ((docs, tags, docs, [tags[0], tags[0]]), r"dev_Y\[1\] must be one-hot rows \(tokens, "
                                                 r"classes\) for the 1 tokens of dev_X\[1\]"),
        (([["a"], []], rows, docs, rows), r"train_X\[1\] must be a non-empty list of tokens"),
        (([], rows[:0], docs, rows), "gives no training documents"),
        ((docs, rows, docs, numpy.eye(3, dtype="f")[:2]), "train_Y has 2 classes, dev_Y 3"),
        ((docs, rows * 0, docs, rows), "all zero"),
        ((docs, rows, numpy.zeros((2, 2)), rows), "dev_X must be a list of documents"),
    ]
    for data, message in cases:
        with pytest.raises(DataError, match=message):
            check_training_data(data, "cfg")


def test_data_option_picks_the_text_loader():
    config = Config().from_str(TAGGER_CONFIG)
    config["data"]["column"] = "xpos"
    use_data_file(config, "corpus/train.conllu")
    assert config["data"]["@datasets"] == "conllu_tagger.v1"
    assert config["data"]["path"] == "corpus/train.conllu" and config["data"]["column"] == "xpos"
    config = Config().from_str(TAGGER_CONFIG)
    use_data_file(config, "x.jsonl")
    assert dict(config["data"]) == {"@datasets": "jsonl_textcat.v1", "path": "x.jsonl",
                                    "dev_fraction": 0.2, "seed": 0}


def test_generated_corpora_are_seeded_and_learnable():
    a = make_textcat_docs(50, seed=4)
    assert a == make_textcat_docs(50, seed=4) and a != make_textcat_docs(50, seed=5)
    docs, tags = make_tagger_docs(50, seed=4)
    assert [len(d) for d in docs] == [len(t) for t in tags]
    assert all(3 <= len(d) <= 20 for d in docs)


@pytest.mark.parametrize("kind", ["textcat", "tagger"])
def test_text_models_train_on_two_workers_as_in_this_process(tmp_path, kind, textcat_file,
                                                             tagger_file):
    """--workers was refused for documents. Each worker now takes its shard of
    every global batch of documents; at the same global batch (2 workers x 16
    = 32 documents), the accuracy is that of the in-process run within noise."""
    pytest.importorskip("ray")
    cfg = tmp_path / f"{kind}.cfg"
    cfg.write_text(TEXTCAT_CONFIG if kind == "textcat" else TAGGER_CONFIG)
    data = textcat_file if kind == "textcat" else tagger_file
    settings = {"data.path": str(data), "training.max_epochs": 3, "training.patience": 0}
    quiet = dict(show_progress=False, log=lambda line: None)
    local = train(cfg, tmp_path / "local", overrides={**settings, "training.batch_size": 32},
                  **quiet)
    ray_run = train(cfg, tmp_path / "ray", overrides={**settings, "training.batch_size": 16},
                    workers=2, **quiet)
    assert ray_run["steps"] == local["steps"], "the same number of global batches"
    print(f"{kind}: in-process {local['best_score']:.4f}, 2 workers {ray_run['best_score']:.4f}")
    assert ray_run["best_score"] > local["best_score"] - 0.05
    assert (tmp_path / "ray" / "model-best" / "model.bin").is_file()
