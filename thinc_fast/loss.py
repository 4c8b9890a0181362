"""Losses with Thinc's API: ``loss(guesses, truths) -> (d_guesses, loss)``.

A loss is a small object configured once (``normalize``, label ``names``, a
``missing_value`` ...) and then called on every batch. ``get_grad`` and
``get_loss`` compute the two halves separately; calling the object returns both.
The gradient is what the model's ``backprop`` takes; the loss value is for
reporting only (for the cross-entropy losses it is the sum of the squared
gradient, as in Thinc, not the cross-entropy itself; :class:`SummedCrossentropy`,
the loss ``thinc-fast train`` uses unless ``[training.loss]`` names another,
reports the cross-entropy and does not divide by the batch size).

Arrays may be NumPy or CuPy: the work runs on the backend that owns `guesses`
(``get_array_ops``); NumPy truths given with CuPy guesses are copied to the
device. Inputs are checked before anything is computed, and errors say which
loss, which argument and what was wrong with it.

>>> import numpy
>>> loss = CategoricalCrossentropy()
>>> probs = numpy.asarray([[0.9, 0.1], [0.2, 0.8]], dtype="float32")
>>> d_probs, value = loss(probs, numpy.asarray([0, 1]))
>>> d_probs.astype("float64").round(4).tolist()     # (probs - one_hot) / n_rows
[[-0.05, 0.05], [0.1, -0.1]]
>>> round(float(value), 4)
0.025
"""

import numbers
from typing import Any, Dict, Generic, List, NamedTuple, Optional, Sequence, Tuple
from typing import TypeVar, Union

import numpy

from ._builtins import builtin
from .errors import LabelRangeError
from .backends import Ops, get_array_ops
from .types import Ragged

GuessT = TypeVar("GuessT")
TruthT = TypeVar("TruthT")
GradT = TypeVar("GradT")
LossT = TypeVar("LossT")

Floats2d = Any  # a 2d float array, NumPy or CuPy
MissingValue = Any  # None, a str or an int: the label that marks a missing truth
IntsOrFloatsOrStrs = Union[Any, Sequence[int], Sequence[str]]


