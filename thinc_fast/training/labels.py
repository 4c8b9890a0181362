"""The label names of text models: recorded when a run trains, read back with
the model, used to name predictions and to score evaluation files.

A text loader (``jsonl_textcat.v1``, ``conllu_tagger.v1``) encodes labels as
the columns of one-hot rows, in the order of its ``labels`` setting or else
sorted (:func:`~thinc_fast.datasets.text.label_names`). :func:`record_labels`
writes that list into ``[data] labels`` of the config the run saves
(``RUN/config.cfg`` and each model folder's), so the column order is fixed
for ``--resume``, for ``evaluate`` and for anyone loading the model:

- :func:`load_labels` reads them back from a run or model folder;
- :func:`predict_labels` names a model's predictions (a label per document
  for a classifier, a label per token for a tagger);
- :func:`text_eval_data` reads a ``.jsonl`` / ``.conllu`` file with the
  model's own labels (``thinc-fast evaluate RUN FILE``).

Run folders saved before label names were recorded still load: their labels
are the sorted labels of the training files, which :func:`load_labels`
recovers from those files when they are still there (with a warning saying
so), else it warns and returns None.
"""
import warnings
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy

from ..config import Config
from ..datasets.text import TEXT_LOADERS, Label, label_names, read_labelled
from ..errors import DataError, UserError
from ..model import Model
from ..types import Ragged
from .config import load_config
from .output import find_model_dir

__all__ = ["record_labels", "load_labels", "predict_labels", "text_eval_data"]

_KINDS = {"jsonl_textcat.v1": ("a text classifier", ".jsonl"),
          "conllu_tagger.v1": ("a tagger", ".conllu")}
_ARRAY_LOADERS = ("npz.v1", "digits.v1")


def record_labels(config: Config) -> None:
    """Write the class names of a text loader's data (in Y's column order)
    into the config's ``[data] labels``, for the run to save with its config.
    Unless they are set already, the training files are read again for them.
    A loader other than the text ones (arrays): nothing."""
    section = config.get("data")
    if not isinstance(section, dict) or section.get("@datasets") not in _KINDS \
            or section.get("labels") is not None:
        return
    section["labels"] = label_names(config.interpolate()["data"])


def load_labels(path: Any) -> Optional[List[Label]]:
    """The label names of the model in `path` (a run folder: its model-best,
    else its model-last; or a model folder), in the order of the columns of
    ``model.predict``: a classifier's per document, a tagger's per token.
    None for a model trained on arrays (its classes are the integers 0..n-1).

    A text model saved before label names were recorded: they are recovered
    from the training files its config names (their sorted labels, the order
    the model was trained with if the files have not changed), with a
    warning; when those files cannot be read, a warning and None."""
    folder = find_model_dir(Path(path))
    where = folder / "config.cfg"
    config = load_config(where, {})
    section = config.get("data") or {}
    labels = section.get("labels")
    if labels is not None:
        if not isinstance(labels, list) or not labels:
            raise UserError(f"{where}: [data] labels must be a list of label names, got "
                            f"{labels!r}")
        return list(labels)
    if section.get("@datasets") not in _KINDS:
        return None
    note = (f"{where} records no label names (the run was saved before thinc_fast recorded "
            "them); model.predict's columns are the sorted labels of its training files")
    try:
        labels = label_names(config.interpolate()["data"])
    except (DataError, OSError, ValueError, TypeError) as err:
        warnings.warn(f"{note}, which cannot be read to recover them: {err}. Add them to "
                      f"[data] of {where} as labels = [...] (sorted), or train again",
                      stacklevel=2)
        return None
    warnings.warn(f"{note}: {labels}, read from {section.get('path')} now (right if the files "
                  "have not changed since). Training again records them", stacklevel=2)
    return labels


