"""Training checkpoints: model, optimizer and RNG state in one file, for exact resume.

``save_checkpoint(path, model, optimizer)`` writes the parameters, the
optimizer's moments, averages, step count and schedule positions, and the
global NumPy and Python RNG states, atomically. ``load_checkpoint`` restores
all of it into a model and optimizer built the same way (for instance from
the same config), so that training continues bit for bit as if it had never
stopped.

The file, and the model and optimizer bytes inside it, each carry the SHA-256
of their content (see :mod:`thinc_fast._io`): a damaged file is refused before
anything is restored.

Loading costs memory in proportion to the model, whatever sizes the file
declares: the optimizer member may hold at most what optimizer state for that
model can (``optimizers._format.state_bounds``: a few times its parameter
arena), checked before it is read; the model member and the JSON header
(whose size follows the training data: it keeps the epoch's example order)
at most what the file stores (``_io._MAX_INFLATE``), the header at most
``_io._MAX_JSON_CONTAINERS`` lists and maps; the model and optimizer bytes
are then read with the bounds of ``Model.from_bytes`` and
``Optimizer.from_bytes``.
"""
import random
from typing import Any, Dict, Optional

import numpy

from ._io import FormatError, PathT, atomic_write, pack, read_file, unpack
from .model import Model
from .optimizers import Optimizer
from .optimizers._format import state_bounds

CHECKPOINT_FORMAT_VERSION = 1


def get_rng_state() -> Dict[str, Any]:
    """The global NumPy and Python RNG states, as JSON-able data."""
    name, keys, pos, has_gauss, cached = numpy.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {"numpy": {"name": name, "keys": keys.tolist(), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next}}


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what ``get_rng_state`` returned."""
    np_state = state["numpy"]
    numpy.random.set_state((np_state["name"], numpy.asarray(np_state["keys"], dtype=numpy.uint32),
                            np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    py_state = state["python"]
    random.setstate((py_state["version"], tuple(py_state["internal"]), py_state["gauss_next"]))


def save_checkpoint(path: PathT, model: Model, optimizer: Optional[Optimizer] = None, *,
                    extra: Optional[Dict[str, Any]] = None) -> None:
    """Write model, optimizer state, RNG state and JSON-able `extra` to `path` atomically."""
    arrays = {"model": numpy.frombuffer(model.to_bytes(format="thinc_fast"), dtype=numpy.uint8)}
    if optimizer is not None:
        arrays["optimizer"] = numpy.frombuffer(optimizer.to_bytes(model), dtype=numpy.uint8)
    header = {"format": "thinc_fast.checkpoint", "version": CHECKPOINT_FORMAT_VERSION,
              "rng": get_rng_state(), "extra": extra or {}}
    atomic_write(path, pack(header, arrays))


def load_checkpoint(path: PathT, model: Model, optimizer: Optional[Optimizer] = None, *,
                    restore_rng: bool = True) -> Dict[str, Any]:
    """Restore a checkpoint into `model` (and `optimizer`); returns its `extra`.

    All or nothing: if any part does not fit, the model is restored to what it
    was and the error says what did not match. Memory is bounded by the model
    (see the module's docstring); a FormatError names `path`.
    """
    data = read_file(path)
    bounds = state_bounds(model, optimizer)
    total = bounds.total()
    limits = {} if total is None else {
        "optimizer": (total, f"optimizer state for this model (an arena of {bounds.arena} "
                             "floats) is smaller")}
    try:
        header, arrays = unpack(data, kind="checkpoint", max_version=CHECKPOINT_FORMAT_VERSION,
                                names=lambda header: {"model", "optimizer"},
                                max_bytes=lambda header: limits, max_members=3)
    except FormatError as err:
        raise FormatError(f"{path}: {err}") from None
    del data
    if "model" not in arrays:
        raise ValueError(f"{path}: the checkpoint holds no model")
    if optimizer is not None and "optimizer" not in arrays:
        raise ValueError(f"{path}: the checkpoint holds no optimizer state")
    extra = header.get("extra", {})
    if not isinstance(extra, dict):
        raise FormatError(f"{path}: the checkpoint's extra data is malformed")
    if restore_rng:
        _check_rng_state(header.get("rng"), path)
    before = model.to_bytes(format="thinc_fast")
    try:
        model.from_bytes(arrays.pop("model").tobytes())
    except FormatError as err:
        raise FormatError(f"{path}: its model: {err}") from None
    if optimizer is not None:
        try:
            optimizer.from_bytes(arrays["optimizer"].tobytes(), model)
        except FormatError as err:
            model.from_bytes(before)
            raise FormatError(f"{path}: its optimizer state: {err}") from None
        except Exception:
            model.from_bytes(before)
            raise
    if restore_rng:
        set_rng_state(header["rng"])  # checked before anything changed
    return extra


def _check_rng_state(state: Any, path: PathT) -> None:
    """FormatError unless `state` is what ``get_rng_state`` returns (tried on scratch generators)."""
    try:
        np_state = state["numpy"]
        numpy.random.RandomState().set_state((
            np_state["name"], numpy.asarray(np_state["keys"], dtype=numpy.uint32),
            np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
        py_state = state["python"]
        random.Random().setstate((py_state["version"], tuple(py_state["internal"]),
                                  py_state["gauss_next"]))
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as err:
        raise FormatError(f"{path}: the checkpoint's RNG state is malformed "
                          f"({type(err).__name__}: {err})") from None
