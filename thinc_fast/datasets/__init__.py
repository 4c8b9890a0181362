"""Data sets and loaders the trainer can name in a config's ``[data]`` block.

A loader returns ``(train_X, train_Y, dev_X, dev_Y)``: float32 features and
one-hot float32 labels. Bad files raise :class:`DataError`, naming the file
and the key.
"""
from pathlib import Path
from typing import Optional, Tuple

import numpy

from .._builtins import builtin
from ..data import to_categorical

DataT = Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]
DIGITS_PATH = Path(__file__).with_name("digits.npz")


class DataError(ValueError):
    """A data file or data setting that cannot be used."""


def _split(X: numpy.ndarray, labels: numpy.ndarray, dev_fraction: float, seed: int,
           n_classes: Optional[int] = None) -> DataT:
    if not 0.0 < dev_fraction < 1.0:
        raise DataError(f"dev_fraction must be between 0 and 1, got {dev_fraction}")
    order = numpy.random.default_rng(seed).permutation(len(X))
    n_dev = max(1, int(round(len(X) * dev_fraction)))
    dev, train = order[:n_dev], order[n_dev:]
    Y = to_categorical(labels, n_classes=n_classes)
    return X[train], Y[train], X[dev], Y[dev]


@builtin("datasets", "digits.v1")
def digits(dev_fraction: float = 0.2, seed: int = 0) -> DataT:
    """The 8x8 handwritten digits shipped with thinc_fast (1,797 images, CC BY
    4.0, see DIGITS_LICENSE.md): pixels scaled to [0, 1], a seeded dev split."""
    with numpy.load(DIGITS_PATH, allow_pickle=False) as data:
        X = data["X"].astype("float32") / 16.0
        labels = data["y"].astype("int64")
    return _split(X, labels, dev_fraction, seed, n_classes=10)


@builtin("datasets", "npz.v1")
def npz(path: str, dev_fraction: float = 0.2, seed: int = 0) -> DataT:
    """Arrays from an ``.npz`` file: ``X`` (n, features) floats and ``Y`` either
    integer labels (n,) or one-hot/probability rows (n, classes); optional
    ``X_dev``/``Y_dev`` give the dev set, else `dev_fraction` of the rows."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"data file not found: {file}")
    try:
        with numpy.load(file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as err:  # zip, format or pickle errors
        raise DataError(f"{file}: not a readable .npz file ({err})") from None
    for key in ("X", "Y"):
        if key not in arrays:
            raise DataError(f"{file}: missing array {key!r} (found: {sorted(arrays)})")
    n_classes = _n_classes(file, arrays)
    X, Y = _check_pair(file, arrays["X"], arrays["Y"], "X", "Y", n_classes)
    if "X_dev" in arrays or "Y_dev" in arrays:
        if not ("X_dev" in arrays and "Y_dev" in arrays):
            raise DataError(f"{file}: give both 'X_dev' and 'Y_dev', or neither")
        dX, dY = _check_pair(file, arrays["X_dev"], arrays["Y_dev"], "X_dev", "Y_dev", n_classes)
        if dX.shape[1] != X.shape[1]:
            raise DataError(f"{file}: 'X_dev' has {dX.shape[1]} features, 'X' has {X.shape[1]}")
        return X, Y, dX, dY
    order = numpy.random.default_rng(seed).permutation(len(X))
    n_dev = max(1, int(round(len(X) * dev_fraction)))
    return X[order[n_dev:]], Y[order[n_dev:]], X[order[:n_dev]], Y[order[:n_dev]]


def _n_classes(file: Path, arrays) -> int:
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


def _check_pair(file: Path, X, Y, x_key: str, y_key: str, n_classes: int):
    if X.ndim != 2 or X.dtype.kind not in "fiu":
        raise DataError(f"{file}: {x_key!r} must be a 2d numeric array (examples, features), "
                        f"got shape {X.shape} and dtype {X.dtype}")
    if len(Y) != len(X):
        raise DataError(f"{file}: {x_key!r} has {len(X)} rows but {y_key!r} has {len(Y)}")
    X = X.astype("float32")
    if not numpy.isfinite(X).all():
        raise DataError(f"{file}: {x_key!r} holds NaN or inf values")
    if Y.ndim == 1 and Y.dtype.kind in "iu":
        if Y.size and Y.min() < 0:
            raise DataError(f"{file}: {y_key!r} has negative labels")
        Y = to_categorical(Y.astype("int64"), n_classes=n_classes)
    elif Y.ndim == 2 and Y.dtype.kind == "f":
        if Y.shape[1] != n_classes:
            raise DataError(f"{file}: {y_key!r} has {Y.shape[1]} columns, expected {n_classes}")
        Y = Y.astype("float32")
    else:
        raise DataError(f"{file}: {y_key!r} must hold integer labels (n,) or float rows "
                        f"(n, classes), got shape {Y.shape} and dtype {Y.dtype}")
    return X, Y
