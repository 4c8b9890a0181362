"""Text data for the trainer: documents as lists of tokens (split on whitespace).

Two loaders a config's ``[data]`` block can name:

- ``jsonl_textcat.v1``: a ``.jsonl`` file, one ``{"text": ..., "label": ...}``
  object a line, for a text classifier. X: a list of token lists; Y: one-hot
  float32 rows (documents, classes).
- ``conllu_tagger.v1``: a ``.conllu`` file (CoNLL-U: one token a line, ten
  tab-separated columns, sentences separated by blank lines, ``#`` comments),
  for a tagger. X: a list of token lists (the FORM column); Y: a list of one-hot
  float32 arrays (tokens, tags), one per sentence.

Both return ``(train_X, train_Y, dev_X, dev_Y)``, from ``dev_path`` when given,
else a seeded ``dev_fraction`` of the documents. Classes are the sorted labels
of both files unless ``labels`` names them (in their column order). Bad input
raises :class:`~thinc_fast.errors.DataError` naming the file and the line.
:func:`label_names` gives the class names a ``[data]`` section's loader uses
(column i of Y is ``names[i]``; ``thinc-fast train`` records them in the run's
config), and :func:`read_labelled` reads a whole file for evaluation, encoded
with a trained model's labels.
:func:`check_text_data` checks what a loader gave before training starts (the
trainer calls it through ``check_training_data`` when X is a list).

``make_textcat_docs`` and ``make_tagger_docs`` generate small synthetic corpora
(for tests and benchmarks: no corpus is shipped or downloaded), and
``write_jsonl`` / ``write_conllu`` write them in the loaders' formats.

    >>> X, labels = make_textcat_docs(4, n_classes=2, seed=0)
    >>> len(X), all(isinstance(word, str) for doc in X for word in doc)
    (4, True)
"""
import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy

from .._builtins import builtin
from ..errors import DataError

Docs = List[List[str]]
Label = Union[str, int]
TextDataT = Tuple[Docs, Any, Docs, Any]

__all__ = ["jsonl_textcat", "conllu_tagger", "read_jsonl", "read_conllu", "read_labelled",
           "check_text_data", "make_textcat_docs", "make_tagger_docs", "write_jsonl",
           "write_conllu", "label_names", "TEXT_LOADERS"]

# file suffix -> the loader ``--data FILE`` uses for it
TEXT_LOADERS = {".jsonl": "jsonl_textcat.v1", ".conllu": "conllu_tagger.v1"}
CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")


# ------------------------------------------------------------------ loaders


@builtin("datasets", "jsonl_textcat.v1")
def jsonl_textcat(path: str, dev_path: Optional[str] = None, dev_fraction: float = 0.2,
                  seed: int = 0, labels: Optional[List[Label]] = None) -> TextDataT:
    """Documents and labels for a text classifier from a ``.jsonl`` file: one
    JSON object a line with a string ``"text"`` (split on whitespace) and a
    ``"label"`` (a string or an int). Blank lines are skipped. Y is one-hot
    float32 (documents, classes) over `labels` (default: the sorted labels of
    the file and of `dev_path`)."""
    train_docs, train_labels, train_where = read_jsonl(path)
    dev = read_jsonl(dev_path) if dev_path is not None else None
    names = _label_names(labels, [(train_labels, train_where)]
                         + ([(dev[1], dev[2])] if dev else []), str(path))
    index = {name: i for i, name in enumerate(names)}
    train_Y = _one_hot([index[label] for label in train_labels], len(names))
    if dev is not None:
        dev_Y = _one_hot([index[label] for label in dev[1]], len(names))
        return train_docs, train_Y, dev[0], dev_Y
    tX, tY, dX, dY = _split_docs(train_docs, list(train_Y), dev_fraction, seed, str(path))
    return tX, numpy.asarray(tY, dtype="float32").reshape(-1, len(names)), dX, \
        numpy.asarray(dY, dtype="float32").reshape(-1, len(names))


