"""spaCy 3.8 pipelines on Thinc's NumpyOps and on thinc_fast's Thinc backend.

    python benchmarks/spacy_bench.py --pipes tagger,textcat,ner --docs 2000 --epochs 2
    python benchmarks/compare.py --only spacy        # the same, in compare.py's report

Generated data (no download): a vocabulary of random lower-case words, each with
a fixed part-of-speech tag; documents of 8-30 words; a document's category is
the topic most of its topic words belong to; entities are one- or two-word
names (capitalised, drawn from PERSON, ORG and GPE lists) placed among the
words. Labels follow from the words, so every pipe can learn them.

For each pipe and thread count, the backends take turns, round after round, in
one process: each builds the pipe from spaCy's default config with the same
seed, trains `epochs` epochs (batches of 32 documents, spaCy's default Adam),
then runs `nlp.pipe` over the dev documents. Reported: training and `nlp.pipe`
words per second (medians over the rounds) and the dev score each reached.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from typing import Dict, List, Tuple

try:  # imported by asv as benchmarks.spacy_bench
    from .mlp_configs import TOK2VEC_GEMMS
except ImportError:  # run as a script, imported by compare.py, or loaded from its file (tests)
    _HERE = os.path.dirname(os.path.abspath(__file__))
    if _HERE not in sys.path:
        sys.path.insert(0, _HERE)
    from mlp_configs import TOK2VEC_GEMMS

TAGS = ["NOUN", "VERB", "ADJ", "ADV", "DET", "ADP", "PRON", "CCONJ", "NUM", "PART", "AUX",
        "INTJ"]
TOPICS = ["sports", "politics", "science"]
ENT_LABELS = ["PERSON", "ORG", "GPE"]
PIPES = ("tagger", "textcat", "ner", "parser")


def _word(rng: random.Random) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))


def make_corpus(n_docs: int, seed: int = 0) -> List[dict]:
    """`n_docs` generated documents: {"words", "tags", "cats", "ents" (token spans)}."""
    rng = random.Random(seed)
    vocab = sorted({_word(rng) for _ in range(3000)})
    tag_of = {w: TAGS[rng.randrange(len(TAGS))] for w in vocab}
    topic_words = {t: rng.sample(vocab, 60) for t in TOPICS}
    names = {label: sorted({_word(rng).capitalize() for _ in range(80)}) for label in ENT_LABELS}
    docs = []
    for _ in range(n_docs):
        topic = rng.choice(TOPICS)
        words, tags, ents = [], [], []
        for _ in range(rng.randint(8, 30)):
            r = rng.random()
            if r < 0.08:
                label = rng.choice(ENT_LABELS)
                start = len(words)
                for _ in range(rng.choice((1, 1, 2))):
                    words.append(rng.choice(names[label]))
                    tags.append("PROPN")
                ents.append((start, len(words), label))
            elif r < 0.25:
                w = rng.choice(topic_words[topic])
                words.append(w)
                tags.append(tag_of[w])
            else:
                w = rng.choice(vocab)
                words.append(w)
                tags.append(tag_of[w])
        cats = {t: float(t == topic) for t in TOPICS}
        docs.append({"words": words, "tags": tags, "cats": cats, "ents": ents})
    return docs


def _heads(tags: List[str]) -> Tuple[List[int], List[str]]:
    """A projective tree with arcs both ways: the middle word is the root, the
    words before it attach to their right neighbour, those after it to their left
    one; a word's label is its tag, lower-cased (so the labels are learnable)."""
    n = len(tags)
    root = n // 2
    heads = [i + 1 if i < root else i - 1 if i > root else i for i in range(n)]
    deps = [tags[i].lower() if i != root else "ROOT" for i in range(n)]
    return heads, deps


def examples(nlp, corpus: List[dict], pipe: str):
    from spacy.tokens import Doc
    from spacy.training import Example

    out = []
    for d in corpus:
        doc = Doc(nlp.vocab, words=d["words"])
        if pipe == "tagger":
            gold = {"tags": d["tags"]}
        elif pipe == "textcat":
            gold = {"cats": d["cats"]}
        elif pipe == "ner":
            tags = ["O"] * len(d["words"])
            for start, end, label in d["ents"]:
                if end - start == 1:
                    tags[start] = f"U-{label}"
                else:
                    tags[start], tags[end - 1] = f"B-{label}", f"L-{label}"
                    for i in range(start + 1, end - 1):
                        tags[i] = f"I-{label}"
            gold = {"entities": tags}
        else:
            heads, deps = _heads(d["tags"])
            gold = {"heads": heads, "deps": deps}
        out.append(Example.from_dict(doc, gold))
    return out


