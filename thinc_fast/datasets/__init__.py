"""Data sets and loaders the trainer can name in a config's ``[data]`` block.

A loader returns ``(train_X, train_Y, dev_X, dev_Y)``: float32 features and
one-hot float32 labels. Bad files raise :class:`DataError`, naming the file,
the key and the rows. :func:`check_training_data` checks what any loader gave
before training starts.
"""
import codecs
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy

from .._builtins import builtin
from ..data import to_categorical
from ..errors import DataError

DataT = Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]
DIGITS_PATH = Path(__file__).with_name("digits.npz")

__all__ = ["DataError", "digits", "npz", "load_npz", "check_training_data"]


def _split(X: numpy.ndarray, labels: numpy.ndarray, dev_fraction: float, seed: int,
           n_classes: Optional[int] = None, where: str = "the data") -> DataT:
    Y = to_categorical(labels, n_classes=n_classes) if labels.ndim == 1 else labels
    return _split_rows(X, Y, dev_fraction, seed, where)


def _split_rows(X: numpy.ndarray, Y: numpy.ndarray, dev_fraction: float, seed: int,
                where: str) -> DataT:
    def too_few(n_dev: int) -> str:
        return (f"{where} has {len(X)} row{'s' if len(X) != 1 else ''}: too few to split "
                f"into training and dev rows (dev_fraction {dev_fraction} takes {n_dev}, "
                "leaving none to train on). Add rows, or give the dev set as "
                "'X_dev' and 'Y_dev'.")

    train, dev = _dev_split(len(X), dev_fraction, seed, too_few)
    return X[train], Y[train], X[dev], Y[dev]


