"""spaCy on thinc_fast's Thinc backend: the one config line makes `spacy train`
train on ThincFastOps; the pipeline it saves loads and predicts the same in a
process where thinc_fast cannot be imported; pipelines trained on either
backend agree. Runs where spaCy is installed (CI: spaCy 3.8 with Thinc 8.3)."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy
import pytest

spacy = pytest.importorskip("spacy", reason="needs spaCy (CI installs spaCy 3.8 beside Thinc 8.3)")

from thinc_fast.backends.thinc_backend import ThincFastOps, stop_thinc_fast  # noqa: E402
from thinc_fast.spacy_callbacks import use_ops_callback, use_thinc_fast  # noqa: E402

_BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "spacy_bench.py"
_spec = importlib.util.spec_from_file_location("spacy_bench", _BENCH)
spacy_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(spacy_bench)

CONFIG_LINE = 'before_init = {"@callbacks":"thinc_fast.use_ops.v1"}'

# A process in which thinc_fast is not there: its modules cannot be imported and
# its entry points (Thinc's ops, spaCy's callbacks) are not listed.
WITHOUT_THINC_FAST = textwrap.dedent('''
    import importlib.metadata as md, sys
    class _Hide:
        def find_spec(self, name, path=None, target=None):
            if name == "thinc_fast" or name.startswith("thinc_fast."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, _Hide())
    _dists = md.distributions
    def distributions(**kw):  # entry_points() lists those of these distributions
        return (d for d in _dists(**kw) if (d.metadata["Name"] or "").replace("-", "_") != "thinc_fast")
    md.distributions = distributions
''')


def test_callback_is_registered_for_spacy():
    from spacy.util import registry

    factory = registry.callbacks.get("thinc_fast.use_ops.v1")
    assert factory is use_ops_callback
    with pytest.raises(ValueError, match="num_threads must be a positive integer"):
        factory(num_threads=0)


def test_callback_moves_an_existing_pipeline():
    from thinc.api import NumpyOps, get_current_ops, set_current_ops

    set_current_ops(NumpyOps())
    try:
        nlp = spacy.blank("en")
        nlp.add_pipe("tagger")
        model = nlp.get_pipe("tagger").model
        assert not any(isinstance(node.ops, ThincFastOps) for node in model.walk())
        assert use_ops_callback()(nlp) is nlp
        assert all(isinstance(node.ops, ThincFastOps) for node in model.walk())
        assert isinstance(get_current_ops(), ThincFastOps)
    finally:
        stop_thinc_fast()


@pytest.mark.parametrize("turned_on", ["callback on the built pipeline",
                                       "use_thinc_fast(None) before building"])
def test_ner_output_layer_follows_after_resize(turned_on):
    """spaCy's NER builds its output layer under use_ops("cpu") and rebuilds it
    when it learns its labels at initialize: that layer must end up on
    ThincFastOps with the rest, whether the backend moved the built pipeline
    (the config line's callback) or was on before it was built (it stayed on
    NumpyOps there)."""
    from thinc.api import NumpyOps, set_current_ops

    set_current_ops(NumpyOps())
    try:
        if turned_on.startswith("callback"):
            nlp = spacy_bench.build("ner", "thinc_fast")
        else:
            use_thinc_fast(None)
            nlp = spacy.blank("en")
            nlp.add_pipe("ner")
        examples = spacy_bench.examples(nlp, spacy_bench.make_corpus(40, seed=1), "ner")
        nlp.initialize(lambda: examples)
        model = nlp.get_pipe("ner").model
        assert model.get_ref("upper").get_dim("nO") > 2
        assert {type(node.ops).__name__ for node in model.walk()} == {"ThincFastOps"}
    finally:
        stop_thinc_fast()


def test_trained_ner_pipeline_pickles_and_predicts_the_same():
    """A pipeline whose NER has run (its parser model keeps the backend's CBlas)
    pickles, as spaCy's nlp.pipe(n_process=...) under spawn, joblib and Ray
    need, and the copy has the same weights and predicts the same entities."""
    import pickle

    from thinc.api import NumpyOps, set_current_ops

    set_current_ops(NumpyOps())
    try:
        nlp = spacy_bench.build("ner", "thinc_fast")
        examples = spacy_bench.examples(nlp, spacy_bench.make_corpus(40, seed=2), "ner")
        nlp.initialize(lambda: examples)
        sgd = nlp.create_optimizer()
        for _ in range(6):
            for start in range(0, len(examples), 8):
                nlp.update(examples[start:start + 8], sgd=sgd)
        texts = [" ".join(t.text for t in ex.reference) for ex in examples[:6]]
        before = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
        model = nlp.get_pipe("ner").model
        assert any(getattr(node.ops, "_thinc_fast_cblas", None) is not None
                   for node in model.walk()), "the NER ran without building its CBlas"
        copy_nlp = pickle.loads(pickle.dumps(nlp))
        after = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in copy_nlp.pipe(texts)]
        assert after == before and any(before)
        copied = copy_nlp.get_pipe("ner").model
        assert {type(node.ops).__name__ for node in copied.walk()} == {"ThincFastOps"}
        for ours, theirs in zip(model.walk(), copied.walk()):
            for name in ours.param_names:
                if ours.has_param(name):
                    numpy.testing.assert_array_equal(ours.get_param(name), theirs.get_param(name))
    finally:
        stop_thinc_fast()


def _docbin(nlp, corpus, path):
    from spacy.tokens import Doc, DocBin

    db = DocBin()
    for d in corpus:
        doc = Doc(nlp.vocab, words=d["words"], tags=d["tags"])
        db.add(doc)
    db.to_disk(path)


def test_spacy_train_with_the_config_line(tmp_path):
    """`spacy init config` + the documented line + `spacy train` -> trained on
    ThincFastOps; model-last loads and tags identically without thinc_fast."""
    corpus = spacy_bench.make_corpus(160, seed=3)
    nlp = spacy.blank("en")
    _docbin(nlp, corpus[:120], tmp_path / "train.spacy")
    _docbin(nlp, corpus[120:], tmp_path / "dev.spacy")
    cfg = tmp_path / "config.cfg"
    subprocess.run([sys.executable, "-m", "spacy", "init", "config", str(cfg), "--lang", "en",
                    "--pipeline", "tagger", "--force"], check=True, capture_output=True)
    text = cfg.read_text()
    assert "\nbefore_init = null" in text.split("[initialize]")[1]
    head, tail = text.split("[initialize]")
    cfg.write_text(head + "[initialize]" + tail.replace("before_init = null", CONFIG_LINE, 1))
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "spacy", "train", str(cfg), "--output", str(out),
         "--paths.train", str(tmp_path / "train.spacy"), "--paths.dev", str(tmp_path / "dev.spacy"),
         "--training.max_steps", "40", "--training.eval_frequency", "20"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "thinc_fast: the pipeline runs on ThincFastOps" in proc.stdout + proc.stderr
    saved = (out / "model-last" / "config.cfg").read_text()
    assert "thinc_fast.use_ops.v1" in saved  # kept in [initialize], which loading skips

    texts = [" ".join(d["words"]) for d in corpus[120:]]
    predict = textwrap.dedent(f'''
        import json, sys, spacy
        nlp = spacy.load({str(out / "model-last")!r})
        if sys.argv[1] == "fast":
            from thinc_fast.spacy_callbacks import use_thinc_fast
            use_thinc_fast(nlp)
        ops = {{type(n.ops).__name__ for n in nlp.get_pipe("tagger").model.walk()}}
        docs = list(nlp.pipe({texts!r}))
        print(json.dumps({{"ops": sorted(ops), "tags": [[t.tag_ for t in d] for d in docs],
                          "scores": nlp.get_pipe("tagger").model.predict(docs[:3])[0][:2].tolist()}}))
    ''')
    runs = {}
    for label, prelude in (("plain", WITHOUT_THINC_FAST), ("fast", "")):
        res = subprocess.run([sys.executable, "-c", prelude + predict, label],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        runs[label] = json.loads(res.stdout.strip().splitlines()[-1])
    assert runs["plain"]["ops"] == ["NumpyOps"] and runs["fast"]["ops"] == ["ThincFastOps"]
    assert runs["plain"]["tags"] == runs["fast"]["tags"]
    assert sum(len(t) for t in runs["plain"]["tags"]) > 200
    numpy.testing.assert_allclose(runs["plain"]["scores"], runs["fast"]["scores"],
                                  rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pipe", ["tagger", "ner", "textcat"])
def test_pipes_train_alike_on_both_backends(pipe):
    """Same seed, same data: the first update's loss agrees to float32 rounding,
    and after two epochs the dev scores agree within noise."""
    corpus = spacy_bench.make_corpus(300, seed=5)
    train, dev = corpus[:240], corpus[240:]
    results = {}
    for backend in ("numpy", "thinc_fast"):
        nlp = spacy_bench.build(pipe, backend)
        examples = spacy_bench.examples(nlp, train, pipe)
        optimizer = nlp.initialize(lambda: examples)
        first = nlp.update(examples[:32], sgd=optimizer, losses={})
        r = spacy_bench.run_once(pipe, backend, train, dev, epochs=2)
        results[backend] = (first[pipe], r["score"])
    (loss_a, score_a), (loss_b, score_b) = results["numpy"], results["thinc_fast"]
    assert loss_b == pytest.approx(loss_a, rel=1e-4)
    assert abs(score_a - score_b) < 0.1, results


def test_same_result_on_any_thread_count():
    """A tagger trained on the backend with 1 and with 2 threads ends bit-identical."""
    from thinc_fast.backends import get_num_threads, set_num_threads

    corpus = spacy_bench.make_corpus(120, seed=9)
    before = get_num_threads()
    params = []
    try:
        for threads in (1, 2):
            set_num_threads(threads)
            nlp = spacy_bench.build("tagger", "thinc_fast")
            examples = spacy_bench.examples(nlp, corpus, "tagger")
            optimizer = nlp.initialize(lambda: examples)
            for start in range(0, len(examples), 32):
                nlp.update(examples[start:start + 32], sgd=optimizer, losses={})
            model = nlp.get_pipe("tagger").model
            params.append(numpy.concatenate([node.get_param(name).ravel()
                                             for node in model.walk()
                                             for name in node.param_names
                                             if node.has_param(name)]))
    finally:
        set_num_threads(before)
        stop_thinc_fast()
    assert params[0].size > 10000
    numpy.testing.assert_array_equal(params[0], params[1])
