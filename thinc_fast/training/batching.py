"""What the loop needs to batch and score data that is not one array.

Training data is either arrays (rows are examples) or lists (one entry per
document: token lists as X; one-hot rows per document, or one (tokens,
classes) array per document, as Y). :func:`take` selects examples from
either; :func:`count_correct` scores predictions of either form, counting
rows: documents for a classifier, tokens for a tagger.

    >>> import numpy
    >>> take([["a"], ["b", "c"], ["d"]], numpy.asarray([2, 0]))
    [['d'], ['a']]
    >>> P = [numpy.asarray([[0.9, 0.1], [0.2, 0.8]]), numpy.asarray([[0.3, 0.7]])]
    >>> T = [numpy.asarray([[1.0, 0.0], [1.0, 0.0]]), numpy.asarray([[0.0, 1.0]])]
    >>> count_correct(P, T)
    (2, 3)
"""
from typing import Any, Tuple

import numpy

from ..backends import get_array_ops
from ..data import take
from ..types import Ragged

__all__ = ["take", "count_correct", "check_fit", "fit_hint"]


def _rows(X: Any) -> Any:
    """The rows of `X` as one 2d array: an array itself, a Ragged's data, a
    list of arrays joined."""
    if isinstance(X, Ragged):
        return X.data
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            return numpy.zeros((0, 0), dtype="float32")
        return get_array_ops(X[0]).xp.concatenate([get_array_ops(X[0]).xp.asarray(x) for x in X])
    return X


def count_correct(guesses: Any, truths: Any) -> Tuple[int, int]:
    """(rows whose argmax agrees, rows) of predictions `guesses` against one-hot
    `truths`, each an array, a Ragged or a list of arrays (rows in order)."""
    P, T = _rows(guesses), _rows(truths)
    if P.shape[0] != T.shape[0]:
        raise ValueError(f"count_correct: {P.shape[0]} rows of predictions for {T.shape[0]} "
                         "rows of truths")
    if P.shape[0] == 0:
        return 0, 0
    correct = P.argmax(axis=1) == get_array_ops(P).xp.asarray(T).argmax(axis=1)
    return int(correct.sum()), int(P.shape[0])


def _form(data: Any) -> str:
    if isinstance(data, Ragged) or (isinstance(data, (list, tuple))
                                    and all(hasattr(y, "shape") for y in data)):
        return "one array of rows per document (a tagger's: a row per token)"
    if hasattr(data, "shape"):
        return "one row per document (a classifier's)"
    return f"a {type(data).__name__}"


def check_fit(model: Any, X: Any, Y: Any) -> None:
    """ValueError unless `model`'s predictions on the documents `X` have the
    form and width of `Y` (a classifier's rows or a tagger's arrays); array
    data is left to the loss."""
    if hasattr(X, "shape") or len(X) == 0:
        return
    P = model.predict(X)
    if hasattr(P, "shape") != hasattr(Y, "shape"):
        hint = "textcat" if hasattr(Y, "shape") else "tagger"
        raise ValueError(f"the model gives {_form(P)}, the data has {_form(Y)}. For this data, "
                         f"write a config with: thinc-fast init-config --model {hint}")
    P_rows, T_rows = _rows(P), _rows(Y)
    if tuple(P_rows.shape) != tuple(T_rows.shape):
        raise ValueError(f"on the first {len(X)} documents the model predicts rows of shape "
                         f"{tuple(P_rows.shape)}, the data has {tuple(T_rows.shape)} (the "
                         "output width must be the number of classes)")


def fit_hint(X: Any, message: str = "") -> str:
    """What to do when a model cannot start on the data `X`: for documents
    given to a model of number rows (the default MLP), which config to write;
    "" when the error's `message` already says it, or for other data."""
    if isinstance(X, (list, tuple)) and "init-config" not in message:
        return ("the data are documents (text), but the model takes rows of numbers: write a "
                "text model's config with thinc-fast init-config text.cfg --model textcat (or "
                "--model tagger for .conllu), then train with thinc-fast train text.cfg --data FILE")
    return ""