def _dev_split(n: int, dev_fraction: float, seed: int, too_few: Callable[[int], str]
               ) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(train, dev): the positions 0..n-1 in a seeded order, `dev_fraction` of
    them (at least one) for dev. DataError for a fraction outside (0, 1), and
    ``too_few(n_dev)`` as the message when none would be left to train on."""
    if isinstance(dev_fraction, bool) or not isinstance(dev_fraction, (int, float)) \
            or not 0.0 < dev_fraction < 1.0:
        raise DataError(f"dev_fraction must be between 0 and 1, got {dev_fraction!r}")
    n_dev = max(1, int(round(n * dev_fraction)))
    if n - n_dev < 1:
        raise DataError(too_few(n_dev))
    order = numpy.random.default_rng(seed).permutation(n)
    return order[n_dev:], order[:n_dev]


@builtin("datasets", "digits.v1")
def digits(dev_fraction: float = 0.2, seed: int = 0) -> DataT:
    """The 8x8 handwritten digits shipped with thinc_fast (1,797 images, CC BY
    4.0, see DIGITS_LICENSE.md): pixels scaled to [0, 1], a seeded dev split."""
    with numpy.load(DIGITS_PATH, allow_pickle=False) as data:
        X = data["X"].astype("float32") / 16.0
        labels = data["y"].astype("int64")
    return _split(X, labels, dev_fraction, seed, n_classes=10, where=str(DIGITS_PATH))


@builtin("datasets", "npz.v1")
def npz(path: str, dev_fraction: float = 0.2, seed: int = 0) -> DataT:
    """Arrays from an ``.npz`` file: ``X`` (n, features) floats and ``Y`` either
    integer labels (n,) or one-hot/probability rows (n, classes); optional
    ``X_dev``/``Y_dev`` give the dev set, else `dev_fraction` of the rows."""
    file = Path(path)
    arrays = load_npz(file)
    X, Y = arrays["X"], arrays["Y"]
    if "X_dev" in arrays:
        return X, Y, arrays["X_dev"], arrays["Y_dev"]
    return _split_rows(X, Y, dev_fraction, seed, str(file))


def load_npz(path: Any, n_classes: Optional[int] = None) -> Dict[str, numpy.ndarray]:
    """The checked arrays of an ``.npz`` data file, every row: ``X`` and ``Y``
    (labels one-hot, float32), and ``X_dev``/``Y_dev`` when the file has them.

    n_classes: the number of classes the labels are one-hot encoded to (a
    model's output width); default: the most any of the file's label arrays needs.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"data file not found: {file}")
    _check_npz_magic(file)
    try:
        with numpy.load(file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as err:  # zip, format or pickle errors
        raise DataError(f"{file}: not a readable .npz file ({err})") from None
    for key in ("X", "Y"):
        if key not in arrays:
            raise DataError(f"{file}: missing array {key!r} (found: {sorted(arrays)})")
    if ("X_dev" in arrays) != ("Y_dev" in arrays):
        raise DataError(f"{file}: give both 'X_dev' and 'Y_dev', or neither")
    needed = _n_classes(file, arrays)
    if n_classes is None:
        n_classes = needed
    elif needed > n_classes:
        raise DataError(f"{file}: the labels need {needed} classes, but the model predicts "
                        f"{n_classes}")
    out = {}
    X, Y = _check_pair(file, arrays["X"], arrays["Y"], "X", "Y", n_classes)
    out["X"], out["Y"] = X, Y
    if "X_dev" in arrays:
        dX, dY = _check_pair(file, arrays["X_dev"], arrays["Y_dev"], "X_dev", "Y_dev", n_classes)
        if dX.shape[1] != X.shape[1]:
            raise DataError(f"{file}: 'X_dev' has {dX.shape[1]} features, 'X' has {X.shape[1]}")
        out["X_dev"], out["Y_dev"] = dX, dY
    return out


NPZ_HINT = ("an .npz archive of arrays 'X' (examples, features) and 'Y' (integer labels, or "
            "one-hot rows), as numpy.savez(path, X=X, Y=Y) writes; text data (.jsonl, "
            ".conllu) trains with a text config: thinc-fast init-config --model textcat|tagger")


def _check_npz_magic(file: Path) -> None:
    """DataError naming what `file` looks like when it is not a zip archive (an
    .npz), before NumPy reads it (NumPy takes other bytes for a pickle and
    suggests allow_pickle, which would be the wrong fix)."""
    with open(file, "rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return
    if head.startswith(b"\x93NUMPY"):
        looks = "a single .npy array (numpy.save), not an .npz archive"
    elif not head:
        looks = "an empty file"
    else:
        try:  # incremental: a character cut at byte 512 is not an error
            text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            text = None
        first_line = "" if text is None else text.lstrip().split("\n", 1)[0]
        if text is None:
            looks = "binary data that is not a zip archive"
        elif first_line.startswith(("{", "[")):
            looks = "JSON text"
        elif "," in first_line or "\t" in first_line:
            looks = "CSV text"
        else:
            looks = "text"
    raise DataError(f"{file}: this is {looks}; expected {NPZ_HINT}")


def _n_classes(file: Path, arrays: Dict[str, numpy.ndarray]) -> int:
    counts = []
    for key in ("Y", "Y_dev"):
        Y = arrays.get(key)
        if Y is None:
            continue
        if Y.ndim == 2:
            counts.append(Y.shape[1])
        elif Y.ndim == 1 and Y.dtype.kind in "iu" and Y.size:
            counts.append(int(Y.max()) + 1)
    return max(counts) if counts else 1


def _check_pair(file: Path, X: numpy.ndarray, Y: numpy.ndarray, x_key: str, y_key: str,
                n_classes: int) -> Tuple[numpy.ndarray, numpy.ndarray]:
    if X.ndim != 2 or X.dtype.kind not in "fiu":
        raise DataError(f"{file}: {x_key!r} must be a 2d numeric array (examples, features), "
                        f"got shape {X.shape} and dtype {X.dtype}")
    if len(X) == 0:
        raise DataError(f"{file}: {x_key!r} has no rows")
    if len(Y) != len(X):
        raise DataError(f"{file}: {x_key!r} has {len(X)} rows but {y_key!r} has {len(Y)}")
    X = X.astype("float32")
    _check_finite(X, f"{file}: {x_key!r}")
    if x_key == "X":
        _warn_on_scales(X, f"{file}: {x_key!r}")
    if Y.ndim == 1 and Y.dtype.kind in "iu":
        if Y.min() < 0:
            raise DataError(f"{file}: {y_key!r} has negative labels in rows "
                            f"{_rows(numpy.flatnonzero(Y < 0))}")
        if Y.max() >= n_classes:
            raise DataError(f"{file}: {y_key!r} has labels up to {int(Y.max())}, but there are "
                            f"{n_classes} classes")
        if Y.size and Y.min() > 0 and y_key == "Y":
            warnings.warn(f"{file}: no label in {y_key!r} is 0 (they run {int(Y.min())}.."
                          f"{int(Y.max())}), so class 0 is trained on no example; if your "
                          "labels start at 1, subtract 1 (labels are class indices from 0)",
                          stacklevel=2)
        Y = to_categorical(Y.astype("int64"), n_classes=n_classes)
    elif Y.ndim == 2 and Y.dtype.kind == "f":
        if Y.shape[1] != n_classes:
            raise DataError(f"{file}: {y_key!r} has {Y.shape[1]} columns, expected {n_classes}")
        Y = Y.astype("float32")
        _check_targets(Y, f"{file}: {y_key!r}")
    else:
        raise DataError(f"{file}: {y_key!r} must hold integer labels (n,) or float rows "
                        f"(n, classes), got shape {Y.shape} and dtype {Y.dtype}")
    return X, Y


SCALE_RATIO = 100.0  # column spreads further apart than this: warn


def _warn_on_scales(X: numpy.ndarray, what: str) -> None:
    """Warn when the feature columns' standard deviations differ by more than
    SCALE_RATIO: a dense model with the default learning rate then learns the
    large columns and barely moves on the small ones (the wine data: 0.72 dev
    accuracy raw, 1.0 standardized)."""
    if len(X) < 2:
        return
    spread = X.astype("float64").std(axis=0)
    spread = spread[spread > 0]
    if spread.size >= 2 and spread.max() > SCALE_RATIO * spread.min():
        warnings.warn(f"{what}: the feature columns are on very different scales (standard "
                      f"deviations from {spread.min():.3g} to {spread.max():.3g}); standardize "
                      "them, (X - mean) / std with the training rows' mean and std, for faster "
                      "and better training", stacklevel=3)


def _rows(rows: Sequence[int], limit: int = 10) -> str:
    """``3, 17, 40 (3 rows)``: the first `limit` row numbers and the count."""
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    more = ", ..." if len(rows) > limit else ""
    return f"{shown}{more} ({len(rows)} row{'s' if len(rows) != 1 else ''})"


def _bad_rows(A: numpy.ndarray, bad: numpy.ndarray) -> numpy.ndarray:
    return numpy.flatnonzero(bad.reshape(len(A), -1).any(axis=1))


def _check_finite(A: numpy.ndarray, what: str) -> None:
    bad = ~numpy.isfinite(A)
    if bad.any():
        kinds = " or ".join(k for k, m in (("NaN", numpy.isnan(A)), ("inf", numpy.isinf(A)))
                            if m.any())
        raise DataError(f"{what} holds {kinds} in rows {_rows(_bad_rows(A, bad))}")


def _check_targets(Y: numpy.ndarray, what: str) -> None:
    """One-hot or probability rows: finite, not negative, not all zero."""
    _check_finite(Y, what)
    negative = Y < 0
    if negative.any():
        raise DataError(f"{what} holds negative targets in rows {_rows(_bad_rows(Y, negative))}")
    empty = ~(Y > 0).any(axis=1)
    if empty.any():
        raise DataError(f"{what} has rows whose targets are all zero (no class): rows "
                        f"{_rows(numpy.flatnonzero(empty))}")


def check_training_data(data: Any, where: str) -> DataT:
    """What a ``[data]`` loader returned, checked before training starts: four
    arrays, 2d features and one-hot targets of matching rows, at least one row
    to train on and one to evaluate, no NaN or inf, no negative or all-zero
    target rows. DataError names the array and its rows."""
    try:
        train_X, train_Y, dev_X, dev_Y = data
    except (TypeError, ValueError):
        raise DataError(f"{where}: [data] must give (train_X, train_Y, dev_X, dev_Y)") from None
    if isinstance(train_X, (list, tuple)):  # documents (token lists): see .text
        return text.check_text_data(data, where)
    names = (("train_X", train_X), ("train_Y", train_Y), ("dev_X", dev_X), ("dev_Y", dev_Y))
    for name, A in names:
        if not hasattr(A, "shape") or not hasattr(A, "dtype") or len(A.shape) != 2 \
                or A.dtype.kind not in "fiu":
            raise DataError(f"{where}: [data] {name} must be a 2d numeric array, got "
                            f"{type(A).__name__} {getattr(A, 'shape', '')}")
    for (xn, X), (yn, Y), split in ((names[0], names[1], "training"), (names[2], names[3], "dev")):
        if len(X) != len(Y):
            raise DataError(f"{where}: [data] {xn} has {len(X)} rows but {yn} has {len(Y)}")
        if len(X) == 0:
            raise DataError(f"{where}: [data] gives no {split} rows")
        _check_finite(numpy.asarray(X), f"{where}: [data] {xn} ({split} rows)")
        _check_targets(numpy.asarray(Y), f"{where}: [data] {yn} ({split} rows)")
    if train_Y.shape[1] != dev_Y.shape[1]:
        raise DataError(f"{where}: [data] train_Y has {train_Y.shape[1]} classes, dev_Y "
                        f"{dev_Y.shape[1]}")
    return train_X, train_Y, dev_X, dev_Y


from . import text  # noqa: E402 - jsonl_textcat.v1, conllu_tagger.v1 (text uses this module)