def build(pipe: str, backend: str):
    """A blank English pipeline with one `pipe` (spaCy's default model for it),
    on `backend`: "numpy" (Thinc's NumpyOps) or "thinc_fast" (moved there by the
    callback that the config line `[initialize] before_init` runs)."""
    import spacy
    from thinc.api import fix_random_seed

    from thinc_fast.backends.thinc_backend import stop_thinc_fast, use_thinc_fast

    stop_thinc_fast()  # Thinc's NumpyOps and Thinc's optimizer as they come
    fix_random_seed(0)
    nlp = spacy.blank("en")
    # The parser's default min_action_freq (30) also drops its unlabelled shift and
    # reduce moves when they are rarer than that in the training data (spaCy 3.7-3.8
    # arc_eager.get_actions), and the first update then fails with E1031 ("Could
    # not find gold transition"); NER's default is 1.
    nlp.add_pipe(pipe, config={"min_action_freq": 1} if pipe == "parser" else {})
    if backend == "thinc_fast":
        use_thinc_fast(nlp)  # what the config line's callback does
    return nlp


def score_of(pipe: str, scores: Dict[str, float]) -> Tuple[str, float]:
    key = {"tagger": "tag_acc", "textcat": "cats_score", "ner": "ents_f", "parser": "dep_las"}[pipe]
    return key, float(scores.get(key) or 0.0)


def run_once(pipe: str, backend: str, train: List[dict], dev: List[dict], epochs: int,
             batch: int = 32) -> Dict[str, float]:
    """Build, train and run one pipeline: words/s of training and of nlp.pipe, the dev score."""
    from spacy.util import minibatch

    nlp = build(pipe, backend)
    train_ex = examples(nlp, train, pipe)
    dev_ex = examples(nlp, dev, pipe)
    optimizer = nlp.initialize(lambda: train_ex)
    rng = random.Random(0)
    words = sum(len(d["words"]) for d in train)
    start = time.perf_counter()
    for _ in range(epochs):
        order = list(train_ex)
        rng.shuffle(order)
        for chunk in minibatch(order, size=batch):
            nlp.update(chunk, sgd=optimizer, losses={})
    train_s = time.perf_counter() - start
    texts = [ex.reference.text for ex in dev_ex]
    dev_words = sum(len(d["words"]) for d in dev)
    passes = 0
    start = time.perf_counter()
    while passes < 1 or time.perf_counter() - start < 1.0:  # >= 1 s, for a steadier rate
        for _ in nlp.pipe(texts, batch_size=256):
            pass
        passes += 1
    pipe_s = (time.perf_counter() - start) / passes
    key, score = score_of(pipe, nlp.evaluate(dev_ex))
    return {"train_wps": words * epochs / train_s, "pipe_wps": dev_words / pipe_s,
            "score": score, "score_name": key}