def predict_labels(model: Model, docs: Sequence[Union[str, Sequence[str]]],
                   labels: Sequence[Label]) -> List[Any]:
    """The predicted label names of a text model: a classifier gives one label
    per document, a tagger a list of labels per document (one per token).
    `docs`: token lists, or strings (split on whitespace, as the loaders
    split the training text). `labels`: the model's label names
    (:func:`load_labels`). ``model.predict(docs)`` gives the probabilities."""
    if labels is None:
        raise TypeError("predict_labels needs the model's label names: labels = "
                        "load_labels(RUN) (None for a run saved without them: see its warning)")
    names = list(labels)
    tokens = []
    for i, doc in enumerate(docs):
        words = doc.split() if isinstance(doc, str) else list(doc)
        if not words or not all(isinstance(w, str) for w in words):
            raise ValueError(f"document {i} must be a non-empty string or list of token "
                             f"strings, got {doc!r:.60}")
        tokens.append(words)
    if not tokens:
        return []
    P = model.predict(tokens)
    if isinstance(P, Ragged):
        rows = model.ops.to_numpy(P.data)
        ends = numpy.cumsum(model.ops.to_numpy(P.lengths))
        P = numpy.split(rows, ends[:-1])
    if isinstance(P, (list, tuple)):  # a tagger: one array (tokens, classes) per document
        return [[names[i] for i in _best(model, p, names)] for p in P]
    return [names[i] for i in _best(model, P, names)]


def _best(model: Model, P: Any, names: List[Label]) -> List[int]:
    P = model.ops.to_numpy(P)
    if P.ndim != 2 or P.shape[1] != len(names):
        raise ValueError(f"the model predicts {P.shape[-1] if P.ndim else 0} columns but "
                         f"{len(names)} labels were given ({names})")
    return P.argmax(axis=1).tolist()


def text_eval_data(folder: Path, path: Path, model: Model
                   ) -> Tuple[List[List[str]], Any, List[Label]]:
    """(docs, one-hot Y, labels) of the evaluation file `path` (``.jsonl`` or
    ``.conllu``) for the model in `folder`: read as training reads it, encoded
    with the model's labels. UserError when the file's kind does not fit the
    model; DataError for a label the model never saw (file, line, label)."""
    suffix = Path(path).suffix.lower()
    loader = TEXT_LOADERS.get(suffix)
    if loader is None:
        raise UserError(f"{path}: expected a .jsonl or .conllu file")
    where = folder / "config.cfg"
    section = load_config(where, {}).get("data") or {}
    trained = section.get("@datasets")
    kind, wanted = _KINDS[loader]
    if trained in _KINDS and trained != loader:
        raise UserError(f"{path} is {kind}'s data ({suffix}), but the model in {folder} is "
                        f"{_KINDS[trained][0]} ([data] {trained} in {where}): evaluate it on a "
                        f"{_KINDS[trained][1]} file")
    if trained in _ARRAY_LOADERS:
        raise UserError(f"{path} is text data ({suffix}), but the model in {folder} was trained "
                        f"on arrays ([data] {trained} in {where}): evaluate it on an .npz file")
    labels = load_labels(folder)
    if labels is None:
        raise UserError(f"{folder}: the model's label names are not known (none recorded in "
                        f"{where}, and its training data cannot be read), so {path} cannot be "
                        "matched to its columns. Add labels = [...] to [data] in "
                        f"{where}, in the order the model was trained with (the sorted labels "
                        "of its training files), or train again")
    X, Y = read_labelled(path, labels, column=section.get("column", "upos"))
    width = model.ops.to_numpy(_first(model.predict(X[:1]))).shape[-1]
    if width != len(labels):
        raise UserError(f"{folder}: the model predicts {width} columns but {where} names "
                        f"{len(labels)} labels ({labels})")
    return X, Y, labels


def _first(P: Any) -> Any:
    if isinstance(P, Ragged):
        return P.data
    return P[0] if isinstance(P, (list, tuple)) else P
