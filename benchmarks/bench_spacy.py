"""asv benchmarks: spaCy 3.8 pipelines on Thinc's NumpyOps and on thinc_fast's
Thinc backend (skipped where spaCy is not installed: `pip install spacy==3.8.18`
beside thinc_fast, or `asv run --python=same` in such an environment)."""
import importlib.util


def _bench_module():
    try:  # imported by asv as benchmarks.bench_spacy
        from . import spacy_bench
    except ImportError:  # imported by name, with this folder on sys.path
        import spacy_bench
    return spacy_bench


class SpacyPipes:
    """One epoch of training (batches of 32 documents) and one nlp.pipe pass over
    generated documents, per pipe and backend."""

    params = [["tagger", "textcat", "ner"], ["numpy", "thinc_fast"]]
    param_names = ["pipe", "backend"]
    timeout = 300

    def setup(self, pipe, backend):
        if importlib.util.find_spec("spacy") is None:
            raise NotImplementedError("spaCy is not installed")
        from spacy.util import minibatch

        self.sb = _bench_module()
        corpus = self.sb.make_corpus(600)
        self.nlp = self.sb.build(pipe, backend)
        self.train = self.sb.examples(self.nlp, corpus[:500], pipe)
        self.texts = [" ".join(d["words"]) for d in corpus[500:]]
        self.optimizer = self.nlp.initialize(lambda: self.train)
        self.batches = list(minibatch(self.train, size=32))

    def time_train_epoch(self, pipe, backend):
        for batch in self.batches:
            self.nlp.update(batch, sgd=self.optimizer, losses={})

    def time_pipe(self, pipe, backend):
        for _ in self.nlp.pipe(self.texts, batch_size=256):
            pass