@builtin("datasets", "conllu_tagger.v1")
def conllu_tagger(path: str, dev_path: Optional[str] = None, dev_fraction: float = 0.2,
                  seed: int = 0, column: str = "upos",
                  labels: Optional[List[Label]] = None) -> TextDataT:
    """Sentences and their tags for a tagger from a ``.conllu`` file: each
    token's FORM and its tag from `column` (``"upos"`` or ``"xpos"``). Y is a
    list of one-hot float32 arrays (tokens, tags) over `labels` (default: the
    sorted tags of the file and of `dev_path`)."""
    if column not in ("upos", "xpos"):
        raise DataError(f"conllu_tagger: column must be 'upos' or 'xpos', got {column!r}")
    train_docs, train_tags, train_where = read_conllu(path, column)
    dev = read_conllu(dev_path, column) if dev_path is not None else None
    flat = [tag for tags in train_tags for tag in tags]
    parts = [(flat, [w for ws in train_where for w in ws])]
    if dev is not None:
        parts.append(([t for ts in dev[1] for t in ts], [w for ws in dev[2] for w in ws]))
    names = _label_names(labels, parts, str(path))
    index = {name: i for i, name in enumerate(names)}

    def encode(tag_lists: List[List[Label]]) -> List[numpy.ndarray]:
        return [_one_hot([index[t] for t in tags], len(names)) for tags in tag_lists]

    train_Y = encode(train_tags)
    if dev is not None:
        return train_docs, train_Y, dev[0], encode(dev[1])
    return _split_docs(train_docs, train_Y, dev_fraction, seed, str(path))


def label_names(section: Mapping[str, Any]) -> List[Label]:
    """The class names, in the order of Y's columns, that the text loader of a
    ``[data]`` section (``jsonl_textcat.v1`` or ``conllu_tagger.v1``, with its
    ``path``, ``dev_path``, ``labels`` and the tagger's ``column``) uses: its
    ``labels`` when set, else the sorted labels of its files, which are read
    for that. DataError as the loader gives it for a file it cannot read."""
    loader, path, dev_path = section.get("@datasets"), section.get("path"), section.get("dev_path")
    labels = section.get("labels")
    if labels is not None:
        return list(labels)
    files = [file for file in (path, dev_path) if file is not None]
    if loader == "jsonl_textcat.v1":
        parts = [read_jsonl(file)[1:] for file in files]
    elif loader == "conllu_tagger.v1":
        column = section.get("column", "upos")
        if column not in ("upos", "xpos"):
            raise DataError(f"conllu_tagger: column must be 'upos' or 'xpos', got {column!r}")
        parts = []
        for file in files:
            _, tags, where = read_conllu(file, column)
            parts.append(([t for ts in tags for t in ts], [w for ws in where for w in ws]))
    else:
        raise ValueError(f"label_names: [data] {loader!r} is not a text loader "
                         f"({', '.join(TEXT_LOADERS.values())})")
    return _label_names(None, parts, str(path))


def read_labelled(path: Any, labels: Sequence[Label], column: str = "upos"
                  ) -> Tuple[Docs, Any]:
    """Every document of a ``.jsonl`` (text classification) or ``.conllu``
    (tagging, tags from `column`) file, with Y one-hot over `labels`, a trained
    model's classes in its column order: what ``thinc-fast evaluate RUN FILE``
    scores. No dev split. A label that is not one of `labels` (the model never
    saw it) raises DataError naming the file, the line and the label, with how
    many examples (documents, or tokens) of the file have such labels."""
    names = list(labels)
    index = {name: i for i, name in enumerate(names)}
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        docs, found, where = read_jsonl(path)
        _check_known(found, where, index, names, "documents", "Remove those documents")
        return docs, _one_hot([index[label] for label in found], len(names))
    if suffix == ".conllu":
        if column not in ("upos", "xpos"):
            raise DataError(f"{path}: column must be 'upos' or 'xpos', got {column!r}")
        docs, tags, places = read_conllu(path, column)
        _check_known([t for ts in tags for t in ts], [w for ws in places for w in ws], index,
                     names, "tokens", "Correct those tags (or remove their sentences)")
        return docs, [_one_hot([index[t] for t in ts], len(names)) for ts in tags]
    raise DataError(f"{path}: expected a .jsonl (text classification) or .conllu (tagging) "
                    f"file, got {suffix or 'no suffix'}")