class Loss(Generic[GuessT, TruthT, GradT, LossT]):
    """Base class of the losses: ``loss(guesses, truths)`` returns
    ``(get_grad(guesses, truths), get_loss(guesses, truths))``. Subclasses
    implement ``get_grad`` and ``get_loss``; settings are keyword arguments of
    ``__init__``."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def __call__(self, guesses: GuessT, truths: TruthT) -> Tuple[GradT, LossT]:
        return self.get_grad(guesses, truths), self.get_loss(guesses, truths)

    def get_grad(self, guesses: GuessT, truths: TruthT) -> GradT:
        """The gradient of the loss with respect to `guesses`."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_grad")

    def get_loss(self, guesses: GuessT, truths: TruthT) -> LossT:
        """The loss value, a scalar."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_loss")


# ---------------------------------------------------------------------------------------
# input checks shared by the losses


def _is_array(obj: Any) -> bool:
    return hasattr(obj, "shape") and hasattr(obj, "dtype") and hasattr(obj, "ndim")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _check_guesses(who: str, guesses: Any, ndim: Optional[int] = None) -> Ops:
    """The backend of `guesses`, after checking that it is a numeric array."""
    if not _is_array(guesses):
        raise TypeError(f"Cannot calculate {who}: guesses must be a NumPy or CuPy array, "
                        f"got {type(guesses).__name__}")
    if guesses.dtype.kind not in "iuf":
        raise TypeError(f"Cannot calculate {who}: guesses must hold numbers, "
                        f"got dtype {guesses.dtype}")
    if ndim is not None and guesses.ndim != ndim:
        raise ValueError(f"Cannot calculate {who}: guesses must be a {ndim}d array, "
                         f"got shape {tuple(guesses.shape)}")
    if guesses.ndim == 0:
        raise ValueError(f"Cannot calculate {who}: guesses must have a batch dimension, "
                         f"got a 0d array")
    return get_array_ops(guesses)


def _to_device(who: str, ops: Ops, truths: Any) -> Any:
    """`truths` on the backend of the guesses (NumPy truths go to the GPU)."""
    if type(get_array_ops(truths)) is type(ops):
        return truths
    if isinstance(truths, numpy.ndarray):
        return ops.asarray(truths)
    raise TypeError(f"Cannot calculate {who}: truths ({type(truths).__module__}."
                    f"{type(truths).__name__}) are not on the device of the guesses "
                    f"({ops.name if hasattr(ops, 'name') else type(ops).__name__})")


def _check_same_shape(who: str, guesses: Any, truths: Any) -> None:
    if not _is_array(truths):
        raise TypeError(f"Cannot calculate {who}: truths must be an array like the guesses, "
                        f"got {type(truths).__name__}")
    if truths.dtype.kind not in "biuf":
        raise TypeError(f"Cannot calculate {who}: truths must hold numbers, "
                        f"got dtype {truths.dtype}")
    if tuple(guesses.shape) != tuple(truths.shape):
        raise ValueError(f"Cannot calculate {who}: mismatched shapes: guesses "
                         f"{tuple(guesses.shape)} vs truths {tuple(truths.shape)}")


def _check_unit_interval(who: str, what: str, array: Any, xp: Any) -> None:
    # two reductions, no temporaries (a NaN passes, as it passes `any(array > 1)`):
    # four xp.any(array > 1)-style calls took 60 us of an 80 us loss on a 32 x 10 batch
    if array.size and (bool(array.max() > 1) or bool(array.min() < 0)):
        raise ValueError(f"Cannot calculate {who} with {what} outside the [0,1] interval: "
                         f"found values from {float(array.min())} to {float(array.max())} "
                         f"({what} should be probabilities"
                         f"{', e.g. a Softmax output' if what == 'guesses' else ''})")


def _divide(array: Any, n: int) -> Any:
    """``array / n``, in place when `array` is a float array."""
    if array.dtype.kind == "f":
        array /= n
        return array
    return array / n


# ---------------------------------------------------------------------------------------
# categorical cross-entropy


class _Truths(NamedTuple):
    """The truths of one batch, read once: class indices (``labels``, with 0 in
    missing rows) or a dense target array, plus the rows to mask out and the
    (row, class) pairs of negative annotations ("not this class")."""

    labels: Any
    dense: Any
    missing: Any
    neg_rows: Any
    neg_cols: Any


class CategoricalCrossentropy(Loss):
    """Cross-entropy gradient for probabilities `guesses` of shape (n, n_classes)::

        d_guesses = mask * (guesses - target) / n     (divided by n when normalize=True)
        loss      = sum(d_guesses ** 2)

    ``guesses - target`` is the gradient of ``-sum(target * log(softmax(z)))``
    with respect to the logits ``z`` when ``guesses = softmax(z)``: pass it to
    the backprop of a Softmax layer. The loss value, as in Thinc, is the sum of
    the squared gradient.

    truths may be:

    - class indices: a 1d integer array or a list of ints (``target`` is their
      one-hot rows, smoothed by `label_smoothing`: the true class gets ``1 - s``,
      the others ``s / (n_classes - 1)``);
    - a 2d array of target distributions with the shape of `guesses` (no
      label smoothing then);
    - a list of strings when `names` is given (``names[i]`` is class ``i``).

    missing_value: truths equal to it are masked: their rows of ``d_guesses``
    are zero. With 2d truths the row's argmax is compared.
    neg_prefix: a string label ``neg_prefix + name`` means "not `name`": the
    target for that class is 0 and the row's other classes are masked.
    """

    names: Optional[Sequence[str]]
    missing_value: Optional[Union[str, int]]
    _name_to_i: Dict[str, int]

    def __init__(self, *, normalize: bool = True, names: Optional[Sequence[str]] = None,
                 missing_value: Optional[Union[str, int]] = None,
                 neg_prefix: Optional[str] = None, label_smoothing: float = 0.0) -> None:
        if not _is_number(label_smoothing) or not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"CategoricalCrossentropy: label_smoothing must be >= 0 and < 1, "
                             f"got {label_smoothing!r}")
        if missing_value is not None and not isinstance(missing_value, (str, numbers.Number)):
            raise TypeError(f"CategoricalCrossentropy: missing_value must be None, a string or "
                            f"an int, got {missing_value!r}")
        if names is not None and (isinstance(names, str) or not all(
                isinstance(name, str) for name in names)):
            raise TypeError(f"CategoricalCrossentropy: names must be a sequence of strings, "
                            f"got {names!r}")
        self.normalize = normalize
        self.names = names
        self.missing_value = missing_value
        self.neg_prefix = neg_prefix
        self.label_smoothing = label_smoothing
        self._name_to_i = {name: i for i, name in enumerate(names)} if names is not None else {}

    def __call__(self, guesses: Floats2d, truths: IntsOrFloatsOrStrs) -> Tuple[Floats2d, float]:
        d_guesses = self.get_grad(guesses, truths)
        return d_guesses, self._get_loss_from_grad(d_guesses)

    def get_grad(self, guesses: Floats2d, truths: IntsOrFloatsOrStrs) -> Floats2d:
        """``mask * (guesses - target)``, divided by ``guesses.shape[0]`` when
        normalize=True. float32 guesses give a float32 gradient."""
        ops = _check_guesses("CategoricalCrossentropy loss", guesses, ndim=2)
        xp = ops.xp
        read = self._read_truths(guesses, truths, ops)
        _check_unit_interval("CategoricalCrossentropy loss", "guesses", guesses, xp)
        if read.dense is not None:
            diff = guesses - read.dense
        else:
            diff = self._diff_from_labels(guesses, read, xp)
        if read.missing is not None:
            diff[read.missing] = 0
        if self.normalize and guesses.shape[0]:
            diff = _divide(diff, guesses.shape[0])
        return diff

    def get_loss(self, guesses: Floats2d, truths: IntsOrFloatsOrStrs) -> float:
        """``sum(get_grad(guesses, truths) ** 2)``."""
        return self._get_loss_from_grad(self.get_grad(guesses, truths))

    def convert_truths(self, truths: IntsOrFloatsOrStrs, guesses: Floats2d
                       ) -> Tuple[Floats2d, Floats2d]:
        """The dense ``(target, mask)`` pair for `truths`: ``get_grad`` is
        ``(guesses - target) * mask`` (then normalized). `mask` is float32, 0 in
        missing rows and, for a negative annotation, everywhere but its class."""
        ops = _check_guesses("CategoricalCrossentropy loss", guesses, ndim=2)
        xp = ops.xp
        read = self._read_truths(guesses, truths, ops)
        n, n_classes = guesses.shape
        mask = xp.ones((n, n_classes), dtype="float32")
        if read.dense is not None:
            target = read.dense
        else:
            off, on = self._smoothed_values(n_classes)
            target = xp.full((n, n_classes), off, dtype="float32")
            target[xp.arange(n), read.labels] = on
            if read.neg_rows is not None:
                target[read.neg_rows] = 0
                mask[read.neg_rows] = 0
                mask[read.neg_rows, read.neg_cols] = 1
        if read.missing is not None:
            mask[read.missing] = 0
        return target, mask

    def _get_loss_from_grad(self, d_guesses: Floats2d) -> float:
        return (d_guesses ** 2).sum()

    def _smoothed_values(self, n_classes: int) -> Tuple[float, float]:
        """(non-gold, gold) target values, rounded to float32 as the targets are."""
        smooth = float(self.label_smoothing)
        if not smooth:
            return 0.0, 1.0
        if n_classes < 2:
            raise ValueError(f"Cannot calculate CategoricalCrossentropy loss: label_smoothing "
                             f"needs at least 2 classes, but guesses have {n_classes}")
        if smooth >= (n_classes - 1) / n_classes:
            raise ValueError(f"Cannot calculate CategoricalCrossentropy loss: with {n_classes} "
                             f"classes label_smoothing must be below "
                             f"{(n_classes - 1) / n_classes}, got {smooth}")
        return (float(numpy.float32(smooth / (n_classes - 1))),
                float(numpy.float32(1.0 - smooth)))

    def _diff_from_labels(self, guesses: Any, read: _Truths, xp: Any) -> Any:
        """``guesses - target`` for one-hot (smoothed) targets, without building them."""
        n, n_classes = guesses.shape
        off, on = self._smoothed_values(n_classes)
        dtype = xp.result_type(guesses.dtype, xp.float32)
        if off:
            diff = guesses - dtype.type(off)
            if diff.dtype != dtype:
                diff = diff.astype(dtype)
        else:
            diff = guesses.astype(dtype, copy=True)
        rows = xp.arange(n)
        diff[rows, read.labels] = guesses[rows, read.labels] - dtype.type(on)
        if read.neg_rows is not None:
            diff[read.neg_rows] = 0
            diff[read.neg_rows, read.neg_cols] = guesses[read.neg_rows, read.neg_cols]
        return diff

    def _read_truths(self, guesses: Any, truths: Any, ops: Ops) -> _Truths:
        who = "CategoricalCrossentropy loss"
        n, n_classes = guesses.shape
        if self.names and len(self.names) != n_classes:
            raise ValueError(f"Cannot calculate {who}: {len(self.names)} names were given but "
                             f"guesses have {n_classes} columns")
        if isinstance(truths, numpy.ndarray) and truths.dtype.kind in "UO" and truths.ndim == 1:
            truths = truths.tolist()
        if isinstance(truths, (list, tuple)):
            return self._read_list(list(truths), n, n_classes, ops)
        if not _is_array(truths):
            raise TypeError(f"Cannot calculate {who}: truths must be an array of class indices, "
                            f"a 2d array of targets or a list of ints or strings, "
                            f"got {type(truths).__name__}")
        truths = _to_device(who, ops, truths)
        xp = ops.xp
        check_missing = _is_number(self.missing_value)
        if truths.ndim == 1:
            if truths.dtype.kind not in "iu":
                raise TypeError(f"Cannot calculate {who}: 1d truths must be integer class "
                                f"indices, got dtype {truths.dtype} (pass target "
                                f"distributions as a 2d array)")
            if truths.shape[0] != n:
                raise ValueError(f"Cannot calculate {who}: mismatched shapes: {truths.shape[0]} "
                                 f"labels for {n} rows of guesses {tuple(guesses.shape)}")
            missing = None
            labels = truths
            if check_missing:
                is_missing = truths == self.missing_value
                if bool(is_missing.any()):
                    missing = xp.nonzero(is_missing)[0]
                    labels = xp.where(is_missing, 0, truths)
            if n:
                bad = (labels < 0) | (labels >= n_classes)
                if bool(bad.any()):
                    pos = int(xp.nonzero(bad)[0][0])
                    raise LabelRangeError(f"Cannot calculate {who}: label {int(labels[pos])} "
                                          f"at position {pos} is out of range for {n_classes} "
                                          f"classes")
            if n_classes == 0:
                raise ValueError(f"Cannot calculate {who}: guesses have no columns")
            return _Truths(labels, None, missing, None, None)
        if truths.ndim != 2:
            raise ValueError(f"Cannot calculate {who}: truths must be 1d class indices or a 2d "
                             f"array of targets, got shape {tuple(truths.shape)}")
        if self.label_smoothing:
            raise ValueError("Cannot calculate CategoricalCrossentropy loss: label smoothing "
                             "is only applied when truths are class indices (List[str], "
                             "List[int] or Ints1d), but a 2d array of targets was given")
        _check_same_shape(who, guesses, truths)
        _check_unit_interval(who, "truth values", truths, xp)
        missing = None
        if check_missing and n and n_classes:
            is_missing = xp.argmax(truths, axis=-1) == self.missing_value
            if bool(is_missing.any()):
                missing = xp.nonzero(is_missing)[0]
        return _Truths(None, truths, missing, None, None)

    def _read_list(self, truths: List[Any], n: int, n_classes: int, ops: Ops) -> _Truths:
        who = "CategoricalCrossentropy loss"
        if len(truths) != n:
            raise ValueError(f"Cannot calculate {who}: mismatched shapes: {len(truths)} labels "
                             f"for {n} rows of guesses ({n}, {n_classes})")
        missing_value = self.missing_value
        present = [v for v in truths if not _equals(v, missing_value)]
        by_name = bool(present) and not _is_int(present[0])
        if not present and isinstance(missing_value, str) and self.names is None:
            by_name = True
        if by_name and self.names is None:
            raise ValueError("Cannot calculate loss from list of strings without names: pass "
                             "the class names when you create the loss object, e.g. "
                             "CategoricalCrossentropy(names=['dog', 'cat'])")
        labels: List[int] = []
        missing: List[int] = []
        neg_rows: List[int] = []
        prefix = self.neg_prefix
        for i, value in enumerate(truths):
            if _equals(value, missing_value):
                missing.append(i)
                labels.append(0)
            elif not by_name:
                if not _is_int(value):
                    raise TypeError(f"Cannot calculate {who}: truths mix ints and "
                                    f"{type(value).__name__} ({value!r} at position {i})")
                if not 0 <= value < n_classes:
                    raise LabelRangeError(f"Cannot calculate {who}: label {value} at position "
                                          f"{i} is out of range for {n_classes} classes")
                labels.append(int(value))
            else:
                if not isinstance(value, str):
                    raise TypeError(f"Cannot calculate {who}: label {value!r} at position {i} "
                                    f"is a {type(value).__name__}, not a string name")
                name = value
                if prefix and value.startswith(prefix):
                    name = value[len(prefix):]
                    neg_rows.append(i)
                index = self._name_to_i.get(name)
                if index is None:
                    raise ValueError(f"Cannot calculate {who}: unknown label {name!r} at "
                                     f"position {i}; names are {list(self.names or [])}")
                labels.append(index)
        if n and n_classes == 0:
            raise ValueError(f"Cannot calculate {who}: guesses have no columns")
        xp = ops.xp
        as_index = lambda values: xp.asarray(numpy.asarray(values, dtype=numpy.intp))  # noqa: E731
        label_array = as_index(labels)
        neg_cols = as_index([labels[i] for i in neg_rows]) if neg_rows else None
        return _Truths(label_array, None, as_index(missing) if missing else None,
                       as_index(neg_rows) if neg_rows else None, neg_cols)


def _equals(value: Any, missing_value: Any) -> bool:
    """``value == missing_value`` for one label (None equals None, as in Thinc)."""
    if missing_value is None:
        return value is None
    if not isinstance(value, (str, numbers.Number)):
        return False
    if isinstance(missing_value, str) != isinstance(value, str):
        return False
    return bool(value == missing_value)


class SequenceCategoricalCrossentropy(Loss):
    """CategoricalCrossentropy over a list of sequences: `guesses` is a list of
    (n_i, n_classes) arrays, `truths` a list of the same length holding each
    sequence's truths in any form CategoricalCrossentropy takes::

        d_guesses[i] = mask_i * (guesses[i] - target_i) / len(guesses)   (normalize=True)
        loss         = sum_i sum(d_guesses[i] ** 2)

    Each sequence's rows are not divided by its own length: normalize divides
    by the number of sequences. The settings are CategoricalCrossentropy's; the
    wrapped loss is ``self.cc``.

    `guesses` may also be a :class:`~thinc_fast.types.Ragged` (its rows are the
    sequences' rows, one after another): the gradient is then a Ragged with the
    same lengths, computed in one pass over all rows, and `truths` may be a
    Ragged too (its ``dataXd``: class indices or target rows) or the list of
    the sequences' truths.

    >>> import numpy
    >>> from thinc_fast.types import Ragged
    >>> guesses = Ragged(numpy.asarray([[0.8, 0.2], [0.4, 0.6], [0.5, 0.5]], dtype="f"), [2, 1])
    >>> d, value = SequenceCategoricalCrossentropy()(guesses, [[0, 1], [1]])
    >>> d.lengths.tolist(), d.data.astype("float64").round(2).tolist()
    ([2, 1], [[-0.1, 0.1], [0.2, -0.2], [0.25, -0.25]])
    """

    def __init__(self, *, normalize: bool = True, names: Optional[Sequence[str]] = None,
                 missing_value: Optional[Union[str, int]] = None,
                 neg_prefix: Optional[str] = None, label_smoothing: float = 0.0) -> None:
        self.cc = CategoricalCrossentropy(normalize=False, names=names,
                                          missing_value=missing_value, neg_prefix=neg_prefix,
                                          label_smoothing=label_smoothing)
        self.normalize = normalize

    @property
    def names(self) -> Optional[Sequence[str]]:
        return self.cc.names

    @property
    def missing_value(self) -> Optional[Union[str, int]]:
        return self.cc.missing_value

    @property
    def neg_prefix(self) -> Optional[str]:
        return self.cc.neg_prefix

    @property
    def label_smoothing(self) -> float:
        return self.cc.label_smoothing

    def __call__(self, guesses: Sequence[Floats2d], truths: Sequence[IntsOrFloatsOrStrs]
                 ) -> Tuple[List[Floats2d], float]:
        d_guesses = self.get_grad(guesses, truths)
        return d_guesses, self._get_loss_from_grad(d_guesses)

    def get_grad(self, guesses: Sequence[Floats2d], truths: Sequence[IntsOrFloatsOrStrs]
                 ) -> List[Floats2d]:
        """One gradient per sequence, each divided by ``len(guesses)`` when
        normalize=True; for Ragged guesses, a Ragged of the same lengths."""
        who = "SequenceCategoricalCrossentropy loss"
        if isinstance(guesses, Ragged):
            return self._ragged_grad(guesses, truths)
        if isinstance(truths, Ragged):
            truths = get_array_ops(truths.data).unflatten(truths.dataXd, truths.lengths)
        if _is_array(guesses) or not isinstance(guesses, Sequence):
            raise TypeError(f"Cannot calculate {who}: guesses must be a list of 2d arrays, one "
                            f"per sequence, got {type(guesses).__name__}")
        if _is_array(truths) or not isinstance(truths, Sequence):
            raise TypeError(f"Cannot calculate {who}: truths must be a list with one entry per "
                            f"sequence, got {type(truths).__name__}")
        if len(guesses) != len(truths):
            raise ValueError(f"Cannot calculate {who}: guesses and truths must be same length, "
                             f"got {len(guesses)} and {len(truths)} sequences")
        n = len(guesses)
        d_guesses = []
        for i, (yh, y) in enumerate(zip(guesses, truths)):
            try:
                d_yh = self.cc.get_grad(yh, y)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{err} (in sequence {i} of {n})") from err
            d_guesses.append(_divide(d_yh, n) if self.normalize else d_yh)
        return d_guesses

    def get_loss(self, guesses: Sequence[Floats2d], truths: Sequence[IntsOrFloatsOrStrs]
                 ) -> float:
        """``sum`` over sequences of ``sum(d_guesses[i] ** 2)``."""
        return self._get_loss_from_grad(self.get_grad(guesses, truths))

    def _ragged_grad(self, guesses: Ragged, truths: Any) -> Ragged:
        """The gradient of all the rows of `guesses` in one CategoricalCrossentropy pass."""
        who = "SequenceCategoricalCrossentropy loss"
        n = len(guesses)
        flat = flat_truths(who, truths, guesses)
        try:
            d_data = self.cc.get_grad(guesses.dataXd, flat)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{err} (in the rows of the Ragged guesses, {n} sequences)") from err
        if self.normalize and n:
            d_data = _divide(d_data, n)
        return Ragged(d_data, guesses.lengths)

    def _get_loss_from_grad(self, d_guesses: Sequence[Floats2d]) -> float:
        if isinstance(d_guesses, Ragged):
            return self.cc._get_loss_from_grad(d_guesses.data)
        total = 0.0
        for d_yh in d_guesses:
            total += self.cc._get_loss_from_grad(d_yh)
        return total


def flat_truths(who: str, truths: Any, guesses: Ragged) -> Any:
    """The truths of every row of the Ragged `guesses`, one after another: a
    Ragged's ``dataXd`` (its lengths must match), or a list with one entry per
    sequence, joined (arrays concatenated, lists of labels chained)."""
    lengths = [int(n) for n in get_array_ops(guesses.lengths).to_numpy(guesses.lengths)]
    if isinstance(truths, Ragged):
        t_lengths = [int(n) for n in get_array_ops(truths.lengths).to_numpy(truths.lengths)]
        if t_lengths != lengths:
            raise ValueError(f"Cannot calculate {who}: the truths' lengths {t_lengths} differ "
                             f"from the guesses' {lengths}")
        return truths.dataXd
    if _is_array(truths) or not isinstance(truths, Sequence):
        raise TypeError(f"Cannot calculate {who}: with Ragged guesses, truths must be a Ragged "
                        f"or a list with one entry per sequence, got {type(truths).__name__}")
    if len(truths) != len(lengths):
        raise ValueError(f"Cannot calculate {who}: guesses and truths must be same length, "
                         f"got {len(lengths)} and {len(truths)} sequences")
    for i, (t, n) in enumerate(zip(truths, lengths)):
        size = t.shape[0] if _is_array(t) and t.ndim else len(t)
        if size != n:
            raise ValueError(f"Cannot calculate {who}: sequence {i} has {n} rows of guesses "
                             f"but {size} truths")
    if truths and all(_is_array(t) for t in truths):
        xp = get_array_ops(truths[0]).xp
        return xp.concatenate(list(truths)) if len(truths) > 1 else truths[0]
    flat: List[Any] = []
    for t in truths:
        flat.extend(t.tolist() if _is_array(t) else t)
    return flat


# ---------------------------------------------------------------------------------------
# the training loss: summed over the batch


class SummedCrossentropy(CategoricalCrossentropy):
    """``CategoricalCrossentropy(normalize=False)`` whose value is the cross-entropy::

        d_guesses = guesses - target
        loss      = -sum(target * log(clip(guesses, 1e-9, 1)))

    The gradient is CategoricalCrossentropy's, summed over the batch (not
    divided by its size); the value is the summed cross-entropy, where
    CategoricalCrossentropy (as Thinc) reports ``sum(d_guesses ** 2)``. This is
    the default loss of ``thinc-fast train`` (``[training.loss]``, registered as
    ``"SummedCrossentropy.v1"``), the one it reports (``loss``, ``dev_loss``).
    Keyword arguments are CategoricalCrossentropy's, but for ``normalize``.

    Sequence outputs (a tagger's): when `guesses` is a list of (n_i, classes)
    arrays or a Ragged, `truths` holds each sequence's truths (a list, or a
    Ragged); the rows of all sequences are scored in one pass and the gradient
    comes back in the guesses' form (a list of arrays, or a Ragged).

    >>> probs = numpy.asarray([[0.5, 0.5], [0.25, 0.75]], dtype="float32")
    >>> d_probs, value = SummedCrossentropy()(probs, numpy.asarray([0, 1]))
    >>> d_probs.tolist(), round(value, 4)          # not divided by the 2 rows
    ([[-0.5, 0.5], [0.25, -0.25]], 0.9808)
    """

    def __init__(self, **kwargs: Any) -> None:
        if "normalize" in kwargs:
            raise TypeError("SummedCrossentropy does not normalize; use "
                            "CategoricalCrossentropy(normalize=True) for a mean gradient")
        super().__init__(normalize=False, **kwargs)

    def __call__(self, guesses: Any, truths: Any):
        if isinstance(guesses, (list, tuple, Ragged)):
            return self._sequences(guesses, truths)
        d_guesses = self.get_grad(guesses, truths)  # checks the inputs
        return d_guesses, self._crossentropy(guesses, truths)

    def get_loss(self, guesses: Any, truths: Any) -> float:
        """``-sum(target * log(clip(guesses, 1e-9, 1)))`` over the rows that are not masked."""
        if isinstance(guesses, (list, tuple, Ragged)):
            return self._sequences(guesses, truths)[1]
        self.get_grad(guesses, truths)  # the same checks as the gradient's
        return self._crossentropy(guesses, truths)

    def _sequences(self, guesses: Any, truths: Any) -> Tuple[Any, float]:
        """Gradient and value over the rows of every sequence, the gradient in
        the form of `guesses`."""
        ragged = guesses if isinstance(guesses, Ragged) else _as_ragged(guesses)
        flat = flat_truths("SummedCrossentropy", truths, ragged)
        d_data, value = self(ragged.dataXd, flat)
        if isinstance(guesses, Ragged):
            return Ragged(d_data, guesses.lengths), value
        return get_array_ops(d_data).unflatten(d_data, ragged.lengths), value

    def _crossentropy(self, guesses: Any, truths: Any) -> float:
        xp = get_array_ops(guesses).xp
        log_p = xp.log(guesses.clip(1e-9, 1.0))
        dense = hasattr(truths, "shape") and tuple(truths.shape) == tuple(guesses.shape)
        if dense and self.missing_value is None:
            return float(-(xp.asarray(truths) * log_p).sum())
        target, mask = self.convert_truths(truths, guesses)
        return float(-(target * mask * log_p).sum())


def _as_ragged(arrays: Any) -> Ragged:
    """A list of (n_i, ...) arrays as one Ragged (an empty list: no rows)."""
    if len(arrays) == 0:
        return Ragged(numpy.zeros((0, 0), dtype="float32"), numpy.zeros((0,), dtype="int32"))
    ops = get_array_ops(arrays[0])
    lengths = numpy.asarray([a.shape[0] for a in arrays], dtype="int32")
    return Ragged(ops.flatten(list(arrays)), ops.asarray(lengths))


def summing_problem(loss: Any) -> Optional[str]:
    """Why `loss` cannot be a training loss, or None when it can.

    Training sums: a step's gradient is the sum of its examples' (so the
    shards of data-parallel workers add up to the global batch's), and the
    reported ``loss``/``dev_loss`` are sums divided by the number of examples.
    A loss must therefore be a :class:`Loss` and must not divide by the batch
    size (``normalize=True``).

    >>> summing_problem(SummedCrossentropy()) is None
    True
    >>> summing_problem(CategoricalCrossentropy())[:41]
    'CategoricalCrossentropy normalizes (divid'
    """
    if not isinstance(loss, Loss):
        return (f"it built a {type(loss).__name__} ({loss!r:.60}), not a loss (a "
                "thinc_fast.loss.Loss, e.g. @losses = \"SummedCrossentropy.v1\")")
    if getattr(loss, "normalize", False):
        return (f"{type(loss).__name__} normalizes (divides the gradient by the batch size), "
                "but training needs gradients summed over the batch (data-parallel workers add "
                "their shards' gradients, and the reported loss is the sum divided by the "
                "examples): set normalize = false, or use @losses = \"SummedCrossentropy.v1\"")
    return None


# ---------------------------------------------------------------------------------------
# distances


class L2Distance(Loss):
    """Squared Euclidean distance between `guesses` and `truths` of the same shape::

        d_guesses = (guesses - truths) / n        (n = guesses.shape[0]; n = 1 if not normalize)
        loss      = sum(d_guesses ** 2)

    With normalize=False, ``d_guesses`` is half the derivative of ``loss``.
    """

    def __init__(self, *, normalize: bool = True) -> None:
        self.normalize = normalize

    def __call__(self, guesses: Floats2d, truths: Floats2d) -> Tuple[Floats2d, float]:
        return self.get_grad(guesses, truths), self.get_loss(guesses, truths)

    def get_grad(self, guesses: Floats2d, truths: Floats2d) -> Floats2d:
        """``(guesses - truths)``, divided by ``guesses.shape[0]`` when normalize=True."""
        ops = _check_guesses("L2 distance", guesses)
        truths = _to_device("L2 distance", ops, truths) if _is_array(truths) else truths
        _check_same_shape("L2 distance", guesses, truths)
        diff = guesses - truths
        if self.normalize and guesses.shape[0]:
            diff = _divide(diff, guesses.shape[0])
        return diff

    def get_loss(self, guesses: Floats2d, truths: Floats2d) -> float:
        """``sum(get_grad(guesses, truths) ** 2)``."""
        return (self.get_grad(guesses, truths) ** 2).sum()


class CosineDistance(Loss):
    """One minus the cosine similarity of each row of `guesses` with the same
    row of `truths`, both (n, width). With ``a = guesses + 1e-8`` and
    ``b = truths + 1e-8`` (so zero rows have a direction)::

        cos_i     = <a_i, b_i> / (|a_i| |b_i|)
        loss      = sum_i |cos_i - 1| / n                  (n = 1 if not normalize)
        d_guesses = -(b_i / (|a_i| |b_i|) - cos_i * a_i / |a_i|^2) / n

    ``d_guesses`` is the derivative of ``loss``. ignore_zeros=True drops the
    rows whose truth is all zeros from both (their loss and gradient are 0; the
    divisor n stays the number of rows).
    """

    def __init__(self, *, normalize: bool = True, ignore_zeros: bool = False) -> None:
        self.normalize = normalize
        self.ignore_zeros = ignore_zeros

    def __call__(self, guesses: Floats2d, truths: Floats2d) -> Tuple[Floats2d, float]:
        return self.get_grad(guesses, truths), self.get_loss(guesses, truths)

    def _check(self, guesses: Any, truths: Any) -> Tuple[Any, Any]:
        who = "cosine similarity"
        ops = _check_guesses(who, guesses, ndim=2)
        truths = _to_device(who, ops, truths) if _is_array(truths) else truths
        _check_same_shape(who, guesses, truths)
        return ops.xp, truths

    @staticmethod
    def _cosine(xp: Any, guesses: Any, truths: Any) -> Tuple[Any, Any, Any, Any, Any]:
        """(a, b, |a|, |a| |b|, cos), rows kept as (n, 1) columns."""
        a = guesses + 1e-8
        b = truths + 1e-8
        norm_a = xp.linalg.norm(a, axis=1, keepdims=True)
        norm_b = xp.linalg.norm(b, axis=1, keepdims=True)
        norms = norm_a * norm_b
        cosine = (a * b).sum(axis=1, keepdims=True) / norms
        return a, b, norm_a, norms, cosine

    def get_similarity(self, guesses: Floats2d, truths: Floats2d) -> Floats2d:
        """``cos_i`` for every row, shape (n, 1)."""
        xp, truths = self._check(guesses, truths)
        return self._cosine(xp, guesses, truths)[-1]

    def get_grad(self, guesses: Floats2d, truths: Floats2d) -> Floats2d:
        """The derivative of the loss with respect to `guesses` (see the class)."""
        xp, truths = self._check(guesses, truths)
        a, b, norm_a, norms, cosine = self._cosine(xp, guesses, truths)
        d_cos = b / norms - cosine * (a / norm_a ** 2)
        if self.ignore_zeros:
            d_cos[xp.abs(truths).sum(axis=1) == 0] = 0
        if self.normalize and guesses.shape[0]:
            d_cos = _divide(d_cos, guesses.shape[0])
        return -d_cos

    def get_loss(self, guesses: Floats2d, truths: Floats2d) -> float:
        """``sum_i |cos_i - 1|``, divided by n when normalize=True."""
        xp, truths = self._check(guesses, truths)
        losses = xp.abs(self._cosine(xp, guesses, truths)[-1] - 1)
        if self.ignore_zeros:
            losses[xp.abs(truths).sum(axis=1) == 0] = 0
        if self.normalize and guesses.shape[0]:
            losses = _divide(losses, guesses.shape[0])
        return losses.sum()


# ---------------------------------------------------------------------------------------
# registry functions (Thinc's names; each version takes the arguments it took in Thinc)


@builtin("losses", "CategoricalCrossentropy.v1")
def configure_CategoricalCrossentropy_v1(
        *, normalize: bool = True, names: Optional[Sequence[str]] = None,
        missing_value: MissingValue = None) -> CategoricalCrossentropy:
    """CategoricalCrossentropy.v1: normalize, names, missing_value."""
    return CategoricalCrossentropy(normalize=normalize, names=names,
                                   missing_value=missing_value)


@builtin("losses", "CategoricalCrossentropy.v2")
def configure_CategoricalCrossentropy_v2(
        *, normalize: bool = True, names: Optional[Sequence[str]] = None,
        missing_value: MissingValue = None,
        neg_prefix: Optional[str] = None) -> CategoricalCrossentropy:
    """CategoricalCrossentropy.v2: v1 plus neg_prefix."""
    return CategoricalCrossentropy(normalize=normalize, names=names,
                                   missing_value=missing_value, neg_prefix=neg_prefix)


@builtin("losses", "CategoricalCrossentropy.v3")
def configure_CategoricalCrossentropy_v3(
        *, normalize: bool = True, names: Optional[Sequence[str]] = None,
        missing_value: MissingValue = None, neg_prefix: Optional[str] = None,
        label_smoothing: float = 0.0) -> CategoricalCrossentropy:
    """CategoricalCrossentropy.v3: v2 plus label_smoothing."""
    return CategoricalCrossentropy(normalize=normalize, names=names,
                                   missing_value=missing_value, neg_prefix=neg_prefix,
                                   label_smoothing=label_smoothing)


@builtin("losses", "SequenceCategoricalCrossentropy.v1")
def configure_SequenceCategoricalCrossentropy_v1(
        *, normalize: bool = True,
        names: Optional[Sequence[str]] = None) -> SequenceCategoricalCrossentropy:
    """SequenceCategoricalCrossentropy.v1: normalize, names."""
    return SequenceCategoricalCrossentropy(normalize=normalize, names=names)


@builtin("losses", "SequenceCategoricalCrossentropy.v2")
def configure_SequenceCategoricalCrossentropy_v2(
        *, normalize: bool = True, names: Optional[Sequence[str]] = None,
        neg_prefix: Optional[str] = None) -> SequenceCategoricalCrossentropy:
    """SequenceCategoricalCrossentropy.v2: v1 plus neg_prefix."""
    return SequenceCategoricalCrossentropy(normalize=normalize, names=names,
                                           neg_prefix=neg_prefix)


@builtin("losses", "SequenceCategoricalCrossentropy.v3")
def configure_SequenceCategoricalCrossentropy_v3(
        *, normalize: bool = True, names: Optional[Sequence[str]] = None,
        missing_value: MissingValue = None, neg_prefix: Optional[str] = None,
        label_smoothing: float = 0.0) -> SequenceCategoricalCrossentropy:
    """SequenceCategoricalCrossentropy.v3: v2 plus missing_value and label_smoothing."""
    return SequenceCategoricalCrossentropy(normalize=normalize, names=names,
                                           missing_value=missing_value, neg_prefix=neg_prefix,
                                           label_smoothing=label_smoothing)


@builtin("losses", "SummedCrossentropy.v1")
def configure_SummedCrossentropy_v1(
        *, names: Optional[Sequence[str]] = None, missing_value: MissingValue = None,
        neg_prefix: Optional[str] = None,
        label_smoothing: float = 0.0) -> SummedCrossentropy:
    """SummedCrossentropy.v1: thinc-fast's training loss (CategoricalCrossentropy.v3's
    arguments, but for normalize)."""
    return SummedCrossentropy(names=names, missing_value=missing_value, neg_prefix=neg_prefix,
                              label_smoothing=label_smoothing)


@builtin("losses", "L2Distance.v1")
def configure_L2Distance(*, normalize: bool = True) -> L2Distance:
    """L2Distance.v1."""
    return L2Distance(normalize=normalize)


@builtin("losses", "CosineDistance.v1")
def configure_CosineDistance(*, normalize: bool = True,
                             ignore_zeros: bool = False) -> CosineDistance:
    """CosineDistance.v1."""
    return CosineDistance(normalize=normalize, ignore_zeros=ignore_zeros)



__all__ = ["Loss", "CategoricalCrossentropy", "SequenceCategoricalCrossentropy",
           "SummedCrossentropy", "L2Distance", "CosineDistance", "summing_problem"]