def gemm_table(threads: List[int], out=sys.stdout, rounds: int = 7, settle: float = 0.3) -> None:
    """GFLOP/s at spaCy's shapes: thinc_fast's gemm at each thread count, Thinc's
    NumpyOps (blis, one thread) and NumPy, as a fraction of the measured FMA peak
    of the threads each uses (NumPy: of all the threads).

    Each row waits `settle` seconds before thinc_fast's cells: after a matmul
    NumPy's OpenBLAS workers keep polling their cores for about 100 ms (2-vCPU
    Zen 5: our 2-thread gemm at 2000x288x288 ran at 250-420 GFLOP/s for the
    first 100 ms after one, 510 after), and the previous row's NumPy cell would
    otherwise be measured into this row's thinc_fast cells. The case of calls
    alternating with NumPy's is compare.py's ``gemm_mixed`` row."""
    import numpy
    from thinc.api import NumpyOps

    from thinc_fast.backends import set_num_threads
    from thinc_fast.backends.numpy_ops import fma_peak
    from thinc_fast.backends.thinc_backend import ThincFastOps

    peaks = {n: (fma_peak(n) or {}).get("gflops") for n in sorted(set(threads) | {1})}
    top = max(peaks)
    thinc, fast = NumpyOps(), ThincFastOps()
    rng = numpy.random.default_rng(0)

    def rate(fn, flops):
        fn()
        inner = max(1, int(2e9 / flops))  # about 10 ms of work per sample
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            samples.append((time.perf_counter() - start) / inner)
        return flops / statistics.median(samples) / 1e9

    print("  FMA peak: " + ", ".join(f"{n} thr {g:.0f} GFLOP/s" for n, g in peaks.items() if g),
          file=out)
    head = "".join(f"  thinc_fast {n}thr" for n in threads)
    print(f"  {'m x k x n':<18}{head}   Thinc 1thr      NumPy", file=out)
    for _, m, k, n, trans in TOK2VEC_GEMMS:
        t1, t2 = trans == "A^T", trans == "B^T"
        a = rng.standard_normal((k, m) if t1 else (m, k)).astype("float32")
        b = rng.standard_normal((n, k) if t2 else (k, n)).astype("float32")
        flops = 2.0 * m * n * k
        cells = []
        time.sleep(settle)
        for nt in threads:
            set_num_threads(nt)
            g = rate(lambda: fast.gemm(a, b, trans1=t1, trans2=t2), flops)
            cells.append(f"{g:>6.0f} ({g / peaks[nt]:>4.0%})" if peaks.get(nt) else f"{g:>6.0f}")
        set_num_threads(max(threads))
        g_thinc = rate(lambda: thinc.gemm(a, b, trans1=t1, trans2=t2), flops)
        g_numpy = rate(lambda: (a.T if t1 else a) @ (b.T if t2 else b), flops)
        label = f"{m}x{k}x{n}" + (" A^T" if t1 else " B^T" if t2 else "")
        thinc_cell = f"{g_thinc:>6.0f} ({g_thinc / peaks[1]:>4.0%})" if peaks.get(1) else f"{g_thinc:>6.0f}"
        numpy_cell = f"{g_numpy:>6.0f} ({g_numpy / peaks[top]:>4.0%})" if peaks.get(top) else f"{g_numpy:>6.0f}"
        print(f"  {label:<18}" + "".join(f"  {c:>14}" for c in cells)
              + f"  {thinc_cell:>14} {numpy_cell:>14}", file=out, flush=True)
    set_num_threads(None)


def compare(pipes: List[str], threads: List[int], n_docs: int, epochs: int, rounds: int,
            out=sys.stdout) -> List[dict]:
    """The table rows: per pipe and thread count, medians per backend and the ratios."""
    from thinc_fast.backends import set_num_threads

    corpus = make_corpus(n_docs + n_docs // 4)
    train, dev = corpus[:n_docs], corpus[n_docs:]
    rows = []
    for pipe in pipes:
        for n in threads:
            set_num_threads(n)
            got: Dict[str, List[Dict[str, float]]] = {"numpy": [], "thinc_fast": []}
            for _ in range(rounds):
                for backend in got:
                    got[backend].append(run_once(pipe, backend, train, dev, epochs))
            med = {b: {k: statistics.median(r[k] for r in rs) for k in ("train_wps", "pipe_wps",
                                                                          "score")}
                   for b, rs in got.items()}
            row = {"pipe": pipe, "threads": n, "numpy": med["numpy"],
                   "thinc_fast": med["thinc_fast"], "score_name": got["numpy"][0]["score_name"],
                   "train_ratio": med["thinc_fast"]["train_wps"] / med["numpy"]["train_wps"],
                   "pipe_ratio": med["thinc_fast"]["pipe_wps"] / med["numpy"]["pipe_wps"]}
            rows.append(row)
            print(f"  {pipe:<8} {n} thr | train w/s NumpyOps {med['numpy']['train_wps']:>8.0f} "
                  f"thinc_fast {med['thinc_fast']['train_wps']:>8.0f} ({row['train_ratio']:.2f}x) | "
                  f"pipe w/s {med['numpy']['pipe_wps']:>8.0f} {med['thinc_fast']['pipe_wps']:>8.0f} "
                  f"({row['pipe_ratio']:.2f}x) | {row['score_name']} "
                  f"{med['numpy']['score']:.3f} / {med['thinc_fast']['score']:.3f}",
                  file=out, flush=True)
    set_num_threads(None)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipes", default="tagger,textcat,ner,parser")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    pipes = [p for p in args.pipes.split(",") if p]
    for p in pipes:
        if p not in PIPES:
            parser.error(f"unknown pipe {p!r}; choose from {', '.join(PIPES)}")
    threads = [int(t) for t in args.threads.split(",")]
    print("gemm at spaCy's tok2vec shapes, GFLOP/s (fraction of the FMA peak of the threads used)")
    gemm_table(threads)
    print("pipelines (words/s, ratio thinc_fast / NumpyOps; dev score NumpyOps / thinc_fast)")
    compare(pipes, threads, args.docs, args.epochs, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