def _check_known(found: List[Label], where: List[str], index: Dict[Label, int],
                 names: List[Label], what: str, fix: str) -> None:
    unknown: Dict[Label, int] = {}
    first: Optional[Tuple[Label, str]] = None
    for label, place in zip(found, where):
        if label not in index:
            unknown[label] = unknown.get(label, 0) + 1
            first = first or (label, place)
    if first is None:
        return
    counts = ", ".join(f"{label!r} ({n})" for label, n in sorted(unknown.items(), key=str))
    total = sum(unknown.values())
    raise DataError(f"{first[1]}: label {first[0]!r} is not one of the model's labels {names} "
                    f"(it never saw it in training); {total} of the file's {len(found)} {what} "
                    f"{'has a label' if total == 1 else 'have labels'} outside them: {counts}. "
                    f"{fix}, or train a model "
                    "that includes those labels (list them in [data] labels of its config).")


# ------------------------------------------------------------------ readers


MAX_DOC_CHARS = 1_000_000  # a document longer than this is refused (spaCy's default limit)


def _open_lines(path: Any) -> Tuple[Path, List[str]]:
    """The file's lines, split at "\\n" only ("\\r\\n" too): JSON strings may hold
    U+2028, U+2029, U+0085 and other characters ``str.splitlines`` breaks at.
    A UTF-8 byte-order mark at the start is dropped."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"data file not found: {file}")
    try:
        with open(file, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError as err:
        line = file.read_bytes()[:err.start].count(b"\n") + 1
        raise DataError(f"{file}:{line}: not UTF-8 text ({err.reason} at byte {err.start})") \
            from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return file, [line[:-1] if line.endswith("\r") else line for line in lines]


def _too_long(at: str, n_chars: int, what: str) -> DataError:
    return DataError(f"{at}: {what} has {n_chars:,} characters, more than the {MAX_DOC_CHARS:,} a "
                     "document may have (its arrays would take memory out of proportion to the "
                     "model); split it into smaller documents")


def read_jsonl(path: Any) -> Tuple[Docs, List[Label], List[str]]:
    """(token lists, labels, ``file:line`` of each) of a ``.jsonl`` file."""
    file, lines = _open_lines(path)
    docs: Docs = []
    labels: List[Label] = []
    where: List[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        at = f"{file}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{at}: not valid JSON ({err.msg}, column {err.colno})") from None
        except RecursionError:
            raise DataError(f"{at}: the JSON is nested too deeply to read (expected one flat "
                            "object: {\"text\": ..., \"label\": ...})") from None
        except ValueError as err:  # e.g. an integer of more digits than Python converts
            raise DataError(f"{at}: a value cannot be read ({err})") from None
        if not isinstance(record, dict):
            raise DataError(f"{at}: expected a JSON object with \"text\" and \"label\", got "
                            f"{type(record).__name__}")
        for key in ("text", "label"):
            if key not in record:
                raise DataError(f"{at}: missing key {key!r} (keys: {sorted(record)})")
        text, label = record["text"], record["label"]
        if not isinstance(text, str):
            raise DataError(f"{at}: \"text\" must be a string, got {type(text).__name__}")
        if len(text) > MAX_DOC_CHARS:
            raise _too_long(at, len(text), "\"text\"")
        tokens = text.split()
        if not tokens:
            raise DataError(f"{at}: \"text\" has no tokens (it is empty or only whitespace)")
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise DataError(f"{at}: \"label\" must be a string or an int, got {label!r}")
        docs.append(tokens)
        labels.append(label)
        where.append(at)
    if not docs:
        raise DataError(f"{file}: no documents (expected one JSON object a line, e.g. "
                        "{\"text\": \"a good film\", \"label\": \"pos\"})")
    return docs, labels, where


def read_conllu(path: Any, column: str = "upos"
                ) -> Tuple[Docs, List[List[Label]], List[List[str]]]:
    """(token lists, tag lists, ``file:line`` of each token) of a CoNLL-U file.
    Multiword-token lines (``1-2``) and empty nodes (``1.1``) are skipped."""
    file, lines = _open_lines(path)
    col = CONLLU_COLUMNS.index(column)
    docs: Docs = []
    tags: List[List[Label]] = []
    where: List[List[str]] = []
    words: List[str] = []
    sent_tags: List[Label] = []
    sent_where: List[str] = []

    def end_sentence() -> None:
        if sum(len(word) for word in words) > MAX_DOC_CHARS:
            raise _too_long(sent_where[0], sum(len(word) for word in words),
                            f"the sentence starting here ({len(words):,} tokens)")
        if words:
            docs.append(list(words))
            tags.append(list(sent_tags))
            where.append(list(sent_where))
        words.clear()
        sent_tags.clear()
        sent_where.clear()

    for number, line in enumerate(lines, 1):
        at = f"{file}:{number}"
        if not line.strip():
            end_sentence()
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise DataError(f"{at}: expected 10 tab-separated CoNLL-U columns (ID FORM LEMMA "
                            f"UPOS XPOS FEATS HEAD DEPREL DEPS MISC), got {len(fields)}")
        token_id = fields[0]
        if "-" in token_id or "." in token_id:
            continue  # multiword token or empty node: not a token of the sentence
        if not token_id.isdigit():
            raise DataError(f"{at}: the ID column must be a token number, got {token_id!r}")
        form, tag = fields[1], fields[col]
        if not form or form.isspace():
            raise DataError(f"{at}: the FORM column is empty")
        if tag in ("", "_"):
            raise DataError(f"{at}: token {form!r} has no {column.upper()} tag "
                            f"(column {col + 1} is {tag!r})")
        words.append(form)
        sent_tags.append(tag)
        sent_where.append(at)
    end_sentence()
    if not docs:
        raise DataError(f"{file}: no sentences (expected CoNLL-U: one token a line, 10 "
                        "tab-separated columns, a blank line after each sentence)")
    return docs, tags, where


def _label_names(labels: Optional[Sequence[Label]], parts: List[Tuple[List[Label], List[str]]],
                 where: str) -> List[Label]:
    """The class names: `labels` when given (every label found must be one of
    them), else the sorted labels of the training file, ``parts[0]`` (strings
    and ints are not mixed). A label of a dev file (the other parts) that the
    training file never has is an error at its line: as a class, it would be
    one the model is never trained on."""
    if labels is not None:
        names = list(labels)
        if len(set(names)) != len(names):
            raise DataError(f"{where}: labels {names} name a class twice")
        known = set(names)
        for found, at in parts:
            for label, place in zip(found, at):
                if label not in known:
                    raise DataError(f"{place}: label {label!r} is not one of the labels {names}")
        return names
    seen: Dict[Label, str] = {}
    for found, at in parts[:1]:
        for label, place in zip(found, at):
            seen.setdefault(label, place)
    for found, at in parts[1:]:
        for label, place in zip(found, at):
            if label not in seen:
                raise DataError(f"{place}: label {label!r} is in the dev data but never in the "
                                f"training file {where} (its labels: {sorted(seen, key=str)}), "
                                "so the model could not learn it; remove those documents, or "
                                "list every class in [data] labels")
    kinds = {type(label) for label in seen}
    if len(kinds) > 1:
        first = {kind: next(p for lab, p in seen.items() if type(lab) is kind) for kind in kinds}
        raise DataError(f"{where}: labels mix strings and ints (a string at {first[str]}, an "
                        f"int at {first[int]}); use one kind")
    names = sorted(seen)
    if len(names) < 2:
        raise DataError(f"{where}: every example has the label {names[0]!r}: a classifier "
                        "needs at least two classes")
    return names


def _one_hot(indices: Sequence[int], n_classes: int) -> numpy.ndarray:
    Y = numpy.zeros((len(indices), n_classes), dtype="float32")
    Y[numpy.arange(len(indices)), numpy.asarray(indices, dtype="int64")] = 1.0
    return Y


def _split_docs(docs: Docs, Y: List[Any], dev_fraction: float, seed: int, where: str
                ) -> Tuple[Docs, List[Any], Docs, List[Any]]:
    from . import _dev_split  # the seeded split of the dense loaders

    def too_few(n_dev: int) -> str:
        return (f"{where} has {len(docs)} document{'s' if len(docs) != 1 else ''}: too "
                f"few to split into training and dev documents (dev_fraction "
                f"{dev_fraction} takes {n_dev}). Add documents, or give a dev file as "
                "dev_path.")

    train, dev = _dev_split(len(docs), dev_fraction, seed, too_few)
    return ([docs[i] for i in train], [Y[i] for i in train],
            [docs[i] for i in dev], [Y[i] for i in dev])


# ------------------------------------------------------------------ checks


def check_text_data(data: Any, where: str) -> TextDataT:
    """What a text loader returned, checked before training starts: X lists of
    token lists (strings, or arrays of ids), each non-empty; Y one-hot rows,
    either an array (documents, classes) or a list with one (tokens, classes)
    array per document; the same classes in training and dev data."""
    from . import _check_targets  # the array checks of the dense loaders

    try:
        train_X, train_Y, dev_X, dev_Y = data
    except (TypeError, ValueError):
        raise DataError(f"{where}: [data] must give (train_X, train_Y, dev_X, dev_Y)") from None
    widths = []
    for split, (xn, X), (yn, Y) in (("training", ("train_X", train_X), ("train_Y", train_Y)),
                                   ("dev", ("dev_X", dev_X), ("dev_Y", dev_Y))):
        if not isinstance(X, (list, tuple)):
            raise DataError(f"{where}: [data] {xn} must be a list of documents like train_X, "
                            f"got {type(X).__name__}")
        if len(X) == 0:
            raise DataError(f"{where}: [data] gives no {split} documents")
        if len(Y) != len(X):
            raise DataError(f"{where}: [data] {xn} has {len(X)} documents but {yn} has {len(Y)}")
        for i, doc in enumerate(X):
            if isinstance(doc, str) or not hasattr(doc, "__len__") or len(doc) == 0:
                raise DataError(f"{where}: [data] {xn}[{i}] must be a non-empty list of tokens, "
                                f"got {doc!r:.60}")
        if hasattr(Y, "shape"):
            if len(Y.shape) != 2:
                raise DataError(f"{where}: [data] {yn} must be one-hot rows (documents, "
                                f"classes), got shape {tuple(Y.shape)}")
            _check_targets(numpy.asarray(Y), f"{where}: [data] {yn} ({split} documents)")
            widths.append(int(Y.shape[1]))
            continue
        width = None
        for i, (doc, y) in enumerate(zip(X, Y)):
            shape = tuple(getattr(y, "shape", ()))
            if len(shape) != 2 or shape[0] != len(doc):
                raise DataError(f"{where}: [data] {yn}[{i}] must be one-hot rows (tokens, "
                                f"classes) for the {len(doc)} tokens of {xn}[{i}], got "
                                f"{type(y).__name__} {shape}")
            if width is not None and shape[1] != width:
                raise DataError(f"{where}: [data] {yn}[{i}] has {shape[1]} classes, "
                                f"{yn}[0] {width}")
            width = shape[1]
            _check_targets(numpy.asarray(y), f"{where}: [data] {yn}[{i}] ({split} documents)")
        widths.append(int(width))
    if widths[0] != widths[1]:
        raise DataError(f"{where}: [data] train_Y has {widths[0]} classes, dev_Y {widths[1]}")
    return train_X, train_Y, dev_X, dev_Y


# ------------------------------------------------------- synthetic corpora


def _vocab(rng: numpy.random.Generator, n: int, prefix: str) -> List[str]:
    letters = numpy.array(list("abcdefghijklmnopqrstuvwxyz"))
    return [prefix + "".join(rng.choice(letters, size=int(rng.integers(3, 8)))) + str(i)
            for i in range(n)]


def make_textcat_docs(n_docs: int, *, n_classes: int = 3, seed: int = 0,
                      min_len: int = 5, max_len: int = 30, n_common: int = 400,
                      n_cue: int = 20, cue_rate: float = 0.15
                      ) -> Tuple[Docs, List[str]]:
    """`n_docs` documents of `min_len`..`max_len` tokens and their labels
    (``"class0"``...). Each class has `n_cue` cue words; a document's tokens are
    common words, each replaced by one of its class's cues with probability
    `cue_rate` (at least one cue per document), so a bag-of-words model can
    learn the labels and chance is ``1 / n_classes``."""
    rng = numpy.random.default_rng(seed)
    common = _vocab(rng, n_common, "w")
    cues = [_vocab(rng, n_cue, f"c{c}") for c in range(n_classes)]
    docs: Docs = []
    labels: List[str] = []
    for _ in range(n_docs):
        label = int(rng.integers(n_classes))
        length = int(rng.integers(min_len, max_len + 1))
        words = [common[i] for i in rng.integers(n_common, size=length)]
        hits = rng.random(length) < cue_rate
        hits[int(rng.integers(length))] = True
        for i in numpy.flatnonzero(hits):
            words[i] = cues[label][int(rng.integers(n_cue))]
        docs.append(words)
        labels.append(f"class{label}")
    return docs, labels


def make_tagger_docs(n_docs: int, *, n_tags: int = 5, seed: int = 0, min_len: int = 3,
                     max_len: int = 20, n_words: int = 300, ambiguous: float = 0.2
                     ) -> Tuple[Docs, List[List[str]]]:
    """`n_docs` sentences and their tags (``"T0"``...). Each word has a tag of
    its own, but `ambiguous` of the words take the tag after their left
    neighbour's instead (sentence-initial: ``T0``), so the context window is
    needed for those; the majority tag is near ``1 / n_tags`` of the tokens."""
    rng = numpy.random.default_rng(seed)
    words = _vocab(rng, n_words, "t")
    own = rng.integers(n_tags, size=n_words)
    is_ambiguous = rng.random(n_words) < ambiguous
    docs: Docs = []
    tags: List[List[str]] = []
    for _ in range(n_docs):
        length = int(rng.integers(min_len, max_len + 1))
        ids = rng.integers(n_words, size=length)
        sent_tags = []
        for pos, w in enumerate(ids):
            if is_ambiguous[w]:
                tag = (int(own[ids[pos - 1]]) + 1) % n_tags if pos else 0
            else:
                tag = int(own[w])
            sent_tags.append(f"T{tag}")
        docs.append([words[w] for w in ids])
        tags.append(sent_tags)
    return docs, tags


def write_jsonl(path: Any, docs: Sequence[Sequence[str]], labels: Sequence[Label]) -> Path:
    """Write documents and labels as the ``.jsonl`` that ``jsonl_textcat.v1`` reads."""
    file = Path(path)
    with file.open("w", encoding="utf8") as out:
        for doc, label in zip(docs, labels):
            out.write(json.dumps({"text": " ".join(doc), "label": label}) + "\n")
    return file


def write_conllu(path: Any, docs: Sequence[Sequence[str]],
                 tags: Sequence[Sequence[str]]) -> Path:
    """Write sentences and tags as the CoNLL-U that ``conllu_tagger.v1`` reads
    (tags in UPOS; the other columns ``_``)."""
    file = Path(path)
    with file.open("w", encoding="utf8") as out:
        for n, (doc, sent_tags) in enumerate(zip(docs, tags), 1):
            out.write(f"# sent_id = {n}\n")
            for i, (word, tag) in enumerate(zip(doc, sent_tags), 1):
                out.write(f"{i}\t{word}\t_\t{tag}\t_\t_\t_\t_\t_\t_\n")
            out.write("\n")
    return file
